#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "model/flow.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;

// Undo the near-identity initialisation of the MADE outputs and scale everything so the
// flow is far from the identity (a hard test of exactness).
void roughen(ConditionalMaf& flow, double output_scale) {
  torch::NoGradGuard no_grad;
  for (int i = 0; i < flow->n_blocks(); ++i) {
    flow->block(i)->output->weight.mul_(output_scale);
    flow->block(i)->output->bias.mul_(output_scale);
  }
}

TEST(MadeBlockTest, IsAutoregressiveWithContextOnlyFirstDimension) {
  torch::manual_seed(11);
  MadeBlock made(4, 3, std::vector<int>{12, 10});
  EXPECT_EQ(made->degrees(0), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}));
  auto x = torch::randn({1, 1, 4}, torch::requires_grad());
  auto ctx = made->context_projection(torch::randn({1, 3}));
  auto [u, s] = made->forward(x, ctx);
  // ∂u_d/∂x_j must vanish for j > d and equal exp(−s_d) on the diagonal.
  for (int64_t d = 0; d < 4; ++d) {
    auto g = torch::autograd::grad({u[0][0][d]}, {x}, {}, /*retain_graph=*/true)[0][0][0];
    for (int64_t j = d + 1; j < 4; ++j) EXPECT_EQ(g[j].item<float>(), 0.0f) << "d=" << d << " j=" << j;
    EXPECT_GT(std::abs(g[d].item<float>()), 0.0f);
  }
}

TEST(ConditionalMafTest, InverseOfForwardIsIdentity) {
  torch::manual_seed(12);
  ConditionalMaf flow(5, 8, 3, std::vector<int>{32, 32}, 3);
  roughen(flow, 10.0);
  auto ctx = torch::randn({4, 8});
  auto z = torch::randn({4, 6, 5}) * 2.0;
  auto [u, logdet] = flow->to_base(z, ctx);
  auto [z2, logdet_inv] = flow->from_base(u, ctx);
  EXPECT_LT(max_abs_diff(z2, z), 1e-5);
  EXPECT_LT(max_abs_diff(logdet, -logdet_inv), 1e-4);
  EXPECT_GT(max_abs_diff(u, z), 0.1);  // the flow is not the identity
  // Single block too.
  auto cp = flow->block(1)->context_projection(ctx);
  auto [ub, sb] = flow->block(1)->forward(z, cp);
  auto [zb, sb_inv] = flow->block(1)->inverse(ub, cp);
  EXPECT_LT(max_abs_diff(zb, z), 1e-5);
  EXPECT_LT(max_abs_diff(sb, sb_inv), 1e-5);
}

TEST(ConditionalMafTest, IncrementalInverseHandlesDeepUnevenMades) {
  // Three hidden layers with widths not divisible by D: uneven degree blocks.
  torch::manual_seed(16);
  ConditionalMaf flow(5, 6, 2, std::vector<int>{7, 11, 13}, 2);
  roughen(flow, 10.0);
  auto made = flow->block(0);
  EXPECT_EQ(made->degrees(0), (std::vector<int64_t>{0, 0, 1, 2, 2, 3, 4}));  // floor(k·5/7)
  auto ctx = torch::randn({3, 6});
  auto z = torch::randn({3, 9, 5});
  auto [u, logdet] = flow->to_base(z, ctx);
  auto [z2, logdet_inv] = flow->from_base(u, ctx);
  EXPECT_LT(max_abs_diff(z2, z), 1e-5);
  EXPECT_LT(max_abs_diff(logdet, -logdet_inv), 1e-4);
}

TEST(ConditionalMafTest, SampleLogProbMatchesDensityEvaluation) {
  torch::manual_seed(13);
  ConditionalMaf flow(5, 8, 3, std::vector<int>{32, 32}, 3);
  roughen(flow, 10.0);
  auto ctx = torch::randn({3, 8});
  auto normal = torch::randn({3, 50, 5});
  auto uniform = torch::rand({3, 50});
  auto [z, lp] = flow->sample(ctx, normal, uniform);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{3, 50, 5}));
  auto lp2 = flow->log_prob(z, ctx);
  EXPECT_LT(max_abs_diff(lp, lp2), 1e-4);
  // Per-star sampling does not depend on the rest of the batch.
  auto [z1, lp1] = flow->sample(ctx.narrow(0, 1, 1), normal.narrow(0, 1, 1), uniform.narrow(0, 1, 1));
  EXPECT_LT(max_abs_diff(z1[0], z[1]), 1e-5);
  EXPECT_LT(max_abs_diff(lp1[0], lp[1]), 1e-4);
}

// Midpoint-rule integral of exp(log_prob) over a grid.
double integrate(ConditionalMaf& flow, const torch::Tensor& ctx, int dim, double lo, double hi, int64_t n) {
  torch::NoGradGuard no_grad;
  const double h = (hi - lo) / static_cast<double>(n);
  auto axis = torch::arange(n, torch::kFloat64).mul(h).add(lo + 0.5 * h);
  torch::Tensor points;
  if (dim == 1) {
    points = axis.unsqueeze(1);
  } else {
    auto grid = torch::meshgrid({axis, axis}, "ij");
    points = torch::stack({grid[0].flatten(), grid[1].flatten()}, 1);
  }
  auto lp = flow->log_prob(points.to(torch::kFloat32).unsqueeze(0), ctx).to(torch::kFloat64);
  return lp.exp().sum().item<double>() * std::pow(h, dim);
}

TEST(ConditionalMafTest, DensityIntegratesToOneIn1D) {
  torch::manual_seed(14);
  ConditionalMaf flow(1, 4, 3, std::vector<int>{16, 16}, 3);
  roughen(flow, 10.0);
  for (int c = 0; c < 3; ++c) {
    auto ctx = torch::randn({1, 4});
    const double mass = integrate(flow, ctx, 1, -40.0, 40.0, 40000);
    std::printf("1-D flow density integral (context %d): %.5f\n", c, mass);
    EXPECT_NEAR(mass, 1.0, 0.01) << "context " << c;
  }
}

TEST(ConditionalMafTest, DensityIntegratesToOneIn2D) {
  torch::manual_seed(15);
  ConditionalMaf flow(2, 4, 3, std::vector<int>{16, 16}, 3);
  roughen(flow, 30.0);
  auto ctx = torch::randn({2, 4});
  for (int c = 0; c < 2; ++c) {
    // The grid must hold the mass: check with samples first.
    auto [z, lp] = flow->sample(ctx.narrow(0, c, 1), torch::randn({1, 4000, 2}), torch::rand({1, 4000}));
    const double outside = (z.abs() > 15.0).any(-1).to(torch::kFloat64).mean().item<double>();
    ASSERT_LT(outside, 1e-3);
    // The transform is far from volume-preserving: a missing or wrong Jacobian term
    // would move the integral by e^{±|log det|}, far more than 1 %.
    auto logdet = flow->to_base(z, ctx.narrow(0, c, 1)).second;
    std::printf("2-D flow log|det| over samples (context %d): mean %.3f std %.3f\n", c, logdet.mean().item<double>(),
                logdet.std().item<double>());
    EXPECT_GT(logdet.abs().mean().item<double>(), 0.3);
    const double mass = integrate(flow, ctx.narrow(0, c, 1), 2, -15.0, 15.0, 600);
    std::printf("2-D flow density integral (context %d): %.5f\n", c, mass);
    EXPECT_NEAR(mass, 1.0, 0.01) << "context " << c;
  }
}

}  // namespace
}  // namespace irisml::model
