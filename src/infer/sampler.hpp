// Posterior sampling of photometric catalogues (`irisml sample`): MPI-parallel,
// collective output in catalogue order, resumable. Output schema:
// docs/posterior_format.md.
//
// Work is cut into global blocks of `block_rows` catalogue rows; rank r processes the
// contiguous run of blocks shard_range(n_blocks, r, size). Inside a block, stars with
// enough bands are sorted by band count (stable) and cut into batches of `batch`
// stars, padded with the key-padding mask to the largest band count of the batch.
// Each star's random numbers come from Philox keyed by (mixed seed, global row), so
//   * the output is byte-identical for any number of ranks (same batch/block size);
//   * a different --batch changes results only by float32 round-off in the network
//     (rows of a matrix product are not bitwise independent of the batch size);
//   * an interrupted run resumed with the same arguments ends byte-identical to an
//     uninterrupted one: finished blocks are recorded in "<output>.progress".
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "posterior/format.hpp"
#include "infer/ppc.hpp"
#include "infer/progress.hpp"
#include "model/config.hpp"
#include "model/precision.hpp"

namespace irisml {
class CatalogReader;
}
namespace irisml::simulate {
class Synthesizer;
class PhotometricPosterior;
}  // namespace irisml::simulate
namespace irisml::posterior {
struct ParameterSummary;
}

namespace irisml::infer {

inline constexpr const char* kPosteriorFormat = posterior::kFormat;
inline constexpr std::int64_t kPosteriorFormatVersion = posterior::kFormatVersion;

// Bits of /flags: the one definition is in posterior/format.hpp.
using posterior::kFlagErrorRaised;
using posterior::kFlagLowEss;
using posterior::kFlagNonFinite;
using posterior::kFlagOutsideTrainingRange;
using posterior::kFlagPpc;
using posterior::kFlagTooFewBands;

// A quoted error as the training observation model takes it: raised to `error_min` (the
// smallest error training saw), adding kFlagErrorRaised to `flags` when by more than 2×.
inline float training_error(float quoted, double error_min, std::uint32_t& flags) {
  if (quoted < 0.5 * error_min) flags |= kFlagErrorRaised;
  return std::max(quoted, static_cast<float>(error_min));
}

struct SamplerSettings {
  int samples = 64;           // posterior samples per star
  bool keep_samples = false;  // also write /samples [N, S, 5]
  std::int64_t batch = 256;   // stars per network call
  int workers = 1;            // threads running whole batches concurrently (each with one
                              // LibTorch intra-op thread); 1 = the caller's thread and settings
  int intra_op_threads = 1;   // with workers == 1: LibTorch's threads inside each operation.
                              // Above 1 the reductions split differently, so results differ
                              // at float32 round-off: recorded in the output and the resume key
  std::uint64_t seed = 1;     // with the row index, keys every star's random numbers
  // The encoder's matrix products (model/precision.hpp), already resolved for the device.
  // bf16 changes the samples (recorded in the output and the resume key).
  model::Precision precision = model::Precision::kFloat32;
  std::uint64_t block_rows = 4096;  // rows per block (the unit of I/O and of resume)

  // Training-range checks (from the checkpoint's noise settings).
  int bands_min = 6;  // fewer usable bands → kFlagTooFewBands, summaries NaN
  int bands_max = 0;  // more bands than this (0 = no limit) → kFlagOutsideTrainingRange
  double sigma_max = std::numeric_limits<double>::infinity();  // an error above → kFlagOutsideTrainingRange
  double range_sigma = 10.0;  // |standardised centred magnitude| above → kFlagOutsideTrainingRange
  // The observation model of training (the checkpoint's [noise]): a quoted error below
  // input_error_min is raised to it (kFlagErrorRaised when by more than a factor of 2),
  // and the network is given √(σ² + input_sigma_sys²), as in training.
  double input_error_min = 0.0;
  double input_sigma_sys = 0.0;
  // A model trained for a per-band calibration: its terms by model filter id (replacing
  // input_sigma_sys band by band); empty = none.
  std::vector<double> input_band_sigma_sys;
  double input_sigma_sys_of(int f) const {
    return input_band_sigma_sys.empty() ? input_sigma_sys : input_band_sigma_sys[static_cast<std::size_t>(f)];
  }

