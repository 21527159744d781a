#include "model/normalizer.hpp"

#include <cmath>

#include <torch/torch.h>

#include "core/error.hpp"
#include "model/tensor_util.hpp"

namespace irisml::model {

namespace {

constexpr double kLn10 = 2.302585092994045684;
constexpr double kErrorFloor = 1e-6;

// softplus⁻¹(a) = ln(e^a − 1) = a + ln(1 − e^{−a}), stable for small and large a.
double inverse_softplus(double a) { return a + std::log(-std::expm1(-a)); }

const torch::Tensor& find_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [key, value] : tensors) {
    if (key == name) return value;
  }
  std::string known;
  for (const auto& entry : tensors) known += (known.empty() ? "" : ", ") + entry.first;
  fail_input("normalizer state: tensor '{}' is missing (present: {})", name, known.empty() ? "none" : known);
}

std::vector<double> to_vector(const torch::Tensor& t, const std::string& name, int64_t expected) {
  if (t.dim() != 1 || (expected >= 0 && t.size(0) != expected)) {
    fail_input("normalizer state: tensor '{}' has {} dims and {} elements, expected a vector of {}", name, t.dim(),
               t.numel(), expected);
  }
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

Normalizer::Normalizer(int n_filters)
    : mag_mean_(static_cast<std::size_t>(std::max(n_filters, 0)), 0.0),
      mag_std_(static_cast<std::size_t>(std::max(n_filters, 0)), 1.0),
      param_mean_(kNumParams, 0.0),
      param_std_(kNumParams, 1.0) {}

void Normalizer::fit(const float* mags, const double* params, std::int64_t n, int n_filters) {
  const RowScan all_rows = [&](std::vector<double>& acc, const RowVisit& visit) {
    for (std::int64_t i = 0; i < n; ++i) visit(acc, i, mags + i * n_filters, params + i * kNumParams);
  };
  fit(all_rows, n, n_filters);
}

namespace {

// A star's centre: the mean of its finite magnitudes (0 when it has none).
double centre_of(const float* row, std::size_t nf) {
  double s = 0.0;
  int k = 0;
  for (std::size_t f = 0; f < nf; ++f) {
    if (std::isfinite(row[f])) {
      s += row[f];
      ++k;
    }
  }
  return k > 0 ? s / k : 0.0;
}

}  // namespace

void Normalizer::fit(const RowScan& scan, std::int64_t n, int n_filters) {
  if (n < 2) fail_input("normalizer: need at least 2 training stars to fit statistics, got {}", n);
  if (n_filters < 1) fail_input("normalizer: n_filters={} (must be >= 1)", n_filters);
  const auto nf = static_cast<std::size_t>(n_filters);

  // Four ordered passes over the rows (two-pass mean and spread, for accuracy), each
  // accumulating in the same order whether the rows live in one process or many.
  // Parameters: u-space mean and std.
  auto transform_row = [](std::int64_t i, const double* p, double* u) {
    for (int k = 0; k < kNumParams; ++k) {
      if (!std::isfinite(p[k])) {
        fail_input("normalizer: training parameter {} of star {} is {} (must be finite)", parameter_names()[k], i,
                   p[k]);
      }
    }
    if (p[0] <= 0.0) fail_input("normalizer: Teff of training star {} is {} K (must be > 0)", i, p[0]);
    if (p[3] <= 0.0) fail_input("normalizer: A_V of training star {} is {} (must be > 0)", i, p[3]);
    u[0] = std::log10(p[0]);
    u[1] = p[1];
    u[2] = p[2];
    u[3] = inverse_softplus(p[3]);
    u[4] = p[4];
  };
  std::vector<double> sum(kNumParams, 0.0);
  scan(sum, [&](std::vector<double>& acc, std::int64_t i, const float*, const double* p) {
    double u[kNumParams];
    transform_row(i, p, u);
    for (int k = 0; k < kNumParams; ++k) acc[k] += u[k];
  });
  std::vector<double> mean(kNumParams);
  for (int k = 0; k < kNumParams; ++k) mean[k] = sum[k] / static_cast<double>(n);
  std::vector<double> sum_sq(kNumParams, 0.0);
  scan(sum_sq, [&](std::vector<double>& acc, std::int64_t i, const float*, const double* p) {
    double u[kNumParams];
    transform_row(i, p, u);
    for (int k = 0; k < kNumParams; ++k) acc[k] += (u[k] - mean[k]) * (u[k] - mean[k]);
  });
  std::vector<double> stdev(kNumParams);
  for (int k = 0; k < kNumParams; ++k) {
    stdev[k] = std::sqrt(sum_sq[k] / static_cast<double>(n - 1));
    if (!(stdev[k] > 1e-12)) {
      fail_input(
          "normalizer: training parameter {} has zero spread (std {}) over {} stars; the flow "
          "needs a varying parameter",
          parameter_names()[k], stdev[k], n);
    }
  }

  // Magnitudes: centre each star by the mean of its finite bands, then per-filter stats.
  // acc = [sums of the centred magnitudes (F), their counts (F)], then [squared deviations (F)].
  std::vector<double> msum(2 * nf, 0.0);
  scan(msum, [&](std::vector<double>& acc, std::int64_t, const float* row, const double*) {
    const double centre = centre_of(row, nf);
    for (std::size_t f = 0; f < nf; ++f) {
      if (std::isfinite(row[f])) {
        acc[f] += row[f] - centre;
        acc[nf + f] += 1.0;
      }
    }
  });
  std::vector<double> mmean(nf), mstd(nf);
  for (std::size_t f = 0; f < nf; ++f) {
    const double count = msum[nf + f];
    if (count < 2) {
      fail_input("normalizer: filter {} has {} finite training magnitudes (need at least 2)", f,
                 static_cast<std::int64_t>(count));
    }
    mmean[f] = msum[f] / count;
  }
  std::vector<double> msq(nf, 0.0);
  scan(msq, [&](std::vector<double>& acc, std::int64_t, const float* row, const double*) {
    const double centre = centre_of(row, nf);
    for (std::size_t f = 0; f < nf; ++f) {
      if (std::isfinite(row[f])) {
        const double d = row[f] - centre - mmean[f];
        acc[f] += d * d;
      }
    }
  });
  for (std::size_t f = 0; f < nf; ++f) {
    mstd[f] = std::sqrt(msq[f] / (msum[nf + f] - 1.0));
    if (!(mstd[f] > 1e-9)) {
      fail_input("normalizer: centred training magnitudes of filter {} have zero spread (std {})", f, mstd[f]);
    }
  }
  mag_mean_ = std::move(mmean);
  mag_std_ = std::move(mstd);
  param_mean_ = std::move(mean);
  param_std_ = std::move(stdev);
}

void Normalizer::fit(const torch::Tensor& mags, const torch::Tensor& params) {
  if (mags.dim() != 2 || params.dim() != 2 || params.size(1) != kNumParams || mags.size(0) != params.size(0)) {
    fail_input("normalizer: expected magnitudes (N, F) and parameters (N, {}), got {} and {}", kNumParams,
               shape_string(mags), shape_string(params));
  }
  auto m = mags.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto p = params.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  fit(m.data_ptr<float>(), p.data_ptr<double>(), m.size(0), static_cast<int>(m.size(1)));
}

void Normalizer::set_error_scaling(double log_mean, double log_scale) {
  if (!std::isfinite(log_mean) || !(log_scale > 0.0) || !std::isfinite(log_scale)) {
    fail_input("normalizer: error scaling log_mean={} log_scale={} (need finite values, scale > 0)", log_mean,
               log_scale);
  }
  error_log_mean_ = log_mean;
  error_log_scale_ = log_scale;
}

NamedTensors Normalizer::named_tensors() const {
  auto vec = [](const std::vector<double>& v, torch::Dtype dtype) {
    return torch::tensor(v, torch::kFloat64).to(dtype);
  };
  return {
      {"mag_mean", vec(mag_mean_, torch::kFloat32)},
      {"mag_std", vec(mag_std_, torch::kFloat32)},
      {"error_log_mean", vec({error_log_mean_}, torch::kFloat32)},
      {"error_log_scale", vec({error_log_scale_}, torch::kFloat32)},
      {"param_mean", vec(param_mean_, torch::kFloat64)},
      {"param_std", vec(param_std_, torch::kFloat64)},
  };
}

Normalizer Normalizer::from_named_tensors(const NamedTensors& tensors) {
  Normalizer out;
  out.mag_mean_ = to_vector(find_tensor(tensors, "mag_mean"), "mag_mean", -1);
  out.mag_std_ = to_vector(find_tensor(tensors, "mag_std"), "mag_std", static_cast<int64_t>(out.mag_mean_.size()));
  out.param_mean_ = to_vector(find_tensor(tensors, "param_mean"), "param_mean", kNumParams);
  out.param_std_ = to_vector(find_tensor(tensors, "param_std"), "param_std", kNumParams);
  const auto elm = to_vector(find_tensor(tensors, "error_log_mean"), "error_log_mean", 1);
  const auto els = to_vector(find_tensor(tensors, "error_log_scale"), "error_log_scale", 1);
  out.set_error_scaling(elm[0], els[0]);
  return out;
}

// ---- tensor helpers ----

namespace {
torch::Tensor observed_only(const torch::Tensor& magnitudes, const torch::Tensor& mask) {
  return torch::where(mask, magnitudes.to(torch::kFloat32),
                      torch::zeros({}, magnitudes.options().dtype(torch::kFloat32)));
}
}  // namespace

torch::Tensor magnitude_centre(const torch::Tensor& magnitudes, const torch::Tensor& mask) {
  auto count = mask.sum(/*dim=*/1, /*keepdim=*/true).clamp_min(1).to(torch::kFloat32);
  return observed_only(magnitudes, mask).sum(/*dim=*/1, /*keepdim=*/true) / count;
}

torch::Tensor magnitude_features(const torch::Tensor& filter_ids, const torch::Tensor& magnitudes,
                                 const torch::Tensor& mask, const torch::Tensor& mag_mean,
                                 const torch::Tensor& mag_std) {
  auto m = observed_only(magnitudes, mask);
  auto centre = magnitude_centre(magnitudes, mask);
  // Pads may hold invalid ids: look statistics up with id 0 there, then zero them.
  auto ids = torch::where(mask, filter_ids, torch::zeros({}, filter_ids.options()));
  auto mean = mag_mean.to(torch::kFloat32).index_select(0, ids.flatten()).view(ids.sizes());
  auto stdev = mag_std.to(torch::kFloat32).index_select(0, ids.flatten()).view(ids.sizes());
  auto feature = (m - centre - mean) / stdev;
  return torch::where(mask, feature, torch::zeros({}, feature.options()));
}

torch::Tensor error_features(const torch::Tensor& errors, const torch::Tensor& mask,
                             const torch::Tensor& error_log_mean, const torch::Tensor& error_log_scale) {
  auto e = torch::where(mask, errors.to(torch::kFloat32), torch::ones({}, errors.options().dtype(torch::kFloat32)));
  // NaN errors under an observed mask stay NaN (they are the caller's bug, not padding).
  auto feature =
      (torch::log(e.clamp_min(kErrorFloor)) - error_log_mean.to(torch::kFloat32)) / error_log_scale.to(torch::kFloat32);
  return torch::where(mask, feature, torch::zeros({}, feature.options()));
}

torch::Tensor physical_support(const torch::Tensor& theta) {
  auto t = theta.to(torch::kFloat64);
  return torch::isfinite(t).all(/*dim=*/-1) & (t.select(-1, 0) > 0) & (t.select(-1, 3) > 0);
}

torch::Tensor physical_to_z(const torch::Tensor& theta, const torch::Tensor& param_mean,
                            const torch::Tensor& param_std) {
  auto t = theta.to(torch::kFloat64);
  auto teff = t.select(-1, 0);
  auto av = t.select(-1, 3);
  auto u = torch::stack(
      {torch::log10(teff), t.select(-1, 1), t.select(-1, 2), av + torch::log(-torch::expm1(-av)), t.select(-1, 4)},
      /*dim=*/-1);
  return (u - param_mean.to(torch::kFloat64)) / param_std.to(torch::kFloat64);
}

torch::Tensor z_to_physical(const torch::Tensor& z, const torch::Tensor& param_mean, const torch::Tensor& param_std) {
  auto u = z.to(torch::kFloat64) * param_std.to(torch::kFloat64) + param_mean.to(torch::kFloat64);
  auto u3 = u.select(-1, 3);
  auto av = torch::clamp_min(u3, 0) + torch::log1p(torch::exp(-torch::abs(u3)));  // softplus
  return torch::stack({torch::pow(10.0, u.select(-1, 0)), u.select(-1, 1), u.select(-1, 2), av, u.select(-1, 4)},
                      /*dim=*/-1);
}

torch::Tensor log_abs_det_dz_dtheta(const torch::Tensor& theta, const torch::Tensor& param_std) {
  auto t = theta.to(torch::kFloat64);
  auto teff = t.select(-1, 0);
  auto av = t.select(-1, 3);
  auto log_sigma = torch::log(param_std.to(torch::kFloat64)).sum();
  // d log10(T)/dT = 1/(T ln 10);  d softplus⁻¹(a)/da = 1/(1 − e^{−a}).
  return -log_sigma - torch::log(teff * kLn10) - torch::log(-torch::expm1(-av));
}

}  // namespace irisml::model
