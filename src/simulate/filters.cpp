#include "simulate/filters.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "core/paths.hpp"
#include "io/ini.hpp"

namespace irisml::simulate {
namespace {

constexpr const char* kAllSet = "all";
constexpr const char* kSetsSection = "sets";
// Negative responses this close to 0 (relative to the peak) may be clipped.
constexpr double kClipTolerance = 1e-3;

// Parses the whole string as a finite double.
bool parse_double(const std::string& text, double& value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE) return false;
  return std::isfinite(value);
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.' || ch == '+';
  });
}

FilterSpec parse_band(const std::string& path, const IniSection& section) {
  FilterSpec spec;
  spec.name = section.name;
  bool has_file = false, has_system = false, has_detector = false;
  for (const auto& e : section.entries) {
    auto where = [&] { return fmt::format("{}:{}: [{}] {}", path, e.line, section.name, e.key); };
    if (e.key == "file") {
      if (e.value.empty()) fail_input("{} is empty; give the curve file (relative to the data directory)", where());
      spec.file = e.value;
      has_file = true;
    } else if (e.key == "system") {
      std::string v = lower(e.value);
      if (v == "ab") {
        spec.system = FilterSpec::System::AB;
      } else if (v == "vega") {
        spec.system = FilterSpec::System::Vega;
      } else {
        fail_input("{} = '{}' is not allowed; use AB or Vega", where(), e.value);
      }
      has_system = true;
    } else if (e.key == "detector") {
      std::string v = lower(e.value);
      if (v == "photon") {
        spec.detector = FilterSpec::Detector::Photon;
      } else if (v == "energy") {
        spec.detector = FilterSpec::Detector::Energy;
      } else {
        fail_input("{} = '{}' is not allowed; use photon or energy", where(), e.value);
      }
      has_detector = true;
    } else if (e.key == "catalog_offset" || e.key == "vega_magnitude") {
      double v = 0;
      if (!parse_double(e.value, v)) fail_input("{} = '{}' is not a finite number (magnitudes)", where(), e.value);
      (e.key == "catalog_offset" ? spec.catalog_offset : spec.vega_magnitude) = v;
    } else if (e.key == "survey") {
      spec.survey = e.value;
    } else if (e.key == "clip_negative") {
      std::string v = lower(e.value);
      if (v == "yes" || v == "true" || v == "1") {
        spec.clip_negative = true;
      } else if (v == "no" || v == "false" || v == "0") {
        spec.clip_negative = false;
      } else {
        fail_input("{} = '{}' is not allowed; use yes or no", where(), e.value);
      }
    } else if (e.key == "add_zeros") {
      for (const auto& item : split(e.value, ",", true)) {
        double v = 0;
        if (!parse_double(item, v) || !(v > 0)) {
          fail_input("{} item '{}' is not a wavelength > 0 [Å]; give a comma-separated list", where(), item);
        }
        spec.add_zeros.push_back(v);
      }
    } else {
      fail_input(
          "{}:{}: unknown key '{}' in [{}]; allowed: file, system, detector, catalog_offset, "
          "vega_magnitude, survey, clip_negative, add_zeros",
          path, e.line, e.key, section.name);
    }
  }
  const char* missing = !has_file ? "file" : !has_system ? "system" : !has_detector ? "detector" : nullptr;
  if (missing) {
    fail_input("{}:{}: band [{}] has no '{}' key (file, system and detector are required)", path, section.line,
               section.name, missing);
  }
  return spec;
}

}  // namespace

const char* to_string(FilterSpec::System system) { return system == FilterSpec::System::AB ? "AB" : "Vega"; }
const char* to_string(FilterSpec::Detector detector) {
  return detector == FilterSpec::Detector::Photon ? "photon" : "energy";
}

