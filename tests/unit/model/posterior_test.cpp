#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/synthetic.hpp"
#include "model/star_tokens.hpp"
#include "model/posterior.hpp"
#include "test_util.hpp"

namespace irisml::model {
namespace {

using testing::max_abs_diff;
using testing::small_config;

Normalizer example_normalizer(int n_filters) {
  Normalizer n(n_filters);
  auto t = n.named_tensors();
  for (auto& [name, v] : t) {
    if (name == "param_mean") v = torch::tensor({3.75, 3.0, -0.2, 0.3, 3.1}, torch::kFloat64);
    if (name == "param_std") v = torch::tensor({0.12, 1.3, 0.45, 1.2, 0.18}, torch::kFloat64);
    if (name == "mag_std") v = torch::linspace(0.5, 1.5, n_filters);
  }
  return Normalizer::from_named_tensors(t);
}

torch::Tensor example_theta() {
  return torch::tensor({{5772.0, 4.44, 0.0, 0.05, 3.1}, {4200.0, 1.5, -1.2, 2.5, 3.4}, {9000.0, 4.0, 0.2, 0.004, 2.9}},
                       torch::kFloat64);
}

TEST(PosteriorEstimatorTest, LogProbIncludesTheExactChangeOfVariables) {
  torch::manual_seed(21);
  auto config = small_config();
  PosteriorEstimator model(config, example_normalizer(config.n_filters));
  model->eval();
  auto batch = random_observation_batch(3, config.n_filters, 2, 6, 7);
  auto ctx = model->context(batch);
  auto theta = example_theta();
  auto lp = model->log_prob(theta, ctx);
  // z by hand, flow density in z, and the analytic Jacobian by hand.
  const double mu[5] = {3.75, 3.0, -0.2, 0.3, 3.1};
  const double sd[5] = {0.12, 1.3, 0.45, 1.2, 0.18};
  for (int64_t i = 0; i < 3; ++i) {
    const double teff = theta[i][0].item<double>();
    const double av = theta[i][3].item<double>();
    const double u[5] = {std::log10(teff), theta[i][1].item<double>(), theta[i][2].item<double>(),
                         std::log(std::expm1(av)), theta[i][4].item<double>()};
    auto z = torch::empty({1, 5}, torch::kFloat64);
    double log_jac = 0.0;
    for (int k = 0; k < 5; ++k) {
      z[0][k] = (u[k] - mu[k]) / sd[k];
      log_jac -= std::log(sd[k]);
    }
    log_jac += -std::log(teff * std::log(10.0)) - std::log(1.0 - std::exp(-av));
    const double lp_z = model->flow->log_prob(z.to(torch::kFloat32), ctx.narrow(0, i, 1)).item<double>();
    EXPECT_NEAR(lp[i].item<double>() - lp_z, log_jac, 1e-4) << "row " << i;
  }
  // Outside the support the density is zero.
  auto bad = theta.clone();
  bad[1][3] = -0.1;
  auto lp_bad = model->log_prob(bad, ctx);
  EXPECT_TRUE(std::isinf(lp_bad[1].item<double>()) && lp_bad[1].item<double>() < 0);
  EXPECT_NEAR(lp_bad[0].item<double>(), lp[0].item<double>(), 1e-9);
}

TEST(PosteriorEstimatorTest, SamplesCarryTheirExactLogProb) {
  torch::manual_seed(22);
  auto config = small_config();
  PosteriorEstimator model(config, example_normalizer(config.n_filters));
  {
    torch::NoGradGuard g;  // make the flow far from the identity
    for (int i = 0; i < model->flow->n_blocks(); ++i) model->flow->block(i)->output->weight.mul_(10.0);
  }
  model->eval();
  auto batch = random_observation_batch(4, config.n_filters, 2, 6, 8);
  torch::NoGradGuard no_grad;
  auto ctx = model->context(batch);
  auto result = model->sample(ctx, torch::randn({4, 64, 5}), torch::rand({4, 64}));
  ASSERT_EQ(result.theta.sizes(), (std::vector<int64_t>{4, 64, 5}));
  EXPECT_EQ(result.theta.scalar_type(), torch::kFloat64);
  EXPECT_TRUE((result.theta.select(-1, 0) > 0).all().item<bool>());
  EXPECT_TRUE((result.theta.select(-1, 3) > 0).all().item<bool>());
  auto lp = model->log_prob(result.theta, ctx);
  EXPECT_LT(max_abs_diff(lp, result.log_prob), 1e-4);
  EXPECT_GT(result.log_prob.std().item<double>(), 0.1);  // not a constant
}

TEST(PosteriorEstimatorTest, NamedStateRoundTripsAndRejectsMismatches) {
  auto config = small_config();
  torch::manual_seed(23);
  PosteriorEstimator a(config, example_normalizer(config.n_filters));
  torch::manual_seed(24);
  PosteriorEstimator b(config);
  a->eval();
  b->eval();
  auto state = a->named_state();
  // All parameters and buffers are there.
  std::vector<std::string> names;
  for (const auto& e : state) names.push_back(e.first);
  for (const char* expect : {"encoder.cls", "encoder.layers.1.qkv.weight", "flow.blocks.2.mask_out", "flow.perm0",
                             "flow.mixture_head.bias", "normalizer.param_std", "rng.dropout"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expect), names.end()) << expect;
  }
  EXPECT_EQ(state.size(), a->parameters().size() + a->buffers().size() + 1);

