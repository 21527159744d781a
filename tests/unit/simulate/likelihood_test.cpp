#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"
#include "reference_data.hpp"

namespace irisml::simulate {
namespace {

const SpectralGrid& ck04() { return *test_support::ck04_grid(); }

// The closed form against a direct numerical integral over the offset μ.
TEST(LikelihoodTest, OffsetMarginalMatchesNumericalIntegration) {
  const std::vector<double> r = {0.31, 0.27, 0.35, 0.22, 0.30};
  const std::vector<double> sigma = {0.02, 0.05, 0.1, 0.03, 0.2};
  std::vector<double> s2;
  for (double s : sigma) s2.push_back(s * s);
  double mu_hat = 0.0;
  const double closed = offset_marginal_log_likelihood(r.data(), s2.data(), 5, &mu_hat);
  // trapezoid over μ ∈ [−1, 2] with a step far below the narrowest width
  const double lo = -1.0, hi = 2.0;
  const int n = 300000;
  const double h = (hi - lo) / n;
  double sum = 0.0;
  for (int k = 0; k <= n; ++k) {
    const double mu = lo + k * h;
    double log_p = 0.0;
    for (std::size_t b = 0; b < r.size(); ++b) {
      const double d = r[b] - mu;
      log_p += -0.5 * d * d / s2[b] - 0.5 * std::log(2 * M_PI * s2[b]);
    }
    sum += (k == 0 || k == n ? 0.5 : 1.0) * std::exp(log_p);
  }
  EXPECT_NEAR(closed, std::log(sum * h), 1e-6);
  double sw = 0, swr = 0;
  for (std::size_t b = 0; b < r.size(); ++b) {
    sw += 1 / s2[b];
    swr += r[b] / s2[b];
  }
  EXPECT_NEAR(mu_hat, swr / sw, 1e-15);
}

TEST(LikelihoodTest, PeaksAtTheTrueParametersForNoiseFreePhotometry) {
  auto grid = test_support::ck04_grid();
  FilterRegistry registry = test_support::project_registry();
  Synthesizer synth(grid, registry,
                    {"Gaia_G", "Gaia_BP", "Gaia_RP", "SDSS_u", "SDSS_g", "2MASS_J", "2MASS_Ks", "WISE_W1"});
  Prior prior(PriorConfig{}, *grid);
  PhotometricPosterior post(synth, prior);
  const StarParameters truth{5800.0, 4.3, -0.2, 0.4, 3.1};
  std::vector<double> mags(synth.bands().size()), work;
  ASSERT_TRUE(synth.magnitudes(truth, mags.data(), work, /*dilution=*/7.5));  // any distance
  ObservedStar star;
  for (int b = 0; b < static_cast<int>(mags.size()); ++b) star.add(b, mags[static_cast<std::size_t>(b)], 0.02, 0.0);
  PhotometricPosterior::Workspace ws;
  const double at_truth = post.log_likelihood(truth, star, ws);
  for (const StarParameters& off :
       {StarParameters{5900.0, 4.3, -0.2, 0.4, 3.1}, StarParameters{5800.0, 4.3, -0.2, 0.5, 3.1},
        StarParameters{5800.0, 4.3, 0.2, 0.4, 3.1}}) {
    EXPECT_LT(post.log_likelihood(off, star, ws), at_truth - 1.0);
  }
  // outside the grid: likelihood 0; outside the prior: density 0
  EXPECT_EQ(post.log_likelihood({60000.0, 4.3, -0.2, 0.4, 3.1}, star, ws), -INFINITY);
  EXPECT_EQ(post.log_density({5800.0, 4.3, -0.2, 0.001, 3.1}, star, ws), -INFINITY);  // A_V below av_offset
  EXPECT_TRUE(std::isfinite(post.log_density(truth, star, ws)));
}

// log_density against draw(): the box-integral of exp(log_density) matches the
// fraction of draws in the box, for 1-D slices of each factor and jointly.
TEST(PriorDensityTest, MatchesAHistogramOfDraws) {
  Prior prior(PriorConfig{}, ck04());
  const int n = 200000;
  std::vector<StarParameters> draws(n);
  for (int i = 0; i < n; ++i) prior.draw(3, static_cast<std::uint64_t>(i), draws[static_cast<std::size_t>(i)]);
  // Joint box well inside the support: P(box) by Monte Carlo vs the integral of the density
  // (midpoint rule on a fine lattice; the density is smooth there).
  const double lo[5] = {4500, 3.5, -1.0, 0.1, 2.9}, hi[5] = {7000, 4.9, 0.3, 1.6, 3.5};
  std::uint64_t inside = 0;
  for (const auto& p : draws) {
    const double v[5] = {p.teff, p.logg, p.mh, p.av, p.rv};
    bool in = true;
    for (int k = 0; k < 5; ++k) in = in && v[k] >= lo[k] && v[k] <= hi[k];
    inside += in;
  }
  const int m = 12;
  double integral = 0.0, cell = 1.0;
  for (int k = 0; k < 5; ++k) cell *= (hi[k] - lo[k]) / m;
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b)
      for (int c = 0; c < m; ++c)
        for (int d = 0; d < m; ++d)
          for (int e = 0; e < m; ++e) {
            const int idx[5] = {a, b, c, d, e};
            double v[5];
            for (int k = 0; k < 5; ++k) v[k] = lo[k] + (idx[k] + 0.5) * (hi[k] - lo[k]) / m;
            integral += std::exp(prior.log_density({v[0], v[1], v[2], v[3], v[4]})) * cell;
          }
  const double frac = static_cast<double>(inside) / n;
  const double se = std::sqrt(frac * (1 - frac) / n);
  EXPECT_GT(frac, 0.01);
  EXPECT_NEAR(integral, frac, 4 * se + 0.01 * frac);  // 1 % for the midpoint rule
  // [M/H] marginal: histogram vs the density's slice (other factors fixed), normalised
  const int bins = 15;
  const double mlo = -2.5, mhi = 0.5;
  std::vector<double> hist(bins, 0.0), dens(bins, 0.0);
  for (const auto& p : draws) {
    const int k = static_cast<int>((p.mh - mlo) / (mhi - mlo) * bins);
    if (k >= 0 && k < bins) hist[static_cast<std::size_t>(k)] += 1.0 / n;
  }
  double total = 0.0;
  for (int k = 0; k < bins; ++k) {
    for (int j = 0; j < 20; ++j) {
      const double x = mlo + (k + (j + 0.5) / 20.0) * (mhi - mlo) / bins;
      dens[static_cast<std::size_t>(k)] += std::exp(prior.log_density({5800.0, 4.4, x, 0.5, 3.1}));
    }
    total += dens[static_cast<std::size_t>(k)];
  }
  for (int k = 0; k < bins; ++k) {
    const double p = dens[static_cast<std::size_t>(k)] / total;
    EXPECT_NEAR(hist[static_cast<std::size_t>(k)], p, 5 * std::sqrt(p / n) + 1e-4) << "bin " << k;
  }
  EXPECT_EQ(prior.log_density({5800.0, 4.4, -0.1, 0.5, 2.4}), -INFINITY);  // R_V below rv_min
  EXPECT_EQ(prior.log_density({5800.0, 5.6, -0.1, 0.5, 3.1}), -INFINITY);  // log g above logg_max
}

TEST(PriorDensityTest, FromItemsRoundTripsAndNamesBadKeys) {
  PriorConfig c;
  c.av_scale = 1.2;
  std::vector<std::pair<std::string, double>> items;
  for (const auto& [k, v] : c.items()) items.emplace_back(k, v);
  EXPECT_EQ(PriorConfig::from_items(items, "test").av_scale, 1.2);
  items.pop_back();
  EXPECT_THROW(PriorConfig::from_items(items, "test"), InputError);
  items.emplace_back("bogus", 1.0);
  EXPECT_THROW(PriorConfig::from_items(items, "test"), InputError);
}

// ---------------------------------------------------------------- star constraints ----

// The parallax factor against a brute-force double integral over the true parallax ϖ_t
// and the radius term u, with nothing shared with the tabulation: the parallax's
// Gaussian, the space density p(d) = d² e^{−d/L} / (2L³) with d = 1000/ϖ_t, the
// uniform u of the log-uniform mass prior, and N(x − u | μ̂, 1/W), x = 5 log10(d/10 pc).
double brute_force_factor(double plx, double err, double sigma_k, double mu_hat, double logg,
                          const DistanceSettings& s) {
  const double u1 = radius_term(s.mass_min, logg), u2 = radius_term(s.mass_max, logg);
  const double L = s.length_scale;
  const double t_lo = std::max(1e-6, plx - 12 * err), t_hi = plx + 12 * err;
  const int nt = 20000;
  const double ht = (t_hi - t_lo) / nt;
  double total = 0.0;
  for (int i = 0; i <= nt; ++i) {
    const double t = t_lo + i * ht;
    const double d = 1000.0 / t;
    const double zp = (plx - t) / err;
    const double weight_t = std::exp(-0.5 * zp * zp) / (err * std::sqrt(2 * M_PI)) * d * d * std::exp(-d / L) /
                            (2 * L * L * L) * 1000.0 / (t * t);
    if (weight_t == 0.0) continue;
    const double x = 5.0 * std::log10(d / 10.0);
    // ∫ over u ∈ [u1, u2] of the normal N(x − u | μ̂, σ_k²), Simpson on the part within 12σ
    const double a = std::max(u1, x - mu_hat - 12 * sigma_k), b = std::min(u2, x - mu_hat + 12 * sigma_k);
    double inner = 0.0;
    if (b > a) {
      const int nu = 400;
      const double hu = (b - a) / nu;
      for (int k = 0; k <= nu; ++k) {
        const double z = (x - (a + k * hu) - mu_hat) / sigma_k;
        inner += (k == 0 || k == nu ? 1 : (k % 2 ? 4 : 2)) * std::exp(-0.5 * z * z);
      }
      inner *= hu / 3.0 / (sigma_k * std::sqrt(2 * M_PI));
    }
    total += (i == 0 || i == nt ? 0.5 : 1.0) * weight_t * inner / (u2 - u1);
  }
  return std::log(total * ht);
}

TEST(ParallaxTermTest, MatchesBruteForceIntegration) {
  DistanceSettings s;
  struct Case {
    double plx, err, sigma_k;
    const char* what;
  };
  // The three regimes of the table: offset far better than the parallax (no smoothing),
  // comparable, and far worse (the parallax nearly a point), plus low S/N and negative.
  const Case cases[] = {
      {10.0, 0.1, 0.0045, "S/N 100"}, {2.0, 0.2, 0.05, "S/N 10, smoothed"}, {2.0, 0.4, 0.001, "S/N 5, unsmoothed"},
      {100.0, 0.01, 0.01, "S/N 1e4"}, {0.5, 0.3, 0.02, "S/N 1.7"},          {-0.2, 0.4, 0.03, "negative"}};
  for (const auto& c : cases) {
    const double W = 1.0 / (c.sigma_k * c.sigma_k);
    const ParallaxTerm term(c.plx, c.err, W, s);
    ASSERT_FALSE(term.empty());
    const double logg = 4.3;
    // offsets across and beyond the mass window at the measured distance
    const double x_meas = c.plx > 0 ? 5.0 * std::log10(100.0 / c.plx) : 12.0;
    const double u_mid = 0.5 * (radius_term(s.mass_min, logg) + radius_term(s.mass_max, logg));
    for (double du : {0.0, -1.2, 1.1, 1.3, -1.4}) {
      const double mu_hat = x_meas - (u_mid + du);
      const double exact = brute_force_factor(c.plx, c.err, c.sigma_k, mu_hat, logg, s);
      const double table = term.log_factor(mu_hat, logg);
      if (exact < -30) {  // far outside: the table may say 0 (−inf) or something as small
        EXPECT_LT(table, -20) << c.what << " du " << du;
        continue;
      }
      EXPECT_NEAR(table, exact, 3e-3 + 1e-3 * std::abs(exact)) << c.what << " du " << du;
    }
  }
}

// Draws of (x, u) given θ follow their density g(x) · 1[u1 ≤ u ≤ u2] · N(x − u | μ̂, 1/W):
// the mean and spread of x and of u against the same integrals done numerically.
TEST(ParallaxTermTest, DrawsFollowTheConditional) {
  DistanceSettings s;
  const double plx = 2.0, err = 0.3, sigma_k = 0.03, logg = 4.0;
  const ParallaxTerm term(plx, err, 1.0 / (sigma_k * sigma_k), s);
  const double u1 = radius_term(s.mass_min, logg), u2 = radius_term(s.mass_max, logg);
  const double mu_hat = 5.0 * std::log10(100.0 / plx) - (u1 + 0.3);  // near the window's low edge
  // numerical moments over a fine (x, u) lattice
  double m0 = 0, mx = 0, mxx = 0, mu = 0;
  for (int i = 0; i < 6000; ++i) {
    const double x = 3.0 + 12.0 * (i + 0.5) / 6000;
    const double d = std::pow(10.0, 0.2 * x + 1);
    const double z = (plx - 1000.0 / d) / err;
    const double gx = std::exp(-0.5 * z * z) * d * d * d * std::exp(-d / s.length_scale);
    for (int k = 0; k < 400; ++k) {
      const double u = u1 + (u2 - u1) * (k + 0.5) / 400;
      const double q = (x - u - mu_hat) / sigma_k;
      const double w = gx * std::exp(-0.5 * q * q);
      m0 += w;
      mx += w * x;
      mxx += w * x * x;
      mu += w * u;
    }
  }
  const double ex = mx / m0, sx = std::sqrt(mxx / m0 - ex * ex), eu = mu / m0;
  Philox rng(7, 0);
  double sum = 0, sum2 = 0, sumu = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double x = 0, u = 0;
    ASSERT_TRUE(term.draw(mu_hat, logg, rng, x, u));
    ASSERT_GE(u, u1);
    ASSERT_LE(u, u2);
    sum += x;
    sum2 += x * x;
    sumu += u;
  }
  const double dx = sum / n, dsx = std::sqrt(sum2 / n - dx * dx);
  EXPECT_NEAR(dx, ex, 4 * sx / std::sqrt(n) + 2e-3);
  EXPECT_NEAR(dsx, sx, 0.03 * sx);
  EXPECT_NEAR(sumu / n, eu, 4 * sx / std::sqrt(n) + 2e-3);
}

