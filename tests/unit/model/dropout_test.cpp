#include <gtest/gtest.h>

#include "model/tensor_util.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;

TEST(KeyedDropoutTest, KeepsTheRightFractionAndPreservesTheMean) {
  auto x = torch::ones({1000, 1003});  // odd size: exercises the tail
  auto y = keyed_dropout(x, 0.05, 1234);
  const double kept = (y != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 1.0 - 3277.0 / 65536.0, 1e-3);  // round(0.05·2¹⁶) = 3277
  EXPECT_NEAR(y.to(torch::kFloat64).mean().item<double>(), 1.0, 2e-3);
  // Kept values are exactly 1/keep.
  auto nonzero = y.masked_select(y != 0);
  EXPECT_FLOAT_EQ(nonzero.min().item<float>(), static_cast<float>(65536.0 / (65536.0 - 3277.0)));
  EXPECT_FLOAT_EQ(nonzero.max().item<float>(), static_cast<float>(65536.0 / (65536.0 - 3277.0)));
  // Deterministic in the key, different across keys, identity at p = 0.
  EXPECT_EQ(max_abs_diff(keyed_dropout(x, 0.05, 1234), y), 0.0);
  EXPECT_GT(((keyed_dropout(x, 0.05, 1235) != 0) != (y != 0)).sum().item<int64_t>(), 10000);
  EXPECT_TRUE(keyed_dropout(x, 0.0, 1).is_same(x));
  // Neighbouring elements are not correlated (a weak hash would fail this).
  auto m = (y != 0).to(torch::kFloat64).flatten();
  auto a = m.narrow(0, 0, m.size(0) - 1) - m.mean();
  auto b = m.narrow(0, 1, m.size(0) - 1) - m.mean();
  EXPECT_LT(std::abs((a * b).mean().item<double>() / m.var().item<double>()), 0.01);
}

TEST(KeyedDropoutTest, GradientIsTheSameMask) {
  auto x = torch::randn({37, 11}, torch::requires_grad());
  auto y = keyed_dropout(x, 0.3, 99);
  auto g = torch::randn({37, 11});
  auto dx = torch::autograd::grad({(y * g).sum()}, {x})[0];
  auto mask = y.detach() / x.detach();  // 0 or 1/keep
  EXPECT_LT(max_abs_diff(dx, g * mask), 1e-5);
}

}  // namespace
}  // namespace irisml::model

namespace irisml::model {
namespace {

TEST(KeyedDropoutTest, FusedReluDropoutMatchesReluThenDropout) {
  auto x = torch::randn({64, 129}, torch::requires_grad());
  auto fused = relu_dropout(x, 0.2, 7);
  auto reference = keyed_dropout(torch::relu(x), 0.2, 7);
  EXPECT_LT(testing::max_abs_diff(fused, reference), 1e-6);
  auto g = torch::randn({64, 129});
  auto d1 = torch::autograd::grad({(fused * g).sum()}, {x})[0];
  auto d2 = torch::autograd::grad({(reference * g).sum()}, {x})[0];
  EXPECT_LT(testing::max_abs_diff(d1, d2), 1e-6);
  EXPECT_GT((d1 != 0).sum().item<int64_t>(), 64 * 129 / 4);  // not trivially zero
  EXPECT_LT(testing::max_abs_diff(relu_dropout(x, 0.0, 7), torch::relu(x)), 0.0 + 1e-12);
}

}  // namespace
}  // namespace irisml::model
