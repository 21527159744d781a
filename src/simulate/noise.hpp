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
//      the error the network sees is network_error(σ, f) = √(σ² + sigma_sys²), with
//      the band's own sigma_sys under a per-band calibration (band_sigma_sys).
// Draws come only from the Philox stream passed in, in that order, so the
// result is a pure function of the stream's key: callers key it by
// (seed, star index) or (seed, epoch, star) and get the same observation on any
// rank, in any batch.
//
// Parallaxes (observe_parallax, for a model with a parallax token; docs/distance.md):
// with probability parallax_fraction a star gets a mass (log-uniform on
// [parallax_mass_min, parallax_mass_max]; for a star of an isochrone-prior set, from the
// tracks' mass window at its θ as the likelihood has it, draw_parallax_mass) and a distance (with probability
// parallax_near_fraction log-uniform on [10 pc, 5 kpc], else from the space density
// p(d) ∝ d² exp(−d/L) of the likelihood), hence apparent magnitudes (the clean ones
// shifted by 5 log10(d / 10 pc) − 5 log10(R / R_sun)) and a Gaia-like parallax error
// σ_ϖ(G) (gaia_parallax_error) with a log-normal scatter, and ϖ = 1000/d + σ_ϖ N(0, 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "simulate/prior.hpp"

namespace irisml::simulate {

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
  // A per-band calibration the model is trained for (`irisml train --calibration`;
  // simulate/calibration.hpp), indexed by the model's filter ids; empty = none. Its
  // sigma_sys replaces sigma_sys band by band, in the noise drawn and in the error the
  // network sees; its offsets are recorded for inference (sample and fit read catalogue
  // magnitudes as m − offset). `calibration` names the file.
  std::vector<double> band_sigma_sys, band_offset;
  std::string calibration;
  bool calibrated() const { return !band_sigma_sys.empty(); }
  // The systematic term of model filter f.
  double sigma_sys_of(int f) const { return calibrated() ? band_sigma_sys[static_cast<std::size_t>(f)] : sigma_sys; }

  // Parallaxes given to training stars (0 = none: a photometry-only model). The keys
  // below are recorded only when it is > 0, so photometry-only files are unchanged.
  double parallax_fraction = 0.0;
  double parallax_mass_min = 0.3, parallax_mass_max = 3.0;  // [M_sun] log-uniform
  double parallax_length_scale = 1350.0;                    // [pc] L of p(d) ∝ d² exp(−d/L)
  double parallax_near_fraction = 0.5;                      // of the distances: log-uniform on [10, 5000] pc instead
  double parallax_error_scale = 1.0;                        // multiplies gaia_parallax_error(G)
  double parallax_error_min = 0.01;                         // [mas] smallest σ_ϖ drawn
  bool parallaxes() const { return parallax_fraction > 0.0; }

  // A_V priors given to training stars (0 = none): with this probability a star gets a
  // Gaussian A_V prior of width s (log-uniform on [av_prior_sigma_min, av_prior_sigma_max])
  // centred on its true A_V plus s·N(0, 1), as a dust map would give. Recorded only when > 0.
  double av_prior_fraction = 0.0;
  double av_prior_sigma_min = 0.02, av_prior_sigma_max = 0.5;  // [mag]
  bool av_priors() const { return av_prior_fraction > 0.0; }

  // The smallest quoted error training saw; the sampler raises smaller ones to it.
  double error_min() const { return std::max(sigma_min, sigma_floor); }
  // The error the network is given for a quoted error σ in model filter f:
  // √(max(σ, error_min())² + sigma_sys_of(f)²).
  double network_error(double quoted, int f) const {
    return in_quadrature(std::max(quoted, error_min()), sigma_sys_of(f));
  }

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

// The star-token settings of [noise] (parallax and A_V-prior draws), one row each: the
// key, the member, its group (parallax, else A_V prior) and its help text. items(),
// from_items() and the command line's options all read this one table.
struct NoiseTokenSetting {
  const char* key;
  double NoiseModel::*member;
  bool parallax;
  const char* help;
};
const std::vector<NoiseTokenSetting>& noise_token_settings();

// Observes one star. `clean_mags` holds its n_filters noise-free magnitudes;
// `filter_index_out`, `mag_out` and `err_out` must each hold n_filters
// entries (filter_index_out is also used as scratch). On return the first k
// entries give the observed bands' indices (ascending), noisy magnitudes and
// errors; k is returned. Throws InputError if n_filters < bands_min. The model
// is assumed validated (validate()).
int observe_star(Philox& rng, const float* clean_mags, int n_filters, const NoiseModel& model, int* filter_index_out,
                 float* mag_out, float* err_out);

// Median Gaia DR3 parallax error [mas] at G magnitude `g`: the science-performance
// shape σ ∝ √(40 + 800 z + 30 z²), z = 10^(0.4 (max(G, 13) − 15)), scaled to DR3's
// 0.02 / 0.07 / 0.5 / 1.3 mas at G = 15 / 17 / 20 / 21 (EDR3 = DR3 astrometry: Gaia
// Collaboration, Brown et al. 2021, A&A 649, A1; Lindegren et al. 2021, A&A 649, A2).
double gaia_parallax_error(double g);

// The mass [M_sun] of a training star given a parallax. Without a window (null, or a
// star of a flat-prior set): log-uniform on [parallax_mass_min, parallax_mass_max], one
// draw. With the star's isochrone mass window (Prior::isochrone_mass at its θ, stored by
// `irisml simulate` under the isochrone prior as /isochrone_mass): with probability
// window->iso_weight log10 M uniform on [log_lo, log_hi], else the log-uniform one, as
// the likelihood's parallax term mixes them; two draws.
double draw_parallax_mass(Philox& rng, const NoiseModel& model, const Prior::IsochroneMass* window);

// A training star's parallax (model above). `clean_mags` are its n_filters noise-free
// absolute magnitudes (1 R_sun at 10 pc), `logg` its surface gravity, `window` its
// isochrone mass window or null (draw_parallax_mass). Returns false
// (and draws nothing more) for a star without one; else sets the parallax and its error
// [mas] and `offset`, the magnitude shift from absolute to apparent (5 log10(d/10 pc)
// − 5 log10 R/R_sun). Its draws come from its own stream (callers key it apart from
// observe_star's, so photometry draws do not change when parallaxes are switched on).
bool observe_parallax(Philox& rng, const float* clean_mags, int n_filters, double logg, const NoiseModel& model,
                      double& parallax, double& parallax_err, double& offset,
                      const Prior::IsochroneMass* window = nullptr);

// A training star's A_V prior (model above) for its true A_V: false for a star without
// one; else its mean and width [mag]. Its own stream, as observe_parallax.
bool observe_av_prior(Philox& rng, double av, const NoiseModel& model, double& mean, double& width);

}  // namespace irisml::simulate
