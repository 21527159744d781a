#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/chi2.hpp"
#include "core/normal.hpp"
#include "core/rng.hpp"

namespace irisml::normal {
namespace {

TEST(NormalTest, QuantileInvertsTheCdfIntoTheTails) {
  for (double x : {-30.0, -12.0, -5.0, -1.3, 0.0, 0.7, 2.5, 6.0}) {
    const double p = cdf(x);
    if (x < 0) {
      EXPECT_NEAR(quantile(p), x, 1e-9 * std::max(1.0, std::abs(x))) << x;
    }
    EXPECT_NEAR(log_cdf(x), std::log(p), 1e-10 * std::max(1.0, std::abs(std::log(p)))) << x;
  }
  EXPECT_NEAR(log_cdf(-40.0), -804.6084420137538, 1e-6);  // asymptotic branch: log Φ(−40)
  EXPECT_NEAR(quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(std::exp(log_interval_mass(8.0, INFINITY)), cdf(-8.0), 1e-25);
  EXPECT_NEAR(std::exp(log_interval_mass(-1.0, 1.0)), 0.6826894921370859, 1e-14);
}

TEST(NormalTest, TruncatedDrawsFollowTheirDensity) {
  // a tail far from the mean (the regime of an A_V proposal just above zero)
  for (const Truncated t :
       {Truncated{0.5, 0.2, 0.003, INFINITY}, Truncated{-1.0, 0.1, 0.003, INFINITY}, Truncated{2.0, 1.0, 0.0, 3.0}}) {
    Philox rng(7, 1);
    const int n = 100000, bins = 10;
    std::vector<double> x(n);
    double lo = INFINITY, hi = -INFINITY;
    for (auto& v : x) {
      v = t.draw(rng.uniform());
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    ASSERT_GE(lo, t.lo);
    ASSERT_LE(hi, t.hi);
    // histogram against the integrated density
    for (int k = 0; k < bins; ++k) {
      const double a = lo + (hi - lo) * k / bins, b = lo + (hi - lo) * (k + 1) / bins;
      double count = 0;
      for (double v : x) count += v >= a && v < b;
      double mass = 0;
      for (int j = 0; j < 200; ++j) mass += std::exp(t.log_pdf(a + (j + 0.5) * (b - a) / 200)) * (b - a) / 200;
      EXPECT_NEAR(count / n, mass, 5 * std::sqrt(mass / n) + 2e-4) << "mean " << t.mean << " bin " << k;
    }
  }
}

}  // namespace
}  // namespace irisml::normal

namespace irisml {
namespace {

// χ² upper tail against closed forms (dof 2: e^{−x/2}; dof 1: 2(1 − Φ(√x))) and
// table values, on both sides of the series / continued-fraction switch.
TEST(Chi2Test, SurvivalMatchesClosedFormsAndTables) {
  for (double x : {0.01, 0.5, 1.0, 2.0, 3.0, 7.0, 30.0, 200.0}) {
    EXPECT_NEAR(chi2_survival(x, 2.0), std::exp(-x / 2), 1e-13 * std::max(1.0, std::exp(-x / 2)) + 1e-300) << x;
    EXPECT_NEAR(chi2_survival(x, 1.0), std::erfc(std::sqrt(x / 2)), 1e-12 * std::erfc(std::sqrt(x / 2)) + 1e-300) << x;
  }
  EXPECT_NEAR(chi2_survival(3.841459, 1.0), 0.05, 1e-6);
  EXPECT_NEAR(chi2_survival(11.0705, 5.0), 0.05, 1e-5);
  EXPECT_NEAR(chi2_survival(23.2093, 10.0), 0.01, 1e-5);
  EXPECT_NEAR(chi2_survival(9.34182, 10.0), 0.5, 1e-5);  // the median of χ²(10)
  EXPECT_DOUBLE_EQ(chi2_survival(0.0, 3.0), 1.0);
  EXPECT_DOUBLE_EQ(chi2_survival(-1.0, 3.0), 1.0);
  EXPECT_TRUE(std::isnan(chi2_survival(1.0, 0.0)));
  // non-integer dof lies between its integer neighbours
  EXPECT_LT(chi2_survival(5.0, 3.0), chi2_survival(5.0, 3.5));
  EXPECT_LT(chi2_survival(5.0, 3.5), chi2_survival(5.0, 4.0));
}

}  // namespace
}  // namespace irisml
