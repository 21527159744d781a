#include "model/flow.hpp"

#include <cmath>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace irisml::model {

namespace F = torch::nn::functional;

namespace {

constexpr double kLog2Pi = 1.8378770664093454836;

torch::Tensor soft_clamp(const torch::Tensor& raw, double limit) { return limit * torch::tanh(raw / limit); }

}  // namespace

// ---------------------------------------------------------------------------------------
// MADE block

MadeBlockImpl::MadeBlockImpl(int dim, int context_width, const std::vector<int>& hidden) : dim_(dim) {
  if (dim < 1) fail_input("MADE: dimension {} (must be >= 1)", dim);
  if (hidden.empty()) fail_input("MADE: no hidden layers");
  for (int h : hidden) {
    if (h < dim) fail_input("MADE: hidden width {} is smaller than the dimension {}", h, dim);
  }
  const auto D = static_cast<int64_t>(dim);
  hidden_layers = register_module("hidden_layers", torch::nn::ModuleList());
  // Degrees: unit k of a width-H layer has degree floor(k·D/H) ∈ [0, D).
  for (size_t l = 0; l < hidden.size(); ++l) {
    const int64_t width = hidden[l];
    std::vector<int64_t> deg(static_cast<size_t>(width));
    std::vector<int64_t> start(static_cast<size_t>(D + 1), width);
    for (int64_t k = width - 1; k >= 0; --k) {
      deg[static_cast<size_t>(k)] = k * D / width;
      start[static_cast<size_t>(deg[static_cast<size_t>(k)])] = k;
    }
    degrees_.push_back(deg);
    start_.push_back(start);
  }
  // Masks (out × in): input j feeds a degree-m unit iff j < m; a degree-m' unit feeds a
  // degree-m unit iff m' ≤ m; a degree-m' unit feeds output d (rows 2d: shift, 2d+1:
  // raw log-scale) iff m' ≤ d.
  for (size_t l = 0; l < hidden.size(); ++l) {
    const int64_t in = l == 0 ? D : hidden[l - 1];
    const int64_t out = hidden[l];
    auto mask = torch::zeros({out, in});
    auto acc = mask.accessor<float, 2>();
    for (int64_t k = 0; k < out; ++k) {
      for (int64_t j = 0; j < in; ++j) {
        const bool on = l == 0 ? j < degrees_[l][static_cast<size_t>(k)]
                               : degrees_[l - 1][static_cast<size_t>(j)] <= degrees_[l][static_cast<size_t>(k)];
        acc[k][j] = on ? 1.0f : 0.0f;
      }
    }
    auto linear = torch::nn::Linear(in, out);
    hidden_layers->push_back(linear);
    linears_.push_back(linear);
    masks_.push_back(register_buffer("mask" + std::to_string(l), mask));
  }
  {
    const int64_t in = hidden.back();
    auto mask = torch::zeros({2 * D, in});
    auto acc = mask.accessor<float, 2>();
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t j = 0; j < in; ++j) {
        const float on = degrees_.back()[static_cast<size_t>(j)] <= d ? 1.0f : 0.0f;
        acc[2 * d][j] = on;
        acc[2 * d + 1][j] = on;
      }
    }
    output = register_module("output", torch::nn::Linear(in, 2 * D));
    {
      // Start near the identity map: small output weights.
      torch::NoGradGuard no_grad;
      output->weight.mul_(0.1);
      output->bias.mul_(0.1);
    }
    linears_.push_back(output);
    masks_.push_back(register_buffer("mask_out", mask));
  }
  context =
      register_module("context", torch::nn::Linear(torch::nn::LinearOptions(context_width, hidden[0]).bias(false)));
}

torch::Tensor MadeBlockImpl::masked_weight(size_t layer) const { return linears_[layer]->weight * masks_[layer]; }

torch::Tensor MadeBlockImpl::context_projection(const torch::Tensor& ctx) const {
  return F::linear(ctx, context->weight);
}

