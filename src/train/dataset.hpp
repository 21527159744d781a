// Training data in memory, the epoch shuffle and the augmented batches.
//
// Memory: a table holds N·F·4 bytes of magnitudes plus N·40 bytes of parameters, e.g.
// 1.5e6 stars × 25 filters ≈ 210 MB. The training job loads it sharded: each rank
// keeps one contiguous block of rows (shard_range), so memory per rank is N/ranks rows
// (plus the epoch permutation, 4 bytes per star), and the rows of each batch are
// fetched from their owners every step (gather_rows, one all-to-all). Evaluation loads
// whole tables: every rank reads its block by collective parallel I/O and the ranks
// exchange them in place (MPI_Allgatherv). Measured peaks per rank in docs/scaling.md.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/batch.hpp"
#include "model/normalizer.hpp"
#include "simulate/noise.hpp"

namespace irisml::train {

struct TrainingTable {
  std::string path;
  std::vector<std::string> file_filters;  // the file's /filters, in column order
  std::vector<std::string> filters;       // the columns kept, in this order
  std::int64_t rows = 0;                  // in the file
  std::int64_t first = 0, held = 0;       // rows [first, first + held) are in memory here
  int shards = 1;                  // ranks the rows are split over (rank r: shard_range(rows, r, shards)); 1: whole
  std::vector<float> magnitudes;   // held × filters.size(), row-major
  std::vector<double> parameters;  // held × 5 (Teff, log g, [M/H], A_V, R_V)
  // held × 3 isochrone mass windows (/isochrone_mass: iso_weight, log10 M lo, log10 M hi)
  // for a set simulated under the isochrone prior; empty for any other set.
  std::vector<float> mass_windows;

  int n_filters() const { return static_cast<int>(filters.size()); }
  bool has_mass_windows() const { return !mass_windows.empty(); }
  bool whole() const { return held == rows; }
  // By row index in the file; the row must be held here.
  const float* magnitudes_of(std::int64_t row) const { return magnitudes.data() + (row - first) * n_filters(); }
  const double* parameters_of(std::int64_t row) const { return parameters.data() + (row - first) * 5; }
};

enum class TableLayout {
  whole,  // every rank holds every row
  shard,  // rank r holds its shard_range block only
};

// Reads a training-set file (docs/training_set_format.md) on every rank of `comm`
// (collective). `filters` picks and orders the magnitude columns by name (empty:
// all, in file order). `what` names the file's role in messages ("--data").
// Throws InputError if the file is missing, not HDF5, lacks /parameters,
// /magnitudes or /filters, has inconsistent shapes, lacks a requested filter
// (the message lists the file's filters) or holds a non-finite value (naming the
// first such row, the same on every rank).
TrainingTable load_training_table(const std::string& path, const std::vector<std::string>& filters, MPI_Comm comm,
                                  const std::string& what, TableLayout layout = TableLayout::whole);

// Some rows of a table, in a given order: their row indices in the file and values.
struct RowBlock {
  int n_filters = 0;
  std::vector<std::int64_t> index;
  std::vector<float> magnitudes;    // index.size() × n_filters
  std::vector<double> parameters;   // index.size() × 5
  std::vector<float> mass_windows;  // index.size() × 3, or empty (TrainingTable::mass_windows)
  std::int64_t size() const { return static_cast<std::int64_t>(index.size()); }
};

// rows[0..count) of `table`, each held here (not collective).
RowBlock take_rows(const TrainingTable& table, const std::int64_t* rows, std::int64_t count);
// rows[0..count) of `table` wherever they are held (collective over the communicator
// the table was loaded on: every rank calls it, each with its own request). A whole
// table answers locally; a sharded one fetches the rows from their owners with one
// all-to-all of indices and one of values.
RowBlock gather_rows(const TrainingTable& table, const std::int64_t* rows, std::int64_t count, MPI_Comm comm);

// A pass over rows [0, n) of a table, as model::Normalizer::fit takes it: a sharded
// table is walked rank by rank (distributed::ordered_scan), so the statistics are bitwise those
// of one process walking the whole table (collective when sharded).
model::Normalizer::RowScan ordered_rows(const TrainingTable& table, std::int64_t n, MPI_Comm comm);

// Seeds of the independent random streams a training run uses, derived from its seed.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t purpose);
inline constexpr std::uint64_t kShuffleStream = 0x5348554646ull;     // per epoch
inline constexpr std::uint64_t kNoiseStream = 0x4E4F495345ull;       // per (epoch, star)
inline constexpr std::uint64_t kValidationStream = 0x56414C4944ull;  // per validation star
inline constexpr std::uint64_t kDropoutStream = 0x44524F50ull;       // per (step, rank)
// Derived from a noise seed (stream_seed(noise_seed, kParallaxStream)), same counter.
inline constexpr std::uint64_t kParallaxStream = 0x504C5853ull;
inline constexpr std::uint64_t kAvPriorStream = 0x41565052ull;

// Fisher–Yates permutation of 0..n-1 from Philox keyed (stream_seed(seed, shuffle), epoch).
// Every rank draws it whole, so it is kept in 32 bits (4 bytes per star per rank):
// n must be at most kMaxTrainingRows.
inline constexpr std::int64_t kMaxTrainingRows = 0xFFFFFFFFll;
std::vector<std::uint32_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n);

struct TrainingBatch {
  model::ObservationBatch observations;  // (count, S) with S the largest band count drawn
  at::Tensor theta;                      // (count, 5) float64, physical parameters
};

// Observations of rows [begin, begin + count) of `block` (count < 0: to its end): the
// star with file row index r is observed by simulate::observe_star with Philox keyed
// (noise_seed, stream_base + r), so a star's noise depends only on (seed, epoch, star),
// not on ranks, shards or batch layout. With parallaxes in the noise model
// (noise.parallaxes()) a star's parallax comes from simulate::observe_parallax with Philox
// keyed (stream_seed(noise_seed, kParallaxStream), stream_base + r), with its mass from
// the block's isochrone mass window where it has them, its magnitudes are made apparent,
// and the batch carries parallax tensors (NaN = none); without, the batch is exactly what
// it was before parallaxes existed.
TrainingBatch make_batch(const RowBlock& block, const simulate::NoiseModel& noise, std::uint64_t noise_seed,
                         std::uint64_t stream_base, std::int64_t begin = 0, std::int64_t count = -1);
// Same for rows[0..count) of `table`, each held here.
TrainingBatch make_batch(const TrainingTable& table, const std::int64_t* rows, std::int64_t count,
                         const simulate::NoiseModel& noise, std::uint64_t noise_seed, std::uint64_t stream_base);

}  // namespace irisml::train
