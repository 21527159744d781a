#include "infer/posterior_sampler.hpp"
#include "infer/physical.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <thread>

#include <torch/utils.h>

#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/rng.hpp"
#include "posterior/summary.hpp"
#include "model/config.hpp"
#include "model/normalizer.hpp"
#include "model/star_tokens.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/noise.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"
#include "model/checkpoint.hpp"

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

double sampling_memory_bytes(const SamplerSettings& s, const model::ModelConfig& config) {
  double made = 0;
  for (int h : config.made_hidden) made += h;
  // Per flow row, float32: the context and its concatenation with θ, each MADE's hidden
  // layers (a few alive at once), and θ, log-densities and mixture terms.
  const double per_row =
      4.0 * (2.0 * config.width + 3.0 * made + 16.0 * model::kNumParams + 4.0 * config.mixture_components);
  const double rows = std::max(static_cast<double>(s.batch) * s.samples * std::max(1, s.workers),
                               static_cast<double>(s.samples) * std::max(1, s.retry_factor));
  const double block = static_cast<double>(s.block_rows) * s.samples * model::kNumParams * 4.0 * 3.0;
  return 2.0 * rows * per_row + block;
}

void check_sampling_memory(const SamplerSettings& s, const model::ModelConfig& config, double limit_bytes) {
  const double need = sampling_memory_bytes(s, config);
  if (need <= 0.75 * limit_bytes) return;
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  SamplerSettings flow = s;
  flow.block_rows = 0;
  if (sampling_memory_bytes(flow, config) <= 0.5 * need) {  // the block buffers dominate
    fail_input(
        "--block-rows {} x --samples {} needs about {:.3g} GiB of memory per rank for one block's samples, more "
        "than 3/4 of this rank's share of the node's memory ({:.3g} GiB); lower --block-rows",
        s.block_rows, s.samples, need / GiB, limit_bytes / GiB);
  }
  fail_input(
      "--samples {} x --batch {} x {} worker thread(s) (--block-rows {}{}) needs about {:.3g} GiB of memory "
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
  const auto picks = posterior::systematic_resample(log_w, n, static_cast<std::size_t>(S), rng.uniform());
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
      fail_input(
          "catalogue '{}' has filter(s) {} that the model was not trained on; the model's filters are: {} "
          "(use --ignore-unknown-columns to skip them with a warning)",
          catalog_path, fmt::join(unknown, ", "), fmt::join(model_filters, ", "));
    }
    if (warn)
      log::warn("catalogue '{}': ignoring filter(s) {} unknown to the model (model filters: {})", catalog_path,
                fmt::join(unknown, ", "), fmt::join(model_filters, ", "));
  }
  bool any = std::any_of(map.begin(), map.end(), [](int f) { return f >= 0; });
  if (!any && !catalog_filters.empty()) {
    fail_input("catalogue '{}' has no filter the model knows; the model's filters are: {}", catalog_path,
               fmt::join(model_filters, ", "));
  }
  return map;
}

// -------------------------------------------------------------------- sampler -----

PosteriorSampler::PosteriorSampler(model::PosteriorEstimator model, const SamplerSettings& settings,
                                   const simulate::Synthesizer* ppc, const simulate::PhotometricPosterior* target)
    : model_(std::move(model)), settings_(settings), ppc_(ppc), target_(target) {
  settings_.validate();
  if (settings_.importance && !target_) {
    fail_input("importance reweighting needs the likelihood and prior (a spectral grid and the training prior)");
  }
  model_->eval();
  model_->set_precision(settings_.precision);
  n_filters_ = model_->config().n_filters;
  auto normalizer = model_->normalizer();
  mag_mean_ = normalizer.mag_mean();
  mag_std_ = normalizer.mag_std();
  if (ppc_ && ppc_->bands().size() != static_cast<std::size_t>(n_filters_)) {
    fail_input("posterior-predictive synthesizer predicts {} bands but the model has {} filters", ppc_->bands().size(),
               n_filters_);
  }
  if (target_ && target_->synthesizer().bands().size() != static_cast<std::size_t>(n_filters_)) {
    fail_input("the likelihood's synthesizer predicts {} bands but the model has {} filters",
               target_->synthesizer().bands().size(), n_filters_);
  }
}

