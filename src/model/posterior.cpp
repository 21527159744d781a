#include "model/posterior.hpp"

#include <limits>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "model/star_tokens.hpp"
#include "model/tensor_util.hpp"

namespace irisml::model {

namespace {

const torch::Tensor& lookup(const NamedTensors& tensors, const char* name) {
  for (const auto& [key, value] : tensors) {
    if (key == name) return value;
  }
  throw std::logic_error(std::string("normalizer tensor missing: ") + name);
}

}  // namespace

// ---- NormalizerBuffers ----

NormalizerBuffersImpl::NormalizerBuffersImpl(const Normalizer& normalizer) {
  const auto tensors = normalizer.named_tensors();
  mag_mean = register_buffer("mag_mean", lookup(tensors, "mag_mean").clone());
  mag_std = register_buffer("mag_std", lookup(tensors, "mag_std").clone());
  error_log_mean = register_buffer("error_log_mean", lookup(tensors, "error_log_mean").clone());
  error_log_scale = register_buffer("error_log_scale", lookup(tensors, "error_log_scale").clone());
  param_mean = register_buffer("param_mean", lookup(tensors, "param_mean").clone());
  param_std = register_buffer("param_std", lookup(tensors, "param_std").clone());
}

Normalizer NormalizerBuffersImpl::get() const {
  return Normalizer::from_named_tensors({{"mag_mean", mag_mean},
                                         {"mag_std", mag_std},
                                         {"error_log_mean", error_log_mean},
                                         {"error_log_scale", error_log_scale},
                                         {"param_mean", param_mean},
                                         {"param_std", param_std}});
}

// ---- PosteriorEstimator ----

PosteriorEstimatorImpl::PosteriorEstimatorImpl(const ModelConfig& config)
    : PosteriorEstimatorImpl(config, Normalizer(config.n_filters)) {}

PosteriorEstimatorImpl::PosteriorEstimatorImpl(const ModelConfig& config, const Normalizer& normalizer)
    : config_(config) {
  config_.validate();
  if (normalizer.n_filters() != config_.n_filters) {
    fail_input("normalizer has {} filters but the model configuration has n_filters={}", normalizer.n_filters(),
               config_.n_filters);
  }
  encoder = register_module("encoder", SetEncoder(config_));
  flow = register_module("flow", ConditionalMaf(kNumParams, config_.width, config_.flow_blocks, config_.made_hidden,
                                                config_.mixture_components));
  normalizer_buffers = register_module("normalizer", NormalizerBuffers(normalizer));
}

torch::Tensor PosteriorEstimatorImpl::context(const ObservationBatch& batch) {
  batch.validate(config_.n_filters);
  const auto& nb = *normalizer_buffers;
  auto mags = magnitude_features(batch.filter_ids, batch.magnitudes, batch.mask, nb.mag_mean, nb.mag_std);
  auto errs = error_features(batch.errors, batch.mask, nb.error_log_mean, nb.error_log_scale);
  const bool with_parallax = config_.parallax_token && batch.parallax.defined();
  const bool with_av = config_.av_prior_token && batch.av_prior.defined();
  if (!with_parallax && !with_av) return encoder->forward(batch.filter_ids, mags, errs, batch.mask);
  // Star tokens as more slots, each with its own embedding row (model/star_tokens.hpp).
  std::vector<torch::Tensor> ids{batch.filter_ids}, mag_cols{mags}, err_cols{errs}, mask_cols{batch.mask};
  auto add = [&](const torch::Tensor& magnitude, const torch::Tensor& error, const torch::Tensor& present, int row) {
    auto p = present.unsqueeze(1);
    ids.push_back(torch::full_like(p, row, batch.filter_ids.options()));
    mag_cols.push_back(magnitude.unsqueeze(1).to(mags.scalar_type()));
    err_cols.push_back(
        error_features(error.unsqueeze(1), p, nb.error_log_mean, nb.error_log_scale).to(errs.scalar_type()));
    mask_cols.push_back(p);
  };
  if (with_parallax) {
    auto t = parallax_token_features(batch.magnitudes, batch.mask, batch.parallax, batch.parallax_err);
    add(t.magnitude, t.error, t.present, config_.parallax_row());
  }
  if (with_av) {
    auto t = av_token_features(batch.av_prior, batch.av_prior_err);
    add(t.magnitude, t.error, t.present & batch.mask.any(/*dim=*/1), config_.av_prior_row());
  }
  return encoder->forward(torch::cat(ids, /*dim=*/1), torch::cat(mag_cols, /*dim=*/1), torch::cat(err_cols, /*dim=*/1),
                          torch::cat(mask_cols, /*dim=*/1));
}

torch::Tensor PosteriorEstimatorImpl::log_prob(const torch::Tensor& theta_physical, const torch::Tensor& ctx) {
  if (!(theta_physical.dim() == 2 || theta_physical.dim() == 3) || theta_physical.size(-1) != kNumParams ||
      theta_physical.size(0) != ctx.size(0)) {
    fail_input("log_prob: theta has shape {}, expected (B, {}) or (B, n, {}) with B = {} (the context rows)",
               shape_string(theta_physical), kNumParams, kNumParams, ctx.size(0));
  }
  const auto& nb = *normalizer_buffers;
  auto support = physical_support(theta_physical);
  auto z = physical_to_z(theta_physical, nb.param_mean, nb.param_std);
  // Keep non-physical rows away from the network (NaN would poison gradients).
  z = torch::where(support.unsqueeze(-1), z, torch::zeros({}, z.options()));
  auto lp = flow->log_prob(z.to(ctx.scalar_type()), ctx).to(torch::kFloat64) +
            log_abs_det_dz_dtheta(theta_physical, nb.param_std);
  return torch::where(support, lp, torch::full({}, -std::numeric_limits<double>::infinity(), lp.options()));
}

torch::Tensor PosteriorEstimatorImpl::loss(const ObservationBatch& batch, const torch::Tensor& theta_physical) {
  return -log_prob(theta_physical, context(batch)).mean();
}

SampleResult PosteriorEstimatorImpl::sample(const torch::Tensor& ctx, const torch::Tensor& base_normal,
                                            const torch::Tensor& component_uniform) {
  torch::NoGradGuard no_grad;
  auto [z, lp_z] = flow->sample(ctx, base_normal, component_uniform);
  const auto& nb = *normalizer_buffers;
  auto theta = z_to_physical(z, nb.param_mean, nb.param_std);
  auto lp = lp_z.to(torch::kFloat64) + log_abs_det_dz_dtheta(theta, nb.param_std);
  return {theta, lp};
}

std::vector<std::pair<std::string, torch::Tensor>> PosteriorEstimatorImpl::named_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& item : named_parameters(/*recurse=*/true)) state.emplace_back(item.key(), item.value().detach());
  for (const auto& item : named_buffers(/*recurse=*/true)) state.emplace_back(item.key(), item.value().detach());
  state.emplace_back("rng.dropout", torch::tensor({static_cast<int64_t>(encoder->dropout_seed()),
                                                   static_cast<int64_t>(encoder->dropout_counter())},
                                                  torch::kInt64));
  return state;
}

