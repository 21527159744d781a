// Star constraints in the catalogue job: a block row's parallax and A_V prior onto the
// star the likelihood sees, and the distance, radius, mass (and, under the isochrone prior,
// age) summaries of its posterior (/physical, docs/posterior_format.md).
#pragma once

#include <cstdint>
#include <vector>

#include "infer/star_block.hpp"
#include "posterior/summary.hpp"
#include "simulate/likelihood.hpp"

namespace irisml::infer {

// The /physical columns, in this order: (p16, median, p84) of distance [pc], radius
// [R_sun], mass [M_sun] and, with `age` (the isochrone prior), age [Gyr].
std::vector<ExtraColumn> physical_columns(bool age);

// Copies row r's star constraints (if the block has any) into star.constraints and
// prepares the star for the likelihood (after its bands are added).
void apply_constraints(const StarBlock& block, std::size_t r, const simulate::PhotometricPosterior& target,
                       simulate::ObservedStar& star);

// Per-thread scratch space of physical_summary.
struct PhysicalScratch {
  std::vector<double> log_w, x, u;
  std::vector<double> columns[4];
};

// The /physical summaries of one star into out.extra[first..] at row r: 512 points
// picked by weight (systematic resampling) from n weighted points (θ n × 5, μ̂ and
// log-weight per point), one (distance, radius, mass) draw from each one's distribution
// given θ (PhotometricPosterior::draw_distance), random numbers keyed by (seed, row); 16th, 50th and
// 84th percentiles. Under the isochrone prior each draw also gets an age given θ and its
// mass (Prior::IsochroneAge; its own random stream, so the other three are those of the
// flat prior's code path). Nothing without a parallax.
void physical_summary(const simulate::PhotometricPosterior& target, const simulate::ObservedStar& star,
                      const double* theta, const double* mu_hat, const double* log_w, std::size_t n, std::uint64_t seed,
                      std::uint64_t row, BlockResult& out, std::size_t first, std::size_t r, PhysicalScratch& scratch);

}  // namespace irisml::infer
