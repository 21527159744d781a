#include "simulate/noise.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace irisml::sim {

namespace {
bool is_loguniform(const std::string& d) { return d == "loguniform"; }
bool is_uniform(const std::string& d) { return d == "uniform"; }
}  // namespace

void NoiseModel::validate() const {
  if (bands_min < 1) fail_input("noise.bands_min = {} must be >= 1", bands_min);
  if (bands_max < 0) fail_input("noise.bands_max = {} must be >= 0 (0 = all available bands)", bands_max);
  if (bands_max != 0 && bands_max < bands_min) {
    fail_input("noise.bands_max = {} is below noise.bands_min = {}; use a value >= bands_min, or 0 for all bands",
               bands_max, bands_min);
  }
  if (!is_loguniform(sigma_distribution) && !is_uniform(sigma_distribution)) {
    fail_input("noise.sigma_distribution = '{}' is not known; allowed: loguniform, uniform", sigma_distribution);
  }
  if (!(sigma_min > 0) || !std::isfinite(sigma_min)) {
    fail_input("noise.sigma_min = {} must be a finite number > 0 (mag)", sigma_min);
  }
  if (!(sigma_max >= sigma_min) || !std::isfinite(sigma_max)) {
    fail_input("noise.sigma_max = {} must be finite and >= noise.sigma_min = {}", sigma_max, sigma_min);
  }
  if (!(sigma_floor >= 0) || !std::isfinite(sigma_floor)) {
    fail_input("noise.sigma_floor = {} must be a finite number >= 0 (mag)", sigma_floor);
  }
  if (!(sigma_sys >= 0) || !std::isfinite(sigma_sys) || sigma_sys > 1.0) {
    fail_input("noise.sigma_sys = {} must be a number in [0, 1] (mag)", sigma_sys);
  }
}

void NoiseModel::validate(int n_filters) const {
  validate();
  if (n_filters < bands_min) {
    fail_input("noise.bands_min = {} needs at least that many filters, but only {} are available", bands_min,
               n_filters);
  }
}

std::vector<std::pair<std::string, std::string>> NoiseModel::items() const {
  return {{"noise.bands_min", std::to_string(bands_min)},    {"noise.bands_max", std::to_string(bands_max)},
          {"noise.sigma_distribution", sigma_distribution},  {"noise.sigma_min", fmt::format("{}", sigma_min)},
          {"noise.sigma_max", fmt::format("{}", sigma_max)}, {"noise.sigma_floor", fmt::format("{}", sigma_floor)},
          {"noise.sigma_sys", fmt::format("{}", sigma_sys)}};
}

NoiseModel NoiseModel::from_items(const std::vector<std::pair<std::string, std::string>>& items,
                                  const std::string& source) {
  NoiseModel m;
  m.sigma_sys = 0.0;  // absent from files written before the setting existed: none was applied
  for (const auto& [key, value] : items) {
    std::size_t used = 0;
    try {
      if (key == "noise.bands_min") {
        m.bands_min = std::stoi(value, &used);
      } else if (key == "noise.bands_max") {
        m.bands_max = std::stoi(value, &used);
      } else if (key == "noise.sigma_distribution") {
        m.sigma_distribution = value;
        used = value.size();
      } else if (key == "noise.sigma_min") {
        m.sigma_min = std::stod(value, &used);
      } else if (key == "noise.sigma_max") {
        m.sigma_max = std::stod(value, &used);
      } else if (key == "noise.sigma_floor") {
        m.sigma_floor = std::stod(value, &used);
      } else if (key == "noise.sigma_sys") {
        m.sigma_sys = std::stod(value, &used);
      } else {
        fail_input(
            "{}: unknown noise setting '{}' (known: noise.bands_min, noise.bands_max, "
            "noise.sigma_distribution, noise.sigma_min, noise.sigma_max, noise.sigma_floor, noise.sigma_sys)",
            source, key);
      }
    } catch (const std::logic_error&) {  // std::invalid_argument, std::out_of_range
      used = 0;
    }
    if (used != value.size() || value.empty()) fail_input("{}: {} = '{}' is not a number", source, key, value);
  }
  m.validate();
  return m;
}

int observe_star(Philox& rng, const float* clean_mags, int n_filters, const NoiseModel& model, int* filter_index_out,
                 float* mag_out, float* err_out) {
  if (n_filters < model.bands_min) {
    fail_input("noise.bands_min = {} but the star has only {} bands", model.bands_min, n_filters);
  }
  const int hi = model.max_bands(n_filters);
  const int lo = model.bands_min;
  // 1. band count, uniform on [lo, hi]
  const int span = hi - lo + 1;
  int k = lo + std::min(span - 1, static_cast<int>(rng.uniform() * span));
  // 2. uniform subset: partial Fisher–Yates on the index array
  for (int i = 0; i < n_filters; ++i) filter_index_out[i] = i;
  for (int i = 0; i < k; ++i) {
    const int left = n_filters - i;
    int j = i + std::min(left - 1, static_cast<int>(rng.uniform() * left));
    std::swap(filter_index_out[i], filter_index_out[j]);
  }
  std::sort(filter_index_out, filter_index_out + k);
  // 3–4. σ per band, then the noisy magnitude
  const bool loguniform = is_loguniform(model.sigma_distribution);
  const double log_lo = std::log(model.sigma_min), log_hi = std::log(model.sigma_max);
  for (int i = 0; i < k; ++i) {
    double sigma = loguniform ? std::exp(rng.uniform(log_lo, log_hi)) : rng.uniform(model.sigma_min, model.sigma_max);
    sigma = std::max(sigma, model.sigma_floor);
    const double noise = rng.normal();
    const double total = in_quadrature(sigma, model.sigma_sys);
    mag_out[i] = static_cast<float>(clean_mags[filter_index_out[i]] + total * noise);
    err_out[i] = static_cast<float>(sigma);
  }
  return k;
}

}  // namespace irisml::sim
