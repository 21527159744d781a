#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.hpp"

namespace irisml {
namespace {

TEST(PhiloxTest, MatchesPublishedKnownAnswer) {
  // Random123 known-answer vector for philox4x32-10, counter = key = 0.
  auto out = Philox::generate({0u, 0u, 0u, 0u}, {0u, 0u});
  EXPECT_EQ(out[0], 0x6627e8d5u);
  EXPECT_EQ(out[1], 0xe169c58du);
  EXPECT_EQ(out[2], 0xbc57ac4cu);
  EXPECT_EQ(out[3], 0x9b00dbd8u);
  // counter = key = all ones.
  auto ones = Philox::generate({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(ones[0], 0x408f276du);
  EXPECT_EQ(ones[1], 0x41c83b0eu);
  EXPECT_EQ(ones[2], 0xa20bc7c6u);
  EXPECT_EQ(ones[3], 0x6d5451fdu);
}

TEST(PhiloxTest, StreamsAreIndependentOfOrder) {
  Philox a(42, 7), b(42, 7), c(42, 8), d(43, 7);
  double va = a.uniform();
  EXPECT_EQ(va, b.uniform());
  EXPECT_NE(va, c.uniform());
  EXPECT_NE(va, d.uniform());
}

TEST(PhiloxTest, MomentsOfDistributions) {
  Philox rng(1, 2);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0, se = 0;
  for (int i = 0; i < n; ++i) {
    double u = rng.uniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    double z = rng.normal();
    sn += z;
    sn2 += z * z;
    se += rng.exponential(1.5);
  }
  EXPECT_NEAR(su / n, 0.5, 0.003);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.01);
  EXPECT_NEAR(se / n, 1.5, 0.015);
}

}  // namespace
}  // namespace irisml
