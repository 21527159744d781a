// Throughput benchmarks of the posterior estimator (wired into `irisml bench`).
#pragma once

#include <cstdint>

#include "model/batch.hpp"
#include "model/config.hpp"

namespace irisml::model {

// A synthetic batch: each star observes a random subset of min_bands … max_bands of
// the config's filters (distinct, shuffled), random magnitudes around 15 and errors in
// 0.005 … 0.2 mag; padded slots hold NaN. Deterministic in `seed`.
ObservationBatch random_observation_batch(std::int64_t batch, int n_filters, int min_bands, int max_bands,
                                          std::uint64_t seed);

struct BenchOptions {
  std::int64_t batch = 64;
  int min_bands = 6;       // bands per star drawn uniformly in [min_bands, max_bands]
  int max_bands = 25;
  int samples = 64;        // posterior samples per star (bench_sample)
  int warmup = 2;          // untimed iterations
  int iterations = 10;     // timed iterations
  std::uint64_t seed = 1;
};

struct BenchResult {
  double stars_per_second = 0.0;
  double seconds_per_iteration = 0.0;  // median over the timed iterations
  double best_seconds = 0.0;
};

// Full training step (context + loss, backward, Adam step) of a freshly initialised
// model of `config` in training mode. Uses the caller's torch thread settings.
BenchResult bench_train_step(const ModelConfig& config, const BenchOptions& options);

// Posterior sampling (context + `samples` samples and their log densities per star)
// in eval mode. Uses the caller's torch thread settings.
BenchResult bench_sample(const ModelConfig& config, const BenchOptions& options);

}  // namespace irisml::model
