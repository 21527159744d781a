// Training checkpoints: one HDF5 file holding the model's named tensors, the
// optimiser state and the training position, readable without LibTorch (h5py) and
// portable across LibTorch versions and devices. Schema: docs/checkpoint_format.md.
//
// The sampler loads a trained model with
//   auto ckpt = train::load_checkpoint(path, /*with_optimizer=*/false);
//   auto model = train::build_model(ckpt);           // eval mode, CPU
//   ... ckpt.filters is the model's filter list, in filter-id order.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/config.hpp"
#include "model/posterior.hpp"

namespace irisml::train {

inline constexpr const char* kCheckpointFormat = "irisml-checkpoint";
inline constexpr std::int64_t kCheckpointVersion = 1;

// Where a fine-tuned model came from (`irisml train --init-from`); empty `parent` for a
// model trained from scratch. The steps fine-tuned are the checkpoint's own `step`.
struct Lineage {
  std::string parent;           // the --init-from path as given
  std::string parent_checksum;  // model_checksum() of the parent's model state
  std::int64_t parent_step = 0;
  std::vector<std::string> filters_added;  // bands the parent did not know
  std::string embedding_init;              // "new<-source,..." how their embedding rows started
  std::int64_t freeze_steps = 0;           // first updates that trained only the new bands' rows
  bool freeze_train_norms = false;         // ... and the layer norms
};

struct Checkpoint {
  model::ModelConfig model_config;
  std::vector<std::string> filters;                                // the model's filter list; filter id i = filters[i]
  std::vector<std::pair<std::string, torch::Tensor>> model_state;  // model->named_state()
  std::vector<std::pair<std::string, torch::Tensor>> optimizer_state;  // Adam::state()

  // Training position: `step` optimiser updates done in total; the next update is
  // update `step_in_epoch` (0-based) of epoch `epoch` (0-based).
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::int64_t step_in_epoch = 0;
  std::uint64_t seed = 0;

  // Bookkeeping (informational, checked with warnings on resume).
  std::int64_t total_steps = 0;  // length of the LR schedule
  std::int64_t steps_per_epoch = 0;
  std::int64_t global_batch = 0;
  std::int64_t world_size = 0;
  std::int64_t train_stars = 0;
  double best_val_loss = std::numeric_limits<double>::quiet_NaN();  // NaN = none yet
  double last_val_loss = std::numeric_limits<double>::quiet_NaN();
  std::string train_config;  // one line "key=value ..." of the training settings
  // The training-time observation model, as sim::NoiseModel::items():
  // ("noise.bands_min", "6"), ... — stored as string root attributes of those names.
  std::vector<std::pair<std::string, std::string>> noise;
  std::string data_path;
  std::string code_version;
  // The training set's prior (prior.* attributes, names without "prior.") and grid
  // checksum: the exact posterior the model approximates (empty in older checkpoints).
  std::vector<std::pair<std::string, double>> prior;
  std::string grid_checksum;
  Lineage lineage;
};
using LoadedCheckpoint = Checkpoint;

// Writes `checkpoint` to `path` through "<path>.partial" and a rename, so an existing
// file is replaced only by a complete one. Serial HDF5: call on one rank. Tensors may
// live on any device and have any dtype (stored as float32/float64/int64/int32/uint8/
// int8; bool as uint8, half/bfloat16 as float32, with the original dtype recorded).
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads a checkpoint (CPU tensors with their original dtypes). Throws InputError if
// the file is missing, not HDF5, not a checkpoint, of a newer format version, or
// lacks a required dataset or attribute. Skips /optimizer unless `with_optimizer`.
Checkpoint load_checkpoint(const std::string& path, bool with_optimizer = true);

// A model of the checkpoint's configuration with its state loaded (CPU, eval mode).
model::PosteriorEstimator build_model(const Checkpoint& checkpoint);

// Content checksum ("fnv1a64:…") of a model state: names, dtypes, shapes and values, in
// order; the same trained weights give the same checksum wherever they are stored.
std::string model_checksum(const std::vector<std::pair<std::string, torch::Tensor>>& state);

// Differences between two model configurations / filter lists, one entry per field
// ("width: 64 (checkpoint) vs 128 (this run)"); empty if they agree. With
// `compare_filters` false the filter lists and n_filters are not compared.
std::vector<std::string> model_differences(const model::ModelConfig& checkpoint, const model::ModelConfig& run,
                                           const std::vector<std::string>& checkpoint_filters,
                                           const std::vector<std::string>& run_filters, bool compare_filters = true);

}  // namespace irisml::train
