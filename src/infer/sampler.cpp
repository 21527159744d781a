#include "infer/sampler.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include "core/chi2.hpp"
#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/rng.hpp"
#include "core/shard.hpp"
#include "distributed/collectives.hpp"
#include "infer/summary.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "model/config.hpp"
#include "model/normalizer.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/noise.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {

namespace {
const char* const kFlagsDescriptionText =
    "bit 0 (1): fewer usable bands than the model's minimum (summaries NaN); "
    "bit 1 (2): an input outside the training range (|standardised centred magnitude| > range_sigma, an error "
    "above the training sigma_max, or more bands than the training bands_max); "
    "bit 2 (4): posterior-predictive p-value (over the samples; errors with ppc_sigma_floor added in quadrature) "
    "below ppc_alpha, or most posterior samples outside the spectral grid; "
    "bit 3 (8): effective sample size of the importance weights (sample --importance: ESS/S below "
    "importance_ess_threshold) or of the reference fit (fit: ESS below reference_min_ess) too low; "
    "bit 4 (16): a sampled star whose posterior has a non-finite summary (a model with non-finite weights, or an "
    "input far outside what the network can represent); "
    "bit 5 (32): an input error below half the training minimum (input_error_min), raised to it";
}  // namespace

// ---------------------------------------------------------------- settings -----

void SamplerSettings::validate() const {
  if (samples < 2) fail_input("--samples = {} must be at least 2 (summaries need several samples)", samples);
  if (batch < 1) fail_input("--batch = {} must be a positive number of stars", batch);
  if (block_rows < 1) fail_input("--block-rows = {} must be positive", block_rows);
  if (bands_min < 0) fail_input("bands_min = {} must be >= 0", bands_min);
  if (bands_max < 0) fail_input("bands_max = {} must be >= 0 (0 = no limit)", bands_max);
  if (!(sigma_max > 0)) fail_input("sigma_max = {} must be > 0", sigma_max);
  if (!(range_sigma > 0)) fail_input("--range-sigma = {} must be > 0", range_sigma);
  if (!(ppc_alpha > 0 && ppc_alpha < 1)) fail_input("--ppc-alpha = {} must lie in (0, 1)", ppc_alpha);
  if (!(ppc_sigma_floor >= 0) || !std::isfinite(ppc_sigma_floor)) {
    fail_input("--ppc-sigma-floor = {} must be a finite number >= 0 (mag)", ppc_sigma_floor);
  }
  if (max_blocks < 0) fail_input("--max-blocks = {} must be >= 0 (0 = no limit)", max_blocks);
  if (!(ess_threshold >= 0 && ess_threshold <= 1)) fail_input("--ess-threshold = {} must lie in [0, 1]", ess_threshold);
  if (retry_factor < 0 || retry_factor > 256) fail_input("--retry-factor = {} must lie in [0, 256]", retry_factor);
  if (!(sigma_sys >= 0) || !std::isfinite(sigma_sys)) {
    fail_input("--sigma-sys = {} must be a finite number >= 0 (mag)", sigma_sys);
  }
}

std::string progress_path(const std::string& output) { return output + ".progress"; }

double sampling_memory_bytes(const SamplerSettings& s, const model::ModelConfig& config) {
  double made = 0;
  for (int h : config.made_hidden) made += h;
  // Per flow row, float32: the context and its concatenation with θ, each MADE's hidden
  // layers (a few alive at once), and θ, log-densities and mixture terms.
  const double per_row = 4.0 * (2.0 * config.width + 3.0 * made + 16.0 * model::kNumParams +
                                4.0 * config.mixture_components);
  const double rows = std::max(static_cast<double>(s.batch) * s.samples * std::max(1, s.workers),
                               static_cast<double>(s.samples) * std::max(1, s.retry_factor));
  const double block = static_cast<double>(s.block_rows) * s.samples * model::kNumParams * 4.0 * 3.0;
  return 2.0 * rows * per_row + block;
}

void check_sampling_memory(const SamplerSettings& s, const model::ModelConfig& config, double limit_bytes) {
  const double need = sampling_memory_bytes(s, config);
  if (need <= 0.75 * limit_bytes) return;
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  fail_input("--samples {} x --batch {} x {} worker thread(s) (--block-rows {}{}) needs about {:.3g} GiB of memory "
             "per rank, more than 3/4 of this rank's share of the node's memory ({:.3g} GiB); lower --batch or "
             "--samples, or run fewer ranks per node",
             s.samples, s.batch, std::max(1, s.workers), s.block_rows,
             s.retry_factor > 0 ? fmt::format(", --retry-factor {}", s.retry_factor) : std::string(), need / GiB,
             limit_bytes / GiB);
}

// ------------------------------------------------------------ random numbers -----

