#include "posterior/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <tuple>

namespace irisml::posterior {

double quantile_sorted(const double* sorted, std::size_t n, double q) {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo + 1 >= n) return sorted[n - 1];
  const double frac = pos - static_cast<double>(lo);
  return frac == 0.0 ? sorted[lo] : sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

std::size_t hdi_window(std::size_t n, double mass) {
  // A window of k order statistics holds a fresh exchangeable draw with probability
  // (k − 1)/(n + 1); the smallest k with that ≥ mass. (Tolerance: 0.95·(n+1) landing
  // exactly on an integer is not rounded up.)
  const double need = mass * (static_cast<double>(n) + 1.0) + 1.0 - 1e-9;
  return std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(need)), 1, std::max<std::size_t>(n, 1));
}

std::vector<double> smoothed_order_statistics(const double* sorted, std::size_t n) {
  // A local linear fit of x_(j) on j over the ranks within ±h of i (no bias at the ends
  // of the sample), from prefix sums of x and j·x.
  const auto h = static_cast<std::size_t>(
      std::max(std::ceil(std::sqrt(static_cast<double>(n))), std::floor(static_cast<double>(n) / 8.0)));
  std::vector<double> sum_x(n + 1, 0.0), sum_jx(n + 1, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    sum_x[j + 1] = sum_x[j] + sorted[j];
    sum_jx[j + 1] = sum_jx[j] + static_cast<double>(j) * sorted[j];
  }
  std::vector<double> smoothed(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= h ? i - h : 0, hi = std::min(n - 1, i + h);
    const double m = static_cast<double>(hi - lo + 1);
    const double sx = sum_x[hi + 1] - sum_x[lo], sjx = sum_jx[hi + 1] - sum_jx[lo];
    const double j_mean = 0.5 * static_cast<double>(lo + hi);
    const double sjj_centred = m * (m * m - 1.0) / 12.0;  // Σ (j − j_mean)² over m consecutive ranks
    const double slope = sjj_centred > 0 ? (sjx - j_mean * sx) / sjj_centred : 0.0;
    smoothed[i] = sx / m + slope * (static_cast<double>(i) - j_mean);
  }
  return smoothed;
}

std::pair<double, double> hdi_smoothed(const double* sorted, const double* smoothed, std::size_t n, double mass) {
  if (n == 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const std::size_t k = hdi_window(n, mass);
  // The window is placed where the smoothed order statistics are closest: choosing it
  // on the raw values favours windows that are short by chance, whose coverage is then
  // below `mass` (~0.91 instead of 0.95 at n = 64).
  std::size_t best = 0;
  double width = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i + k <= n; ++i) {
    const double w = smoothed[i + k - 1] - smoothed[i];
    if (w < width) {
      width = w;
      best = i;
    }
  }
  return {sorted[best], sorted[best + k - 1]};
}

std::pair<double, double> hdi_sorted(const double* sorted, std::size_t n, double mass) {
  const auto smoothed = smoothed_order_statistics(sorted, n);
  return hdi_smoothed(sorted, smoothed.data(), n, mass);
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
  const auto smoothed = smoothed_order_statistics(v.data(), n);
  std::tie(s.hdi68_lo, s.hdi68_hi) = hdi_smoothed(v.data(), smoothed.data(), n, 0.68);
  std::tie(s.hdi95_lo, s.hdi95_hi) = hdi_smoothed(v.data(), smoothed.data(), n, 0.95);
  return s;
}

