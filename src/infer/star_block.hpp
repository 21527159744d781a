// The unit of a catalogue job: a block of catalogue stars in, per-star results out, and
// the processor (flow sampler or reference fitter) that turns one into the other.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace irisml::posterior {
struct ParameterSummary;
}

namespace irisml::infer {

// Stars of one block, as read from a catalogue, in model filter ids.
// Row-major rows × n_columns; column j is model filter column_filter[j]
// (−1 = a catalogue column the model ignores). NaN magnitude = band absent.
struct StarBlock {
  std::uint64_t row0 = 0;  // global index of the first row (keys the random numbers)
  std::uint64_t rows = 0;
  int n_columns = 0;
  std::vector<int> column_filter;
  std::vector<float> mag, err;
  // rows × kConstraintCount star constraints (io/catalog.hpp), or empty: NaN = not given.
  std::vector<double> constraints;

  // Whether column j of row r is an observed band of the model: a known filter, a
  // finite magnitude and a finite error > 0.
  bool usable(std::size_t r, int j) const {
    const std::size_t o = r * static_cast<std::size_t>(n_columns) + static_cast<std::size_t>(j);
    return column_filter[static_cast<std::size_t>(j)] >= 0 && std::isfinite(mag[o]) && err[o] > 0 &&
           std::isfinite(err[o]);
  }
};

// A float32 per-star output dataset beyond the standard ones: rows × trailing dims.
struct ExtraColumn {
  std::string name;                     // e.g. "/importance/ess"
  std::vector<std::uint64_t> trailing;  // {} for one value per star
  std::uint64_t row_size() const {
    std::uint64_t n = 1;
    for (auto d : trailing) n *= d;
    return n;
  }
};

// Per-star results of a block, laid out as the output datasets.
struct BlockResult {
  std::uint64_t rows = 0;
  std::vector<float> median, mean, std, p16, p84;  // rows × 5
  std::vector<float> hdi68, hdi95;                 // rows × 5 × 2 (lower, upper)
  std::vector<std::int32_t> n_bands;
  std::vector<std::uint32_t> flags;
  std::vector<float> ppc_chi2, ppc_p;     // the posterior-predictive check (see PpcResult)
  std::vector<float> samples;             // rows × S × 5 when keep_samples
  std::vector<std::vector<float>> extra;  // the processor's extra columns, in extra_columns() order

  // `rows` stars, every value NaN (flags 0, n_bands 0); /samples sized when keep_samples.
  void reset(std::size_t rows, int samples, bool keep_samples, const std::vector<ExtraColumn>& extra_columns);
  // The summary of parameter p of star `row` into median … hdi95.
  void set_summary(std::size_t row, int p, const posterior::ParameterSummary& s);
};

// What turns a block of catalogue stars into posterior rows: the flow sampler, or the
// reference fitter of `irisml fit`. sample_catalog drives either.
class BlockProcessor {
 public:
  virtual ~BlockProcessor() = default;
  virtual void run(const StarBlock& block, BlockResult& out) = 0;
  virtual std::vector<ExtraColumn> extra_columns() const { return {}; }
  // Every setting that changes the output, for the resume key.
  virtual std::string describe() const = 0;
  // Root attributes (name, value) of the output beyond the common ones.
  virtual std::vector<std::pair<std::string, std::string>> attributes() const { return {}; }
  virtual std::string flags_description() const;
};

}  // namespace irisml::infer
