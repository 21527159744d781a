#include "train/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/error_stats.hpp"
#include "core/rng.hpp"
#include "core/shard.hpp"
#include "distributed/collectives.hpp"
#include "model/normalizer.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"

namespace irisml::train {

namespace {

inline constexpr std::uint64_t kTestNoiseStream = 0x544553544eull;
inline constexpr std::uint64_t kTestSampleStream = 0x5445535453ull;

double median_of(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = 0.5 * (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
  return m;
}

}  // namespace

std::string QualityReport::markdown() const {
  std::string out = fmt::format(
      "| parameter | posterior median RMS | mean abs | bias | training-median RMS | mean abs |\n"
      "|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    out += fmt::format("| {} | {:.4g} | {:.4g} | {:+.3g} | {:.4g} | {:.4g} |\n", r.parameter, r.rms, r.mean_abs, r.bias,
                       r.baseline_rms, r.baseline_mean_abs);
  }
  return out;
}

namespace {

QualityReport evaluate_model(model::PosteriorEstimator& model, const std::vector<std::string>& filters,
                             const QualityOptions& o, MPI_Comm comm) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.samples < 1 || o.batch < 1) fail_input("evaluate: samples={} and batch={} must be >= 1", o.samples, o.batch);
  const int rank = distributed::rank_of(comm), size = distributed::size_of(comm);
  o.noise.validate(static_cast<int>(filters.size()));
  auto test = load_training_table(o.test_data, filters, comm, "--data");
  // Baseline: the median of each parameter over the training set.
  std::vector<double> baseline(5);
  {
    TrainingTable train_table;
    const TrainingTable* ref = &test;
    if (!o.train_data.empty()) {
      train_table = load_training_table(o.train_data, filters, comm, "--train-data");
      ref = &train_table;
    }
    for (int k = 0; k < 5; ++k) {
      std::vector<double> column(static_cast<std::size_t>(ref->rows));
      for (std::int64_t i = 0; i < ref->rows; ++i) column[static_cast<std::size_t>(i)] = ref->parameters_of(i)[k];
      baseline[static_cast<std::size_t>(k)] = median_of(std::move(column));
    }
  }
  const std::int64_t n = o.max_stars > 0 ? std::min(o.max_stars, test.rows) : test.rows;
  auto [begin, end] = shard_range(static_cast<std::uint64_t>(n), rank, size);
  // per parameter: errors of the model's median and of the baseline (the training median)
  std::vector<ErrorSums> model_err(5), base_err(5);
  double stars = 0, bands = 0;
  model->eval();
  torch::NoGradGuard no_grad;
  const auto device = model->parameters().front().device();
  const auto noise_seed = stream_seed(o.seed, kTestNoiseStream);
  const auto sample_seed = stream_seed(o.seed, kTestSampleStream);
  std::vector<std::int64_t> rows;
  for (std::uint64_t i = begin; i < end; i += static_cast<std::uint64_t>(o.batch)) {
    const auto count = static_cast<std::int64_t>(std::min<std::uint64_t>(end - i, static_cast<std::uint64_t>(o.batch)));
    rows.resize(static_cast<std::size_t>(count));
    for (std::int64_t k = 0; k < count; ++k) rows[static_cast<std::size_t>(k)] = static_cast<std::int64_t>(i) + k;
    auto batch = make_batch(test, rows.data(), count, o.noise, noise_seed, 0);
    // per-star randomness for the draws, so results do not depend on batching
    auto normal = torch::empty({count, o.samples, 5}, torch::kFloat32);
    auto uniform = torch::empty({count, o.samples}, torch::kFloat32);
    auto* np = normal.data_ptr<float>();
    auto* up = uniform.data_ptr<float>();
    for (std::int64_t b = 0; b < count; ++b) {
      Philox rng(sample_seed, static_cast<std::uint64_t>(rows[static_cast<std::size_t>(b)]));
      for (int s = 0; s < o.samples * 5; ++s) np[b * o.samples * 5 + s] = static_cast<float>(rng.normal());
      for (int s = 0; s < o.samples; ++s) up[b * o.samples + s] = static_cast<float>(rng.uniform());
    }
    auto ctx = model->context(batch.observations.to(device));
    auto draws = model->sample(ctx, normal.to(ctx.device()), uniform.to(ctx.device())).theta.to(torch::kCPU);
    auto median = std::get<0>(draws.median(/*dim=*/1)).contiguous();  // (count, 5)
    auto* mp = median.data_ptr<double>();
    for (std::int64_t b = 0; b < count; ++b) {
      const double* truth = test.parameters_of(rows[static_cast<std::size_t>(b)]);
      for (int k = 0; k < 5; ++k) {
        model_err[static_cast<std::size_t>(k)].add(mp[b * 5 + k] - truth[k]);
        base_err[static_cast<std::size_t>(k)].add(baseline[static_cast<std::size_t>(k)] - truth[k]);
      }
    }
    stars += static_cast<double>(count);
    bands += batch.observations.mask.sum().item<double>();
  }
  // one sum over ranks: 10 ErrorSums, then stars and bands
  std::vector<double> total(10 * ErrorSums::kFields + 2);
  for (std::size_t k = 0; k < 5; ++k) {
    model_err[k].pack(&total[k * ErrorSums::kFields]);
    base_err[k].pack(&total[(5 + k) * ErrorSums::kFields]);
  }
  total[10 * ErrorSums::kFields] = stars;
  total[10 * ErrorSums::kFields + 1] = bands;
  distributed::sum_over_ranks(total, comm);
  QualityReport report;
  report.stars = static_cast<std::int64_t>(total[10 * ErrorSums::kFields]);
  report.mean_bands = total[10 * ErrorSums::kFields + 1] / std::max(total[10 * ErrorSums::kFields], 1.0);
  const auto& names = model::parameter_names();
  for (std::size_t k = 0; k < 5; ++k) {
    const auto m = ErrorSums::unpack(&total[k * ErrorSums::kFields]);
    const auto b = ErrorSums::unpack(&total[(5 + k) * ErrorSums::kFields]);
    QualityRow r;
    r.parameter = names[k];
    r.rms = m.rms();
    r.mean_abs = m.mean_abs();
    r.bias = m.bias();
    r.baseline_rms = b.rms();
    r.baseline_mean_abs = b.mean_abs();
    r.baseline_value = baseline[k];
    report.rows.push_back(r);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace

QualityReport evaluate_quality(const std::string& checkpoint_path, const QualityOptions& options, MPI_Comm comm) {
  const auto checkpoint = model::load_checkpoint(checkpoint_path, /*with_optimizer=*/false);
  auto model = model::build_model(checkpoint);
  auto report = evaluate_model(model, checkpoint.filters, options, comm);
  report.checkpoint_step = checkpoint.step;
  return report;
}

}  // namespace irisml::train
