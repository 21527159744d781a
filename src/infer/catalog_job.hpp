// The catalogue job (`irisml sample`, `irisml fit`): MPI-parallel,
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

#include <memory>
#include <string>
#include <vector>

#include "infer/ppc.hpp"
#include "infer/progress.hpp"
#include "infer/sampler_settings.hpp"
#include "infer/star_block.hpp"
#include "infer/star_random.hpp"

namespace irisml {
class CatalogReader;
}
namespace irisml::simulate {
class Synthesizer;
class PhotometricPosterior;
}  // namespace irisml::simulate

namespace irisml::infer {

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
