// The exact reference posterior of a star (`irisml fit`): prior(θ) · L(θ | star) of
// simulate/likelihood.hpp — the same physics and prior the flow was trained on —
// sampled by adaptive importance sampling. No network is involved.
//
// Method (docs/reference_posterior.md), in u = (log10 Teff, log g, [M/H], A_V, R_V):
//  1. Coarse stage. A star-independent lattice of boxes over the prior's support in
//     (log10 Teff, log g, [M/H], R_V) (R_V in boxes of equal prior mass, drawn from the
//     prior inside its box) holds, at each box centre, the model magnitudes
//     at A_V = 0 and their change per magnitude of A_V. For a star, each box gets the
//     posterior mass of its centre with A_V integrated out in closed form (magnitudes
//     linear in A_V, errors inflated by `coarse_sigma` in quadrature for the lattice's
//     resolution, the exponential A_V prior), and a Gaussian in A_V.
//  2. A_V is never proposed blindly: at every proposed point x of the other four, the
//     model magnitudes at A_V = 0 and 1 give the likelihood linearised in A_V, and A_V is
//     drawn from that conditional (a truncated Gaussian with the exponential prior,
//     widened ×1.5 with a 0.01 mag floor) — the Teff–A_V ridge is followed point by point.
//     Round 1 proposes x from a box drawn by mass (uniform in log10 Teff, log g, [M/H]);
//     with weight `defensive_prior` a draw of the prior itself, so q covers the support.
//  3. Rounds 2…: a full-covariance Gaussian mixture of `components` components fitted
//     by weighted EM to the previous round's samples (weights tempered, w^β with the
//     largest β that keeps their ESS ≥ min(N/10, 200), so one poor round cannot collapse
//     the next proposal; covariances widened ×1.2 for tails heavier than the fit), mixed
//     with q₁ (weight `defensive`).
//  Every round draws `proposals` points and weighs them exactly, w = p(u | star) / q(u),
//  with the mixture densities evaluated in full (deterministic-mixture weights). It
//  stops once the effective sample size reaches `target_ess` or after `max_rounds`;
//  the last round is the result. Importance sampling with a proposal that covers the
//  support is consistent: its error is Monte Carlo error, ~1/√ESS of the posterior
//  width, which the ESS reports per star.
// Random numbers come from Philox keyed by (seed, catalogue row): results do not depend
// on the rank count or on which rank fits a star.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "simulate/likelihood.hpp"

namespace irisml::infer {

struct ReferenceSettings {
  int proposals = 4096;           // importance samples per round
  int max_rounds = 6;             // rounds in all (the first from the coarse stage)
  double target_ess = 1000.0;     // stop once a round's ESS reaches this
  double min_ess = 100.0;         // a final ESS below this is flagged
  double coarse_sigma = 0.05;     // [mag] lattice-resolution term at the coarse stage
  double defensive_prior = 0.05;  // prior's share of q₁
  double defensive = 0.1;         // q₁'s share of each later proposal
  int components = 12;            // Gaussian components of the proposals of rounds 2…
  // Coarse lattice steps: log10 Teff [dex], log g, [M/H]; R_V boxes from its prior.
  double step_log_teff = 0.01, step_logg = 0.25, step_mh = 0.25;
  int rv_boxes = 4;

  // Throws InputError naming the bad setting.
  void validate() const;
};

// A star's reference posterior: weighted samples over physical θ.
struct ReferenceResult {
  std::vector<double> theta;   // n × 5 (Teff, log g, [M/H], A_V, R_V)
  std::vector<double> log_w;   // n: log importance weights (−inf = 0), unnormalised
  std::vector<double> mu_hat;  // n: the photometric offset μ̂ at each point (NaN where not evaluated)
  double ess = 0.0;            // (Σw)²/Σw² of the final round
  int rounds = 0;
  std::uint64_t evaluations = 0;  // likelihood evaluations
};

class ReferenceFitter {
 public:
  // Builds the coarse lattice (a few seconds for ~20 bands). `posterior` must outlive this.
  ReferenceFitter(const simulate::PhotometricPosterior& posterior, const ReferenceSettings& settings);
  ~ReferenceFitter();
  ReferenceFitter(ReferenceFitter&&) noexcept;

  const ReferenceSettings& settings() const { return settings_; }
  const simulate::PhotometricPosterior& posterior() const { return *posterior_; }
  std::size_t lattice_boxes() const;  // boxes with a valid centre

  // Thread-safe. `star` in the synthesizer's band order; `seed` and `row` key the
  // random numbers. ess = 0 and no samples if the star has no posterior mass anywhere.
  ReferenceResult fit(const simulate::ObservedStar& star, std::uint64_t seed, std::uint64_t row) const;

 private:
  struct Lattice;
  class StarFit;  // one star through fit() (reference.cpp)
  const simulate::PhotometricPosterior* posterior_;
  ReferenceSettings settings_;
  std::unique_ptr<Lattice> lattice_;
};

}  // namespace irisml::infer
