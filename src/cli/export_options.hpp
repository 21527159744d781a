// Summary tables (infer/export.hpp) from the command line: `irisml export`, and the
// --export option of sample and fit, which writes one beside the posterior file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace irisml::cli {

// --export PATH (sample, fit).
void add_export_option(Command& cmd);
// The --export path ("" when not given), checked before any work: its format from the
// name, not an input, and not an existing file unless --overwrite.
std::string checked_export_path(const po::variables_map& vm);

// Rank 0 writes the summary table of `posterior` to `output` (ra/dec from the --catalog
// the command was given, when it has them); the other ranks wait. `command` is recorded
// in the table's header.
void write_export(const po::variables_map& vm, const std::string& posterior, const std::string& output,
                  const std::string& command, const Context& ctx, std::uint64_t block_rows = 16384);

// "irisml <words> <args...>", each argument quoted for a shell when it needs it.
std::string command_line(const std::string& words, const std::vector<std::string>& args);

}  // namespace irisml::cli
