// `irisml catalog make`: turn a simulated set (training-set format,
// docs/training_set_format.md) into a realistic catalogue (docs/catalog_format.md):
// per star a random band subset, per-band errors and noisy magnitudes drawn
// with the shared NoiseModel (or, with a survey pattern, a real survey's bands,
// errors and limits), unobserved bands written as NaN, the true parameters kept as
// labels. Serial (one process); output written to
// "<output>.partial" and renamed when complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/catalog.hpp"
#include "simulate/noise.hpp"

namespace irisml::simulate {

struct CatalogMakeOptions {
  std::string from;    // training-set HDF5
  std::string output;  // catalogue HDF5
  std::uint64_t seed = 1;
  NoiseModel noise;
  std::vector<std::string> filters;  // restrict to these (must be in the set); empty = all
  std::uint64_t stars = 0;           // first N stars; 0 = all
  bool overwrite = false;
  std::uint64_t block_rows = 65536;  // stars per read/write block (bounds memory)
  // Survey mode (simulate/survey.hpp): a built-in pattern's bands, magnitude-dependent errors
  // and limits instead of the noise model's band subsets and errors (noise.sigma_sys
  // still applies); error_scale > 1 under-reports the quoted errors by that factor.
  std::string survey;
  double error_scale = 1.0;
};

struct CatalogMakeReport {
  std::uint64_t stars = 0;
  std::vector<std::string> filters;
  double mean_bands = 0;
  int min_bands = 0, max_bands = 0;
  double seconds = 0;
};

// The Philox key seed for star draws: the user seed mixed with a constant, so
// that `catalog make --seed S` on a set simulated with `--seed S` does not
// reuse the simulator's (S, star) streams. Star i draws from
// Philox(catalog_noise_key(seed), i).
std::uint64_t catalog_noise_key(std::uint64_t seed);

// Writes the catalogue. `known_filters` gives each filter's catalog_offset:
// catalogue magnitude = simulated magnitude − offset, so that a CatalogReader
// (which adds the offset) recovers the model-system magnitude. Throws
// InputError for a bad source file, an unknown or duplicate filter in
// `filters`, too few filters for noise.bands_min, an existing output without
// overwrite; IoError for unreadable input. A failure leaves no output and
// removes the partial file.
CatalogMakeReport make_catalog(const CatalogMakeOptions& options, const KnownFilters& known_filters);

}  // namespace irisml::simulate
