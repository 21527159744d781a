// The ln F_λ blend of GridInterpolator (issue 10): accuracy against the linear
// F_λ blend on the real CK04 grid, and its exact cases on synthetic grids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/interpolation_check.hpp"
#include "simulate/photometry.hpp"
#include "simulate/synthesizer.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

using irisml::test_support::expect_error;

const std::vector<std::string> kBands = {"Gaia_G", "Gaia_BP",   "Gaia_RP", "SDSS_u",   "SDSS_g", "SDSS_r",
                                         "PS1_g",  "GALEX_NUV", "2MASS_J", "2MASS_Ks", "WISE_W1"};
// Where the flux is most convex in Teff and the linear blend was measured too bright.
const std::vector<std::string> kBlueBands = {"Gaia_BP", "SDSS_u", "SDSS_g", "PS1_g", "GALEX_NUV"};

FilterRegistry registry() {
  return FilterRegistry::load(std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini", IRISML_TEST_DATA_DIR);
}

// ---------------------------------------------------------------------------
// Leave-one-out on CK04: every interior node predicted from its neighbours two
// nodes apart, both blends, the magnitude error in each band.

class LeaveOneOutCk04Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    grid_ = std::make_shared<SpectralGrid>(import_ck04(join_path(IRISML_TEST_DATA_DIR, "spectra/ck04models")));
    phot_ = std::make_unique<Photometry>(grid_->wavelength, registry(), kBands);
    for (GridAxis axis : {GridAxis::Teff, GridAxis::LogG, GridAxis::MH}) {
      log_[axis] = leave_one_out(*grid_, *phot_, axis, Blend::LogFlux);
      lin_[axis] = leave_one_out(*grid_, *phot_, axis, Blend::LinearFlux);
    }
  }
  static void TearDownTestSuite() {
    log_.clear();
    lin_.clear();
    phot_.reset();
    grid_.reset();
  }
  static std::size_t band(const std::string& name) {
    return static_cast<std::size_t>(std::find(kBands.begin(), kBands.end(), name) - kBands.begin());
  }

  static std::shared_ptr<SpectralGrid> grid_;
  static std::unique_ptr<Photometry> phot_;
  static std::map<GridAxis, LeaveOneOut> log_, lin_;
};
std::shared_ptr<SpectralGrid> LeaveOneOutCk04Test::grid_;
std::unique_ptr<Photometry> LeaveOneOutCk04Test::phot_;
std::map<GridAxis, LeaveOneOut> LeaveOneOutCk04Test::log_, LeaveOneOutCk04Test::lin_;

TEST_F(LeaveOneOutCk04Test, CoversTheInteriorNodesOfEachAxis) {
  // Both blends predict the same nodes: those whose neighbours (and the node) exist.
  for (GridAxis axis : {GridAxis::Teff, GridAxis::LogG, GridAxis::MH}) {
    EXPECT_EQ(log_[axis].nodes, lin_[axis].nodes) << axis_name(axis);
    EXPECT_EQ(log_[axis].bands, kBands.size());
    EXPECT_EQ(log_[axis].dmag.size(), log_[axis].nodes.size() * kBands.size());
    for (std::size_t b = 0; b < kBands.size(); ++b) {
      EXPECT_EQ(log_[axis].count(b), log_[axis].nodes.size()) << kBands[b];  // every magnitude finite
    }
  }
  // Teff: 74 interior Teff nodes; the ragged hot edge and the missing low-gravity
  // models remove some. 3808 models in all.
  EXPECT_EQ(log_[GridAxis::Teff].nodes.size(), 3624u);
  EXPECT_EQ(log_[GridAxis::LogG].nodes.size(), 2600u);
  EXPECT_EQ(log_[GridAxis::MH].nodes.size(), 2856u);  // 6 interior [M/H] × 476 models each
  for (const auto& n : log_[GridAxis::MH].nodes) {
    EXPECT_GT(n[2], -2.5);
    EXPECT_LT(n[2], 0.5);
  }
}

