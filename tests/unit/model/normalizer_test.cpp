#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "model/normalizer.hpp"

namespace irisml::model {
namespace {

TEST(NormalizerTest, FitsCentredMagnitudeAndParameterStatistics) {
  // 4 stars × 2 filters; star 2 lacks filter 0. Centres: 11, 21, 32, 16.
  const std::vector<float> mags{10.f,
                                12.f,  //
                                20.f,
                                22.f,  //
                                std::numeric_limits<float>::quiet_NaN(),
                                32.f,
                                14.f,
                                18.f};
  const std::vector<double> params{5000,  4.0, 0.0,  1.0, 3.1,  //
                                   10000, 3.0, -1.0, 0.5, 3.3,  //
                                   4000,  2.0, -0.5, 2.0, 2.9,  //
                                   6000,  1.0, 0.5,  0.1, 3.0};
  Normalizer norm;
  norm.fit(mags.data(), params.data(), 4, 2);
  ASSERT_EQ(norm.n_filters(), 2);
  // Filter 0 centred values: −1, −1, −2 → mean −4/3, std (sample) = sqrt(((1/3)²·2 + (2/3)²)/2) = sqrt(1/3).
  EXPECT_NEAR(norm.mag_mean()[0], -4.0 / 3.0, 1e-12);
  EXPECT_NEAR(norm.mag_std()[0], std::sqrt(1.0 / 3.0), 1e-12);
  // Filter 1: 1, 1, 0, 2 → mean 1, std sqrt(2/3).
  EXPECT_NEAR(norm.mag_mean()[1], 1.0, 1e-12);
  EXPECT_NEAR(norm.mag_std()[1], std::sqrt(2.0 / 3.0), 1e-12);
  // log10 Teff mean.
  const double lt = (std::log10(5000.) + std::log10(10000.) + std::log10(4000.) + std::log10(6000.)) / 4;
  EXPECT_NEAR(norm.param_mean()[0], lt, 1e-12);
  // softplus⁻¹(A_V) mean.
  auto isp = [](double a) { return std::log(std::expm1(a)); };
  EXPECT_NEAR(norm.param_mean()[3], (isp(1.0) + isp(0.5) + isp(2.0) + isp(0.1)) / 4, 1e-12);
  EXPECT_NEAR(norm.param_mean()[4], 3.075, 1e-12);
}

TEST(NormalizerTest, RejectsNonPhysicalParametersAndConstantColumns) {
  const std::vector<float> mags{10.f, 12.f, 20.f, 23.f};
  std::vector<double> params{5000, 4.0, 0.0, 1.0, 3.1, 6000, 3.0, -1.0, -0.2, 3.3};
  Normalizer norm;
  try {
    norm.fit(mags.data(), params.data(), 2, 2);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("A_V of training star 1 is -0.2"), std::string::npos) << e.what();
  }
  params = {5000, 4.0, 0.0, 1.0, 3.1, 6000, 3.0, -1.0, 0.2, 3.1};  // R_V constant
  try {
    norm.fit(mags.data(), params.data(), 2, 2);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("parameter rv has zero spread"), std::string::npos) << e.what();
  }
}

TEST(NormalizerTest, NamedTensorsRoundTrip) {
  const std::vector<float> mags{10.f, 12.f, 20.f, 23.f, 5.f, 5.5f};
  const std::vector<double> params{5000, 4.0, 0.0, 1.0, 3.1, 6000, 3.0, -1.0, 0.2, 3.3, 7000, 2.0, 0.3, 0.7, 3.0};
  Normalizer norm;
  norm.fit(mags.data(), params.data(), 3, 2);
  norm.set_error_scaling(-4.0, 0.5);
  auto back = Normalizer::from_named_tensors(norm.named_tensors());
  EXPECT_EQ(back.param_mean(), norm.param_mean());  // float64: exact
  EXPECT_EQ(back.param_std(), norm.param_std());
  EXPECT_NEAR(back.mag_mean()[1], norm.mag_mean()[1], 1e-6);
  EXPECT_DOUBLE_EQ(back.error_log_mean(), -4.0);
  EXPECT_DOUBLE_EQ(back.error_log_scale(), 0.5);
  auto tensors = norm.named_tensors();
  tensors.erase(tensors.begin() + 4);  // param_mean
  EXPECT_THROW(Normalizer::from_named_tensors(tensors), InputError);
}

