// The posterior file of a catalogue job (docs/posterior_format.md): its layout, laid out
// by rank 0 alone (so metadata bytes do not depend on the rank count), checked before a
// resume, and written one block of rows at a time by every rank collectively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infer/catalog_job.hpp"
#include "io/hdf5.hpp"

namespace irisml::infer {

struct OutputLayout {
  std::uint64_t rows;
  int samples;
  bool keep_samples;
  std::size_t id_width;  // 0 = no /id
  std::vector<ExtraColumn> extra;
};

// Root attributes and every dataset, allocated (serial HDF5, rank 0).
void create_output(h5::File& f, const OutputLayout& layout, const SampleJob& job, const SamplerSettings& settings,
                   const std::string& catalog_path, bool with_ppc, const BlockProcessor& processor);

// Whether an existing (partial) file has this layout; never throws.
bool layout_matches(const h5::File& f, const OutputLayout& layout);

// Rows [row0, row0 + rows) of every dataset from `result` and `ids`. Collective: every
// rank calls it for every block round, with rows = 0 when it has no block (the empty
// selections still take part in the collective writes).
void write_block(h5::File& f, const OutputLayout& layout, std::uint64_t row0, std::uint64_t rows, BlockResult& result,
                 std::vector<std::string>& ids);

}  // namespace irisml::infer
