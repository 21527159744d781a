#include "io/gaia_zero_point.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace irisml {
namespace {

// Against values of the published procedure (Lindegren et al. 2021, Appendix A: linear
// interpolation of the Z5/Z6 coefficients in G, clamped beyond 6 and 21, times the colour
// and latitude basis functions) computed independently in double precision [mas].
TEST(GaiaZeroPointTest, MatchesThePublishedProcedure) {
  struct Case {
    double g, nu_eff, pseudocolour, ecl_lat, solved, zero_point;
  };
  const Case cases[] = {
      // At the first node, colour 1.48 and the ecliptic: q00 − q02 / 3 of Z5 = −26.98 − 27.40 / 3 µas.
      {6.0, 1.48, 1.48, 0, 31, -0.0361133333333},   {12.5, 1.55, 1.5, -30, 31, -0.0243912380952},
      {17.0, 1.4, 1.5, 60, 31, -0.029213749529},    {20.5, 1.75, 1.5, 89, 31, -0.00687333079783},
      {5.0, 1.2, 1.5, 10, 31, -0.0483103857073},     // brighter than 6: the G = 6 coefficients
      {22, 1.6, 1.5, -45, 31, -0.0214118233765},     // fainter than 21: the G = 21 ones
      {12.5, 1.5, 1.45, -30, 95, -0.0127530062857},  // six-parameter solutions use the pseudocolour
      {16.0, 1.5, 1.3, 20, 95, -0.0491285461101},   {19.5, 1.5, 1.8, -70, 95, -0.0471215654104},
      {9.0, 1.5, 1.2, 5, 95, -0.0404593330459},
  };
  for (const auto& c : cases) {
    EXPECT_NEAR(gaia_parallax_zero_point(c.g, c.nu_eff, c.pseudocolour, c.ecl_lat, c.solved), c.zero_point, 1e-12)
        << "G=" << c.g << " solved=" << c.solved;
  }
  // A five-parameter solution ignores the pseudocolour, a six-parameter one nu_eff.
  EXPECT_EQ(gaia_parallax_zero_point(17.0, 1.4, NAN, 60, 31), gaia_parallax_zero_point(17.0, 1.4, 1.5, 60, 31));
  EXPECT_EQ(gaia_parallax_zero_point(16.0, NAN, 1.3, 20, 95), gaia_parallax_zero_point(16.0, 1.5, 1.3, 20, 95));
}

TEST(GaiaZeroPointTest, UnusableInputsGiveNaN) {
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(15.0, 1.5, 1.5, 10, 3)));  // two-parameter: no parallax
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(15.0, 1.5, 1.5, 10, 0)));
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(NAN, 1.5, 1.5, 10, 31)));
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(15.0, NAN, 1.5, 10, 31)));
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(15.0, 1.5, NAN, 10, 95)));
  EXPECT_TRUE(std::isnan(gaia_parallax_zero_point(15.0, 1.5, 1.5, NAN, 31)));
}

}  // namespace
}  // namespace irisml
