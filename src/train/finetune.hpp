// Fine-tuning a trained model on a training set with more bands (`irisml train
// --init-from OLD/checkpoint.h5`): the parent's filters must be a subset of the run's;
// the filter embedding grows by one row per new band, started from the row of the
// parent band nearest in pivot wavelength; the new bands' magnitude statistics are
// fitted on the training rows; every other tensor is loaded as trained. An optional
// first phase trains only the new bands' rows (and optionally the layer norms). A
// photometry-only parent may also gain the parallax token (a run with parallaxes).
// docs/fine_tuning.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/config.hpp"
#include "model/normalizer.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/trainer.hpp"

namespace irisml::model {
class PosteriorEstimatorImpl;
}

namespace irisml::train {

inline constexpr const char* kFilterEmbeddingName = "encoder.filter_embedding.weight";
// How the parallax token's embedding row is named in a lineage's added bands.
inline constexpr const char* kParallaxTokenName = "parallax";
inline constexpr const char* kAvTokenName = "av_prior";

// The parent model and how it maps onto the run's filter list.
struct FinetuneInit {
  model::Checkpoint parent;              // without optimizer state
  std::vector<std::string> run_filters;  // the run's filter list (model filter ids)
  std::vector<int> parent_row;           // per run filter: its embedding row in the parent, -1 = new
  // per run filter: the parent rows its embedding starts from (one row; all rows = their mean)
  std::vector<std::vector<int>> init_rows;
  model::Lineage lineage;
};

// Reads the parent checkpoint and checks it against this run; every rank may call it.
// Throws InputError naming the checkpoint when it cannot be read, when its filters are
// not a subset of `run_filters` (listing the missing ones), when it adds no band, when
// its model shape differs from `run_config` (listing each difference), or — unless
// allow_prior_change — when the training set's prior or grid checksum differ from the
// parent's (listing them).
FinetuneInit plan_finetune(const FinetuneOptions& options, const std::vector<std::string>& run_filters,
                           const model::ModelConfig& run_config,
                           const std::vector<std::pair<std::string, double>>& data_prior,
                           const std::string& data_grid_checksum, const std::string& data_path);

// The parent's normaliser over the run's filters: the parent's statistics for its
// bands (and its error and parameter scaling, which its flow was trained in); a new
// band's from training rows [0, n_train), centred on each star's mean over the
// parent's bands, as the parent's own were (docs/model.md §4). Collective over `comm` when
// `data` is sharded (the table's communicator); bitwise the same for any rank count.
model::Normalizer finetune_normalizer(const FinetuneInit& init, const TrainingTable& data, std::int64_t n_train,
                                      MPI_Comm comm = MPI_COMM_SELF);

// Loads the parent's weights into `model` (built for the run's filters with the
// finetune_normalizer()): embedding rows by band name, new rows as planned, every
// other parameter and buffer as trained, the normaliser and dropout counter as built.
void load_finetune_state(model::PosteriorEstimatorImpl& model, const FinetuneInit& init);

// Parameters the freeze phase leaves alone: every parameter but the filter embedding
// (whose parent rows the trainer keeps too), and but the layer norms if `train_norms`.
std::vector<std::string> frozen_parameter_names(const model::PosteriorEstimatorImpl& model, bool train_norms);

// Rows of the run's filter embedding that the parent trained (their filter ids).
std::vector<std::int64_t> parent_rows_in_run(const model::Lineage& lineage,
                                             const std::vector<std::string>& run_filters);

}  // namespace irisml::train
