// Per-band calibration from real labelled stars (`irisml calibrate`;
// docs/observation_model.md, "Per-band calibration"): zero-point offsets δ_b and
// systematic errors σ_sys,b such that the catalogue magnitudes of stars with known
// (Teff, log g, [M/H]) follow m_b = M_b(θ) + μ + δ_b + noise, noise ~ N(0, err² + σ_sys,b²).
//
// Method (maximum marginal likelihood, profiled): per star its offset μ and A_V (in
// [0, av_max], an optional Gaussian A_V prior, R_V fixed) are fitted given the current
// δ and σ; per band δ_b and σ_sys,b then maximise Σ_s log N(ρ_sb | δ_b, v_sb) with the
// star's residual ρ_sb and v_sb = (err_sb² + σ_sys,b²)(1 − h_sb), h_sb the band's leverage
// in the star's fit (μ, and A_V when it is not at a bound): the variance a residual has
// after fitting the star's own parameters, so σ_sys is not biased low by them. The two
// steps alternate until the δ and σ stop moving; the mean of δ over the bands is fixed
// at 0 (a common shift is μ's). Uncertainties: bootstrap over stars.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "simulate/calibration.hpp"

namespace irisml::simulate {
class Synthesizer;
}

namespace irisml::infer {

struct CalibrationStar {
  std::string id;
  std::vector<int> bands;  // synthesizer band indices
  std::vector<double> mag, err;
  double teff = 0, logg = 0, mh = 0, rv = 3.1;  // the labels (R_V fixed)
  double av_max = std::numeric_limits<double>::infinity();
  double av_prior = std::numeric_limits<double>::quiet_NaN(), av_prior_err = std::numeric_limits<double>::quiet_NaN();
};

struct CalibrateSettings {
  int max_iterations = 200;
  // [mag] largest change of any δ or σ in one alternation that counts as converged: far
  // below the bootstrap errors (the A_V bounds can leave a cycle of ~1e-4 mag)
  double tolerance = 1e-3;
  int bootstrap = 50;  // resamples of the stars for the uncertainties (0 = none)
  std::uint64_t seed = 1;
  double sigma_max = 0.3;  // [mag] search range of σ_sys,b
  void validate() const;
};

// One star's fit at the final calibration.
struct CalibrationStarFit {
  double av = 0, mu = 0, chi2 = 0;
  int dof = 0;                                          // bands − fitted parameters
  double p = std::numeric_limits<double>::quiet_NaN();  // P(χ²_dof > chi2)
  bool inside_grid = true;
};

struct CalibrateResult {
  std::vector<std::string> band_names;  // synthesizer bands with at least 2 stars
  simulate::Calibration calibration;
  std::vector<CalibrationStarFit> stars;  // per input star
  int iterations = 0;
  bool converged = false;
};

// Estimates the calibration of `synth`'s bands from `stars` (stars outside the grid at
// their labels are skipped, reported in `stars[i].inside_grid`).
CalibrateResult calibrate(const simulate::Synthesizer& synth, const std::vector<CalibrationStar>& stars,
                          const CalibrateSettings& settings);

// The fits of `stars` at a given calibration (per synthesizer band; a band without an
// entry is an InputError): for held-out stars.
std::vector<CalibrationStarFit> fit_stars(const simulate::Synthesizer& synth, const std::vector<CalibrationStar>& stars,
                                          const std::vector<double>& offset, const std::vector<double>& sigma_sys);

}  // namespace irisml::infer
