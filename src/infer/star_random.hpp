// Each star's random numbers, keyed by (seed, global row): the flow's base draws and the
// resampling of weighted points into equal-weight draws.
#pragma once

#include <cstddef>
#include <cstdint>

namespace irisml::infer {

// The stream key used for a star's random numbers (the seed mixed with a constant
// so that sampling never reuses the draws `catalog make` took from the same seed).
std::uint64_t sampling_stream_seed(std::uint64_t seed);

// Fills base_normal (S × 5, float32, sample-major) and component_uniform (S) for a star.
void star_random_numbers(std::uint64_t seed, std::uint64_t row, int samples, float* normal, float* uniform);

// S equal-weight draws (S × 5, float32) resampled systematically from n weighted points
// theta (n × 5) with log-weights log_w; the uniform comes from a stream keyed by (seed, row).
void resample_draws(const double* theta, const double* log_w, std::size_t n, int S, std::uint64_t seed,
                    std::uint64_t row, float* out);

}  // namespace irisml::infer
