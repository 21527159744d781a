#include "simulate/noise.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "simulate/likelihood.hpp"

namespace irisml::simulate {
namespace {

constexpr int kFilters = 25;

std::vector<float> clean_mags() {
  std::vector<float> m(kFilters);
  for (int i = 0; i < kFilters; ++i) m[static_cast<std::size_t>(i)] = 10.0f + 0.1f * static_cast<float>(i);
  return m;
}

struct Observation {
  std::vector<int> index;
  std::vector<float> mag, err;
};

Observation observe(std::uint64_t seed, std::uint64_t star, const NoiseModel& model) {
  auto clean = clean_mags();
  Observation o;
  o.index.resize(kFilters);
  o.mag.resize(kFilters);
  o.err.resize(kFilters);
  Philox rng(seed, star);
  int k = observe_star(rng, clean.data(), kFilters, model, o.index.data(), o.mag.data(), o.err.data());
  o.index.resize(static_cast<std::size_t>(k));
  o.mag.resize(static_cast<std::size_t>(k));
  o.err.resize(static_cast<std::size_t>(k));
  return o;
}

TEST(NoiseTest, SameKeyGivesSameObservationOtherKeysDiffer) {
  NoiseModel model;
  auto a = observe(7, 123, model);
  auto b = observe(7, 123, model);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.mag, b.mag);
  EXPECT_EQ(a.err, b.err);
  auto c = observe(7, 124, model);
  auto d = observe(8, 123, model);
  EXPECT_NE(a.mag, c.mag);
  EXPECT_NE(a.mag, d.mag);
}

TEST(NoiseTest, BandCountsCoverTheRangeAndSubsetsAreSortedAndDistinct) {
  NoiseModel model;
  model.bands_min = 3;
  model.bands_max = 8;
  std::vector<int> count_hist(kFilters + 1, 0);
  std::vector<int> band_hist(kFilters, 0);
  const int stars = 6000;
  for (int s = 0; s < stars; ++s) {
    auto o = observe(1, static_cast<std::uint64_t>(s), model);
    int k = static_cast<int>(o.index.size());
    ASSERT_GE(k, 3);
    ASSERT_LE(k, 8);
    ++count_hist[static_cast<std::size_t>(k)];
    for (std::size_t i = 0; i < o.index.size(); ++i) {
      ASSERT_GE(o.index[i], 0);
      ASSERT_LT(o.index[i], kFilters);
      if (i > 0) {
        ASSERT_LT(o.index[i - 1], o.index[i]);  // ascending, hence distinct
      }
      ++band_hist[static_cast<std::size_t>(o.index[i])];
    }
  }
  // uniform count: 6 values, each ≈ 1000 (binomial sd ≈ 29)
  for (int k = 3; k <= 8; ++k) EXPECT_NEAR(count_hist[static_cast<std::size_t>(k)], stars / 6.0, 150) << "k=" << k;
  // uniform subset: each band chosen with probability mean(k)/25 = 5.5/25
  const double expected = stars * 5.5 / kFilters;
  for (int b = 0; b < kFilters; ++b)
    EXPECT_NEAR(band_hist[static_cast<std::size_t>(b)], expected, 6 * std::sqrt(expected));
}

TEST(NoiseTest, AllBandsWhenMaxIsZeroAndMinEqualsFilterCount) {
  NoiseModel model;
  model.bands_min = kFilters;
  model.bands_max = 0;
  auto o = observe(3, 9, model);
  ASSERT_EQ(o.index.size(), static_cast<std::size_t>(kFilters));
  for (int i = 0; i < kFilters; ++i) EXPECT_EQ(o.index[static_cast<std::size_t>(i)], i);
}

TEST(NoiseTest, LogUniformSigmaAndStandardisedResidualsAreUnitNormal) {
  NoiseModel model;  // loguniform 0.005..0.2
  auto clean = clean_mags();
  double sum = 0, sum2 = 0, log_sum = 0;
  double sig_min = 1e9, sig_max = 0;
  long n = 0, below_geo = 0;
  const double geo = std::sqrt(model.sigma_min * model.sigma_max);
  for (int s = 0; s < 4000; ++s) {
    auto o = observe(11, static_cast<std::uint64_t>(s), model);
    for (std::size_t i = 0; i < o.index.size(); ++i) {
      double sigma = o.err[i];
      sig_min = std::min(sig_min, sigma);
      sig_max = std::max(sig_max, sigma);
      // the magnitude's noise includes the systematic term the quoted error leaves out
      double z = (o.mag[i] - clean[static_cast<std::size_t>(o.index[i])]) /
                 std::sqrt(sigma * sigma + model.sigma_sys * model.sigma_sys);
      sum += z;
      sum2 += z * z;
      log_sum += std::log(sigma);
      below_geo += sigma < geo;
      ++n;
    }
  }
  ASSERT_GT(n, 50000);
  EXPECT_GE(sig_min, model.sigma_min * (1 - 1e-6));
  EXPECT_LE(sig_max, model.sigma_max * (1 + 1e-6));
  EXPECT_LT(sig_min, 0.0055);  // the range is actually reached
  EXPECT_GT(sig_max, 0.19);
  double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.03);
  // log σ uniform: its mean is the log of the geometric mean, half the draws below it
  EXPECT_NEAR(log_sum / n, std::log(geo), 0.02);
  EXPECT_NEAR(static_cast<double>(below_geo) / n, 0.5, 0.01);
}

