// train, bench train.
#include <mpi.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/options.hpp"
#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/log.hpp"
#include "distributed/collectives.hpp"
#include "model/config.hpp"
#include "model/runtime.hpp"
#include "simulate/filters.hpp"
#include "simulate/calibration.hpp"
#include "simulate/noise.hpp"
#include "simulate/photometry.hpp"
#include "train/bench.hpp"
#include "train/evaluate.hpp"
#include "train/trainer.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "dev"
#endif

namespace irisml::cli {

namespace {

// noise.* options ([noise] section): the augmentation of simulate/noise.hpp.
// Processes of this job on this node (for the default thread count and the GPU).
// "cpu", "cuda" (GPU = local rank) or "cuda:N".
std::string resolve_device(const std::string& requested, int local_rank) {
  if (requested == "cpu") return "cpu";
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (!model::cuda_available()) {
      fail_input(
          "--device {}: no CUDA device is available to this process (LibTorch without CUDA, or no GPU "
          "visible); use --device cpu",
          requested);
    }
    if (requested != "cuda") return requested;
    const int n = model::cuda_device_count();
    return fmt::format("cuda:{}", local_rank % std::max(n, 1));
  }
  fail_input("--device '{}' is not known; allowed: cpu, cuda, cuda:N", requested);
}

long long nonnegative(const po::variables_map& vm, const std::string& name) {
  auto v = vm[name].as<long long>();
  if (v < 0) fail_input("--{} = {} must be >= 0", name, v);
  return v;
}

// --filters: a comma list of registry bands or set names ("paper,Gaia_DR2_G"); empty =
// the data's.
std::vector<std::string> model_filters_from(const po::variables_map& vm) {
  const std::string text = vm["filters"].as<std::string>();
  if (split_list(text).empty()) return {};
  return load_registry(vm).resolve(text);
}

// `bench train --data`: the real job at this rank count, then synthetic batches of the
// same per-rank size on every rank at once (the job's compute without its data path and
// all-reduce); prints both and their ratio.
int bench_train_job_command(const po::variables_map& vm, const Context& ctx) {
  train::TrainOptions t;
  t.data = vm["data"].as<std::string>();
  t.filters = model_filters_from(vm);
  t.model = model_config_from(vm);
  t.noise = noise_from(vm);
  t.batch_size = vm["batch"].as<long long>();
  t.seed = static_cast<std::uint64_t>(vm["seed"].as<long long>());
  const std::string device = vm["device"].as<std::string>();
  t.device = resolve_device(device == "auto" ? "cpu" : device, ctx.local_rank);
  t.code_version = IRISML_VERSION;
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);
  const int warmup = std::max(vm["warmup"].as<int>(), 1), steps = vm["steps"].as<int>();
  const auto precisions = precisions_from(vm, t.device, ctx.rank);
  double first_job = 0.0;
  for (const auto precision : precisions) {
    t.precision = precision;
    auto job = train::bench_train_job(t, warmup, steps, ctx.comm);

    model::ModelConfig config = t.model;
    config.n_filters = job.filters;
    train::BenchTrainOptions so;
    so.batch = t.batch_size / ctx.size;
    so.steps = steps;
    so.warmup = warmup;
    so.min_bands = std::min(t.noise.bands_min, job.filters);
    so.max_bands = t.noise.bands_max > 0 ? std::min(t.noise.bands_max, job.filters) : job.filters;
    so.seed = t.seed;
    so.device = t.device;
    so.precision = precision;
    distributed::barrier(ctx.comm);
    const double synthetic = distributed::sum_over_ranks(train::bench_train(config, so).stars_per_second, ctx.comm);
    if (first_job == 0.0) first_job = job.stars_per_second;
    if (ctx.rank == 0) {
      std::cout << fmt::format(
          "bench train job: ranks={} threads={} blas=[{}] device={} precision={} data={} filters={} global_batch={} "
          "({} per rank) model=[{}] median_step_s={:.4f} best_step_s={:.4f} stars_per_s={:.1f} first_update_s={:.1f} "
          "| synthetic same batch per rank, all ranks at once: stars_per_s={:.1f} | job/synthetic={:.3f}{}\n",
          ctx.size, threads, blas_description(), t.device, model::precision_name(precision), t.data, job.filters,
          job.global_batch, so.batch, config.describe(), job.median_seconds, job.best_seconds, job.stars_per_second,
          job.first_update_seconds, synthetic, job.stars_per_second / synthetic,
          vs_first_precision(precisions.size(), job.stars_per_second, first_job));
    }
  }
  return 0;
}

}  // namespace