std::pair<torch::Tensor, torch::Tensor> MadeBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& ctx_proj) {
  const size_t n_hidden = linears_.size() - 1;
  auto h = torch::relu(F::linear(x, masked_weight(0), linears_[0]->bias) + ctx_proj.unsqueeze(1));
  for (size_t l = 1; l < n_hidden; ++l) h = torch::relu(F::linear(h, masked_weight(l), linears_[l]->bias));
  auto out = F::linear(h, masked_weight(n_hidden), linears_[n_hidden]->bias);
  auto sizes = x.sizes().vec();
  sizes.push_back(2);
  out = out.view(sizes);  // (B, n, D, 2)
  auto shift = out.select(-1, 0);
  auto s = soft_clamp(out.select(-1, 1), kLogScaleClamp);
  return {(x - shift) * torch::exp(-s), s.sum(-1)};
}

std::pair<torch::Tensor, torch::Tensor> MadeBlockImpl::inverse(const torch::Tensor& u, const torch::Tensor& ctx_proj) {
  torch::NoGradGuard no_grad;
  const int64_t B = u.size(0);
  const int64_t n = u.size(1);
  const int64_t D = dim_;
  const size_t L = linears_.size() - 1;  // hidden layers
  std::vector<torch::Tensor> w(L + 1);
  for (size_t l = 0; l <= L; ++l) w[l] = masked_weight(l);
  auto c0 = [&](size_t l) { return start_[l][1]; };  // number of degree-0 units in layer l
  auto end = [&](size_t l, int64_t d) { return start_[l][static_cast<size_t>(d + 1)]; };

  // Per-star parts: every unit's contribution from the degree-0 (context-only) units.
  std::vector<torch::Tensor> star_pre(L);
  torch::Tensor star_h;  // degree-0 activations of the previous layer (B, c0)
  star_pre[0] = ctx_proj + linears_[0]->bias;
  star_h = torch::relu(star_pre[0].narrow(1, 0, c0(0)));
  for (size_t l = 1; l < L; ++l) {
    star_pre[l] = torch::addmm(linears_[l]->bias, star_h, w[l].narrow(1, 0, c0(l - 1)).t());
    star_h = torch::relu(star_pre[l].narrow(1, 0, c0(l)));
  }
  auto out_star = torch::addmm(linears_[L]->bias, star_h, w[L].narrow(1, 0, c0(L - 1)).t());  // (B, 2D)

  auto x = torch::empty_like(u);
  auto s0 = soft_clamp(out_star.select(1, 1), kLogScaleClamp).unsqueeze(1);  // (B, 1)
  x.select(-1, 0).copy_(u.select(-1, 0) * torch::exp(s0) + out_star.select(1, 0).unsqueeze(1));
  auto sum_s = s0.expand({B, n}).clone();

  // Per-sample buffers for units of degree >= 1, per layer.
  std::vector<torch::Tensor> hbuf(L);
  for (size_t l = 0; l < L; ++l) hbuf[l] = torch::empty({B, n, end(l, D - 1) - c0(l)}, u.options());

  for (int64_t d = 1; d < D; ++d) {
    // Layer 0: units of degree d see x_0 … x_{d−1}.
    {
      const int64_t r = start_[0][static_cast<size_t>(d)];
      const int64_t c = end(0, d) - r;
      if (c > 0) {
        auto pre = torch::matmul(x.narrow(-1, 0, d), w[0].narrow(0, r, c).narrow(1, 0, d).t());
        pre.add_(star_pre[0].narrow(1, r, c).unsqueeze(1));
        hbuf[0].narrow(-1, r - c0(0), c).copy_(pre.relu_());
      }
    }
    for (size_t l = 1; l < L; ++l) {
      const int64_t r = start_[l][static_cast<size_t>(d)];
      const int64_t c = end(l, d) - r;
      if (c == 0) continue;
      const int64_t k = end(l - 1, d) - c0(l - 1);  // previous layer's units of degree 1 … d
      auto bias = star_pre[l].narrow(1, r, c).unsqueeze(1);
      auto dst = hbuf[l].narrow(-1, r - c0(l), c);
      if (k > 0) {
        auto pre = torch::matmul(hbuf[l - 1].narrow(-1, 0, k), w[l].narrow(0, r, c).narrow(1, c0(l - 1), k).t());
        pre.add_(bias);
        dst.copy_(pre.relu_());
      } else {
        dst.copy_(torch::relu(bias));
      }
    }
    // Output d from last-layer units of degree ≤ d.
    const int64_t k = end(L - 1, d) - c0(L - 1);
    auto o = out_star.narrow(1, 2 * d, 2).unsqueeze(1);  // (B, 1, 2)
    if (k > 0) {
      o = torch::matmul(hbuf[L - 1].narrow(-1, 0, k), w[L].narrow(0, 2 * d, 2).narrow(1, c0(L - 1), k).t()) + o;
    } else {
      o = o.expand({B, n, 2});
    }
    auto s = soft_clamp(o.select(-1, 1), kLogScaleClamp);
    x.select(-1, d).copy_(u.select(-1, d) * torch::exp(s) + o.select(-1, 0));
    sum_s.add_(s);
  }
  return {x, sum_s};
}

