#include "model/attention.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "model/tensor_util.hpp"

namespace irisml::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr std::int64_t kLane = 16;  // key block width (one AVX-512 register of floats)

// Dropout keep-mask value for attention weight number `index` (0 or 1/keep).
struct DropoutRule {
  std::uint32_t threshold = 0;  // lane < threshold → dropped
  float keep_scale = 1.0f;
  DropoutHash hash;

  DropoutRule(double p, std::uint64_t key) : hash(key) {
    if (p > 0.0) {
      threshold = static_cast<std::uint32_t>(std::llround(p * 65536.0));
      keep_scale = static_cast<float>(65536.0 / (65536.0 - threshold));
    }
  }
  bool active() const { return threshold > 0; }
  __attribute__((always_inline)) float value(std::uint64_t index) const {
    return hash.lane(index) >= threshold ? keep_scale : 0.0f;
  }
  // mask[j] = value(first + j) (or 1 without dropout) for j < n, and 0 from n up to the
  // next multiple of 16. The loop vectorises.
  __attribute__((always_inline)) void fill(float* __restrict mask, std::uint64_t first, std::int64_t n) const {
    if (!active()) {
      std::fill_n(mask, n, 1.0f);
    } else {
      for (std::int64_t j = 0; j < n; ++j) mask[j] = value(first + static_cast<std::uint64_t>(j));
    }
    for (std::int64_t j = n; j % kLane != 0; ++j) mask[j] = 0.0f;
  }
};

// Pointers and strides of one attention problem (float32, rows of width M = heads·dh).
struct Problem {
  const float* q;
  std::int64_t q_stride;
  const float* k;
  std::int64_t k_stride;
  const float* v;
  std::int64_t v_stride;
  const std::int64_t* offsets;  // (B+1)
  bool cls_only;                // true: star b has one query, row b of q; else rows offsets[b]… of q
  std::int64_t heads, dh;
  float scale;
  float* probs;                      // softmax weights (pre-dropout), per star/head/query, rows
                                     // padded with zeros to a multiple of 16 keys
  const std::int64_t* prob_offsets;  // (B) start of star b in probs
};

inline std::int64_t query_row(const Problem& p, std::int64_t b) { return p.cls_only ? b : p.offsets[b]; }
inline std::int64_t query_count(const Problem& p, std::int64_t b) {
  return p.cls_only ? 1 : p.offsets[b + 1] - p.offsets[b];
}

// ---- small dense kernels, written so the compiler keeps accumulators in registers.
// DH is the head width when known at compile time (0: use the runtime `dh`).

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// dst (dh × Lp, zero beyond L) = head columns of rows r0 … r0+L−1 of src, transposed.
inline __attribute__((always_inline)) void gather_transposed(float* __restrict dst, const float* __restrict src,
                                                             std::int64_t stride, std::int64_t r0, std::int64_t L,
                                                             std::int64_t Lp, std::int64_t col, std::int64_t dh) {
  std::fill_n(dst, dh * Lp, 0.0f);
  for (std::int64_t j = 0; j < L; ++j) {
    const float* row = src + (r0 + j) * stride + col;
    for (std::int64_t d = 0; d < dh; ++d) dst[d * Lp + j] = row[d];
  }
}

// 16 floats as one value (GCC/Clang vector extension: one AVX-512 register, two AVX or
// four SSE registers depending on the clone being compiled).
typedef float Vec16 __attribute__((vector_size(64)));
typedef std::int32_t Vec16i __attribute__((vector_size(64)));
typedef float Vec16u __attribute__((vector_size(64), aligned(4), may_alias));  // unaligned access
#define IRISML_LOAD16(ptr) (*reinterpret_cast<const Vec16u*>(ptr))
#define IRISML_STORE16(ptr, value) (*reinterpret_cast<Vec16u*>(ptr) = (value))

inline __attribute__((always_inline)) float horizontal_sum(const Vec16& v) {
  float s = 0.0f;
  for (int l = 0; l < kLane; ++l) s += v[l];
  return s;
}

inline __attribute__((always_inline)) float horizontal_max(const Vec16& v) {
  float m = v[0];
  for (int l = 1; l < kLane; ++l) m = std::max(m, v[l]);
  return m;
}