std::uint64_t sampling_stream_seed(std::uint64_t seed) {
  // splitmix64 of the seed xor "SAMPLE": a different stream family from the
  // simulator's and the catalogue maker's (seed, star) keys.
  std::uint64_t z = seed ^ 0x53414D504C45ull;
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void star_random_numbers(std::uint64_t seed, std::uint64_t row, int samples, float* normal, float* uniform) {
  Philox rng(sampling_stream_seed(seed), row);
  const int n_normal = samples * model::kNumParams;
  for (int i = 0; i < n_normal; ++i) normal[i] = static_cast<float>(rng.normal());
  for (int i = 0; i < samples; ++i) {
    // float32 rounding could give exactly 1.0; keep it inside (0, 1).
    uniform[i] = std::min(static_cast<float>(rng.uniform()), 0.99999994f);
  }
}

void resample_draws(const double* theta, const double* log_w, std::size_t n, int S, std::uint64_t seed,
                    std::uint64_t row, float* out) {
  constexpr std::size_t D = posterior::kParameters;
  Philox rng(sampling_stream_seed(seed ^ 0x534952ull), row);  // "SIR"
  const auto picks = systematic_resample(log_w, n, static_cast<std::size_t>(S), rng.uniform());
  for (std::size_t k = 0; k < picks.size(); ++k) {
    for (std::size_t p = 0; p < D; ++p) out[k * D + p] = static_cast<float>(theta[picks[k] * D + p]);
  }
}

// -------------------------------------------------------------- filter mapping -----

std::vector<int> map_catalog_filters(const std::vector<std::string>& catalog_filters,
                                     const std::vector<std::string>& model_filters, bool ignore_unknown,
                                     const std::string& catalog_path, bool warn) {
  std::vector<int> map;
  std::vector<std::string> unknown;
  for (const auto& name : catalog_filters) {
    auto it = std::find(model_filters.begin(), model_filters.end(), name);
    if (it == model_filters.end()) {
      unknown.push_back(name);
      map.push_back(-1);
    } else {
      map.push_back(static_cast<int>(it - model_filters.begin()));
    }
  }
  if (!unknown.empty()) {
    if (!ignore_unknown) {
      fail_input("catalogue '{}' has filter(s) {} that the model was not trained on; the model's filters are: {} "
                 "(use --ignore-unknown-columns to skip them with a warning)",
                 catalog_path, fmt::join(unknown, ", "), fmt::join(model_filters, ", "));
    }
    if (warn) log::warn("catalogue '{}': ignoring filter(s) {} unknown to the model (model filters: {})", catalog_path,
              fmt::join(unknown, ", "), fmt::join(model_filters, ", "));
  }
  bool any = std::any_of(map.begin(), map.end(), [](int f) { return f >= 0; });
  if (!any && !catalog_filters.empty()) {
    fail_input("catalogue '{}' has no filter the model knows; the model's filters are: {}", catalog_path,
               fmt::join(model_filters, ", "));
  }
  return map;
}

// ------------------------------------------------------------------------ PPC -----

double ppc_chi2(const sim::Synthesizer& synth, const double theta[5], const int* bands, const float* mag,
                const float* err, int n, std::vector<double>& model_mags, std::vector<double>& work,
                bool* inside_grid, double* offset, double sigma_floor) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (inside_grid) *inside_grid = false;
  if (offset) *offset = nan;
  for (int p = 0; p < 5; ++p) {
    if (!std::isfinite(theta[p])) return nan;
  }
  model_mags.resize(synth.bands().size());
  sim::StarParameters params{theta[0], theta[1], theta[2], theta[3], theta[4]};
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
double chi2_at(const sim::Synthesizer& synth, const double theta[5], const int* bands, const float* mag,
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
LocalFit local_chi2_min(const sim::Synthesizer& synth, const double* start, const int* bands, const float* mag,
                      const float* err, int n, double sigma_floor, std::vector<double>& model_mags,
                      std::vector<double>& work) {
  // Levenberg–Marquardt on the whitened, offset-profiled residuals; the Jacobian by
  // forward differences (backward where the forward step leaves the grid).
  double x[5];
  std::copy(start, start + 5, x);
  x[0] = std::log10(x[0]);
  constexpr int K = kPpcFitted;
  const double step[K] = {2e-4, 0.01, 0.01, 0.005, 0.01};
  std::vector<double> res(static_cast<std::size_t>(n)), res_h(static_cast<std::size_t>(n)), jac(static_cast<std::size_t>(n) * K);
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
      const double sigma = sim::in_quadrature(err[i], sigma_floor);
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
        jac[static_cast<std::size_t>(i * K + k)] = (res_h[static_cast<std::size_t>(i)] - res[static_cast<std::size_t>(i)]) / h;
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

PpcResult ppc_over_samples(const sim::Synthesizer& synth, const double* theta, int samples, const int* bands,
                           const float* mag, const float* err, int n, double sigma_floor,
                           std::vector<double>& model_mags, std::vector<double>& work) {
  PpcResult r;
  std::vector<std::pair<double, int>> ranked;  // (χ², sample) of the samples on the grid
  for (int s = 0; s < samples; ++s) {
    const double c = chi2_at(synth, theta + static_cast<std::size_t>(s) * 5, bands, mag, err, n, sigma_floor,
                             model_mags, work);
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
    const LocalFit fit = local_chi2_min(synth, theta + static_cast<std::size_t>(ranked[k].second) * 5, bands, mag,
                                        err, n, sigma_floor, model_mags, work);
    if (fit.chi2 < best.chi2) best = fit;
  }
  const double dof = n - 1 - best.p_eff;
  if (!std::isfinite(best.chi2) || !(dof >= 1.0)) return r;
  r.chi2_dof = best.chi2 / dof;
  r.p = chi2_survival(best.chi2, dof);
  r.p_eff = best.p_eff;
  return r;
}

// -------------------------------------------------------------------- sampler -----

PosteriorSampler::PosteriorSampler(model::PosteriorEstimator model, const SamplerSettings& settings,
                                   const sim::Synthesizer* ppc, const sim::PhotometricPosterior* target)
    : model_(std::move(model)), settings_(settings), ppc_(ppc), target_(target) {
  settings_.validate();
  if (settings_.importance && !target_) {
    fail_input("importance reweighting needs the likelihood and prior (a spectral grid and the training prior)");
  }
  model_->eval();
  n_filters_ = model_->config().n_filters;
  auto normalizer = model_->normalizer();
  mag_mean_ = normalizer.mag_mean();
  mag_std_ = normalizer.mag_std();
  if (ppc_ && ppc_->bands().size() != static_cast<std::size_t>(n_filters_)) {
    fail_input("posterior-predictive synthesizer predicts {} bands but the model has {} filters",
               ppc_->bands().size(), n_filters_);
  }
  if (target_ && target_->synthesizer().bands().size() != static_cast<std::size_t>(n_filters_)) {
    fail_input("the likelihood's synthesizer predicts {} bands but the model has {} filters",
               target_->synthesizer().bands().size(), n_filters_);
  }
}

namespace {
// Per-thread scratch space of PosteriorSampler::run.
struct BatchScratch {
  std::vector<double> values, model_mags, work, log_w;
  std::vector<WeightedValue> weighted;
  sim::ObservedStar star;
  sim::PhotometricPosterior::Workspace ws;
};
// Extra columns of the importance output, in this order (docs/posterior_format.md).
enum ImportanceColumn { kImpMedian, kImpMean, kImpStd, kImpP16, kImpP84, kImpHdi68, kImpHdi95, kImpEss,
                        kImpEssFraction, kImpProposals, kImpFixedCount };
// The summary of one parameter into row-major rows × 5 arrays (HDIs rows × 5 × 2).
void store_summary(const ParameterSummary& sm, std::size_t o, float* median, float* mean, float* std, float* p16,
                   float* p84, float* hdi68, float* hdi95) {
  median[o] = static_cast<float>(sm.median);
  mean[o] = static_cast<float>(sm.mean);
  std[o] = static_cast<float>(sm.std);
  p16[o] = static_cast<float>(sm.p16);
  p84[o] = static_cast<float>(sm.p84);
  hdi68[o * 2] = static_cast<float>(sm.hdi68_lo);
  hdi68[o * 2 + 1] = static_cast<float>(sm.hdi68_hi);
  hdi95[o * 2] = static_cast<float>(sm.hdi95_lo);
  hdi95[o * 2 + 1] = static_cast<float>(sm.hdi95_hi);
}
}  // namespace

std::string BlockProcessor::flags_description() const { return kFlagsDescriptionText; }

void BlockResult::reset(std::size_t R, int samples, bool keep_samples, const std::vector<ExtraColumn>& extra_columns) {
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  constexpr std::size_t D = posterior::kParameters;
  rows = R;
  for (auto* v : {&median, &mean, &std, &p16, &p84}) v->assign(R * D, fnan);
  hdi68.assign(R * D * 2, fnan);
  hdi95.assign(R * D * 2, fnan);
  n_bands.assign(R, 0);
  flags.assign(R, 0u);
  ppc_chi2.assign(R, fnan);
  ppc_p.assign(R, fnan);
  if (keep_samples) {
    this->samples.assign(R * static_cast<std::size_t>(samples) * D, fnan);
  } else {
    this->samples.clear();
  }
  extra.resize(extra_columns.size());
  for (std::size_t c = 0; c < extra_columns.size(); ++c) extra[c].assign(R * extra_columns[c].row_size(), fnan);
}

void BlockResult::set_summary(std::size_t row, int p, const ParameterSummary& s) {
  store_summary(s, row * posterior::kParameters + static_cast<std::size_t>(p), median.data(), mean.data(),
                std.data(), p16.data(), p84.data(), hdi68.data(), hdi95.data());
}

std::vector<ExtraColumn> PosteriorSampler::extra_columns() const {
  if (!settings_.importance) return {};
  const auto S = static_cast<std::uint64_t>(settings_.samples);
  std::vector<ExtraColumn> c = {{"/importance/median", {5}}, {"/importance/mean", {5}},   {"/importance/std", {5}},
                                {"/importance/p16", {5}},    {"/importance/p84", {5}},    {"/importance/hdi68", {5, 2}},
                                {"/importance/hdi95", {5, 2}}, {"/importance/ess", {}},   {"/importance/ess_fraction", {}},
                                {"/importance/proposals", {}}};
  if (settings_.keep_samples) {
    c.push_back({"/importance/log_q", {S}});
    c.push_back({"/importance/log_w", {S}});
  }
  if (settings_.sir) c.push_back({"/importance/samples", {S, 5}});
  return c;
}

namespace {
// Intra-op parallel LibTorch splits reductions by thread count; whole batches on
// single-threaded workers (or one thread) give the same bytes whatever the layout.
bool round_off_depends_on_threads(const SamplerSettings& s) { return s.workers <= 1 && s.intra_op_threads > 1; }
}  // namespace

std::string PosteriorSampler::describe() const {
  const auto& s = settings_;
  return fmt::format("flow batch={} input_error_min={} input_sigma_sys={} ppc={} ppc_alpha={} ppc_sigma_floor={} bands_min={} bands_max={} sigma_max={} "
                     "range_sigma={} importance={} ess_threshold={} retry_factor={} sir={} sigma_sys={}",
                     s.batch, s.input_error_min, s.input_sigma_sys, ppc_ != nullptr, s.ppc_alpha, s.ppc_sigma_floor, s.bands_min, s.bands_max,
                     s.sigma_max, s.range_sigma, s.importance, s.ess_threshold, s.retry_factor, s.sir, s.sigma_sys) +
         (round_off_depends_on_threads(s) ? fmt::format(" intra_op_threads={}", s.intra_op_threads) : std::string());
}

std::vector<std::pair<std::string, std::string>> PosteriorSampler::attributes() const {
  std::vector<std::pair<std::string, std::string>> a;
  if (round_off_depends_on_threads(settings_)) {
    a.push_back({"parallel", fmt::format("intra-op, {} threads: results differ from --parallel batches (and from "
                                         "other thread counts) at float32 round-off",
                                         settings_.intra_op_threads)});
  }
  if (!settings_.importance) return a;
  a.insert(a.end(), {{"importance", "log w = log prior + log L - log q (docs/posterior_format.md)"},
                     {"importance_ess_threshold", fmt::format("{}", settings_.ess_threshold)},
                     {"importance_retry_factor", fmt::format("{}", settings_.retry_factor)},
                     {"likelihood_sigma_sys", fmt::format("{}", settings_.sigma_sys)}});
  return a;
}

void PosteriorSampler::run(const StarBlock& block, BlockResult& out) {
  constexpr int D = model::kNumParams;
  const int S = settings_.samples;
  const std::size_t R = block.rows;
  const int C = block.n_columns;
  if (block.column_filter.size() != static_cast<std::size_t>(C) || block.mag.size() != R * C ||
      block.err.size() != R * C) {
    fail_input("sampler: block of {} rows × {} columns has inconsistent arrays", R, C);
  }
  out.reset(R, S, settings_.keep_samples, extra_columns());
  const std::size_t col_log_q = kImpFixedCount, col_sir = kImpFixedCount + (settings_.keep_samples ? 2 : 0);

  // Observed bands per star (CSR), band counts and the training-range checks.
  std::vector<std::size_t> start(R + 1, 0);
  std::vector<int> band;     // model filter ids
  std::vector<float> mag, err;
  band.reserve(R * C);
  mag.reserve(R * C);
  err.reserve(R * C);
  for (std::size_t r = 0; r < R; ++r) {
    for (int j = 0; j < C; ++j) {
      if (!block.usable(r, j)) continue;
      band.push_back(block.column_filter[static_cast<std::size_t>(j)]);
      mag.push_back(block.mag[r * C + j]);
      err.push_back(training_error(block.err[r * C + j], settings_.input_error_min, out.flags[r]));
    }
    start[r + 1] = band.size();
  }
  const int min_bands = std::max(settings_.bands_min, 1);
  std::vector<std::size_t> todo;
  for (std::size_t r = 0; r < R; ++r) {
    const int k = static_cast<int>(start[r + 1] - start[r]);
    out.n_bands[r] = k;
    if (k < min_bands) {
      out.flags[r] |= kFlagTooFewBands;
      continue;
    }
    todo.push_back(r);
    bool outside = settings_.bands_max > 0 && k > settings_.bands_max;
    double centre = 0.0;
    for (std::size_t i = start[r]; i < start[r + 1]; ++i) centre += mag[i];
    centre /= k;
    for (std::size_t i = start[r]; i < start[r + 1]; ++i) {
      const auto f = static_cast<std::size_t>(band[i]);
      const double feature = (mag[i] - centre - mag_mean_[f]) / mag_std_[f];
      if (!(std::abs(feature) <= settings_.range_sigma)) outside = true;
      if (err[i] > settings_.sigma_max * (1.0 + 1e-6)) outside = true;
    }
    if (outside) out.flags[r] |= kFlagOutsideTraining;
  }
  // Group by band count to limit padding; stable, so the order is a function of the block alone.
  std::stable_sort(todo.begin(), todo.end(),
                   [&](std::size_t a, std::size_t b) { return start[a + 1] - start[a] < start[b + 1] - start[b]; });

  const auto B_max = static_cast<std::size_t>(settings_.batch);
  // One batch: network, random numbers, summaries, posterior-predictive check.
  // Batches write disjoint rows of `out`, so workers need no locking.
  // Importance weights and weighted summaries of one star's n proposals (θ n×5, log q n).
  auto reweight = [&](std::size_t r, const double* ts, const double* lq, int n, BatchScratch& sc) {
    sc.star.clear();
    for (std::size_t i = start[r]; i < start[r + 1]; ++i) sc.star.add(band[i], mag[i], err[i], settings_.sigma_sys);
    sc.log_w.resize(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) {
      const double* t = ts + static_cast<std::size_t>(k) * D;
      const double lt = target_->log_density({t[0], t[1], t[2], t[3], t[4]}, sc.star, sc.ws);
      const double lw = lt - lq[k];
      sc.log_w[static_cast<std::size_t>(k)] = std::isnan(lw) || lt == -std::numeric_limits<double>::infinity()
                                                  ? -std::numeric_limits<double>::infinity()
                                                  : lw;
    }
    return effective_sample_size(sc.log_w.data(), sc.log_w.size());
  };
  auto store_importance = [&](std::size_t r, const double* ts, int n, double ess, BatchScratch& sc) {
    auto& X = out.extra;
    for (int p = 0; p < D; ++p) {
      store_summary(summarize_weighted(ts, D, p, sc.log_w.data(), sc.log_w.size(), sc.weighted), r * D + static_cast<std::size_t>(p), X[kImpMedian].data(),
                    X[kImpMean].data(), X[kImpStd].data(), X[kImpP16].data(), X[kImpP84].data(), X[kImpHdi68].data(),
                    X[kImpHdi95].data());
    }
    X[kImpEss][r] = static_cast<float>(ess);
    X[kImpEssFraction][r] = static_cast<float>(ess / n);
    X[kImpProposals][r] = static_cast<float>(n);
    if (ess / n < settings_.ess_threshold) out.flags[r] |= kFlagLowEss;
    if (settings_.sir && ess > 0) {
      resample_draws(ts, sc.log_w.data(), sc.log_w.size(), S, settings_.seed, block.row0 + r,
                     X[col_sir].data() + r * S * D);
    }
  };
  auto process = [&](std::size_t c0, BatchScratch& sc) {
    std::vector<double>& scratch = sc.values;
    std::vector<double>& model_mags = sc.model_mags;
    std::vector<double>& work = sc.work;
    torch::NoGradGuard no_grad;
    const std::size_t B = std::min(B_max, todo.size() - c0);
    std::int64_t width = 0;
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t r = todo[c0 + b];
      width = std::max<std::int64_t>(width, static_cast<std::int64_t>(start[r + 1] - start[r]));
    }
    const auto Bi = static_cast<std::int64_t>(B);
    auto ids = torch::zeros({Bi, width}, torch::kInt64);
    auto mags = torch::zeros({Bi, width}, torch::kFloat32);
    auto errs = torch::ones({Bi, width}, torch::kFloat32);
    auto mask = torch::zeros({Bi, width}, torch::kBool);
    auto normal = torch::empty({Bi, S, D}, torch::kFloat32);
    auto uniform = torch::empty({Bi, S}, torch::kFloat32);
    {
      auto* pid = ids.data_ptr<std::int64_t>();
      auto* pm = mags.data_ptr<float>();
      auto* pe = errs.data_ptr<float>();
      auto* pk = mask.data_ptr<bool>();
      auto* pn = normal.data_ptr<float>();
      auto* pu = uniform.data_ptr<float>();
      for (std::size_t b = 0; b < B; ++b) {
        const std::size_t r = todo[c0 + b];
        std::size_t s = 0;
        for (std::size_t i = start[r]; i < start[r + 1]; ++i, ++s) {
          const std::size_t o = b * static_cast<std::size_t>(width) + s;
          pid[o] = band[i];
          pm[o] = mag[i];
          pe[o] = static_cast<float>(sim::in_quadrature(err[i], settings_.input_sigma_sys));  // as in training
          pk[o] = true;
        }
        star_random_numbers(settings_.seed, block.row0 + r, S, pn + b * S * D, pu + b * S);
      }
    }
    model::ObservationBatch batch{ids, mags, errs, mask};
    auto context = model_->context(batch);
    auto drawn = model_->sample(context, normal, uniform);
    auto theta = drawn.theta.contiguous();  // (B, S, D) float64
    const double* th = theta.data_ptr<double>();
    torch::Tensor log_q;
    if (settings_.importance) log_q = drawn.log_prob.contiguous();  // (B, S) float64
    std::vector<std::int64_t> retry;  // batch positions of stars to redraw with more proposals
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t r = todo[c0 + b];
      const double* ts = th + b * S * D;
      for (int p = 0; p < D; ++p) {
        scratch.resize(static_cast<std::size_t>(S));
        for (int s = 0; s < S; ++s) scratch[static_cast<std::size_t>(s)] = ts[s * D + p];
        const ParameterSummary sm = summarize(scratch);
        out.set_summary(r, p, sm);
        if (!std::isfinite(sm.median) || !std::isfinite(sm.std)) out.flags[r] |= kFlagNonFinite;
      }
      if (settings_.keep_samples) {
        float* dst = out.samples.data() + r * S * D;
        for (int i = 0; i < S * D; ++i) dst[i] = static_cast<float>(ts[i]);
      }
      if (ppc_) {
        const int k = static_cast<int>(start[r + 1] - start[r]);
        const PpcResult check = ppc_over_samples(*ppc_, ts, S, band.data() + start[r], mag.data() + start[r],
                                                 err.data() + start[r], k, settings_.ppc_sigma_floor, model_mags,
                                                 work);
        out.ppc_chi2[r] = static_cast<float>(check.chi2_dof);
        out.ppc_p[r] = static_cast<float>(check.p);
        // Flagged: a fit worse than chance allows, or most of the posterior off the grid.
        if (check.p < settings_.ppc_alpha || 2 * check.outside_grid > S) out.flags[r] |= kFlagPpcHigh;
      }
      if (settings_.importance) {
        const double* lq = log_q.data_ptr<double>() + b * S;
        const double ess = reweight(r, ts, lq, S, sc);
        if (settings_.keep_samples) {
          float* dq = out.extra[col_log_q].data() + r * S;
          float* dw = out.extra[col_log_q + 1].data() + r * S;
          for (int k = 0; k < S; ++k) {
            dq[k] = static_cast<float>(lq[k]);
            dw[k] = static_cast<float>(sc.log_w[static_cast<std::size_t>(k)]);
          }
        }
        if (settings_.retry_factor > 0 && ess / S < settings_.ess_threshold) {
          retry.push_back(static_cast<std::int64_t>(b));
        } else {
          store_importance(r, ts, S, ess, sc);
        }
      }
    }
    if (!retry.empty()) {
      // A second, larger proposal set from the same context, with its own random numbers.
      const int S2 = S * settings_.retry_factor;
      const auto n_retry = static_cast<std::int64_t>(retry.size());
      auto idx = torch::from_blob(retry.data(), {n_retry}, torch::kInt64).clone();
      auto normal2 = torch::empty({n_retry, S2, D}, torch::kFloat32);
      auto uniform2 = torch::empty({n_retry, S2}, torch::kFloat32);
      for (std::int64_t k = 0; k < n_retry; ++k) {
        const std::size_t r = todo[c0 + static_cast<std::size_t>(retry[static_cast<std::size_t>(k)])];
        star_random_numbers(settings_.seed ^ 0x5245545259ull, block.row0 + r, S2,  // "RETRY"
                            normal2.data_ptr<float>() + k * S2 * D, uniform2.data_ptr<float>() + k * S2);
      }
      auto drawn2 = model_->sample(context.index_select(0, idx), normal2, uniform2);
      auto theta2 = drawn2.theta.contiguous();
      auto log_q2 = drawn2.log_prob.contiguous();
      for (std::int64_t k = 0; k < n_retry; ++k) {
        const std::size_t r = todo[c0 + static_cast<std::size_t>(retry[static_cast<std::size_t>(k)])];
        const double* ts2 = theta2.data_ptr<double>() + k * S2 * D;
        const double ess = reweight(r, ts2, log_q2.data_ptr<double>() + k * S2, S2, sc);
        store_importance(r, ts2, S2, ess, sc);
      }
    }
    sampled_ += B;
  };
  const std::size_t n_batches = (todo.size() + B_max - 1) / B_max;
  const auto workers = static_cast<std::size_t>(std::max(1, settings_.workers));
  if (workers == 1) {  // the caller's thread, with its intra-op threads (--parallel intra-op, or one thread)
    BatchScratch sc;
    for (std::size_t c0 = 0; c0 < todo.size(); c0 += B_max) process(c0, sc);
    return;
  }
  // Batch-parallel: each worker takes whole batches and runs LibTorch with one
  // intra-op thread (small matrices parallelise poorly inside an operation). A
  // batch's numbers do not depend on which worker computes it. With fewer batches than
  // workers (a small block) some workers stay idle rather than switching to intra-op
  // threads, whose round-off would depend on the thread count and so on the rank count.
  // at::set_num_threads in a worker also resets LibTorch's process-wide setting;
  // restore the caller's afterwards.
  const int caller_threads = at::get_num_threads();
  const int caller_blas_threads = blas_threads();
  set_blas_threads(1);  // OpenBLAS's pool is process-wide: one thread per calling worker
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(workers);
  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < std::min(workers, n_batches); ++w) {
    pool.emplace_back([&, w] {
      try {
        at::set_num_threads(1);  // this thread's OpenMP team size
        BatchScratch sc;
        for (std::size_t b = next++; b < n_batches; b = next++) process(b * B_max, sc);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  at::set_num_threads(caller_threads);
  set_blas_threads(caller_blas_threads);
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// ------------------------------------------------------------ catalogue job -----

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Installs SIGTERM/SIGUSR1 handlers for the lifetime of the object.
class SignalScope {
 public:
  explicit SignalScope(bool enable) : enabled_(enable) {
    g_stop_signal.store(0);
    if (!enabled_) return;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGUSR1, &action, &old_usr1_);
  }
  ~SignalScope() {
    if (!enabled_) return;
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  bool enabled_;
  struct sigaction old_term_ {}, old_usr1_ {};
};

// Rethrows `error` (or, if null, an Error with `otherwise`) with `suffix` appended,
// keeping the project's error kind (exit code 2 for input, 1 otherwise) and dropping
// LibTorch's C++ backtrace from its messages.
[[noreturn]] void rethrow_with_suffix(const std::exception_ptr& error, const std::string& otherwise,
                                      const std::string& suffix) {
  if (!error) throw Error(otherwise + suffix);
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    throw InputError(e.what() + suffix);
  } catch (const IoError& e) {
    throw IoError(e.what() + suffix);
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace() + suffix);
  } catch (const std::exception& e) {
    throw Error(e.what() + suffix);
  }
}

std::string file_identity(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return path + " (unreadable)";
  auto time = std::filesystem::last_write_time(path, ec);
  long long ticks = ec ? 0 : static_cast<long long>(time.time_since_epoch().count());
  return fmt::format("{} size={} mtime={}", path, size, ticks);
}

struct Progress {
  std::string key;
  std::vector<char> done;  // per block, 0/1
};

bool read_progress(const std::string& path, Progress& p) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  if (!std::getline(in, line) || line != "irisml-sample-progress 1") return false;
  if (!std::getline(in, line) || line.rfind("key ", 0) != 0) return false;
  p.key = line.substr(4);
  if (!std::getline(in, line) || line.rfind("done ", 0) != 0) return false;
  const std::string bits = line.substr(5);
  p.done.assign(bits.size(), 0);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[i] != '0' && bits[i] != '1') return false;
    p.done[i] = bits[i] == '1';
  }
  return true;
}

