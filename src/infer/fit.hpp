// `irisml fit`: the exact reference posterior (infer/reference.hpp) of every star of a
// catalogue, written in the posterior file format so that `irisml evaluate` reads it
// unchanged. Summaries are weighted (posterior/summary.hpp); /samples holds S equal-weight
// draws resampled from the weighted set; /reference/ess etc. say how well each star
// converged (docs/reference_posterior.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "infer/reference.hpp"
#include "infer/catalog_job.hpp"

namespace irisml::infer {

class FitProcessor : public BlockProcessor {
 public:
  // settings: samples (S resampled draws), keep_samples, seed, bands_min, workers.
  FitProcessor(const ReferenceFitter& fitter, const SamplerSettings& settings);

  void run(const StarBlock& block, BlockResult& out) override;
  std::vector<ExtraColumn> extra_columns() const override;
  std::string describe() const override;
  std::vector<std::pair<std::string, std::string>> attributes() const override;

  std::uint64_t evaluations() const { return evaluations_; }

 private:
  const ReferenceFitter* fitter_;
  SamplerSettings settings_;
  std::atomic<std::uint64_t> evaluations_{0};
};

}  // namespace irisml::infer
