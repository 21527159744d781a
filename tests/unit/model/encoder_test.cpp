#include <gtest/gtest.h>

#include <limits>

#include "model/encoder.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;
using testing::small_config;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Tokens {
  torch::Tensor ids, mags, errs, mask;
};

// Star A: filters 3, 0, 5; star B: filters 1, 2, 4, 0, 5.
Tokens reference_tokens() {
  Tokens t;
  t.ids = torch::tensor({{3, 0, 5, 0, 0}, {1, 2, 4, 0, 5}}, torch::kInt64);
  t.mags = torch::tensor({{0.3f, -1.2f, 0.8f, 0.f, 0.f}, {1.1f, -0.4f, 0.2f, 0.9f, -1.5f}});
  t.errs = torch::tensor({{-1.0f, 0.5f, 0.1f, 0.f, 0.f}, {0.2f, -0.3f, 1.4f, -2.0f, 0.6f}});
  t.mask = torch::tensor({{true, true, true, false, false}, {true, true, true, true, true}});
  return t;
}

TEST(SetEncoderTest, OutputIsInvariantToBandOrder) {
  torch::manual_seed(3);
  SetEncoder enc(small_config());
  enc->eval();
  auto t = reference_tokens();
  auto ref = enc->forward(t.ids, t.mags, t.errs, t.mask);
  ASSERT_EQ(ref.sizes(), (std::vector<int64_t>{2, 32}));
  // Permute star B's bands and star A's observed ones.
  auto perm_b = torch::tensor({4, 2, 0, 3, 1}, torch::kInt64);
  auto perm_a = torch::tensor({2, 0, 1, 3, 4}, torch::kInt64);
  auto permute = [&](const torch::Tensor& x) {
    return torch::stack({x[0].index_select(0, perm_a), x[1].index_select(0, perm_b)});
  };
  auto out = enc->forward(permute(t.ids), permute(t.mags), permute(t.errs), permute(t.mask));
  EXPECT_LT(max_abs_diff(out, ref), 1e-5);
  // Sanity: the output does depend on the values (a changed magnitude moves it).
  auto mags2 = t.mags.clone();
  mags2[0][1] = 0.5f;
  auto moved = enc->forward(t.ids, mags2, t.errs, t.mask);
  EXPECT_GT(max_abs_diff(moved[0], ref[0]), 1e-3);
  EXPECT_LT(max_abs_diff(moved[1], ref[1]), 1e-6);  // stars do not interact
}

TEST(SetEncoderTest, PaddedTokensDoNotLeakEvenWhenNaN) {
  torch::manual_seed(4);
  SetEncoder enc(small_config());
  enc->eval();
  auto t = reference_tokens();
  auto ref = enc->forward(t.ids, t.mags, t.errs, t.mask);
  // Same stars in a wider layout with pads interleaved, holding NaN and invalid ids.
  auto ids = torch::tensor({{-7, 3, 0, 99, 5, 0, 12, 0}, {1, 2, 1000, 4, -1, 0, 5, 3}}, torch::kInt64);
  auto mags = torch::tensor(
      {{kNaN, 0.3f, -1.2f, kNaN, 0.8f, kNaN, kNaN, kNaN}, {1.1f, -0.4f, kNaN, 0.2f, kNaN, 0.9f, -1.5f, kNaN}});
  auto errs = torch::tensor(
      {{kNaN, -1.0f, 0.5f, kNaN, 0.1f, kNaN, kNaN, kNaN}, {0.2f, -0.3f, kNaN, 1.4f, kNaN, -2.0f, 0.6f, kNaN}});
  auto mask = torch::tensor(
      {{false, true, true, false, true, false, false, false}, {true, true, false, true, false, true, true, false}});
  auto out = enc->forward(ids, mags, errs, mask);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_LT(max_abs_diff(out, ref), 1e-5);
  // Star A alone (a batch whose widest star is narrower) gives the same context.
  auto alone = enc->forward(t.ids.narrow(0, 0, 1).narrow(1, 0, 3), t.mags.narrow(0, 0, 1).narrow(1, 0, 3),
                            t.errs.narrow(0, 0, 1).narrow(1, 0, 3), t.mask.narrow(0, 0, 1).narrow(1, 0, 3));
  EXPECT_LT(max_abs_diff(alone[0], ref[0]), 1e-5);
}

TEST(SetEncoderTest, FusedCpuAttentionMatchesTheGenericDevicePath) {
  torch::manual_seed(6);
  auto config = small_config();
  config.activation = "gelu";
  SetEncoder enc(config);
  enc->eval();
  auto t = reference_tokens();
  auto fused = enc->forward(t.ids, t.mags, t.errs, t.mask);
  enc->set_generic_attention(true);
  auto generic = enc->forward(t.ids, t.mags, t.errs, t.mask);
  EXPECT_LT(max_abs_diff(fused, generic), 1e-5);
}

TEST(SetEncoderTest, GradientsStayFiniteWithNaNPadsAndDropoutIsKeyed) {
  auto config = small_config();
  config.dropout = 0.2;
  torch::manual_seed(5);
  SetEncoder enc(config);
  enc->train();
  auto ids = torch::tensor({{0, 1, 2, 0}, {3, 4, 0, 0}}, torch::kInt64);
  auto mags = torch::tensor({{0.1f, 0.2f, 0.3f, kNaN}, {0.4f, 0.5f, kNaN, kNaN}});
  auto errs = torch::tensor({{0.1f, 0.2f, 0.3f, kNaN}, {0.4f, 0.5f, kNaN, kNaN}});
  auto mask = torch::tensor({{true, true, true, false}, {true, true, false, false}});
  auto clean = [](const torch::Tensor& x) { return x; };  // NaN pads go in as they are
  auto out = enc->forward(ids, clean(mags), clean(errs), mask);
  out.square().sum().backward();
  for (const auto& p : enc->parameters()) {
    if (p.grad().defined()) {
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
  // Same counter → same dropout masks; next call → different.
  const auto counter = enc->dropout_counter();
  EXPECT_GT(counter, 0u);
  torch::NoGradGuard no_grad;
  auto second = enc->forward(ids, clean(mags), clean(errs), mask);
  EXPECT_GT(max_abs_diff(second, out), 1e-4);
  enc->set_dropout_counter(0);
  auto replay = enc->forward(ids, clean(mags), clean(errs), mask);
  EXPECT_LT(max_abs_diff(replay, out), 1e-6);
  enc->eval();
  auto e1 = enc->forward(ids, clean(mags), clean(errs), mask);
  auto e2 = enc->forward(ids, clean(mags), clean(errs), mask);
  EXPECT_EQ(max_abs_diff(e1, e2), 0.0);
}

}  // namespace
}  // namespace irisml::model
