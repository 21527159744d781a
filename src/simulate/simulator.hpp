// The MPI-parallel simulator and the training-set file it writes.
//
// File layout (docs/training_set_format.md): /parameters float64 [N,5]
// (teff, logg, mh, av, rv), /magnitudes float32 [N,F], /filters [F] strings,
// attributes recording seed, prior, grid checksum, code version. Written
// collectively in blocks of rows to "<output>.partial", renamed at the end.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "simulate/prior.hpp"

namespace irisml::simulate {

class Synthesizer;

struct SimulationSpec {
  std::uint64_t stars = 0;
  std::uint64_t seed = 0;
  std::uint64_t block_rows = 32768;  // rows per collective write (bounds memory)
  bool progress = true;              // rank 0 prints stars done, rate, ETA
};

struct SimulationReport {
  std::uint64_t stars = 0;
  std::uint64_t rejected = 0;  // prior proposals outside the grid, all ranks
  double seconds = 0;
};

// Simulates spec.stars stars into `output`. Collective over `comm`.
SimulationReport simulate(const SimulationSpec& spec, const Prior& prior, const Synthesizer& synth,
                          const std::string& output, MPI_Comm comm);

// Adds magnitude columns for `new_bands` (synth.bands() must equal them) to
// the training set `input`, recomputed from its stored parameters, writing
// `output` (may equal input: replaced only on success). The result equals a
// fresh simulation with filters (old..., new...). Collective over `comm`.
SimulationReport add_filters(const std::string& input, const Synthesizer& synth, const std::string& output,
                             MPI_Comm comm, bool progress);

// Reads the header of a training set (filters, stars, seed) for validation.
// /isochrone_mass [N, 3]: per star (iso_weight, log10 M lo, log10 M hi) of
// Prior::isochrone_mass, float32, in sets simulated under the isochrone prior only
// (docs/training_set_format.md). Training draws its parallax masses from it.
inline constexpr const char* kMassWindowDataset = "/isochrone_mass";
inline constexpr int kMassWindowWidth = 3;

struct TrainingSetInfo {
  std::uint64_t stars = 0;
  std::vector<std::string> filters;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, double>> prior;  // the prior.* attributes (names without "prior.")
  std::string grid_checksum;
};
TrainingSetInfo read_training_set_info(const std::string& path);

}  // namespace irisml::simulate