  // Posterior-predictive check (when a synthesizer is given): p-value below this →
  // kFlagPpc; on stars that follow the model, about this fraction is flagged.
  double ppc_alpha = 0.01;
  // [mag] model systematics added in quadrature to each band's error in the χ²: without
  // it, bands with 0.005 mag errors flag stars for percent-level model imperfections.
  double ppc_sigma_floor = 0.03;

  // Importance reweighting (needs a PhotometricPosterior): log w = log prior + log L − log q
  // for every flow sample; weighted summaries under /importance (docs/posterior_format.md).
  bool importance = false;
  double ess_threshold = 0.1;  // ESS/S below this → kFlagLowEss (after any retry)
  int retry_factor = 0;        // stars below ess_threshold are redrawn with retry_factor·S proposals (0 = no retry)
  bool sir = false;            // also store S equal-weight resampled draws (/importance/samples)
  double sigma_sys = 0.0;      // [mag] systematic term added in quadrature in the likelihood
  // Per-band calibration (simulate/calibration.hpp), indexed by model filter id; empty =
  // none. With it a magnitude is read as m − band_offset (network, likelihood and PPC),
  // and band_sigma_sys replaces sigma_sys in the likelihood and ppc_sigma_floor in the PPC.
  std::vector<double> band_offset, band_sigma_sys;
  std::string calibration;  // its describe() text (resume key, attributes); empty = none
  bool calibrated() const { return !band_offset.empty(); }
  // The calibration offset subtracted from model filter f's magnitudes (0 without one).
  double magnitude_offset(int f) const { return calibrated() ? band_offset[static_cast<std::size_t>(f)] : 0.0; }
  // The likelihood's systematic term of model filter f.
  double likelihood_sigma_sys(int f) const {
    return calibrated() ? band_sigma_sys[static_cast<std::size_t>(f)] : sigma_sys;
  }
  // [mas] subtracted from catalogue parallaxes before a model's parallax token sees them
  // (the same setting as the likelihood's, simulate::DistanceSettings).
  double parallax_zero_point = 0.0;
  // --parallax-zero-point as given (a number in mas, or lindegren2021), recorded as the
  // output's parallax_zero_point attribute; empty (not recorded) without a parallax column.
  std::string parallax_zero_point_text;
  // Write distance, radius and mass summaries (/physical, docs/posterior_format.md) for
  // stars with a parallax; set when the catalogue has a parallax column (fit, importance).
  bool physical = false;

  int max_blocks = 0;          // stop (as if interrupted) after this many blocks per rank; 0 = no limit
  bool progress = true;        // progress lines on rank 0
  bool handle_signals = true;  // SIGTERM/SIGUSR1 → finish the current block, stop (interrupted)

