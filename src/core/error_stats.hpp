// Point-estimate error statistics, defined once for `irisml evaluate` (validate/evaluate) and
// `irisml train evaluate` (train/evaluate): bias (mean error), RMS, mean |error| and median
// |error|. No torch, no MPI: a distributed caller sums the fields over ranks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace irisml {

struct ErrorSums {
  double n = 0, sum = 0, sum_sq = 0, sum_abs = 0;

  void add(double e) {
    n += 1;
    sum += e;
    sum_sq += e * e;
    sum_abs += std::fabs(e);
  }
  // NaN when nothing was added.
  double bias() const { return n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN(); }
  double rms() const { return n > 0 ? std::sqrt(sum_sq / n) : std::numeric_limits<double>::quiet_NaN(); }
  double mean_abs() const { return n > 0 ? sum_abs / n : std::numeric_limits<double>::quiet_NaN(); }

  static constexpr std::size_t kFields = 4;
  void pack(double* out) const { out[0] = n, out[1] = sum, out[2] = sum_sq, out[3] = sum_abs; }
  static ErrorSums unpack(const double* in) { return ErrorSums{in[0], in[1], in[2], in[3]}; }
};

// Median of |values| (the mean of the two middle ones for an even count); NaN if empty.
inline double median_abs(const std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> a(values.size());
  std::transform(values.begin(), values.end(), a.begin(), [](double v) { return std::fabs(v); });
  const std::size_t mid = a.size() / 2;
  std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(mid), a.end());
  const double upper = a[mid];
  if (a.size() % 2 == 1) return upper;
  return 0.5 * (*std::max_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(mid)) + upper);
}

}  // namespace irisml
