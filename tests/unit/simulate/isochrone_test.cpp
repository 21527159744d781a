// The stellar-evolution prior: the shipped tracks, the lattice, the prior's density
// against its draws, and the parallax factor's mass window.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "simulate/grid.hpp"
#include "simulate/isochrones.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/prior.hpp"
#include "reference_data.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

const std::string kTracks = std::string(IRISML_SOURCE_DIR) + "/data/isochrones/mist_v1.1_tracks.csv.gz";

const StellarTracks& tracks() {
  static const StellarTracks t = StellarTracks::load(kTracks);
  return t;
}

PriorConfig isochrone_config() {
  PriorConfig c;
  c.kind = 1.0;
  return c;
}

const Prior& isochrone_prior() {
  static const Prior p(isochrone_config(), *test_support::ck04_grid(), &tracks());
  return p;
}

TEST(StellarTracksTest, TheShippedMistTracksLoad) {
  const auto& t = tracks();
  ASSERT_EQ(t.feh.size(), 10u);
  EXPECT_DOUBLE_EQ(t.feh.front(), -2.5);
  EXPECT_DOUBLE_EQ(t.feh.back(), 0.5);
  EXPECT_GT(t.rows, 40000u);
  // The 1 M_sun solar-metallicity track passes near the Sun at 4.6 Gyr.
  const StellarTracks::Track* sun = nullptr;
  for (const auto& track : t.tracks) {
    if (track.feh == 0.0 && track.mass_init == 1.0) sun = &track;
  }
  ASSERT_NE(sun, nullptr);
  const double age = std::log10(4.6e9);
  for (std::size_t i = 0; i + 1 < sun->points.size(); ++i) {
    const auto &a = sun->points[i], &b = sun->points[i + 1];
    if (a.log_age <= age && b.log_age > age) {
      const double f =
          (std::pow(10.0, age) - std::pow(10.0, a.log_age)) / (std::pow(10.0, b.log_age) - std::pow(10.0, a.log_age));
      EXPECT_NEAR(a.log_teff + f * (b.log_teff - a.log_teff), std::log10(5772.0), 0.01);
      EXPECT_NEAR(a.log_g + f * (b.log_g - a.log_g), 4.44, 0.05);
      EXPECT_NEAR(log_mass_of(a.log_g, a.log_r), 0.0, 0.01);
    }
  }
}

TEST(StellarTracksTest, MalformedFilesAreNamedWithTheirLine) {
  test_support::TempDir dir("isochrone", "malformed");
  const std::string path = dir.file("tracks.csv");
  std::ofstream(path) << "# comment\nfeh,mass_init,log_age,log_teff,log_g,log_r\n0,1,9,3.76,4.4,0\n0,1,8,3.76,4.4,0\n";
  try {
    StellarTracks::load(path);
    FAIL() << "a decreasing age was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("log_age"), std::string::npos) << e.what();
  }
  std::ofstream(path) << "feh,mass,log_age\n";
  EXPECT_THROW(StellarTracks::load(path), InputError);
  std::ofstream(path) << "feh,mass_init,log_age,log_teff,log_g,log_r\n0,1,9,x,4.4,0\n";
  EXPECT_THROW(StellarTracks::load(path), InputError);
}

TEST(StellarTracksTest, KroupaImfIsContinuousAndAdditive) {
  EXPECT_NEAR(kroupa_number(0.3, 0.5) + kroupa_number(0.5, 2.0), kroupa_number(0.3, 2.0), 1e-12);
  // ξ ∝ M^-1.3 below 0.5 and M^-2.3 above, continuous at 0.5
  const double below = kroupa_number(0.5 - 1e-6, 0.5) / 1e-6, above = kroupa_number(0.5, 0.5 + 1e-6) / 1e-6;
  EXPECT_NEAR(below / above, 1.0, 1e-4);
  EXPECT_NEAR(kroupa_number(1.0, 1.001) / kroupa_number(2.0, 2.002), std::pow(2.0, 2.3) / 2.0, 1e-2);
  EXPECT_NEAR(log_mass_of(4.438, 0.0), 0.0, 1e-3);
}

TEST(IsochronePriorTest, ItemsRoundTripAndFlatFilesKeepTheirKeys) {
  EXPECT_EQ(PriorConfig{}.items().size(), 14u);  // flat files are as they were
  PriorConfig c = isochrone_config();
  c.isochrone_age_max = 10.0;
  c.isochrone_tracks = tracks().checksum_value();
  std::vector<std::pair<std::string, double>> items;
  for (const auto& [k, v] : c.items()) items.emplace_back(k, v);
  EXPECT_EQ(items.size(), 21u);
  const PriorConfig back = PriorConfig::from_items(items, "test");
  EXPECT_TRUE(back.isochrone());
  EXPECT_EQ(back.isochrone_age_max, 10.0);
  EXPECT_EQ(back.isochrone_tracks, c.isochrone_tracks);
  items.emplace_back("isochrone_age_max", 3.0);
  EXPECT_THROW(PriorConfig::from_items(items, "test"), InputError);  // given twice
  // Another tracks file than the one recorded is refused.
  c.isochrone_tracks = 12345.0;
  EXPECT_THROW(Prior(c, *test_support::ck04_grid(), &tracks()), InputError);
  EXPECT_THROW(Prior(isochrone_config(), *test_support::ck04_grid(), nullptr), InputError);
  PriorConfig bad = isochrone_config();
  bad.isochrone_flat_fraction = 0.0;
  EXPECT_THROW(bad.validate(), InputError);
}