FilterCurve detail::read_two_column_table(const std::string& path, const std::string& what,
                                          const std::string& value_name, bool clip_negative) {
  std::ifstream in(path);
  if (!in) fail_io("cannot read {} '{}': the file is missing or unreadable", what, path);
  FilterCurve curve;
  std::vector<int> lines;
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string text = trim(raw);
    if (text.empty() || text.front() == '#') continue;
    std::istringstream tokens(text);
    std::vector<std::string> cols;
    for (std::string tok; tokens >> tok;) cols.push_back(tok);
    if (cols.size() != 2) {
      fail_input("{} '{}' line {}: expected two columns (wavelength [Å], {}), found {}: '{}'", what, path, line_no,
                 value_name, cols.size(), text);
    }
    double w = 0, r = 0;
    if (!parse_double(cols[0], w) || !(w > 0)) {
      fail_input("{} '{}' line {}: wavelength '{}' is not a finite number > 0", what, path, line_no, cols[0]);
    }
    if (!parse_double(cols[1], r)) {
      fail_input("{} '{}' line {}: {} '{}' is not a finite number (it must be finite and >= 0)", what, path, line_no,
                 value_name, cols[1]);
    }
    if (!curve.wavelength.empty() && !(w > curve.wavelength.back())) {
      fail_input(
          "{} '{}' line {}: wavelength {} does not increase (previous row, line {}, has {}); "
          "wavelengths must be strictly increasing",
          what, path, line_no, cols[0], lines.back(), curve.wavelength.back());
    }
    curve.wavelength.push_back(w);
    curve.response.push_back(r);
    lines.push_back(line_no);
  }
  if (in.bad()) fail_io("error while reading {} '{}'", what, path);
  if (curve.wavelength.size() < 2) {
    fail_input("{} '{}' has {} data row(s); at least 2 are needed", what, path, curve.wavelength.size());
  }
  double peak = *std::max_element(curve.response.begin(), curve.response.end());
  if (!(peak > 0)) fail_input("{} '{}': every {} is <= 0; at least one must be > 0", what, path, value_name);
  for (std::size_t i = 0; i < curve.response.size(); ++i) {
    double r = curve.response[i];
    if (r >= 0) continue;
    if (clip_negative && -r <= kClipTolerance * peak) {
      curve.response[i] = 0.0;
      continue;
    }
    fail_input("{} '{}' line {}: {} {} is negative; it must be >= 0{}", what, path, lines[i], value_name, r,
               clip_negative
                   ? fmt::format(" (clip_negative only clears values within {} of the peak {})", kClipTolerance, peak)
                   : std::string());
  }
  return curve;
}

FilterCurve load_filter_curve(const std::string& path, const std::string& name, bool clip_negative) {
  return detail::read_two_column_table(path, fmt::format("filter '{}' curve", name), "response", clip_negative);
}

void insert_zero_rows(FilterCurve& curve, const std::vector<double>& wavelengths, const std::string& name) {
  for (double w : wavelengths) {
    auto& wl = curve.wavelength;
    if (!std::isfinite(w) || wl.empty() || !(w > wl.front()) || !(w < wl.back())) {
      fail_input("filter '{}': add_zeros wavelength {} Å must lie inside the table ({}–{} Å)", name, w,
                 wl.empty() ? 0.0 : wl.front(), wl.empty() ? 0.0 : wl.back());
    }
    auto it = std::lower_bound(wl.begin(), wl.end(), w);
    if (*it == w) fail_input("filter '{}': add_zeros wavelength {} Å is already a table row", name, w);
    auto pos = it - wl.begin();
    wl.insert(it, w);
    curve.response.insert(curve.response.begin() + pos, 0.0);
  }
}

