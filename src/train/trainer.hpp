// The data-parallel training job (`irisml train`): every rank holds one contiguous shard
// of the training set, takes its share of each globally shuffled batch (the rows fetched
// from their owners each step), averages gradients over the communicator, and rank 0
// checkpoints and logs. The normaliser's statistics are summed rank by rank in row
// order, so they are bitwise those of one process. Model: docs/model.md §4; data:
// docs/training_set_format.md; checkpoints: docs/checkpoint_format.md.
//
// Reproducibility: the shuffle is keyed (seed, epoch), a star's augmentation
// (seed, epoch·N + star), dropout (seed, step, rank) plus the model's saved dropout
// counter. With dropout 0 a run's result depends on the global batch but not on the
// number of ranks (up to floating-point summation order); with dropout > 0 the masks
// depend on the rank count too (statistically equivalent runs, not equal ones). A
// resumed run on the same rank count continues exactly.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <limits>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/precision.hpp"
#include "simulate/calibration.hpp"
#include "simulate/noise.hpp"

namespace irisml::train {

// Exit code of `irisml train` after SIGTERM/SIGUSR1: the step finished, a checkpoint
// was written, rerun with --resume (jobs/train.sbatch requeues itself on it).
inline constexpr int kExitInterrupted = 3;

// Starting from a trained model with fewer bands (train/finetune.hpp, docs/fine_tuning.md).
struct FinetuneOptions {
  std::string init_from;            // the parent checkpoint; "" = train from scratch
  std::int64_t freeze_steps = 0;    // first updates train only the new bands' embedding rows
  bool freeze_train_norms = false;  // ... and the layer norms
  bool allow_prior_change = false;  // accept a parent trained on another prior or grid
  // Pivot wavelength [Å] per band name (the filter registry): where a new band's
  // embedding row starts. A band missing here starts from the mean of the parent's rows.
  std::map<std::string, double> pivot_wavelengths;
};

struct TrainOptions {
  std::string data;                  // training-set file
  std::string validation;            // optional separate validation file ("" = hold out validation_fraction)
  std::string output_dir;            // checkpoint.h5, best.h5, train_log.jsonl
  std::vector<std::string> filters;  // model filter list (subset of the data's, in this order); empty = data's
  // Filter names the run may use (the filter registry); a data or --filters name not
  // in it is bad input. Empty = no check.
  std::vector<std::string> known_filters;
  model::ModelConfig model;  // n_filters is set from the filter list
  simulate::NoiseModel noise;
  // A per-band calibration (`--calibration`): its sigma_sys replace noise.sigma_sys band by
  // band in training's noise, and the checkpoint records it (noise.band_sigma_sys,
  // noise.band_offset) for sample and fit. Every model filter must be in it. Null = none.
  std::shared_ptr<const simulate::Calibration> calibration;

  std::int64_t epochs = 1000;
  std::int64_t max_steps = 0;     // > 0: train this many updates in all (sets the schedule length)
  std::int64_t batch_size = 512;  // global batch, divided evenly over the ranks
  double lr = 5e-4;
  double min_lr = 1e-6;
  std::int64_t warmup_steps = -1;  // >= 0 wins over warmup_epochs
  double warmup_epochs = 1.0;
  double weight_decay = 0.0;  // decoupled (AdamW)
  double adam_eps = 1e-8;
  double clip = 1.0;                  // global gradient-norm clip, <= 0 = off
  double validation_fraction = 0.02;  // of the data's rows (the last ones), without a validation file
  std::int64_t validation_batch = 1024;
  std::int64_t checkpoint_every = 1000;  // steps; 0 = only at epoch ends and at the end
  std::int64_t log_every = 100;          // steps between log lines
  bool keep_best = true;                 // also write best.h5 (lowest validation loss)
  std::uint64_t seed = 1;

  bool resume = false;             // continue from output_dir/checkpoint.h5 (must exist)
  bool resume_if_present = false;  // resume if it exists, else start fresh
  bool overwrite = false;          // start fresh even though output_dir holds a checkpoint
  FinetuneOptions finetune;        // init_from set: start from that model (not on resume)

  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  // Matrix-product precision (model/precision.hpp), already resolved for the device. A
  // run may resume in another precision: weights and optimizer state are fp32 in both.
  model::Precision precision = model::Precision::kFloat32;
  std::string backend = "auto";  // auto | local | mpi | nccl
  std::size_t bucket_bytes = std::size_t{25} << 20;
  bool overlap = true;  // start bucket reductions from autograd hooks
  std::string code_version = "dev";

  // Testing hooks: behave as if interrupted once this many updates are done (0 = never),
  // and a callback after every update (on every rank).
  std::int64_t stop_after_steps = 0;
  std::function<void(std::int64_t step, double loss)> on_step;
};

struct TrainResult {
  bool interrupted = false;  // stopped by a signal (or stop_after_steps) after checkpointing
  std::int64_t step = 0;     // updates done in total
  std::int64_t epoch = 0;    // epochs completed
  std::int64_t steps_per_epoch = 0;
  int n_filters = 0;                                             // the model's filters
  double train_loss = std::numeric_limits<double>::quiet_NaN();  // mean over the last log interval
  double val_loss = std::numeric_limits<double>::quiet_NaN();    // last validation
  double best_val_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0.0;
  std::string checkpoint;  // path of the latest checkpoint
};

// Runs (or resumes) training; collective over `comm` (all ranks call it with the same
// options). Throws InputError for bad input (unreadable or malformed data, unknown
// filters, a global batch the world size does not divide, an existing checkpoint
// without --resume/--overwrite, a checkpoint from another model on resume) before any
// checkpoint is touched, and Error for a non-finite loss (naming step and epoch; the
// last checkpoint stays as it was).
TrainResult train(const TrainOptions& options, MPI_Comm comm);

// One line of the training settings (stored in checkpoints, printed at start).
std::string describe(const TrainOptions& options);

}  // namespace irisml::train
