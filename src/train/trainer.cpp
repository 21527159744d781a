#include "train/trainer.hpp"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/shard.hpp"
#include "distributed/communicator.hpp"
#include "distributed/environment.hpp"
#include "distributed/gradient_reducer.hpp"
#include "distributed/collectives.hpp"
#include "model/posterior.hpp"
#include "io/hdf5.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/finetune.hpp"
#include "train/optimizer.hpp"

namespace irisml::train {

namespace {

// Rank 0's machine-readable log: one JSON object per line.
class JsonLog {
 public:
  JsonLog(const std::string& path, bool append, bool active) {
    if (!active) return;
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) fail_io("cannot open the training log '{}' for writing", path);
  }
  void write(const std::string& line) {
    if (!out_.is_open()) return;
    out_ << line << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// The events of a run after its start, each one struct that feeds both its console line
// (log::info: rank 0 prints) and its line of train_log.jsonl (rank 0's JsonLog).
struct StepEvent {  // the end of a log interval
  std::int64_t epoch = 0, step = 0, total_steps = 0;
  double train_loss = 0, lr = 0, grad_norm = 0, stars_per_s = 0;
  double elapsed_s = 0;      // since the job started
  double run_elapsed_s = 0;  // since this run's first step (the console's pace)
  double eta_s = 0;
  bool console = true;  // on a terminal the console gets at most a line per 10 s
};
struct EpochEvent {  // validation at an epoch's end or at the last update
  bool epoch_end = true;
  std::int64_t epoch = 0, step = 0;
  double train_loss = 0, val_loss = 0, best_val_loss = 0, lr = 0, elapsed_s = 0;
  bool improved = false;
};
struct StopEvent {  // a requested stop, after its checkpoint
  std::int64_t step = 0, epoch = 0;
  int signal = 0;  // 0: stop_after_steps
  double elapsed_s = 0;
  std::string checkpoint;
};
struct DoneEvent {
  std::int64_t step = 0, epoch = 0;
  double val_loss = 0, best_val_loss = 0, elapsed_s = 0;
  std::string checkpoint;
};

void report(const StepEvent& e, JsonLog& json) {
  if (e.console) {
    log::info("epoch {} step {}/{} train_loss {:.4f} lr {:.3e} grad_norm {:.3f} {:.0f} stars/s, elapsed {}, ETA {}",
              e.epoch, e.step, e.total_steps, e.train_loss, e.lr, e.grad_norm, e.stars_per_s,
              format_duration(e.run_elapsed_s), format_duration(e.eta_s));
  }
  json.write(fmt::format(
      R"({{"event":"step","epoch":{},"step":{},"train_loss":{},"lr":{},"grad_norm":{},"stars_per_s":{},"elapsed_s":{}}})",
      e.epoch, e.step, json_number(e.train_loss, 8), json_number(e.lr, 8), json_number(e.grad_norm, 8),
      json_number(e.stars_per_s, 8), json_number(e.elapsed_s, 8)));
}

void report(const EpochEvent& e, JsonLog& json) {
  log::info("{} at step {}: train_loss {:.4f} val_loss {:.4f}{} lr {:.3e} elapsed {:.1f} s",
            e.epoch_end ? fmt::format("epoch {} done", e.epoch) : fmt::format("end of training in epoch {}", e.epoch),
            e.step, e.train_loss, e.val_loss, e.improved ? " (best)" : "", e.lr, e.elapsed_s);
  json.write(fmt::format(
      R"({{"event":"epoch","epoch":{},"step":{},"train_loss":{},"val_loss":{},"best_val_loss":{},"lr":{},"elapsed_s":{}}})",
      e.epoch, e.step, json_number(e.train_loss, 8), json_number(e.val_loss, 8), json_number(e.best_val_loss, 8),
      json_number(e.lr, 8), json_number(e.elapsed_s, 8)));
}

void report(const StopEvent& e, JsonLog& json) {
  log::info(
      "train: stopped after step {} ({}); checkpoint {} written; rerun with --resume to continue (exit "
      "code {})",
      e.step, e.signal ? fmt::format("signal {}", e.signal) : std::string("stop requested"), e.checkpoint,
      kExitInterrupted);
  json.write(fmt::format(R"({{"event":"interrupted","step":{},"epoch":{},"signal":{},"elapsed_s":{}}})", e.step,
                         e.epoch, e.signal, json_number(e.elapsed_s, 8)));
}

void report(const DoneEvent& e, JsonLog& json) {
  json.write(fmt::format(R"({{"event":"done","step":{},"epoch":{},"val_loss":{},"best_val_loss":{},"elapsed_s":{}}})",
                         e.step, e.epoch, json_number(e.val_loss, 8), json_number(e.best_val_loss, 8),
                         json_number(e.elapsed_s, 8)));
  log::info("train: done, {} steps in {:.1f} s; val_loss {:.4f} (best {:.4f}); checkpoint {}", e.step, e.elapsed_s,
            e.val_loss, e.best_val_loss, e.checkpoint);
}

void check_options(const TrainOptions& o, int size) {
  std::vector<std::string> bad;
  if (o.batch_size < 1) bad.push_back(fmt::format("batch-size={} (must be >= 1)", o.batch_size));
  if (o.epochs < 1 && o.max_steps < 1) bad.push_back(fmt::format("epochs={} (must be >= 1)", o.epochs));
  if (o.max_steps < 0) bad.push_back(fmt::format("max-steps={} (must be >= 0; 0 = epochs decide)", o.max_steps));
  if (!(o.lr > 0 && std::isfinite(o.lr))) bad.push_back(fmt::format("lr={} (must be > 0)", o.lr));
  if (!(o.min_lr >= 0 && o.min_lr <= o.lr))
    bad.push_back(fmt::format("min-lr={} (must be in [0, lr={}])", o.min_lr, o.lr));
  if (!(o.warmup_epochs >= 0)) bad.push_back(fmt::format("warmup-epochs={} (must be >= 0)", o.warmup_epochs));
  if (!(o.weight_decay >= 0)) bad.push_back(fmt::format("weight-decay={} (must be >= 0)", o.weight_decay));
  if (!(o.adam_eps > 0)) bad.push_back(fmt::format("adam-eps={} (must be > 0)", o.adam_eps));
  if (!std::isfinite(o.clip)) bad.push_back(fmt::format("clip={} (must be finite; <= 0 turns clipping off)", o.clip));
  if (!(o.validation_fraction >= 0 && o.validation_fraction < 1)) {
    bad.push_back(fmt::format("validation-fraction={} (must be in [0, 1))", o.validation_fraction));
  }
  if (o.validation_batch < 1) bad.push_back(fmt::format("validation-batch={} (must be >= 1)", o.validation_batch));
  if (o.checkpoint_every < 0) bad.push_back(fmt::format("checkpoint-every={} (must be >= 0)", o.checkpoint_every));
  if (o.log_every < 1) bad.push_back(fmt::format("log-every={} (must be >= 1)", o.log_every));
  if (o.resume && o.overwrite) bad.push_back("--resume and --overwrite exclude each other");
  if (o.resume_if_present && o.overwrite) bad.push_back("--resume-if-present and --overwrite exclude each other");
  if (o.output_dir.empty()) bad.push_back("output-dir is empty");
  if (o.finetune.freeze_steps < 0)
    bad.push_back(fmt::format("freeze-steps={} (must be >= 0)", o.finetune.freeze_steps));
  if (o.finetune.init_from.empty() && o.finetune.freeze_steps > 0)
    bad.push_back("--freeze-steps needs --init-from (it freezes a trained model's weights)");
  if (!bad.empty()) fail_input("invalid training settings: {}", fmt::join(bad, "; "));
  if (o.batch_size % size != 0) {
    fail_input(
        "the global batch size {} (--batch-size / [train] batch-size) is not divisible by the number of "
        "ranks {}; every rank takes batch/ranks stars per step, so choose a multiple of {} (e.g. {}) or "
        "another rank count",
        o.batch_size, size, size, (o.batch_size / size + 1) * size);
  }
}

// Error scaling of the normaliser: mean and spread of ln σ over a sample of
// augmented observations of the first rows (so it follows whatever σ distribution is
// configured). Collective when `table` is sharded: every rank fetches the same rows.
std::pair<double, double> error_log_stats(const TrainingTable& table, std::int64_t n_rows,
                                          const simulate::NoiseModel& noise, std::uint64_t seed, MPI_Comm comm) {
  const std::int64_t n = std::min<std::int64_t>(n_rows, 4096);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  auto b = make_batch(gather_rows(table, rows.data(), n, comm), noise, stream_seed(seed, 0x45525253ull), 0);
  auto logs = torch::log(b.observations.errors.to(torch::kFloat64).clamp_min(1e-6)).masked_select(b.observations.mask);
  if (logs.numel() < 2) return {model::Normalizer::kDefaultErrorLogMean, model::Normalizer::kDefaultErrorLogScale};
  const double mean = logs.mean().item<double>();
  const double sd = logs.std().item<double>();
  return {mean, sd > 1e-6 ? sd : 1.0};
}

std::string noise_text(const simulate::NoiseModel& noise) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : noise.items()) parts.push_back(key + "=" + value);
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace

std::string describe(const TrainOptions& o) {
  return fmt::format(
             "batch_size={} epochs={} max_steps={} lr={} min_lr={} warmup_steps={} warmup_epochs={} weight_decay={} "
             "adam_eps={} clip={} validation_fraction={} seed={} filters={} noise=[{}]",
             o.batch_size, o.epochs, o.max_steps, o.lr, o.min_lr, o.warmup_steps, o.warmup_epochs, o.weight_decay,
             o.adam_eps, o.clip, o.validation_fraction, o.seed,
             o.filters.empty() ? "data" : fmt::format("{}", fmt::join(o.filters, ",")), noise_text(o.noise)) +
         model::precision_setting(o.precision);
}

namespace {

// One run of train(), as named stages over the ranks of `comm` (train() calls them in
// order): the run directory and resume decision, the data, the schedule, the model and
// optimizer (fresh or restored), the start of the log, the step loop (validation and
// checkpoints inside it), and the result. Every rank runs every stage; rank-0-only
// actions are creating the directory, writing checkpoints and the JSON log.
class TrainRun {
 public:
  TrainRun(const TrainOptions& options, MPI_Comm comm)
      : o(options), comm(comm), rank(distributed::rank_of(comm)), size(distributed::size_of(comm)) {}

