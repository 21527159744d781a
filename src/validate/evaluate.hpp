// `irisml evaluate`: compare a posterior file (docs/posterior_format.md) with
// the true parameters of the catalogue it came from.
//
// Per parameter (docs/model.md §5): bias = mean(median − truth), RMS =
// sqrt(mean (median − truth)²), MAD = mean |median − truth| (the paper's "MAD"),
// median |median − truth|; for Teff also the same in dex (log10). HDI coverage
// at levels 5 %, 10 %, …, 95 %: the fraction of stars whose true value lies in
// the 1-D highest-density interval of that star's posterior samples (the
// sampler's definition, posterior/summary.hpp: k = ceil(level·(S+1)) + 1 samples,
// calibrated to ~0.01 at S = 64), and the largest |coverage − level|. Without
// samples the file's 68 % and 95 % HDIs are used. The equal-tailed ("central")
// interval coverage is also reported, from the rank of the truth among the samples
// (the SBC rank): with r samples below the truth, u = (r + ½)/(S + 1) is uniform
// under calibration, and the truth is inside the central interval at level α iff
// |u − ½| ≤ α/2.
// Everything is also split by the number of bands used, and repeated for the stars
// users care most about, true Teff in [4000, 7000] K (over the whole prior, kelvin
// RMS is dominated by hot stars). Stars flagged "too few bands" are excluded and
// counted.
//
// No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "posterior/format.hpp"
#include "io/catalog.hpp"

namespace irisml::h5 {
class File;
}

namespace irisml::validate {

// The posterior file schema (format name, flag bits): posterior/format.hpp.

// The per-star summaries of a posterior file (everything but /samples).
struct PosteriorSummary {
  std::string path;
  std::uint64_t stars = 0;
  int samples_per_star = 0;                        // attribute samples_per_star
  bool has_samples = false;                        // /samples [N,S,5] present
  std::string model;                               // attribute model (may be empty)
  std::string samples_dataset;                     // "samples" or "importance/samples"
  std::vector<float> median, mean, std, p16, p84;  // N×5 (mean/std/p16/p84 empty if absent)
  std::vector<float> hdi68, hdi95;                 // N×5×2 (lower, upper); empty if absent
  std::vector<std::int32_t> n_bands;               // N
  std::vector<std::uint32_t> flags;                // N
  std::vector<float> ppc_chi2;                     // N, empty if absent
  std::vector<std::string> id;                     // empty if absent
};

// Reads and checks a posterior file: format attribute, /parameter_names equal
// to teff logg mh av rv, shapes. Throws IoError (unreadable, truncated, not
// HDF5) or InputError (wrong format or shapes), naming the file. `variant` picks
// the summaries: "flow" (the root datasets) or "importance" (/importance/*, with
// /importance/samples as the samples when present; see posterior_format.md).
PosteriorSummary read_posterior_summary(const std::string& path, const std::string& variant = "flow");
// InputError naming the file unless its root attributes make it a posterior file this
// irisml reads (format, format_version).
void check_posterior_format(const h5::File& f);
// Only /flags (one per star) of a posterior file, after the same format check.
std::vector<std::uint32_t> read_posterior_flags(const std::string& path);
// Whether the file holds importance-reweighted summaries (/importance/median).
bool has_importance(const std::string& path);

// True parameters (N×5, teff logg mh av rv) and ids of a truth file: an HDF5
// catalogue (/true_parameters, e.g. from `catalog make`), a training set
// (/parameters), or a CSV/FITS catalogue with true_* columns (read through
// CatalogReader with `known_filters`). Throws InputError if it holds no truth.
struct TruthTable {
  std::uint64_t stars = 0;
  std::vector<double> values;   // N×5
  std::vector<std::string> id;  // empty if absent
};
TruthTable read_truth(const std::string& path, const KnownFilters& known_filters);

// ---- metrics ---------------------------------------------------------------

struct PointMetrics {
  std::uint64_t n = 0;
  double bias = 0, rms = 0, mad = 0, median_abs = 0;
};
// From errors (prediction − truth); non-finite errors are not allowed (caller filters).
PointMetrics point_metrics(const std::vector<double>& errors);

// HDIs come from posterior/summary.hpp's hdi_sorted (the sampler's definition).

// n evenly spaced levels k/(n+1), k = 1..n: 0.05, 0.10, …, 0.95 for n = 19.
std::vector<double> coverage_levels(int n);

struct CoverageCurve {
  std::vector<double> levels;
  std::vector<double> coverage;  // fraction of stars whose truth lies in the HDI
  std::uint64_t stars = 0;
  double max_deviation = 0;  // max |coverage − level|
};

struct ParameterMetrics {
  PointMetrics point;
  CoverageCurve coverage;      // HDI: from samples (or the 68/95 % HDIs when there are no samples)
  CoverageCurve central;       // equal-tailed intervals from the truth's rank (samples only; empty otherwise)
  double hdi68_coverage = -1;  // from the file's /hdi68, -1 if absent
  double hdi95_coverage = -1;
};

struct GroupMetrics {
  std::string label;               // "all", "3-5", "6-10", …
  int bands_lo = 0, bands_hi = 0;  // inclusive; bands_hi = 0 means open-ended
  std::uint64_t stars = 0;
  ParameterMetrics parameters[posterior::kParameters];
  PointMetrics teff_dex;  // log10 Teff errors [dex]
};

struct EvaluationCounts {
  std::uint64_t total = 0;
  std::uint64_t evaluated = 0;
  std::uint64_t excluded_too_few_bands = 0;
  std::uint64_t excluded_non_finite = 0;  // a non-finite median or truth
  std::uint64_t flagged_outside_training_range = 0;
  std::uint64_t flagged_ppc_chi2 = 0;
};

struct EvaluationResult {
  EvaluationCounts counts;
  std::string coverage_source;  // "samples" or "hdi" (68/95 % intervals of the file)
  std::string model;            // the posterior file's model attribute (evaluate_files)
  int samples_per_star = 0;
  GroupMetrics overall;
  GroupMetrics cool;                   // true Teff in [kCoolTeffMin, kCoolTeffMax] K ("teff 4000-7000 K")
  std::vector<GroupMetrics> by_bands;  // non-empty bins only
  // Evaluated stars, for the figures: median and truth (N×5), band counts.
  std::vector<float> median;
  std::vector<double> truth;
  std::vector<std::int32_t> n_bands;
};

// Band-count bins: [1,5], [6,10], [11,15], [16,20], [21,∞); labels use the
// smallest count present for the first bin ("3-5").
int band_bin(int bands);
inline constexpr double kCoolTeffMin = 4000.0, kCoolTeffMax = 7000.0;
inline constexpr int kBandBins = 5;

// One block of stars, all pointers to `rows` stars' data.
struct EvaluationBlock {
  std::uint64_t rows = 0;
  const float* median = nullptr;  // rows×5
  const double* truth = nullptr;  // rows×5
  const std::int32_t* n_bands = nullptr;
  const std::uint32_t* flags = nullptr;  // may be null (no flags)
  int samples_per_star = 0;
  const float* samples = nullptr;  // rows×S×5, or null
  const float* hdi68 = nullptr;    // rows×5×2, or null
  const float* hdi95 = nullptr;
};

// Accumulates metrics block by block (so /samples need not fit in memory).
class Evaluator {
 public:
  explicit Evaluator(int coverage_level_count = 19);
  void add(const EvaluationBlock& block);
  EvaluationResult finish() const;