FilterRegistry FilterRegistry::load(const std::string& ini_path, const std::string& data_dir) {
  FilterRegistry reg;
  reg.source_ = ini_path;
  reg.data_dir_ = data_dir;
  auto sections = parse_ini(ini_path, "filter registry");
  const IniSection* sets = nullptr;
  for (const auto& s : sections) {
    if (s.name == kSetsSection) {
      if (sets) fail_input("{}:{}: [{}] appears twice (first at line {})", ini_path, s.line, s.name, sets->line);
      sets = &s;
      continue;
    }
    if (!valid_name(s.name)) {
      fail_input("{}:{}: band name '{}' is not allowed; use letters, digits and _ - . +", ini_path, s.line, s.name);
    }
    if (s.name == kAllSet) fail_input("{}:{}: '{}' is reserved for the set of every band", ini_path, s.line, s.name);
    if (reg.index_.count(s.name)) fail_input("{}:{}: band [{}] is defined twice", ini_path, s.line, s.name);
    reg.index_[s.name] = reg.bands_.size();
    reg.bands_.push_back(parse_band(ini_path, s));
  }
  if (reg.bands_.empty()) fail_input("filter registry '{}' defines no bands", ini_path);
  if (sets) {
    for (const auto& e : sets->entries) {
      if (e.key == kAllSet) {
        fail_input("{}:{}: set '{}' is built in (every band) and cannot be redefined", ini_path, e.line, e.key);
      }
      if (!valid_name(e.key)) fail_input("{}:{}: set name '{}' is not allowed", ini_path, e.line, e.key);
      if (reg.index_.count(e.key)) {
        fail_input("{}:{}: set '{}' has the name of a band; choose another name", ini_path, e.line, e.key);
      }
      std::vector<std::string> members;
      std::set<std::string> seen;
      for (const auto& item : split(e.value, ",", true)) {
        if (item.empty()) fail_input("{}:{}: set '{}' has an empty item in '{}'", ini_path, e.line, e.key, e.value);
        if (!reg.index_.count(item)) {
          fail_input("{}:{}: set '{}' names unknown band '{}'; known bands: {}", ini_path, e.line, e.key, item,
                     fmt::join(reg.names(), ", "));
        }
        if (!seen.insert(item).second) {
          fail_input("{}:{}: set '{}' names band '{}' twice", ini_path, e.line, e.key, item);
        }
        members.push_back(item);
      }
      reg.sets_.emplace_back(e.key, std::move(members));
    }
  }
  return reg;
}

bool FilterRegistry::contains(const std::string& name) const { return index_.count(name) != 0; }

const FilterSpec& FilterRegistry::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    fail_input("filter '{}' is unknown (registry '{}'); known filters: {}", name, source_, fmt::join(names(), ", "));
  }
  return bands_[it->second];
}

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(bands_.size());
  for (const auto& b : bands_) out.push_back(b.name);
  return out;
}

std::vector<std::string> FilterRegistry::set_names() const {
  std::vector<std::string> out;
  for (const auto& s : sets_) out.push_back(s.first);
  out.push_back(kAllSet);
  return out;
}

std::vector<std::string> FilterRegistry::set(const std::string& set_name) const {
  if (set_name == kAllSet) return names();
  for (const auto& s : sets_) {
    if (s.first == set_name) return s.second;
  }
  fail_input("filter set '{}' is unknown (registry '{}'); known sets: {}", set_name, source_,
             fmt::join(set_names(), ", "));
}

std::vector<std::string> FilterRegistry::resolve(const std::string& comma_list) const {
  if (trim(comma_list).empty()) {
    fail_input("the filter list is empty; give band names separated by commas, or a set: {}",
               fmt::join(set_names(), ", "));
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& item : split(comma_list, ",", true)) {
    if (item.empty()) fail_input("the filter list '{}' has an empty item", comma_list);
    std::vector<std::string> expanded;
    if (contains(item)) {
      expanded.push_back(item);
    } else if (item == kAllSet ||
               std::any_of(sets_.begin(), sets_.end(), [&](const auto& s) { return s.first == item; })) {
      expanded = set(item);
    } else {
      fail_input("filter '{}' in '{}' is unknown (registry '{}'); known filters: {}; known sets: {}", item, comma_list,
                 source_, fmt::join(names(), ", "), fmt::join(set_names(), ", "));
    }
    for (auto& band : expanded) {
      if (!seen.insert(band).second) {
        fail_input("filter '{}' appears more than once in '{}'; each band may be listed once", band, comma_list);
      }
      out.push_back(std::move(band));
    }
  }
  return out;
}

std::string FilterRegistry::curve_path(const std::string& name) const { return join_path(data_dir_, get(name).file); }

FilterCurve FilterRegistry::curve(const std::string& name) const {
  const FilterSpec& spec = get(name);
  FilterCurve c = load_filter_curve(curve_path(name), name, spec.clip_negative);
  insert_zero_rows(c, spec.add_zeros, name);
  return c;
}

}  // namespace irisml::simulate
