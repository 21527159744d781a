// Normalisation of the estimator's inputs and parameters (docs/model.md §4).
//
// Magnitudes: each star's observed magnitudes are centred by their mean (this removes
// distance and radius), then standardised per filter with training-set statistics of
// the centred magnitudes. Errors: feature = (ln σ − error_log_mean) / error_log_scale.
// Parameters: physical θ = (Teff [K], log g, [M/H], A_V, R_V) →
//   u = (log10 Teff, log g, [M/H], softplus⁻¹(A_V), R_V) → z = (u − μ) / σ.
// The flow models z; densities reported to users are over physical θ, so every
// Jacobian of θ → z is included (log_abs_det_dz_dtheta).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/config.hpp"

namespace irisml::model {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class Normalizer {
 public:
  static constexpr double kDefaultErrorLogMean = -3.5;  // ln(0.03 mag)
  static constexpr double kDefaultErrorLogScale = 1.0;

  // Identity statistics (mean 0, std 1) for n_filters filters: usable in tests and
  // as a placeholder before fit().
  explicit Normalizer(int n_filters = 0);

  // Fits the magnitude and parameter statistics from a training set: `mags` is row-major
  // N × n_filters (noise-free, non-finite entries = band missing), `params` row-major
  // N × 5 physical θ. Throws InputError for a non-physical θ (Teff ≤ 0, A_V ≤ 0,
  // non-finite), a filter with fewer than two finite values, or a zero spread.
  void fit(const float* mags, const double* params, std::int64_t n, int n_filters);

  // One training row as a pass meets it: visit(acc, row index, its n_filters magnitudes,
  // its 5 parameters), adding into `acc`.
  using RowVisit =
      std::function<void(std::vector<double>& acc, std::int64_t row, const float* mags, const double* params)>;
  // A pass over rows 0..n-1 in increasing order: calls visit for each, threading `acc`
  // through (the rows may be spread over processes, as train::ordered_rows does), so
  // the sums are made in one order whatever holds the rows.
  using RowScan = std::function<void(std::vector<double>& acc, const RowVisit& visit)>;
  // Same fit, the rows met through `scan` (four passes).
  void fit(const RowScan& scan, std::int64_t n, int n_filters);
  // Same from tensors (N, F) and (N, 5), any floating dtype, CPU.
  void fit(const at::Tensor& mags, const at::Tensor& params);

  // Error feature scaling (the training job may set it from its error distribution).
  void set_error_scaling(double log_mean, double log_scale);

  int n_filters() const { return static_cast<int>(mag_mean_.size()); }
  const std::vector<double>& mag_mean() const { return mag_mean_; }
  const std::vector<double>& mag_std() const { return mag_std_; }
  const std::vector<double>& param_mean() const { return param_mean_; }
  const std::vector<double>& param_std() const { return param_std_; }
  double error_log_mean() const { return error_log_mean_; }
  double error_log_scale() const { return error_log_scale_; }

  // State as named tensors: mag_mean, mag_std (F) float32; error_log_mean,
  // error_log_scale (1) float32; param_mean, param_std (5) float64.
  NamedTensors named_tensors() const;
  // Inverse of named_tensors() (names without any prefix). Throws InputError when a
  // name is missing or a shape is wrong.
  static Normalizer from_named_tensors(const NamedTensors& tensors);

 private:
  std::vector<double> mag_mean_, mag_std_;
  std::vector<double> param_mean_, param_std_;
  double error_log_mean_ = kDefaultErrorLogMean;
  double error_log_scale_ = kDefaultErrorLogScale;
};

// ---- Tensor helpers (work on any device; statistics tensors as in named_tensors()) ----

// (B, 1) float32 mean of each star's observed magnitudes (the centre of its features).
at::Tensor magnitude_centre(const at::Tensor& magnitudes, const at::Tensor& mask);

// (B, S) float32 standardised centred magnitudes; exactly 0 where mask is false.
at::Tensor magnitude_features(const at::Tensor& filter_ids, const at::Tensor& magnitudes, const at::Tensor& mask,
                              const at::Tensor& mag_mean, const at::Tensor& mag_std);

// (B, S) float32 error features; exactly 0 where mask is false. Errors are floored
// at 1e-6 mag before the logarithm.
at::Tensor error_features(const at::Tensor& errors, const at::Tensor& mask, const at::Tensor& error_log_mean,
                          const at::Tensor& error_log_scale);

// θ (…, 5) → z (…, 5), computed in float64. Non-physical rows (Teff ≤ 0, A_V ≤ 0) give NaN.
at::Tensor physical_to_z(const at::Tensor& theta, const at::Tensor& param_mean, const at::Tensor& param_std);
// z (…, 5) → θ (…, 5), float64.
at::Tensor z_to_physical(const at::Tensor& z, const at::Tensor& param_mean, const at::Tensor& param_std);
// log |det ∂z/∂θ| (…), float64: −Σ ln σ_i − ln(Teff ln 10) − ln(1 − e^{−A_V}).
// Non-physical rows give NaN (callers map them to a −inf density).
at::Tensor log_abs_det_dz_dtheta(const at::Tensor& theta, const at::Tensor& param_std);
// True where θ is inside the support (finite, Teff > 0, A_V > 0).
at::Tensor physical_support(const at::Tensor& theta);

}  // namespace irisml::model