// ---------------------------------------------------------------------------------------
// Conditional MAF

ConditionalMafImpl::ConditionalMafImpl(int dim, int context_width, int blocks, const std::vector<int>& hidden,
                                       int components)
    : dim_(dim), components_(components) {
  if (blocks < 1) fail_input("MAF: {} blocks (must be >= 1)", blocks);
  if (components < 1) fail_input("MAF: {} mixture components (must be >= 1)", components);
  made_blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < blocks; ++i) {
    auto block = MadeBlock(dim, context_width, hidden);
    made_blocks->push_back(block);
    blocks_.push_back(block);
  }
  // Fixed permutations between blocks: seeded Fisher–Yates, never the identity (D > 1).
  for (int i = 0; i + 1 < blocks; ++i) {
    Philox rng(kPermutationSeed, static_cast<std::uint64_t>(i));
    std::vector<int64_t> perm(static_cast<size_t>(dim));
    bool identity = true;
    do {
      for (int d = 0; d < dim; ++d) perm[static_cast<size_t>(d)] = d;
      for (int d = dim - 1; d > 0; --d) {
        const auto j = static_cast<int>(rng.uniform() * (d + 1));
        std::swap(perm[static_cast<size_t>(d)], perm[static_cast<size_t>(std::min(j, d))]);
      }
      identity = true;
      for (int d = 0; d < dim; ++d) identity = identity && perm[static_cast<size_t>(d)] == d;
    } while (identity && dim > 1);
    permutations_.push_back(register_buffer("perm" + std::to_string(i), torch::tensor(perm, torch::kInt64)));
  }
  mixture_head = register_module("mixture_head", torch::nn::Linear(context_width, components * (1 + 2 * dim)));
}

ConditionalMafImpl::Mixture ConditionalMafImpl::mixture(const torch::Tensor& context) {
  const int64_t B = context.size(0);
  const int64_t K = components_;
  const int64_t D = dim_;
  auto raw = mixture_head(context);
  Mixture m;
  m.log_weights = torch::log_softmax(raw.narrow(1, 0, K), /*dim=*/-1);
  m.means = raw.narrow(1, K, K * D).reshape({B, K, D});
  m.log_stds = soft_clamp(raw.narrow(1, K + K * D, K * D).reshape({B, K, D}), kBaseLogStdClamp);
  return m;
}

