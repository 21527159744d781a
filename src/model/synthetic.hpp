// Synthetic inputs for benchmarks and tests: random observation batches and
// parameters spread like the training prior (docs/model.md §2).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/batch.hpp"

namespace irisml::model {

// Each star observes a random subset of min_bands … max_bands of n_filters filters
// (distinct, shuffled), random magnitudes around 15 and errors in 0.005 … 0.2 mag;
// padded slots hold NaN. Deterministic in `seed`.
ObservationBatch random_observation_batch(std::int64_t batch, int n_filters, int min_bands, int max_bands,
                                          std::uint64_t seed);

// (batch, 5) float64 physical parameters (Teff K, log g, [M/H], A_V, R_V) drawn
// roughly like the prior. Deterministic in `seed`.
at::Tensor random_theta(std::int64_t batch, std::uint64_t seed);

}  // namespace irisml::model
