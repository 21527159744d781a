#include "simulate/prior.hpp"

#include <algorithm>
#include <cmath>

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
  if (av_max != 0 && av_max <= av_offset) fail_input("prior.av_max = {} must be 0 (no cap) or above prior.av_offset = {}", av_max, av_offset);
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
  return {{"logg_min", logg_min},         {"logg_max", logg_max},           {"mh_halo_fraction", mh_halo_fraction},
          {"mh_halo_mean", mh_halo_mean}, {"mh_halo_sigma", mh_halo_sigma}, {"mh_disc_mean", mh_disc_mean},
          {"mh_disc_sigma", mh_disc_sigma}, {"av_offset", av_offset},       {"av_scale", av_scale},
          {"av_max", av_max},             {"rv_mean", rv_mean},             {"rv_sigma", rv_sigma},
          {"rv_min", rv_min},             {"rv_max", rv_max}};
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