 private:
  struct Group {
    std::uint64_t stars = 0;
    std::vector<double> errors[posterior::kParameters];
    std::vector<double> teff_dex;
    std::vector<std::uint64_t> hits[posterior::kParameters];          // HDI, per level
    std::vector<std::uint64_t> central_hits[posterior::kParameters];  // rank-based central interval, per level
    std::uint64_t coverage_stars = 0;
    std::uint64_t hdi68_hits[posterior::kParameters] = {}, hdi95_hits[posterior::kParameters] = {};
    std::uint64_t hdi_stars = 0;
  };
  void add_star(Group& g, const float* median, const double* truth, const float* samples, int s, const float* hdi68,
                const float* hdi95, std::vector<double>& scratch);
  GroupMetrics summarise(const Group& g, const std::string& label, int lo, int hi) const;

  std::vector<double> levels_;
  Group all_;
  Group cool_;  // true Teff in [kCoolTeffMin, kCoolTeffMax]
  Group bins_[kBandBins];
  int min_bands_seen_ = 0;
  bool any_samples_ = false, any_without_samples_ = false;
  int samples_per_star_ = 0;
  EvaluationCounts counts_;
  std::vector<float> median_;
  std::vector<double> truth_;
  std::vector<std::int32_t> n_bands_;
};

struct EvaluateOptions {
  std::string posterior, truth;
  std::string variant = "flow";  // flow | importance
  int coverage_levels = 19;
  std::uint64_t block_rows = 4096;  // stars per /samples read
};

// Reads both files and evaluates. Prints a note (log::info) when the
// posterior has no /samples. Throws InputError when the star counts or ids of
// the two files disagree.
EvaluationResult evaluate_files(const EvaluateOptions& options, const KnownFilters& known_filters);

// ---- distance from the exact reference posterior (`evaluate --reference`) ----
//
// Per parameter over the stars that both files summarise (finite medians, the
// reference not flagged low-ESS): bias and RMS of (median − reference median), the
// median over stars of |median − reference median| / reference std, and the median
// ratio of the posterior std to the reference std. With /samples in both files, the
// energy distance per star between the two sample sets in the 5-D space standardised by
// the reference std (2E|X−Y| − E|X−X'| − E|Y−Y'|, 0 for identical distributions;
// estimated from the S samples of each, so ~1/S rather than 0 for a perfect match — the
// same estimate between two independent reference runs is the floor), summarised by
// its median and 90th percentile over stars.
struct ReferenceMetrics {
  std::uint64_t stars = 0;  // compared
  std::uint64_t skipped_reference_low_ess = 0;
  double bias[posterior::kParameters] = {}, rms[posterior::kParameters] = {};
  double median_abs_z[posterior::kParameters] = {}, width_ratio[posterior::kParameters] = {};
  bool has_energy = false;
  double energy_median = 0, energy_p90 = 0;
};
ReferenceMetrics compare_with_reference(const std::string& posterior, const std::string& variant,
                                        const std::string& reference, std::uint64_t block_rows);
std::string reference_table(const ReferenceMetrics& m, const std::string& label);
std::string reference_json(const ReferenceMetrics& m);

}  // namespace irisml::validate
