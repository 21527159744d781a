#include "model/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/config.hpp"

namespace irisml::model {

ObservationBatch random_observation_batch(std::int64_t batch, int n_filters, int min_bands, int max_bands,
                                          std::uint64_t seed) {
  if (batch < 0 || min_bands < 0 || max_bands < min_bands || max_bands > n_filters) {
    fail_input("random_observation_batch: batch={} bands={}..{} with {} filters", batch, min_bands, max_bands,
               n_filters);
  }
  const std::int64_t S = n_filters;
  auto ids = torch::zeros({batch, S}, torch::kInt64);
  auto mags = torch::full({batch, S}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  auto errs = torch::full({batch, S}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
  auto mask = torch::zeros({batch, S}, torch::kBool);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mags.accessor<float, 2>();
  auto ea = errs.accessor<float, 2>();
  auto ka = mask.accessor<bool, 2>();
  std::vector<int> perm(static_cast<size_t>(n_filters));
  for (std::int64_t b = 0; b < batch; ++b) {
    Philox rng(seed, static_cast<std::uint64_t>(b));
    const int n = min_bands + static_cast<int>(rng.uniform() * (max_bands - min_bands + 1));
    std::iota(perm.begin(), perm.end(), 0);
    for (int i = n_filters - 1; i > 0; --i) {
      std::swap(perm[static_cast<size_t>(i)],
                perm[static_cast<size_t>(std::min(i, static_cast<int>(rng.uniform() * (i + 1))))]);
    }
    const double base = rng.uniform(10.0, 18.0);
    for (int j = 0; j < std::min(n, max_bands); ++j) {
      ia[b][j] = perm[static_cast<size_t>(j)];
      ma[b][j] = static_cast<float>(base + rng.normal(0.0, 1.0));
      ea[b][j] = static_cast<float>(std::exp(rng.uniform(std::log(0.005), std::log(0.2))));
      ka[b][j] = true;
    }
  }
  return {ids, mags, errs, mask};
}

torch::Tensor random_theta(std::int64_t batch, std::uint64_t seed) {
  Philox rng(seed, 0x7E7Au);
  auto theta = torch::empty({batch, kNumParams}, torch::kFloat64);
  auto a = theta.accessor<double, 2>();
  for (std::int64_t i = 0; i < batch; ++i) {
    a[i][0] = std::pow(10.0, rng.uniform(3.5, 4.2));
    a[i][1] = rng.uniform(0.5, 5.0);
    a[i][2] = rng.normal(-0.1, 0.3);
    a[i][3] = 0.003 + rng.exponential(1.5);
    a[i][4] = rng.normal(3.13, 0.18);
  }
  return theta;
}

}  // namespace irisml::model
