// Quality of a trained estimator on a held-out simulated set (`irisml train evaluate`):
// per parameter, the RMS and mean |error| of the posterior median, next to the same
// numbers for always predicting the training-set median.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "simulate/noise.hpp"

namespace irisml::train {

struct QualityOptions {
  std::string test_data;       // noise-free test set (training-set format)
  std::string train_data;      // for the baseline (training-set median); "" = baseline from the test set itself
  simulate::NoiseModel noise;  // how test stars are observed (as in training)
  std::uint64_t seed = 2;      // keys each test star's observation and posterior draws
  int samples = 64;            // posterior samples per star; the point estimate is their median
  std::int64_t max_stars = 0;  // 0 = all test stars
  std::int64_t batch = 512;
};

struct QualityRow {
  std::string parameter;                           // teff [K], logg, mh, av, rv
  double rms = 0, mean_abs = 0, bias = 0;          // posterior median − truth
  double baseline_rms = 0, baseline_mean_abs = 0;  // training-set median − truth
  double baseline_value = 0;                       // the training-set median
};

struct QualityReport {
  std::int64_t checkpoint_step = 0;  // the evaluated model's training updates
  std::int64_t stars = 0;
  double seconds = 0;
  double mean_bands = 0;
  std::vector<QualityRow> rows;  // the five parameters in θ order

  // A Markdown table of the rows.
  std::string markdown() const;
};

// The model of a checkpoint of `irisml train`, evaluated collectively over `comm`: each
// rank loads it and evaluates its shard of the test stars. `seconds` excludes the load.
QualityReport evaluate_quality(const std::string& checkpoint_path, const QualityOptions& options, MPI_Comm comm);

}  // namespace irisml::train
