// Star constraints in the catalogue job: a block row's parallax and A_V prior onto the
// star the likelihood sees, and the distance, radius and mass summaries of its posterior
// (/physical, docs/posterior_format.md).
#pragma once

#include <cstdint>
#include <vector>

#include "infer/sampler.hpp"
#include "posterior/summary.hpp"
#include "simulate/likelihood.hpp"

namespace irisml::infer {

// The /physical columns, in this order: (p16, median, p84) of distance [pc], radius
// [R_sun] and mass [M_sun].
std::vector<ExtraColumn> physical_columns();

// Copies row r's star constraints (if the block has any) into star.constraints and
// prepares the star for the likelihood (after its bands are added).
void apply_constraints(const StarBlock& block, std::size_t r, const simulate::PhotometricPosterior& target,
                       simulate::ObservedStar& star);

// Per-thread scratch space of physical_summary.
struct PhysicalScratch {
  std::vector<double> log_w, x, u;
  std::vector<double> columns[3];
};

// The /physical summaries of one star into out.extra[first..first+2] at row r: 512 points
// picked by weight (systematic resampling) from n weighted points (θ n × 5, μ̂ and
// log-weight per point), one (distance, radius, mass) draw from each one's distribution
// given θ (PhotometricPosterior::draw_distance), random numbers keyed by (seed, row); 16th, 50th and
// 84th percentiles. Nothing without a parallax.
void physical_summary(const simulate::PhotometricPosterior& target, const simulate::ObservedStar& star,
                      const double* theta, const double* mu_hat, const double* log_w, std::size_t n, std::uint64_t seed,
                      std::uint64_t row, BlockResult& out, std::size_t first, std::size_t r, PhysicalScratch& scratch);

}  // namespace irisml::infer
