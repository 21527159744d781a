// Posterior summaries (posterior/summary.hpp): quantiles, HDIs and their calibration,
// weighted summaries, ESS and systematic resampling.
#include "posterior/summary.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace irisml::posterior {
namespace {

TEST(SummaryTest, QuantilesInterpolateLikeNumpy) {
  std::vector<double> v;
  for (int i = 0; i < 10; ++i) v.push_back(i * i);                      // 0 1 4 9 … 81
  EXPECT_DOUBLE_EQ(quantile_sorted(v.data(), v.size(), 0.5), 20.5);     // (16 + 25) / 2
  EXPECT_NEAR(quantile_sorted(v.data(), v.size(), 0.16), 2.32, 1e-12);  // pos 1.44: 1 + 0.44·3
  EXPECT_NEAR(quantile_sorted(v.data(), v.size(), 0.84), 57.4, 1e-12);  // pos 7.56: 49 + 0.56·15
  EXPECT_DOUBLE_EQ(quantile_sorted(v.data(), v.size(), 0.0), 0.0);
  EXPECT_DOUBLE_EQ(quantile_sorted(v.data(), v.size(), 1.0), 81.0);
}

TEST(SummaryTest, HdiWindowHoldsEnoughSamplesToCoverAFreshDraw) {
  // k = ceil(α(n+1)) + 1: a window of k order statistics holds a fresh draw with
  // probability (k−1)/(n+1) ≥ α.
  EXPECT_EQ(hdi_window(64, 0.95), 63u);  // the old ceil(α·n) was 61: ~0.91 coverage
  EXPECT_EQ(hdi_window(64, 0.68), 46u);
  EXPECT_EQ(hdi_window(39, 0.95), 39u);  // 0.95·40 = 38 exactly (floating point 38.00000000000001)
  EXPECT_EQ(hdi_window(19, 0.95), 19u);  // too few samples for 95 %: the whole range
  EXPECT_EQ(hdi_window(1, 0.68), 1u);
  // A mode near 11 with a long right tail: the 50 % HDI (k = 7 of 10) sits on the mode.
  std::vector<double> v{0, 10, 10.5, 11, 11.2, 11.4, 12, 20, 30, 100};
  auto [lo, hi] = hdi_sorted(v.data(), v.size(), 0.5);
  EXPECT_DOUBLE_EQ(lo, 0.0);
  EXPECT_DOUBLE_EQ(hi, 12.0);
  EXPECT_EQ(hdi_window(10, 0.5), 7u);
}

// The HDI covers a fresh draw from the same distribution with probability ≈ its level
// (a calibrated posterior: the truth is one more draw), for a symmetric and a skewed
// toy at S = 64; the shortest window of ceil(α·S) raw samples covered 0.62 and 0.91.
TEST(SummaryTest, HdiCoversAFreshDrawWithItsLevel) {
  std::mt19937_64 rng(2026);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::gamma_distribution<double> gamma(2.0, 1.0);
  const int S = 64, trials = 20000;
  for (const bool skewed : {false, true}) {
    int in68 = 0, in95 = 0;
    std::vector<double> v(S);
    for (int t = 0; t < trials; ++t) {
      for (auto& x : v) x = skewed ? gamma(rng) : normal(rng);
      const double truth = skewed ? gamma(rng) : normal(rng);
      std::sort(v.begin(), v.end());
      const auto [lo68, hi68] = hdi_sorted(v.data(), v.size(), 0.68);
      const auto [lo95, hi95] = hdi_sorted(v.data(), v.size(), 0.95);
      in68 += truth >= lo68 && truth <= hi68;
      in95 += truth >= lo95 && truth <= hi95;
    }
    EXPECT_NEAR(in68 / static_cast<double>(trials), 0.68, 0.015) << (skewed ? "gamma" : "normal");
    EXPECT_NEAR(in95 / static_cast<double>(trials), 0.95, 0.008) << (skewed ? "gamma" : "normal");
  }
}

TEST(SummaryTest, HdiOfASkewedSampleIsShiftedTowardsTheMode) {
  // Exponential quantiles: the 68% HDI of Exp(1) is [0, 1.139]; the central
  // 16–84% interval is [0.174, 1.833].
  const int n = 4000;
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(-std::log(1.0 - (i + 0.5) / n));
  auto s = summarize(v);
  EXPECT_NEAR(s.hdi68_lo, 0.0, 1e-3);
  EXPECT_NEAR(s.hdi68_hi, 1.139, 2e-3);
  EXPECT_NEAR(s.p16, 0.174, 2e-3);
  EXPECT_NEAR(s.p84, 1.833, 2e-3);
  EXPECT_NEAR(s.median, std::log(2.0), 1e-3);
  EXPECT_NEAR(s.mean, 1.0, 5e-3);
  EXPECT_NEAR(s.std, 1.0, 2e-2);
  // The exact 95 % HDI is [0, −ln 0.05 = 2.996]; the sample HDI holds k = ceil(0.95·4001 + 1)
  // = 3802 of the 4000 quantile points from the first, ending at −ln(1 − 3801.5/4000) = 3.003.
  EXPECT_NEAR(s.hdi95_lo, 0.0, 1e-3);
  EXPECT_NEAR(s.hdi95_hi, 3.003, 1e-3);
}

TEST(SummaryTest, MeanStdAndNonFiniteSamples) {
  std::vector<double> v{4, 1, std::numeric_limits<double>::quiet_NaN(), 3, 2, std::numeric_limits<double>::infinity()};
  auto s = summarize(v);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std, std::sqrt(5.0 / 3.0), 1e-12);  // n − 1 denominator
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  std::vector<double> none{std::numeric_limits<double>::quiet_NaN()};
  EXPECT_TRUE(std::isnan(summarize(none).median));
}

