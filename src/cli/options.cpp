#include "cli/options.hpp"

#include <fstream>
#include <iostream>
#include <set>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

#ifndef IRISML_SOURCE_DIR
#define IRISML_SOURCE_DIR "."
#endif

namespace irisml::cli {

void add_common_options(Command& command) {
  // clang-format off
  command.options.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>(), "INI file with defaults for this command (command line wins)")
      ("data-dir", po::value<std::string>()->default_value(""),
       "reference data directory (filters/, vega/, spectra/, extinction/); default $IRISML_DATA_DIR or ../shared/data "
       "from the source tree")
      ("filters-config", po::value<std::string>()->default_value(""),
       "filter registry INI (default configs/filters.ini in the source tree)")
      ("quiet", po::bool_switch(), "no progress output");
  // clang-format on
}

namespace {

bool is_dotted(const std::string& name) { return name.find('.') != std::string::npos; }

// Rewrites "section.key" INI options for this command into option names.
po::parsed_options filter_config(const Command& command, po::parsed_options parsed, const std::string& file) {
  std::set<std::string> known;
  for (const auto& opt : command.options.options()) known.insert(opt->long_name());
  po::parsed_options kept(&command.options);
  for (auto& opt : parsed.options) {
    const std::string& key = opt.string_key;
    auto dot = key.find('.');
    std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    std::string name = dot == std::string::npos ? key : key.substr(dot + 1);
    bool own = !command.sections.empty() && section == command.sections.front();
    bool ours = false;
    for (const auto& s : command.sections) ours = ours || s == section;
    if (!ours) continue;  // another command's section
    std::string option = own && known.count(name) ? name : key;
    if (!known.count(option)) {
      std::string allowed;
      for (const auto& k : known) {
        bool sec_match = is_dotted(k) ? k.rfind(section + ".", 0) == 0 : own;
        if (sec_match && k != "help" && k != "config") allowed += (allowed.empty() ? "" : ", ") + k;
      }
      fail_input("unknown key '{}' in section [{}] of config file '{}'; allowed keys there: {}", name, section, file,
                 allowed);
    }
    opt.string_key = option;
    opt.unregistered = false;
    kept.options.push_back(opt);
  }
  return kept;
}

}  // namespace

bool parse(Command& command, const std::vector<std::string>& args, po::variables_map& vm) {
  po::positional_options_description pos;
  for (const auto& p : command.positional) pos.add(p.c_str(), 1);
  try {
    auto parsed = po::command_line_parser(args).options(command.options).positional(pos).run();
    po::store(parsed, vm);
    if (vm.count("help")) {
      if (log::rank() == 0) {
        std::cout << "usage: " << command.usage << "\n\n" << command.summary << "\n\n" << command.options << "\n";
      }
      return false;
    }
    if (vm.count("config")) {
      std::string file = vm["config"].as<std::string>();
      std::ifstream in(file);
      if (!in) fail_input("config file '{}' (from --config) cannot be opened", file);
      auto from_file = po::parse_config_file(in, command.options, /*allow_unregistered=*/true);
      po::store(filter_config(command, from_file, file), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    fail_input("{}: {} (see `irisml {} --help`)", command.name, e.what(), command.name);
  }
  log::set_quiet(vm.count("quiet") && vm["quiet"].as<bool>());
  return true;
}

std::string data_dir(const po::variables_map& vm) { return resolve_data_dir(vm["data-dir"].as<std::string>()); }

std::string filters_config(const po::variables_map& vm) {
  std::string path = vm["filters-config"].as<std::string>();
  if (path.empty()) path = std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini";
  if (!file_exists(path)) {
    fail_input("filter registry '{}' does not exist; pass --filters-config with the path of filters.ini", path);
  }
  return path;
}

std::string column_presets_config(const po::variables_map& vm) {
  std::string path = vm["column-presets-config"].as<std::string>();
  const bool by_default = path.empty();
  if (by_default) path = std::string(IRISML_SOURCE_DIR) + "/configs/column_presets.ini";
  if (!file_exists(path)) {
    fail_input(
        "column presets '{}' ({}) do not exist; pass --column-presets-config with the path of column_presets.ini", path,
        by_default ? "the default in the source tree" : "from --column-presets-config");
  }
  return path;
}

void check_output_against_inputs(const po::variables_map& vm, const std::string& output,
                                 const std::string& output_option) {
  static const char* const kInputs[] = {"grid",        "catalog",   "model",  "from",           "plan",
                                        "data",        "labels",    "config", "filters-config", "column-presets-config",
                                        "calibration", "init-from", "input",  "validation",     "posterior"};
  std::vector<std::pair<std::string, std::string>> inputs;
  for (const char* name : kInputs) {
    if (!vm.count(name)) continue;
    const auto& value = vm[name].value();
    if (const auto* text = boost::any_cast<std::string>(&value)) inputs.emplace_back(*text, std::string("--") + name);
  }
  check_outputs_not_inputs(output, output_option, inputs);
}

}  // namespace irisml::cli
