#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/prior.hpp"
#include "simulate/synthesizer.hpp"
#include "reference_data.hpp"

namespace irisml::sim {
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

}  // namespace
}  // namespace irisml::sim
