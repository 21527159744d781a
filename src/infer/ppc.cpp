#include "infer/ppc.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/chi2.hpp"
#include "simulate/noise.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {

// ------------------------------------------------------------------------ PPC -----

double ppc_chi2(const simulate::Synthesizer& synth, const double theta[5], const int* bands, const float* mag,
                const float* err, int n, std::vector<double>& model_mags, std::vector<double>& work, bool* inside_grid,
                double* offset, double sigma_floor) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (inside_grid) *inside_grid = false;
  if (offset) *offset = nan;
  for (int p = 0; p < 5; ++p) {
    if (!std::isfinite(theta[p])) return nan;
  }
  model_mags.resize(synth.bands().size());
  simulate::StarParameters params{theta[0], theta[1], theta[2], theta[3], theta[4]};
  if (!synth.magnitudes(params, model_mags.data(), work)) return nan;
  if (inside_grid) *inside_grid = true;
  if (n < 2) return nan;
  const double floor2 = sigma_floor * sigma_floor;
  auto weight = [&](int i) { return 1.0 / (static_cast<double>(err[i]) * err[i] + floor2); };
  double sw = 0.0, swd = 0.0;
  for (int i = 0; i < n; ++i) {
    sw += weight(i);
    swd += weight(i) * (mag[i] - model_mags[static_cast<std::size_t>(bands[i])]);
  }
  const double off = swd / sw;
  double chi2 = 0.0;
  for (int i = 0; i < n; ++i) {
    const double r = mag[i] - model_mags[static_cast<std::size_t>(bands[i])] - off;
    chi2 += r * r * weight(i);
  }
  if (offset) *offset = off;
  return chi2 / (n - 1);
}