  // The output directory (rank 0 creates it), the run's lock, and whether to resume:
  // rank 0 decides (a node with a stale view of a shared file system must not start
  // fresh while the others resume); a rank that then cannot read it fails loudly.
  void open_run_dir() {
    namespace fs = std::filesystem;
    std::string dir_message;  // empty: the directory exists
    if (rank == 0) {
      std::error_code ec;
      fs::create_directories(o.output_dir, ec);
      if (ec || !fs::is_directory(o.output_dir)) {
        dir_message = fmt::format("cannot be created: {}", ec ? ec.message() : "not a directory");
      } else if (::access(o.output_dir.c_str(), W_OK) != 0) {
        dir_message = "is not writable";  // bad input (exit 2), as for every other command's output
      }
    }
    dir_message = distributed::broadcast_from_root(dir_message, comm);
    if (!dir_message.empty()) fail_input("--output-dir '{}' {}", o.output_dir, dir_message);
    // One run per directory, held to the end (a second run would race this one's checkpoints).
    lock = distributed::lock_output(o.output_dir, comm, join_path(o.output_dir, "train.lock"));
    ckpt_path = join_path(o.output_dir, "checkpoint.h5");
    best_path = join_path(o.output_dir, "best.h5");
    log_path = join_path(o.output_dir, "train_log.jsonl");
    const bool have_ckpt = distributed::broadcast_from_root(rank == 0 && file_exists(ckpt_path), comm);
    if (have_ckpt) {
      if (o.resume || o.resume_if_present) {
        resuming = true;
      } else if (!o.overwrite) {
        fail_input(
            "--output-dir '{}' already holds a checkpoint ({}); pass --resume to continue that run or "
            "--overwrite to start a new one there",
            o.output_dir, ckpt_path);
      }
    } else if (o.resume) {
      fail_input(
          "--resume: there is no checkpoint '{}' to resume from (use --resume-if-present to start fresh when "
          "there is none)",
          ckpt_path);
    }
  }

