#include "simulate/prior.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "simulate/grid.hpp"

namespace irisml::sim {

void PriorConfig::validate() const {
  auto finite = [](const char* name, double v) {
    if (!std::isfinite(v)) fail_input("prior.{} = {} is not a finite number", name, v);
  };
  for (const auto& [name, value] : items()) finite(name, value);
  if (!(logg_min < logg_max)) {
    fail_input("prior.logg_min = {} must be below prior.logg_max = {}", logg_min, logg_max);
  }
  if (mh_halo_fraction < 0 || mh_halo_fraction > 1) {
    fail_input("prior.mh_halo_fraction = {} must lie in [0, 1]", mh_halo_fraction);
  }
  if (mh_halo_sigma <= 0) fail_input("prior.mh_halo_sigma = {} must be > 0", mh_halo_sigma);
  if (mh_disc_sigma <= 0) fail_input("prior.mh_disc_sigma = {} must be > 0", mh_disc_sigma);
  if (av_offset < 0) fail_input("prior.av_offset = {} must be >= 0 (A_V is non-negative)", av_offset);
  if (av_scale <= 0) fail_input("prior.av_scale = {} must be > 0", av_scale);
  if (av_max != 0 && av_max <= av_offset)
    fail_input("prior.av_max = {} must be 0 (no cap) or above prior.av_offset = {}", av_max, av_offset);
  if (rv_sigma <= 0) fail_input("prior.rv_sigma = {} must be > 0", rv_sigma);
  if (rv_min <= 0) fail_input("prior.rv_min = {} must be > 0 (R_V <= 0 is unphysical)", rv_min);
  if (!(rv_min < rv_max)) fail_input("prior.rv_min = {} must be below prior.rv_max = {}", rv_min, rv_max);
  // Truncated normals are drawn by rejection: keep the accepted mass reasonable.
  if (rv_mean < rv_min - 4 * rv_sigma || rv_mean > rv_max + 4 * rv_sigma) {
    fail_input("prior.rv_mean = {} lies more than 4 sigma outside [prior.rv_min, prior.rv_max] = [{}, {}]", rv_mean,
               rv_min, rv_max);
  }
}

std::vector<std::pair<const char*, double>> PriorConfig::items() const {
  return {{"logg_min", logg_min},
          {"logg_max", logg_max},
          {"mh_halo_fraction", mh_halo_fraction},
          {"mh_halo_mean", mh_halo_mean},
          {"mh_halo_sigma", mh_halo_sigma},
          {"mh_disc_mean", mh_disc_mean},
          {"mh_disc_sigma", mh_disc_sigma},
          {"av_offset", av_offset},
          {"av_scale", av_scale},
          {"av_max", av_max},
          {"rv_mean", rv_mean},
          {"rv_sigma", rv_sigma},
          {"rv_min", rv_min},
          {"rv_max", rv_max}};
}

PriorConfig PriorConfig::from_items(const std::vector<std::pair<std::string, double>>& items,
                                    const std::string& source) {
  PriorConfig c;
  // Pointers to the fields, in items() order.
  double* fields[] = {&c.logg_min,     &c.logg_max,      &c.mh_halo_fraction, &c.mh_halo_mean, &c.mh_halo_sigma,
                      &c.mh_disc_mean, &c.mh_disc_sigma, &c.av_offset,        &c.av_scale,     &c.av_max,
                      &c.rv_mean,      &c.rv_sigma,      &c.rv_min,           &c.rv_max};
  const auto names = c.items();
  std::vector<int> seen(names.size(), 0);
  for (const auto& [key, value] : items) {
    std::size_t k = 0;
    while (k < names.size() && key != names[k].first) ++k;
    if (k == names.size()) fail_input("{}: prior key '{}' is not known", source, key);
    *fields[k] = value;
    ++seen[k];
  }
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (seen[k] != 1)
      fail_input("{}: prior key '{}' is {}", source, names[k].first, seen[k] ? "given twice" : "missing");
  }
  c.validate();
  return c;
}

