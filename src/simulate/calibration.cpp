#include "simulate/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "io/ini.hpp"

namespace irisml::simulate {

namespace {
double parse_value(const std::string& path, const IniEntry& e, const std::string& band) {
  double v = 0.0;
  if (!parse_number(e.value, v)) {
    fail_input("{}:{}: [{}] {} = '{}' is not a finite number", path, e.line, band, e.key, e.value);
  }
  return v;
}
}  // namespace

Calibration Calibration::load(const std::string& path, const std::vector<std::string>& known_bands) {
  Calibration c;
  c.source_ = path;
  for (const auto& section : parse_ini(path, "calibration file")) {
    if (section.name == "calibration") continue;  // free-text provenance
    if (std::find(known_bands.begin(), known_bands.end(), section.name) == known_bands.end()) {
      fail_input("{}:{}: band [{}] is not in the filter registry; known bands: {}", path, section.line, section.name,
                 fmt::join(known_bands, ", "));
    }
    if (c.find(section.name)) fail_input("{}:{}: band [{}] appears twice", path, section.line, section.name);
    BandCalibration b;
    bool has_offset = false, has_sys = false;
    for (const auto& e : section.entries) {
      if (e.key == "offset") {
        b.offset = parse_value(path, e, section.name);
        has_offset = true;
        if (!(std::abs(b.offset) < 1.0)) {
          fail_input("{}:{}: [{}] offset = {} mag is not allowed; a calibration offset is below 1 mag in size", path,
                     e.line, section.name, b.offset);
        }
      } else if (e.key == "sigma_sys") {
        b.sigma_sys = parse_value(path, e, section.name);
        has_sys = true;
        if (!(b.sigma_sys >= 0 && b.sigma_sys < 1.0)) {
          fail_input("{}:{}: [{}] sigma_sys = {} mag is not allowed; it must be in [0, 1)", path, e.line, section.name,
                     b.sigma_sys);
        }
      } else if (e.key == "offset_err") {
        b.offset_err = parse_value(path, e, section.name);
      } else if (e.key == "sigma_sys_err") {
        b.sigma_sys_err = parse_value(path, e, section.name);
      } else if (e.key == "stars") {
        b.stars = static_cast<std::int64_t>(parse_value(path, e, section.name));
      } else {
        fail_input("{}:{}: unknown key '{}' in band [{}]; allowed: offset, sigma_sys, offset_err, sigma_sys_err, stars",
                   path, e.line, e.key, section.name);
      }
    }
    if (!has_offset || !has_sys) {
      fail_input("{}:{}: band [{}] needs both offset and sigma_sys", path, section.line, section.name);
    }
    c.bands_.emplace_back(section.name, b);
  }
  if (c.bands_.empty()) fail_input("calibration file '{}' has no band sections", path);
  return c;
}

void Calibration::save(const std::string& path, const std::vector<std::pair<std::string, std::string>>& info) const {
  const std::string partial = partial_path(path);
  {
    std::ofstream out(partial);
    if (!out) fail_io("cannot write calibration file '{}'", partial);
    out << "# irisml per-band photometric calibration (docs/observation_model.md): catalogue magnitudes are\n"
           "# read as m = M(theta) + mu + offset + noise, noise variance err^2 + sigma_sys^2 [mag].\n"
           "[calibration]\n";
    for (const auto& [k, v] : info) out << k << " = " << v << "\n";
    for (const auto& [band, b] : bands_) {
      out << fmt::format("\n[{}]\noffset = {:.5f}\nsigma_sys = {:.5f}\n", band, b.offset, b.sigma_sys);
      if (std::isfinite(b.offset_err)) out << fmt::format("offset_err = {:.5f}\n", b.offset_err);
      if (std::isfinite(b.sigma_sys_err)) out << fmt::format("sigma_sys_err = {:.5f}\n", b.sigma_sys_err);
      if (b.stars > 0) out << "stars = " << b.stars << "\n";
    }
    out.flush();
    if (!out) {
      std::remove(partial.c_str());
      fail_io("cannot write calibration file '{}' (disk full?)", partial);
    }
  }
  commit_partial(path);
}

void Calibration::set(const std::string& band, const BandCalibration& c) {
  for (auto& [name, b] : bands_) {
    if (name == band) {
      b = c;
      return;
    }
  }
  bands_.emplace_back(band, c);
}

const BandCalibration* Calibration::find(const std::string& band) const {
  for (const auto& [name, b] : bands_)
    if (name == band) return &b;
  return nullptr;
}

std::vector<BandCalibration> Calibration::for_bands(const std::vector<std::string>& bands,
                                                    const std::string& what) const {
  std::vector<BandCalibration> out;
  std::vector<std::string> missing;
  for (const auto& band : bands) {
    const BandCalibration* b = find(band);
    if (b) {
      out.push_back(*b);
    } else {
      missing.push_back(band);
    }
  }
  if (!missing.empty()) {
    std::vector<std::string> have;
    for (const auto& [name, b] : bands_) have.push_back(name);
    fail_input("calibration file '{}' has no entry for band(s) {} that {} uses; it covers: {}", source_,
               fmt::join(missing, ", "), what, fmt::join(have, ", "));
  }
  return out;
}

std::string Calibration::describe() const {
  std::string s = fmt::format("calibration={}", source_);
  for (const auto& [band, b] : bands_) s += fmt::format(" {}:{}:{}", band, b.offset, b.sigma_sys);
  return s;
}

}  // namespace irisml::simulate
