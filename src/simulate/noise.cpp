#include "simulate/noise.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "simulate/likelihood.hpp"

namespace irisml::simulate {

namespace {
// "0.01,0.02": round-trip exact (shortest representation).
std::string join_numbers(const std::vector<double>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + fmt::format("{}", v[i]);
  return out;
}
bool split_numbers(const std::string& text, std::vector<double>& out) {
  out.clear();
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    std::size_t used = 0;
    try {
      out.push_back(std::stod(item, &used));
    } catch (const std::logic_error&) {
      return false;
    }
    if (used != item.size() || item.empty()) return false;
    begin = end + 1;
  }
  return true;
}
const NoiseTokenSetting* find_token_setting(const std::string& key) {
  for (const auto& t : noise_token_settings())
    if (key == t.key) return &t;
  return nullptr;
}
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
  if (band_offset.size() != band_sigma_sys.size()) {
    throw std::logic_error("NoiseModel: band_offset and band_sigma_sys differ in length");
  }
  for (std::size_t f = 0; f < band_sigma_sys.size(); ++f) {
    if (!(band_sigma_sys[f] >= 0 && band_sigma_sys[f] < 1.0)) {
      fail_input("noise.band_sigma_sys: {} mag for filter {} is not allowed; it must be in [0, 1) ({})",
                 band_sigma_sys[f], f, calibration);
    }
  }
  if (!(parallax_fraction >= 0 && parallax_fraction <= 1)) {
    fail_input("noise.parallax_fraction = {} must be in [0, 1] (0 = no parallaxes)", parallax_fraction);
  }
  if (!(parallax_mass_min > 0) || !(parallax_mass_max > parallax_mass_min) || !std::isfinite(parallax_mass_max)) {
    fail_input("noise.parallax_mass_min = {}, noise.parallax_mass_max = {}: need 0 < min < max (M_sun)",
               parallax_mass_min, parallax_mass_max);
  }
  if (!(parallax_length_scale > 0) || !std::isfinite(parallax_length_scale)) {
    fail_input("noise.parallax_length_scale = {} must be a finite number > 0 (pc)", parallax_length_scale);
  }
  if (!(parallax_near_fraction >= 0 && parallax_near_fraction <= 1)) {
    fail_input("noise.parallax_near_fraction = {} must be in [0, 1]", parallax_near_fraction);
  }
  if (!(parallax_error_scale > 0) || !std::isfinite(parallax_error_scale)) {
    fail_input("noise.parallax_error_scale = {} must be a finite number > 0", parallax_error_scale);
  }
  if (!(parallax_error_min > 0) || !std::isfinite(parallax_error_min)) {
    fail_input("noise.parallax_error_min = {} must be a finite number > 0 (mas)", parallax_error_min);
  }
  if (!(av_prior_fraction >= 0 && av_prior_fraction <= 1)) {
    fail_input("noise.av_prior_fraction = {} must be in [0, 1] (0 = no A_V priors)", av_prior_fraction);
  }
  if (!(av_prior_sigma_min > 0) || !(av_prior_sigma_max >= av_prior_sigma_min) || !std::isfinite(av_prior_sigma_max)) {
    fail_input("noise.av_prior_sigma_min = {}, noise.av_prior_sigma_max = {}: need 0 < min <= max (mag)",
               av_prior_sigma_min, av_prior_sigma_max);
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
  std::vector<std::pair<std::string, std::string>> items = {
      {"noise.bands_min", std::to_string(bands_min)},    {"noise.bands_max", std::to_string(bands_max)},
      {"noise.sigma_distribution", sigma_distribution},  {"noise.sigma_min", fmt::format("{}", sigma_min)},
      {"noise.sigma_max", fmt::format("{}", sigma_max)}, {"noise.sigma_floor", fmt::format("{}", sigma_floor)},
      {"noise.sigma_sys", fmt::format("{}", sigma_sys)}};
  if (calibrated()) {
    items.insert(items.end(), {{"noise.calibration", calibration},
                               {"noise.band_sigma_sys", join_numbers(band_sigma_sys)},
                               {"noise.band_offset", join_numbers(band_offset)}});
  }
  for (const auto& t : noise_token_settings()) {  // a group's keys only when it is on
    if (t.parallax ? parallaxes() : av_priors()) items.emplace_back(t.key, fmt::format("{}", this->*t.member));
  }
  return items;
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
      } else if (key == "noise.calibration") {
        m.calibration = value;
        used = value.size();
      } else if (key == "noise.band_sigma_sys" || key == "noise.band_offset") {
        auto& list = key == "noise.band_sigma_sys" ? m.band_sigma_sys : m.band_offset;
        if (!split_numbers(value, list)) fail_input("{}: {} = '{}' is not a comma list of numbers", source, key, value);
        used = value.size();
      } else if (const auto* t = find_token_setting(key)) {
        m.*(t->member) = std::stod(value, &used);
      } else {
        std::string known =
            "noise.bands_min, noise.bands_max, noise.sigma_distribution, noise.sigma_min, noise.sigma_max, "
            "noise.sigma_floor, noise.sigma_sys, noise.calibration, noise.band_sigma_sys, noise.band_offset";
        for (const auto& setting : noise_token_settings()) known += std::string(", ") + setting.key;
        fail_input("{}: unknown noise setting '{}' (known: {})", source, key, known);
      }
    } catch (const std::logic_error&) {  // std::invalid_argument, std::out_of_range
      used = 0;
    }
    if (used != value.size() || (value.empty() && key != "noise.calibration")) {
      fail_input("{}: {} = '{}' is not a number", source, key, value);
    }
  }
  if (m.band_sigma_sys.size() != m.band_offset.size()) {
    fail_input("{}: noise.band_sigma_sys has {} values but noise.band_offset {}", source, m.band_sigma_sys.size(),
               m.band_offset.size());
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
    const double total = in_quadrature(sigma, model.sigma_sys_of(filter_index_out[i]));
    mag_out[i] = static_cast<float>(clean_mags[filter_index_out[i]] + total * noise);
    err_out[i] = static_cast<float>(sigma);
  }
  return k;
}

