// A batch of observed stars for the posterior estimator.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace irisml::model {

// Stars may have different numbers of bands: column s of row b is an observation
// only where mask[b][s] is true. Values under a false mask are ignored entirely
// (they may be anything, NaN included); filter ids there need not be valid.
struct ObservationBatch {
  at::Tensor filter_ids;  // (B, S) int64, index into the model's filter list
  at::Tensor magnitudes;  // (B, S) float32, raw observed magnitudes
  at::Tensor errors;      // (B, S) float32, 1-sigma magnitude errors (> 0 where observed)
  at::Tensor mask;        // (B, S) bool, true = observed
  // Optional, for a model with a parallax token: (B) float32 parallax and its error [mas]
  // after any zero point; NaN (or undefined tensors) = no parallax for that star.
  at::Tensor parallax{}, parallax_err{};
  // Optional, for a model with an A_V-prior token: (B) float32 mean and width [mag] of the
  // star's A_V prior as the token sees it; NaN (or undefined) = none.
  at::Tensor av_prior{}, av_prior_err{};

  std::int64_t size() const { return mask.defined() ? mask.size(0) : 0; }

  // Shapes, dtypes and devices agree, and every observed filter id lies in
  // [0, n_filters); parallax tensors, when given, are (B) floating point. Throws
  // InputError naming the offending tensor or value.
  void validate(int n_filters) const;

  ObservationBatch to(const c10::Device& device) const;
};

}  // namespace irisml::model
