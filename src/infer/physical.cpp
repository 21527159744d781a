#include "infer/physical.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/rng.hpp"
#include "io/catalog.hpp"

namespace irisml::infer {

std::vector<ExtraColumn> physical_columns(bool age) {
  std::vector<ExtraColumn> c{{"/physical/distance", {3}}, {"/physical/radius", {3}}, {"/physical/mass", {3}}};
  if (age) c.push_back({"/physical/age", {3}});
  return c;
}

void apply_constraints(const StarBlock& block, std::size_t r, const simulate::PhotometricPosterior& target,
                       simulate::ObservedStar& star) {
  if (block.constraints.empty()) return;
  const double* c = block.constraints.data() + r * static_cast<std::size_t>(kConstraintCount);
  star.constraints.parallax = c[kParallax];
  star.constraints.parallax_err = c[kParallaxErr];
  star.constraints.av_prior = c[kAvPrior];
  star.constraints.av_prior_err = c[kAvPriorErr];
  star.constraints.av_max = c[kAvMax];
  target.prepare(star);
}

void physical_summary(const simulate::PhotometricPosterior& target, const simulate::ObservedStar& star,
                      const double* theta, const double* mu_hat, const double* log_w, std::size_t n, std::uint64_t seed,
                      std::uint64_t row, BlockResult& out, std::size_t first, std::size_t r, PhysicalScratch& scratch) {
  if (star.parallax.empty() || n == 0) return;
  constexpr int D = 5, Q = 3;  // parameters; quantiles per column
  constexpr std::size_t kDraws = 512;
  scratch.log_w.assign(log_w, log_w + n);
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(mu_hat[i])) scratch.log_w[i] = -std::numeric_limits<double>::infinity();
    any = any || scratch.log_w[i] > -std::numeric_limits<double>::infinity();
  }
  if (!any) return;
  Philox rng(seed ^ 0x5048595349434Cull, row);      // "PHYSICL"
  Philox age_rng(seed ^ 0x5048595341474Cull, row);  // "PHYSAGL"
  const bool age = target.prior().isochrone();
  // Points by weight (systematic resampling), then one draw of (x, u) given each.
  const auto picks = posterior::systematic_resample(scratch.log_w.data(), n, kDraws, rng.uniform());
  for (auto& v : scratch.columns) v.clear();
  // picks are ascending: the draws of one point come together
  for (std::size_t k = 0; k < picks.size();) {
    const std::size_t i = picks[k];
    int count = 0;
    while (k < picks.size() && picks[k] == i) ++k, ++count;
    const double* t = theta + i * D;
    const double logg = t[1];
    scratch.x.resize(static_cast<std::size_t>(count));
    scratch.u.resize(static_cast<std::size_t>(count));
    const simulate::StarParameters p{t[0], t[1], t[2], t[3], t[4]};
    const int got = target.draw_distance(p, mu_hat[i], star, rng, count, scratch.x.data(), scratch.u.data());
    const simulate::Prior::IsochroneAge ages = age ? target.prior().isochrone_age(p) : simulate::Prior::IsochroneAge{};
    for (int j = 0; j < got; ++j) {
      const simulate::PhysicalDraw d =
          simulate::physical_draw(scratch.x[static_cast<std::size_t>(j)], scratch.u[static_cast<std::size_t>(j)], logg);
      scratch.columns[0].push_back(d.distance);
      scratch.columns[1].push_back(d.radius);
      scratch.columns[2].push_back(d.mass);
      // θ off the tracks (the prior's flat part) has no age: that draw counts in none.
      if (ages.valid)
        scratch.columns[3].push_back(std::pow(10.0, ages.log_age(std::log10(d.mass), age_rng.uniform()) - 9.0));
    }
  }
  for (int q = 0; q < (age ? 4 : 3); ++q) {
    auto& v = scratch.columns[static_cast<std::size_t>(q)];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    float* dst = out.extra[first + static_cast<std::size_t>(q)].data() + r * Q;
    dst[0] = static_cast<float>(posterior::quantile_sorted(v.data(), v.size(), 0.16));
    dst[1] = static_cast<float>(posterior::quantile_sorted(v.data(), v.size(), 0.5));
    dst[2] = static_cast<float>(posterior::quantile_sorted(v.data(), v.size(), 0.84));
  }
}

}  // namespace irisml::infer
