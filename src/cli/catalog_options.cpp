#include "cli/catalog_options.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "io/column_presets.hpp"
#include "simulate/filters.hpp"

namespace irisml::cli {

void add_catalog_options(Command& cmd) {
  // clang-format off
  cmd.options.add_options()
      ("columns", po::value<std::string>()->default_value(""),
       "map catalogue column names to canonical ones: file_name:canonical,... (e.g. gmag:PS1_g,e_gmag:PS1_g_err); "
       "wins over --columns-preset for the same column or band")
      ("columns-preset", po::value<std::string>()->default_value(""),
       "read a survey archive table by its own column names: comma list of presets, combined on one merged table "
       "(gaia_dr3, 2mass_psc, allwise, ps1_dr2, sdss_dr17, galex_gr6, skymapper_dr4; id/ra/dec from the first "
       "listed; docs/catalog_format.md)")
      ("column-presets-config", po::value<std::string>()->default_value(""),
       "column presets INI (default configs/column_presets.ini in the source tree)")
      ("missing", po::value<double>()->default_value(-99.0), "magnitude sentinel meaning 'band absent'")
      ("error-floor", po::value<double>()->default_value(0.0), "lower bound applied to every error [mag]")
      ("ignore-unknown-columns", po::bool_switch(),
       "warn about (instead of refusing) columns and filters that neither the registry nor the model knows");
  // clang-format on
}

CatalogOptions catalog_options_from(const po::variables_map& vm) {
  CatalogOptions copt;
  copt.column_map = parse_column_map(vm["columns"].as<std::string>());
  copt.missing_sentinel = vm["missing"].as<double>();
  copt.error_floor = vm["error-floor"].as<double>();
  if (!(copt.error_floor >= 0) || !std::isfinite(copt.error_floor)) {
    fail_input("--error-floor = {} must be a finite number >= 0 (mag)", copt.error_floor);
  }
  copt.ignore_unknown_columns = vm["ignore-unknown-columns"].as<bool>();
  const std::string presets = vm["columns-preset"].as<std::string>();
  if (!split_list(presets).empty()) {
    copt.presets = ColumnPresets::load(column_presets_config(vm)).select(presets, "--columns-preset");
  }
  return copt;
}

std::string presets_key(const po::variables_map& vm, const CatalogOptions& copt) {
  if (copt.presets.empty()) return "";
  std::vector<std::string> names;
  for (const auto& p : copt.presets) names.push_back(p.name);
  return fmt::format(" column_presets={} column_presets_config={}", fmt::join(names, ","), column_presets_config(vm));
}

KnownFilters known_of(const simulate::FilterRegistry& registry) {
  KnownFilters known;
  for (const auto& name : registry.names()) known.emplace_back(name, registry.get(name).catalog_offset);
  return known;
}

}  // namespace irisml::cli
