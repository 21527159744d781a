#include "simulate/photometry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "simulate/extinction.hpp"
#include "simulate/filters.hpp"

namespace irisml::simulate {
namespace {

const std::string kDataDir = IRISML_TEST_DATA_DIR;
const std::string kIni = std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini";

// A grid like the CK04 one: 10 Å steps in the UV, 20 Å in the optical, 50–400 Å
// in the near/mid-IR, then a few points out to 1.6e6 Å.
std::vector<double> ck04_like_grid() {
  std::vector<double> g;
  auto fill = [&](double from, double to, double step) {
    for (double w = from; w < to - 1e-9; w += step) g.push_back(w);
  };
  g.push_back(90.9);
  fill(100, 2900, 10);
  fill(2900, 10000, 20);
  fill(10000, 16000, 50);
  fill(16000, 32000, 100);
  fill(32000, 64000, 200);
  fill(64000, 100000, 400);
  for (double w = 100000; w <= 1.6e6; w *= 2) g.push_back(w);
  return g;
}

// ∫_a^b (fa + s t)(ta + d t)(a + t)^p dt in t = λ − a, in long double.
long double piece_integral(long double a, long double b, long double fa, long double fb, long double ta, long double tb,
                           int p) {
  long double len = b - a, s = (fb - fa) / len, d = (tb - ta) / len;
  // (fa + s t)(ta + d t) = c0 + c1 t + c2 t²; times (a + t) if p = 1
  long double c[4] = {fa * ta, fa * d + s * ta, s * d, 0};
  if (p == 1) {
    long double e[4] = {a * c[0], a * c[1] + c[0], a * c[2] + c[1], c[2]};
    for (int k = 0; k < 4; ++k) c[k] = e[k];
  }
  long double sum = 0, pw = len;
  for (int k = 0; k < 4; ++k, pw *= len) sum += c[k] * pw / (k + 1);
  return sum;
}

long double interp(const std::vector<double>& x, const std::vector<double>& y, long double at) {
  for (std::size_t k = 0; k + 1 < x.size(); ++k) {
    if (at >= x[k] && at <= x[k + 1]) return y[k] + (y[k + 1] - y[k]) * (at - x[k]) / (x[k + 1] - x[k]);
  }
  return 0;
}

TEST(BandWeightsTest, ExactForPiecewiseLinearSpectrumAndFilter) {
  const std::vector<double> grid = {1000, 1300, 1700, 2000, 2600, 3000};
  const std::vector<double> flux = {1.0, 3.0, 2.0, 5.0, 4.0, 1.0};
  // breakpoints not on the grid; non-zero at both ends (T jumps to 0 outside the table)
  FilterCurve filter{{1150, 1500, 1650, 2300, 2800}, {0.2, 1.0, 0.7, 0.9, 0.1}};
  // analytic: split at the union of breakpoints, integrate the cubic on each piece
  std::vector<long double> cuts = {1150, 1300, 1500, 1650, 1700, 2000, 2300, 2600, 2800};
  for (auto det : {FilterSpec::Detector::Photon, FilterSpec::Detector::Energy}) {
    int p = det == FilterSpec::Detector::Photon ? 1 : 0;
    long double expected = 0;
    for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
      long double a = cuts[k], b = cuts[k + 1];
      expected += piece_integral(a, b, interp(grid, flux, a), interp(grid, flux, b),
                                 interp(filter.wavelength, filter.response, a),
                                 interp(filter.wavelength, filter.response, b), p);
    }
    auto w = band_weights(grid, filter, det);
    double got = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) got += w[i] * flux[i];
    EXPECT_NEAR(got / static_cast<double>(expected), 1.0, 1e-12) << "p = " << p;
  }
}

TEST(BandWeightsTest, MomentsAndPivotAreExact) {
  // single linear segment: ∫ (γ + δλ) λ^q dλ in closed form
  const std::vector<std::pair<double, double>> ranges = {{5000, 5000.5}, {5000, 5600}, {3000, 30000}};
  for (auto [a, b] : ranges) {
    const double ta = 0.3, tb = 1.1, d = (tb - ta) / (b - a), g = ta - d * a;
    FilterCurve f{{a, b}, {ta, tb}};
    const long double la = a, lb = b;
    long double m1 = g * (lb * lb - la * la) / 2 + d * (lb * lb * lb - la * la * la) / 3;
    long double mm1 = g * std::log(lb / la) + d * (lb - la);
    long double mm2 = g * (1 / la - 1 / lb) + d * std::log(lb / la);
    EXPECT_NEAR(filter_moment(f, 1) / static_cast<double>(m1), 1.0, 1e-12) << a << ".." << b;
    EXPECT_NEAR(filter_moment(f, -1) / static_cast<double>(mm1), 1.0, 1e-11) << a << ".." << b;
    EXPECT_NEAR(filter_moment(f, -2) / static_cast<double>(mm2), 1.0, 1e-11) << a << ".." << b;
  }
  // box filter: λp² = ((b² − a²)/2) / ln(b/a) (photon), (b − a)/(1/a − 1/b) = ab (energy)
  FilterCurve box{{4000, 6000}, {1, 1}};
  EXPECT_NEAR(pivot_wavelength(box, FilterSpec::Detector::Photon), std::sqrt(10e6 / std::log(1.5)), 1e-9);
  EXPECT_NEAR(pivot_wavelength(box, FilterSpec::Detector::Energy), std::sqrt(4000.0 * 6000.0), 1e-9);
}

