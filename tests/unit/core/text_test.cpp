#include "core/text.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace irisml {
namespace {

TEST(FormatDurationTest, SecondsMinutesHours) {
  EXPECT_EQ(format_duration(0.0), "0s");
  EXPECT_EQ(format_duration(44.6), "45s");
  EXPECT_EQ(format_duration(725.0), "12m05s");
  EXPECT_EQ(format_duration(3599.4), "59m59s");
  EXPECT_EQ(format_duration(11220.0), "3h07m");
  EXPECT_EQ(format_duration(-1.0), "?");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "?");
}

}  // namespace
}  // namespace irisml
