// Star tokens: what a catalogue row knows beyond its photometry, as encoder tokens of a
// model trained with them (ModelConfig::parallax_token, av_prior_token; docs/distance.md).
//
// The parallax token. A star's magnitudes enter the encoder centred on their mean m̄,
// which removes distance and radius; a parallax ϖ ± σ restores them. Its token carries, in magnitudes,
//   A = m̄ + 5 log10(σ / 1 mas) − 10 + (5 / ln 10) asinh(ϖ / 2σ),
// which for ϖ/σ ≫ 1 is m̄ + 5 log10(ϖ / 1 mas) − 10: the absolute magnitude of the
// star's mean band (its m̄ at 10 pc). For low or negative ϖ/σ it stays finite and
// varies smoothly. The token's error is that of A from σ:
//   σ_A = (5 / ln 10) / √(4 + (ϖ/σ)²)   (≈ 2.17 σ/ϖ for ϖ/σ ≫ 1).
// Features: (A − kParallaxFeatureCentre) / kParallaxFeatureScale, and σ_A through the
// same error feature as the bands; the embedding row is ModelConfig::parallax_row().
//
// The A_V-prior token (embedding row ModelConfig::av_prior_row()) carries a Gaussian
// N(a, s) on A_V: features (a − kAvFeatureCentre) / kAvFeatureScale and s through the error feature. A
// catalogue bound av_max alone is given to it as the mean and spread of the uniform
// distribution on [0, av_max] (a = av_max/2, s = av_max/√12, at least kAvTokenMinWidth):
// the token only steers the proposal, the likelihood applies the bound exactly
// (av_token_from_constraints).
#pragma once

#include <ATen/core/Tensor.h>

namespace irisml::model {

inline constexpr double kParallaxFeatureCentre = 4.0;  // [mag] typical A of training stars
inline constexpr double kParallaxFeatureScale = 3.0;   // [mag]

// A for a star with mean magnitude `centre` and parallax ± err [mas] (err > 0).
double parallax_magnitude(double centre, double parallax, double err);
// σ_A [mag].
double parallax_magnitude_error(double parallax, double err);

struct ParallaxTokenFeatures {
  at::Tensor magnitude;  // (B) float32 standardised A; 0 where absent
  at::Tensor error;      // (B) float32 σ_A [mag]; 1 where absent
  at::Tensor present;    // (B) bool: a finite parallax with a finite error > 0
};

// The token of each star of a batch: `magnitudes`, `mask` (B, S) as in ObservationBatch,
// `parallax`, `parallax_err` (B) [mas].
ParallaxTokenFeatures parallax_token_features(const at::Tensor& magnitudes, const at::Tensor& mask,
                                              const at::Tensor& parallax, const at::Tensor& parallax_err);

inline constexpr double kAvFeatureCentre = 1.0;   // [mag]
inline constexpr double kAvFeatureScale = 1.5;    // [mag], the training prior's A_V scale
inline constexpr double kAvTokenMinWidth = 0.02;  // [mag]

// The token's (a, s) for a catalogue row's A_V prior ± err and/or bound (NaN = not given;
// simulate::StarConstraints' rules for what is usable). Returns false when the row has none.
bool av_token_from_constraints(double av_prior, double av_prior_err, double av_max, double& a, double& s);

struct AvTokenFeatures {
  at::Tensor magnitude;  // (B) float32 standardised a; 0 where absent
  at::Tensor error;      // (B) float32 s [mag]; 1 where absent
  at::Tensor present;    // (B) bool
};
AvTokenFeatures av_token_features(const at::Tensor& av_prior, const at::Tensor& av_prior_err);

}  // namespace irisml::model