TEST(NormalizerTest, MagnitudeFeaturesIgnorePaddingAndCentrePerStar) {
  auto ids = torch::tensor({{0, 1, 99}, {1, -3, 0}}, torch::kInt64);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto mags = torch::tensor({{10.f, 12.f, nan}, {30.f, nan, 27.f}});
  auto mask = torch::tensor({{true, true, false}, {true, false, true}});
  auto mean = torch::tensor({0.5f, -0.5f});
  auto stdev = torch::tensor({2.0f, 4.0f});
  auto f = magnitude_features(ids, mags, mask, mean, stdev);
  // Star 0: centre 11 → (−1 − 0.5)/2, (1 + 0.5)/4. Star 1: centre 28.5 → (1.5 + 0.5)/4, (−1.5 − 0.5)/2.
  EXPECT_FLOAT_EQ(f[0][0].item<float>(), -0.75f);
  EXPECT_FLOAT_EQ(f[0][1].item<float>(), 0.375f);
  EXPECT_EQ(f[0][2].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(f[1][0].item<float>(), 0.5f);
  EXPECT_EQ(f[1][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(f[1][2].item<float>(), -1.0f);
  auto e = error_features(torch::tensor({{0.01f, 0.1f, nan}, {0.2f, -1.f, 0.05f}}), mask, torch::tensor({-3.0f}),
                          torch::tensor({2.0f}));
  EXPECT_NEAR(e[0][0].item<float>(), (std::log(0.01) + 3.0) / 2.0, 1e-6);
  EXPECT_EQ(e[0][2].item<float>(), 0.0f);
  EXPECT_EQ(e[1][1].item<float>(), 0.0f);
  EXPECT_TRUE(torch::isfinite(e).all().item<bool>());
}

TEST(NormalizerTest, PhysicalTransformRoundTripAndJacobianMatchFiniteDifferences) {
  auto mean = torch::tensor({3.7, 3.0, -0.2, 0.4, 3.1}, torch::kFloat64);
  auto stdev = torch::tensor({0.15, 1.2, 0.4, 1.1, 0.18}, torch::kFloat64);
  auto theta = torch::tensor({{5772.0, 4.44, 0.0, 0.003, 3.1}, {15000.0, 2.0, -1.5, 3.5, 4.2}}, torch::kFloat64);
  auto z = physical_to_z(theta, mean, stdev);
  auto back = z_to_physical(z, mean, stdev);
  EXPECT_LT((back - theta).abs().div(theta.abs().clamp_min(1.0)).max().item<double>(), 1e-12);
  EXPECT_NEAR(z[0][0].item<double>(), (std::log10(5772.0) - 3.7) / 0.15, 1e-12);
  EXPECT_NEAR(z[0][3].item<double>(), (std::log(std::expm1(0.003)) - 0.4) / 1.1, 1e-9);

  // The map is diagonal: log|det| = Σ_i log|∂z_i/∂θ_i|, by central differences.
  auto analytic = log_abs_det_dz_dtheta(theta, stdev);
  for (int64_t row = 0; row < 2; ++row) {
    double numeric = 0.0;
    for (int64_t i = 0; i < 5; ++i) {
      const double h = 1e-6 * std::max(1.0, std::abs(theta[row][i].item<double>())) * (i == 3 ? 1e-2 : 1.0);
      auto tp = theta[row].clone();
      auto tm = theta[row].clone();
      tp[i] += h;
      tm[i] -= h;
      const double dz = (physical_to_z(tp, mean, stdev)[i] - physical_to_z(tm, mean, stdev)[i]).item<double>();
      numeric += std::log(std::abs(dz / (2 * h)));
    }
    EXPECT_NEAR(analytic[row].item<double>(), numeric, 1e-5) << "row " << row;
  }
  auto support =
      physical_support(torch::tensor({{5000.0, 4.0, 0.0, 0.0, 3.1}, {5000.0, 4.0, 0.0, 0.1, 3.1}}, torch::kFloat64));
  EXPECT_FALSE(support[0].item<bool>());
  EXPECT_TRUE(support[1].item<bool>());
}

}  // namespace
}  // namespace irisml::model