TEST(NoiseTest, UniformSigmaHasTheUniformMeanAndFloorApplies) {
  NoiseModel model;
  model.sigma_distribution = "uniform";
  model.sigma_min = 0.01;
  model.sigma_max = 0.05;
  model.sigma_floor = 0.02;
  double sum = 0;
  long n = 0, at_floor = 0;
  for (int s = 0; s < 3000; ++s) {
    auto o = observe(5, static_cast<std::uint64_t>(s), model);
    for (float e : o.err) {
      EXPECT_GE(e, 0.02f * (1 - 1e-6f));
      EXPECT_LE(e, 0.05f * (1 + 1e-6f));
      at_floor += std::fabs(e - 0.02f) < 1e-7f;
      sum += e;
      ++n;
    }
  }
  // σ = max(U(0.01, 0.05), 0.02): P(at floor) = 0.25; mean = 0.25·0.02 + 0.75·0.035 = 0.03125
  EXPECT_NEAR(static_cast<double>(at_floor) / n, 0.25, 0.01);
  EXPECT_NEAR(sum / n, 0.03125, 0.0004);
}

template <typename Fn>
void expect_input_error(Fn&& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one mentioning " << part;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(NoiseTest, ValidateNamesTheBadKey) {
  NoiseModel m;
  m.bands_min = 0;
  expect_input_error([&] { m.validate(); }, "noise.bands_min");
  m = {};
  m.bands_max = 3;
  expect_input_error([&] { m.validate(); }, "noise.bands_max");
  m = {};
  m.sigma_min = 0;
  expect_input_error([&] { m.validate(); }, "noise.sigma_min");
  m = {};
  m.sigma_max = 0.001;
  expect_input_error([&] { m.validate(); }, "noise.sigma_max");
  m = {};
  m.sigma_distribution = "gaussian";
  expect_input_error([&] { m.validate(); }, "loguniform, uniform");
  m = {};
  m.sigma_floor = -1;
  expect_input_error([&] { m.validate(); }, "noise.sigma_floor");
  m = {};
  expect_input_error([&] { m.validate(4); }, "only 4");
  EXPECT_NO_THROW(NoiseModel{}.validate(25));
  auto clean = clean_mags();
  std::vector<int> idx(4);
  std::vector<float> mag(4), err(4);
  Philox rng(1, 1);
  expect_input_error([&] { observe_star(rng, clean.data(), 4, NoiseModel{}, idx.data(), mag.data(), err.data()); },
                     "only 4 bands");
}

