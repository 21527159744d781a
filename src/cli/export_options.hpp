// Summary tables (validate/export.hpp) and catalogue reports (validate/catalog_report.hpp) from
// the command line: `irisml export`, the --export option of sample and fit, which writes
// a table beside the posterior file, and `irisml report`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace irisml::cli {

// What the catalogue behind a posterior file adds to its tables and reports, read from
// the command's --catalog (with its column options) block by block: positions when it
// has ra/dec, and one magnitude per star (Gaia G when present, else its first band) when
// asked. Empty without --catalog. InputError when its rows (or ids, when both files have
// them) differ from the posterior file's.
struct CatalogExtras {
  std::vector<double> ra, dec;
  std::vector<float> magnitude;
  std::string band;
};
CatalogExtras read_catalog_extras(const po::variables_map& vm, const std::string& posterior, bool magnitude);

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
