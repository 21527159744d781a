// The observation model shared by training-time augmentation and `irisml
// catalog make`: which bands of a star are observed, with which error, and the
// noisy magnitudes that result.
//
// Per star (observe_star):
//   1. a band count k, uniform on [bands_min, min(bands_max, n_filters)]
//      (bands_max = 0 means "all available");
//   2. a uniformly random subset of k of the star's bands (returned in
//      ascending filter order);
//   3. per observed band an error σ from `sigma_distribution`
//      ("loguniform": log σ uniform on [log sigma_min, log sigma_max];
//       "uniform": σ uniform on [sigma_min, sigma_max]), then σ = max(σ, sigma_floor);
//   4. magnitude = clean + √(σ² + sigma_sys²) · N(0, 1); the reported error is σ
//      (as a survey quotes it: calibration and model systematics are left out), and
//      the error the network sees is network_error(σ) = √(σ² + sigma_sys²).
// Draws come only from the Philox stream passed in, in that order, so the
// result is a pure function of the stream's key: callers key it by
// (seed, star index) or (seed, epoch, star) and get the same observation on any
// rank, in any batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.hpp"

namespace irisml::sim {

// √(a² + b²): an error with another term added in quadrature (the systematic term in the
// noise drawn and in the error the network sees; the posterior-predictive floor). One
// definition, so training, catalogues and the sampler do the same arithmetic.
inline double in_quadrature(double a, double b) { return std::sqrt(a * a + b * b); }

struct NoiseModel {
  int bands_min = 6;
  int bands_max = 0;                              // 0 = all available
  std::string sigma_distribution = "loguniform";  // loguniform | uniform
  double sigma_min = 0.005, sigma_max = 0.2;      // [mag]
  double sigma_floor = 0.0;                       // [mag] lower bound applied to each drawn σ
  // [mag] systematic error of every band (calibration and model errors that quoted
  // errors leave out), added in quadrature to the noise drawn and to the error the
  // network sees. Files written before it existed record none: read as 0.
  double sigma_sys = 0.01;

  // The smallest quoted error training saw; the sampler raises smaller ones to it.
  double error_min() const { return std::max(sigma_min, sigma_floor); }
  // The error the network is given for a quoted error σ: √(max(σ, error_min())² + sigma_sys²).
  double network_error(double quoted) const { return in_quadrature(std::max(quoted, error_min()), sigma_sys); }

  // Throws InputError naming the key (noise.bands_min, noise.sigma_max, ...),
  // its value and what is allowed.
  void validate() const;
  // Also checks that a star with `n_filters` bands can satisfy bands_min.
  void validate(int n_filters) const;
  // The largest band count a star with n_filters bands can get.
  int max_bands(int n_filters) const { return bands_max <= 0 ? n_filters : std::min(bands_max, n_filters); }
  // ("noise.bands_min", "6"), ... for file attributes and logs.
  std::vector<std::pair<std::string, std::string>> items() const;
  // The inverse of items(): keys not given keep their defaults; an unknown key or an
  // unreadable value is an InputError naming `source`, the key and the value.
  static NoiseModel from_items(const std::vector<std::pair<std::string, std::string>>& items,
                               const std::string& source);
};

// Observes one star. `clean_mags` holds its n_filters noise-free magnitudes;
// `filter_index_out`, `mag_out` and `err_out` must each hold n_filters
// entries (filter_index_out is also used as scratch). On return the first k
// entries give the observed bands' indices (ascending), noisy magnitudes and
// errors; k is returned. Throws InputError if n_filters < bands_min. The model
// is assumed validated (validate()).
int observe_star(Philox& rng, const float* clean_mags, int n_filters, const NoiseModel& model, int* filter_index_out,
                 float* mag_out, float* err_out);

}  // namespace irisml::sim
