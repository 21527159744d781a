#include "simulate/likelihood.hpp"

#include <cmath>

#include "simulate/synthesizer.hpp"

namespace irisml::sim {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;
}

double offset_marginal_log_likelihood(const double* residual, const double* sigma2, int n, double* mu_hat) {
  if (n < 1) return std::numeric_limits<double>::quiet_NaN();
  double sw = 0.0, swr = 0.0, log_var = 0.0;
  for (int b = 0; b < n; ++b) {
    const double w = 1.0 / sigma2[b];
    sw += w;
    swr += w * residual[b];
    log_var += std::log(sigma2[b]);
  }
  const double mu = swr / sw;
  double chi2 = 0.0;
  for (int b = 0; b < n; ++b) {
    const double d = residual[b] - mu;
    chi2 += d * d / sigma2[b];
  }
  if (mu_hat) *mu_hat = mu;
  return -0.5 * chi2 - 0.5 * (log_var + n * kLog2Pi) + 0.5 * kLog2Pi - 0.5 * std::log(sw);
}

double PhotometricPosterior::log_likelihood(const StarParameters& p, const ObservedStar& star, Workspace& work) const {
  const int n = star.size();
  if (n < 1) return std::numeric_limits<double>::quiet_NaN();
  work.model_mags.resize(synth_->bands().size());
  if (!synth_->magnitudes(p, work.model_mags.data(), work.spectrum)) return -std::numeric_limits<double>::infinity();
  work.residual.resize(static_cast<std::size_t>(n));
  for (int b = 0; b < n; ++b) {
    const auto i = static_cast<std::size_t>(b);
    work.residual[i] = star.mag[i] - work.model_mags[static_cast<std::size_t>(star.bands[i])];
  }
  return offset_marginal_log_likelihood(work.residual.data(), star.sigma2.data(), n);
}

double PhotometricPosterior::log_density(const StarParameters& p, const ObservedStar& star, Workspace& work,
                                         double* log_prior, double* log_like) const {
  const double lp = prior_->log_density(p);
  double ll = -std::numeric_limits<double>::infinity();
  if (lp > -std::numeric_limits<double>::infinity()) ll = log_likelihood(p, star, work);
  if (log_prior) *log_prior = lp;
  if (log_like) *log_like = ll;
  return lp + ll;
}

}  // namespace irisml::sim