// ∫∫ p(Teff, log g | [M/H], A_V, R_V) over the support, on sub-cells of the lattice.
double conditional_mass(const Prior& prior, double mh, double log_teff_lo, double log_teff_hi, double logg_lo,
                        double logg_hi, double dt = 0.0025, double dg = 0.025) {
  StarParameters p{0, 0, mh, 0.5, 3.1};
  double total = 0.0;
  for (double lt = log_teff_lo + dt / 2; lt < log_teff_hi; lt += dt) {
    for (double lg = logg_lo + dg / 2; lg < logg_hi; lg += dg) {
      p.teff = std::pow(10.0, lt);
      p.logg = lg;
      const double d = prior.log_density(p);
      if (d > -INFINITY) total += std::exp(d) * p.teff * std::log(10.0) * dt * dg;
    }
  }
  return total;
}

TEST(IsochronePriorTest, TheDensityIsNormalisedAndMatchesTheDraws) {
  const Prior& prior = isochrone_prior();
  const PriorConfig flat_config;
  const Prior flat(flat_config, *test_support::ck04_grid());
  // Normalised: at fixed [M/H], A_V, R_V the (Teff, log g) part integrates to the other
  // factors (read off the flat prior, which shares them).
  for (double mh : {-1.2, 0.0, 0.3}) {
    const double others = conditional_mass(flat, mh, 3.5, 4.75, 0.0, 5.5, 0.0005, 0.0125);
    EXPECT_NEAR(conditional_mass(prior, mh, 3.5, 4.75, 0.0, 5.5, 0.0005, 0.0125) / others, 1.0, 2e-3) << mh;
  }
  // Draws against the density: the share of dwarfs (log g > 4) and of cool stars
  // (Teff < 5000 K), averaged over the draws' own [M/H] on a fine [M/H] lattice.
  const int n = 20000;
  std::vector<double> mh_nodes;
  std::vector<double> p_dwarf, p_cool;
  for (int j = 0; j <= 30; ++j) {
    const double mh = std::min(-2.5 + 0.1 * j, 0.5);
    const double all = conditional_mass(prior, mh, 3.5, 4.75, 0.0, 5.5);
    mh_nodes.push_back(mh);
    p_dwarf.push_back(conditional_mass(prior, mh, 3.5, 4.75, 4.0, 5.5) / all);
    p_cool.push_back(conditional_mass(prior, mh, 3.5, std::log10(5000.0), 0.0, 5.5) / all);
  }
  double dwarfs = 0, cool = 0, expect_dwarfs = 0, expect_cool = 0;
  for (int i = 0; i < n; ++i) {
    StarParameters p;
    prior.draw(3, static_cast<std::uint64_t>(i), p);
    ASSERT_GT(prior.log_density(p), -INFINITY);
    dwarfs += p.logg > 4.0;
    cool += p.teff < 5000.0;
    const double pos = (p.mh + 2.5) / 0.1;
    const auto k = static_cast<std::size_t>(std::min(std::floor(pos), double(mh_nodes.size() - 2)));
    const double f = pos - static_cast<double>(k);
    expect_dwarfs += (1 - f) * p_dwarf[k] + f * p_dwarf[k + 1];
    expect_cool += (1 - f) * p_cool[k] + f * p_cool[k + 1];
  }
  auto check = [&](double got, double expected, const char* what) {
    const double sd = std::sqrt(expected * (n - expected) / n);
    EXPECT_NEAR(got, expected, 4 * sd + 0.005 * n) << what;
  };
  check(dwarfs, expect_dwarfs, "dwarfs");
  check(cool, expect_cool, "cool stars");
  // A population prior: most stars are cool dwarfs.
  EXPECT_GT(dwarfs / n, 0.6);
}

