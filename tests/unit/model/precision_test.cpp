#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "model/posterior.hpp"
#include "model/precision.hpp"
#include "model/synthetic.hpp"
#include "model/tensor_util.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;
using testing::small_config;

TEST(PrecisionTest, ParsesTheTwoNamesAndRejectsTheRest) {
  EXPECT_EQ(parse_precision("fp32", "x"), Precision::kFloat32);
  EXPECT_EQ(parse_precision(" BF16 ", "x"), Precision::kBFloat16);
  EXPECT_EQ(parse_precision("bfloat16", "x"), Precision::kBFloat16);
  EXPECT_STREQ(precision_name(Precision::kBFloat16), "bf16");
  EXPECT_STREQ(precision_name(Precision::kFloat32), "fp32");
  try {
    parse_precision("fp16", "--precision");
    FAIL() << "fp16 accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--precision"), std::string::npos) << what;
    EXPECT_NE(what.find("'fp16'"), std::string::npos) << what;
    EXPECT_NE(what.find("fp32, bf16"), std::string::npos) << what;
  }
}

TEST(PrecisionTest, Bf16FallsBackToFp32WhereTheCpuLacksIt) {
  EXPECT_EQ(resolve_precision(Precision::kFloat32, "cpu").precision, Precision::kFloat32);
  EXPECT_TRUE(resolve_precision(Precision::kFloat32, "cpu").note.empty());
  EXPECT_EQ(resolve_precision(Precision::kBFloat16, "cuda:0").precision, Precision::kBFloat16);
  const auto cpu = resolve_precision(Precision::kBFloat16, "cpu");
  if (cpu_has_native_bf16()) {
    EXPECT_EQ(cpu.precision, Precision::kBFloat16);
    EXPECT_TRUE(cpu.note.empty());
  } else {
    EXPECT_EQ(cpu.precision, Precision::kFloat32);
    EXPECT_NE(cpu.note.find("AVX512_BF16"), std::string::npos) << cpu.note;
  }
}

// The bf16 product and its gradients against the same maths written with autograd's own
// casts (x, w rounded to bf16; the product, and each gradient product, of bf16 factors).
TEST(LowPrecisionLinearTest, MatchesAutogradThroughCastsForwardAndBackward) {
  torch::manual_seed(3);
  for (const bool three_d : {false, true}) {
    auto x = (three_d ? torch::randn({4, 5, 24}) : torch::randn({20, 24})).requires_grad_();
    auto w = (torch::randn({40, 24}) * 0.2).requires_grad_();
    auto b = torch::randn({40}).requires_grad_();
    auto g = three_d ? torch::randn({4, 5, 40}) : torch::randn({20, 40});

    auto y = linear(x, w, b, torch::kBFloat16);
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    EXPECT_EQ(y.sizes(), g.sizes());
    y.backward(g);
    auto dx = x.grad().clone(), dw = w.grad().clone(), db = b.grad().clone();
    x.mutable_grad().reset();
    w.mutable_grad().reset();
    b.mutable_grad().reset();

    auto ref = torch::matmul(x.to(torch::kBFloat16), w.to(torch::kBFloat16).t()).to(torch::kFloat32) + b;
    ref.backward(g);
    // Same bf16 factors; only the products' summation order may differ.
    EXPECT_LT(max_abs_diff(y, ref), 1e-4) << "3-D: " << three_d;
    EXPECT_LT(max_abs_diff(dx, x.grad()), 2e-2 * x.grad().abs().max().item<double>()) << "3-D: " << three_d;
    EXPECT_LT(max_abs_diff(dw, w.grad()), 2e-2 * w.grad().abs().max().item<double>()) << "3-D: " << three_d;
    EXPECT_LT(max_abs_diff(db, b.grad()), 1e-4) << "3-D: " << three_d;
    // The gradients reaching the fp32 parameters are fp32 and contiguous (the master copy).
    EXPECT_EQ(dw.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(dw.is_contiguous());

    // And bf16 is close to fp32: relative error of the product about 2^-8 per factor.
    auto exact = torch::matmul(x, w.t()) + b;
    EXPECT_LT(max_abs_diff(y, exact), 3e-2 * exact.abs().max().item<double>()) << "3-D: " << three_d;
  }
}

TEST(LowPrecisionLinearTest, Fp32ComputeIsThePlainProduct) {
  auto x = torch::randn({7, 8}), w = torch::randn({3, 8}), b = torch::randn({3});
  EXPECT_TRUE(torch::equal(linear(x, w, b, torch::kFloat32), linear(x, w, b)));
}

// Mixed precision end to end: the loss moves by bf16 round-off only, every gradient
// reaches the fp32 parameters, and fp32 is exactly the default path.
TEST(LowPrecisionLinearTest, Bf16LossAndGradientsStayCloseToFp32) {
  torch::manual_seed(11);
  auto config = small_config(8);
  config.dropout = 0.1;
  PosteriorEstimator model(config);
  model->train();
  EXPECT_EQ(model->precision(), Precision::kFloat32);
  auto batch = random_observation_batch(32, config.n_filters, 2, 8, 5);
  auto theta = random_theta(32, 5);

  auto grads = [&](Precision p) {
    model->set_precision(p);
    model->encoder->set_dropout_counter(0);  // the same dropout masks in both runs
    model->zero_grad();
    auto loss = model->loss(batch, theta);
    loss.backward();
    std::vector<torch::Tensor> g;
    for (const auto& param : model->parameters()) {
      EXPECT_EQ(param.scalar_type(), torch::kFloat32);
      g.push_back(param.grad().defined() ? param.grad().clone() : torch::Tensor());
    }
    return std::make_pair(loss.item<double>(), g);
  };
  const auto [loss32, g32] = grads(Precision::kFloat32);
  const auto [loss16, g16] = grads(Precision::kBFloat16);
  EXPECT_NE(loss16, loss32);  // the bf16 path really ran
  EXPECT_NEAR(loss16, loss32, 2e-2 * std::abs(loss32));
  ASSERT_EQ(g32.size(), g16.size());
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < g32.size(); ++i) {
    ASSERT_EQ(g32[i].defined(), g16[i].defined()) << "parameter " << i;
    if (!g32[i].defined()) continue;
    EXPECT_EQ(g16[i].scalar_type(), torch::kFloat32);
    num += (g16[i] - g32[i]).pow(2).sum().item<double>();
    den += g32[i].pow(2).sum().item<double>();
  }
  // The whole gradient agrees to a few per cent (bf16 keeps 8 significant bits).
  EXPECT_LT(std::sqrt(num / den), 0.05);

  // Back to fp32: bitwise the original.
  const auto [again, g_again] = grads(Precision::kFloat32);
  EXPECT_EQ(again, loss32);
}

}  // namespace
}  // namespace irisml::model
