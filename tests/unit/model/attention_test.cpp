#include <gtest/gtest.h>

#include "model/attention.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;

PackedLayout layout_for(std::vector<int64_t> lengths) {
  return PackedLayout::from_lengths(torch::tensor(lengths, torch::kInt64));
}

TEST(PackedAttentionTest, FusedKernelMatchesGenericPathWithGradients) {
  torch::manual_seed(31);
  const auto layout = layout_for({1, 4, 7, 2, 26});
  ASSERT_EQ(layout.tokens, 40);
  ASSERT_EQ(layout.max_len, 26);
  const int64_t M = 24, H = 3;  // dh = 8
  auto qkv = torch::randn({layout.tokens, 3 * M}, torch::requires_grad());
  auto w = torch::randn({layout.tokens, M});
  auto fused = packed_self_attention(qkv, layout, H, 0.0, 0, /*force_generic=*/false);
  auto g_fused = torch::autograd::grad({(fused * w).sum()}, {qkv})[0];
  auto generic = packed_self_attention(qkv, layout, H, 0.0, 0, /*force_generic=*/true);
  auto g_generic = torch::autograd::grad({(generic * w).sum()}, {qkv})[0];
  EXPECT_LT(max_abs_diff(fused, generic), 1e-5);
  EXPECT_LT(max_abs_diff(g_fused, g_generic), 1e-4);
  EXPECT_GT(g_fused.abs().sum().item<double>(), 1.0);
  // A star of length one attends only to itself: its output is its own value vector.
  EXPECT_LT(max_abs_diff(fused[0], qkv.detach()[0].narrow(0, 2 * M, M)), 1e-6);

  // CLS-only variant against the generic path, and against row 0 of each star.
  auto q = torch::randn({layout.batch, M}, torch::requires_grad());
  auto kv = torch::randn({layout.tokens, 2 * M}, torch::requires_grad());
  auto wc = torch::randn({layout.batch, M});
  auto cf = packed_cls_attention(q, kv, layout, H, 0.0, 0, false);
  auto gf = torch::autograd::grad({(cf * wc).sum()}, {q, kv});
  auto cg = packed_cls_attention(q, kv, layout, H, 0.0, 0, true);
  auto gg = torch::autograd::grad({(cg * wc).sum()}, {q, kv});
  EXPECT_LT(max_abs_diff(cf, cg), 1e-5);
  EXPECT_LT(max_abs_diff(gf[0], gg[0]), 1e-4);
  EXPECT_LT(max_abs_diff(gf[1], gg[1]), 1e-4);
}

TEST(PackedAttentionTest, DropoutIsKeyedAndItsGradientMatchesFiniteDifferences) {
  torch::manual_seed(32);
  const auto layout = layout_for({3, 5});
  const int64_t M = 8, H = 2;
  auto qkv = torch::randn({layout.tokens, 3 * M}, torch::kFloat32);
  auto w = torch::randn({layout.tokens, M});
  const double p = 0.3;
  auto x = qkv.clone().requires_grad_(true);
  auto out = packed_self_attention(x, layout, H, p, 77);
  auto grad = torch::autograd::grad({(out * w).sum()}, {x})[0];
  auto again = packed_self_attention(qkv, layout, H, p, 77);
  EXPECT_EQ(max_abs_diff(out, again), 0.0);
  auto other_key = packed_self_attention(qkv, layout, H, p, 78);
  EXPECT_GT(max_abs_diff(out, other_key), 1e-3);
  auto no_drop = packed_self_attention(qkv, layout, H, 0.0, 77);
  EXPECT_GT(max_abs_diff(out, no_drop), 1e-3);
  // Central differences in double accumulation over a few entries.
  torch::NoGradGuard no_grad;
  const float eps = 1e-2f;
  for (int64_t idx : {0L, 5L, 9L, 30L, 47L, 100L, 150L, 191L}) {
    const int64_t r = idx / (3 * M), c = idx % (3 * M);
    auto plus = qkv.clone();
    auto minus = qkv.clone();
    plus[r][c] += eps;
    minus[r][c] -= eps;
    const double fp = (packed_self_attention(plus, layout, H, p, 77) * w).sum().item<double>();
    const double fm = (packed_self_attention(minus, layout, H, p, 77) * w).sum().item<double>();
    EXPECT_NEAR(grad[r][c].item<double>(), (fp - fm) / (2 * eps), 2e-3) << "entry " << r << "," << c;
  }
}

}  // namespace
}  // namespace irisml::model