  // The training set, sharded over the ranks, its prior and grid, and the validation split.
  void load_data() {
    data = load_training_table(o.data, o.filters, comm, "--data", TableLayout::shard);
    // The prior and grid the set was simulated from: the checkpoint records them, so that
    // the exact posterior the model approximates can be rebuilt (fit, sample --importance).
    // (Read leniently: a hand-made set without them trains as before.)
    {
      auto f = h5::File::open(o.data);
      for (const auto& name : f.attr_names("/")) {
        if (name.rfind("prior.", 0) == 0) data_prior.emplace_back(name.substr(6), f.attr_double("/", name));
      }
      if (f.has_attr("/", "grid_checksum")) data_grid_checksum = f.attr_string("/", "grid_checksum");
    }
    if (!o.known_filters.empty()) {
      std::vector<std::string> unknown;
      for (const auto& name : data.filters) {
        if (std::find(o.known_filters.begin(), o.known_filters.end(), name) == o.known_filters.end()) {
          unknown.push_back(name);
        }
      }
      if (!unknown.empty()) {
        fail_input(
            "--data '{}': filter(s) {} are not in the filter registry (--filters-config); known: {}. Register "
            "them, or choose the model's filters with --filters",
            o.data, fmt::join(unknown, ", "), fmt::join(o.known_filters, ", "));
      }
    }
    n_train = data.rows;
    if (!o.validation.empty()) {
      val_file = load_training_table(o.validation, data.filters, comm, "--validation", TableLayout::shard);
      separate_validation = true;
      n_val = val_file.rows;
    } else {
      n_val = static_cast<std::int64_t>(std::floor(static_cast<double>(data.rows) * o.validation_fraction));
      n_train = data.rows - n_val;
      val_first = n_train;
    }
    // This rank's shard_range share of the validation stars, fetched once and kept.
    auto [b, e] = shard_range(static_cast<std::uint64_t>(n_val), rank, size);
    std::vector<std::int64_t> rows(e - b);
    for (std::uint64_t i = b; i < e; ++i) rows[i - b] = val_first + static_cast<std::int64_t>(i);
    val_rows =
        gather_rows(separate_validation ? val_file : data, rows.data(), static_cast<std::int64_t>(rows.size()), comm);
  }

