// Training checkpoints: one HDF5 file holding the model's named tensors, the
// optimiser state and the training position, readable without LibTorch (h5py) and
// portable across LibTorch versions and devices. Schema: docs/checkpoint_format.md.
// The metadata alone, without LibTorch: model/checkpoint_info.hpp.
//
// The sampler loads a trained model with
//   auto ckpt = train::load_checkpoint(path, /*with_optimizer=*/false);
//   auto model = train::build_model(ckpt);           // eval mode, CPU
//   ... ckpt.filters is the model's filter list, in filter-id order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/posterior.hpp"
#include "model/checkpoint_info.hpp"

namespace irisml::model {

// A checkpoint with its tensors.
struct Checkpoint : CheckpointInfo {
  std::vector<std::pair<std::string, at::Tensor>> model_state;      // model->named_state()
  std::vector<std::pair<std::string, at::Tensor>> optimizer_state;  // Adam::state()
};

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
std::string model_checksum(const std::vector<std::pair<std::string, at::Tensor>>& state);

}  // namespace irisml::model
