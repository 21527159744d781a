// The posterior estimator q(θ | observations): set-transformer encoder → context →
// conditional MAF over standardised parameters z, reported as a density over
// physical θ = (Teff [K], log g, [M/H], A_V, R_V).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "model/batch.hpp"
#include "model/config.hpp"
#include "model/encoder.hpp"
#include "model/flow.hpp"
#include "model/normalizer.hpp"

namespace irisml::model {

struct SampleResult {
  torch::Tensor theta;     // (B, n, 5) float64, physical parameters
  torch::Tensor log_prob;  // (B, n) float64, log q(θ | observations) over physical θ
};

// Normalisation statistics held as buffers (they travel with the model and its checkpoint).
class NormalizerBuffersImpl : public torch::nn::Module {
 public:
  explicit NormalizerBuffersImpl(const Normalizer& normalizer);
  Normalizer get() const;

  torch::Tensor mag_mean, mag_std, error_log_mean, error_log_scale, param_mean, param_std;
};
TORCH_MODULE(NormalizerBuffers);

class PosteriorEstimatorImpl : public torch::nn::Module {
 public:
  // `normalizer` must have config.n_filters filters (default: identity statistics).
  explicit PosteriorEstimatorImpl(const ModelConfig& config);
  PosteriorEstimatorImpl(const ModelConfig& config, const Normalizer& normalizer);

  const ModelConfig& config() const { return config_; }

  Normalizer normalizer() const { return normalizer_buffers->get(); }

  // Context vectors (B, M) for a batch (normalised here with the held statistics).
  // Throws InputError for malformed batches or filter ids outside the model's list.
  torch::Tensor context(const ObservationBatch& batch);

  // log q(θ | context) over physical θ: theta (B, 5) or (B, n, 5), float or double;
  // context (B, M). Returns float64 (B) or (B, n); −inf where θ is outside the support
  // (non-finite, Teff ≤ 0 or A_V ≤ 0).
  torch::Tensor log_prob(const torch::Tensor& theta_physical, const torch::Tensor& context);

  // −mean log q(θ | batch): the training loss (θ physical, (B, 5)).
  torch::Tensor loss(const ObservationBatch& batch, const torch::Tensor& theta_physical);

  // Posterior samples from caller-supplied randomness (keyed by star, so results do
  // not depend on batch composition): base_normal (B, n, 5) standard normal,
  // component_uniform (B, n) uniform in (0, 1). Runs under NoGradGuard.
  SampleResult sample(const torch::Tensor& context, const torch::Tensor& base_normal,
                      const torch::Tensor& component_uniform);

  // Every parameter and buffer, by dotted name (e.g. "encoder.layers.0.qkv.weight",
  // "normalizer.mag_mean", "flow.blocks.3.mask0"), plus "rng.dropout" = [seed, counter]
  // (int64, CPU). Tensors are detached views of the live state.
  std::vector<std::pair<std::string, torch::Tensor>> named_state() const;
  // Copies a state in: names and shapes must match named_state() exactly; otherwise
  // throws InputError listing every missing, unexpected and mis-shaped entry (and
  // changes nothing).
  void load_named_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);

  void set_dropout_seed(std::uint64_t seed) { encoder->set_dropout_seed(seed); }

  // Precision of the encoder's matrix products (model/precision.hpp; resolve it for the
  // device first). Weights, flow and loss stay fp32 either way.
  void set_precision(Precision precision) { encoder->set_precision(precision); }
  Precision precision() const { return encoder->precision(); }

  SetEncoder encoder{nullptr};
  ConditionalMaf flow{nullptr};
  NormalizerBuffers normalizer_buffers{nullptr};

 private:
  ModelConfig config_;
};
TORCH_MODULE(PosteriorEstimator);

}  // namespace irisml::model