  auto batch = random_observation_batch(3, config.n_filters, 1, 6, 9);
  auto theta = example_theta();
  auto lp_a = a->log_prob(theta, a->context(batch));
  EXPECT_GT(max_abs_diff(b->log_prob(theta, b->context(batch)), lp_a), 1e-3);
  b->load_named_state(state);
  EXPECT_EQ(max_abs_diff(b->log_prob(theta, b->context(batch)), lp_a), 0.0);
  EXPECT_EQ(b->normalizer().param_std(), a->normalizer().param_std());

  // Mismatches are all listed, and nothing is changed.
  auto other = config;
  other.width = 16;
  other.flow_blocks = 2;
  PosteriorEstimator c(other);
  auto before = c->named_state()[0].second.clone();
  try {
    c->load_named_state(state);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'encoder.cls' has shape (32), expected (16)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'flow.blocks.2.output.weight' unexpected"), std::string::npos) << msg;
  }
  EXPECT_EQ(max_abs_diff(c->named_state()[0].second, before), 0.0);
  state.pop_back();
  try {
    b->load_named_state(state);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'rng.dropout' missing"), std::string::npos) << e.what();
  }
}

TEST(PosteriorEstimatorTest, RejectsBadBatches) {
  auto config = small_config(4);
  PosteriorEstimator model(config);
  auto batch = random_observation_batch(2, 4, 1, 4, 1);
  batch.filter_ids[0][0] = 4;  // observed (slot 0 is always observed with >= 1 band)
  try {
    model->context(batch);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("observed filter id 4 is outside [0, 4)"), std::string::npos) << e.what();
  }
  auto b2 = random_observation_batch(2, 4, 1, 4, 1);
  b2.mask = b2.mask.to(torch::kInt64);
  EXPECT_THROW(model->context(b2), InputError);
  auto b3 = random_observation_batch(2, 4, 1, 4, 1);
  b3.errors = b3.errors.narrow(1, 0, 3);
  EXPECT_THROW(model->context(b3), InputError);
}