  // Batches per rank, steps, warm-up and the learning-rate schedule.
  void plan_schedule() {
    if (o.calibration) {  // the per-band terms of the model's filters (every rank alike)
      const auto bands = o.calibration->for_bands(data.filters, "train --calibration");
      o.noise.band_sigma_sys.clear();
      o.noise.band_offset.clear();
      for (const auto& b : bands) {
        o.noise.band_sigma_sys.push_back(b.sigma_sys);
        o.noise.band_offset.push_back(b.offset);
      }
      o.noise.calibration = o.calibration->source().empty() ? "(unnamed)" : o.calibration->source();
    }
    if (n_train < o.batch_size) {
      fail_input(
          "--data '{}' leaves {} training stars (of {}, after holding out {} for validation): fewer than one "
          "global batch of {}; lower --batch-size or simulate more stars",
          o.data, n_train, data.rows, n_val, o.batch_size);
    }
    if (n_train > kMaxTrainingRows) {
      fail_input(
          "--data '{}' has {} training stars; a training set can have at most {} (every rank keeps the epoch's "
          "shuffle as 32-bit row numbers); split it or train on a subset",
          o.data, n_train, kMaxTrainingRows);
    }
    B = o.batch_size;
    B_local = B / size;
    steps_per_epoch = n_train / B;
    total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * steps_per_epoch;
    const std::int64_t warmup =
        o.warmup_steps >= 0 ? o.warmup_steps : std::llround(o.warmup_epochs * static_cast<double>(steps_per_epoch));
    schedule = LrSchedule{o.lr, o.min_lr, warmup, total_steps};
    o.noise.validate(data.n_filters());
  }

  // The model (normalisation fitted on the training rows, or restored with its counters),
  // on its device, parameters broadcast from rank 0, and the optimizer.
  void build_model() {
    config = o.model;
    config.n_filters = data.n_filters();
    config.parallax_token = o.noise.parallaxes();
    config.av_prior_token = o.noise.av_priors();
    config.validate();
    model::Checkpoint resumed;
    if (resuming) {
      resumed = model::load_checkpoint(ckpt_path);
      const std::int64_t step_here = resumed.step;
      const std::int64_t step_lo = distributed::min_over_ranks(step_here, comm),
                         step_hi = distributed::max_over_ranks(step_here, comm);
      if (step_lo != step_hi) {
        throw Error(
            fmt::format("ranks read different checkpoints from '{}' (steps {} … {}): the file changed while "
                        "loading, or the ranks do not see the same file system",
                        ckpt_path, step_lo, step_hi));
      }
      auto diffs = model::model_differences(resumed.model_config, config, resumed.filters, data.filters);
      if (!diffs.empty()) {
        fail_input(
            "cannot --resume from '{}': it was written for a different model — {}. Use the configuration it "
            "was trained with, a new --output-dir, or --overwrite",
            ckpt_path, fmt::join(diffs, "; "));
      }
    }
    std::optional<FinetuneInit> init;
    if (!resuming && !o.finetune.init_from.empty()) {
      init = plan_finetune(o.finetune, data.filters, config, data_prior, data_grid_checksum, o.data);
      lineage = init->lineage;
    }
    torch::manual_seed(o.seed);
    model::Normalizer normalizer(config.n_filters);
    if (init) {
      normalizer = finetune_normalizer(*init, data, n_train, comm);
    } else if (!resuming) {
      normalizer.fit(ordered_rows(data, n_train, comm), n_train, config.n_filters);
      auto [log_mean, log_scale] = error_log_stats(data, n_train, o.noise, o.seed, comm);
      normalizer.set_error_scaling(log_mean, log_scale);
    }
    model = model::PosteriorEstimator(config, normalizer);
    if (resuming) restore_counters(resumed);
    if (init) {
      load_finetune_state(*model, *init);
      log::info("train: fine-tuning '{}' (step {}, {}): {} new band(s), embedding rows {}{}", lineage.parent,
                lineage.parent_step, lineage.parent_checksum, lineage.filters_added.size(), lineage.embedding_init,
                lineage.freeze_steps > 0
                    ? fmt::format("; the first {} update(s) train only the new rows{}", lineage.freeze_steps,
                                  lineage.freeze_train_norms ? " and the layer norms" : "")
                    : "");
    }
    device = torch::Device(o.device);
    model->to(device);
    model->train();
    model->set_precision(o.precision);
    communicator = distributed::make_communicator(o.backend, comm, device, o.bucket_bytes);
    reducer = std::make_unique<distributed::GradientReducer>(*model, *communicator, o.bucket_bytes, o.overlap);
    reducer->broadcast_parameters();
    NamedTensors named_params;
    for (const auto& item : model->named_parameters(/*recurse=*/true)) {
      named_params.emplace_back(item.key(), item.value());
      params.push_back(item.value());
    }
    adam = std::make_unique<Adam>(named_params, AdamOptions{0.9, 0.999, o.adam_eps, o.weight_decay});
    if (resuming) adam->load_state(resumed.optimizer_state);
  }