namespace {

// train's options, bound to the fields of `o` (their defaults are its values). Options
// that need converting (filters, seed, calibration, device, bucket size, …) are read by
// finish_train_options.
void add_train_options(Command& cmd, train::TrainOptions& o) {
  add_common_options(cmd);
  add_model_options(cmd);
  add_noise_options(cmd);
  add_precision_option(cmd);
  auto real = [](double& field) { return po::value<double>(&field)->default_value(field, fmt::format("{}", field)); };
  auto steps = [](std::int64_t& field, const char* name) {
    return po::value<std::int64_t>(&field)->default_value(field)->notifier([name](std::int64_t v) {
      if (v < 0) fail_input("--{} = {} must be >= 0", name, v);
    });
  };
  // clang-format off
  cmd.options.add_options()
      ("data", po::value<std::string>(&o.data)->required(), "training set (HDF5 from `irisml simulate`)")
      ("validation", po::value<std::string>(&o.validation)->default_value(o.validation),
       "separate validation set (default: hold out the last validation-fraction of --data)")
      ("output-dir", po::value<std::string>(&o.output_dir)->required(),
       "run directory: checkpoint.h5, best.h5, train_log.jsonl")
      ("filters", po::value<std::string>()->default_value(""),
       "the model's filters: bands or registry set names, a comma list (subset of the data's, in this order; default: "
       "all of the data's)")
      ("epochs", po::value<std::int64_t>(&o.epochs)->default_value(o.epochs), "epochs (passes over the training rows)")
      ("max-steps", steps(o.max_steps, "max-steps"),
       "train this many updates in all instead (also the schedule's length); 0 = epochs decide")
      ("batch-size", po::value<std::int64_t>(&o.batch_size)->default_value(o.batch_size),
       "GLOBAL batch (stars per update over all ranks; must be divisible by the rank count)")
      ("lr", real(o.lr), "peak learning rate (Adam)")
      ("min-lr", real(o.min_lr), "learning rate at the end of the cosine")
      ("warmup-steps", po::value<std::int64_t>(&o.warmup_steps)->default_value(o.warmup_steps),
       "linear warm-up steps (>= 0 overrides warmup-epochs)")
      ("warmup-epochs", real(o.warmup_epochs), "linear warm-up length in epochs")
      ("weight-decay", real(o.weight_decay), "decoupled weight decay (AdamW); 0 = off")
      ("adam-eps", real(o.adam_eps), "Adam epsilon")
      ("clip", real(o.clip), "clip the global gradient norm to this; <= 0 = off")
      ("validation-fraction", real(o.validation_fraction),
       "fraction of --data rows (the last ones) held out for validation when there is no --validation")
      ("validation-batch", po::value<std::int64_t>(&o.validation_batch)->default_value(o.validation_batch),
       "stars per validation batch")
      ("checkpoint-every", steps(o.checkpoint_every, "checkpoint-every"),
       "write checkpoint.h5 every this many steps (also at each epoch end); 0 = epoch ends only")
      ("log-every", po::value<std::int64_t>(&o.log_every)->default_value(o.log_every), "steps between log lines")
      ("keep-best", po::value<bool>(&o.keep_best)->default_value(o.keep_best),
       "also keep best.h5 (lowest validation loss)")
      ("seed", po::value<long long>()->default_value(static_cast<long long>(o.seed)),
       "seed of the shuffle, noise, dropout and initialisation")
      ("resume", po::bool_switch(&o.resume), "continue from <output-dir>/checkpoint.h5 (must exist)")
      ("resume-if-present", po::bool_switch(&o.resume_if_present),
       "continue if <output-dir>/checkpoint.h5 exists, else start fresh")
      ("overwrite", po::bool_switch(&o.overwrite),
       "start fresh in an output dir that holds a checkpoint (replaced at the first save)")
      ("calibration", po::value<std::string>()->default_value(""),
       "per-band calibration file of `irisml calibrate`: its sigma_sys replace noise.sigma_sys band by band in the "
       "training noise; the checkpoint records it and sample/fit use it by default (docs/observation_model.md)")
      ("init-from", po::value<std::string>(&o.finetune.init_from)->default_value(o.finetune.init_from),
       "fine-tune: start from this trained checkpoint, whose filters must be a subset of this run's; new bands get "
       "embedding rows (from the nearest band by pivot wavelength) and magnitude statistics; its own schedule "
       "(docs/fine_tuning.md)")
      ("freeze-steps", steps(o.finetune.freeze_steps, "freeze-steps"),
       "with --init-from: the first N updates train only the new bands' embedding rows, then everything")
      ("freeze-train-norms", po::bool_switch(&o.finetune.freeze_train_norms),
       "with --freeze-steps: the layer norms train in the freeze phase too")
      ("allow-prior-change", po::bool_switch(&o.finetune.allow_prior_change),
       "with --init-from: accept training data simulated from another prior or grid than the checkpoint's")
      ("threads", po::value<int>()->default_value(0), "torch CPU threads per rank (0 = cores / ranks on the node)")
      ("device", po::value<std::string>()->default_value(o.device), "cpu, or cuda (one GPU per rank, by local rank)")
      ("backend", po::value<std::string>(&o.backend)->default_value(o.backend),
       "gradient all-reduce: auto (nccl on GPUs when built with it, else mpi, local for one rank) | local | mpi | nccl")
      ("bucket-mb", po::value<double>()->default_value(static_cast<double>(o.bucket_bytes) / (1 << 20),
                                                       fmt::format("{}", static_cast<double>(o.bucket_bytes) / (1 << 20))),
       "all-reduce bucket size [MiB]")
      ("overlap", po::value<bool>(&o.overlap)->default_value(o.overlap), "start bucket all-reduces during backward");
  // clang-format on
}

// The rest of the training job's options, from the parsed command line: those that are
// converted or loaded, and the checks that span several.
void finish_train_options(const po::variables_map& vm, const Context& ctx, train::TrainOptions& o) {
  for (const char* file : {"checkpoint.h5", "best.h5", "train_log.jsonl"}) {
    check_output_against_inputs(vm, join_path(o.output_dir, file), "--output-dir");
  }
  o.filters = model_filters_from(vm);
  o.known_filters = load_registry(vm).names();
  o.model = model_config_from(vm);
  o.noise = noise_from(vm);
  if (const std::string path = vm["calibration"].as<std::string>(); !path.empty()) {
    o.calibration = std::make_shared<const simulate::Calibration>(simulate::Calibration::load(path, o.known_filters));
  }
  const long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  o.seed = static_cast<std::uint64_t>(seed);
  if (!o.finetune.init_from.empty()) {
    const auto registry = load_registry(vm);
    for (const auto& name : registry.names()) {
      try {  // a band whose curve cannot be read starts from the mean row (finetune.hpp)
        o.finetune.pivot_wavelengths[name] =
            simulate::pivot_wavelength(registry.curve(name), registry.get(name).detector);
      } catch (const Error& e) {
        log::warn("train --init-from: no pivot wavelength for {} ({})", name, e.what());
      }
    }
  }
  const double bucket_mb = vm["bucket-mb"].as<double>();
  if (!(bucket_mb > 0)) fail_input("--bucket-mb = {} must be > 0", bucket_mb);
  o.bucket_bytes = static_cast<std::size_t>(bucket_mb * 1024.0 * 1024.0);
  o.code_version = IRISML_VERSION;
  o.device = resolve_device(vm["device"].as<std::string>(), ctx.local_rank);
  o.precision = precision_from(vm, o.device, ctx.rank);
}

}  // namespace

