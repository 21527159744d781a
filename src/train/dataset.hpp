// Training data in memory, the epoch shuffle and the augmented batches.
//
// Memory: every rank holds every row of the training set (and of a separate
// validation file) — N·F·4 bytes of magnitudes plus N·40 bytes of parameters per
// rank, e.g. 1.5e6 stars × 25 filters ≈ 210 MB. Rows are read by collective
// parallel I/O (each rank its shard, straight into the table) and exchanged in place
// with MPI_Allgatherv, so loading peaks at the table once, not twice (measured peaks
// per rank in docs/scaling.md).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/batch.hpp"
#include "simulate/noise.hpp"

namespace irisml::train {

struct TrainingTable {
  std::string path;
  std::vector<std::string> file_filters;  // the file's /filters, in column order
  std::vector<std::string> filters;       // the columns kept, in this order
  std::int64_t rows = 0;
  std::vector<float> magnitudes;   // rows × filters.size(), row-major
  std::vector<double> parameters;  // rows × 5 (Teff, log g, [M/H], A_V, R_V)

  int n_filters() const { return static_cast<int>(filters.size()); }
  const float* magnitudes_of(std::int64_t row) const { return magnitudes.data() + row * n_filters(); }
  const double* parameters_of(std::int64_t row) const { return parameters.data() + row * 5; }
};

// Reads a training-set file (docs/training_set_format.md) on every rank of `comm`
// (collective). `filters` picks and orders the magnitude columns by name (empty:
// all, in file order). `what` names the file's role in messages ("--data").
// Throws InputError if the file is missing, not HDF5, lacks /parameters,
// /magnitudes or /filters, has inconsistent shapes, or lacks a requested filter
// (the message lists the file's filters).
TrainingTable load_training_table(const std::string& path, const std::vector<std::string>& filters, MPI_Comm comm,
                                  const std::string& what);

// Seeds of the independent random streams a training run uses, derived from its seed.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t purpose);
inline constexpr std::uint64_t kShuffleStream = 0x5348554646ull;     // per epoch
inline constexpr std::uint64_t kNoiseStream = 0x4E4F495345ull;       // per (epoch, star)
inline constexpr std::uint64_t kValidationStream = 0x56414C4944ull;  // per validation star
inline constexpr std::uint64_t kDropoutStream = 0x44524F50ull;       // per (step, rank)

// Fisher–Yates permutation of 0..n-1 from Philox keyed (stream_seed(seed, shuffle), epoch).
std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n);

struct TrainingBatch {
  model::ObservationBatch observations;  // (count, S) with S the largest band count drawn
  torch::Tensor theta;                   // (count, 5) float64, physical parameters
};

// Observations of rows[0..count) of `table`: star `rows[i]` is observed by
// sim::observe_star with Philox keyed (noise_seed, stream_base + rows[i]), so a
// star's noise depends only on (seed, epoch, star), not on ranks or batch layout.
TrainingBatch make_batch(const TrainingTable& table, const std::int64_t* rows, std::int64_t count,
                         const sim::NoiseModel& noise, std::uint64_t noise_seed, std::uint64_t stream_base);

}  // namespace irisml::train