Prior::Prior(const PriorConfig& config, const SpectralGrid& grid) : config_(config) {
  config_.validate();
  logg_nodes_ = grid.logg;
  mh_lo_ = grid.mh.front();
  mh_hi_ = grid.mh.back();
  // Validity is constant inside a log g cell, so one query per cell suffices.
  for (std::size_t j = 0; j + 1 < logg_nodes_.size(); ++j) {
    Cell cell;
    cell.intervals = grid.log_teff_intervals(0.5 * (logg_nodes_[j] + logg_nodes_[j + 1]));
    for (const auto& [lo, hi] : cell.intervals) cell.total += hi - lo;
    cells_.push_back(std::move(cell));
  }
  bool any = false;
  for (const auto& c : cells_) any = any || c.total > 0;
  if (!any) fail_input("the spectral grid has no complete interpolation cell: nothing can be simulated");
  double overlap_lo = std::max(config_.logg_min, logg_nodes_.front());
  double overlap_hi = std::min(config_.logg_max, logg_nodes_.back());
  if (!(overlap_lo < overlap_hi)) {
    fail_input("prior log g range [{}, {}] does not overlap the grid's log g range [{}, {}]", config_.logg_min,
               config_.logg_max, logg_nodes_.front(), logg_nodes_.back());
  }
  // Normalising constants of log_density().
  double measure = 0.0;
  for (std::size_t j = 0; j < cells_.size(); ++j) {
    if (cells_[j].total <= 0) continue;
    const double lo = std::max(config_.logg_min, logg_nodes_[j]), hi = std::min(config_.logg_max, logg_nodes_[j + 1]);
    if (hi > lo) measure += hi - lo;
  }
  if (!(measure > 0)) {
    fail_input("prior log g range [{}, {}] contains no valid grid cell: nothing can be simulated", config_.logg_min,
               config_.logg_max);
  }
  log_logg_measure_ = std::log(measure);
  auto log_normal_mass = [](double mean, double sigma, double lo, double hi) {
    const double a = (lo - mean) / (sigma * std::sqrt(2.0)), b = (hi - mean) / (sigma * std::sqrt(2.0));
    // erfc differences keep precision in the far tails
    const double mass = a > 0 ? 0.5 * (std::erfc(a) - std::erfc(b)) : 0.5 * (std::erfc(-b) - std::erfc(-a));
    return std::log(mass);
  };
  log_mh_norm_halo_ = log_normal_mass(config_.mh_halo_mean, config_.mh_halo_sigma, mh_lo_, mh_hi_);
  log_mh_norm_disc_ = log_normal_mass(config_.mh_disc_mean, config_.mh_disc_sigma, mh_lo_, mh_hi_);
  log_rv_norm_ = log_normal_mass(config_.rv_mean, config_.rv_sigma, config_.rv_min, config_.rv_max);
  log_av_norm_ =
      config_.av_max > 0 ? std::log1p(-std::exp(-(config_.av_max - config_.av_offset) / config_.av_scale)) : 0.0;
  if (config_.mh_halo_fraction < 1 && (config_.mh_disc_mean < mh_lo_ - 5 * config_.mh_disc_sigma ||
                                       config_.mh_disc_mean > mh_hi_ + 5 * config_.mh_disc_sigma)) {
    fail_input("prior.mh_disc_mean = {} lies far outside the grid's [M/H] range [{}, {}]", config_.mh_disc_mean, mh_lo_,
               mh_hi_);
  }
}

const Prior::Cell* Prior::cell_for(double logg) const {
  if (logg < logg_nodes_.front() || logg > logg_nodes_.back()) return nullptr;
  auto it = std::upper_bound(logg_nodes_.begin(), logg_nodes_.end(), logg);
  std::size_t j = static_cast<std::size_t>(it - logg_nodes_.begin());
  j = j == 0 ? 0 : j - 1;
  if (j >= cells_.size()) j = cells_.size() - 1;  // exactly on the top node
  return cells_[j].total > 0 ? &cells_[j] : nullptr;
}

