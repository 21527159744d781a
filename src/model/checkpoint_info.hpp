// What a training checkpoint says about its model and its training, without the
// tensors: the configuration, the filter list, the training position, the observation
// model and prior the model was trained with, its lineage. Torch-free, for the commands
// and jobs that need the metadata only (the tensors: model/checkpoint.hpp).
// Schema: docs/checkpoint_format.md.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "model/config.hpp"

namespace irisml::h5 {
class File;
}

namespace irisml::model {

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

struct CheckpointInfo {
  model::ModelConfig model_config;
  std::vector<std::string> filters;  // the model's filter list; filter id i = filters[i]

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
  // The training-time observation model, as simulate::NoiseModel::items():
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

// Reads a checkpoint's metadata (no tensor). Throws InputError if the file is missing,
// not HDF5, not a checkpoint, of a newer format version, or lacks a required dataset or
// attribute.
CheckpointInfo load_checkpoint_info(const std::string& path);
// The two halves of load_checkpoint_info, for readers that go on to the tensors: the
// file opened for reading (InputError if missing or not HDF5), and its metadata
// (`path` names it in messages).
h5::File open_checkpoint(const std::string& path);
CheckpointInfo read_checkpoint_info(const h5::File& file, const std::string& path);

// Differences between two model configurations / filter lists, one entry per field
// ("width: 64 (checkpoint) vs 128 (this run)"); empty if they agree. With
// `compare_filters` false the filter lists and n_filters are not compared.
std::vector<std::string> model_differences(const model::ModelConfig& checkpoint, const model::ModelConfig& run,
                                           const std::vector<std::string>& checkpoint_filters,
                                           const std::vector<std::string>& run_filters, bool compare_filters = true);

}  // namespace irisml::model
