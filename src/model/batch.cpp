#include "model/batch.hpp"

#include <torch/torch.h>

#include "core/error.hpp"
#include "model/tensor_util.hpp"

namespace irisml::model {

void ObservationBatch::validate(int n_filters) const {
  const std::pair<const char*, const torch::Tensor*> parts[] = {
      {"filter_ids", &filter_ids}, {"magnitudes", &magnitudes}, {"errors", &errors}, {"mask", &mask}};
  for (const auto& [name, t] : parts) {
    if (!t->defined()) fail_input("observation batch: tensor '{}' is undefined", name);
    if (t->dim() != 2) {
      fail_input("observation batch: '{}' has shape {}, expected (batch, slots)", name, shape_string(*t));
    }
    if (t->sizes() != mask.sizes()) {
      fail_input("observation batch: '{}' has shape {} but mask has shape {}", name, shape_string(*t),
                 shape_string(mask));
    }
    if (t->device() != mask.device()) {
      fail_input("observation batch: '{}' is on {} but mask is on {}", name, t->device().str(), mask.device().str());
    }
  }
  if (filter_ids.scalar_type() != torch::kInt64) {
    fail_input("observation batch: filter_ids must be int64, got {}", c10::toString(filter_ids.scalar_type()));
  }
  if (mask.scalar_type() != torch::kBool) {
    fail_input("observation batch: mask must be bool, got {}", c10::toString(mask.scalar_type()));
  }
  for (const auto& [name, t] :
       {std::pair<const char*, const torch::Tensor*>{"magnitudes", &magnitudes}, {"errors", &errors}}) {
    if (!t->is_floating_point()) {
      fail_input("observation batch: {} must be floating point, got {}", name, c10::toString(t->scalar_type()));
    }
  }
  if (parallax.defined() != parallax_err.defined() || av_prior.defined() != av_prior_err.defined()) {
    fail_input("observation batch: parallax and parallax_err (av_prior and av_prior_err) must be given together");
  }
  for (const auto& [name, t] : {std::pair<const char*, const torch::Tensor*>{"parallax", &parallax},
                                {"parallax_err", &parallax_err},
                                {"av_prior", &av_prior},
                                {"av_prior_err", &av_prior_err}}) {
    if (!t->defined()) continue;
    if (t->dim() != 1 || t->size(0) != mask.size(0) || !t->is_floating_point()) {
      fail_input("observation batch: '{}' has shape {} ({}), expected ({}) floating point", name, shape_string(*t),
                 c10::toString(t->scalar_type()), mask.size(0));
    }
  }
  if (mask.numel() > 0) {
    auto observed_ids = filter_ids.masked_select(mask);
    if (observed_ids.numel() > 0) {
      const auto lo = observed_ids.min().item<int64_t>();
      const auto hi = observed_ids.max().item<int64_t>();
      if (lo < 0 || hi >= n_filters) {
        fail_input("observation batch: observed filter id {} is outside [0, {}) (the model's filter list)",
                   lo < 0 ? lo : hi, n_filters);
      }
    }
  }
}

ObservationBatch ObservationBatch::to(const torch::Device& device) const {
  ObservationBatch b{filter_ids.to(device), magnitudes.to(device), errors.to(device), mask.to(device)};
  if (parallax.defined()) {
    b.parallax = parallax.to(device);
    b.parallax_err = parallax_err.to(device);
  }
  if (av_prior.defined()) {
    b.av_prior = av_prior.to(device);
    b.av_prior_err = av_prior_err.to(device);
  }
  return b;
}

}  // namespace irisml::model
