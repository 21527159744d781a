#include "core/error_stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace irisml {
namespace {

TEST(ErrorStatsTest, BiasRmsMeanAndMedianAbsoluteOnAHandComputedExample) {
  const std::vector<double> e{1.0, -2.0, 3.0, -4.0};
  ErrorSums s;
  for (double v : e) s.add(v);
  EXPECT_DOUBLE_EQ(s.bias(), -0.5);
  EXPECT_DOUBLE_EQ(s.rms(), std::sqrt(30.0 / 4.0));
  EXPECT_DOUBLE_EQ(s.mean_abs(), 2.5);
  EXPECT_DOUBLE_EQ(median_abs(e), 2.5);                 // even count: mean of |−2| and |3|
  EXPECT_DOUBLE_EQ(median_abs({-7.0, 1.0, 2.0}), 2.0);  // odd count
  double packed[ErrorSums::kFields];
  s.pack(packed);
  const auto back = ErrorSums::unpack(packed);
  EXPECT_EQ(back.n, 4);
  EXPECT_DOUBLE_EQ(back.rms(), s.rms());
}

TEST(ErrorStatsTest, NothingAddedIsNaN) {
  ErrorSums s;
  EXPECT_TRUE(std::isnan(s.bias()));
  EXPECT_TRUE(std::isnan(s.rms()));
  EXPECT_TRUE(std::isnan(s.mean_abs()));
  EXPECT_TRUE(std::isnan(median_abs({})));
}

}  // namespace
}  // namespace irisml