TEST_F(LeaveOneOutCk04Test, LogBlendBeatsLinearBlendAlongTeff) {
  const LeaveOneOut &log = log_[GridAxis::Teff], &lin = lin_[GridAxis::Teff];
  for (const auto& name : kBlueBands) {
    const std::size_t b = band(name);
    // All nodes: median and 95th percentile at least halved.
    EXPECT_LT(log.abs_quantile(b, 0.5), 0.6 * lin.abs_quantile(b, 0.5)) << name;
    EXPECT_LT(log.abs_quantile(b, 0.95), 0.5 * lin.abs_quantile(b, 0.95)) << name;
    // Cool stars (3750–5000 K), where the issue measured the linear blend
    // 0.02–0.06 mag too bright in g/BP: at least 3× smaller medians.
    EXPECT_LT(log.abs_quantile(b, 0.5, 3750, 5000), lin.abs_quantile(b, 0.5, 3750, 5000) / 3) << name;
  }
  // Absolute levels (leave-one-out across two cells, so about 4× the error of a
  // point inside one cell): measured 0.016 / 0.073 mag in BP, 0.019 / 0.096 in
  // SDSS g, 0.12 / 0.63 in NUV (log / linear, median, Teff ≤ 5000 K).
  EXPECT_LT(log.abs_quantile(band("Gaia_BP"), 0.5, 0, 5000), 0.025);
  EXPECT_GT(lin.abs_quantile(band("Gaia_BP"), 0.5, 0, 5000), 0.05);
  EXPECT_LT(log.abs_quantile(band("SDSS_g"), 0.5, 0, 5000), 0.03);
  EXPECT_GT(lin.abs_quantile(band("SDSS_g"), 0.5, 0, 5000), 0.06);
  EXPECT_LT(log.abs_quantile(band("GALEX_NUV"), 0.5, 0, 5000), 0.2);
  EXPECT_GT(lin.abs_quantile(band("GALEX_NUV"), 0.5, 0, 5000), 0.4);
  // The linear blend is too bright (Δmag < 0) in the blue for cool stars.
  std::size_t brighter = 0, cool = 0;
  for (std::size_t k = 0; k < lin.nodes.size(); ++k) {
    if (lin.nodes[k][0] > 5000) continue;
    ++cool;
    brighter += lin.dmag[k * lin.bands + band("Gaia_BP")] < 0;
  }
  EXPECT_GT(brighter, cool * 9 / 10);
  // Optical and J: better over the whole axis too.
  for (const char* name : {"Gaia_G", "Gaia_RP", "SDSS_r", "2MASS_J"}) {
    EXPECT_LT(log.abs_quantile(band(name), 0.5), lin.abs_quantile(band(name), 0.5)) << name;
    EXPECT_LT(log.abs_quantile(band(name), 0.95), lin.abs_quantile(band(name), 0.95)) << name;
  }
}

TEST_F(LeaveOneOutCk04Test, LogBlendIsAsGoodAlongLogGAndMetallicity) {
  // Along log g and [M/H] the flux is close to exponential or linear alike: the
  // two blends agree within 2 mmag in the median of every band.
  for (GridAxis axis : {GridAxis::LogG, GridAxis::MH}) {
    for (std::size_t b = 0; b < kBands.size(); ++b) {
      EXPECT_LT(log_[axis].abs_quantile(b, 0.5), lin_[axis].abs_quantile(b, 0.5) + 0.002)
          << axis_name(axis) << " " << kBands[b];
      EXPECT_LT(log_[axis].abs_quantile(b, 0.5), 0.012) << axis_name(axis) << " " << kBands[b];
    }
  }
}

TEST_F(LeaveOneOutCk04Test, SynthesizerUsesTheLogBlendAndKeepsNodes) {
  const auto reg = registry();
  Synthesizer synth(grid_, reg, kBands);
  std::vector<double> mags(kBands.size()), expect(kBands.size()), work;
  const auto [i0, i1] = phot_->active_range();
  // A node: the model's own photometry (the node's spectrum is returned exactly).
  ASSERT_TRUE(synth.magnitudes({5750, 4.5, 0.0, 0.0, 3.1}, mags.data(), work));
  const float* f = grid_->spectrum(
      5, static_cast<std::size_t>(std::find(grid_->teff.begin(), grid_->teff.end(), 5750.0) - grid_->teff.begin()), 9);
  std::vector<double> node(f + i0, f + i1);
  phot_->magnitudes_active(node.data(), 0.0, 3.1, dilution_mag(1.0, 10.0), expect.data());
  for (std::size_t b = 0; b < kBands.size(); ++b) EXPECT_NEAR(mags[b], expect[b], 1e-9) << kBands[b];
  // Mid-cell at 3873 K (log10 midpoint of 3750 and 4000 K): what the ln F blend
  // gives, fainter in BP than the linear blend by a few hundredths.
  const double teff = std::sqrt(3750.0 * 4000.0);
  ASSERT_TRUE(synth.magnitudes({teff, 4.5, 0.0, 0.0, 3.1}, mags.data(), work));
  GridInterpolator log_interp(*grid_, i0, i1), lin_interp(*grid_, i0, i1, Blend::LinearFlux);
  std::vector<double> spec(i1 - i0), lin(kBands.size());
  ASSERT_TRUE(log_interp.spectrum(teff, 4.5, 0.0, spec.data()));
  phot_->magnitudes_active(spec.data(), 0.0, 3.1, dilution_mag(1.0, 10.0), expect.data());
  ASSERT_TRUE(lin_interp.spectrum(teff, 4.5, 0.0, spec.data()));
  phot_->magnitudes_active(spec.data(), 0.0, 3.1, dilution_mag(1.0, 10.0), lin.data());
  for (std::size_t b = 0; b < kBands.size(); ++b) EXPECT_NEAR(mags[b], expect[b], 1e-9) << kBands[b];
  EXPECT_GT(mags[band("Gaia_BP")] - lin[band("Gaia_BP")], 0.01);
  EXPECT_GT(mags[band("GALEX_NUV")] - lin[band("GALEX_NUV")], 0.05);
  // Reddened, at a general point: the Synthesizer's one-exp path (ln F plus the
  // reddening exponent) agrees with the interpolated spectrum reddened apart.
  for (double av : {0.4, 3.7}) {
    ASSERT_TRUE(synth.magnitudes({6123.0, 3.81, -0.77, av, 2.9}, mags.data(), work, 1.5));
    ASSERT_TRUE(log_interp.spectrum(6123.0, 3.81, -0.77, spec.data()));
    phot_->magnitudes_active(spec.data(), av, 2.9, dilution_mag(1.0, 10.0) + 1.5, expect.data());
    for (std::size_t b = 0; b < kBands.size(); ++b) EXPECT_NEAR(mags[b], expect[b], 1e-9) << kBands[b] << " " << av;
  }
}