  // From here on SIGTERM/SIGUSR1 only set a flag, read after each step. Opens the JSON
  // log (rank 0) and prints the run's settings.
  void start_log() {
    signals.emplace();
    json.emplace(log_path, resuming, rank == 0);
    settings = describe(o);
    if (rank == 0) {
      if (!resuming && o.overwrite && file_exists(best_path)) std::remove(best_path.c_str());
      json->write(fmt::format(
          R"({{"event":"start","resumed":{},"step":{},"epoch":{},"world_size":{},"backend":{},"device":{},"train_stars":{},"val_stars":{},"steps_per_epoch":{},"total_steps":{},"model":{},"settings":{}}})",
          resuming ? "true" : "false", step, epoch, size, json_string(communicator->backend()), json_string(o.device),
          n_train, n_val, steps_per_epoch, total_steps, json_string(config.describe()), json_string(settings)));
    }
    log::info("train: {} rank(s), backend {}, device {}; {} training + {} validation stars, {} filters", size,
              communicator->backend(), o.device, n_train, n_val, config.n_filters);
    log::info("train: model {}", config.describe());
    log::info("train: {}", settings);
    log::info("train: global batch {} ({} per rank), {} steps/epoch, {} steps in all{}", B, B_local, steps_per_epoch,
              total_steps, resuming ? fmt::format(", resuming at step {} (epoch {})", step, epoch) : "");
  }

  // What one update reports: its loss summed over the global batch and the stars in it,
  // whether a stop was requested on any rank, the gradient norm (before clipping) and the
  // learning rate used.
  struct StepStats {
    double loss_sum = 0, stars = 0;
    bool stop_requested = false;
    double grad_norm = 0, lr = 0;
  };

  // The console/JSON progress of the run: the current log interval's sums and the run's
  // pace (validation passes and checkpoints included) for the ETA.
  struct Progress {
    double interval_loss = 0.0, interval_count = 0.0, interval_start = now_seconds();
    std::int64_t interval_stars = 0;
    double loop_start = now_seconds();
    std::int64_t loop_first_step = 0;
    bool stderr_is_terminal = ::isatty(2) != 0;
    double last_console = -1e300;
  };

  // Steps until total_steps or a stop (signal, stop_after_steps).
  void run_steps() {
    result.steps_per_epoch = steps_per_epoch;
    result.checkpoint = ckpt_path;
    std::vector<std::uint32_t> permutation;
    std::vector<std::int64_t> batch_rows;  // this rank's share of the step's global batch
    std::int64_t permutation_epoch = -1;
    Progress progress;
    progress.loop_first_step = step;
    if (step >= total_steps)
      log::info("train: the checkpoint is already at step {} of {}; nothing to do", step, total_steps);

    while (step < total_steps) {
      if (permutation_epoch != epoch) {
        permutation = epoch_permutation(o.seed, epoch, n_train);
        permutation_epoch = epoch;
      }
      const std::uint32_t* share = permutation.data() + step_in_epoch * B + rank * B_local;
      batch_rows.assign(share, share + B_local);
      const StepStats stats = train_step(batch_rows);
      ++step;
      ++step_in_epoch;
      bool ended_on_epoch = false;
      if (step_in_epoch >= steps_per_epoch) {
        ++epoch;
        step_in_epoch = 0;
        ended_on_epoch = true;
      }
      if (o.on_step) o.on_step(step, stats.loss_sum / stats.stars);
      report_progress(stats, ended_on_epoch, progress);
      const bool stop = stats.stop_requested || (o.stop_after_steps > 0 && step >= o.stop_after_steps);
      const bool wrote = save_outputs(ended_on_epoch, stats.lr);
      if (stop) {
        stop_run(wrote);
        break;
      }
    }
  }

  // One update on this rank's share of the global batch: forward, backward, gradient
  // average, the loss and stop flags summed over the ranks (collective), the non-finite
  // checks, clipping and Adam. Throws Error on a non-finite loss or gradient norm.
  StepStats train_step(const std::vector<std::int64_t>& batch_rows) {
    auto tb = make_batch(gather_rows(data, batch_rows.data(), B_local, comm), o.noise, noise_seed,
                         static_cast<std::uint64_t>(epoch) * static_cast<std::uint64_t>(data.rows));
    auto observations = tb.observations.to(device);
    auto theta = tb.theta.to(device);

    const bool freezing = step < lineage.freeze_steps;
    if (lineage.freeze_steps > 0) update_freeze(freezing);
    model->set_dropout_seed(
        stream_seed(dropout_seed + static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(rank)));
    adam->zero_grad();
    auto loss = model->loss(observations, theta);
    loss.backward();
    reducer->average_gradients();
    if (freezing) drop_frozen_gradients();
    const double local_loss = loss.item<double>();
    std::vector<double> metrics{local_loss * static_cast<double>(B_local), static_cast<double>(B_local),
                                StopSignals::received() != 0 ? 1.0 : 0.0, std::isfinite(local_loss) ? 0.0 : 1.0};
    communicator->allreduce_sum(metrics);
    if (metrics[3] > 0 || !std::isfinite(metrics[0])) {
      throw Error(fmt::format(
          "the training loss is not finite at step {} (epoch {}, update {} of {} in the epoch; {} rank(s) saw "
          "it); stopping without writing a checkpoint — {} is left as it was. Try a lower lr, a stronger clip, "
          "or check the data for non-finite values",
          step + 1, epoch, step_in_epoch + 1, steps_per_epoch, static_cast<int>(metrics[3]),
          file_exists(ckpt_path) ? "the last checkpoint " + ckpt_path : "no checkpoint exists yet, and nothing"));
    }
    const double grad_norm = clip_grad_norm(params, o.clip);
    if (!std::isfinite(grad_norm)) {
      throw Error(
          fmt::format("the gradient norm is not finite at step {} (epoch {}); stopping without writing a "
                      "checkpoint (the last one is left as it was). Try a lower lr",
                      step + 1, epoch));
    }
    const double lr_now = schedule.at(step);
    adam->step(lr_now);
    if (freezing) keep_parent_rows();
    return {metrics[0], metrics[1], metrics[2] > 0, grad_norm, lr_now};
  }

