#include "model/tensor_util.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

namespace irisml::model {

std::string shape_string(const torch::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (x.dim() != 2 || !x.is_cpu()) return torch::nn::functional::linear(x, w, b);
  auto y = torch::mm(x, w.t());
  return b.defined() ? y.add_(b) : y;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// out[i] = in[i] · (kept(i) ? scale : 0) for i in [i0, i1).
IRISML_MULTIVERSION
void apply_keyed_mask(const float* __restrict in, float* __restrict out, int64_t i0, int64_t i1, const DropoutHash hash,
                      std::uint32_t threshold, float scale) {
  for (int64_t i = i0; i < i1; ++i) {
    out[i] = hash.lane(static_cast<std::uint64_t>(i)) >= threshold ? in[i] * scale : 0.0f;
  }
}

torch::Tensor masked_copy(const torch::Tensor& x, std::uint64_t key, std::uint32_t threshold) {
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const float scale = static_cast<float>(65536.0 / (65536.0 - threshold));
  const DropoutHash hash(key);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), /*grain_size=*/32768,
                   [&](int64_t begin, int64_t end) { apply_keyed_mask(src, dst, begin, end, hash, threshold, scale); });
  return out;
}

IRISML_MULTIVERSION
void apply_relu_keyed_mask(const float* __restrict in, float* __restrict out, int64_t i0, int64_t i1,
                           const DropoutHash hash, std::uint32_t threshold, float scale) {
  for (int64_t i = i0; i < i1; ++i) {
    const float v = in[i] > 0.0f ? in[i] * scale : 0.0f;
    out[i] = hash.lane(static_cast<std::uint64_t>(i)) >= threshold ? v : 0.0f;
  }
}

IRISML_MULTIVERSION
void relu_dropout_grad(const float* __restrict grad, const float* __restrict out, float* __restrict dx, int64_t i0,
                       int64_t i1, float scale) {
  for (int64_t i = i0; i < i1; ++i) dx[i] = out[i] > 0.0f ? grad[i] * scale : 0.0f;
}

struct ReluDropoutFunction : public torch::autograd::Function<ReluDropoutFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, std::int64_t key, std::int64_t threshold) {
    auto in = x.contiguous();
    auto out = torch::empty_like(in);
    const float scale = static_cast<float>(65536.0 / (65536.0 - static_cast<double>(threshold)));
    const DropoutHash hash(static_cast<std::uint64_t>(key));
    const float* src = in.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const auto thr = static_cast<std::uint32_t>(threshold);
    at::parallel_for(0, in.numel(), /*grain_size=*/32768, [&](int64_t begin, int64_t end) {
      apply_relu_keyed_mask(src, dst, begin, end, hash, thr, scale);
    });
    ctx->save_for_backward({out});
    ctx->saved_data["scale"] = static_cast<double>(scale);
    return out;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto out = ctx->get_saved_variables()[0];
    const auto scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    auto g = grads[0].contiguous();
    auto dx = torch::empty_like(out);
    const float* gp = g.data_ptr<float>();
    const float* op = out.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, out.numel(), /*grain_size=*/32768,
                     [&](int64_t begin, int64_t end) { relu_dropout_grad(gp, op, dp, begin, end, scale); });
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};

struct KeyedDropoutFunction : public torch::autograd::Function<KeyedDropoutFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, std::int64_t key, std::int64_t threshold) {
    ctx->saved_data["key"] = key;
    ctx->saved_data["threshold"] = threshold;
    return masked_copy(x, static_cast<std::uint64_t>(key), static_cast<std::uint32_t>(threshold));
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto key = static_cast<std::uint64_t>(ctx->saved_data["key"].toInt());
    const auto threshold = static_cast<std::uint32_t>(ctx->saved_data["threshold"].toInt());
    return {masked_copy(grads[0], key, threshold), torch::Tensor(), torch::Tensor()};
  }
};

// y = x·wᵀ + b with both factors rounded to `compute` (bf16) and y in x's type. The rounded
// copies are what backward needs, so they are saved instead of x and w (half the
// memory). Written out rather than left to autograd's casts: autograd would hand the
// weight's gradient back transposed and cast it strided, and would run the forward
// product as x·wᵀ, which oneDNN runs slower than x·w with a contiguous transposed copy.
struct LowPrecisionLinearFunction : public torch::autograd::Function<LowPrecisionLinearFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b, std::int64_t compute) {
    const auto type = static_cast<torch::ScalarType>(compute);
    auto x2 = x.reshape({-1, x.size(-1)}).to(type).contiguous();  // (T, K)
    auto wc = w.to(type).contiguous();                            // (N, K)
    auto y = torch::mm(x2, wc.t().contiguous()).to(x.scalar_type());
    if (b.defined()) y.add_(b);
    ctx->save_for_backward({x2, wc});
    ctx->saved_data["bias"] = b.defined();
    if (x.dim() == 2) return y;
    auto sizes = x.sizes().vec();
    sizes.back() = w.size(0);
    return y.reshape(sizes).clone();  // not a view: callers may modify it in place
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x2 = saved[0];
    const auto& wc = saved[1];
    const auto out_type = grads[0].scalar_type();
    auto g32 = grads[0].reshape({-1, wc.size(0)});  // (T, N)
    auto g = g32.to(wc.scalar_type()).contiguous();
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) {
      auto sizes = grads[0].sizes().vec();
      sizes.back() = wc.size(1);
      dx = torch::mm(g, wc).to(out_type).reshape(sizes);
    }
    if (ctx->needs_input_grad(1)) dw = torch::mm(g.t(), x2).to(out_type);
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) db = g32.sum(0);
    return {dx, dw, db, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                     torch::ScalarType compute) {
  if (compute == x.scalar_type()) return linear(x, w, b);
  return LowPrecisionLinearFunction::apply(x, w, b, static_cast<std::int64_t>(compute));
}

torch::Tensor keyed_dropout(const torch::Tensor& x, double p, std::uint64_t key) {
  if (p <= 0.0) return x;
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat32) return torch::dropout(x, p, /*train=*/true);
  const auto threshold = static_cast<std::uint32_t>(std::llround(p * 65536.0));
  if (threshold == 0) return x;
  return KeyedDropoutFunction::apply(x, static_cast<std::int64_t>(key), static_cast<std::int64_t>(threshold));
}

torch::Tensor relu_dropout(const torch::Tensor& x, double p, std::uint64_t key) {
  const auto threshold = static_cast<std::uint32_t>(std::llround(std::max(p, 0.0) * 65536.0));
  if (threshold == 0) return torch::relu(x);
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat32) {
    return torch::dropout(torch::relu(x), p, /*train=*/true);
  }
  return ReluDropoutFunction::apply(x, static_cast<std::int64_t>(key), static_cast<std::int64_t>(threshold));
}

}  // namespace irisml::model