// ---------------------------------------------------------------------------
// Synthetic grids

// ln F linear in (log10 Teff, log g, [M/H]) at each wavelength: the ln F blend
// reproduces it anywhere inside a complete cell.
double exp_flux(double teff, double logg, double mh, std::size_t i) {
  const double x = double(i) / 10.0;
  return std::exp(2.0 + 6.0 * (std::log10(teff) - 3.7) * (3.0 - x) + 0.3 * logg * x - 0.4 * mh);
}

std::vector<double> kSynthWave() { return {1500, 3000, 4500, 6000, 9000, 12000, 20000, 35000}; }

SpectralGrid exponential_grid() {
  SpectralGrid g;
  g.teff = {4000, 4500, 5000, 6000, 7000};
  g.logg = {3.5, 4.0, 4.5};
  g.mh = {-1.0, -0.5, 0.0};
  g.wavelength = kSynthWave();
  g.flux.assign(g.n_nodes() * g.n_wave(), 0.0f);
  g.valid.assign(g.n_nodes(), 1);
  for (std::size_t m = 0; m < g.n_mh(); ++m)
    for (std::size_t t = 0; t < g.n_teff(); ++t)
      for (std::size_t l = 0; l < g.n_logg(); ++l)
        for (std::size_t i = 0; i < g.n_wave(); ++i)
          g.flux[g.node_index(m, t, l) * g.n_wave() + i] =
              static_cast<float>(exp_flux(g.teff[t], g.logg[l], g.mh[m], i));
  g.source = "exponential test grid";
  g.check();
  return g;
}

TEST(InterpolationTest, LogBlendReproducesExponentialFlux) {
  const SpectralGrid g = exponential_grid();
  GridInterpolator log_interp(g), lin_interp(g, Blend::LinearFlux);
  std::vector<double> out(g.n_wave());
  double worst_log = 0, worst_lin = 0;
  for (double teff : {4100.0, 4321.0, 4999.0, 5500.0, 6789.0}) {
    for (double logg : {3.6, 4.0, 4.37}) {
      for (double mh : {-0.9, -0.33, 0.0}) {
        ASSERT_TRUE(log_interp.spectrum(teff, logg, mh, out.data()));
        for (std::size_t i = 0; i < g.n_wave(); ++i) {
          worst_log = std::max(worst_log, std::abs(out[i] / exp_flux(teff, logg, mh, i) - 1));
        }
        ASSERT_TRUE(lin_interp.spectrum(teff, logg, mh, out.data()));
        for (std::size_t i = 0; i < g.n_wave(); ++i) {
          worst_lin = std::max(worst_lin, std::abs(out[i] / exp_flux(teff, logg, mh, i) - 1));
        }
      }
    }
  }
  EXPECT_LT(worst_log, 2e-6);  // float storage of F and ln F
  EXPECT_GT(worst_lin, 1e-2);
}