int run_train(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("train",
              "Train the posterior estimator (set transformer + conditional MAF) on a simulated training set, data-"
              "parallel over MPI ranks (CPU) or one rank per GPU (NCCL). Writes <output-dir>/checkpoint.h5 (latest), "
              "best.h5 (lowest validation loss) and train_log.jsonl. SIGTERM or SIGUSR1: the current step finishes, "
              "a checkpoint is written and the exit code is 3 (rerun with --resume; jobs/train.sbatch does this).",
              "mpirun -np N irisml train --config configs/paper.ini --data train.h5 [--validation val.h5] --output-dir "
              "run/ [--epochs E] [--max-steps K] [--batch-size B] [--resume | --overwrite] [--device cpu|cuda]\n"
              "fine-tune: irisml train --init-from old/checkpoint.h5 --data with_new_bands.h5 --output-dir ft/ "
              "--max-steps K [--freeze-steps N]\n"
              "exit codes: 0 done, 1 runtime error (non-finite loss, I/O), 2 bad input, 3 interrupted after a "
              "checkpoint",
              {"train", "model", "noise"});
  train::TrainOptions o;
  add_train_options(cmd, o);
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  finish_train_options(vm, ctx, o);
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);
  log::info("train: {} CPU thread(s) per rank ({}), {} rank(s) on this node", threads, blas_description(),
            ctx.local_size);

  auto result = train::train(o, ctx.comm);
  return result.interrupted ? train::kExitInterrupted : 0;
}