TEST(BandWeightsTest, PhotonAndEnergyDifferOnASlopedSpectrum) {
  // f_λ = λ (exact on any grid) through a box [a, b]:
  // photon <f> = 2(a² + ab + b²)/(3(a + b)) > energy <f> = (a + b)/2
  std::vector<double> grid;
  for (double w = 3000; w <= 9000; w += 37) grid.push_back(w);
  const double a = 4010, b = 6980;
  FilterCurve box{{a, b}, {1, 1}};
  auto mean = [&](FilterSpec::Detector det) {
    auto w = band_weights(grid, box, det);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      num += w[i] * grid[i];
      den += w[i];
    }
    return num / den;
  };
  const double photon = mean(FilterSpec::Detector::Photon), energy = mean(FilterSpec::Detector::Energy);
  EXPECT_NEAR(photon, 2 * (a * a + a * b + b * b) / (3 * (a + b)), 1e-9);
  EXPECT_NEAR(energy, (a + b) / 2, 1e-9);
  EXPECT_GT(photon - energy, 100.0);  // 5628.7 vs 5495: the photon mean leans red
}

TEST(BandWeightsTest, RejectsAFilterBeyondTheGrid) {
  std::vector<double> grid = {3000, 4000, 5000};
  FilterCurve f{{2500, 3500, 4500}, {0, 1, 0}};
  try {
    band_weights(grid, f, FilterSpec::Detector::Photon, "Wide");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'Wide'"), std::string::npos) << e.what();
  }
  // zeros outside the grid are fine: only where T > 0 matters
  FilterCurve g{{1000, 3000, 3500, 4500, 9000}, {0, 0, 1, 0, 0}};
  auto w = band_weights(grid, g, FilterSpec::Detector::Energy);
  EXPECT_NEAR(w[0] + w[1] + w[2], 1500.0 * 0.5, 1e-9);  // ∫T dλ of the triangle
  EXPECT_THROW(band_weights({3000, 3000, 4000}, g, FilterSpec::Detector::Energy), InputError);
}

TEST(PhotometryTest, AbMinusVegaMatchesPublishedOffsets) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  auto bands = reg.resolve("all");
  Photometry phot(ck04_like_grid(), reg, bands);
  const std::map<std::string, double> published = {{"WISE_W1", 2.699}, {"WISE_W2", 3.339}, {"WISE_W3", 5.174},
                                                   {"2MASS_J", 0.894}, {"2MASS_H", 1.374}, {"2MASS_Ks", 1.841}};
  for (std::size_t b = 0; b < phot.bands(); ++b) {
    auto it = published.find(bands[b]);
    std::printf("  %-12s pivot %9.1f A  AB-Vega %+.4f%s\n", bands[b].c_str(), phot.pivot(b), phot.ab_minus_vega(b),
                it == published.end() ? "" : ("  (published " + std::to_string(it->second) + ")").c_str());
    if (it != published.end() && bands[b] != "WISE_W3") {
      EXPECT_NEAR(phot.ab_minus_vega(b), it->second, 0.02) << bands[b];
    }
  }
}