TEST(InterpolationTest, LeaveOneOutIsZeroWhereTheBlendIsExact) {
  // The check itself: on the exponential grid the ln F blend predicts every node
  // (to float round-off) and the linear one does not.
  const SpectralGrid g = exponential_grid();
  const auto reg = registry();
  Photometry phot(g.wavelength, reg, {"SDSS_g", "2MASS_J"});
  for (GridAxis axis : {GridAxis::Teff, GridAxis::LogG, GridAxis::MH}) {
    const auto log = leave_one_out(g, phot, axis, Blend::LogFlux);
    const auto lin = leave_one_out(g, phot, axis, Blend::LinearFlux);
    ASSERT_EQ(log.nodes.size(), axis == GridAxis::Teff ? 27u : 15u) << axis_name(axis);
    EXPECT_LT(log.abs_quantile(0, 1.0), 1e-5) << axis_name(axis);
    EXPECT_GT(lin.abs_quantile(0, 0.0), 1e-5) << axis_name(axis);
  }
  // 4500 K is predicted from 4000 and 5000 K, 5000 K from 4500 and 6000 K.
  const auto teff = leave_one_out(g, phot, GridAxis::Teff, Blend::LogFlux);
  EXPECT_EQ(teff.nodes.front(), (std::array<double, 3>{4500, 3.5, -1.0}));
  EXPECT_EQ(teff.count(0, 4400, 4600), 9u);
  EXPECT_EQ(teff.count(0, 6000, 6000), 9u);
  EXPECT_EQ(teff.count(0, 4000, 4000), 0u);  // an end of the axis is never predicted
  expect_error<InputError>([&] { teff.abs_quantile(0, 1.5); }, {"1.5"});
  expect_error<InputError>([&] { teff.abs_quantile(2, 0.5); }, {"band index 2"});
  Photometry other(kSynthWave(), reg, {"SDSS_g"});
  SpectralGrid flat = g;
  flat.teff = {4000};
  flat.flux.resize(flat.n_nodes() * flat.n_wave());
  flat.valid.resize(flat.n_nodes());
  expect_error<InputError>([&] { leave_one_out(flat, other, GridAxis::Teff, Blend::LogFlux); },
                           {"Teff axis", "1 node"});
}

TEST(InterpolationTest, ZeroFluxStaysZeroAndBlendsGeometrically) {
  SpectralGrid g;
  g.teff = {4000, 5000};
  g.logg = {4.0};
  g.mh = {0.0};
  g.wavelength = {1000, 2000, 3000};
  // 4000 K: zero at 1000 and 2000 Å; 5000 K: zero at 1000 Å only.
  g.flux = {0.0f, 0.0f, 8.0f, 0.0f, 4.0f, 2.0f};
  g.valid = {1, 1};
  g.check();
  GridInterpolator interp(g);
  std::vector<double> out(3);
  ASSERT_TRUE(interp.spectrum(4000, 4.0, 0.0, out.data()));  // a node: itself, zeros included
  EXPECT_EQ(out, (std::vector<double>{0.0, 0.0, 8.0}));
  const double mid = std::sqrt(4000.0 * 5000.0);
  ASSERT_TRUE(interp.spectrum(mid, 4.0, 0.0, out.data()));
  EXPECT_EQ(out[0], 0.0);                                           // both corners 0
  EXPECT_NEAR(out[1], std::sqrt(kFluxFloor * 4.0), 1e-5 * out[1]);  // 0 counts as kFluxFloor
  EXPECT_LT(out[1], 1e-18);
  EXPECT_NEAR(out[2], 4.0, 4e-6);  // sqrt(8 · 2)
  GridInterpolator linear(g, Blend::LinearFlux);
  ASSERT_TRUE(linear.spectrum(mid, 4.0, 0.0, out.data()));
  EXPECT_EQ(out[0], 0.0);
  EXPECT_NEAR(out[1], 2.0, 1e-12);
  EXPECT_NEAR(out[2], 5.0, 1e-12);
}

TEST(InterpolationTest, NodesAreExactAndNearbyPointsContinuous) {
  const SpectralGrid g = exponential_grid();
  GridInterpolator interp(g, 2, 7);
  std::vector<double> at(5), near(5);
  ASSERT_TRUE(interp.spectrum(5000, 4.0, -0.5, at.data()));
  const float* f = g.spectrum(1, 2, 1);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(at[i], double(f[2 + i])) << i;
  // Off the node by 1e-8 along each axis (beyond the 1e-9 cell width that snaps
  // to it): the blend of float ln F rows, within float round-off of ln F
  // (|ln F| < 6 here: 4e-7 relative) of the node.
  for (int axis = 0; axis < 3; ++axis) {
    GridInterpolator::Cell cell;
    ASSERT_TRUE(interp.locate(axis == 0 ? 5000 * (1 + 1e-8) : 5000, axis == 1 ? 4.0 + 1e-8 : 4.0,
                              axis == 2 ? -0.5 + 1e-8 : -0.5, cell));
    EXPECT_LT(*std::max_element(cell.weight.begin(), cell.weight.end()), 1.0) << axis;  // not snapped
    interp.interpolate(cell, near.data());
    for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(near[i], at[i], 2e-6 * at[i]) << axis << " " << i;
  }
}

}  // namespace
}  // namespace irisml::simulate