TEST(ParallaxTermTest, RadiusTermAndPhysicalDrawAreInverse) {
  // The Sun: 1 M_sun at log g 4.438 has R = 1 R_sun, u = 0.
  EXPECT_NEAR(radius_term(1.0, 4.438), 0.0, 2e-3);
  const double u = radius_term(1.7, 3.2);
  const PhysicalDraw d = physical_draw(5.0, u, 3.2);
  EXPECT_NEAR(d.mass, 1.7, 1e-12);
  EXPECT_NEAR(d.distance, 100.0, 1e-9);
  EXPECT_NEAR(d.radius, std::sqrt(1.7 / std::pow(10.0, 3.2 - 4.438)), 2e-3 * d.radius);
}

TEST(StarConstraintsTest, AvPriorsAreNormalisedAndReplaceTheTrainingFactor) {
  auto grid = test_support::ck04_grid();
  FilterRegistry registry = test_support::project_registry();
  Synthesizer synth(grid, registry, {"Gaia_G", "Gaia_BP", "Gaia_RP"});
  Prior prior(PriorConfig{}, *grid);
  PhotometricPosterior post(synth, prior);
  ObservedStar star;
  star.add(0, 10.0, 0.01, 0.0);
  star.add(1, 10.3, 0.01, 0.0);
  star.add(2, 9.6, 0.01, 0.0);
  const StarParameters base{5800.0, 4.3, -0.2, 0.4, 3.1};
  post.prepare(star);  // no constraints: the training prior, exactly
  EXPECT_EQ(post.log_prior(base, star), prior.log_density(base));
  auto integral_over_av = [&](double hi) {  // ∫ exp(log prior) dA_V, the other parameters fixed
    double sum = 0.0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
      StarParameters p = base;
      p.av = (i + 0.5) * hi / n;
      sum += std::exp(post.log_prior(p, star));
    }
    return sum * hi / n;
  };
  // the other factors of the training prior at this point
  StarParameters ref = base;
  ref.av = prior.config().av_offset;
  const double rest = std::exp(prior.log_density(ref) - prior.log_av_density(ref.av));
  star.constraints.av_prior = 0.3;
  star.constraints.av_prior_err = 0.1;
  post.prepare(star);
  EXPECT_NEAR(integral_over_av(2.0) / rest, 1.0, 1e-4);
  star.constraints.av_prior = 0.05;  // truncated at 0 and at av_max
  star.constraints.av_prior_err = 0.2;
  star.constraints.av_max = 0.25;
  post.prepare(star);
  EXPECT_NEAR(integral_over_av(0.25) / rest, 1.0, 1e-4);
  StarParameters above = base;
  above.av = 0.26;
  EXPECT_EQ(post.log_prior(above, star), -INFINITY);
  star.constraints.av_prior = StarConstraints::kNaN;  // av_max alone: the exponential cut there
  post.prepare(star);
  EXPECT_EQ(star.av_prior.kind, AvPrior::Kind::kExponential);
  EXPECT_NEAR(integral_over_av(0.25) / rest, 1.0, 1e-4);
  StarParameters low = base;
  low.av = 0.001;  // below the training prior's offset, inside the star's [0, av_max]
  EXPECT_TRUE(std::isfinite(post.log_prior(low, star)));
}