int run_bench_train(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("bench train",
              "Time training steps (forward, loss, backward, all-reduce, clip, Adam) of the model in --config's "
              "[model] section (default: the paper sizes) on synthetic batches of stars observing 6-25 of 25 "
              "filters; prints stars/s on the CPU and, when available, on CUDA.",
              "irisml bench train [--batch 64] [--steps 10] [--warmup 3] [--config configs/paper.ini] [--threads T] "
              "[--device auto|cpu|cuda]\n"
              "the real job: mpirun -np N irisml bench train --data train.h5 --batch 512 [--filters LIST] "
              "[--config ...]",
              {"bench-train", "model", "noise"});
  add_common_options(cmd);
  add_model_options(cmd);
  add_noise_options(cmd);
  add_precision_option(cmd, /*list=*/true);
  // clang-format off
  cmd.options.add_options()
      ("batch", po::value<long long>()->default_value(64), "stars per step")
      ("steps", po::value<int>()->default_value(10), "timed steps (the median is reported)")
      ("warmup", po::value<int>()->default_value(3), "untimed steps first")
      ("n-filters", po::value<int>()->default_value(25), "filters the model knows")
      ("min-bands", po::value<int>()->default_value(6), "fewest bands per star")
      ("max-bands", po::value<int>()->default_value(25), "most bands per star")
      ("threads", po::value<int>()->default_value(0), "torch CPU threads (0 = cores / ranks on the node)")
      ("device", po::value<std::string>()->default_value("auto"), "auto (cpu, and cuda when available) | cpu | cuda")
      ("seed", po::value<long long>()->default_value(1), "seed of the synthetic batches")
      ("data", po::value<std::string>()->default_value(""),
       "time the real training job on this training set instead (data batching, noise, all-reduce over the ranks "
       "of mpirun; --batch is then the global batch), next to synthetic batches of the same size per rank")
      ("filters", po::value<std::string>()->default_value(""), "with --data: the model's filters, bands or set names (default: the data's)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  if (!vm["data"].as<std::string>().empty()) return bench_train_job_command(vm, ctx);
  model::ModelConfig config = model_config_from(vm);
  config.n_filters = vm["n-filters"].as<int>();
  train::BenchTrainOptions o;
  o.batch = vm["batch"].as<long long>();
  o.steps = vm["steps"].as<int>();
  o.warmup = vm["warmup"].as<int>();
  o.min_bands = vm["min-bands"].as<int>();
  o.max_bands = vm["max-bands"].as<int>();
  o.seed = static_cast<std::uint64_t>(vm["seed"].as<long long>());
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);
  const std::string device = vm["device"].as<std::string>();
  std::vector<std::string> devices;
  if (device == "auto") {
    devices.push_back("cpu");
    if (model::cuda_available()) devices.push_back(resolve_device("cuda", ctx.local_rank));
  } else {
    devices.push_back(resolve_device(device, ctx.local_rank));
  }
  for (const auto& dev : devices) {
    o.device = dev;
    double first = 0.0;
    const auto precisions = precisions_from(vm, dev, ctx.rank);
    for (const auto precision : precisions) {
      o.precision = precision;
      auto r = train::bench_train(config, o);
      if (first == 0.0) first = r.stars_per_second;
      if (ctx.rank == 0) {
        std::cout << fmt::format(
            "bench train: device={} precision={} threads={} blas=[{}] batch={} bands={}..{} params={} model=[{}] "
            "median_step_s={:.4f} best_step_s={:.4f} stars_per_s={:.1f}{}\n",
            dev, model::precision_name(precision), dev == "cpu" ? threads : 0, blas_description(), o.batch, o.min_bands,
            o.max_bands, r.parameters, config.describe(), r.median_seconds, r.best_seconds, r.stars_per_second,
            vs_first_precision(precisions.size(), r.stars_per_second, first));
      }
    }
  }
  return 0;
}

