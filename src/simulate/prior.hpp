// The training-set prior (science.md §2), every constant a setting.
#pragma once

#include <cstdint>
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
  double logg_min = 0.1, logg_max = 5.5;  // log g ~ U(min, max); log10 Teff ~ U over the grid at that log g
  double mh_halo_fraction = 0.25;         // [M/H]: mixture of a halo and a disc normal,
  double mh_halo_mean = -1.49, mh_halo_sigma = 0.4;  // truncated to the grid's [M/H] range
  double mh_disc_mean = -0.1, mh_disc_sigma = 0.2;
  double av_offset = 0.003, av_scale = 1.5;  // A_V = offset + Exponential(scale)
  double av_max = 0.0;                       // optional cap (0 = none); draws above are redrawn
  double rv_mean = 3.13, rv_sigma = 0.18, rv_min = 2.5, rv_max = 4.5;  // truncated normal

  // Throws InputError naming the first inconsistent constant.
  void validate() const;
  // (name, value) pairs, for file attributes and logs.
  std::vector<std::pair<const char*, double>> items() const;
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
};

}  // namespace irisml::sim