TEST(NoiseTest, ItemsRoundTripAndBadItemsNameTheSource) {
  NoiseModel m;
  m.bands_min = 4;
  m.bands_max = 12;
  m.sigma_distribution = "uniform";
  m.sigma_min = 0.01;
  m.sigma_max = 0.15;
  m.sigma_floor = 0.02;
  const auto back = NoiseModel::from_items(m.items(), "test");
  EXPECT_EQ(back.bands_min, 4);
  EXPECT_EQ(back.bands_max, 12);
  EXPECT_EQ(back.sigma_distribution, "uniform");
  EXPECT_DOUBLE_EQ(back.sigma_min, 0.01);
  EXPECT_DOUBLE_EQ(back.sigma_max, 0.15);
  EXPECT_DOUBLE_EQ(back.sigma_floor, 0.02);
  EXPECT_EQ(NoiseModel::from_items({}, "test").bands_min, NoiseModel{}.bands_min);
  expect_input_error(
      [] {
        NoiseModel::from_items({{"noise.sigma_max", "0.2x"}}, "checkpoint 'a.h5'");
      },
      "checkpoint 'a.h5': noise.sigma_max = '0.2x'");
  expect_input_error(
      [] {
        NoiseModel::from_items({{"noise.bands", "3"}}, "checkpoint 'a.h5'");
      },
      "unknown noise setting 'noise.bands'");
  expect_input_error([] { NoiseModel::from_items({{"noise.bands_min", "0"}}, "x"); }, "noise.bands_min = 0");
}

}  // namespace
}  // namespace irisml::simulate

namespace irisml::simulate {
namespace {

// Issue 10 §2: the systematic term: recorded with the other settings, read back, 0 for
// files written before it existed, validated, and added in quadrature to the error
// the network sees, after the training minimum.
TEST(NoiseTest, SystematicTermIsRecordedFlooredAndAddedInQuadrature) {
  NoiseModel model;
  EXPECT_DOUBLE_EQ(model.sigma_sys, 0.01);
  model.sigma_sys = 0.02;
  const auto items = model.items();
  EXPECT_EQ(NoiseModel::from_items(items, "test").sigma_sys, 0.02);
  std::vector<std::pair<std::string, std::string>> older;
  for (const auto& kv : items) {
    if (kv.first != "noise.sigma_sys") older.push_back(kv);
  }
  EXPECT_DOUBLE_EQ(NoiseModel::from_items(older, "old checkpoint").sigma_sys, 0.0);
  EXPECT_DOUBLE_EQ(model.error_min(), 0.005);
  EXPECT_DOUBLE_EQ(model.network_error(0.03, 0), std::sqrt(0.03 * 0.03 + 0.02 * 0.02));
  EXPECT_DOUBLE_EQ(model.network_error(0.0001, 0), std::sqrt(0.005 * 0.005 + 0.02 * 0.02));  // raised to the minimum
  model.sigma_floor = 0.01;
  EXPECT_DOUBLE_EQ(model.error_min(), 0.01);
  model.sigma_sys = -0.01;
  EXPECT_THROW(model.validate(), InputError);
}

}  // namespace
}  // namespace irisml::simulate