int run_train_evaluate(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("train evaluate",
              "Quality of a trained model on a held-out simulated set: each star observed with the [noise] model "
              "(seeded), 64 posterior samples, point estimate = their median; prints RMS, mean |error| and bias per "
              "parameter next to always predicting the training-set median.",
              "mpirun -np N irisml train evaluate --checkpoint run/best.h5 --data test.h5 [--train-data train.h5] "
              "[--config configs/small.ini] [--stars N]",
              {"train-evaluate", "noise"});
  add_common_options(cmd);
  add_noise_options(cmd);
  // clang-format off
  cmd.options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint of `irisml train` (best.h5 or checkpoint.h5)")
      ("data", po::value<std::string>()->required(), "held-out simulated set (training-set format, noise-free)")
      ("train-data", po::value<std::string>()->default_value(""),
       "the training set, for the baseline (its median); default: the median of --data")
      ("stars", po::value<long long>()->default_value(0), "evaluate the first N stars only (0 = all)")
      ("samples", po::value<int>()->default_value(64), "posterior samples per star")
      ("batch", po::value<long long>()->default_value(512), "stars per batch")
      ("seed", po::value<long long>()->default_value(2), "seed of the test observations and posterior draws")
      ("threads", po::value<int>()->default_value(0), "torch CPU threads per rank (0 = cores / ranks on the node)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  apply_threads(vm["threads"].as<int>(), ctx.local_size);
  train::QualityOptions o;
  o.test_data = vm["data"].as<std::string>();
  o.train_data = vm["train-data"].as<std::string>();
  o.noise = noise_from(vm);
  o.samples = vm["samples"].as<int>();
  o.batch = vm["batch"].as<long long>();
  o.max_stars = nonnegative(vm, "stars");
  const long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  o.seed = static_cast<std::uint64_t>(seed);
  auto report = train::evaluate_quality(vm["checkpoint"].as<std::string>(), o, ctx.comm);
  if (ctx.rank == 0) {
    std::cout << fmt::format(
                     "evaluate: {} stars of {} ({:.1f} bands per star on average, noise {}), {} samples per "
                     "star, checkpoint step {}; {:.1f} s\n\n",
                     report.stars, o.test_data, report.mean_bands, o.noise.sigma_distribution, o.samples,
                     report.checkpoint_step, report.seconds)
              << report.markdown();
  }
  return 0;
}

}  // namespace irisml::cli
