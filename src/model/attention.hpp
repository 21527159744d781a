// Multi-head attention over variable-length sets stored packed, star after star.
//
// Layout: star b owns rows offsets[b] … offsets[b+1]−1 of every packed (T, ·) tensor,
// its CLS token first. Attention never crosses stars and there are no padded slots, so
// nothing about padding can leak and no work is spent on it.
//
// On CPU the attention product, masked softmax, dropout and their gradients run in one
// fused kernel per (star, head) (ATen's CPU bmm loops serially over small matrices,
// which dominated the step). Elsewhere (CUDA) the same maths runs with batched torch
// ops on a padded layout; both paths are tested against each other.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace irisml::model {

struct PackedLayout {
  std::int64_t batch = 0;    // B stars
  std::int64_t tokens = 0;   // T rows (B CLS tokens + observed bands)
  std::int64_t max_len = 0;  // longest star (CLS included)
  at::Tensor offsets;        // (B+1) int64 on CPU
  at::Tensor cls_rows;       // (B) int64 on the device: offsets[0..B)

  // From per-star token counts (CLS included), (B) int64 on any device.
  static PackedLayout from_lengths(const at::Tensor& lengths);
};

// Self-attention of every token of a star over the tokens of the same star.
// qkv (T, 3M) = [queries | keys | values]; returns (T, M) (heads concatenated).
// Dropout with probability `dropout_p` on the attention weights, keyed by `key`
// (training only; pass 0 to disable).
at::Tensor packed_self_attention(const at::Tensor& qkv, const PackedLayout& layout, std::int64_t heads,
                                 double dropout_p, std::uint64_t key, bool force_generic = false);

// Attention of each star's CLS query over its tokens: q (B, M), kv (T, 2M) → (B, M).
at::Tensor packed_cls_attention(const at::Tensor& q, const at::Tensor& kv, const PackedLayout& layout,
                                std::int64_t heads, double dropout_p, std::uint64_t key, bool force_generic = false);

}  // namespace irisml::model