// Writes the sidecar atomically (temporary file + rename).
void write_progress(const std::string& path, const Progress& p) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) fail_io("cannot write the resume file '{}'", tmp);
    out << "irisml-sample-progress 1\n" << "key " << p.key << "\n" << "done ";
    for (char d : p.done) out << (d ? '1' : '0');
    out << "\n";
    out.flush();
    if (!out) fail_io("cannot write the resume file '{}' (disk full?)", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail_io("cannot rename '{}' to '{}'", tmp, path);
}

struct OutputLayout {
  std::uint64_t rows;
  int samples;
  bool keep_samples;
  std::size_t id_width;  // 0 = no /id
  std::vector<ExtraColumn> extra;
};

std::vector<std::uint64_t> extra_dims(std::uint64_t rows, const ExtraColumn& c) {
  std::vector<std::uint64_t> dims{rows};
  dims.insert(dims.end(), c.trailing.begin(), c.trailing.end());
  return dims;
}

void create_output(h5::File& f, const OutputLayout& l, const SampleJob& job, const SamplerSettings& s,
                   const std::string& catalog_path, bool with_ppc, const BlockProcessor& processor) {
  const std::uint64_t N = l.rows;
  f.set_attr("/", "format", std::string(kPosteriorFormat));
  f.set_attr("/", "format_version", kPosteriorFormatVersion);
  f.set_attr("/", "samples_per_star", std::int64_t{l.samples});
  f.set_attr("/", "seed", static_cast<std::int64_t>(s.seed));
  f.set_attr("/", "model", job.model_path);
  f.set_attr("/", "catalog", catalog_path);
  f.set_attr("/", "bands_min", std::int64_t{s.bands_min});
  f.set_attr("/", "bands_max", std::int64_t{s.bands_max});
  f.set_attr("/", "sigma_max", s.sigma_max);
  f.set_attr("/", "range_sigma", s.range_sigma);
  f.set_attr("/", "ppc_alpha", with_ppc ? s.ppc_alpha : std::numeric_limits<double>::quiet_NaN());
  f.set_attr("/", "input_error_min", s.input_error_min);
  f.set_attr("/", "input_sigma_sys", s.input_sigma_sys);
  f.set_attr("/", "ppc_sigma_floor", with_ppc ? s.ppc_sigma_floor : std::numeric_limits<double>::quiet_NaN());
  f.set_attr("/", "flags_description", processor.flags_description());
  f.write_strings("/parameter_names", model::parameter_names());
  f.write_strings("/filters", job.model_filters);
  for (const char* name : {"/median", "/mean", "/std", "/p16", "/p84"}) f.create_dataset<float>(name, {N, 5});
  f.create_dataset<float>("/hdi68", {N, 5, 2});
  f.create_dataset<float>("/hdi95", {N, 5, 2});
  f.create_dataset<std::int32_t>("/n_bands", {N});
  f.create_dataset<std::uint32_t>("/flags", {N});
  f.create_dataset<float>("/ppc_chi2", {N});
  f.create_dataset<float>("/ppc_p", {N});
  if (l.keep_samples) f.create_dataset<float>("/samples", {N, static_cast<std::uint64_t>(l.samples), 5});
  if (l.id_width > 0) f.create_string_dataset("/id", N, l.id_width);
  for (const auto& c : l.extra) f.create_dataset<float>(c.name, extra_dims(N, c));
  for (const auto& [name, value] : processor.attributes()) f.set_attr("/", name, value);
}

