// Shared helpers for the model tests.
#pragma once

#include <torch/torch.h>

#include "model/config.hpp"

namespace irisml::model::testing {

// A small configuration that trains and runs in milliseconds.
inline ModelConfig small_config(int n_filters = 6) {
  ModelConfig c;
  c.n_filters = n_filters;
  c.width = 32;
  c.layers = 2;
  c.ffn = 64;
  c.heads = 4;
  c.dropout = 0.0;
  c.flow_blocks = 3;
  c.made_hidden = {32, 32};
  c.mixture_components = 3;
  return c;
}

// Relative-to-scale maximum difference.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace irisml::model::testing