// Toy conditional problem: 4 filters whose centred magnitudes are linear in (a subset
// of) the standardised parameters; the estimator must learn to use them.
TEST(PosteriorEstimatorTest, ShortTrainingOnAToyProblemReducesTheLoss) {
  torch::manual_seed(25);
  auto config = small_config(4);
  config.dropout = 0.0;
  const int64_t n_train = 2048;
  // Parameters in physical space from a broad prior.
  auto draw_theta = [](int64_t n, std::uint64_t seed) {
    Philox rng(seed, 0);
    auto t = torch::empty({n, 5}, torch::kFloat64);
    auto a = t.accessor<double, 2>();
    for (int64_t i = 0; i < n; ++i) {
      a[i][0] = std::pow(10.0, rng.uniform(3.5, 4.0));
      a[i][1] = rng.uniform(1.0, 5.0);
      a[i][2] = rng.normal(-0.2, 0.4);
      a[i][3] = 0.01 + rng.exponential(1.0);
      a[i][4] = rng.normal(3.1, 0.2);
    }
    return t;
  };
  auto make_mags = [](const torch::Tensor& theta) {
    auto lt = torch::log10(theta.select(1, 0));
    auto av = theta.select(1, 3);
    auto g = theta.select(1, 1);
    // Colours driven by Teff and A_V (and weakly log g), plus a free zero point.
    auto m = torch::stack(
        {-8.0 * lt + 1.2 * av, -4.0 * lt + 0.8 * av + 0.05 * g, -1.0 * lt + 0.4 * av, 0.5 * lt + 0.1 * av}, 1);
    return (m + 12.0).to(torch::kFloat32);
  };
  auto theta_train = draw_theta(n_train, 1);
  auto mags_train = make_mags(theta_train);
  Normalizer norm;
  norm.fit(mags_train, theta_train);
  PosteriorEstimator model(config, norm);
  auto ids = torch::arange(4, torch::kInt64).expand({n_train, 4}).contiguous();
  auto errs = torch::full({n_train, 4}, 0.01f);
  auto mask = torch::ones({n_train, 4}, torch::kBool);

  auto theta_val = draw_theta(512, 2);
  ObservationBatch val{ids.narrow(0, 0, 512), make_mags(theta_val), errs.narrow(0, 0, 512), mask.narrow(0, 0, 512)};
  auto val_loss = [&] {
    model->eval();
    torch::NoGradGuard g;
    auto l = model->loss(val, theta_val).item<double>();
    model->train();
    return l;
  };
  const double before = val_loss();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(2e-3));
  model->train();
  for (int step = 0; step < 300; ++step) {
    auto idx = torch::randint(n_train, {64}, torch::kInt64);
    ObservationBatch b{ids.index_select(0, idx), mags_train.index_select(0, idx), errs.index_select(0, idx),
                       mask.index_select(0, idx)};
    opt.zero_grad();
    auto loss = model->loss(b, theta_train.index_select(0, idx));
    ASSERT_TRUE(std::isfinite(loss.item<double>())) << "step " << step;
    loss.backward();
    opt.step();
  }
  const double after = val_loss();
  std::printf("toy validation loss: before %.3f after %.3f\n", before, after);
  EXPECT_LT(after, before - 3.0);
}

}  // namespace
}  // namespace irisml::model

namespace irisml::model {
namespace {

TEST(ParallaxTokenTest, IsTheAbsoluteMagnitudeOfTheMeanBand) {
  // ϖ/σ ≫ 1: A = m̄ + 5 log10 ϖ − 10 (+ 2.17 σ²/ϖ², the asinh's next term), σ_A = 2.17 σ/ϖ.
  EXPECT_NEAR(parallax_magnitude(12.0, 10.0, 0.01), 12.0 + 5.0 - 10.0 + 2.1714724e-6, 1e-9);
  EXPECT_NEAR(parallax_magnitude_error(10.0, 0.01), 2.1714724 * 0.001, 1e-8);
  // Finite and monotonic in ϖ through zero and below.
  double last = -1e9;
  for (double p : {-3.0, -1.0, 0.0, 0.5, 1.0, 3.0, 30.0}) {
    const double a = parallax_magnitude(12.0, p, 1.0);
    EXPECT_TRUE(std::isfinite(a));
    EXPECT_GT(a, last);
    last = a;
  }
  EXPECT_NEAR(parallax_magnitude_error(0.0, 1.0), 2.1714724 / 2.0, 1e-6);
  // The batch version: same values, absent rows marked.
  auto mags = torch::tensor({{11.0f, 13.0f, 99.0f}, {10.0f, 0.0f, 0.0f}, {10.0f, 0.0f, 0.0f}});
  auto mask = torch::tensor({{true, true, false}, {true, false, false}, {true, false, false}});
  auto plx = torch::tensor({2.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f});
  auto err = torch::tensor({0.1f, 0.1f, -1.0f});
  auto t = parallax_token_features(mags, mask, plx, err);
  EXPECT_TRUE(t.present[0].item<bool>());
  EXPECT_FALSE(t.present[1].item<bool>());
  EXPECT_FALSE(t.present[2].item<bool>());  // error not > 0
  EXPECT_NEAR(t.magnitude[0].item<float>(),
              (parallax_magnitude(12.0, 2.0, 0.1) - kParallaxFeatureCentre) / kParallaxFeatureScale, 1e-5);
  EXPECT_NEAR(t.error[0].item<float>(), parallax_magnitude_error(2.0, 0.1), 1e-6);
}

TEST(ParallaxTokenTest, OnlyAPresentParallaxChangesTheContext) {
  torch::manual_seed(3);
  auto config = testing::small_config(6);
  config.parallax_token = true;
  PosteriorEstimator model(config);
  EXPECT_EQ(model->encoder->filter_embedding->weight.size(0), 7);
  auto ids = torch::tensor({{0, 2, 4}, {1, 3, 5}}, torch::kInt64);
  auto mags = torch::tensor({{10.0f, 10.5f, 11.0f}, {12.0f, 12.2f, 12.9f}});
  auto errs = torch::full({2, 3}, 0.02f);
  auto mask = torch::ones({2, 3}, torch::kBool);
  ObservationBatch plain{ids, mags, errs, mask};
  ObservationBatch with = plain;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  with.parallax = torch::tensor({nan, nan});
  with.parallax_err = torch::tensor({nan, nan});
  auto c0 = model->context(plain);
  EXPECT_EQ(testing::max_abs_diff(c0, model->context(with)), 0.0);  // all absent: as without
  with.parallax = torch::tensor({5.0f, nan});
  with.parallax_err = torch::tensor({0.05f, nan});
  auto c1 = model->context(with);
  EXPECT_GT(testing::max_abs_diff(c1[0], c0[0]), 1e-4);  // star 0 gained a token
  EXPECT_LT(testing::max_abs_diff(c1[1], c0[1]), 1e-5);  // star 1 did not (round-off of a wider batch)
  // A photometry-only model ignores parallaxes.
  torch::manual_seed(3);
  auto plain_config = testing::small_config(6);
  PosteriorEstimator photometric(plain_config);
  EXPECT_EQ(testing::max_abs_diff(photometric->context(plain), photometric->context(with)), 0.0);
  EXPECT_NE(config.describe(), plain_config.describe());
}

}  // namespace
}  // namespace irisml::model