// x ← e^x lane-wise for x ≤ 0 (relative error < 2e-7; 0 below −87 in effect): 2^n · 2^f
// with f ∈ [−½, ½] and a degree-7 polynomial for 2^f. Vectorises, unlike std::exp.
inline __attribute__((always_inline)) void exp_nonpositive16(Vec16& x) {
  const Vec16 lo = Vec16{} - 87.0f;
  x = x < lo ? lo : x;
  const Vec16 t = x * 1.44269504088896341f;
  const Vec16 n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  const Vec16 f = t - n;
  Vec16 p = Vec16{} + 1.52527338e-5f;
  p = p * f + 1.54035304e-4f;
  p = p * f + 1.33335581e-3f;
  p = p * f + 9.61812911e-3f;
  p = p * f + 5.55041087e-2f;
  p = p * f + 2.40226507e-1f;
  p = p * f + 6.93147181e-1f;
  p = p * f + 1.0f;
  const Vec16i bits = (__builtin_convertvector(n, Vec16i) + 127) << 23;
  Vec16 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  x = p * scale;
}

// out[0..Lp) = Σ_d a[d] · mt[d][0..Lp): a row times a transposed block, 16 keys at a
// time with two independent accumulators (even/odd d) per block.
template <int DH>
inline __attribute__((always_inline)) void row_times(float* __restrict out, const float* __restrict a,
                                                     const float* __restrict mt, std::int64_t Lp, std::int64_t dh_rt) {
  const std::int64_t dh = DH ? DH : dh_rt;
  for (std::int64_t j0 = 0; j0 < Lp; j0 += kLane) {
    Vec16 even = {}, odd = {};
    std::int64_t d = 0;
    for (; d + 1 < dh; d += 2) {
      even += a[d] * IRISML_LOAD16(mt + d * Lp + j0);
      odd += a[d + 1] * IRISML_LOAD16(mt + (d + 1) * Lp + j0);
    }
    if (d < dh) even += a[d] * IRISML_LOAD16(mt + d * Lp + j0);
    IRISML_STORE16(out + j0, even + odd);
  }
}

// y[0..dh) += a · x[0..dh)
template <int DH>
inline __attribute__((always_inline)) void axpy(float* __restrict y, float a, const float* __restrict x,
                                                std::int64_t dh_rt) {
  if constexpr (DH > 0 && DH % kLane == 0) {
    for (int d = 0; d < DH; d += kLane) IRISML_STORE16(y + d, IRISML_LOAD16(y + d) + a * IRISML_LOAD16(x + d));
  } else {
    const std::int64_t dh = DH ? DH : dh_rt;
    for (std::int64_t d = 0; d < dh; ++d) y[d] += a * x[d];
  }
}

// out[0..dh) = Σ_j w[j] · rows[j][0..dh) over j < L (rows spaced by `stride`), with
// register accumulators when DH is a multiple of 16.
template <int DH>
inline __attribute__((always_inline)) void weighted_rows(float* __restrict out, const float* __restrict w,
                                                         const float* __restrict rows, std::int64_t stride,
                                                         std::int64_t L, std::int64_t dh_rt) {
  if constexpr (DH > 0 && DH % kLane == 0) {
    constexpr int kV = DH / kLane;
    Vec16 acc0[kV] = {}, acc1[kV] = {};
    std::int64_t j = 0;
    for (; j + 1 < L; j += 2) {
      const float* r0 = rows + j * stride;
      const float* r1 = r0 + stride;
      for (int v = 0; v < kV; ++v) {
        acc0[v] += w[j] * IRISML_LOAD16(r0 + v * kLane);
        acc1[v] += w[j + 1] * IRISML_LOAD16(r1 + v * kLane);
      }
    }
    if (j < L) {
      const float* r0 = rows + j * stride;
      for (int v = 0; v < kV; ++v) acc0[v] += w[j] * IRISML_LOAD16(r0 + v * kLane);
    }
    for (int v = 0; v < kV; ++v) IRISML_STORE16(out + v * kLane, acc0[v] + acc1[v]);
  } else {
    const std::int64_t dh = DH ? DH : dh_rt;
    std::fill_n(out, dh, 0.0f);
    for (std::int64_t j = 0; j < L; ++j) axpy<DH>(out, w[j], rows + j * stride, dh);
  }
}

