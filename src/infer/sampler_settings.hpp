// The settings of a catalogue job (`irisml sample`, `irisml fit`): samples, batching,
// threads, training-range checks, the posterior-predictive check, importance reweighting,
// calibration and star constraints; and the memory they need.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/precision.hpp"
#include "posterior/format.hpp"

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

// Bytes of working memory one rank needs at once to sample with these settings (an
// estimate, ~2x generous): the flow's activations for batch x samples rows per network
// call, `workers` calls at a time (S x retry_factor rows for a retried star), and the
// per-block sample buffers. Used to refuse impossible settings before any output exists.
double sampling_memory_bytes(const SamplerSettings& settings, const model::ModelConfig& config);

// InputError naming --samples, --batch, the estimate and `limit_bytes` (this rank's
// share of the node's memory) when the estimate exceeds 3/4 of the limit.
void check_sampling_memory(const SamplerSettings& settings, const model::ModelConfig& config, double limit_bytes);

}  // namespace irisml::infer
