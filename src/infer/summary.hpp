// Per-parameter summaries of posterior samples: median, mean, standard deviation,
// 16th/84th percentiles and highest-density intervals (HDI).
//
// Definitions (documented in docs/posterior_format.md):
//   quantile q of n sorted values: linear interpolation at position q·(n − 1)
//     (NumPy's default), so the median of an even count is the mean of the middle two;
//   std: sample standard deviation with the n − 1 denominator (0 for n = 1);
//   HDI of mass α: the shortest interval [x_i, x_{i+k−1}] of the sorted samples that
//     contains k = ceil(α·n) of them (the lowest such i on ties); the sample
//     estimate of the highest-density interval for a unimodal posterior.
// Non-finite samples are ignored; with no finite sample every field is NaN.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace irisml::infer {

struct ParameterSummary {
  double median, mean, std, p16, p84;
  double hdi68_lo, hdi68_hi, hdi95_lo, hdi95_hi;
};

// Quantile of n ≥ 1 ascending values, q in [0, 1].
double quantile_sorted(const double* sorted, std::size_t n, double q);

// Shortest interval holding ceil(mass·n) of n ≥ 1 ascending values (mass in (0, 1]).
std::pair<double, double> hdi_sorted(const double* sorted, std::size_t n, double mass);

// Summarises the values in `scratch` (reordered in place).
ParameterSummary summarize(std::vector<double>& scratch);

// The NaN summary (stars that are not sampled).
ParameterSummary nan_summary();

}  // namespace irisml::infer