const std::vector<NoiseTokenSetting>& noise_token_settings() {
  static const std::vector<NoiseTokenSetting> table = {
      {"noise.parallax_fraction", &NoiseModel::parallax_fraction, true,
       "fraction of training stars given a Gaia-like parallax (> 0: the model gets a parallax token; "
       "docs/distance.md)"},
      {"noise.parallax_mass_min", &NoiseModel::parallax_mass_min, true,
       "lower end of the log-uniform mass of stars with a parallax [M_sun]"},
      {"noise.parallax_mass_max", &NoiseModel::parallax_mass_max, true, "upper end of that mass [M_sun]"},
      {"noise.parallax_length_scale", &NoiseModel::parallax_length_scale, true,
       "L of the space density p(d) ∝ d² exp(−d/L) the distances come from [pc]"},
      {"noise.parallax_near_fraction", &NoiseModel::parallax_near_fraction, true,
       "fraction of distances drawn log-uniform on [10, 5000] pc instead (nearby, high-S/N parallaxes)"},
      {"noise.parallax_error_scale", &NoiseModel::parallax_error_scale, true,
       "factor on the Gaia DR3-like parallax error at the star's magnitude"},
      {"noise.parallax_error_min", &NoiseModel::parallax_error_min, true, "smallest parallax error drawn [mas]"},
      {"noise.av_prior_fraction", &NoiseModel::av_prior_fraction, false,
       "fraction of training stars given a Gaussian A_V prior around their A_V (> 0: the model gets an A_V-prior "
       "token)"},
      {"noise.av_prior_sigma_min", &NoiseModel::av_prior_sigma_min, false,
       "narrowest such prior [mag] (widths log-uniform)"},
      {"noise.av_prior_sigma_max", &NoiseModel::av_prior_sigma_max, false, "widest such prior [mag]"}};
  return table;
}

double gaia_parallax_error(double g) {
  const double z = std::pow(10.0, 0.4 * (std::max(g, 13.0) - 15.0));
  // 0.8 µas × √(40 + 800 z + 30 z²): 0.02 mas at G = 15, 0.06 at 17, 0.49 at 20, 1.16 at 21.
  return 0.8e-3 * std::sqrt(40.0 + 800.0 * z + 30.0 * z * z);
}

double draw_parallax_mass(Philox& rng, const NoiseModel& model, const Prior::IsochroneMass* window) {
  if (window && rng.uniform() < window->iso_weight) return std::pow(10.0, rng.uniform(window->log_lo, window->log_hi));
  return std::exp(rng.uniform(std::log(model.parallax_mass_min), std::log(model.parallax_mass_max)));
}

bool observe_parallax(Philox& rng, const float* clean_mags, int n_filters, double logg, const NoiseModel& model,
                      double& parallax, double& parallax_err, double& offset, const Prior::IsochroneMass* window) {
  if (!(rng.uniform() < model.parallax_fraction)) return false;
  const double mass = draw_parallax_mass(rng, model, window);
  double distance;
  if (rng.uniform() < model.parallax_near_fraction) {
    distance = std::exp(rng.uniform(std::log(10.0), std::log(5000.0)));
  } else {  // Gamma(3, L): the sum of three exponentials
    distance =
        -model.parallax_length_scale * (std::log(rng.uniform()) + std::log(rng.uniform()) + std::log(rng.uniform()));
  }
  offset = 5.0 * std::log10(distance / 10.0) - radius_term(mass, logg);
  // A G-like apparent magnitude: the median of the star's finite clean magnitudes, shifted.
  std::vector<double> finite;
  finite.reserve(static_cast<std::size_t>(n_filters));
  for (int f = 0; f < n_filters; ++f) {
    if (std::isfinite(clean_mags[f])) finite.push_back(clean_mags[f]);
  }
  double g = 15.0;
  if (!finite.empty()) {
    auto mid = finite.begin() + static_cast<std::ptrdiff_t>(finite.size() / 2);
    std::nth_element(finite.begin(), mid, finite.end());
    g = *mid + offset;
  }
  parallax_err = std::max(model.parallax_error_min,
                          model.parallax_error_scale * gaia_parallax_error(g) * std::exp(0.3 * rng.normal()));
  parallax = 1000.0 / distance + parallax_err * rng.normal();
  return true;
}

bool observe_av_prior(Philox& rng, double av, const NoiseModel& model, double& mean, double& width) {
  if (!(rng.uniform() < model.av_prior_fraction)) return false;
  width = std::exp(rng.uniform(std::log(model.av_prior_sigma_min), std::log(model.av_prior_sigma_max)));
  mean = av + width * rng.normal();
  return true;
}

}  // namespace irisml::simulate