namespace irisml::simulate {
namespace {

TEST(ParallaxNoiseTest, GaiaErrorFollowsTheDr3Medians) {
  EXPECT_NEAR(gaia_parallax_error(15.0), 0.024, 0.006);            // DR3: ~0.02-0.03 mas
  EXPECT_NEAR(gaia_parallax_error(17.0), 0.065, 0.015);            // ~0.07
  EXPECT_NEAR(gaia_parallax_error(20.0), 0.5, 0.1);                // ~0.5
  EXPECT_NEAR(gaia_parallax_error(21.0), 1.2, 0.2);                // ~1.3
  EXPECT_EQ(gaia_parallax_error(8.0), gaia_parallax_error(13.0));  // flat for bright stars
}

TEST(ParallaxNoiseTest, SettingsAreRecordedOnlyWhenParallaxesAreOn) {
  NoiseModel off;
  EXPECT_EQ(off.items().size(), 7u);  // as before parallaxes existed
  NoiseModel on;
  on.parallax_fraction = 0.75;
  on.parallax_error_scale = 1.5;
  on.parallax_near_fraction = 0.25;
  const auto items = on.items();
  EXPECT_EQ(items.size(), 14u);
  const NoiseModel back = NoiseModel::from_items(items, "test");
  EXPECT_EQ(back.parallax_fraction, 0.75);
  EXPECT_EQ(back.parallax_error_scale, 1.5);
  EXPECT_EQ(back.parallax_near_fraction, 0.25);
  EXPECT_EQ(back.items(), items);
  NoiseModel bad;
  bad.parallax_fraction = 1.5;
  EXPECT_THROW(bad.validate(), InputError);
  bad.parallax_fraction = 0.5;
  bad.parallax_mass_max = 0.2;  // below mass_min
  EXPECT_THROW(bad.validate(), InputError);
}

TEST(ParallaxNoiseTest, DrawsArePhysicalAndKeyedByTheStream) {
  NoiseModel model;
  model.parallax_fraction = 0.6;
  const auto clean = clean_mags();
  int with = 0, high_snr = 0;
  constexpr int kStars = 4000;
  for (int star = 0; star < kStars; ++star) {
    double p = 0, e = 0, offset = 0;
    Philox rng(9, static_cast<std::uint64_t>(star));
    const bool has = observe_parallax(rng, clean.data(), kFilters, 4.44, model, p, e, offset);
    double p2 = 0, e2 = 0, offset2 = 0;
    Philox again(9, static_cast<std::uint64_t>(star));
    EXPECT_EQ(has, observe_parallax(again, clean.data(), kFilters, 4.44, model, p2, e2, offset2));
    if (!has) continue;
    ++with;
    EXPECT_EQ(p, p2);
    EXPECT_EQ(e, e2);
    EXPECT_GE(e, model.parallax_error_min);
    // The distance behind the offset: 10 pc · 10^((offset + u)/5) with u of a 0.3–3 M_sun
    // dwarf within ±2.5 mag of the Sun's 0: the parallax lies near 1000/d.
    EXPECT_TRUE(std::isfinite(offset));
    EXPECT_GT(offset, -10.0);
    EXPECT_LT(offset, 25.0);
    if (p / e > 20) ++high_snr;
  }
  EXPECT_NEAR(static_cast<double>(with) / kStars, 0.6, 0.03);
  EXPECT_GT(high_snr, with / 4);  // the near distances give many precise parallaxes
}

// Under the isochrone prior a training star's mass comes from its mass window with the
// window's weight, else from the log-uniform range, as the likelihood's parallax term has
// it; without a window the draws are the log-uniform ones, unchanged.
TEST(ParallaxNoiseTest, MassesFollowTheIsochroneWindowWithItsWeight) {
  NoiseModel model;                                         // log-uniform on [0.3, 3] M_sun
  const double lo = std::log10(0.1), hi = std::log10(0.2);  // a window below the log-uniform range
  constexpr int kDraws = 20000;
  auto fraction_in_window = [&](const Prior::IsochroneMass* window) {
    int in = 0;
    for (int i = 0; i < kDraws; ++i) {
      Philox rng(4, static_cast<std::uint64_t>(i));
      const double m = draw_parallax_mass(rng, model, window);
      EXPECT_TRUE((m >= 0.1 && m <= 0.2) || (m >= 0.3 && m <= 3.0)) << m;
      in += m <= 0.2;
    }
    return static_cast<double>(in) / kDraws;
  };
  EXPECT_EQ(fraction_in_window(nullptr), 0.0);
  const Prior::IsochroneMass none{0.0, lo, hi}, all{1.0, lo, hi}, some{0.3, lo, hi};
  EXPECT_EQ(fraction_in_window(&none), 0.0);
  EXPECT_EQ(fraction_in_window(&all), 1.0);
  EXPECT_NEAR(fraction_in_window(&some), 0.3, 0.015);  // 4.6 σ of a binomial fraction
  // A point window gives that mass exactly; the flat draw without a window is one number.
  const Prior::IsochroneMass point{1.0, std::log10(0.15), std::log10(0.15)};
  Philox a(1, 2), b(1, 2);
  EXPECT_NEAR(draw_parallax_mass(a, model, &point), 0.15, 1e-12);
  const double flat = draw_parallax_mass(b, model, nullptr);
  Philox c(1, 2);
  EXPECT_EQ(flat, std::exp(c.uniform(std::log(0.3), std::log(3.0))));
  // Through observe_parallax: a dwarf's offset moves by the radius term of the mass.
  model.parallax_fraction = 1.0;
  const auto clean = clean_mags();
  double p1 = 0, e1 = 0, o1 = 0, p2 = 0, e2 = 0, o2 = 0;
  const Prior::IsochroneMass sun{1.0, 0.0, 0.0};
  Philox r1(8, 3), r2(8, 3);
  ASSERT_TRUE(observe_parallax(r1, clean.data(), kFilters, 4.44, model, p1, e1, o1, &point));
  ASSERT_TRUE(observe_parallax(r2, clean.data(), kFilters, 4.44, model, p2, e2, o2, &sun));
  // The same distance (drawn after the mass): only the radius term differs.
  EXPECT_NEAR(o1 - o2, radius_term(1.0, 4.44) - radius_term(0.15, 4.44), 1e-9);
}

}  // namespace
}  // namespace irisml::simulate