TEST(StarConstraintsTest, ParallaxEntersTheLikelihoodOnlyWhenGiven) {
  auto grid = test_support::ck04_grid();
  FilterRegistry registry = test_support::project_registry();
  Synthesizer synth(grid, registry, {"Gaia_G", "Gaia_BP", "Gaia_RP", "2MASS_J", "2MASS_Ks"});
  Prior prior(PriorConfig{}, *grid);
  PhotometricPosterior post(synth, prior);
  // A dwarf and a giant with the same Teff: at a known distance only one fits the flux.
  const StarParameters dwarf{5000.0, 4.6, 0.0, 0.1, 3.1}, giant{5000.0, 2.6, 0.0, 0.1, 3.1};
  std::vector<double> mags(synth.bands().size()), work;
  const double mass = 0.8, distance = 50.0;
  const double u = radius_term(mass, dwarf.logg), x = 5.0 * std::log10(distance / 10.0);
  ASSERT_TRUE(synth.magnitudes(dwarf, mags.data(), work, x - u));
  ObservedStar star;
  for (int b = 0; b < 5; ++b) star.add(b, mags[static_cast<std::size_t>(b)], 0.01, 0.0);
  PhotometricPosterior::Workspace ws;
  post.prepare(star);
  const double flat_dwarf = post.log_likelihood(dwarf, star, ws), flat_giant = post.log_likelihood(giant, star, ws);
  star.constraints.parallax = 1000.0 / distance;
  star.constraints.parallax_err = 0.05;
  post.prepare(star);
  ASSERT_FALSE(star.parallax.empty());
  const double plx_dwarf = post.log_likelihood(dwarf, star, ws), plx_giant = post.log_likelihood(giant, star, ws);
  EXPECT_GT(plx_dwarf - plx_giant, (flat_dwarf - flat_giant) + 20.0);
  // the physical draws recover the distance and mass window
  Philox rng(1, 2);
  PhysicalDraw d;
  ASSERT_TRUE(post.draw_physical(dwarf, star, ws, rng, d));
  EXPECT_NEAR(d.distance, distance, 1.0);
  EXPECT_NEAR(d.mass, mass, 0.1);
  star.constraints = StarConstraints{};  // cleared: the flat offset again, exactly
  post.prepare(star);
  EXPECT_EQ(post.log_likelihood(dwarf, star, ws), flat_dwarf);
}

TEST(StarConstraintsTest, DistanceSettingsAreValidated) {
  DistanceSettings d;
  d.validate();
  d.mass_min = 3.0;
  EXPECT_THROW(d.validate(), InputError);
  d = DistanceSettings{};
  d.length_scale = -1;
  EXPECT_THROW(d.validate(), InputError);
  d = DistanceSettings{};
  d.parallax_zero_point = NAN;
  EXPECT_THROW(d.validate(), InputError);
}
}  // namespace
}  // namespace irisml::simulate