ParameterSummary summarize_weighted(std::vector<WeightedValue>& v) {
  v.erase(std::remove_if(v.begin(), v.end(),
                         [](const WeightedValue& x) {
                           return !std::isfinite(x.value) || !std::isfinite(x.weight) || !(x.weight > 0);
                         }),
          v.end());
  if (v.empty()) return nan_summary();
  std::sort(v.begin(), v.end(), [](const WeightedValue& a, const WeightedValue& b) { return a.value < b.value; });
  const std::size_t n = v.size();
  double total = 0.0;
  for (const auto& x : v) total += x.weight;
  double mean = 0.0, sum_p2 = 0.0;
  for (auto& x : v) {
    x.weight /= total;
    mean += x.weight * x.value;
    sum_p2 += x.weight * x.weight;
  }
  double ss = 0.0;
  for (const auto& x : v) ss += x.weight * (x.value - mean) * (x.value - mean);
  // cumulative midpoint positions
  std::vector<double> pos(n);
  double c = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    pos[i] = c + 0.5 * v[i].weight;
    c += v[i].weight;
  }
  auto quantile = [&](double q) {
    if (q <= pos[0]) return v[0].value;
    if (q >= pos[n - 1]) return v[n - 1].value;
    const auto it = std::upper_bound(pos.begin(), pos.end(), q);
    const std::size_t hi = static_cast<std::size_t>(it - pos.begin()), lo = hi - 1;
    const double f = (q - pos[lo]) / (pos[hi] - pos[lo]);
    return v[lo].value + f * (v[hi].value - v[lo].value);
  };
  // The mass an HDI must hold so that, as for equal weights (hdi_window), it covers a
  // fresh draw with probability ≥ α: α + (1 + α)/ESS with ESS = 1/Σp².
  const double ess = sum_p2 > 0 ? 1.0 / sum_p2 : 1.0;
  auto hdi = [&](double level) {
    const double mass = std::min(1.0, level + (1.0 + level) / ess);
    // two pointers: for each start i the smallest end j with weight(i..j) ≥ mass
    std::pair<double, double> best{v[0].value, v[n - 1].value};
    double width = std::numeric_limits<double>::infinity(), inside = 0.0;
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      while (j < n && inside < mass - 1e-12) inside += v[j++].weight;
      if (inside < mass - 1e-12) break;
      if (v[j - 1].value - v[i].value < width) {
        width = v[j - 1].value - v[i].value;
        best = {v[i].value, v[j - 1].value};
      }
      inside -= v[i].weight;
    }
    return best;
  };
  ParameterSummary s{};
  s.mean = mean;
  s.std = sum_p2 < 1.0 ? std::sqrt(ss / (1.0 - sum_p2)) : 0.0;
  s.median = quantile(0.5);
  s.p16 = quantile(0.16);
  s.p84 = quantile(0.84);
  std::tie(s.hdi68_lo, s.hdi68_hi) = hdi(0.68);
  std::tie(s.hdi95_lo, s.hdi95_hi) = hdi(0.95);
  return s;
}

ParameterSummary summarize_weighted(const double* theta, int stride, int p, const double* log_w, std::size_t n,
                                    std::vector<WeightedValue>& scratch) {
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < n; ++k) {
    if (!std::isnan(log_w[k])) top = std::max(top, log_w[k]);
  }
  scratch.clear();
  if (!std::isfinite(top)) return nan_summary();
  for (std::size_t k = 0; k < n; ++k) {
    scratch.push_back({theta[k * static_cast<std::size_t>(stride) + static_cast<std::size_t>(p)],
                       std::isnan(log_w[k]) ? 0.0 : std::exp(log_w[k] - top)});
  }
  return summarize_weighted(scratch);
}

double effective_sample_size(const double* log_w, std::size_t n) {
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isnan(log_w[i])) top = std::max(top, log_w[i]);
  }
  if (!std::isfinite(top)) return 0.0;
  double s1 = 0.0, s2 = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(log_w[i])) continue;
    const double w = std::exp(log_w[i] - top);
    s1 += w;
    s2 += w * w;
  }
  return s1 * s1 / s2;
}

std::vector<std::size_t> systematic_resample(const double* log_w, std::size_t n, std::size_t count, double u) {
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isnan(log_w[i])) top = std::max(top, log_w[i]);
  }
  if (!std::isfinite(top)) throw std::invalid_argument("systematic_resample: no positive weight");
  std::vector<double> cum(n);
  double c = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    c += std::isnan(log_w[i]) ? 0.0 : std::exp(log_w[i] - top);
    cum[i] = c;
  }
  std::vector<std::size_t> out(count);
  std::size_t i = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const double target = (static_cast<double>(k) + u) / static_cast<double>(count) * c;
    while (i + 1 < n && cum[i] <= target) ++i;
    out[k] = i;
  }
  return out;
}

}  // namespace irisml::posterior