TEST(PhotometryTest, PivotsMatchTheFilterTable) {
  // filters.csv lists pivot wavelengths ∫Tλ dλ / ∫T/λ dλ of the tables
  auto reg = FilterRegistry::load(kIni, kDataDir);
  const std::map<std::string, double> csv = {
      {"GALEX_FUV", 1535.1}, {"PS1_y", 9627.7}, {"Gaia_G", 6217.6}, {"SkyMapper_z", 9146.0}, {"WISE_W2", 46179.1}};
  for (const auto& [name, pivot] : csv) {
    EXPECT_NEAR(pivot_wavelength(reg.curve(name), reg.get(name).detector), pivot, 0.15) << name;
  }
  // 2MASS: the csv applies the photon formula to the RSR, which already holds the λ
  // factor; the energy pivot ∫T dλ / ∫T/λ² dλ is the photon pivot of T/λ.
  auto j = reg.curve("2MASS_J");
  EXPECT_NEAR(pivot_wavelength(j, FilterSpec::Detector::Photon), 12393.1, 0.15);
  EXPECT_NEAR(pivot_wavelength(j, FilterSpec::Detector::Energy), 12357.9, 0.1);
  // SDSS u with zeros in the 4160–7620 Å table gap (the csv's 3589.3 is neither
  // this nor the straight line across the gap, 3591.46)
  auto u = reg.curve("SDSS_u");
  EXPECT_NEAR(pivot_wavelength(u, FilterSpec::Detector::Photon), 3587.73, 0.01);
  auto it = std::find(u.wavelength.begin(), u.wavelength.end(), 4180.0);
  ASSERT_NE(it, u.wavelength.end());
  EXPECT_EQ(u.response[it - u.wavelength.begin()], 0.0);
}

TEST(PhotometryTest, FlatFnuSpectrumHasAbMagnitudeZero) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  std::vector<std::string> bands = {"GALEX_NUV", "SDSS_u", "SDSS_g",  "PS1_z",    "SkyMapper_v",
                                    "Gaia_BP",   "Gaia_G", "2MASS_J", "2MASS_Ks", "WISE_W1"};
  std::vector<double> grid, flux;
  for (double w = 1000; w < 70000; w *= 1.0005) {
    grid.push_back(w);
    flux.push_back(3631e-23 * kSpeedOfLightAngstrom / (w * w));
  }
  Photometry phot(grid, reg, bands);
  std::vector<double> mags(bands.size());
  phot.magnitudes(flux.data(), 0.0, 3.1, 0.0, mags.data());
  for (std::size_t b = 0; b < bands.size(); ++b) {
    double ab = mags[b] - phot.zero_point(b) + phot.ab_zero_point(b);
    EXPECT_NEAR(ab, 0.0, 1e-3) << bands[b];
    if (phot.spec(b).system == FilterSpec::System::AB) {
      EXPECT_DOUBLE_EQ(ab, mags[b]) << bands[b];
    }
  }
}

TEST(PhotometryTest, VegaHasItsOwnMagnitudeInVegaSystems) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  std::vector<std::string> bands = {"Gaia_G", "2MASS_H", "WISE_W1", "SDSS_r"};
  Spectrum vega = load_spectrum(kDataDir + "/" + kVegaSpectrumFile, "Vega");
  Photometry phot(vega.wavelength, reg, bands);
  std::vector<double> mags(bands.size());
  phot.magnitudes(vega.flux.data(), 0.0, 3.1, 0.0, mags.data());
  EXPECT_NEAR(mags[0], 0.023, 1e-12);
  EXPECT_NEAR(mags[1], 0.0, 1e-12);
  EXPECT_NEAR(mags[2], 0.0, 1e-12);
  EXPECT_NEAR(mags[3], phot.ab_minus_vega(3), 1e-12);  // an AB band gives Vega's AB magnitude
  EXPECT_NEAR(phot.ab_minus_vega(3), 0.15, 0.1);       // r_AB of Vega ≈ 0.15
}

TEST(PhotometryTest, ReddeningAndScaleMatchADirectComputation) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  auto bands = reg.resolve("paper");
  const auto grid = ck04_like_grid();
  Photometry phot(grid, reg, bands);
  auto [i0, i1] = phot.active_range();
  ASSERT_LT(i0, i1);
  // a blackbody-ish spectrum; NaN outside the active range must never be read
  std::vector<double> flux(grid.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = i0; i < i1; ++i) {
    double x = 1.4388e8 / (grid[i] * 6000.0);
    flux[i] = 1e27 / std::pow(grid[i], 5) / std::expm1(x);
  }
  const double av = 1.7, rv = 3.6, scale = dilution_mag(2.0, 250.0);
  std::vector<double> mags(bands.size()), mags_active(bands.size());
  phot.magnitudes(flux.data(), av, rv, scale, mags.data());
  phot.magnitudes_active(flux.data() + i0, av, rv, scale, mags_active.data());
  for (std::size_t b = 0; b < bands.size(); ++b) {
    const FilterSpec& spec = reg.get(bands[b]);
    auto w = band_weights(grid, reg.curve(bands[b]), spec.detector);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      if (w[i] == 0) continue;
      num += w[i] * flux[i] * std::pow(10.0, -0.4 * av * f99_ratio(grid[i], rv));
      den += w[i];
    }
    double expected = -2.5 * std::log10(num / den) + phot.zero_point(b) + scale;
    EXPECT_NEAR(mags[b], expected, 1e-9) << bands[b];
    EXPECT_EQ(mags[b], mags_active[b]) << bands[b];
  }
  EXPECT_THROW(phot.magnitudes(flux.data(), av, 0.0, 0.0, mags.data()), InputError);
  EXPECT_THROW(phot.magnitudes(flux.data(), std::nan(""), 3.1, 0.0, mags.data()), InputError);
}