double Prior::log_density(const StarParameters& p) const {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  constexpr double kLogSqrt2Pi = 0.91893853320467274178;
  const double values[5] = {p.teff, p.logg, p.mh, p.av, p.rv};
  for (double v : values) {
    if (!std::isfinite(v)) return kNegInf;
  }
  if (p.teff <= 0 || p.logg < config_.logg_min || p.logg > config_.logg_max) return kNegInf;
  const Cell* cell = cell_for(p.logg);
  if (!cell) return kNegInf;
  const double log_teff = std::log10(p.teff);
  bool inside = false;
  for (const auto& [lo, hi] : cell->intervals) inside = inside || (log_teff >= lo && log_teff <= hi);
  if (!inside) return kNegInf;
  double log_p = -log_logg_measure_ - std::log(cell->total) - std::log(p.teff * std::log(10.0));

  if (mh_hi_ > mh_lo_) {
    if (p.mh < mh_lo_ || p.mh > mh_hi_) return kNegInf;
    auto log_component = [&](double mean, double sigma, double log_norm) {
      const double z = (p.mh - mean) / sigma;
      return -0.5 * z * z - kLogSqrt2Pi - std::log(sigma) - log_norm;
    };
    const double f = config_.mh_halo_fraction;
    double mix = 0.0;
    if (f > 0) mix += f * std::exp(log_component(config_.mh_halo_mean, config_.mh_halo_sigma, log_mh_norm_halo_));
    if (f < 1) mix += (1 - f) * std::exp(log_component(config_.mh_disc_mean, config_.mh_disc_sigma, log_mh_norm_disc_));
    log_p += std::log(mix);
  } else if (p.mh != mh_lo_) {
    return kNegInf;
  }

  if (p.av < config_.av_offset || (config_.av_max > 0 && p.av > config_.av_max)) return kNegInf;
  log_p += -(p.av - config_.av_offset) / config_.av_scale - std::log(config_.av_scale) - log_av_norm_;

  if (p.rv < config_.rv_min || p.rv > config_.rv_max) return kNegInf;
  const double z = (p.rv - config_.rv_mean) / config_.rv_sigma;
  log_p += -0.5 * z * z - kLogSqrt2Pi - std::log(config_.rv_sigma) - log_rv_norm_;
  return log_p;
}

double Prior::log_av_density(double av) const {
  if (!(av >= config_.av_offset) || (config_.av_max > 0 && av > config_.av_max)) {
    return -std::numeric_limits<double>::infinity();
  }
  return -(av - config_.av_offset) / config_.av_scale - std::log(config_.av_scale) - log_av_norm_;
}

std::uint32_t Prior::draw(std::uint64_t seed, std::uint64_t index, StarParameters& out) const {
  Philox rng(seed, index);
  std::uint32_t rejected = 0;
  while (true) {
    double logg = rng.uniform(config_.logg_min, config_.logg_max);
    const Cell* cell = cell_for(logg);
    if (!cell) {
      ++rejected;
      continue;
    }
    // log10 Teff uniform over the union of valid intervals at this log g.
    double u = rng.uniform() * cell->total;
    double log_teff = cell->intervals.back().second;
    for (const auto& [lo, hi] : cell->intervals) {
      if (u <= hi - lo) {
        log_teff = lo + u;
        break;
      }
      u -= hi - lo;
    }
    bool halo = rng.uniform() < config_.mh_halo_fraction;
    double mean = halo ? config_.mh_halo_mean : config_.mh_disc_mean;
    double sigma = halo ? config_.mh_halo_sigma : config_.mh_disc_sigma;
    double mh = mh_lo_;  // a grid with one [M/H] node: that node
    if (mh_hi_ > mh_lo_) {
      do {
        mh = rng.normal(mean, sigma);
      } while (mh < mh_lo_ || mh > mh_hi_);
    }
    double av;
    do {
      av = config_.av_offset + rng.exponential(config_.av_scale);
    } while (config_.av_max > 0 && av > config_.av_max);
    double rv;
    do {
      rv = rng.normal(config_.rv_mean, config_.rv_sigma);
    } while (rv < config_.rv_min || rv > config_.rv_max);
    out = {std::pow(10.0, log_teff), logg, mh, av, rv};
    return rejected;
  }
}

}  // namespace irisml::sim