  // Throws InputError naming the bad setting.
  void validate() const;
};

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

struct ExtraColumn;

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

// Bytes of working memory one rank needs at once to sample with these settings (an
// estimate, ~2x generous): the flow's activations for batch x samples rows per network
// call, `workers` calls at a time (S x retry_factor rows for a retried star), and the
// per-block sample buffers. Used to refuse impossible settings before any output exists.
double sampling_memory_bytes(const SamplerSettings& settings, const model::ModelConfig& config);

// InputError naming --samples, --batch, the estimate and `limit_bytes` (this rank's
// share of the node's memory) when the estimate exceeds 3/4 of the limit.
void check_sampling_memory(const SamplerSettings& settings, const model::ModelConfig& config, double limit_bytes);

// The stream key used for a star's random numbers (the seed mixed with a constant
// so that sampling never reuses the draws `catalog make` took from the same seed).
std::uint64_t sampling_stream_seed(std::uint64_t seed);

// Fills base_normal (S × 5, float32, sample-major) and component_uniform (S) for a star.
void star_random_numbers(std::uint64_t seed, std::uint64_t row, int samples, float* normal, float* uniform);

// S equal-weight draws (S × 5, float32) resampled systematically from n weighted points
// theta (n × 5) with log-weights log_w; the uniform comes from a stream keyed by (seed, row).
void resample_draws(const double* theta, const double* log_w, std::size_t n, int S, std::uint64_t seed,
                    std::uint64_t row, float* out);

// Model filter id of each catalogue filter (−1 = ignored). A catalogue filter the
// model does not know is an InputError naming it and listing the model's filters,
// unless `ignore_unknown` (then, if `warn`, a warning names the ignored filters).
std::vector<int> map_catalog_filters(const std::vector<std::string>& catalog_filters,
                                     const std::vector<std::string>& model_filters, bool ignore_unknown,
                                     const std::string& catalog_path, bool warn = true);

struct SampleJob {
  std::string output;                      // final path; written as partial_path(output), renamed when complete
  std::string model_path;                  // recorded as root attribute "model"
  std::vector<std::string> model_filters;  // filter id order
  bool ignore_unknown_filters = false;
  // Extra text identifying the inputs for resume (e.g. column options); the
  // catalogue and model paths, sizes and modification times and every setting that
  // changes the output are added automatically.
  std::string inputs_key;
  // An unfinished run of other inputs or settings under this output (its
  // "<output>.progress" and partial file): false = refuse with an InputError, true =
  // discard it and start over (`--overwrite`).
  bool discard_unfinished = false;
};

struct SampleReport {
  std::uint64_t rows = 0;
  std::uint64_t blocks = 0, blocks_run = 0, blocks_skipped = 0;                      // skipped = done by an earlier run
  std::uint64_t sampled = 0, too_few_bands = 0, outside_training = 0, ppc_high = 0;  // this run, all ranks
  std::uint64_t low_ess = 0;                                                         // kFlagLowEss, this run, all ranks
  std::uint64_t dropped_unusable = 0;  // bands dropped by the reader for a bad error (this run)
  // Bands the reader found missing (empty, null, NaN or a sentinel), upper limits (a
  // magnitude with a null error, column presets) and non-positive fluxes (this run).
  std::uint64_t missing = 0, upper_limits = 0, nonpositive_flux = 0;
  // Star constraints dropped by the reader as unusable (a parallax error or A_V prior
  // width not finite and > 0, an av_max not finite and > 0; this run).
  std::uint64_t constraints_dropped = 0;
  double seconds = 0.0;
  bool all_transfers_collective = true;  // every row transfer of this run was collective (all ranks)
  bool interrupted = false;              // stopped early (signal or max_blocks); rerun to resume
  bool complete = false;                 // the output was renamed into place
};

// Samples a whole catalogue collectively over `comm` (MPI_COMM_SELF for one process)
// with the model of the checkpoint `job.model_path` (each rank loads it). Every rank must
// call it with the same arguments; each rank opens its own reader. The same with a model
// in memory: infer/posterior_sampler.hpp.
SampleReport sample_catalog(const CatalogReader& catalog, const SampleJob& job, const SamplerSettings& settings,
                            const simulate::Synthesizer* ppc, MPI_Comm comm,
                            const simulate::PhotometricPosterior* target = nullptr);
// The flow sampler (PosteriorSampler) of a model of `config` with random weights (LibTorch
// seeded with `weight_seed`; the same seed gives the same weights): `irisml bench sample`.
std::unique_ptr<BlockProcessor> random_posterior_sampler(const model::ModelConfig& config, std::uint64_t weight_seed,
                                                         const SamplerSettings& settings);
// The same with any processor. `settings` gives the job's layout and control (samples,
// keep_samples, seed, block_rows, max_blocks, progress, signals); `with_ppc` whether
// /ppc_chi2 is meaningful. `verb` names the command in messages ("sample", "fit").
SampleReport process_catalog(BlockProcessor& processor, const CatalogReader& catalog, const SampleJob& job,
                             const SamplerSettings& settings, bool with_ppc, MPI_Comm comm,
                             const std::string& verb = "sample");

}  // namespace irisml::infer