inline void zero_block(float* base, std::int64_t stride, std::int64_t r0, std::int64_t rows, std::int64_t col,
                       std::int64_t dh) {
  for (std::int64_t r = r0; r < r0 + rows; ++r) std::fill_n(base + r * stride + col, dh, 0.0f);
}

// Where the (star b, head h) problem lives: its keys (rows kv0 … kv0+Lk−1, padded to Lp
// for the vector loops), its Lq queries from row q0, its head columns from col and the
// start of its softmax weights in Problem::probs.
struct Slot {
  std::int64_t kv0, Lk, Lp, Lq, q0, col, base;
  Slot(const Problem& p, std::int64_t b, std::int64_t h, std::int64_t dh)
      : kv0(p.offsets[b]),
        Lk(p.offsets[b + 1] - kv0),
        Lp(round_up(Lk, kLane)),
        Lq(query_count(p, b)),
        q0(query_row(p, b)),
        col(h * dh),
        base(p.prob_offsets[b] + h * Lq * Lp) {}
};

// Scratch per thread: transposed keys or values (dh × Lp) and three rows of Lp.
inline float* scratch_for(std::vector<float>& scratch, std::int64_t dh, std::int64_t Lp) {
  const auto need = static_cast<size_t>((dh + 3) * Lp);
  if (scratch.size() < need) scratch.resize(need);
  return scratch.data();
}

template <int DH>
inline __attribute__((always_inline)) void forward_impl(const Problem& p, const DropoutRule& drop, std::int64_t b,
                                                        std::int64_t h, float* out, std::int64_t out_stride,
                                                        std::vector<float>& scratch) {
  const std::int64_t dh = DH ? DH : p.dh;
  const auto [kv0, Lk, Lp, Lq, q0, col, base] = Slot(p, b, h, dh);
  float* kt = scratch_for(scratch, dh, Lp);
  float* srow = kt + dh * Lp;
  float* wrow = srow + Lp;
  float* mask = wrow + Lp;
  gather_transposed(kt, p.k, p.k_stride, kv0, Lk, Lp, col, dh);
  float* P = p.probs + base;
  for (std::int64_t i = 0; i < Lq; ++i) {
    row_times<DH>(srow, p.q + (q0 + i) * p.q_stride + col, kt, Lp, dh);
    for (std::int64_t j = Lk; j < Lp; ++j) srow[j] = -std::numeric_limits<float>::infinity();
    Vec16 m = IRISML_LOAD16(srow);
    for (std::int64_t j0 = kLane; j0 < Lp; j0 += kLane) {
      const Vec16 v = IRISML_LOAD16(srow + j0);
      m = v > m ? v : m;
    }
    const float mx = horizontal_max(m);
    Vec16 sum = {};
    for (std::int64_t j0 = 0; j0 < Lp; j0 += kLane) {
      Vec16 e = (IRISML_LOAD16(srow + j0) - mx) * p.scale;
      exp_nonpositive16(e);
      IRISML_STORE16(srow + j0, e);
      sum += e;
    }
    const float inv = 1.0f / horizontal_sum(sum);
    float* row = P + i * Lp;
    drop.fill(mask, static_cast<std::uint64_t>(base + i * Lp), Lk);
    for (std::int64_t j0 = 0; j0 < Lp; j0 += kLane) {
      const Vec16 pr = IRISML_LOAD16(srow + j0) * inv;
      IRISML_STORE16(row + j0, pr);
      IRISML_STORE16(wrow + j0, pr * IRISML_LOAD16(mask + j0));
    }
    for (std::int64_t j = Lk; j < Lp; ++j) row[j] = 0.0f;  // pads hold exactly zero weight
    weighted_rows<DH>(out + (q0 + i) * out_stride + col, wrow, p.v + kv0 * p.v_stride + col, p.v_stride, Lk, dh);
  }
}