TEST(WeightedSummaryTest, DefinitionsOnKnownWeights) {
  // equal weights: Hazen quantiles, the unweighted std, HDI of the shortest window
  std::vector<WeightedValue> v;
  for (int i = 1; i <= 10; ++i) v.push_back({static_cast<double>(i), 2.0});
  auto s = summarize_weighted(v);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.std, std::sqrt(55.0 / 6.0), 1e-12);  // n − 1 denominator
  EXPECT_DOUBLE_EQ(s.p16, 2.1);                      // position 0.16·10 − 0.5 = 1.1 → 2.1
  // one heavy point holds the median; with ESS 1.5 the HDI mass α + (1 + α)/ESS
  // reaches 1, so the HDIs span every point
  std::vector<WeightedValue> w = {{0.0, 1.0}, {1.0, 8.0}, {2.0, 1.0}};
  s = summarize_weighted(w);
  EXPECT_DOUBLE_EQ(s.median, 1.0);
  EXPECT_DOUBLE_EQ(s.hdi68_lo, 0.0);
  EXPECT_DOUBLE_EQ(s.hdi68_hi, 2.0);
  // 100 points of weight 1 at 0..99 and one of weight 20 at 50.5 (ESS 28.8): the 68 %
  // HDI needs mass 0.68 + 1.68/28.8 = 0.738, i.e. the heavy point (1/6) and 69 light
  // ones around it
  std::vector<WeightedValue> h;
  for (int i = 0; i < 100; ++i) h.push_back({static_cast<double>(i), 1.0});
  h.push_back({50.5, 20.0});
  s = summarize_weighted(h);
  EXPECT_LE(s.hdi68_lo, 50.5);
  EXPECT_GE(s.hdi68_hi, 50.5);
  EXPECT_NEAR(s.hdi68_hi - s.hdi68_lo, 68.0, 1.0);
  // zero and non-finite weights are ignored
  std::vector<WeightedValue> z = {{5.0, 0.0}, {1.0, 1.0}, {NAN, 1.0}, {2.0, 1.0}};
  EXPECT_DOUBLE_EQ(summarize_weighted(z).median, 1.5);
}

TEST(WeightedSummaryTest, EssAndResampling) {
  const double lw[4] = {0.0, 0.0, -INFINITY, std::log(2.0)};
  EXPECT_NEAR(effective_sample_size(lw, 4), 16.0 / 6.0, 1e-12);
  const auto picks = systematic_resample(lw, 4, 400, 0.5);
  std::vector<int> count(4, 0);
  for (auto i : picks) ++count[i];
  EXPECT_EQ(count[2], 0);
  EXPECT_EQ(count[0], 100);
  EXPECT_EQ(count[3], 200);
}

}  // namespace
}  // namespace irisml::posterior