void PosteriorEstimatorImpl::load_named_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  const auto current = named_state();
  std::map<std::string, torch::Tensor> given;
  std::vector<std::string> problems;
  for (const auto& [name, tensor] : state) {
    if (!given.emplace(name, tensor).second) problems.push_back(fmt::format("'{}' given twice", name));
  }
  for (const auto& [name, tensor] : current) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(fmt::format("'{}' missing", name));
      continue;
    }
    if (!it->second.defined() || it->second.sizes() != tensor.sizes()) {
      problems.push_back(
          fmt::format("'{}' has shape {}, expected {}", name, shape_string(it->second), shape_string(tensor)));
    }
    given.erase(it);
  }
  for (const auto& entry : given) problems.push_back(fmt::format("'{}' unexpected", entry.first));
  if (!problems.empty()) {
    fail_input("model state does not match this model ({}): {}", config_.describe(), fmt::join(problems, "; "));
  }
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  for (const auto& [name, tensor] : current) {
    if (name == "rng.dropout") {
      auto v = by_name.at(name).to(torch::kCPU, torch::kInt64).contiguous();
      encoder->set_dropout_seed(static_cast<std::uint64_t>(v.data_ptr<int64_t>()[0]));
      encoder->set_dropout_counter(static_cast<std::uint64_t>(v.data_ptr<int64_t>()[1]));
      continue;
    }
    tensor.copy_(by_name.at(name));  // detached view shares storage with the live tensor
  }
}

}  // namespace irisml::model