template <int DH>
inline __attribute__((always_inline)) void backward_impl(const Problem& p, const DropoutRule& drop, std::int64_t b,
                                                         std::int64_t h, const float* dout, std::int64_t dout_stride,
                                                         float* dq, std::int64_t dq_stride, float* dk,
                                                         std::int64_t dk_stride, float* dv, std::int64_t dv_stride,
                                                         std::vector<float>& scratch) {
  const std::int64_t dh = DH ? DH : p.dh;
  const auto [kv0, Lk, Lp, Lq, q0, col, base] = Slot(p, b, h, dh);
  const float* P = p.probs + base;
  float* vt = scratch_for(scratch, dh, Lp);
  float* dp = vt + dh * Lp;
  float* ds = dp + Lp;
  float* mask = ds + Lp;
  gather_transposed(vt, p.v, p.v_stride, kv0, Lk, Lp, col, dh);
  zero_block(dk, dk_stride, kv0, Lk, col, dh);
  zero_block(dv, dv_stride, kv0, Lk, col, dh);
  for (std::int64_t i = 0; i < Lq; ++i) {
    const float* doi = dout + (q0 + i) * dout_stride + col;
    const float* row = P + i * Lp;       // zero beyond Lk
    row_times<DH>(dp, doi, vt, Lp, dh);  // ∂L/∂(dropped-out weight)
    drop.fill(mask, static_cast<std::uint64_t>(base + i * Lp), Lk);
    Vec16 rv = {};
    for (std::int64_t j0 = 0; j0 < Lp; j0 += kLane) {
      const Vec16 g = IRISML_LOAD16(dp + j0) * IRISML_LOAD16(mask + j0);  // ∂L/∂(softmax output)
      IRISML_STORE16(dp + j0, g);
      rv += g * IRISML_LOAD16(row + j0);
    }
    const float r = horizontal_sum(rv);
    for (std::int64_t j0 = 0; j0 < Lp; j0 += kLane) {
      IRISML_STORE16(ds + j0, IRISML_LOAD16(row + j0) * (IRISML_LOAD16(dp + j0) - r) * p.scale);
    }
    const float* qi = p.q + (q0 + i) * p.q_stride + col;
    for (std::int64_t j = 0; j < Lk; ++j) {
      const float w = row[j] * mask[j];
      if (w != 0.0f) axpy<DH>(dv + (kv0 + j) * dv_stride + col, w, doi, dh);
      if (ds[j] != 0.0f) axpy<DH>(dk + (kv0 + j) * dk_stride + col, ds[j], qi, dh);
    }
    weighted_rows<DH>(dq + (q0 + i) * dq_stride + col, ds, p.k + kv0 * p.k_stride + col, p.k_stride, Lk, dh);
  }
}

IRISML_MULTIVERSION
void forward_task(const Problem& p, const DropoutRule& drop, std::int64_t b, std::int64_t h, float* out,
                  std::int64_t out_stride, std::vector<float>& scratch) {
  switch (p.dh) {
    case 8: return forward_impl<8>(p, drop, b, h, out, out_stride, scratch);
    case 16: return forward_impl<16>(p, drop, b, h, out, out_stride, scratch);
    case 32: return forward_impl<32>(p, drop, b, h, out, out_stride, scratch);
    case 64: return forward_impl<64>(p, drop, b, h, out, out_stride, scratch);
    default: return forward_impl<0>(p, drop, b, h, out, out_stride, scratch);
  }
}

