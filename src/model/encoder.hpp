// Set-transformer encoder: a star's (filter, magnitude, error) tokens → a context vector.
//
// token = Embedding(filter) + Linear(1→M)(magnitude feature) + Linear(1→M)(error feature);
// a learned CLS token is prepended; L pre-LN layers of multi-head self-attention and a
// ReLU (or GELU) feed-forward, with a key-padding mask; the output is the final-LayerNorm'd CLS
// token (B, M). No positional information: the output does not depend on the order of
// the tokens, and padded slots never enter the computation.
//
// Speed: every layer runs on the packed valid tokens only (T = B + observed bands, star
// after star, see attention.hpp), never on padding; attention is a fused CPU kernel per
// (star, head). In the last layer only the CLS query is needed, so its query, attention
// output and feed-forward are computed for the B CLS tokens only.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "model/config.hpp"
#include "model/precision.hpp"

namespace irisml::model {

class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(int width, int heads, int ffn);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear qkv{nullptr}, out{nullptr}, ffn1{nullptr}, ffn2{nullptr};
};
TORCH_MODULE(EncoderLayer);

class SetEncoderImpl : public torch::nn::Module {
 public:
  explicit SetEncoderImpl(const ModelConfig& config);

  // filter_ids (B, S) int64; mag_features, err_features (B, S) float32 (already
  // normalised; values under a false mask are ignored); mask (B, S) bool.
  // Returns the context (B, M).
  torch::Tensor forward(const torch::Tensor& filter_ids, const torch::Tensor& mag_features,
                        const torch::Tensor& err_features, const torch::Tensor& mask);

  int width() const { return width_; }

  // Dropout randomness: key = (seed, running call counter); see keyed_dropout().
  void set_dropout_seed(std::uint64_t seed) { dropout_seed_ = seed; }
  std::uint64_t dropout_seed() const { return dropout_seed_; }
  std::uint64_t dropout_counter() const { return dropout_counter_; }
  void set_dropout_counter(std::uint64_t counter) { dropout_counter_ = counter; }

  // Precision of the layers' matrix products (model/precision.hpp); fp32 by default.
  void set_precision(Precision precision) { precision_ = precision; }
  Precision precision() const { return precision_; }

  // Tests: run attention through the generic (device-independent) path on CPU too.
  void set_generic_attention(bool generic) { generic_attention_ = generic; }

  torch::nn::Embedding filter_embedding{nullptr};
  torch::nn::Linear mag_proj{nullptr}, err_proj{nullptr};
  torch::Tensor cls;
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};

 private:
  torch::Tensor dropout(const torch::Tensor& x);
  std::uint64_t next_dropout_key();

  int width_, heads_, head_dim_;
  double dropout_p_;
  bool gelu_;
  std::uint64_t dropout_seed_ = 0x1A15u;
  std::uint64_t dropout_counter_ = 0;
  bool generic_attention_ = false;
  Precision precision_ = Precision::kFloat32;
  std::vector<EncoderLayer> layer_list_;
};
TORCH_MODULE(SetEncoder);

}  // namespace irisml::model
