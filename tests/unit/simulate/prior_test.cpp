#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "simulate/grid.hpp"
#include "simulate/prior.hpp"
#include "reference_data.hpp"

namespace irisml::simulate {
namespace {

const SpectralGrid& ck04() { return *test_support::ck04_grid(); }

TEST(PriorTest, DrawsArePureFunctionsOfSeedAndIndex) {
  Prior prior(PriorConfig{}, ck04());
  StarParameters a, b, c;
  prior.draw(5, 123, a);
  prior.draw(5, 123, b);
  prior.draw(5, 124, c);
  EXPECT_EQ(a.teff, b.teff);
  EXPECT_EQ(a.rv, b.rv);
  EXPECT_NE(a.teff, c.teff);
}

TEST(PriorTest, MatchesThePublishedPriorInsideTheGrid) {
  PriorConfig config;
  Prior prior(config, ck04());
  GridInterpolator interp(ck04());
  const int n = 40000;
  double av_sum = 0, rv_sum = 0, halo_like = 0;
  std::uint64_t rejected = 0;
  for (int i = 0; i < n; ++i) {
    StarParameters p;
    rejected += prior.draw(11, static_cast<std::uint64_t>(i), p);
    GridInterpolator::Cell cell;
    ASSERT_TRUE(interp.locate(p.teff, p.logg, p.mh, cell)) << p.teff << " " << p.logg << " " << p.mh;
    ASSERT_GE(p.logg, config.logg_min);
    ASSERT_LE(p.logg, 5.0);  // CK04 stops at log g 5.0: the rest of U(0.1, 5.5) is rejected
    ASSERT_GE(p.rv, 2.5);
    ASSERT_LE(p.rv, 4.5);
    ASSERT_GE(p.av, 0.003);
    av_sum += p.av;
    rv_sum += p.rv;
    halo_like += p.mh < -1.0;
  }
  EXPECT_NEAR(av_sum / n, 0.003 + 1.5, 0.03);
  EXPECT_NEAR(rv_sum / n, 3.13, 0.005);
  // P(logg > 5.0 | U(0.1, 5.5)) = 0.5/5.4: the expected number of redraws per accepted star is 0.5/4.9.
  EXPECT_NEAR(static_cast<double>(rejected) / n, 0.5 / 4.9, 0.01);
  // Halo weight 0.25 with N(-1.49, 0.4): about 0.25*0.89 + 0.75*0 of stars below -1.
  EXPECT_NEAR(halo_like / n, 0.25 * 0.887, 0.015);
}

TEST(PriorTest, RejectsInconsistentSettings) {
  PriorConfig c;
  c.logg_min = 4.0;
  c.logg_max = 3.0;
  EXPECT_THROW(c.validate(), InputError);
  c = PriorConfig{};
  c.rv_min = 0;
  EXPECT_THROW(c.validate(), InputError);
  c = PriorConfig{};
  c.av_scale = -1;
  EXPECT_THROW(c.validate(), InputError);
  c = PriorConfig{};
  c.logg_min = 6.0;
  c.logg_max = 7.0;
  EXPECT_THROW(Prior(c, ck04()), InputError);  // no overlap with the grid
}

}  // namespace
}  // namespace irisml::simulate