namespace irisml::simulate {
namespace {

TEST(CalibratedNoiseTest, EachBandDrawsAndReportsItsOwnSystematicTerm) {
  NoiseModel model;
  model.bands_min = kFilters;  // every band, every star
  model.sigma_min = model.sigma_max = 0.01;
  model.band_sigma_sys.assign(kFilters, 0.0);
  model.band_offset.assign(kFilters, 0.0);
  model.band_sigma_sys[3] = 0.2;
  model.calibration = "cal.ini";
  model.validate();
  EXPECT_DOUBLE_EQ(model.network_error(0.01, 3), std::sqrt(0.01 * 0.01 + 0.2 * 0.2));
  EXPECT_DOUBLE_EQ(model.network_error(0.01, 4), 0.01);
  const auto clean = clean_mags();
  double sq3 = 0, sq4 = 0;
  constexpr int kStars = 2000;
  for (int star = 0; star < kStars; ++star) {
    const auto o = observe(5, static_cast<std::uint64_t>(star), model);
    ASSERT_EQ(o.index.size(), static_cast<std::size_t>(kFilters));
    sq3 += std::pow(o.mag[3] - clean[3], 2);
    sq4 += std::pow(o.mag[4] - clean[4], 2);
    EXPECT_FLOAT_EQ(o.err[3], 0.01f);  // the quoted error leaves the systematic term out
  }
  EXPECT_NEAR(std::sqrt(sq3 / kStars), std::sqrt(0.01 * 0.01 + 0.2 * 0.2), 0.01);
  EXPECT_NEAR(std::sqrt(sq4 / kStars), 0.01, 0.001);
  // Recorded (three keys) and read back; an uncalibrated model records none of them.
  const auto items = model.items();
  EXPECT_EQ(items.size(), 10u);
  const auto back = NoiseModel::from_items(items, "test");
  EXPECT_EQ(back.band_sigma_sys, model.band_sigma_sys);
  EXPECT_EQ(back.band_offset, model.band_offset);
  EXPECT_EQ(back.calibration, "cal.ini");
  auto bad = items;
  for (auto& [k, v] : bad)
    if (k == "noise.band_offset") v = "0.1,x";
  EXPECT_THROW(NoiseModel::from_items(bad, "test"), InputError);
}

}  // namespace
}  // namespace irisml::simulate

namespace irisml::simulate {
namespace {

TEST(AvPriorNoiseTest, PriorsScatterAroundTheTruthByTheirWidth) {
  NoiseModel model;
  model.av_prior_fraction = 0.5;
  EXPECT_EQ(model.items().size(), 10u);
  EXPECT_EQ(NoiseModel::from_items(model.items(), "test").av_prior_fraction, 0.5);
  int with = 0;
  double pull2 = 0;
  constexpr int kStars = 4000;
  for (int star = 0; star < kStars; ++star) {
    Philox rng(3, static_cast<std::uint64_t>(star));
    double mean = 0, width = 0;
    if (!observe_av_prior(rng, 0.7, model, mean, width)) continue;
    ++with;
    EXPECT_GE(width, model.av_prior_sigma_min);
    EXPECT_LE(width, model.av_prior_sigma_max);
    pull2 += std::pow((mean - 0.7) / width, 2);
  }
  EXPECT_NEAR(static_cast<double>(with) / kStars, 0.5, 0.03);
  EXPECT_NEAR(std::sqrt(pull2 / with), 1.0, 0.05);
  model.av_prior_sigma_max = 0.01;  // below the minimum
  EXPECT_THROW(model.validate(), InputError);
}

}  // namespace
}  // namespace irisml::simulate
