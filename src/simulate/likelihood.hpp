// The exact posterior that the flow approximates (science.md §5b), in one place:
// the training prior's density and the photometric likelihood with the unknown
// distance/radius offset marginalised analytically. Used by `irisml fit` (the
// reference posterior) and by `irisml sample --importance` (importance weights).
//
// Likelihood. Observed magnitudes m_b with effective errors σ_b (the catalogue error
// with any systematic term of the observation model added in quadrature:
// σ_b² = err_b² + sigma_sys²), model magnitudes M_b(θ) of a star of fixed radius and
// distance, and one offset μ shared by every band:
//   L(θ) = ∫ Π_b N(m_b | M_b(θ) + μ, σ_b²) dμ      (flat prior on μ, unit density)
// With w_b = 1/σ_b², W = Σ w_b, r_b = m_b − M_b(θ), μ̂ = Σ w_b r_b / W:
//   log L = −½ Σ w_b (r_b − μ̂)² − ½ Σ log(2π σ_b²) + ½ log(2π) − ½ log W.
// The last three terms do not depend on θ; they are kept so that L is a proper
// density of the magnitudes (tested against numerical integration over μ).
// Outside the spectral grid (any of the 8 surrounding models missing) L = 0.
#pragma once

#include <limits>
#include <vector>

#include "simulate/prior.hpp"

namespace irisml::sim {

class Synthesizer;

// log ∫ Π_b N(r_b | μ, σ_b²) dμ for n ≥ 1 residuals r_b = m_b − M_b with variances
// sigma2[b] > 0 (formula above). Writes μ̂ to *mu_hat if given. NaN if n < 1.
double offset_marginal_log_likelihood(const double* residual, const double* sigma2, int n, double* mu_hat = nullptr);

// One star's observations, in the synthesizer's band order.
struct ObservedStar {
  std::vector<int> bands;      // indices into Synthesizer::bands()
  std::vector<double> mag;     // observed magnitudes
  std::vector<double> sigma2;  // effective variances σ_b² [mag²]
  // Adds a band with catalogue error `err` and systematic term `sigma_sys` (quadrature).
  void add(int band, double m, double err, double sigma_sys) {
    bands.push_back(band);
    mag.push_back(m);
    sigma2.push_back(err * err + sigma_sys * sigma_sys);
  }
  void clear() {
    bands.clear();
    mag.clear();
    sigma2.clear();
  }
  int size() const { return static_cast<int>(bands.size()); }
};

// prior(θ) · L(θ | star) over physical θ = (Teff [K], log g, [M/H], A_V, R_V).
// Thread-safe; per-thread scratch space comes in a Workspace.
class PhotometricPosterior {
 public:
  struct Workspace {
    std::vector<double> model_mags, spectrum, residual, sigma2;
  };

  // `synth` predicts the bands the stars refer to; both must outlive this object.
  PhotometricPosterior(const Synthesizer& synth, const Prior& prior) : synth_(&synth), prior_(&prior) {}

  const Synthesizer& synthesizer() const { return *synth_; }
  const Prior& prior() const { return *prior_; }

  // log L(θ | star); −inf outside the grid, NaN for a star without bands.
  double log_likelihood(const StarParameters& p, const ObservedStar& star, Workspace& work) const;
  // log prior(θ) + log L(θ | star); −inf outside the prior's support. The two terms
  // are written to *log_prior / *log_like when given.
  double log_density(const StarParameters& p, const ObservedStar& star, Workspace& work, double* log_prior = nullptr,
                     double* log_like = nullptr) const;

 private:
  const Synthesizer* synth_;
  const Prior* prior_;
};

}  // namespace irisml::sim