  // Adds the update to the log interval; at its end (every log_every updates, an epoch's
  // end, the last update) the console line (on a terminal at most one per 10 s) and the
  // JSON log's step event.
  void report_progress(const StepStats& stats, bool ended_on_epoch, Progress& p) {
    p.interval_loss += stats.loss_sum;
    p.interval_count += stats.stars;
    p.interval_stars += B;
    if (step % o.log_every == 0 || ended_on_epoch || step == total_steps) {
      const double t = now_seconds();
      const double rate = static_cast<double>(p.interval_stars) / std::max(t - p.interval_start, 1e-9);
      result.train_loss = p.interval_loss / p.interval_count;
      // ETA from this run's wall-clock pace (validation and checkpoints included), or from
      // this interval's when that is slower (the first interval pays the warm-up).
      const double wall_per_step =
          (t - p.loop_start) / static_cast<double>(std::max<std::int64_t>(1, step - p.loop_first_step));
      const double per_step = std::max(wall_per_step, static_cast<double>(B) / std::max(rate, 1e-9));
      const double eta = static_cast<double>(total_steps - step) * per_step;
      // On a terminal at most a line per 10 s (and at epoch ends); in a log file every
      // --log-every steps. The JSON log gets every one.
      StepEvent e;
      e.console = !p.stderr_is_terminal || t - p.last_console >= 10.0 || ended_on_epoch || step == total_steps;
      if (e.console) p.last_console = t;
      e.epoch = epoch;
      e.step = step;
      e.total_steps = total_steps;
      e.train_loss = result.train_loss;
      e.lr = stats.lr;
      e.grad_norm = stats.grad_norm;
      e.stars_per_s = rate;
      e.elapsed_s = t - t_start;
      e.run_elapsed_s = t - p.loop_start;
      e.eta_s = eta;
      report(e, *json);
      p.interval_loss = p.interval_count = 0.0;
      p.interval_stars = 0;
      p.interval_start = now_seconds();
    }
  }

  // After an update: validation and checkpoints at an epoch's end or the last update,
  // else a checkpoint every checkpoint_every updates. Returns whether one was written.
  bool save_outputs(bool ended_on_epoch, double lr) {
    bool wrote = false;
    if (ended_on_epoch || step == total_steps) {
      last_val = validate();
      const bool improved = std::isfinite(last_val) && !(last_val >= best_val);
      if (improved) best_val = last_val;
      write_checkpoints(improved && o.keep_best);
      wrote = true;
      report(EpochEvent{ended_on_epoch, epoch, step, result.train_loss, last_val, best_val, lr, now_seconds() - t_start,
                        improved},
             *json);
    } else if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) {
      write_checkpoints(false);
      wrote = true;
    }
    return wrote;
  }

  // A requested stop after the update: a checkpoint if none was just written, the console
  // line and the JSON log's interrupted event.
  void stop_run(bool wrote) {
    if (!wrote) write_checkpoints(false);
    result.interrupted = true;
    report(StopEvent{step, epoch, StopSignals::received(), now_seconds() - t_start, ckpt_path}, *json);
  }

  // Gives the run directory's lock up now (a refused run: see train()).
  void release_lock() { lock = OutputLock(); }

  TrainResult finish() {
    result.step = step;
    result.epoch = epoch;
    result.n_filters = data.n_filters();
    result.val_loss = last_val;
    result.best_val_loss = best_val;
    result.seconds = now_seconds() - t_start;
    if (!result.interrupted) report(DoneEvent{step, epoch, last_val, best_val, result.seconds, ckpt_path}, *json);
    return result;
  }