TEST(PhotometryTest, LogFluxInputGivesTheSameMagnitudes) {
  // magnitudes_log_active(ln F) = magnitudes_active(F), reddened or not; F = 0
  // (ln F = −inf) contributes ~1e-308, never NaN.
  auto reg = FilterRegistry::load(kIni, kDataDir);
  auto bands = reg.resolve("paper");
  const auto grid = ck04_like_grid();
  Photometry phot(grid, reg, bands);
  const std::size_t n = phot.active_size();
  std::vector<double> flux(n), log_flux(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double lambda = grid[phot.active_range().first + i];
    flux[i] = 1e27 / std::pow(lambda, 5) / std::expm1(1.4388e8 / (lambda * 4500.0));
    log_flux[i] = std::log(flux[i]);
  }
  std::vector<double> a(bands.size()), b(bands.size());
  for (double av : {0.0, 0.8, 6.0}) {
    phot.magnitudes_active(flux.data(), av, 3.3, 1.25, a.data());
    phot.magnitudes_log_active(log_flux.data(), av, 3.3, 1.25, b.data());
    for (std::size_t k = 0; k < bands.size(); ++k) EXPECT_NEAR(b[k], a[k], 1e-12) << bands[k] << " " << av;
  }
  std::fill(log_flux.begin(), log_flux.end(), -std::numeric_limits<double>::infinity());
  phot.magnitudes_log_active(log_flux.data(), 1.0, 3.1, 0.0, b.data());
  for (std::size_t k = 0; k < bands.size(); ++k) {
    EXPECT_TRUE(std::isfinite(b[k])) << bands[k];
    EXPECT_GT(b[k], 700.0) << bands[k];  // −2.5 log10(1e-308) = 770
  }
  EXPECT_THROW(phot.magnitudes_log_active(log_flux.data(), 1.0, 0.0, 0.0, b.data()), InputError);
  EXPECT_THROW(phot.magnitudes_log_active(log_flux.data(), INFINITY, 3.1, 0.0, b.data()), InputError);
}

TEST(PhotometryTest, FastExpIsAccurate) {
  double max_rel = 0;
  for (double x = -708.0; x <= 708.0; x += 0.0137) {
    max_rel = std::max(max_rel, std::abs(detail::exp_reduced(x) / std::exp(x) - 1.0));
  }
  for (double x = -2.0; x <= 0.0; x += 1e-4) {  // the extinction range that matters
    max_rel = std::max(max_rel, std::abs(detail::exp_reduced(x) / std::exp(x) - 1.0));
  }
  std::printf("exp_reduced: max relative error %.2e\n", max_rel);
  EXPECT_LT(max_rel, 1e-15);
  EXPECT_EQ(detail::exp_reduced(0.0), 1.0);
  EXPECT_EQ(detail::clamp_exp_argument(-1e6), -detail::kExpArgumentLimit);
  EXPECT_GT(detail::exp_reduced(detail::clamp_exp_argument(-1e6)), 0.0);
  EXPECT_TRUE(std::isnan(detail::clamp_exp_argument(std::nan(""))));
}

TEST(PhotometryTest, DilutionMagnitude) {
  // R_sun at 10 pc: −5 log10(6.957e10 / 3.0857e19)
  EXPECT_NEAR(dilution_mag(1.0, 10.0), 43.2347, 1e-4);
  EXPECT_NEAR(dilution_mag(2.0, 10.0) - dilution_mag(1.0, 10.0), -5 * std::log10(2.0), 1e-12);
  EXPECT_THROW(dilution_mag(0.0, 10.0), InputError);
  EXPECT_THROW(dilution_mag(1.0, -1.0), InputError);
}

TEST(PhotometryTest, MissingVegaFileIsAnIoError) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  EXPECT_THROW(Photometry(ck04_like_grid(), reg, {"SDSS_g"}, "/nonexistent/vega.dat"), IoError);
  EXPECT_THROW(Photometry(ck04_like_grid(), reg, {"SDSS_q"}), InputError);
}

}  // namespace
}  // namespace irisml::simulate
