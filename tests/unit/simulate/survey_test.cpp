// `catalog make --survey`: survey-like observation (issue 10 §4).
#include "simulate/survey.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "simulate/catalog_make.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

// Bands are kept between their bright and faint limits, errors grow with magnitude as
// documented and are under-reported by error_scale, the noise is the true error with
// σ_sys in quadrature, and the reference band's magnitudes follow ∝ 10^{0.3 m}.
TEST(SurveyTest, ObservesWithLimitsMagnitudeDependentErrorsAndTheDocumentedNoise) {
  const auto& pattern = survey_pattern("sdss-galex");
  ASSERT_EQ(pattern.bands.size(), 6u);
  EXPECT_EQ(pattern.reference, "SDSS_r");
  EXPECT_NEAR(survey_error(pattern.bands[2], pattern.bands[2].limit), std::hypot(0.2171, pattern.bands[2].floor),
              1e-12);
  EXPECT_LT(survey_error(pattern.bands[2], 16.0), survey_error(pattern.bands[2], 20.0));
  const std::vector<float> clean = {6.5f, 5.3f, 4.8f, 4.7f, 4.65f, 8.9f};  // a G star at 10 pc, NUV faint
  const double sigma_sys = 0.01, scale = 2.0;
  std::vector<float> mag(6), err(6);
  bool observed[6];
  const double k_exp = 0.3 * std::log(10.0), lo = pattern.reference_min, hi = pattern.reference_max;
  double z2 = 0, faint_half = 0;
  long n = 0, stars = 20000, nuv = 0;
  for (long s = 0; s < stars; ++s) {
    Philox rng(5, static_cast<std::uint64_t>(s)), replay(5, static_cast<std::uint64_t>(s));
    const int k = observe_survey_star(rng, pattern, clean.data(), sigma_sys, scale, mag.data(), err.data(), observed);
    // the reference magnitude comes from the stream's first uniform (inversion of ∝ e^{k m})
    const double m_ref =
        std::log(std::exp(k_exp * lo) + replay.uniform() * (std::exp(k_exp * hi) - std::exp(k_exp * lo))) / k_exp;
    ASSERT_GE(m_ref, lo);
    ASSERT_LE(m_ref, hi);
    faint_half += m_ref > 0.5 * (lo + hi);
    int counted = 0;
    for (int b = 0; b < 6; ++b) {
      const auto& band = pattern.bands[static_cast<std::size_t>(b)];
      const double truth = clean[static_cast<std::size_t>(b)] + m_ref - clean[2];
      EXPECT_EQ(observed[b], truth >= band.bright && truth <= band.limit) << b;
      if (!observed[b]) continue;
      ++counted;
      nuv += b == 5;
      const double sigma = survey_error(band, truth);
      EXPECT_NEAR(err[static_cast<std::size_t>(b)], sigma / scale, 1e-6 * sigma);
      const double z = (mag[static_cast<std::size_t>(b)] - truth) / std::sqrt(sigma * sigma + sigma_sys * sigma_sys);
      z2 += z * z;
      ++n;
    }
    EXPECT_EQ(k, counted);
  }
  EXPECT_GT(faint_half / stars, 0.6);  // counts rise towards faint magnitudes
  EXPECT_GT(nuv, 0);
  EXPECT_LT(nuv, stars);  // NUV is often beyond its limit
  EXPECT_NEAR(z2 / n, 1.0, 0.03);
}

TEST(SurveyTest, UnknownPatternsAndMissingBandsAreNamed) {
  test_support::expect_error<InputError>([] { survey_pattern("hubble"); }, {"'hubble'", "gaia-2mass-wise"});
  CatalogMakeOptions o;
  o.from = std::string(IRISML_SOURCE_DIR) + "/tests/data/real_stars/real_stars.csv";  // not a set: checked first
  o.output = test_support::temp_path("survey", "x.h5");
  o.survey = "sdss-galex";
  EXPECT_THROW(make_catalog(o, {}), Error);
}

}  // namespace
}  // namespace irisml::simulate
