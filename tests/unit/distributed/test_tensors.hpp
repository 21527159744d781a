// Helpers shared by the distributed tests: rank-dependent tensors whose sum over
// ranks is known in closed form.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <functional>
#include <string>

#include "core/error.hpp"
#include "mpi_test_support.hpp"

namespace irisml::distributed::test_support {

using irisml::test_support::world_rank;
using irisml::test_support::world_size;

// The InputError message f throws, or a marker if it throws none.
inline std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError thrown>";
}

// Tensor k's value on rank r, element j: (k + 1) * (r + 1) + (j % 5). Small
// integers, exact in every dtype; the sum over ranks is (k + 1) * S + size * (j % 5)
// with S = size (size + 1) / 2.
inline torch::Tensor rank_tensor(int k, int rank, torch::IntArrayRef shape, torch::ScalarType dtype,
                                 torch::Device device = torch::kCPU) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  auto j = torch::arange(n, torch::kFloat64).remainder(5);
  return ((k + 1) * (rank + 1) + j).reshape(shape).to(dtype).to(device);
}

// Sum of rank_tensor(k, r, shape, ...) over r = 0 .. size-1, as float64 on the CPU.
inline torch::Tensor expected_sum(int k, int size, torch::IntArrayRef shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  const double s = size * (size + 1) / 2.0;
  auto j = torch::arange(n, torch::kFloat64).remainder(5);
  return ((k + 1) * s + size * j).reshape(shape);
}

struct TensorCase {
  std::vector<std::int64_t> shape;
  torch::ScalarType dtype;
};

// Several dtypes and sizes, including a 0-d and an empty tensor.
inline const std::vector<TensorCase>& tensor_cases() {
  static const std::vector<TensorCase> cases = {
      {{7}, torch::kFloat32}, {{3, 4}, torch::kFloat64},  {{}, torch::kFloat32},      {{0}, torch::kFloat32},
      {{33}, torch::kInt64},  {{2, 2, 5}, torch::kInt32}, {{9}, torch::kInt8},        {{6}, torch::kUInt8},
      {{5}, torch::kInt16},   {{11}, torch::kFloat16},    {{4, 3}, torch::kBFloat16}, {{40}, torch::kFloat32},
  };
  return cases;
}

}  // namespace irisml::distributed::test_support
