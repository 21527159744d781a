// Small tensor helpers shared inside the model module.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace irisml::model {

// "(64, 25)" — for error messages.
std::string shape_string(const at::Tensor& t);

// Dropout whose randomness is a pure function of (key, element index): a
// stateless counter-based hash, evaluated in parallel on CPU, in the forward pass and
// again in the backward pass (no mask is stored). Returns x itself when p == 0.
// Elements are kept with probability 1 − round(p·2¹⁶)/2¹⁶ and scaled by its inverse,
// so the expectation is exact. Non-float32 or non-CPU tensors fall back to
// torch::dropout (the device generator).
at::Tensor keyed_dropout(const at::Tensor& x, double p, std::uint64_t key);

// keyed_dropout(relu(x)) in one pass; the backward needs only the output (which the
// next layer keeps anyway), so no mask and no input are stored.
at::Tensor relu_dropout(const at::Tensor& x, double p, std::uint64_t key);

// x·wᵀ + b like torch::nn::functional::linear, but for 2-D x as a plain product
// followed by an in-place bias add: LibTorch's addmm (what linear calls) runs 10–50 %
// slower on CPU with OpenBLAS at the encoder's sizes (measured: (1056×256)·(256×768)
// 2.6 ms vs 2.4 ms with AVX2 kernels, 2.7 vs 1.4 ms with AVX-512 kernels).
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// The same with the product computed in `compute` (bf16 for mixed precision): x and w
// are multiplied as `compute` copies, the product comes back in x's type and the bias
// is added there. With compute == x's type this is linear(x, w, b).
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::ScalarType compute);

// splitmix64 finaliser: a good 64-bit mixing function.
inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Dropout decision for element `index` under a 64-bit stream key: a 32-bit
// murmur3-style finaliser (vectorises well) of the index mixed with the key; the top
// 16 bits are compared with round(p·2¹⁶). Shared by keyed_dropout and the attention
// kernel.
struct DropoutHash {
  std::uint32_t k0 = 0, k1 = 0;
  explicit DropoutHash(std::uint64_t key) {
    const std::uint64_t m = mix64(key);
    k0 = static_cast<std::uint32_t>(m);
    k1 = static_cast<std::uint32_t>(m >> 32);
  }
  __attribute__((always_inline)) std::uint32_t lane(std::uint64_t index) const {
    std::uint32_t x = static_cast<std::uint32_t>(index) * 0x9E3779B9u ^ k0;
    x ^= static_cast<std::uint32_t>(index >> 32) * 0x85EBCA77u;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x = (x ^ k1) * 0xC2B2AE35u;
    x ^= x >> 16;
    return x >> 16;
  }
};

}  // namespace irisml::model

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
// One build, the best vector width the CPU offers (chosen at load time).
#define IRISML_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define IRISML_MULTIVERSION
#endif