namespace {
// Per-thread scratch space of PosteriorSampler::run.
struct BatchScratch {
  std::vector<double> values, model_mags, work, log_w, mu_hat;
  PhysicalScratch physical;
  std::vector<posterior::WeightedValue> weighted;
  simulate::ObservedStar star;
  simulate::PhotometricPosterior::Workspace ws;
};
// Extra columns of the importance output, in this order (docs/posterior_format.md).
enum ImportanceColumn {
  kImpMedian,
  kImpMean,
  kImpStd,
  kImpP16,
  kImpP84,
  kImpHdi68,
  kImpHdi95,
  kImpEss,
  kImpEssFraction,
  kImpProposals,
  kImpFixedCount
};
// The summary of one parameter into row-major rows × 5 arrays (HDIs rows × 5 × 2).
void store_summary(const posterior::ParameterSummary& sm, std::size_t o, float* median, float* mean, float* std,
                   float* p16, float* p84, float* hdi68, float* hdi95) {
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

void BlockResult::set_summary(std::size_t row, int p, const posterior::ParameterSummary& s) {
  store_summary(s, row * posterior::kParameters + static_cast<std::size_t>(p), median.data(), mean.data(), std.data(),
                p16.data(), p84.data(), hdi68.data(), hdi95.data());
}

std::vector<ExtraColumn> PosteriorSampler::extra_columns() const {
  if (!settings_.importance) return {};
  const auto S = static_cast<std::uint64_t>(settings_.samples);
  std::vector<ExtraColumn> c = {{"/importance/median", {5}},      {"/importance/mean", {5}},
                                {"/importance/std", {5}},         {"/importance/p16", {5}},
                                {"/importance/p84", {5}},         {"/importance/hdi68", {5, 2}},
                                {"/importance/hdi95", {5, 2}},    {"/importance/ess", {}},
                                {"/importance/ess_fraction", {}}, {"/importance/proposals", {}}};
  if (settings_.keep_samples) {
    c.push_back({"/importance/log_q", {S}});
    c.push_back({"/importance/log_w", {S}});
  }
  if (settings_.sir) c.push_back({"/importance/samples", {S, 5}});
  if (settings_.physical) {
    for (auto& p : physical_columns(target_ && target_->prior().isochrone())) c.push_back(std::move(p));
  }
  return c;
}

namespace {
// Intra-op parallel LibTorch splits reductions by thread count; whole batches on
// single-threaded workers (or one thread) give the same bytes whatever the layout.
bool round_off_depends_on_threads(const SamplerSettings& s) { return s.workers <= 1 && s.intra_op_threads > 1; }
}  // namespace

std::string PosteriorSampler::describe() const {
  const auto& s = settings_;
  return fmt::format(
             "flow batch={} input_error_min={} input_sigma_sys={} ppc={} ppc_alpha={} ppc_sigma_floor={} bands_min={} "
             "bands_max={} sigma_max={} "
             "range_sigma={} importance={} ess_threshold={} retry_factor={} sir={} sigma_sys={}",
             s.batch, s.input_error_min, s.input_sigma_sys, ppc_ != nullptr, s.ppc_alpha, s.ppc_sigma_floor,
             s.bands_min, s.bands_max, s.sigma_max, s.range_sigma, s.importance, s.ess_threshold, s.retry_factor, s.sir,
             s.sigma_sys) +
         (round_off_depends_on_threads(s) ? fmt::format(" intra_op_threads={}", s.intra_op_threads) : std::string()) +
         model::precision_setting(s.precision) + (s.calibrated() ? " " + s.calibration : std::string()) +
         (s.input_band_sigma_sys.empty()
              ? std::string()
              : fmt::format(" input_band_sigma_sys={}", fmt::join(s.input_band_sigma_sys, ",")));
}

std::vector<std::pair<std::string, std::string>> PosteriorSampler::attributes() const {
  std::vector<std::pair<std::string, std::string>> a;
  if (round_off_depends_on_threads(settings_)) {
    a.push_back({"parallel", fmt::format("intra-op, {} threads: results differ from --parallel batches (and from "
                                         "other thread counts) at float32 round-off",
                                         settings_.intra_op_threads)});
  }
  if (settings_.precision != model::Precision::kFloat32) {
    a.push_back(
        {"precision", fmt::format("{0}: the encoder's matrix products in {0}, the rest fp32 (docs/precision.md)",
                                  model::precision_name(settings_.precision))});
  }
  if (settings_.calibrated()) a.push_back({"calibration", settings_.calibration});
  if (!settings_.importance) return a;
  a.insert(a.end(), {{"importance", "log w = log prior + log L - log q (docs/posterior_format.md)"},
                     {"importance_ess_threshold", fmt::format("{}", settings_.ess_threshold)},
                     {"importance_retry_factor", fmt::format("{}", settings_.retry_factor)},
                     {"likelihood_sigma_sys", fmt::format("{}", settings_.sigma_sys)}});
  return a;
}

// One block through the sampler: the block's observed bands, then batches of stars
// through the network (each batch writes disjoint rows of `out`, so workers need no
// locking), then for each star its summaries, posterior-predictive check and importance
// weights.
class PosteriorSampler::BlockJob {
 public:
  BlockJob(PosteriorSampler& sampler, const StarBlock& block, BlockResult& out)
      : p_(sampler),
        s_(sampler.settings_),
        block_(block),
        out_(out),
        S_(s_.samples),
        col_sir_(kImpFixedCount + (s_.keep_samples ? 2 : 0)),
        col_physical_(col_sir_ + (s_.sir ? 1 : 0)) {}

  void run();

 private:
  static constexpr int D = model::kNumParams;

  void collect_bands();
  void flag_training_range();
  void process(std::size_t c0, BatchScratch& sc);
  model::ObservationBatch make_batch(std::size_t c0, std::size_t B, torch::Tensor& normal, torch::Tensor& uniform);
  void add_star_tokens(std::size_t c0, std::size_t B, model::ObservationBatch& batch) const;
  void summarise_star(std::size_t r, const double* ts, BatchScratch& sc);
  double reweight(std::size_t r, const double* ts, const double* lq, int n, BatchScratch& sc);
  void store_importance(std::size_t r, const double* ts, int n, double ess, BatchScratch& sc);
  void retry(std::size_t c0, const std::vector<std::int64_t>& retry, const torch::Tensor& context, BatchScratch& sc);

  PosteriorSampler& p_;
  const SamplerSettings& s_;
  const StarBlock& block_;
  BlockResult& out_;
  const int S_;
  // The extra columns' positions (extra_columns()): log q and log w (kept samples) first.
  static constexpr std::size_t col_log_q_ = kImpFixedCount;
  const std::size_t col_sir_, col_physical_;
  // Observed bands per star (CSR): model filter ids, magnitudes (less any calibration
  // offset), errors as the network sees them, and with a calibration the PPC's errors
  // (err and σ_sys,b in quadrature).
  std::vector<std::size_t> start_;
  std::vector<int> band_;
  std::vector<float> mag_, err_, ppc_err_;
  std::vector<std::size_t> todo_;  // rows to sample, grouped by band count
};

void PosteriorSampler::run(const StarBlock& block, BlockResult& out) { BlockJob(*this, block, out).run(); }

void PosteriorSampler::BlockJob::run() {
  const std::size_t R = block_.rows;
  const int C = block_.n_columns;
  if (block_.column_filter.size() != static_cast<std::size_t>(C) || block_.mag.size() != R * C ||
      block_.err.size() != R * C) {
    fail_input("sampler: block of {} rows × {} columns has inconsistent arrays", R, C);
  }
  out_.reset(R, S_, s_.keep_samples, p_.extra_columns());
  collect_bands();
  flag_training_range();
  // Group by band count to limit padding; stable, so the order is a function of the block alone.
  std::stable_sort(todo_.begin(), todo_.end(),
                   [&](std::size_t a, std::size_t b) { return start_[a + 1] - start_[a] < start_[b + 1] - start_[b]; });

  const auto B_max = static_cast<std::size_t>(s_.batch);
  const std::size_t n_batches = (todo_.size() + B_max - 1) / B_max;
  const auto workers = static_cast<std::size_t>(std::max(1, s_.workers));
  if (workers == 1) {  // the caller's thread, with its intra-op threads (--parallel intra-op, or one thread)
    BatchScratch sc;
    for (std::size_t c0 = 0; c0 < todo_.size(); c0 += B_max) process(c0, sc);
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

void PosteriorSampler::BlockJob::collect_bands() {
  const std::size_t R = block_.rows;
  const int C = block_.n_columns;
  start_.assign(R + 1, 0);
  band_.reserve(R * C);
  mag_.reserve(R * C);
  err_.reserve(R * C);
  const bool calibrated = s_.calibrated();
  for (std::size_t r = 0; r < R; ++r) {
    for (int j = 0; j < C; ++j) {
      if (!block_.usable(r, j)) continue;
      const int f = block_.column_filter[static_cast<std::size_t>(j)];
      band_.push_back(f);
      if (calibrated) {
        mag_.push_back(static_cast<float>(block_.mag[r * C + j] - s_.magnitude_offset(f)));
      } else {
        mag_.push_back(block_.mag[r * C + j]);  // as float, bitwise what it was before calibrations existed
      }
      err_.push_back(training_error(block_.err[r * C + j], s_.input_error_min, out_.flags[r]));
      if (calibrated)
        ppc_err_.push_back(static_cast<float>(simulate::in_quadrature(err_.back(), s_.likelihood_sigma_sys(f))));
    }
    start_[r + 1] = band_.size();
  }
}

// Band counts, too few bands (not sampled), and the training-range flags of the rest.
void PosteriorSampler::BlockJob::flag_training_range() {
  const int min_bands = std::max(s_.bands_min, 1);
  for (std::size_t r = 0; r < block_.rows; ++r) {
    const int k = static_cast<int>(start_[r + 1] - start_[r]);
    out_.n_bands[r] = k;
    if (k < min_bands) {
      out_.flags[r] |= kFlagTooFewBands;
      continue;
    }
    todo_.push_back(r);
    bool outside = s_.bands_max > 0 && k > s_.bands_max;
    double centre = 0.0;
    for (std::size_t i = start_[r]; i < start_[r + 1]; ++i) centre += mag_[i];
    centre /= k;
    for (std::size_t i = start_[r]; i < start_[r + 1]; ++i) {
      const auto f = static_cast<std::size_t>(band_[i]);
      const double feature = (mag_[i] - centre - p_.mag_mean_[f]) / p_.mag_std_[f];
      if (!(std::abs(feature) <= s_.range_sigma)) outside = true;
      if (err_[i] > s_.sigma_max * (1.0 + 1e-6)) outside = true;
    }
    if (outside) out_.flags[r] |= kFlagOutsideTrainingRange;
  }
}

// The network's input for stars todo_[c0, c0 + B), padded to the widest, and each
// star's random numbers.
model::ObservationBatch PosteriorSampler::BlockJob::make_batch(std::size_t c0, std::size_t B, torch::Tensor& normal,
                                                               torch::Tensor& uniform) {
  std::int64_t width = 0;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t r = todo_[c0 + b];
    width = std::max<std::int64_t>(width, static_cast<std::int64_t>(start_[r + 1] - start_[r]));
  }
  const auto Bi = static_cast<std::int64_t>(B);
  auto ids = torch::zeros({Bi, width}, torch::kInt64);
  auto mags = torch::zeros({Bi, width}, torch::kFloat32);
  auto errs = torch::ones({Bi, width}, torch::kFloat32);
  auto mask = torch::zeros({Bi, width}, torch::kBool);
  normal = torch::empty({Bi, S_, D}, torch::kFloat32);
  uniform = torch::empty({Bi, S_}, torch::kFloat32);
  auto* pid = ids.data_ptr<std::int64_t>();
  auto* pm = mags.data_ptr<float>();
  auto* pe = errs.data_ptr<float>();
  auto* pk = mask.data_ptr<bool>();
  auto* pn = normal.data_ptr<float>();
  auto* pu = uniform.data_ptr<float>();
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t r = todo_[c0 + b];
    std::size_t s = 0;
    for (std::size_t i = start_[r]; i < start_[r + 1]; ++i, ++s) {
      const std::size_t o = b * static_cast<std::size_t>(width) + s;
      pid[o] = band_[i];
      pm[o] = mag_[i];
      pe[o] = static_cast<float>(simulate::in_quadrature(err_[i], s_.input_sigma_sys_of(band_[i])));  // as in training
      pk[o] = true;
    }
    star_random_numbers(s_.seed, block_.row0 + r, S_, pn + b * S_ * D, pu + b * S_);
  }
  model::ObservationBatch batch{ids, mags, errs, mask};
  add_star_tokens(c0, B, batch);
  return batch;
}

// The model's star tokens (parallax, A_V prior) from the block's constraints; NaN = none.
void PosteriorSampler::BlockJob::add_star_tokens(std::size_t c0, std::size_t B, model::ObservationBatch& batch) const {
  const bool parallax_token = p_.model_->config().parallax_token;
  const bool av_token = p_.model_->config().av_prior_token;
  if (!(parallax_token || av_token) || block_.constraints.empty()) return;
  const auto Bi = static_cast<std::int64_t>(B);
  auto nans = [Bi] { return torch::full({Bi}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32); };
  if (parallax_token) {
    batch.parallax = nans();
    batch.parallax_err = nans();
  }
  if (av_token) {
    batch.av_prior = nans();
    batch.av_prior_err = nans();
  }
  for (std::size_t b = 0; b < B; ++b) {
    const double* c = block_.constraints.data() + todo_[c0 + b] * static_cast<std::size_t>(kConstraintCount);
    if (parallax_token) {
      batch.parallax.data_ptr<float>()[b] = static_cast<float>(c[kParallax] - s_.parallax_zero_point);
      batch.parallax_err.data_ptr<float>()[b] = static_cast<float>(c[kParallaxErr]);
    }
    double a = 0, w = 0;
    if (av_token && model::av_token_from_constraints(c[kAvPrior], c[kAvPriorErr], c[kAvMax], a, w)) {
      batch.av_prior.data_ptr<float>()[b] = static_cast<float>(a);
      batch.av_prior_err.data_ptr<float>()[b] = static_cast<float>(w);
    }
  }
}

void PosteriorSampler::BlockJob::process(std::size_t c0, BatchScratch& sc) {
  torch::NoGradGuard no_grad;
  const std::size_t B = std::min(static_cast<std::size_t>(s_.batch), todo_.size() - c0);
  torch::Tensor normal, uniform;
  auto batch = make_batch(c0, B, normal, uniform);
  auto context = p_.model_->context(batch);
  auto drawn = p_.model_->sample(context, normal, uniform);
  auto theta = drawn.theta.contiguous();  // (B, S, D) float64
  const double* th = theta.data_ptr<double>();
  torch::Tensor log_q;
  if (s_.importance) log_q = drawn.log_prob.contiguous();  // (B, S) float64
  std::vector<std::int64_t> retried;                       // batch positions of stars to redraw with more proposals
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t r = todo_[c0 + b];
    const double* ts = th + b * S_ * D;
    summarise_star(r, ts, sc);
    if (s_.importance) {
      const double* lq = log_q.data_ptr<double>() + b * S_;
      const double ess = reweight(r, ts, lq, S_, sc);
      if (s_.keep_samples) {
        float* dq = out_.extra[col_log_q_].data() + r * S_;
        float* dw = out_.extra[col_log_q_ + 1].data() + r * S_;
        for (int k = 0; k < S_; ++k) {
          dq[k] = static_cast<float>(lq[k]);
          dw[k] = static_cast<float>(sc.log_w[static_cast<std::size_t>(k)]);
        }
      }
      if (s_.retry_factor > 0 && ess / S_ < s_.ess_threshold) {
        retried.push_back(static_cast<std::int64_t>(b));
      } else {
        store_importance(r, ts, S_, ess, sc);
      }
    }
  }
  if (!retried.empty()) retry(c0, retried, context, sc);
  p_.sampled_ += B;
}

// A star's flow summaries, kept samples and posterior-predictive check.
void PosteriorSampler::BlockJob::summarise_star(std::size_t r, const double* ts, BatchScratch& sc) {
  std::vector<double>& scratch = sc.values;
  for (int p = 0; p < D; ++p) {
    scratch.resize(static_cast<std::size_t>(S_));
    for (int s = 0; s < S_; ++s) scratch[static_cast<std::size_t>(s)] = ts[s * D + p];
    const posterior::ParameterSummary sm = posterior::summarize(scratch);
    out_.set_summary(r, p, sm);
    if (!std::isfinite(sm.median) || !std::isfinite(sm.std)) out_.flags[r] |= kFlagNonFinite;
  }
  if (s_.keep_samples) {
    float* dst = out_.samples.data() + r * S_ * D;
    for (int i = 0; i < S_ * D; ++i) dst[i] = static_cast<float>(ts[i]);
  }
  if (p_.ppc_) {
    const int k = static_cast<int>(start_[r + 1] - start_[r]);
    const PpcResult check =
        s_.calibrated() ? ppc_over_samples(*p_.ppc_, ts, S_, band_.data() + start_[r], mag_.data() + start_[r],
                                           ppc_err_.data() + start_[r], k, 0.0, sc.model_mags, sc.work)
                        : ppc_over_samples(*p_.ppc_, ts, S_, band_.data() + start_[r], mag_.data() + start_[r],
                                           err_.data() + start_[r], k, s_.ppc_sigma_floor, sc.model_mags, sc.work);
    out_.ppc_chi2[r] = static_cast<float>(check.chi2_dof);
    out_.ppc_p[r] = static_cast<float>(check.p);
    // Flagged: a fit worse than chance allows, or most of the posterior off the grid.
    if (check.p < s_.ppc_alpha || 2 * check.outside_grid > S_) out_.flags[r] |= kFlagPpc;
  }
}

// Importance weights of one star's n proposals (θ n×5, log q n) into sc.log_w; its ESS.
double PosteriorSampler::BlockJob::reweight(std::size_t r, const double* ts, const double* lq, int n,
                                            BatchScratch& sc) {
  sc.star.clear();
  for (std::size_t i = start_[r]; i < start_[r + 1]; ++i) {
    sc.star.add(band_[i], mag_[i], err_[i], s_.likelihood_sigma_sys(band_[i]));
  }
  apply_constraints(block_, r, *p_.target_, sc.star);
  sc.log_w.resize(static_cast<std::size_t>(n));
  sc.mu_hat.assign(static_cast<std::size_t>(n), std::numeric_limits<double>::quiet_NaN());
  for (int k = 0; k < n; ++k) {
    const double* t = ts + static_cast<std::size_t>(k) * D;
    sc.ws.mu_hat = std::numeric_limits<double>::quiet_NaN();
    const double lt = p_.target_->log_density({t[0], t[1], t[2], t[3], t[4]}, sc.star, sc.ws);
    sc.mu_hat[static_cast<std::size_t>(k)] = sc.ws.mu_hat;
    const double lw = lt - lq[k];
    sc.log_w[static_cast<std::size_t>(k)] = std::isnan(lw) || lt == -std::numeric_limits<double>::infinity()
                                                ? -std::numeric_limits<double>::infinity()
                                                : lw;
  }
  return posterior::effective_sample_size(sc.log_w.data(), sc.log_w.size());
}

// The weighted summaries, ESS, resampled draws and /physical of one star's n proposals.
void PosteriorSampler::BlockJob::store_importance(std::size_t r, const double* ts, int n, double ess,
                                                  BatchScratch& sc) {
  auto& X = out_.extra;
  for (int p = 0; p < D; ++p) {
    store_summary(posterior::summarize_weighted(ts, D, p, sc.log_w.data(), sc.log_w.size(), sc.weighted),
                  r * D + static_cast<std::size_t>(p), X[kImpMedian].data(), X[kImpMean].data(), X[kImpStd].data(),
                  X[kImpP16].data(), X[kImpP84].data(), X[kImpHdi68].data(), X[kImpHdi95].data());
  }
  X[kImpEss][r] = static_cast<float>(ess);
  X[kImpEssFraction][r] = static_cast<float>(ess / n);
  X[kImpProposals][r] = static_cast<float>(n);
  if (ess / n < s_.ess_threshold) out_.flags[r] |= kFlagLowEss;
  if (s_.sir && ess > 0) {
    resample_draws(ts, sc.log_w.data(), sc.log_w.size(), S_, s_.seed, block_.row0 + r, X[col_sir_].data() + r * S_ * D);
  }
  if (s_.physical && ess > 0) {
    physical_summary(*p_.target_, sc.star, ts, sc.mu_hat.data(), sc.log_w.data(), sc.log_w.size(), s_.seed,
                     block_.row0 + r, out_, col_physical_, r, sc.physical);
  }
}

// A second, larger proposal set from the same context for the stars at batch positions
// `retried`, with their own random numbers.
void PosteriorSampler::BlockJob::retry(std::size_t c0, const std::vector<std::int64_t>& retried,
                                       const torch::Tensor& context, BatchScratch& sc) {
  const int S2 = S_ * s_.retry_factor;
  const auto n_retry = static_cast<std::int64_t>(retried.size());
  auto idx = torch::tensor(retried, torch::kInt64);
  auto normal2 = torch::empty({n_retry, S2, D}, torch::kFloat32);
  auto uniform2 = torch::empty({n_retry, S2}, torch::kFloat32);
  for (std::int64_t k = 0; k < n_retry; ++k) {
    const std::size_t r = todo_[c0 + static_cast<std::size_t>(retried[static_cast<std::size_t>(k)])];
    star_random_numbers(s_.seed ^ 0x5245545259ull, block_.row0 + r, S2,  // "RETRY"
                        normal2.data_ptr<float>() + k * S2 * D, uniform2.data_ptr<float>() + k * S2);
  }
  auto drawn2 = p_.model_->sample(context.index_select(0, idx), normal2, uniform2);
  auto theta2 = drawn2.theta.contiguous();
  auto log_q2 = drawn2.log_prob.contiguous();
  for (std::int64_t k = 0; k < n_retry; ++k) {
    const std::size_t r = todo_[c0 + static_cast<std::size_t>(retried[static_cast<std::size_t>(k)])];
    const double* ts2 = theta2.data_ptr<double>() + k * S2 * D;
    const double ess = reweight(r, ts2, log_q2.data_ptr<double>() + k * S2, S2, sc);
    store_importance(r, ts2, S2, ess, sc);
  }
}

// ------------------------------------------------------------- catalogue jobs -----

SampleReport sample_catalog(model::PosteriorEstimator model, const CatalogReader& catalog, const SampleJob& job,
                            const SamplerSettings& settings, const simulate::Synthesizer* ppc, MPI_Comm comm,
                            const simulate::PhotometricPosterior* target) {
  const int n_filters = model->config().n_filters;
  if (job.model_filters.size() != static_cast<std::size_t>(n_filters)) {
    fail_input("the model has {} filters but {} filter names were given", n_filters, job.model_filters.size());
  }
  PosteriorSampler sampler(model, settings, ppc, target);
  return process_catalog(sampler, catalog, job, settings, ppc != nullptr, comm, "sample");
}

SampleReport sample_catalog(const CatalogReader& catalog, const SampleJob& job, const SamplerSettings& settings,
                            const simulate::Synthesizer* ppc, MPI_Comm comm,
                            const simulate::PhotometricPosterior* target) {
  const auto checkpoint = model::load_checkpoint(job.model_path, /*with_optimizer=*/false);
  return sample_catalog(model::build_model(checkpoint), catalog, job, settings, ppc, comm, target);
}

std::unique_ptr<BlockProcessor> random_posterior_sampler(const model::ModelConfig& config, std::uint64_t weight_seed,
                                                         const SamplerSettings& settings) {
  torch::manual_seed(weight_seed);
  model::PosteriorEstimator model(config);
  model->eval();
  return std::make_unique<PosteriorSampler>(model, settings);
}

}  // namespace irisml::infer
