#include "train/bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "distributed/collectives.hpp"
#include "distributed/communicator.hpp"
#include "distributed/gradient_reducer.hpp"
#include "model/posterior.hpp"
#include "model/synthetic.hpp"
#include "train/optimizer.hpp"

namespace irisml::train {

BenchTrainResult bench_train(const model::ModelConfig& config, const BenchTrainOptions& o) {
  config.validate();
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0 || o.min_bands < 1 || o.max_bands < o.min_bands ||
      o.max_bands > config.n_filters) {
    fail_input("bench train: invalid options batch={} steps={} warmup={} bands={}..{} (the model has {} filters)",
               o.batch, o.steps, o.warmup, o.min_bands, o.max_bands, config.n_filters);
  }
  torch::manual_seed(o.seed);
  torch::Device device(o.device);
  model::PosteriorEstimator model(config);
  model->to(device);
  model->train();
  model->set_precision(o.precision);
  distributed::LocalCommunicator comm;
  distributed::GradientReducer reducer(*model, comm);
  NamedTensors named;
  std::vector<torch::Tensor> params;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    named.emplace_back(item.key(), item.value());
    params.push_back(item.value());
  }
  Adam adam(named);
  BenchTrainResult result;
  for (const auto& p : params) result.parameters += p.numel();
  std::vector<double> times;
  for (int it = 0; it < o.warmup + o.steps; ++it) {
    const auto seed = o.seed * 1000003u + static_cast<std::uint64_t>(it);
    auto batch = model::random_observation_batch(o.batch, config.n_filters, o.min_bands, o.max_bands, seed).to(device);
    auto theta = model::random_theta(o.batch, seed).to(device);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double t0 = now_seconds();
    adam.zero_grad();
    auto loss = model->loss(batch, theta);
    loss.backward();
    reducer.average_gradients();
    clip_grad_norm(params, 1.0);
    adam.step(5e-4);
    (void)loss.item<double>();  // waits for the device
    const double t1 = now_seconds();
    if (it >= o.warmup) times.push_back(t1 - t0);
  }
  std::sort(times.begin(), times.end());
  result.median_seconds = times[times.size() / 2];
  result.best_seconds = times.front();
  result.stars_per_second = static_cast<double>(o.batch) / result.median_seconds;
  return result;
}

BenchTrainJobResult bench_train_job(TrainOptions o, int warmup, int steps, MPI_Comm comm) {
  if (warmup < 1 || steps < 1) fail_input("bench train --data: warmup={} and steps={} must be >= 1", warmup, steps);
  const int rank = distributed::rank_of(comm);
  std::string dir;
  if (rank == 0) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/irisml_bench_train_XXXXXX";
    if (!mkdtemp(pattern.data())) fail_io("bench train: cannot create a temporary directory from '{}'", pattern);
    dir = pattern;
  }
  dir = distributed::broadcast_from_root(dir, comm);
  o.output_dir = dir;
  o.max_steps = warmup + steps;
  o.validation.clear();
  o.validation_fraction = 0.0;
  o.checkpoint_every = 0;
  o.keep_best = false;
  o.log_every = o.max_steps + 1;
  o.resume = o.resume_if_present = false;
  o.overwrite = true;
  std::vector<double> marks;
  o.on_step = [&](std::int64_t, double) { marks.push_back(now_seconds()); };
  const double t0 = now_seconds();
  BenchTrainJobResult r;
  TrainResult run;
  try {
    run = train(o, comm);
  } catch (...) {
    if (rank == 0) std::filesystem::remove_all(dir);
    throw;
  }
  if (rank == 0) std::filesystem::remove_all(dir);
  std::vector<double> times;
  for (std::size_t k = static_cast<std::size_t>(warmup); k < marks.size(); ++k)
    times.push_back(marks[k] - marks[k - 1]);
  std::sort(times.begin(), times.end());
  r.median_seconds = times[times.size() / 2];
  r.best_seconds = times.front();
  r.first_update_seconds = marks.front() - t0;
  r.global_batch = o.batch_size;
  r.stars_per_second = static_cast<double>(o.batch_size) / r.median_seconds;
  r.filters = run.n_filters;
  return r;
}

}  // namespace irisml::train