namespace irisml::model {
namespace {

TEST(AvTokenTest, ConstraintsBecomeAGaussianAndOnlyPresentOnesChangeTheContext) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double a = 0, s = 0;
  EXPECT_FALSE(av_token_from_constraints(nan, nan, nan, a, s));
  EXPECT_FALSE(av_token_from_constraints(0.3, 0.0, -1.0, a, s));  // unusable width and bound
  ASSERT_TRUE(av_token_from_constraints(0.3, 0.05, 1.0, a, s));   // the Gaussian wins
  EXPECT_EQ(a, 0.3);
  EXPECT_EQ(s, 0.05);
  ASSERT_TRUE(av_token_from_constraints(nan, nan, 0.6, a, s));  // a bound: uniform's mean and spread
  EXPECT_DOUBLE_EQ(a, 0.3);
  EXPECT_DOUBLE_EQ(s, 0.6 / std::sqrt(12.0));
  ASSERT_TRUE(av_token_from_constraints(nan, nan, 0.01, a, s));
  EXPECT_EQ(s, kAvTokenMinWidth);

  torch::manual_seed(5);
  auto config = testing::small_config(6);
  config.parallax_token = true;
  config.av_prior_token = true;
  EXPECT_EQ(config.parallax_row(), 6);
  EXPECT_EQ(config.av_prior_row(), 7);
  PosteriorEstimator model(config);
  EXPECT_EQ(model->encoder->filter_embedding->weight.size(0), 8);
  auto ids = torch::tensor({{0, 2, 4}, {1, 3, 5}}, torch::kInt64);
  auto mags = torch::tensor({{10.0f, 10.5f, 11.0f}, {12.0f, 12.2f, 12.9f}});
  ObservationBatch plain{ids, mags, torch::full({2, 3}, 0.02f), torch::ones({2, 3}, torch::kBool)};
  ObservationBatch with = plain;
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  with.av_prior = torch::tensor({0.4f, fnan});
  with.av_prior_err = torch::tensor({0.1f, fnan});
  auto c0 = model->context(plain), c1 = model->context(with);
  EXPECT_GT(testing::max_abs_diff(c1[0], c0[0]), 1e-4);
  EXPECT_LT(testing::max_abs_diff(c1[1], c0[1]), 1e-5);
  // With a parallax too: a third change, and the rows are distinct tokens.
  with.parallax = torch::tensor({5.0f, fnan});
  with.parallax_err = torch::tensor({0.05f, fnan});
  EXPECT_GT(testing::max_abs_diff(model->context(with)[0], c1[0]), 1e-4);
  EXPECT_NE(config.describe().find("av_prior_token=1"), std::string::npos);
}

}  // namespace
}  // namespace irisml::model
