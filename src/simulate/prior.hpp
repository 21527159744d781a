// The training-set prior (docs/model.md §2), every constant a setting.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "simulate/isochrones.hpp"

namespace irisml {
class Philox;
}

namespace irisml::simulate {

struct SpectralGrid;

// Physical stellar parameters, in the order stored everywhere:
// Teff [K], log g [cgs dex], [M/H] [dex], A_V [mag], R_V.
struct StarParameters {
  double teff = 0, logg = 0, mh = 0, av = 0, rv = 0;
};

inline constexpr int kParameterCount = 5;
inline constexpr const char* kParameterNames[kParameterCount] = {"teff", "logg", "mh", "av", "rv"};
inline constexpr const char* kParameterUnits[kParameterCount] = {"K", "dex (cgs)", "dex", "mag", ""};

struct PriorConfig {
  double logg_min = 0.1, logg_max = 5.5;             // log g ~ U(min, max); log10 Teff ~ U over the grid at that log g
  double mh_halo_fraction = 0.25;                    // [M/H]: mixture of a halo and a disc normal,
  double mh_halo_mean = -1.49, mh_halo_sigma = 0.4;  // truncated to the grid's [M/H] range
  double mh_disc_mean = -0.1, mh_disc_sigma = 0.2;
  double av_offset = 0.003, av_scale = 1.5;  // A_V = offset + Exponential(scale)
  double av_max = 0.0;                       // optional cap (0 = none); draws above are redrawn
  double rv_mean = 3.13, rv_sigma = 0.18, rv_min = 2.5, rv_max = 4.5;  // truncated normal

  // The stellar-evolution prior (docs/isochrone_prior.md). kind: 0 = flat (log g and
  // log10 Teff as above), 1 = isochrone: (Teff, log g) at a given [M/H] from stellar
  // tracks, mixed with the flat density with weight isochrone_flat_fraction.
  double kind = 0.0;
  double isochrone_flat_fraction = 0.05;
  double isochrone_age_min = 0.0, isochrone_age_max = 13.5;              // [Gyr] constant star formation
  double isochrone_smooth_log_teff = 0.01, isochrone_smooth_logg = 0.1;  // [dex]
  double isochrone_tracks = 0.0;  // StellarTracks::checksum_value() of the tracks; 0 = not yet known

  bool isochrone() const { return kind == 1.0; }
  IsochroneSettings isochrone_settings() const;
  // Throws InputError naming the first inconsistent constant.
  void validate() const;
  // (name, value) pairs, for file attributes and logs. The isochrone_* keys (and kind)
  // only under the isochrone kind, so that flat-prior files are as they always were.
  std::vector<std::pair<const char*, double>> items() const;
  // The inverse of items() (names without the "prior." prefix): every key must be
  // given once (kind and the isochrone_* keys at most once: absent = flat); an unknown or
  // missing key is an InputError naming `source`.
  static PriorConfig from_items(const std::vector<std::pair<std::string, double>>& items, const std::string& source);
};

// Draws stars inside the grid. Proposals whose log g has no valid grid cell
// are rejected and redrawn; the count is returned so it can be reported.
class Prior {
 public:
  // `tracks` is needed (and only read) under the isochrone kind; its checksum must match
  // config.isochrone_tracks unless that is 0 (then it is recorded in config()).
  Prior(const PriorConfig& config, const SpectralGrid& grid, const StellarTracks* tracks = nullptr);

  // Parameters of star `index` for this seed: a pure function of (seed, index).
  // Returns the number of rejected proposals before the accepted one.
  std::uint32_t draw(std::uint64_t seed, std::uint64_t index, StarParameters& out) const;

  const PriorConfig& config() const { return config_; }

  // The normalised density of draw() over physical θ (Teff in K, not log10 Teff):
  //   p(θ) = p(log g) · p(log10 Teff | log g) / (Teff ln 10) · p([M/H]) · p(A_V) · p(R_V)
  // with p(log g) uniform over the part of [logg_min, logg_max] that has a valid grid
  // cell (the rejected proposals renormalise it), log10 Teff uniform over that cell's
  // valid intervals, [M/H] the two-component mixture with each component truncated to
  // the grid's range, A_V the shifted exponential (truncated at av_max when set), R_V
  // the truncated normal. −inf outside the support (a point draw() never returns);
  // with a one-node [M/H] axis that dimension is a point mass and contributes 0.
  double log_density(const StarParameters& p) const;
  // The A_V factor of log_density() alone (−inf outside its support).
  double log_av_density(double av) const;

