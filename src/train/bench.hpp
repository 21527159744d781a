// `irisml bench train`: throughput of full training steps (forward, loss, backward,
// gradient averaging, clipping, Adam) on synthetic batches.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>

#include "model/config.hpp"
#include "model/precision.hpp"
#include "train/trainer.hpp"

namespace irisml::train {

struct BenchTrainOptions {
  std::int64_t batch = 64;  // stars per step
  int steps = 10;           // timed steps
  int warmup = 3;           // untimed steps first
  int min_bands = 6;        // bands per star drawn uniformly in [min_bands, max_bands]
  int max_bands = 25;
  std::uint64_t seed = 1;
  std::string device = "cpu";
  model::Precision precision = model::Precision::kFloat32;  // already resolved for the device
};

struct BenchTrainResult {
  double stars_per_second = 0.0;  // batch / median step time
  double median_seconds = 0.0;
  double best_seconds = 0.0;
  std::int64_t parameters = 0;  // trainable parameters of the model
};

// Times training steps of a freshly initialised model of `config` (n_filters must be
// set) with the training job's own optimiser, clipping and (local) gradient reducer.
// Uses the caller's torch thread settings.
BenchTrainResult bench_train(const model::ModelConfig& config, const BenchTrainOptions& options);

// The real training job (`train()` over `comm`: data batching and noise augmentation,
// forward/backward, gradient all-reduce, clipping, Adam) for warmup + steps updates in a
// temporary output directory (removed afterwards), timed from update to update on rank 0.
struct BenchTrainJobResult {
  double stars_per_second = 0.0;  // global batch / median update time
  double median_seconds = 0.0;
  double best_seconds = 0.0;
  double first_update_seconds = 0.0;  // from the call to the first update's end: data load, model, first step
  std::int64_t global_batch = 0;
  int filters = 0;  // the model's filters (the data's, or options.filters)
};
// `options` as for train(); its output directory, schedule length, checkpointing and
// validation are replaced. Collective over `comm`.
BenchTrainJobResult bench_train_job(TrainOptions options, int warmup, int steps, MPI_Comm comm);

}  // namespace irisml::train
