#include "infer/calibrate.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/chi2.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {

namespace {

constexpr double kAvStep = 0.05;    // [mag] the A_V lattice of the precomputed magnitudes
constexpr double kAvCeiling = 8.0;  // [mag] A_V searched at most

// The minimum of f on [lo, hi] by golden-section search (f unimodal there), to a bracket
// narrower than `width` or after `iterations` steps: the bracket's centre.
template <class F>
double golden_minimum(F&& f, double lo, double hi, int iterations, double width) {
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  double f1 = f(x1), f2 = f(x2);
  for (int it = 0; it < iterations && hi - lo > width; ++it) {
    if (f1 < f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = f(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = f(x2);
    }
  }
  return 0.5 * (lo + hi);
}

// A star's model magnitudes at its labels on an A_V lattice (bands in the star's order).
struct StarModel {
  int n_av = 0;              // lattice nodes 0, kAvStep, …
  double av_hi = 0;          // the search range's upper end
  std::vector<double> mags;  // n_av × bands
  bool inside = true;
};

StarModel model_of(const simulate::Synthesizer& synth, const CalibrationStar& s) {
  StarModel m;
  m.av_hi = std::min(s.av_max, kAvCeiling);
  m.n_av = static_cast<int>(std::ceil(m.av_hi / kAvStep)) + 1;
  std::vector<double> av(static_cast<std::size_t>(m.n_av)),
      all(static_cast<std::size_t>(m.n_av) * synth.bands().size()), work;
  for (int k = 0; k < m.n_av; ++k) av[static_cast<std::size_t>(k)] = k * kAvStep;
  m.inside = synth.magnitudes_at_extinctions({s.teff, s.logg, s.mh, 0.0, s.rv}, av.data(), m.n_av, all.data(), work);
  if (!m.inside) return m;
  const std::size_t F = synth.bands().size(), B = s.bands.size();
  m.mags.resize(static_cast<std::size_t>(m.n_av) * B);
  for (int k = 0; k < m.n_av; ++k)
    for (std::size_t b = 0; b < B; ++b)
      m.mags[static_cast<std::size_t>(k) * B + b] =
          all[static_cast<std::size_t>(k) * F + static_cast<std::size_t>(s.bands[b])];
  return m;
}

// The star's fit given the calibration: A_V, μ, χ², the residuals ρ_b = m_b − M_b(A) − μ
// and the leverages h_b.
struct StarFit {
  double av = 0, mu = 0, chi2 = 0;
  bool av_free = false;
  std::vector<double> rho, leverage;
};

StarFit fit_star(const CalibrationStar& s, const StarModel& m, const std::vector<double>& offset,
                 const std::vector<double>& sigma) {
  const std::size_t B = s.bands.size();
  std::vector<double> w(B), y(B);
  double W = 0.0;
  for (std::size_t b = 0; b < B; ++b) {
    const auto f = static_cast<std::size_t>(s.bands[b]);
    w[b] = 1.0 / (s.err[b] * s.err[b] + sigma[f] * sigma[f]);
    y[b] = s.mag[b] - offset[f];
    W += w[b];
  }
  const bool prior = std::isfinite(s.av_prior) && s.av_prior_err > 0;
  auto model = [&](double a, std::size_t b) {
    const double pos = std::min(a / kAvStep, static_cast<double>(m.n_av - 1));
    const auto k = std::min(static_cast<std::size_t>(pos), static_cast<std::size_t>(std::max(m.n_av - 2, 0)));
    const double t = pos - static_cast<double>(k);
    if (m.n_av == 1) return m.mags[b];
    return (1.0 - t) * m.mags[k * B + b] + t * m.mags[(k + 1) * B + b];
  };
  auto chi2_at = [&](double a, double* mu_out) {
    double mu = 0.0;
    for (std::size_t b = 0; b < B; ++b) mu += w[b] * (y[b] - model(a, b));
    mu /= W;
    double c = 0.0;
    for (std::size_t b = 0; b < B; ++b) {
      const double r = y[b] - model(a, b) - mu;
      c += w[b] * r * r;
    }
    if (prior) c += (a - s.av_prior) * (a - s.av_prior) / (s.av_prior_err * s.av_prior_err);
    if (mu_out) *mu_out = mu;
    return c;
  };
  // the best lattice node, then golden section between its neighbours
  int best = 0;
  double best_c = chi2_at(0.0, nullptr);
  for (int k = 1; k < m.n_av; ++k) {
    const double c = chi2_at(std::min(k * kAvStep, m.av_hi), nullptr);
    if (c < best_c) {
      best_c = c;
      best = k;
    }
  }
  StarFit fit;
  fit.av = golden_minimum([&](double a) { return chi2_at(a, nullptr); }, std::max(0.0, (best - 1) * kAvStep),
                          std::min(m.av_hi, (best + 1) * kAvStep), 60, 1e-7);
  for (double a : {0.0, m.av_hi}) {  // a bound may beat the interior
    if (chi2_at(a, nullptr) < chi2_at(fit.av, nullptr)) fit.av = a;
  }
  fit.chi2 = chi2_at(fit.av, &fit.mu);
  fit.av_free = fit.av > 1e-6 && fit.av < m.av_hi - 1e-6 && m.n_av > 1;
  fit.rho.resize(B);
  fit.leverage.resize(B);
  // leverage of each band in the weighted fit of (μ[, A_V]); the A_V prior as a pseudo-observation
  std::vector<double> slope(B, 0.0);
  if (fit.av_free) {
    const double da = std::min(1e-3, 0.5 * (m.av_hi - fit.av));
    for (std::size_t b = 0; b < B; ++b) slope[b] = (model(fit.av + da, b) - model(fit.av - da, b)) / (2 * da);
  }
  double s1 = 0.0, s2 = prior ? 1.0 / (s.av_prior_err * s.av_prior_err) : 0.0;
  for (std::size_t b = 0; b < B; ++b) {
    s1 += w[b] * slope[b];
    s2 += w[b] * slope[b] * slope[b];
  }
  const double det = W * s2 - s1 * s1;
  for (std::size_t b = 0; b < B; ++b) {
    const auto f = static_cast<std::size_t>(s.bands[b]);
    fit.rho[b] = s.mag[b] - model(fit.av, b) - fit.mu;  // includes δ_b: E[ρ_b] = δ_b
    (void)f;
    fit.leverage[b] =
        fit.av_free && det > 0 ? w[b] * (s2 - 2.0 * slope[b] * s1 + slope[b] * slope[b] * W) / det : w[b] / W;
  }
  return fit;
}

// Per band: δ_b and σ_sys,b maximising the restricted likelihood of its residuals.
void update_band(const std::vector<double>& rho, const std::vector<double>& err2, const std::vector<double>& keep,
                 double sigma_max, double& delta, double& sigma) {
  auto profile = [&](double s, double* d_out) {
    double sv = 0.0, svr = 0.0;
    for (std::size_t i = 0; i < rho.size(); ++i) {
      const double v = (err2[i] + s * s) * keep[i];
      sv += 1.0 / v;
      svr += rho[i] / v;
    }
    const double d = svr / sv;
    double l = -0.5 * std::log(sv);  // REML: the dof δ_b takes
    for (std::size_t i = 0; i < rho.size(); ++i) {
      const double v = (err2[i] + s * s) * keep[i];
      l -= 0.5 * (std::log(v) + (rho[i] - d) * (rho[i] - d) / v);
    }
    if (d_out) *d_out = d;
    return l;
  };
  // golden section in σ on [0, sigma_max] (a coarse scan first: the likelihood may peak at 0)
  const int n = 60;
  int best = 0;
  double best_l = profile(0.0, nullptr);
  for (int k = 1; k <= n; ++k) {
    const double l = profile(sigma_max * k / n, nullptr);
    if (l > best_l) {
      best_l = l;
      best = k;
    }
  }
  sigma = golden_minimum([&](double x) { return -profile(x, nullptr); }, sigma_max * std::max(best - 1, 0) / n,
                         sigma_max * std::min(best + 1, n) / n, 80, 1e-8);
  if (profile(0.0, nullptr) >= profile(sigma, nullptr)) sigma = 0.0;
  profile(sigma, &delta);
}

struct Solution {
  std::vector<double> offset, sigma;
  int iterations = 0;
  bool converged = false;
};

// The alternating fit over the stars listed in `use` (indices into stars/models).
Solution solve(const std::vector<CalibrationStar>& stars, const std::vector<StarModel>& models,
               const std::vector<std::size_t>& use, std::size_t F, const std::vector<int>& band_used,
               const CalibrateSettings& settings, Solution start) {
  Solution sol = std::move(start);
  std::vector<std::vector<double>> rho(F), err2(F), keep(F);
  for (int it = 0; it < settings.max_iterations; ++it) {
    for (std::size_t f = 0; f < F; ++f) {
      rho[f].clear();
      err2[f].clear();
      keep[f].clear();
    }
    for (std::size_t i : use) {
      const auto& s = stars[i];
      const StarFit fit = fit_star(s, models[i], sol.offset, sol.sigma);
      for (std::size_t b = 0; b < s.bands.size(); ++b) {
        const auto f = static_cast<std::size_t>(s.bands[b]);
        rho[f].push_back(fit.rho[b]);
        err2[f].push_back(s.err[b] * s.err[b]);
        keep[f].push_back(std::max(1.0 - fit.leverage[b], 1e-3));
      }
    }
    double change = 0.0, mean = 0.0;
    int used = 0;
    std::vector<double> new_offset = sol.offset, new_sigma = sol.sigma;
    for (std::size_t f = 0; f < F; ++f) {
      if (!band_used[f] || rho[f].size() < 2) continue;
      update_band(rho[f], err2[f], keep[f], settings.sigma_max, new_offset[f], new_sigma[f]);
      mean += new_offset[f];
      ++used;
    }
    mean /= std::max(used, 1);
    for (std::size_t f = 0; f < F; ++f) {
      if (!band_used[f] || rho[f].size() < 2) continue;
      new_offset[f] -= mean;  // the gauge: mean offset 0
      change = std::max({change, std::abs(new_offset[f] - sol.offset[f]), std::abs(new_sigma[f] - sol.sigma[f])});
    }
    sol.offset = new_offset;
    sol.sigma = new_sigma;
    sol.iterations = it + 1;
    if (change < settings.tolerance) {
      sol.converged = true;
      break;
    }
  }
  return sol;
}

}  // namespace

void CalibrateSettings::validate() const {
  if (max_iterations < 1) fail_input("--max-iterations = {} must be positive", max_iterations);
  if (!(tolerance > 0)) fail_input("--tolerance = {} must be > 0 (mag)", tolerance);
  if (bootstrap < 0) fail_input("--bootstrap = {} must be >= 0", bootstrap);
  if (!(sigma_max > 0 && sigma_max < 1)) fail_input("sigma_max = {} must be in (0, 1) mag", sigma_max);
}

std::vector<CalibrationStarFit> fit_stars(const simulate::Synthesizer& synth, const std::vector<CalibrationStar>& stars,
                                          const std::vector<double>& offset, const std::vector<double>& sigma_sys) {
  std::vector<CalibrationStarFit> out(stars.size());
  for (std::size_t i = 0; i < stars.size(); ++i) {
    const auto& s = stars[i];
    const StarModel m = model_of(synth, s);
    out[i].inside_grid = m.inside;
    if (!m.inside || s.bands.size() < 2) continue;
    const StarFit fit = fit_star(s, m, offset, sigma_sys);
    out[i].av = fit.av;
    out[i].mu = fit.mu;
    out[i].chi2 = fit.chi2;
    const bool prior = std::isfinite(s.av_prior) && s.av_prior_err > 0;
    out[i].dof = static_cast<int>(s.bands.size()) - 1 - (fit.av_free && !prior ? 1 : 0);
    if (out[i].dof > 0) out[i].p = chi2_survival(fit.chi2, out[i].dof);
  }
  return out;
}

CalibrateResult calibrate(const simulate::Synthesizer& synth, const std::vector<CalibrationStar>& stars,
                          const CalibrateSettings& settings) {
  settings.validate();
  const std::size_t F = synth.bands().size();
  std::vector<StarModel> models;
  models.reserve(stars.size());
  std::vector<std::size_t> use;
  std::vector<int> stars_per_band(F, 0);
  for (std::size_t i = 0; i < stars.size(); ++i) {
    models.push_back(model_of(synth, stars[i]));
    if (!models.back().inside || stars[i].bands.size() < 2) continue;
    use.push_back(i);
    for (int f : stars[i].bands) ++stars_per_band[static_cast<std::size_t>(f)];
  }
  std::vector<int> band_used(F, 0);
  for (std::size_t f = 0; f < F; ++f) band_used[f] = stars_per_band[f] >= 2;
  if (use.size() < 3)
    fail_input("calibrate: {} usable stars (inside the grid, >= 2 bands); need at least 3", use.size());
  Solution start;
  start.offset.assign(F, 0.0);
  start.sigma.assign(F, 0.01);
  const Solution sol = solve(stars, models, use, F, band_used, settings, start);

  // bootstrap over stars, each resample started from the solution
  std::vector<std::vector<double>> boot_offset(F), boot_sigma(F);
  for (int b = 0; b < settings.bootstrap; ++b) {
    Philox rng(settings.seed ^ 0x424F4F54ull, static_cast<std::uint64_t>(b));  // "BOOT"
    std::vector<std::size_t> resample(use.size());
    for (auto& r : resample) r = use[std::min(static_cast<std::size_t>(rng.uniform() * use.size()), use.size() - 1)];
    const Solution bs = solve(stars, models, resample, F, band_used, settings, sol);
    for (std::size_t f = 0; f < F; ++f) {
      boot_offset[f].push_back(bs.offset[f]);
      boot_sigma[f].push_back(bs.sigma[f]);
    }
  }
  auto sd = [](const std::vector<double>& v) {
    if (v.size() < 2) return std::numeric_limits<double>::quiet_NaN();
    double m = 0.0, q = 0.0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) q += (x - m) * (x - m);
    return std::sqrt(q / static_cast<double>(v.size() - 1));
  };
  CalibrateResult result;
  result.iterations = sol.iterations;
  result.converged = sol.converged;
  for (std::size_t f = 0; f < F; ++f) {
    if (!band_used[f]) continue;
    simulate::BandCalibration c;
    c.offset = sol.offset[f];
    c.sigma_sys = sol.sigma[f];
    c.offset_err = sd(boot_offset[f]);
    c.sigma_sys_err = sd(boot_sigma[f]);
    c.stars = stars_per_band[f];
    result.band_names.push_back(synth.bands()[f]);
    result.calibration.set(synth.bands()[f], c);
  }
  result.stars = fit_stars(synth, stars, sol.offset, sol.sigma);
  return result;
}

}  // namespace irisml::infer