// Gradients for one (star, head); writes (not accumulates) its blocks of dq, dk, dv.
IRISML_MULTIVERSION
void backward_task(const Problem& p, const DropoutRule& drop, std::int64_t b, std::int64_t h, const float* dout,
                   std::int64_t dout_stride, float* dq, std::int64_t dq_stride, float* dk, std::int64_t dk_stride,
                   float* dv, std::int64_t dv_stride, std::vector<float>& scratch) {
  switch (p.dh) {
    case 8:
      return backward_impl<8>(p, drop, b, h, dout, dout_stride, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
    case 16:
      return backward_impl<16>(p, drop, b, h, dout, dout_stride, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
    case 32:
      return backward_impl<32>(p, drop, b, h, dout, dout_stride, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
    case 64:
      return backward_impl<64>(p, drop, b, h, dout, dout_stride, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
    default:
      return backward_impl<0>(p, drop, b, h, dout, dout_stride, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
  }
}

// Start of each star's softmax weights in one flat buffer; returns the total size.
std::int64_t prob_layout(const PackedLayout& layout, bool cls_only, std::int64_t heads,
                         std::vector<std::int64_t>& starts) {
  const auto* off = layout.offsets.data_ptr<std::int64_t>();
  starts.resize(static_cast<size_t>(layout.batch));
  std::int64_t total = 0;
  for (std::int64_t b = 0; b < layout.batch; ++b) {
    starts[static_cast<size_t>(b)] = total;
    const std::int64_t Lk = off[b + 1] - off[b];
    total += heads * (cls_only ? 1 : Lk) * round_up(Lk, kLane);
  }
  return total;
}

// Runs the fused kernel forward. q/k/v are (rows, ≥ M) float32 with unit column stride.
// The kernel's view of q, k, v (rows of M = heads × dh floats) and of the softmax weights.
Problem make_problem(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const PackedLayout& layout,
                     bool cls_only, std::int64_t heads, float* probs, const std::vector<std::int64_t>& starts) {
  const std::int64_t dh = q.size(1) / heads;
  return Problem{q.data_ptr<float>(),
                 q.stride(0),
                 k.data_ptr<float>(),
                 k.stride(0),
                 v.data_ptr<float>(),
                 v.stride(0),
                 layout.offsets.data_ptr<std::int64_t>(),
                 cls_only,
                 heads,
                 dh,
                 static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh))),
                 probs,
                 starts.data()};
}

torch::Tensor fused_forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const PackedLayout& layout, bool cls_only, std::int64_t heads, double dropout_p,
                            std::uint64_t key, torch::Tensor& probs_out) {
  const std::int64_t M = q.size(1);
  std::vector<std::int64_t> starts;
  const std::int64_t n_probs = prob_layout(layout, cls_only, heads, starts);
  auto probs = torch::empty({n_probs}, q.options());
  auto out = torch::empty({q.size(0), M}, q.options());
  const Problem p = make_problem(q, k, v, layout, cls_only, heads, probs.data_ptr<float>(), starts);
  const DropoutRule drop(dropout_p, key);
  float* o = out.data_ptr<float>();
  const std::int64_t n_tasks = layout.batch * heads;
  at::parallel_for(0, n_tasks, /*grain_size=*/4, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scratch;
    for (std::int64_t t = begin; t < end; ++t) forward_task(p, drop, t / heads, t % heads, o, M, scratch);
  });
  probs_out = probs;
  return out;
}

void fused_backward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& probs,
                    const torch::Tensor& dout, const PackedLayout& layout, bool cls_only, std::int64_t heads,
                    double dropout_p, std::uint64_t key, float* dq, std::int64_t dq_stride, float* dk,
                    std::int64_t dk_stride, float* dv, std::int64_t dv_stride) {
  const std::int64_t M = q.size(1);
  std::vector<std::int64_t> starts;
  prob_layout(layout, cls_only, heads, starts);
  const Problem p = make_problem(q, k, v, layout, cls_only, heads, const_cast<float*>(probs.data_ptr<float>()), starts);
  const DropoutRule drop(dropout_p, key);
  auto g = dout.contiguous();
  const float* go = g.data_ptr<float>();
  const std::int64_t n_tasks = layout.batch * heads;
  at::parallel_for(0, n_tasks, /*grain_size=*/4, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scratch;
    for (std::int64_t t = begin; t < end; ++t) {
      backward_task(p, drop, t / heads, t % heads, go, M, dq, dq_stride, dk, dk_stride, dv, dv_stride, scratch);
    }
  });
}

// The layout behind a (B+1) offsets tensor (max_len and cls_rows are not needed here).
PackedLayout layout_of(const torch::Tensor& offsets) {
  PackedLayout layout;
  layout.offsets = offsets;
  layout.batch = offsets.size(0) - 1;
  layout.tokens = offsets.data_ptr<std::int64_t>()[layout.batch];
  return layout;
}

// Heads, dropout probability and dropout key, kept between forward and backward.
struct SavedSettings {
  std::int64_t heads;
  double p;
  std::int64_t key;
  void save(AutogradContext* ctx) const {
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["p"] = p;
    ctx->saved_data["key"] = key;
  }
  static SavedSettings load(AutogradContext* ctx) {
    return {ctx->saved_data["heads"].toInt(), ctx->saved_data["p"].toDouble(), ctx->saved_data["key"].toInt()};
  }
};

