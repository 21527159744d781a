// Adam, the learning-rate schedule and gradient clipping for training.
//
// Adam is written out here (a few tensor operations under NoGradGuard) rather than
// taken from torch::optim so that its state is plain named tensors — exp_avg and
// exp_avg_sq per parameter name plus the step count — that checkpoint identically
// across LibTorch versions and devices (docs/checkpoint_format.md).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace irisml::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): p ← p − lr·wd·p before
  // the Adam update. 0 = plain Adam.
  double weight_decay = 0.0;
};

class Adam {
 public:
  // `parameters`: (name, parameter) pairs, e.g. module.named_parameters(); those with
  // requires_grad == false are skipped. State tensors live on each parameter's device.
  Adam(const NamedTensors& parameters, AdamOptions options = {});

  // Sets every gradient to zero (keeps the gradient tensors allocated).
  void zero_grad();
  // One update with learning rate `lr`. A parameter without a gradient, or frozen, is
  // left alone (its moments too); each parameter's bias correction counts the updates
  // it received, so a parameter unfrozen later starts like a fresh one.
  void step(double lr);

  // The parameters (by name) that step() skips until the next call; {} unfreezes all.
  void set_frozen(const std::vector<std::string>& names);
  // Restarts one parameter's moments and update count, as if it had never been updated.
  void reset_state(const std::string& name);

  std::int64_t steps() const { return steps_; }
  const AdamOptions& options() const { return options_; }

  // "exp_avg/<name>", "exp_avg_sq/<name>" for every parameter, "step" = [t] (int64,
  // shape [1]; step() calls), and "param_step/<name>" = [t_p] for a parameter whose
  // own update count differs from t (one frozen for a while). Tensors are detached
  // views of the live state.
  NamedTensors state() const;
  // Inverse of state(): every name must be present with the right shape, or
  // InputError lists what is missing or mis-shaped (and nothing is changed). A
  // parameter without "param_step/<name>" takes the global count.
  void load_state(const NamedTensors& state);

 private:
  struct Slot {
    std::string name;
    at::Tensor param, exp_avg, exp_avg_sq;
    std::int64_t steps = 0;  // updates this parameter received
    bool frozen = false;
  };
  std::vector<Slot> slots_;
  AdamOptions options_;
  std::int64_t steps_ = 0;
};

// Linear warm-up from lr/warmup to lr over `warmup_steps`, then a cosine from lr to
// min_lr over the remaining steps up to `total_steps`; min_lr after that.
struct LrSchedule {
  double base_lr = 5e-4;
  double min_lr = 0.0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;

  // Learning rate for the update with 0-based index `step`.
  double at(std::int64_t step) const;
};

// Scales the gradients of `parameters` so that their global L2 norm is at most
// `max_norm` (no-op when max_norm <= 0); returns the norm before scaling (may be
// non-finite, in which case nothing is scaled). Call after gradients were averaged
// over ranks, so every rank computes the same norm.
double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm);

}  // namespace irisml::train