 private:
  // The fine-tune's freeze phase (lineage.freeze_steps > 0), before update `step`: while
  // freezing, Adam skips the frozen parameters and the parent's embedding rows get no
  // gradient and are put back after each update (weight decay would move them); at the
  // first update after it, the embedding's Adam moments restart, as the frozen
  // parameters' start fresh. Decided by the step alone, so a resumed run does the same.
  void update_freeze(bool freezing) {
    if (freezing && frozen_names.empty()) {
      frozen_names = frozen_parameter_names(*model, lineage.freeze_train_norms);
      for (const auto& item : model->named_parameters(/*recurse=*/true)) {
        if (std::find(frozen_names.begin(), frozen_names.end(), item.key()) != frozen_names.end())
          frozen_params.push_back(item.value());
      }
      parent_rows = torch::tensor(parent_rows_in_run(lineage, data.filters), torch::kInt64).to(device);
      torch::NoGradGuard no_grad;
      parent_row_values = model->encoder->filter_embedding->weight.index_select(0, parent_rows).clone();
    }
    if (freezing != freeze_applied) {
      adam->set_frozen(freezing ? frozen_names : std::vector<std::string>{});
      freeze_applied = freezing;
    }
    if (!freezing && step == lineage.freeze_steps) {
      adam->reset_state(kFilterEmbeddingName);
      log::info("train: freeze phase over after {} update(s); training every parameter", step);
    }
  }
  void drop_frozen_gradients() {
    torch::NoGradGuard no_grad;
    for (auto& p : frozen_params) {
      auto& g = p.mutable_grad();
      if (g.defined()) g.zero_();
    }
    auto& g = model->encoder->filter_embedding->weight.mutable_grad();
    if (g.defined()) g.index_fill_(0, parent_rows, 0.0);
  }
  void keep_parent_rows() {
    torch::NoGradGuard no_grad;
    model->encoder->filter_embedding->weight.index_copy_(0, parent_rows, parent_row_values);
  }

  // Step counters, best loss and warnings where the resumed run differs from this one.
  void restore_counters(const model::Checkpoint& resumed) {
    model->load_named_state(resumed.model_state);
    lineage = resumed.lineage;
    if (!o.finetune.init_from.empty() && lineage.parent != o.finetune.init_from) {
      log::warn(
          "resuming: --init-from '{}' is ignored; the checkpoint continues the run {}", o.finetune.init_from,
          lineage.parent.empty() ? std::string("trained from scratch") : "fine-tuned from '" + lineage.parent + "'");
    }
    if (!lineage.parent.empty() && o.finetune.freeze_steps != lineage.freeze_steps) {
      log::warn("resuming with the checkpoint's freeze phase of {} update(s), not --freeze-steps {}",
                lineage.freeze_steps, o.finetune.freeze_steps);
    }
    step = resumed.step;
    epoch = resumed.epoch;
    step_in_epoch = resumed.step_in_epoch;
    best_val = resumed.best_val_loss;
    if (resumed.steps_per_epoch != steps_per_epoch || resumed.global_batch != B) {
      log::warn(
          "resuming with global batch {} ({} steps/epoch) where the checkpoint used {} ({} steps/epoch): the "
          "data order differs from an uninterrupted run",
          B, steps_per_epoch, resumed.global_batch, resumed.steps_per_epoch);
      if (step_in_epoch >= steps_per_epoch) {
        ++epoch;
        step_in_epoch = 0;
      }
    }
    std::vector<std::string> was, now;  // "key=value", sorted (attribute order is the file's)
    for (const auto& [k, v] : resumed.noise) was.push_back(k + "=" + v);
    for (const auto& [k, v] : o.noise.items()) now.push_back(k + "=" + v);
    std::sort(was.begin(), was.end());
    std::sort(now.begin(), now.end());
    if (!was.empty() && was != now) {
      log::warn("resuming with the observation model [{}] where the checkpoint was trained with [{}]",
                fmt::join(now, " "), fmt::join(was, " "));
    }
    if (resumed.train_stars > 0 && resumed.train_stars != n_train) {
      log::warn("resuming on {} training stars where the checkpoint's run had {} (another --data file?)", n_train,
                resumed.train_stars);
    }
    if (resumed.total_steps != total_steps) {
      log::warn("resuming with a schedule of {} steps where the checkpoint planned {}", total_steps,
                resumed.total_steps);
    }
    if (resumed.seed != o.seed) {
      log::warn("resuming with seed {} where the checkpoint used {}", o.seed, resumed.seed);
    }
  }

  // Mean validation loss over all ranks (NaN without validation stars). Each rank scores
  // its share of the validation stars (val_rows).
  double validate() {
    if (n_val == 0) return std::numeric_limits<double>::quiet_NaN();
    torch::NoGradGuard no_grad;
    model->eval();
    std::vector<double> sums{0.0, 0.0};
    for (std::int64_t i = 0; i < val_rows.size(); i += o.validation_batch) {
      const std::int64_t n = std::min<std::int64_t>(val_rows.size() - i, o.validation_batch);
      auto vb = make_batch(val_rows, o.noise, val_seed, 0, i, n);
      auto lp = model->log_prob(vb.theta.to(device), model->context(vb.observations.to(device)));
      sums[0] -= lp.sum().item<double>();
      sums[1] += static_cast<double>(n);
    }
    communicator->allreduce_sum(sums);
    model->train();
    return sums[0] / sums[1];
  }

