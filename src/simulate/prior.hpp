// The training-set prior (science.md §2), every constant a setting.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace irisml::sim {

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

  // Throws InputError naming the first inconsistent constant.
  void validate() const;
  // (name, value) pairs, for file attributes and logs.
  std::vector<std::pair<const char*, double>> items() const;
  // The inverse of items() (names without the "prior." prefix): every key must be
  // given once; an unknown or missing key is an InputError naming `source`.
  static PriorConfig from_items(const std::vector<std::pair<std::string, double>>& items, const std::string& source);
};

// Draws stars inside the grid. Proposals whose log g has no valid grid cell
// are rejected and redrawn; the count is returned so it can be reported.
class Prior {
 public:
  Prior(const PriorConfig& config, const SpectralGrid& grid);

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

  PriorConfig config_;
  std::vector<double> logg_nodes_;
  std::vector<Cell> cells_;
  double mh_lo_ = 0, mh_hi_ = 0;
  double log_logg_measure_ = 0;                         // log of the accepted part of [logg_min, logg_max]
  double log_mh_norm_halo_ = 0, log_mh_norm_disc_ = 0;  // log of each component's mass in [mh_lo, mh_hi]
  double log_rv_norm_ = 0;                              // log of the R_V normal's mass in [rv_min, rv_max]
  double log_av_norm_ = 0;  // log of the A_V exponential's mass below av_max (0 without a cap)
};

}  // namespace irisml::sim
