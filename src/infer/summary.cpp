#include "infer/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace irisml::infer {

double quantile_sorted(const double* sorted, std::size_t n, double q) {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo + 1 >= n) return sorted[n - 1];
  const double frac = pos - static_cast<double>(lo);
  return frac == 0.0 ? sorted[lo] : sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

std::pair<double, double> hdi_sorted(const double* sorted, std::size_t n, double mass) {
  if (n == 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  // ceil(mass·n) with a small tolerance so that e.g. 0.95·20 = 19 exactly is not rounded up to 20.
  auto k = static_cast<std::size_t>(std::ceil(mass * static_cast<double>(n) - 1e-9));
  k = std::clamp<std::size_t>(k, 1, n);
  std::size_t best = 0;
  double width = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i + k <= n; ++i) {
    const double w = sorted[i + k - 1] - sorted[i];
    if (w < width) {
      width = w;
      best = i;
    }
  }
  return {sorted[best], sorted[best + k - 1]};
}

ParameterSummary nan_summary() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {nan, nan, nan, nan, nan, nan, nan, nan, nan};
}

ParameterSummary summarize(std::vector<double>& v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return nan_summary();
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  double sum = 0.0;
  for (double x : v) sum += x;
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (double x : v) ss += (x - mean) * (x - mean);
  ParameterSummary s{};
  s.mean = mean;
  s.std = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  s.median = quantile_sorted(v.data(), n, 0.5);
  s.p16 = quantile_sorted(v.data(), n, 0.16);
  s.p84 = quantile_sorted(v.data(), n, 0.84);
  std::tie(s.hdi68_lo, s.hdi68_hi) = hdi_sorted(v.data(), n, 0.68);
  std::tie(s.hdi95_lo, s.hdi95_hi) = hdi_sorted(v.data(), n, 0.95);
  return s;
}

}  // namespace irisml::infer