  // Under the isochrone kind, the stars' log10 mass [M_sun] at θ: with probability
  // iso_weight uniform on [log_lo, log_hi] (the tracks' cell: mean ± √3 sd, sd at least
  // kMinLogMassSd), otherwise the flat component's mass prior (DistanceSettings).
  struct IsochroneMass {
    double iso_weight = 0, log_lo = 0, log_hi = 0;
  };
  static constexpr double kMinLogMassSd = 0.02;
  bool isochrone() const { return iso_ != nullptr; }
  IsochroneMass isochrone_mass(const StarParameters& p) const;

  // Under the isochrone kind, the age of the tracks' stars at θ (docs/isochrone_prior.md):
  // log10 age [yr] normal given log10 mass, by the linear regression of the cell's moments
  // (the two [M/H] layers around θ mixed by their density), truncated to the prior's ages.
  struct IsochroneAge {
    bool valid = false;                                          // false outside the tracks (no age)
    double mean_log_mass = 0, log_mass_lo = 0, log_mass_hi = 0;  // the mass window of isochrone_mass()
    double mean_log_age = 0, slope = 0, sd = 0;  // log age | log mass: mean + slope (log mass − mean_log_mass), sd
    double log_age_lo = 0, log_age_hi = 0;       // log10 of [age_min, age_max] [yr] (lo −inf at age 0)
    // log10 age [yr] at quantile u ∈ (0, 1) for a star of log10 mass `log_mass` (clamped
    // to the window).
    double log_age(double log_mass, double u) const;
  };
  static constexpr double kMinLogAgeSd = 0.01;
  IsochroneAge isochrone_age(const StarParameters& p) const;

  // The support, for samplers that must stay inside it.
  double mh_min() const { return mh_lo_; }
  double mh_max() const { return mh_hi_; }
  // Valid log10 Teff intervals at this log g (sorted, disjoint), or null where
  // draw() rejects the log g.
  const std::vector<std::pair<double, double>>* log_teff_intervals(double logg) const {
    const Cell* c = cell_for(logg);
    return c ? &c->intervals : nullptr;
  }

 private:
  struct Cell {  // one log g cell of the grid: union of valid log10 Teff intervals
    std::vector<std::pair<double, double>> intervals;
    double total = 0;
  };
  const Cell* cell_for(double logg) const;
  bool in_support(double log_teff, double logg) const;
  // log10 Teff of θ under the isochrone kind when θ is in the support, NaN otherwise.
  double isochrone_log_teff(const StarParameters& p) const;
  void build_isochrone(const StellarTracks* tracks);
  // log of the flat (log10 Teff, log g) density at a point in the support.
  double log_flat_density(const Cell& cell) const { return -log_logg_measure_ - std::log(cell.total); }
  double draw_mh(Philox& rng) const;
  double log_mh_density(double mh) const;  // −inf outside the support
  // The isochrone density of (log10 Teff, log g) at [M/H], per unit of both, in the support;
  // the mixed moments of its cell's stars into *moments when given and the density is > 0
  // (the log-mass ones always, the log-age ones and their covariance `with_age`).
  double isochrone_density(double log_teff, double logg, double mh, IsochroneTable::Moments* moments,
                           bool with_age) const;
  // The two weighted parts of the (log10 Teff, log g) density at a point of the support
  // (in `cell`): (1 − ε) × the tracks' and ε × the flat one.
  struct Mixture {
    double iso = 0, flat = 0;
  };
  Mixture mixture(double log_teff, double logg, double mh, const Cell& cell, IsochroneTable::Moments* moments) const;

  struct Isochrone;  // the tracks' lattice, normalised over the support (prior.cpp)
  std::shared_ptr<const Isochrone> iso_;
  PriorConfig config_;
  std::vector<double> logg_nodes_;
  std::vector<Cell> cells_;
  double mh_lo_ = 0, mh_hi_ = 0;
  double log_logg_measure_ = 0;                         // log of the accepted part of [logg_min, logg_max]
  double log_mh_norm_halo_ = 0, log_mh_norm_disc_ = 0;  // log of each component's mass in [mh_lo, mh_hi]
  double log_rv_norm_ = 0;                              // log of the R_V normal's mass in [rv_min, rv_max]
  double log_av_norm_ = 0;  // log of the A_V exponential's mass below av_max (0 without a cap)
};

}  // namespace irisml::simulate