  // checkpoint.h5 (and best.h5), written by rank 0; every rank learns of a failure.
  void write_checkpoints(bool also_best) {
    int failed = 0;
    std::string message;
    if (rank == 0) {
      try {
        model::Checkpoint c;
        c.model_config = config;
        c.filters = data.filters;
        c.model_state = model->named_state();
        c.optimizer_state = adam->state();
        c.step = step;
        c.epoch = epoch;
        c.step_in_epoch = step_in_epoch;
        c.seed = o.seed;
        c.total_steps = total_steps;
        c.steps_per_epoch = steps_per_epoch;
        c.global_batch = B;
        c.world_size = size;
        c.train_stars = n_train;
        c.best_val_loss = best_val;
        c.last_val_loss = last_val;
        c.train_config = settings;
        c.noise = o.noise.items();
        c.data_path = o.data;
        c.prior = data_prior;
        c.grid_checksum = data_grid_checksum;
        c.lineage = lineage;
        c.code_version = o.code_version;
        model::save_checkpoint(ckpt_path, c);
        if (also_best) model::save_checkpoint(best_path, c);
      } catch (const std::exception& e) {
        failed = 1;
        message = e.what();
      }
    }
    message = distributed::broadcast_from_root(message, comm);
    if (distributed::broadcast_from_root(failed != 0, comm)) {
      std::error_code ec;
      const std::string hint =
          std::filesystem::exists(ckpt_path, ec)
              ? fmt::format("; the last checkpoint '{}' is intact: free space and rerun with --resume", ckpt_path)
              : std::string("; no checkpoint was written yet: free space and rerun");
      if (rank == 0) throw IoError(message + hint);
      throw IoError(fmt::format("rank 0 could not write the checkpoint '{}': {}{}", ckpt_path, message, hint));
    }
  }

  TrainOptions o;  // a copy: the calibration's per-band terms are filled in (plan_schedule)
  MPI_Comm comm;
  const int rank, size;
  const double t_start = now_seconds();
  // run directory
  OutputLock lock;
  std::string ckpt_path, best_path, log_path;
  bool resuming = false;
  // data
  TrainingTable data, val_file;      // sharded over the ranks
  RowBlock val_rows;                 // this rank's share of the validation stars
  bool separate_validation = false;  // --validation given (else the tail of --data)
  std::int64_t n_train = 0, val_first = 0, n_val = 0;
  std::vector<std::pair<std::string, double>> data_prior;
  std::string data_grid_checksum;
  // schedule
  std::int64_t B = 0, B_local = 0, steps_per_epoch = 0, total_steps = 0;
  LrSchedule schedule;
  // model and optimizer
  model::ModelConfig config;
  model::PosteriorEstimator model{nullptr};
  torch::Device device{torch::kCPU};
  std::unique_ptr<distributed::Communicator> communicator;
  std::unique_ptr<distributed::GradientReducer> reducer;
  std::vector<torch::Tensor> params;
  std::unique_ptr<Adam> adam;
  model::Lineage lineage;  // of a fine-tune (empty parent: from scratch)
  std::int64_t step = 0, epoch = 0, step_in_epoch = 0;
  double best_val = std::numeric_limits<double>::quiet_NaN();
  double last_val = std::numeric_limits<double>::quiet_NaN();
  // the freeze phase of a fine-tune
  std::vector<std::string> frozen_names;
  std::vector<torch::Tensor> frozen_params;  // the same parameters, looked up once
  torch::Tensor parent_rows, parent_row_values;
  bool freeze_applied = false;
  // log and control
  std::optional<StopSignals> signals;
  std::optional<JsonLog> json;
  std::string settings;
  const std::uint64_t noise_seed = stream_seed(o.seed, kNoiseStream);
  const std::uint64_t val_seed = stream_seed(o.seed, kValidationStream);
  const std::uint64_t dropout_seed = stream_seed(o.seed, kDropoutStream);
  TrainResult result;
};

}  // namespace

TrainResult train(const TrainOptions& o, MPI_Comm comm) {
  check_options(o, distributed::size_of(comm));
  std::error_code ec;
  const bool dir_existed = std::filesystem::exists(o.output_dir, ec);  // before this run
  TrainRun run(o, comm);
  try {
    run.open_run_dir();
    run.load_data();
    run.plan_schedule();
    run.build_model();
    run.start_log();
    run.run_steps();
    return run.finish();
  } catch (...) {
    // A run refused before it wrote anything leaves no trace: its lock goes, and so does
    // the output directory it created if nothing else is in it.
    run.release_lock();
    if (!dir_existed && distributed::rank_of(comm) == 0 && std::filesystem::is_empty(o.output_dir, ec)) {
      std::filesystem::remove(o.output_dir, ec);
    }
    throw;
  }
}

}  // namespace irisml::train
