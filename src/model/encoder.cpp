#include "model/encoder.hpp"

#include <cmath>

#include <torch/torch.h>

#include "model/attention.hpp"
#include "model/tensor_util.hpp"

namespace irisml::model {

namespace F = torch::nn::functional;

EncoderLayerImpl::EncoderLayerImpl(int width, int heads, int ffn_width) {
  (void)heads;
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  out = register_module("out", torch::nn::Linear(width, width));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  ffn1 = register_module("ffn1", torch::nn::Linear(width, ffn_width));
  ffn2 = register_module("ffn2", torch::nn::Linear(ffn_width, width));
}

SetEncoderImpl::SetEncoderImpl(const ModelConfig& config)
    : width_(config.width),
      heads_(config.heads),
      head_dim_(config.width / std::max(config.heads, 1)),
      dropout_p_(config.dropout),
      gelu_(config.activation == "gelu") {
  config.validate();
  filter_embedding = register_module("filter_embedding", torch::nn::Embedding(config.embedding_rows(), width_));
  mag_proj = register_module("mag_proj", torch::nn::Linear(1, width_));
  err_proj = register_module("err_proj", torch::nn::Linear(1, width_));
  cls = register_parameter("cls", torch::randn({width_}));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int l = 0; l < config.layers; ++l) {
    layer_list_.push_back(EncoderLayer(width_, heads_, config.ffn));
    layers->push_back(layer_list_.back());
  }
  final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width_})));
}

std::uint64_t SetEncoderImpl::next_dropout_key() { return mix64(dropout_seed_) ^ mix64(dropout_counter_++); }

torch::Tensor SetEncoderImpl::dropout(const torch::Tensor& x) {
  if (!is_training() || dropout_p_ <= 0.0) return x;
  return keyed_dropout(x, dropout_p_, next_dropout_key());
}

torch::Tensor SetEncoderImpl::forward(const torch::Tensor& filter_ids, const torch::Tensor& mag_features,
                                      const torch::Tensor& err_features, const torch::Tensor& mask) {
  const int64_t B = mask.size(0);
  const int64_t M = width_;
  if (B == 0) return torch::zeros({0, M}, cls.options());
  const auto dtype = cls.scalar_type();

  // ---- packed layout: star b owns rows offsets[b] (its CLS) … offsets[b+1]−1.
  auto counts = mask.sum(/*dim=*/1);  // (B) int64
  const auto layout = PackedLayout::from_lengths(counts + 1);
  const int64_t T = layout.tokens;
  // Observed tokens in row-major order are already grouped by star; their packed row is
  // offsets[b] + 1 + (rank among the star's observed bands).
  auto valid = mask.reshape({-1}).nonzero().squeeze(1);  // (n_valid) into B*S
  const int64_t S = mask.size(1);
  auto star = torch::div(valid, S, /*rounding_mode=*/"floor");
  auto rank = (mask.cumsum(/*dim=*/1) - 1).reshape({-1}).index_select(0, valid);
  auto token_rows = layout.cls_rows.index_select(0, star) + rank + 1;
  // source[r] = row of cat([CLS × B, observed tokens]) that lands on packed row r.
  auto source = torch::empty({T}, token_rows.options());
  source.index_copy_(0, layout.cls_rows, torch::arange(B, token_rows.options()));
  source.index_copy_(0, token_rows, torch::arange(B, T, token_rows.options()));

  // ---- token embedding on observed tokens only (pads are never read).
  auto fid = filter_ids.reshape({-1}).index_select(0, valid);
  auto feats = torch::stack({mag_features.reshape({-1}).index_select(0, valid).to(dtype),
                             err_features.reshape({-1}).index_select(0, valid).to(dtype)},
                            /*dim=*/1);                                       // (n_valid, 2)
  auto proj_w = torch::cat({mag_proj->weight, err_proj->weight}, /*dim=*/1);  // (M, 2)
  auto tokens = torch::addmm(filter_embedding->weight.index_select(0, fid) + (mag_proj->bias + err_proj->bias), feats,
                             proj_w.t());
  auto x = torch::cat({cls.unsqueeze(0).expand({B, M}), tokens}, /*dim=*/0).index_select(0, source);  // (T, M)

  const bool train_dropout = is_training() && dropout_p_ > 0.0;
  // Feed-forward activation followed by dropout (fused for ReLU).
  auto act_dropout = [&](const torch::Tensor& t) {
    if (gelu_) return dropout(F::gelu(t));
    return train_dropout ? relu_dropout(t, dropout_p_, next_dropout_key()) : torch::relu(t);
  };
  // The layers' products, in bf16 under mixed precision (inputs and result fp32).
  const auto compute = precision_ == Precision::kBFloat16 ? torch::kBFloat16 : dtype;
  auto linear = [compute](const torch::Tensor& in, const torch::Tensor& w, const torch::Tensor& b) {
    return model::linear(in, w, b, compute);
  };
  const double attn_p = train_dropout ? dropout_p_ : 0.0;
  const size_t n_layers = layer_list_.size();
  torch::Tensor x_cls;
  for (size_t l = 0; l < n_layers; ++l) {
    auto& layer = layer_list_[l];
    auto h = layer->norm1(x);
    const std::uint64_t key = train_dropout ? next_dropout_key() : 0;
    if (l + 1 < n_layers) {
      auto qkv = linear(h, layer->qkv->weight, layer->qkv->bias);
      auto att = packed_self_attention(qkv, layout, heads_, attn_p, key, generic_attention_);
      x = x + dropout(linear(att, layer->out->weight, layer->out->bias));
      auto f = act_dropout(linear(layer->norm2(x), layer->ffn1->weight, layer->ffn1->bias));
      x = x + dropout(linear(f, layer->ffn2->weight, layer->ffn2->bias));
    } else {
      // Only the CLS outputs are used: keys/values for every token, the query for CLS.
      const auto& w = layer->qkv->weight;
      const auto& b = layer->qkv->bias;
      auto kv = linear(h, w.narrow(0, M, 2 * M), b.narrow(0, M, 2 * M));
      auto q = linear(h.index_select(0, layout.cls_rows), w.narrow(0, 0, M), b.narrow(0, 0, M));
      auto att = packed_cls_attention(q, kv, layout, heads_, attn_p, key, generic_attention_);
      auto xc = x.index_select(0, layout.cls_rows) + dropout(linear(att, layer->out->weight, layer->out->bias));
      auto f = act_dropout(linear(layer->norm2(xc), layer->ffn1->weight, layer->ffn1->bias));
      x_cls = xc + dropout(linear(f, layer->ffn2->weight, layer->ffn2->bias));
    }
  }
  return final_norm(x_cls);
}

}  // namespace irisml::model
