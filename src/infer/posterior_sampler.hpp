// The flow sampler: a trained PosteriorEstimator turning blocks of catalogue stars into
// posterior rows (infer/sampler.hpp has the job around it, torch-free).
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "infer/catalog_job.hpp"
#include "model/posterior.hpp"

namespace irisml::infer {

// Network + summaries for blocks of stars; no I/O. Used by sample_catalog and by
// `irisml bench sample`. `ppc` (optional) must predict the model's filters in
// filter-id order.
class PosteriorSampler : public BlockProcessor {
 public:
  // `target` (needed for settings.importance) must predict the model's filters in
  // filter-id order, as `ppc` must.
  PosteriorSampler(model::PosteriorEstimator model, const SamplerSettings& settings,
                   const simulate::Synthesizer* ppc = nullptr, const simulate::PhotometricPosterior* target = nullptr);

  const SamplerSettings& settings() const { return settings_; }

  // Samples every star of `block` with enough bands and summarises it.
  void run(const StarBlock& block, BlockResult& out) override;
  std::vector<ExtraColumn> extra_columns() const override;
  std::string describe() const override;
  std::vector<std::pair<std::string, std::string>> attributes() const override;

  // Stars sent through the network so far (for throughput figures).
  std::uint64_t sampled_stars() const { return sampled_; }

 private:
  class BlockJob;  // one block through run() (sampler.cpp)

  model::PosteriorEstimator model_;
  SamplerSettings settings_;
  const simulate::Synthesizer* ppc_;
  const simulate::PhotometricPosterior* target_;
  int n_filters_;
  std::vector<double> mag_mean_, mag_std_;
  std::atomic<std::uint64_t> sampled_{0};
};

// Samples a whole catalogue collectively over `comm` (MPI_COMM_SELF for one process).
// Every rank must call it with the same arguments; each rank opens its own reader.
SampleReport sample_catalog(model::PosteriorEstimator model, const CatalogReader& catalog, const SampleJob& job,
                            const SamplerSettings& settings, const simulate::Synthesizer* ppc, MPI_Comm comm,
                            const simulate::PhotometricPosterior* target = nullptr);

}  // namespace irisml::infer