namespace {

// χ² (offset profiled) at θ, +inf off the grid.
double chi2_at(const simulate::Synthesizer& synth, const double theta[5], const int* bands, const float* mag,
               const float* err, int n, double sigma_floor, std::vector<double>& model_mags,
               std::vector<double>& work) {
  bool inside = false;
  const double c = ppc_chi2(synth, theta, bands, mag, err, n, model_mags, work, &inside, nullptr, sigma_floor);
  return inside && std::isfinite(c) ? c * (n - 1) : std::numeric_limits<double>::infinity();
}

// Solves the symmetric positive-definite k × k system A x = b (row-major) by
// Cholesky; false if A is not positive definite.
template <int k>
bool solve_spd(double (&a)[k][k], double (&b)[k]) {
  for (int j = 0; j < k; ++j) {
    double d = a[j][j];
    for (int m = 0; m < j; ++m) d -= a[j][m] * a[j][m];
    if (!(d > 0)) return false;
    a[j][j] = std::sqrt(d);
    for (int i = j + 1; i < k; ++i) {
      double v = a[i][j];
      for (int m = 0; m < j; ++m) v -= a[i][m] * a[j][m];
      a[i][j] = v / a[j][j];
    }
  }
  for (int i = 0; i < k; ++i) {  // L y = b
    for (int m = 0; m < i; ++m) b[i] -= a[i][m] * b[m];
    b[i] /= a[i][i];
  }
  for (int i = k - 1; i >= 0; --i) {  // Lᵀ x = y
    for (int m = i + 1; m < k; ++m) b[i] -= a[m][i] * b[m];
    b[i] /= a[i][i];
  }
  return true;
}

constexpr int kPpcFitted = 5;  // log10 Teff, log g, [M/H], A_V, R_V
constexpr std::size_t kPpcStarts = 3;
// Spread of the default training prior per fitted parameter (log10 Teff over the grid,
// log g uniform 0.1-5.5, the [M/H] mixture, A_V exponential of scale 1.5, R_V normal).
constexpr double kPriorSd[kPpcFitted] = {0.33, 1.56, 0.66, 1.5, 0.18};

// Levenberg–Marquardt minimum of χ² (offset profiled) over log10 Teff, log g, [M/H],
// A_V and R_V from `start` (+inf if `start` is off the grid), and the number of
// parameters the photometry determines there, p_eff = tr(F (F + P)⁻¹) with F = JᵀJ the
// Fisher matrix and P the precision of the training prior's spread (kPriorSd): a
// direction the data barely constrain removes less than one degree of freedom.
struct LocalFit {
  double chi2 = std::numeric_limits<double>::infinity();
  double p_eff = 0;
};
LocalFit local_chi2_min(const simulate::Synthesizer& synth, const double* start, const int* bands, const float* mag,
                        const float* err, int n, double sigma_floor, std::vector<double>& model_mags,
                        std::vector<double>& work) {
  // Levenberg–Marquardt on the whitened, offset-profiled residuals; the Jacobian by
  // forward differences (backward where the forward step leaves the grid).
  double x[5];
  std::copy(start, start + 5, x);
  x[0] = std::log10(x[0]);
  constexpr int K = kPpcFitted;
  const double step[K] = {2e-4, 0.01, 0.01, 0.005, 0.01};
  std::vector<double> res(static_cast<std::size_t>(n)), res_h(static_cast<std::size_t>(n)),
      jac(static_cast<std::size_t>(n) * K);
  auto residuals = [&](const double* p, std::vector<double>& out) {
    // Within the extinction law's domain (R_V > 0 is required; wider than any prior).
    if (!(p[3] >= -1.0 && p[3] <= 20.0 && p[4] >= 1.0 && p[4] <= 10.0)) return std::numeric_limits<double>::infinity();
    const double t[5] = {std::pow(10.0, p[0]), p[1], p[2], p[3], p[4]};
    double off = 0;
    bool inside = false;
    ppc_chi2(synth, t, bands, mag, err, n, model_mags, work, &inside, &off, sigma_floor);
    if (!inside || !std::isfinite(off)) return std::numeric_limits<double>::infinity();
    double chi2 = 0;
    for (int i = 0; i < n; ++i) {
      const double sigma = simulate::in_quadrature(err[i], sigma_floor);
      out[static_cast<std::size_t>(i)] = (mag[i] - model_mags[static_cast<std::size_t>(bands[i])] - off) / sigma;
      chi2 += out[static_cast<std::size_t>(i)] * out[static_cast<std::size_t>(i)];
    }
    return chi2;
  };
  double chi2 = residuals(x, res);
  double lambda = 1e-3;
  double jtj[K][K] = {};  // JᵀJ at the last point the Jacobian was taken: the Fisher matrix below
  bool converged = false;
  for (int iter = 0; iter < 20 && !converged && std::isfinite(chi2); ++iter) {
    for (int k = 0; k < K; ++k) {
      double p[5];
      std::copy(x, x + 5, p);
      double h = step[k];
      p[k] += h;
      if (!std::isfinite(residuals(p, res_h))) {
        h = -h;
        p[k] = x[k] + h;
        if (!std::isfinite(residuals(p, res_h))) {
          for (int i = 0; i < n; ++i) jac[static_cast<std::size_t>(i * K + k)] = 0.0;
          continue;
        }
      }
      for (int i = 0; i < n; ++i) {
        jac[static_cast<std::size_t>(i * K + k)] =
            (res_h[static_cast<std::size_t>(i)] - res[static_cast<std::size_t>(i)]) / h;
      }
    }
    double jtr[K] = {};
    for (auto& row : jtj) std::fill(std::begin(row), std::end(row), 0.0);
    for (int i = 0; i < n; ++i) {
      for (int a = 0; a < K; ++a) {
        jtr[a] -= jac[static_cast<std::size_t>(i * K + a)] * res[static_cast<std::size_t>(i)];
        for (int b = 0; b < K; ++b) {
          jtj[a][b] += jac[static_cast<std::size_t>(i * K + a)] * jac[static_cast<std::size_t>(i * K + b)];
        }
      }
    }
    bool improved = false;
    while (lambda < 1e10 && !improved) {
      double a[K][K], d[K];
      for (int i = 0; i < K; ++i) {
        for (int j = 0; j < K; ++j) a[i][j] = jtj[i][j];
        a[i][i] += lambda * (jtj[i][i] + 1e-12);
        d[i] = jtr[i];
      }
      if (solve_spd<K>(a, d)) {
        double p[5];
        std::copy(x, x + 5, p);
        for (int k = 0; k < K; ++k) p[k] += d[k];
        const double trial = residuals(p, res_h);
        if (trial < chi2) {
          improved = true;
          const double gain = chi2 - trial;
          std::copy(p, p + 5, x);
          res.swap(res_h);
          chi2 = trial;
          lambda = std::max(lambda * 0.3, 1e-7);
          converged = gain < 1e-4 * (1.0 + chi2);
          continue;
        }
      }
      lambda *= 10.0;
    }
    if (!improved) break;
  }
  LocalFit fit;
  fit.chi2 = chi2;
  if (!std::isfinite(chi2)) return fit;
  // p_eff = K − tr(P (F + P)⁻¹), column by column, with F = JᵀJ.
  fit.p_eff = K;
  for (int c = 0; c < K; ++c) {
    double a[K][K], e[K] = {};
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j) a[i][j] = jtj[i][j];
      a[i][i] += 1.0 / (kPriorSd[i] * kPriorSd[i]);
    }
    e[c] = 1.0;
    if (!solve_spd<K>(a, e)) return fit;
    fit.p_eff -= e[c] / (kPriorSd[c] * kPriorSd[c]);
  }
  return fit;
}

}  // namespace

PpcResult ppc_over_samples(const simulate::Synthesizer& synth, const double* theta, int samples, const int* bands,
                           const float* mag, const float* err, int n, double sigma_floor,
                           std::vector<double>& model_mags, std::vector<double>& work) {
  PpcResult r;
  std::vector<std::pair<double, int>> ranked;  // (χ², sample) of the samples on the grid
  for (int s = 0; s < samples; ++s) {
    const double c =
        chi2_at(synth, theta + static_cast<std::size_t>(s) * 5, bands, mag, err, n, sigma_floor, model_mags, work);
    if (std::isfinite(c)) {
      ranked.emplace_back(c, s);
    } else {
      ++r.outside_grid;
    }
  }
  if (ranked.empty() || n < 3) return r;
  // A few starts (the posterior may have several modes; the fit finds the nearest minimum).
  std::sort(ranked.begin(), ranked.end());
  LocalFit best;
  for (std::size_t k = 0; k < std::min<std::size_t>(kPpcStarts, ranked.size()); ++k) {
    const LocalFit fit = local_chi2_min(synth, theta + static_cast<std::size_t>(ranked[k].second) * 5, bands, mag, err,
                                        n, sigma_floor, model_mags, work);
    if (fit.chi2 < best.chi2) best = fit;
  }
  const double dof = n - 1 - best.p_eff;
  if (!std::isfinite(best.chi2) || !(dof >= 1.0)) return r;
  r.chi2_dof = best.chi2 / dof;
  r.p = chi2_survival(best.chi2, dof);
  r.p_eff = best.p_eff;
  return r;
}

}  // namespace irisml::infer
