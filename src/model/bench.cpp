#include "model/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/posterior.hpp"
#include "model/runtime.hpp"

namespace irisml::model {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

torch::Tensor random_theta(std::int64_t batch, std::uint64_t seed) {
  Philox rng(seed, 0x7E7Au);
  auto theta = torch::empty({batch, kNumParams}, torch::kFloat64);
  auto a = theta.accessor<double, 2>();
  for (std::int64_t i = 0; i < batch; ++i) {
    a[i][0] = std::pow(10.0, rng.uniform(3.5, 4.2));
    a[i][1] = rng.uniform(0.5, 5.0);
    a[i][2] = rng.normal(-0.1, 0.3);
    a[i][3] = 0.003 + rng.exponential(1.5);
    a[i][4] = rng.normal(3.13, 0.18);
  }
  return theta;
}

BenchResult summarise(std::vector<double> times, std::int64_t batch) {
  std::sort(times.begin(), times.end());
  BenchResult r;
  r.seconds_per_iteration = times[times.size() / 2];
  r.best_seconds = times.front();
  r.stars_per_second = static_cast<double>(batch) / r.seconds_per_iteration;
  return r;
}

void check(const ModelConfig& config, const BenchOptions& o) {
  config.validate();
  if (o.batch < 1 || o.iterations < 1 || o.warmup < 0 || o.samples < 1 || o.min_bands < 0 ||
      o.max_bands < o.min_bands || o.max_bands > config.n_filters) {
    fail_input("bench: invalid options batch={} iterations={} warmup={} samples={} bands={}..{} (n_filters={})",
               o.batch, o.iterations, o.warmup, o.samples, o.min_bands, o.max_bands, config.n_filters);
  }
}

}  // namespace

ObservationBatch random_observation_batch(std::int64_t batch, int n_filters, int min_bands, int max_bands,
                                          std::uint64_t seed) {
  if (batch < 0 || min_bands < 0 || max_bands < min_bands || max_bands > n_filters) {
    fail_input("random_observation_batch: batch={} bands={}..{} with {} filters", batch, min_bands, max_bands,
               n_filters);
  }
  const std::int64_t S = n_filters;
  auto ids = torch::zeros({batch, S}, torch::kInt64);
  auto mags = torch::full({batch, S}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  auto errs = torch::full({batch, S}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  auto mask = torch::zeros({batch, S}, torch::kBool);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mags.accessor<float, 2>();
  auto ea = errs.accessor<float, 2>();
  auto ka = mask.accessor<bool, 2>();
  std::vector<int> perm(static_cast<size_t>(n_filters));
  for (std::int64_t b = 0; b < batch; ++b) {
    Philox rng(seed, static_cast<std::uint64_t>(b));
    const int n = min_bands + static_cast<int>(rng.uniform() * (max_bands - min_bands + 1));
    std::iota(perm.begin(), perm.end(), 0);
    for (int i = n_filters - 1; i > 0; --i) {
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(std::min(i, static_cast<int>(rng.uniform() * (i + 1))))]);
    }
    const double base = rng.uniform(10.0, 18.0);
    for (int j = 0; j < std::min(n, max_bands); ++j) {
      ia[b][j] = perm[static_cast<size_t>(j)];
      ma[b][j] = static_cast<float>(base + rng.normal(0.0, 1.0));
      ea[b][j] = static_cast<float>(std::exp(rng.uniform(std::log(0.005), std::log(0.2))));
      ka[b][j] = true;
    }
  }
  return {ids, mags, errs, mask};
}

BenchResult bench_train_step(const ModelConfig& config, const BenchOptions& o) {
  check(config, o);
  tune_cpu_allocator();
  torch::manual_seed(static_cast<std::uint64_t>(o.seed));
  PosteriorEstimator model(config);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(5e-4));
  std::vector<double> times;
  for (int it = 0; it < o.warmup + o.iterations; ++it) {
    auto batch = random_observation_batch(o.batch, config.n_filters, o.min_bands, o.max_bands,
                                          o.seed * 1000003u + static_cast<std::uint64_t>(it));
    auto theta = random_theta(o.batch, o.seed + static_cast<std::uint64_t>(it));
    const double t0 = now_seconds();
    optimizer.zero_grad();
    auto loss = model->loss(batch, theta);
    loss.backward();
    optimizer.step();
    const double t1 = now_seconds();
    if (it >= o.warmup) times.push_back(t1 - t0);
  }
  return summarise(times, o.batch);
}

BenchResult bench_sample(const ModelConfig& config, const BenchOptions& o) {
  check(config, o);
  tune_cpu_allocator();
  torch::manual_seed(static_cast<std::uint64_t>(o.seed));
  PosteriorEstimator model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<double> times;
  for (int it = 0; it < o.warmup + o.iterations; ++it) {
    auto batch = random_observation_batch(o.batch, config.n_filters, o.min_bands, o.max_bands,
                                          o.seed * 1000003u + static_cast<std::uint64_t>(it));
    auto normal = torch::randn({o.batch, o.samples, kNumParams});
    auto uniform = torch::rand({o.batch, o.samples});
    const double t0 = now_seconds();
    auto ctx = model->context(batch);
    auto result = model->sample(ctx, normal, uniform);
    const double t1 = now_seconds();
    if (it >= o.warmup) times.push_back(t1 - t0);
  }
  return summarise(times, o.batch);
}

}  // namespace irisml::model