TEST(IsochronePriorTest, TheSunIsOnTheTracksAndHasASolarMass) {
  const Prior& prior = isochrone_prior();
  const StarParameters sun{5772.0, 4.44, 0.0, 0.1, 3.1}, gap{5772.0, 3.0, 0.0, 0.1, 3.1};
  const PriorConfig flat_config;
  const Prior flat(flat_config, *test_support::ck04_grid());
  EXPECT_GT(prior.log_density(sun) - flat.log_density(sun), std::log(3.0));
  EXPECT_GT(prior.log_density(sun) - prior.log_density(gap), std::log(20.0));
  const auto m = prior.isochrone_mass(sun);
  EXPECT_GT(m.iso_weight, 0.9);
  EXPECT_LT(m.log_lo, 0.0);
  EXPECT_GT(m.log_hi, 0.0);
  EXPECT_LT(m.log_hi - m.log_lo, 0.3);
  // A red giant: about the mass of the disc's turn-off stars, not log-uniform over 0.3-3.
  const auto g = prior.isochrone_mass({4700.0, 2.5, 0.0, 0.1, 3.1});
  EXPECT_GT(g.iso_weight, 0.5);
  EXPECT_GT(0.5 * (g.log_lo + g.log_hi), std::log10(0.8));
  EXPECT_LT(0.5 * (g.log_lo + g.log_hi), std::log10(2.5));
}

// Ages on the red-giant branch follow mass: at log g 3.0, solar [Fe/H], the tracks of
// 1.2 and 1.4 M_sun pass 4748 K at 5.78 Gyr and 4795 K at 3.37 Gyr (read off the shipped
// file by linear interpolation in log g). The cell's regression must give each mass its
// track's age, and the bounds of the prior's ages must hold.
TEST(IsochronePriorTest, AgesOnTheGiantBranchFollowTheTracksMasses) {
  const Prior& prior = isochrone_prior();
  const auto age = prior.isochrone_age({4770.0, 3.0, 0.0, 0.1, 3.1});
  ASSERT_TRUE(age.valid);
  EXPECT_LT(age.slope, -1.0);  // heavier giants are younger
  EXPECT_NEAR(age.log_age(std::log10(1.2), 0.5), std::log10(5.78e9), 0.1);
  EXPECT_NEAR(age.log_age(std::log10(1.4), 0.5), std::log10(3.37e9), 0.1);
  EXPECT_LT(age.sd, 0.15);  // mass fixes a giant's age
  EXPECT_EQ(age.log_age_hi, std::log10(13.5e9));
  for (double u : {1e-9, 0.5, 1.0 - 1e-9}) {
    EXPECT_LE(age.log_age(-0.3, u), age.log_age_hi);  // 0.5 M_sun giants: clamped to the window, within 13.5 Gyr
  }
  // A main-sequence Sun: young and old stars share the cell; the spread is wide.
  const auto sun = prior.isochrone_age({5772.0, 4.44, 0.0, 0.1, 3.1});
  ASSERT_TRUE(sun.valid);
  EXPECT_GT(sun.sd, 0.2);
  const double median = std::pow(10.0, sun.log_age(0.0, 0.5) - 9.0);
  EXPECT_GT(median, 1.0);
  EXPECT_LT(median, 10.0);
  // Ages exactly where the tracks put stars: off them (the prior's flat part) none is made up.
  int on = 0, off = 0;
  for (double teff = 3600; teff <= 12000; teff *= 1.07) {
    for (double logg = 0.5; logg <= 5.0; logg += 0.25) {
      const StarParameters p{teff, logg, 0.0, 0.1, 3.1};
      const bool tracks_there = prior.isochrone_mass(p).iso_weight > 0;
      EXPECT_EQ(prior.isochrone_age(p).valid, tracks_there) << teff << " " << logg;
      (tracks_there ? on : off) += 1;
    }
  }
  EXPECT_GT(on, 20);
  EXPECT_GT(off, 20);
  // A narrower star-formation history bounds every age.
  PriorConfig young = isochrone_config();
  young.isochrone_age_min = 1.0;
  young.isochrone_age_max = 2.0;
  const Prior narrow(young, *test_support::ck04_grid(), &tracks());
  const auto a = narrow.isochrone_age({5772.0, 4.44, 0.0, 0.1, 3.1});
  ASSERT_TRUE(a.valid);
  for (double u : {1e-12, 0.3, 0.7, 1.0 - 1e-12}) {
    const double la = a.log_age(0.0, u);
    EXPECT_GE(la, 9.0);
    EXPECT_LE(la, std::log10(2e9));
  }
}

TEST(IsochronePriorTest, TheParallaxWindowOfTheSettingsMassesIsTheSettingsFactor) {
  DistanceSettings s;
  const ParallaxTerm term(5.0, 0.1, 400.0, s);
  for (double mu : {-2.0, 0.0, 3.0}) {
    for (double logg : {2.5, 4.4}) {
      const double a = term.log_factor(mu, logg);
      const double b = term.log_factor(mu, logg, std::log10(s.mass_min), std::log10(s.mass_max));
      if (a > -INFINITY) {
        EXPECT_NEAR(a, b, 1e-9) << mu << " " << logg;
      } else {
        EXPECT_EQ(b, -INFINITY);
      }
    }
  }
}

}  // namespace
}  // namespace irisml::simulate
