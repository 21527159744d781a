#include "io/column_presets.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/ini.hpp"

namespace irisml {

namespace {

constexpr const char* kMagnitudesForm = "MAGNITUDE_COLUMN:ERROR_COLUMN:BAND (e.g. j_m:j_msigcom:2MASS_J)";
constexpr const char* kFluxesForm =
    "FLUX_COLUMN:ERROR_COLUMN:BAND:ZERO_POINT:ZERO_POINT_ERROR (e.g. "
    "phot_g_mean_flux:phot_g_mean_flux_error:Gaia_G:25.6874:0.0028)";
constexpr const char* kKeys =
    "description, id, ra, dec, parallax, parallax_err, magnitudes, fluxes, missing, upper_limits, error_flags_above, "
    "skip";

bool valid_preset_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// Parses one preset section; `path` and the entry lines locate errors.
ColumnPreset parse_preset(const std::string& path, const IniSection& section) {
  ColumnPreset p;
  p.name = section.name;
  p.origin = fmt::format("{}:{}", path, section.line);
  for (const auto& e : section.entries) {
    auto where = [&] { return fmt::format("{}:{}: [{}] {}", path, e.line, section.name, e.key); };
    auto items = [&] {
      auto list = split(e.value, ",", /*keep_empty=*/true);
      for (const auto& item : list) {
        if (item.empty()) fail_input("{} = '{}' has an empty item; give a comma list of names", where(), e.value);
      }
      return list;
    };
    auto fields = [&](const std::string& item, std::size_t n, const char* form) {
      auto parts = split(item, ":", /*keep_empty=*/true);
      if (parts.size() != n || std::any_of(parts.begin(), parts.end(), [](const auto& s) { return s.empty(); })) {
        fail_input("{}: item '{}' is not of the form {}", where(), item, form);
      }
      return parts;
    };
    if (e.key == "description") {
      p.description = e.value;
    } else if (e.key == "id" || e.key == "ra" || e.key == "dec") {
      (e.key == "id" ? p.id : e.key == "ra" ? p.ra : p.dec) = items();
    } else if (e.key == "parallax" || e.key == "parallax_err") {
      (e.key == "parallax" ? p.parallax : p.parallax_err) = items();
    } else if (e.key == "magnitudes") {
      for (const auto& item : items()) {
        auto f = fields(item, 3, kMagnitudesForm);
        p.magnitudes.push_back({f[0], f[1], f[2]});
      }
    } else if (e.key == "fluxes") {
      for (const auto& item : items()) {
        auto f = fields(item, 5, kFluxesForm);
        FluxColumns fc{f[0], f[1], f[2]};
        if (!parse_number(f[3], fc.zero_point)) {
          fail_input("{}: zero point '{}' of item '{}' is not a finite number (magnitudes, e.g. 25.6874)", where(),
                     f[3], item);
        }
        if (!parse_number(f[4], fc.zero_point_error) || fc.zero_point_error < 0) {
          fail_input("{}: zero-point error '{}' of item '{}' is not a finite number >= 0 (magnitudes, e.g. 0.0028)",
                     where(), f[4], item);
        }
        p.fluxes.push_back(fc);
      }
    } else if (e.key == "missing") {
      for (const auto& item : split(e.value, ",")) {
        double v = 0;
        if (!parse_number(item, v)) {
          fail_input("{}: '{}' is not a finite number; give the values meaning 'no measurement', e.g. -999", where(),
                     item);
        }
        p.missing_values.push_back(v);
      }
    } else if (e.key == "upper_limits") {
      const std::string v = lower(e.value);
      if (v == "yes" || v == "true") {
        p.upper_limits = true;
      } else if (v == "no" || v == "false") {
        p.upper_limits = false;
      } else {
        fail_input("{} = '{}' is not allowed; use yes or no", where(), e.value);
      }
    } else if (e.key == "error_flags_above") {
      if (!parse_number(e.value, p.error_flags_above) || !(p.error_flags_above > 0)) {
        fail_input("{} = '{}' is not a finite number > 0 (mag)", where(), e.value);
      }
    } else if (e.key == "skip") {
      p.skip = items();
    } else {
      fail_input("{}:{}: unknown key '{}' in preset [{}]; allowed keys: {}", path, e.line, e.key, section.name, kKeys);
    }
  }
  if (p.magnitudes.empty() && p.fluxes.empty()) {
    fail_input("{}: preset [{}] maps no band; give 'magnitudes = {}' or 'fluxes = {}'", p.origin, p.name,
               kMagnitudesForm, kFluxesForm);
  }
  // Within one preset every band and every photometric column is used once.
  std::map<std::string, std::string> column_use, band_use;
  auto use = [&](std::map<std::string, std::string>& seen, const std::string& key, const std::string& what,
                 const char* kind) {
    auto [it, fresh] = seen.emplace(lower(key), what);
    if (!fresh) {
      fail_input("{}: preset [{}] uses {} '{}' twice ({} and {})", p.origin, p.name, kind, key, it->second, what);
    }
  };
  for (const auto& m : p.magnitudes) {
    use(band_use, m.band, "magnitude " + m.magnitude, "band");
    use(column_use, m.magnitude, "magnitude of " + m.band, "column");
    use(column_use, m.error, "error of " + m.band, "column");
  }
  for (const auto& f : p.fluxes) {
    use(band_use, f.band, "flux " + f.flux, "band");
    use(column_use, f.flux, "flux of " + f.band, "column");
    use(column_use, f.error, "flux error of " + f.band, "column");
  }
  return p;
}

}  // namespace

ColumnPresets ColumnPresets::load(const std::string& path) {
  ColumnPresets out;
  out.source_ = path;
  for (const auto& section : parse_ini(path, "column presets")) {
    if (!valid_preset_name(section.name)) {
      fail_input("{}:{}: preset name '{}' is not allowed; use letters, digits and _ - .", path, section.line,
                 section.name);
    }
    for (const auto& p : out.presets_) {
      if (iequals(p.name, section.name)) {
        fail_input("{}:{}: preset [{}] is defined twice (first at {})", path, section.line, section.name, p.origin);
      }
    }
    out.presets_.push_back(parse_preset(path, section));
  }
  if (out.presets_.empty()) fail_input("column presets '{}' define no preset", path);
  return out;
}

std::vector<std::string> ColumnPresets::names() const {
  std::vector<std::string> out;
  for (const auto& p : presets_) out.push_back(p.name);
  return out;
}

std::vector<ColumnPreset> ColumnPresets::select(const std::string& list, const std::string& what) const {
  std::vector<ColumnPreset> out;
  for (const auto& name : split(list, ",")) {
    auto it =
        std::find_if(presets_.begin(), presets_.end(), [&](const ColumnPreset& p) { return iequals(p.name, name); });
    if (it == presets_.end()) {
      fail_input("{} = '{}': unknown preset '{}'; known presets (in '{}'): {}", what, list, name, source_,
                 fmt::join(names(), ", "));
    }
    for (const auto& p : out) {
      if (p.name == it->name) fail_input("{} = '{}' names preset '{}' twice", what, list, it->name);
    }
    out.push_back(*it);
  }
  check_compatible(out);
  return out;
}

void check_compatible(const std::vector<ColumnPreset>& presets) {
  struct Use {
    std::string preset, what;
  };
  std::map<std::string, Use> bands, photometry, positional;  // lower-case band / file column → first use
  auto clash = [](const Use& a, const Use& b, const std::string& thing) {
    fail_input(
        "column presets '{}' and '{}' conflict: {} ('{}': {}; '{}': {}). Combine presets that map different bands "
        "and columns, or map the columns yourself with --columns",
        a.preset, b.preset, thing, a.preset, a.what, b.preset, b.what);
  };
  for (const auto& p : presets) {
    std::vector<std::pair<std::string, Use>> columns;  // photometric columns of p
    auto add_band = [&](const std::string& band, const std::string& value, const std::string& error,
                        const char* value_kind, const char* error_kind) {
      const Use use{p.name, fmt::format("'{}' and '{}'", value, error)};
      auto [it, fresh] = bands.emplace(lower(band), use);
      if (!fresh && it->second.preset != p.name) clash(it->second, use, fmt::format("both map band {}", band));
      columns.push_back({value, {p.name, std::string(value_kind) + " of " + band}});
      columns.push_back({error, {p.name, std::string(error_kind) + " of " + band}});
    };
    for (const auto& m : p.magnitudes) add_band(m.band, m.magnitude, m.error, "magnitude", "error");
    for (const auto& f : p.fluxes) add_band(f.band, f.flux, f.error, "flux", "flux error");
    for (const auto& [column, use] : columns) {
      const std::string key = lower(column);
      if (auto it = photometry.find(key); it != photometry.end() && it->second.preset != p.name) {
        clash(it->second, use, fmt::format("both use file column '{}'", column));
      }
      if (auto it = positional.find(key); it != positional.end() && it->second.preset != p.name) {
        clash(it->second, use, fmt::format("both use file column '{}'", column));
      }
      photometry.emplace(key, use);
    }
    for (const auto& [role, names] : {std::pair<const char*, const std::vector<std::string>*>{"id", &p.id},
                                      {"ra", &p.ra},
                                      {"dec", &p.dec},
                                      {"parallax", &p.parallax},
                                      {"parallax_err", &p.parallax_err}}) {
      for (const auto& column : *names) {
        const Use use{p.name, fmt::format("its {} column", role)};
        const std::string key = lower(column);
        if (auto it = photometry.find(key); it != photometry.end() && it->second.preset != p.name) {
          clash(it->second, use, fmt::format("both use file column '{}'", column));
        }
        positional.emplace(key, use);
      }
    }
  }
}

}  // namespace irisml