struct SelfAttentionFunction : public torch::autograd::Function<SelfAttentionFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& qkv, const torch::Tensor& offsets,
                               std::int64_t heads, double dropout_p, std::int64_t key) {
    const std::int64_t M = qkv.size(1) / 3;
    const auto layout = layout_of(offsets);
    auto x = qkv.stride(1) == 1 ? qkv : qkv.contiguous();
    torch::Tensor probs;
    auto out = fused_forward(x.narrow(1, 0, M), x.narrow(1, M, M), x.narrow(1, 2 * M, M), layout, false, heads,
                             dropout_p, static_cast<std::uint64_t>(key), probs);
    ctx->save_for_backward({x, offsets, probs});
    SavedSettings{heads, dropout_p, key}.save(ctx);
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto layout = layout_of(saved[1]);
    const auto [heads, p, key] = SavedSettings::load(ctx);
    const std::int64_t M = x.size(1) / 3;
    auto dx = torch::empty_like(x);  // every block is written by exactly one task
    float* d = dx.data_ptr<float>();
    fused_backward(x.narrow(1, 0, M), x.narrow(1, M, M), x.narrow(1, 2 * M, M), saved[2], grads[0], layout, false,
                   heads, p, static_cast<std::uint64_t>(key), d, 3 * M, d + M, 3 * M, d + 2 * M, 3 * M);
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

struct ClsAttentionFunction : public torch::autograd::Function<ClsAttentionFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& kv,
                               const torch::Tensor& offsets, std::int64_t heads, double dropout_p, std::int64_t key) {
    const std::int64_t M = q.size(1);
    const auto layout = layout_of(offsets);
    auto qc = q.stride(1) == 1 ? q : q.contiguous();
    auto kvc = kv.stride(1) == 1 ? kv : kv.contiguous();
    torch::Tensor probs;
    auto out = fused_forward(qc, kvc.narrow(1, 0, M), kvc.narrow(1, M, M), layout, true, heads, dropout_p,
                             static_cast<std::uint64_t>(key), probs);
    ctx->save_for_backward({qc, kvc, offsets, probs});
    SavedSettings{heads, dropout_p, key}.save(ctx);
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& q = saved[0];
    const auto& kv = saved[1];
    const auto layout = layout_of(saved[2]);
    const auto [heads, p, key] = SavedSettings::load(ctx);
    const std::int64_t M = q.size(1);
    auto dq = torch::empty_like(q);  // every block is written by exactly one task
    auto dkv = torch::empty_like(kv);
    float* dkvp = dkv.data_ptr<float>();
    fused_backward(q, kv.narrow(1, 0, M), kv.narrow(1, M, M), saved[3], grads[0], layout, true, heads, p,
                   static_cast<std::uint64_t>(key), dq.data_ptr<float>(), M, dkvp, 2 * M, dkvp + M, 2 * M);
    return {dq, dkv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- generic path (any device): padded layout + batched torch ops ----

struct PaddedIndex {
  torch::Tensor pos;       // (T) row → b·L + j
  torch::Tensor key_bias;  // (B·H, 1, L): 0 for real keys, −inf for pads
};

PaddedIndex padded_index(const PackedLayout& layout, std::int64_t heads, const torch::Tensor& like) {
  const auto device = like.device();
  auto off = layout.offsets.to(device);
  auto lengths = off.narrow(0, 1, layout.batch) - off.narrow(0, 0, layout.batch);
  const std::int64_t L = layout.max_len;
  auto star = torch::repeat_interleave(torch::arange(layout.batch, off.options()), lengths);
  auto row = torch::arange(layout.tokens, off.options());
  PaddedIndex idx;
  idx.pos = star * L + (row - off.index_select(0, star));
  auto valid = torch::arange(L, off.options()).unsqueeze(0) < lengths.unsqueeze(1);  // (B, L)
  idx.key_bias = torch::zeros({layout.batch, L}, like.options())
                     .masked_fill(valid.logical_not(), -std::numeric_limits<float>::infinity())
                     .view({layout.batch, 1, 1, L})
                     .expand({layout.batch, heads, 1, L})
                     .reshape({layout.batch * heads, 1, L});
  return idx;
}

// (T, C) packed → (B, heads, L, C/heads) padded with zeros.
torch::Tensor to_heads(const torch::Tensor& packed, const PackedLayout& layout, const PaddedIndex& idx,
                       std::int64_t heads) {
  const std::int64_t C = packed.size(1);
  const std::int64_t L = layout.max_len;
  return torch::zeros({layout.batch * L, C}, packed.options())
      .index_copy(0, idx.pos, packed)
      .view({layout.batch, L, heads, C / heads})
      .permute({0, 2, 1, 3})
      .reshape({layout.batch * heads, L, C / heads});
}

torch::Tensor generic_dropout(const torch::Tensor& attn, double p, std::uint64_t key) {
  return p > 0.0 ? keyed_dropout(attn, p, key) : attn;
}

}  // namespace

PackedLayout PackedLayout::from_lengths(const torch::Tensor& lengths) {
  PackedLayout layout;
  auto len = lengths.to(torch::kCPU, torch::kInt64);
  layout.batch = len.size(0);
  layout.offsets = torch::zeros({layout.batch + 1}, torch::kInt64);
  if (layout.batch > 0) {
    layout.offsets.narrow(0, 1, layout.batch).copy_(len.cumsum(0));
    layout.max_len = len.max().item<std::int64_t>();
  }
  layout.tokens = layout.offsets[layout.batch].item<std::int64_t>();
  layout.cls_rows = layout.offsets.narrow(0, 0, layout.batch).to(lengths.device());
  return layout;
}

torch::Tensor packed_self_attention(const torch::Tensor& qkv, const PackedLayout& layout, std::int64_t heads,
                                    double dropout_p, std::uint64_t key, bool force_generic) {
  if (qkv.is_cpu() && qkv.scalar_type() == torch::kFloat32 && !force_generic) {
    return SelfAttentionFunction::apply(qkv, layout.offsets, heads, dropout_p, static_cast<std::int64_t>(key));
  }
  const std::int64_t M = qkv.size(1) / 3;
  const std::int64_t dh = M / heads;
  auto idx = padded_index(layout, heads, qkv);
  auto q = to_heads(qkv.narrow(1, 0, M), layout, idx, heads);
  auto k = to_heads(qkv.narrow(1, M, M), layout, idx, heads);
  auto v = to_heads(qkv.narrow(1, 2 * M, M), layout, idx, heads);
  auto scores = torch::baddbmm(idx.key_bias, q, k.transpose(1, 2), /*beta=*/1.0,
                               /*alpha=*/1.0 / std::sqrt(static_cast<double>(dh)));
  auto attn = generic_dropout(torch::softmax(scores, /*dim=*/-1), dropout_p, key);
  return torch::bmm(attn, v)
      .view({layout.batch, heads, layout.max_len, dh})
      .permute({0, 2, 1, 3})
      .reshape({layout.batch * layout.max_len, M})
      .index_select(0, idx.pos);
}

torch::Tensor packed_cls_attention(const torch::Tensor& q, const torch::Tensor& kv, const PackedLayout& layout,
                                   std::int64_t heads, double dropout_p, std::uint64_t key, bool force_generic) {
  if (q.is_cpu() && q.scalar_type() == torch::kFloat32 && kv.scalar_type() == torch::kFloat32 && !force_generic) {
    return ClsAttentionFunction::apply(q, kv, layout.offsets, heads, dropout_p, static_cast<std::int64_t>(key));
  }
  const std::int64_t M = q.size(1);
  const std::int64_t dh = M / heads;
  auto idx = padded_index(layout, heads, kv);
  auto k = to_heads(kv.narrow(1, 0, M), layout, idx, heads);
  auto v = to_heads(kv.narrow(1, M, M), layout, idx, heads);
  auto qh = q.reshape({layout.batch * heads, 1, dh});
  auto scores = torch::baddbmm(idx.key_bias, qh, k.transpose(1, 2), /*beta=*/1.0,
                               /*alpha=*/1.0 / std::sqrt(static_cast<double>(dh)));
  auto attn = generic_dropout(torch::softmax(scores, /*dim=*/-1), dropout_p, key);
  return torch::bmm(attn, v).view({layout.batch, M});
}

}  // namespace irisml::model