bool layout_matches(const h5::File& f, const OutputLayout& l) {
  try {
    if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kPosteriorFormat) return false;
    const std::uint64_t N = l.rows;
    for (const char* name : {"/median", "/mean", "/std", "/p16", "/p84"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N, 5}) return false;
    }
    for (const char* name : {"/hdi68", "/hdi95"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N, 5, 2}) return false;
    }
    for (const char* name : {"/n_bands", "/flags", "/ppc_chi2", "/ppc_p"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N}) return false;
    }
    if (l.keep_samples != f.exists("/samples")) return false;
    if (l.keep_samples && f.dims("/samples") != std::vector<std::uint64_t>{N, static_cast<std::uint64_t>(l.samples), 5})
      return false;
    if ((l.id_width > 0) != f.exists("/id")) return false;
    for (const auto& c : l.extra) {
      if (!f.exists(c.name) || f.dims(c.name) != extra_dims(N, c)) return false;
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

SampleReport sample_catalog(model::PosteriorEstimator model, const CatalogReader& catalog, const SampleJob& job,
                            const SamplerSettings& settings, const sim::Synthesizer* ppc, MPI_Comm comm,
                            const sim::PhotometricPosterior* target) {
  const int n_filters = model->config().n_filters;
  if (job.model_filters.size() != static_cast<std::size_t>(n_filters)) {
    fail_input("the model has {} filters but {} filter names were given", n_filters, job.model_filters.size());
  }
  PosteriorSampler sampler(model, settings, ppc, target);
  return process_catalog(sampler, catalog, job, settings, ppc != nullptr, comm, "sample");
}

SampleReport process_catalog(BlockProcessor& processor, const CatalogReader& catalog, const SampleJob& job,
                             const SamplerSettings& settings, bool with_ppc, MPI_Comm comm, const std::string& verb) {
  const double t_start = now_seconds();
  settings.validate();
  // From here on SIGTERM/SIGUSR1 only set a flag, read after each block.
  SignalScope signals(settings.handle_signals);
  h5::silence_errors();
  const int rank = dist::rank_of(comm), size = dist::size_of(comm);

  const auto column_filter =
      map_catalog_filters(catalog.filters(), job.model_filters, job.ignore_unknown_filters, catalog.path(), rank == 0);

  SampleReport report;
  const std::uint64_t N = catalog.rows();
  const std::uint64_t block_rows = settings.block_rows;
  const std::uint64_t n_blocks = (N + block_rows - 1) / block_rows;
  report.rows = N;
  report.blocks = n_blocks;
  const auto [my_begin, my_end] = shard_range(n_blocks, rank, size);

  // /id width: the longest id over all rows (a read pass over this rank's rows).
  std::size_t id_width = 0;
  if (catalog.has_id()) {
    std::uint64_t local = 0, global = 0;
    std::exception_ptr read_error;
    try {
      for (std::uint64_t b = my_begin; b < my_end; ++b) {
        const std::uint64_t r0 = b * block_rows, n = std::min(block_rows, N - r0);
        for (const auto& id : catalog.read(r0, n).id) local = std::max<std::uint64_t>(local, id.size());
      }
    } catch (...) {
      read_error = std::current_exception();
    }
    dist::agree_on_failure(read_error, comm, "while reading the catalogue");
    global = dist::max_over_ranks(local, comm);
    id_width = std::max<std::size_t>(1, static_cast<std::size_t>(global));
  }
  const OutputLayout layout{N, settings.samples, settings.keep_samples, id_width, processor.extra_columns()};

  const std::string key = fmt::format(
      "{} rows={} blocks={} catalog=[{}] catalog_filters={} model=[{}] model_filters={} samples={} keep_samples={} "
      "seed={} block_rows={} id_width={} output={} processor=[{}] inputs=[{}]",
      verb, N, n_blocks, file_identity(catalog.path()), fmt::join(catalog.filters(), ","),
      file_identity(job.model_path), fmt::join(job.model_filters, ","), settings.samples, settings.keep_samples,
      settings.seed, block_rows, id_width, job.output, processor.describe(), job.inputs_key);
  const std::string partial = partial_path(job.output);
  const std::string sidecar = progress_path(job.output);

  // Rank 0 decides whether an earlier run can be resumed.
  Progress progress;
  progress.key = key;
  progress.done.assign(n_blocks, 0);
  // resume: 1 = continue; 0 = nothing to continue; -1 = an unfinished run of other
  // inputs or settings is in the way (refused unless job.discard_unfinished).
  int resume = 0;
  if (rank == 0) {
    Progress old;
    if (read_progress(sidecar, old)) {
      const bool have_partial = file_exists(partial) && h5::is_hdf5(partial);
      if (old.key == key && old.done.size() == n_blocks && have_partial) {
        resume = 1;
        progress.done = old.done;
      } else if (!have_partial) {
        // Nothing to protect: the finished blocks it records are gone with their file.
        log::warn("'{}' is left from an earlier run of '{}' whose partial output '{}' is missing{}; nothing can be "
                  "resumed, starting over",
                  sidecar, job.output, partial, file_exists(partial) ? " (not HDF5)" : "");
      } else if (job.discard_unfinished) {
        log::warn("'{}' belongs to a different run (other inputs or settings) or its partial output is missing; "
                  "discarding it (--overwrite)",
                  sidecar);
      } else {
        resume = -1;
      }
    }
  }
  resume = dist::broadcast_from_root(resume, comm);
  if (resume < 0) {
    fail_input("'{}' records an unfinished run of '{}' with other inputs or settings (catalogue, model, --batch, "
               "--block-rows, --samples, --seed, column options, ...); rerun that command to finish it, or pass "
               "--overwrite to discard the blocks it finished in '{}'",
               sidecar, job.output, partial);
  }
  if (resume) {
    // Every rank must see the partial file before the collective open (a node-local
    // directory would otherwise leave the others waiting inside it).
    if (!dist::every_rank(file_exists(partial) && h5::is_hdf5(partial), comm)) {
      fail_io("partial output '{}' is not visible (or not HDF5) on every rank; the output directory must be on a "
              "file system all ranks share",
              partial);
    }
  }
  if (n_blocks > 0) {
    dist::broadcast_from_root(progress.done, comm);
  }
  std::optional<h5::File> file;
  if (resume) {
    bool ok = true;
    try {
      file.emplace(h5::File::open(partial, /*writable=*/true, comm));
      ok = layout_matches(*file, layout);
    } catch (const Error&) {
      ok = false;
    }
    if (!dist::every_rank(ok, comm)) {
      if (file) file->close();
      file.reset();
      resume = 0;
      std::fill(progress.done.begin(), progress.done.end(), 0);
      log::warn("partial output '{}' does not match this run; starting over", partial);
    }
  }
  if (!resume) {
    // Rank 0 lays the file out serially (attributes, every dataset allocated), so the
    // metadata bytes do not depend on the number of ranks; all ranks then open it
    // collectively and only write raw data (metadata is never dirtied again).
    std::string message;  // rank 0 lays the file out; empty: it did
    if (rank == 0) {
      try {
        auto f = h5::File::create(partial);
        create_output(f, layout, job, settings, catalog.path(), with_ppc, processor);
        f.close();
        write_progress(sidecar, progress);
      } catch (const std::exception& e) {
        message = e.what();
        if (message.empty()) message = "unknown error";
      }
    }
    message = dist::broadcast_from_root(message, comm);
    if (!message.empty()) {
      if (rank == 0) fail_io("{}", message);
      fail_io("rank 0 could not create '{}': {}", partial, message);
    }
    file.emplace(h5::File::open(partial, /*writable=*/true, comm));
  }
  report.blocks_skipped = static_cast<std::uint64_t>(std::count(progress.done.begin(), progress.done.end(), 1));
  if (resume) log::info("{}: resuming '{}': {} of {} blocks already done", verb, partial, report.blocks_skipped, n_blocks);

  std::vector<std::uint64_t> todo;
  for (std::uint64_t b = my_begin; b < my_end; ++b) {
    if (!progress.done[b]) todo.push_back(b);
  }
  std::uint64_t local_iters = todo.size();
  if (settings.max_blocks > 0) local_iters = std::min<std::uint64_t>(local_iters, settings.max_blocks);
  const std::uint64_t iters = dist::max_over_ranks(local_iters, comm);

  BlockResult res;
  StarBlock stars;
  stars.column_filter = column_filter;
  stars.n_columns = static_cast<int>(column_filter.size());
  std::uint64_t counts[6] = {0, 0, 0, 0, 0, 0};  // sampled, too few, outside, ppc, dropped, low ESS
  double last_log = now_seconds();
  std::vector<std::int64_t> finished(static_cast<std::size_t>(size));
  // A failure on one rank must not leave the others waiting in a collective: local
  // work runs under try, every rank learns of any failure at the next agreement, and
  // all of them throw there together (so the collective file close still matches up).
  // On failure the output is closed (collectively: every rank fails here together) and
  // what this run made is removed unless it holds finished blocks worth resuming.
  std::exception_ptr local_error;
  auto agree_or_throw = [&](const char* during) {
    if (!dist::any_rank_failed(local_error, comm)) return;
    const auto n_done = std::count(progress.done.begin(), progress.done.end(), 1);
    try {
      file->close();
    } catch (const std::exception&) {  // the original error matters more
    }
    file.reset();
    std::string what;
    if (n_done > 0) {
      what = fmt::format("; the {} finished block(s) are kept in '{}': fix the cause and rerun the same command to "
                         "resume",
                         n_done, partial);
    } else {
      if (rank == 0) {
        std::remove(partial.c_str());
        std::remove(sidecar.c_str());
      }
      what = fmt::format("; no block was finished, so this run's '{}' and '{}' were removed", partial, sidecar);
    }
    rethrow_with_suffix(local_error, fmt::format("another rank failed {} (its message is above)", during), what);
  };
  for (unsigned long long it = 0; it < iters; ++it) {
    std::uint64_t row0 = 0, nrows = 0;
    std::int64_t block = -1;
    std::vector<std::string> ids;
    if (it < local_iters) {
      block = static_cast<std::int64_t>(todo[it]);
      row0 = todo[it] * block_rows;
      nrows = std::min(block_rows, N - row0);
      try {
        CatalogBlock cb = catalog.read(row0, nrows);
        stars.row0 = row0;
        stars.rows = nrows;
        stars.mag = std::move(cb.mag);
        stars.err = std::move(cb.err);
        ids = std::move(cb.id);
        for (auto d : cb.dropped_unusable) counts[4] += static_cast<std::uint64_t>(d);
        processor.run(stars, res);
        for (std::uint64_t r = 0; r < nrows; ++r) {
          counts[0] += (res.flags[r] & kFlagTooFewBands) ? 0 : 1;
          counts[1] += (res.flags[r] & kFlagTooFewBands) ? 1 : 0;
          counts[2] += (res.flags[r] & kFlagOutsideTraining) ? 1 : 0;
          counts[3] += (res.flags[r] & kFlagPpcHigh) ? 1 : 0;
          counts[5] += (res.flags[r] & kFlagLowEss) ? 1 : 0;
        }
      } catch (...) {
        local_error = std::current_exception();
      }
    }
    agree_or_throw("while reading or sampling a block");
    if (it >= local_iters) {  // idle this round: empty selections in the collective writes
      res = BlockResult{};
      for (auto* v : {&res.median, &res.mean, &res.std, &res.p16, &res.p84, &res.hdi68, &res.hdi95, &res.ppc_chi2, &res.ppc_p,
                      &res.samples}) {
        v->assign(1, 0.0f);  // valid pointers for an empty selection
      }
      res.n_bands.assign(1, 0);
      res.flags.assign(1, 0u);
      res.extra.assign(layout.extra.size(), std::vector<float>(1, 0.0f));
    }
    // Every rank takes part in every collective write, with an empty selection if idle.
    file->write_rows("/median", row0, nrows, res.median.data());
    file->write_rows("/mean", row0, nrows, res.mean.data());
    file->write_rows("/std", row0, nrows, res.std.data());
    file->write_rows("/p16", row0, nrows, res.p16.data());
    file->write_rows("/p84", row0, nrows, res.p84.data());
    file->write_rows("/hdi68", row0, nrows, res.hdi68.data());
    file->write_rows("/hdi95", row0, nrows, res.hdi95.data());
    file->write_rows("/n_bands", row0, nrows, res.n_bands.data());
    file->write_rows("/flags", row0, nrows, res.flags.data());
    file->write_rows("/ppc_chi2", row0, nrows, res.ppc_chi2.data());
    file->write_rows("/ppc_p", row0, nrows, res.ppc_p.data());
    if (settings.keep_samples) {
      if (res.samples.empty()) res.samples.assign(1, 0.0f);
      file->write_rows("/samples", row0, nrows, res.samples.data());
    }
    for (std::size_t ci = 0; ci < layout.extra.size(); ++ci) {
      file->write_rows(layout.extra[ci].name, row0, nrows, res.extra[ci].data());
    }
    if (id_width > 0) {
      if (nrows == 0) ids.clear();
      file->write_string_rows("/id", row0, ids, id_width);
    }
    file->flush();
    finished = dist::gather_from_all(block, comm);
    for (std::int64_t b : finished) {
      if (b >= 0) progress.done[static_cast<std::size_t>(b)] = 1;
    }
    if (rank == 0) {
      try {
        write_progress(sidecar, progress);
      } catch (...) {
        local_error = std::current_exception();
      }
    }
    agree_or_throw("while recording progress");
    report.blocks_run += static_cast<std::uint64_t>(std::count_if(finished.begin(), finished.end(), [](std::int64_t b) { return b >= 0; }));
    const bool any_stop = dist::any_rank(g_stop_signal.load() != 0, comm);
    if (settings.progress && rank == 0 && (now_seconds() - last_log > 10.0 || it + 1 == iters)) {
      last_log = now_seconds();
      const auto done = std::count(progress.done.begin(), progress.done.end(), 1);
      const double elapsed = last_log - t_start;
      log::info("{}: {}/{} blocks done, ~{:.0f} stars/s (all ranks)", verb, done, n_blocks,
                static_cast<double>(report.blocks_run * block_rows) / std::max(elapsed, 1e-9));
    }
    if (any_stop) {
      log::info("{}: stop signal received; {} blocks finished, rerun the same command to resume", verb,
                std::count(progress.done.begin(), progress.done.end(), 1));
      break;
    }
  }
  report.all_transfers_collective = dist::every_rank(file->all_transfers_collective(), comm);
  std::vector<std::uint64_t> sums(counts, counts + 6);
  dist::sum_over_ranks(sums, comm);
  report.sampled = sums[0];
  report.too_few_bands = sums[1];
  report.outside_training = sums[2];
  report.ppc_high = sums[3];
  report.dropped_unusable = sums[4];
  report.low_ess = sums[5];

  const bool all_done = std::all_of(progress.done.begin(), progress.done.end(), [](char d) { return d == 1; });
  file->close();
  file.reset();
  if (all_done) {
    dist::barrier(comm);  // every rank's data is on disk before the rename
    dist::on_root_agreed(
        [&] {
          commit_partial(job.output);
          std::remove(sidecar.c_str());
        },
        comm, fmt::format("renaming '{}' to '{}'", partial, job.output));
    report.complete = true;
  } else {
    report.interrupted = true;
  }
  report.seconds = now_seconds() - t_start;
  return report;
}

}  // namespace irisml::infer
