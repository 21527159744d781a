// Command-line + INI option handling shared by every subcommand.
//
// Each subcommand declares its options once. Undotted names ("stars") are
// read from the command line and from the subcommand's own INI section
// ([simulate] stars = ...); dotted names ("prior.logg_min") match the INI key
// verbatim and can also be given as --prior.logg_min. The command line wins.
// Unknown keys in the subcommand's sections are errors naming key and file.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <utility>
#include <vector>

#include "core/text.hpp"

namespace irisml::cli {

namespace po = boost::program_options;

struct Command {
  Command() = default;
  Command(std::string name_, std::string summary_, std::string usage_, std::vector<std::string> sections_)
      : name(std::move(name_)),
        summary(std::move(summary_)),
        usage(std::move(usage_)),
        sections(std::move(sections_)) {}

  std::string name;                   // e.g. "simulate"
  std::string summary;                // one line for `irisml --help`
  std::string usage;                  // e.g. "irisml simulate --config F --output F [options]"
  std::vector<std::string> sections;  // INI sections this command reads (own section first)
  po::options_description options{"Options", 100};
  std::vector<std::string> positional;  // names of positional options, in order
};

// Adds the options every subcommand accepts: --help, --config, --data-dir,
// --filters-config, --quiet.
void add_common_options(Command& command);

// Parses; returns false if --help was given (help already printed on rank 0).
bool parse(Command& command, const std::vector<std::string>& args, po::variables_map& vm);

// Reads the data directory and filter registry paths from parsed options.
std::string data_dir(const po::variables_map& vm);
std::string filters_config(const po::variables_map& vm);
// --column-presets-config (sample, fit): the column presets INI, default
// configs/column_presets.ini in the source tree.
std::string column_presets_config(const po::variables_map& vm);

// The output option's value checked against every input file the command was given
// (--grid, --catalog, --model, --from, --plan, --data, --validation, --labels,
// --calibration, --init-from, --input, --posterior, --config, --filters-config,
// --column-presets-config, where the command has them): the output and its .partial/.progress/.lock may be none of them
// (same device and inode), whatever --overwrite says (InputError naming both options, exit 2).
void check_output_against_inputs(const po::variables_map& vm, const std::string& output,
                                 const std::string& output_option = "--output");

// Splits "a,b,c" (spaces allowed) into names; empty entries are dropped.
inline std::vector<std::string> split_list(const std::string& text) { return split(text, ","); }

}  // namespace irisml::cli
