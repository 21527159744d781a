#include "model/star_tokens.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "model/normalizer.hpp"

namespace irisml::model {

namespace {
constexpr double kFiveOverLn10 = 2.1714724095162588;  // 5 / ln 10
}  // namespace

double parallax_magnitude(double centre, double parallax, double err) {
  return centre + 5.0 * std::log10(err) - 10.0 + kFiveOverLn10 * std::asinh(parallax / (2.0 * err));
}

double parallax_magnitude_error(double parallax, double err) {
  const double snr = parallax / err;
  return kFiveOverLn10 / std::sqrt(4.0 + snr * snr);
}

ParallaxTokenFeatures parallax_token_features(const at::Tensor& magnitudes, const at::Tensor& mask,
                                              const at::Tensor& parallax, const at::Tensor& parallax_err) {
  auto centre = magnitude_centre(magnitudes, mask).squeeze(1);  // the band features' centre
  auto p = parallax.to(torch::kFloat32);
  auto e = parallax_err.to(torch::kFloat32);
  auto present = torch::isfinite(p) & torch::isfinite(e) & (e > 0) & mask.any(/*dim=*/1);
  // Absent rows computed from harmless values, then replaced.
  auto one = torch::ones({}, p.options());
  p = torch::where(present, p, torch::zeros({}, p.options()));
  e = torch::where(present, e, one);
  auto snr = p / e;
  auto a = centre + 5.0 * torch::log10(e) - 10.0 + kFiveOverLn10 * torch::asinh(snr / 2.0);
  auto feature = (a - kParallaxFeatureCentre) / kParallaxFeatureScale;
  auto sigma = kFiveOverLn10 / torch::sqrt(4.0 + snr * snr);
  return {torch::where(present, feature, torch::zeros({}, feature.options())), torch::where(present, sigma, one),
          present};
}

bool av_token_from_constraints(double av_prior, double av_prior_err, double av_max, double& a, double& s) {
  if (std::isfinite(av_prior) && std::isfinite(av_prior_err) && av_prior_err > 0) {
    a = av_prior;
    s = std::max(av_prior_err, kAvTokenMinWidth);
    return true;
  }
  if (std::isfinite(av_max) && av_max > 0) {
    a = 0.5 * av_max;
    s = std::max(av_max / std::sqrt(12.0), kAvTokenMinWidth);
    return true;
  }
  return false;
}

AvTokenFeatures av_token_features(const at::Tensor& av_prior, const at::Tensor& av_prior_err) {
  auto a = av_prior.to(torch::kFloat32);
  auto s = av_prior_err.to(torch::kFloat32);
  auto present = torch::isfinite(a) & torch::isfinite(s) & (s > 0);
  auto zero = torch::zeros({}, a.options()), one = torch::ones({}, a.options());
  auto feature = (torch::where(present, a, zero) - kAvFeatureCentre) / kAvFeatureScale;
  return {torch::where(present, feature, zero), torch::where(present, s, one), present};
}

}  // namespace irisml::model