torch::Tensor ConditionalMafImpl::base_log_prob(const torch::Tensor& u, const torch::Tensor& context) {
  auto m = mixture(context);
  auto inv_std = torch::exp(-m.log_stds).unsqueeze(1);                        // (B, 1, K, D)
  auto diff = (u.unsqueeze(2) - m.means.unsqueeze(1)) * inv_std;              // (B, n, K, D)
  auto comp = -0.5 * diff.square().sum(-1) - m.log_stds.sum(-1).unsqueeze(1)  // (B, n, K)
              - 0.5 * static_cast<double>(dim_) * kLog2Pi;
  return torch::logsumexp(comp + m.log_weights.unsqueeze(1), /*dim=*/-1);
}

std::pair<torch::Tensor, torch::Tensor> ConditionalMafImpl::to_base(const torch::Tensor& z,
                                                                    const torch::Tensor& context) {
  auto x = z;
  torch::Tensor logdet;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    auto [u, sum_s] = blocks_[i]->forward(x, blocks_[i]->context_projection(context));
    logdet = logdet.defined() ? logdet - sum_s : -sum_s;
    x = i + 1 < blocks_.size() ? u.index_select(-1, permutations_[i]) : u;
  }
  return {x, logdet};
}

std::pair<torch::Tensor, torch::Tensor> ConditionalMafImpl::from_base(const torch::Tensor& u,
                                                                      const torch::Tensor& context) {
  torch::NoGradGuard no_grad;
  auto y = u;
  torch::Tensor logdet;
  for (size_t idx = blocks_.size(); idx-- > 0;) {
    if (idx + 1 < blocks_.size()) y = y.index_select(-1, torch::argsort(permutations_[idx]));
    auto [x, sum_s] = blocks_[idx]->inverse(y, blocks_[idx]->context_projection(context));
    logdet = logdet.defined() ? logdet + sum_s : sum_s;
    y = x;
  }
  return {y, logdet};
}

torch::Tensor ConditionalMafImpl::log_prob(const torch::Tensor& z, const torch::Tensor& context) {
  const bool flat = z.dim() == 2;
  auto z3 = flat ? z.unsqueeze(1) : z;
  if (z3.dim() != 3 || z3.size(-1) != dim_ || z3.size(0) != context.size(0)) {
    fail_input("MAF log_prob: z must be (B, {0}) or (B, n, {0}) with B = {1} contexts", dim_, context.size(0));
  }
  auto [u, logdet] = to_base(z3.to(context.scalar_type()), context);
  auto lp = base_log_prob(u, context) + logdet;
  return flat ? lp.squeeze(1) : lp;
}

std::pair<torch::Tensor, torch::Tensor> ConditionalMafImpl::sample(const torch::Tensor& context,
                                                                   const torch::Tensor& base_normal,
                                                                   const torch::Tensor& component_uniform) {
  torch::NoGradGuard no_grad;
  const int64_t B = context.size(0);
  if (base_normal.dim() != 3 || base_normal.size(0) != B || base_normal.size(2) != dim_) {
    fail_input("MAF sample: base_normal must be (B={}, n, {})", B, dim_);
  }
  const int64_t n = base_normal.size(1);
  if (component_uniform.dim() != 2 || component_uniform.size(0) != B || component_uniform.size(1) != n) {
    fail_input("MAF sample: component_uniform must be (B={}, n={})", B, n);
  }
  auto m = mixture(context);
  auto cdf = torch::softmax(m.log_weights, /*dim=*/-1).cumsum(-1);  // (B, K)
  auto comp = (component_uniform.to(cdf.scalar_type()).unsqueeze(-1) >= cdf.unsqueeze(1))
                  .sum(-1)
                  .clamp_max(components_ - 1);  // (B, n)
  auto index = comp.unsqueeze(-1).expand({B, n, dim_});
  auto u = m.means.gather(1, index) + torch::exp(m.log_stds.gather(1, index)) * base_normal.to(context.scalar_type());
  auto lp_base = base_log_prob(u, context);
  auto [z, logdet] = from_base(u, context);
  return {z, lp_base - logdet};
}

}  // namespace irisml::model
