// Conditional masked autoregressive flow (MAF) over a D-dimensional variable z.
//
// Density direction z → u: K MADE blocks, each an affine autoregressive map
//   u_d = (x_d − μ_d(x_<d, c)) · exp(−s_d(x_<d, c)),   s = 3·tanh(raw/3)  (soft clamp),
// with fixed seeded permutations between blocks, and a Gaussian-mixture base p(u | c)
// whose weights, means and log-stds are a linear function of the context c. log p(z|c)
// = log p(u|c) − Σ_blocks Σ_d s_d: exact, summed over all D dimensions.
//
// MADE: hidden units carry degrees 0 … D−1 (sorted, near-equal counts); a unit of degree
// m sees inputs x_j with j < m, a unit in a later layer sees units of degree ≤ m, and
// output d sees units of degree ≤ d. Degree-0 units see only the context (through each
// block's own Linear(context → hidden[0]) added to the first hidden layer), so the first
// dimension's transform depends on the context alone.
//
// Sampling inverts the blocks one dimension at a time, incrementally: pass d computes
// only the units of degree d, so one inversion costs about one masked forward pass
// rather than D of them; every per-star quantity (context projections, degree-0 units,
// their contribution to later layers and outputs, the first dimension's transform) is
// computed once per star and broadcast over its samples.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace irisml::model {

class MadeBlockImpl : public torch::nn::Module {
 public:
  static constexpr double kLogScaleClamp = 3.0;

  MadeBlockImpl(int dim, int context_width, const std::vector<int>& hidden);

  // (B, H0): the context's contribution to the first hidden layer (no bias).
  torch::Tensor context_projection(const torch::Tensor& context) const;

  // Density direction. x (B, n, D), ctx_proj (B, H0) → (u (B, n, D), Σ_d s_d (B, n)).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& ctx_proj);

  // Sampling direction (not differentiable: runs under NoGradGuard).
  // u (B, n, D), ctx_proj (B, H0) → (x (B, n, D), Σ_d s_d (B, n)).
  std::pair<torch::Tensor, torch::Tensor> inverse(const torch::Tensor& u, const torch::Tensor& ctx_proj);

  // Degree of every unit of hidden layer `layer` (sorted ascending).
  const std::vector<int64_t>& degrees(int layer) const { return degrees_.at(static_cast<size_t>(layer)); }

  torch::nn::ModuleList hidden_layers{nullptr};
  torch::nn::Linear context{nullptr}, output{nullptr};

 private:
  torch::Tensor masked_weight(size_t layer) const;  // layer == n_hidden → output layer

  int dim_;
  std::vector<torch::nn::Linear> linears_;  // hidden layers then output
  std::vector<torch::Tensor> masks_;        // registered buffers, same order
  std::vector<std::vector<int64_t>> degrees_;
  // start_[l][m] = first unit of degree m in hidden layer l; start_[l][D] = width.
  std::vector<std::vector<int64_t>> start_;
};
TORCH_MODULE(MadeBlock);

class ConditionalMafImpl : public torch::nn::Module {
 public:
  static constexpr double kBaseLogStdClamp = 5.0;
  static constexpr std::uint64_t kPermutationSeed = 0x1215A7u;

  ConditionalMafImpl(int dim, int context_width, int blocks, const std::vector<int>& hidden, int components);

  int dim() const { return dim_; }

  // z (B, D) or (B, n, D); context (B, M) → log p(z | context) (B) or (B, n).
  torch::Tensor log_prob(const torch::Tensor& z, const torch::Tensor& context);

  // z (B, n, D) → (u (B, n, D), Σ log|det ∂u/∂z| (B, n)).
  std::pair<torch::Tensor, torch::Tensor> to_base(const torch::Tensor& z, const torch::Tensor& context);
  // u (B, n, D) → (z (B, n, D), Σ log|det ∂z/∂u| (B, n)); not differentiable.
  std::pair<torch::Tensor, torch::Tensor> from_base(const torch::Tensor& u, const torch::Tensor& context);

  // log p_base(u | context) for u (B, n, D) → (B, n).
  torch::Tensor base_log_prob(const torch::Tensor& u, const torch::Tensor& context);

  // base_normal (B, n, D) standard normal, component_uniform (B, n) in (0, 1) →
  // (z (B, n, D), log p(z | context) (B, n)), under NoGradGuard.
  std::pair<torch::Tensor, torch::Tensor> sample(const torch::Tensor& context, const torch::Tensor& base_normal,
                                                 const torch::Tensor& component_uniform);

  // Permutation applied after block i (i < blocks − 1).
  torch::Tensor permutation(int i) const { return permutations_.at(static_cast<size_t>(i)); }
  MadeBlock block(int i) const { return blocks_.at(static_cast<size_t>(i)); }
  int n_blocks() const { return static_cast<int>(blocks_.size()); }

  torch::nn::ModuleList made_blocks{nullptr};
  torch::nn::Linear mixture_head{nullptr};

 private:
  struct Mixture {
    torch::Tensor log_weights, means, log_stds;  // (B, K), (B, K, D), (B, K, D)
  };
  Mixture mixture(const torch::Tensor& context);

  int dim_, components_;
  std::vector<MadeBlock> blocks_;
  std::vector<torch::Tensor> permutations_, inverse_permutations_;
};
TORCH_MODULE(ConditionalMaf);

}  // namespace irisml::model
