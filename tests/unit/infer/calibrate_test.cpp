// The per-band calibration estimator (irisml calibrate): on stars simulated with known
// zero-point offsets and systematic errors it recovers them within their bootstrap errors,
// and the calibrated stars then fit at the nominal rate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/rng.hpp"
#include "infer/calibrate.hpp"
#include "reference_data.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {
namespace {

TEST(CalibrateTest, RecoversInjectedOffsetsAndSystematics) {
  const std::vector<std::string> bands = {"Gaia_G", "Gaia_BP", "Gaia_RP", "PS1_g", "PS1_r", "2MASS_J", "2MASS_Ks"};
  simulate::Synthesizer synth(test_support::ck04_grid(), test_support::project_registry(), bands);
  simulate::Prior prior(simulate::PriorConfig{}, *test_support::ck04_grid());
  // offsets with mean 0 (the estimator's gauge) and systematic errors per band
  const std::vector<double> offset = {0.02, -0.03, 0.01, 0.04, -0.02, 0.0, -0.02};
  const std::vector<double> sys = {0.005, 0.02, 0.01, 0.03, 0.0, 0.015, 0.01};
  std::vector<CalibrationStar> stars;
  std::vector<double> mags(bands.size()), work;
  for (std::uint64_t i = 0; stars.size() < 300; ++i) {
    simulate::StarParameters p;
    prior.draw(51, i, p);
    if (p.teff > 8000 || p.teff < 4000) continue;  // labelled samples are FGK-like
    p.av = 0.5 * p.av;
    p.rv = 3.1;
    if (!synth.magnitudes(p, mags.data(), work, 9.0)) continue;
    Philox rng(52, i);
    CalibrationStar s;
    s.teff = p.teff;
    s.logg = p.logg;
    s.mh = p.mh;
    s.rv = 3.1;
    // a dust-map-like A_V prior: without one, offsets along the reddening vector trade
    // against every star's A_V and only the A_V >= 0 bound (biased) pins them
    s.av_prior = std::max(0.0, p.av + 0.03 * rng.normal());
    s.av_prior_err = 0.03;
    for (std::size_t b = 0; b < bands.size(); ++b) {
      const double err = 0.002 + 0.02 * rng.uniform();
      s.bands.push_back(static_cast<int>(b));
      s.mag.push_back(mags[b] + offset[b] + std::hypot(err, sys[b]) * rng.normal());
      s.err.push_back(err);
    }
    stars.push_back(std::move(s));
  }
  CalibrateSettings settings;
  settings.bootstrap = 20;
  const auto result = calibrate(synth, stars, settings);
  EXPECT_TRUE(result.converged);
  for (std::size_t b = 0; b < bands.size(); ++b) {
    const auto* c = result.calibration.find(bands[b]);
    ASSERT_NE(c, nullptr);
    std::fprintf(stderr, "%-9s offset %+.4f (true %+.4f) +- %.4f  sigma_sys %.4f (true %.4f) +- %.4f\n",
                 bands[b].c_str(), c->offset, offset[b], c->offset_err, c->sigma_sys, sys[b], c->sigma_sys_err);
    EXPECT_EQ(c->stars, 300);
    EXPECT_NEAR(c->offset, offset[b], 4 * c->offset_err + 0.002) << bands[b];
    EXPECT_NEAR(c->sigma_sys, sys[b], 4 * c->sigma_sys_err + 0.003) << bands[b];
  }
  // at the estimated calibration the stars fit as their noise says
  int n = 0, low = 0;
  for (const auto& s : result.stars) {
    if (!std::isfinite(s.p)) continue;
    ++n;
    low += s.p < 0.05;
  }
  EXPECT_GT(n, 280);
  EXPECT_LT(static_cast<double>(low) / n, 0.10);
}

}  // namespace
}  // namespace irisml::infer
