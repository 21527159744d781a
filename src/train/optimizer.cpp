#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"

namespace irisml::train {

Adam::Adam(const NamedTensors& parameters, AdamOptions options) : options_(options) {
  if (!(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1) || !(options.eps > 0) ||
      !(options.weight_decay >= 0)) {
    fail_input("Adam: beta1={} beta2={} must lie in [0, 1), eps={} must be > 0, weight_decay={} must be >= 0",
               options.beta1, options.beta2, options.eps, options.weight_decay);
  }
  for (const auto& [name, p] : parameters) {
    if (!p.requires_grad()) continue;
    slots_.push_back({name, p, torch::zeros_like(p, torch::MemoryFormat::Contiguous),
                      torch::zeros_like(p, torch::MemoryFormat::Contiguous)});
  }
}

void Adam::zero_grad() {
  for (auto& s : slots_) {
    auto& g = s.param.mutable_grad();
    if (g.defined()) {
      g = g.detach();
      g.zero_();
    }
  }
}

void Adam::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  for (auto& s : slots_) {
    const auto& g = s.param.grad();
    if (!g.defined() || s.frozen) continue;
    ++s.steps;
    const double bias1 = 1.0 - std::pow(b1, static_cast<double>(s.steps));
    const double bias2 = 1.0 - std::pow(b2, static_cast<double>(s.steps));
    const double step_size = lr / bias1;
    const double inv_sqrt_bias2 = 1.0 / std::sqrt(bias2);
    if (options_.weight_decay > 0) s.param.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.mul_(b1).add_(g, 1.0 - b1);
    s.exp_avg_sq.mul_(b2).addcmul_(g, g, 1.0 - b2);
    auto denom = s.exp_avg_sq.sqrt().mul_(inv_sqrt_bias2).add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -step_size);
  }
}

void Adam::set_frozen(const std::vector<std::string>& names) {
  for (auto& s : slots_) s.frozen = std::find(names.begin(), names.end(), s.name) != names.end();
}

void Adam::reset_state(const std::string& name) {
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) {
    if (s.name != name) continue;
    s.exp_avg.zero_();
    s.exp_avg_sq.zero_();
    s.steps = 0;
  }
}

NamedTensors Adam::state() const {
  NamedTensors out;
  out.reserve(2 * slots_.size() + 1);
  for (const auto& s : slots_) out.emplace_back("exp_avg/" + s.name, s.exp_avg.detach());
  for (const auto& s : slots_) out.emplace_back("exp_avg_sq/" + s.name, s.exp_avg_sq.detach());
  out.emplace_back("step", torch::tensor({steps_}, torch::kInt64));
  for (const auto& s : slots_) {
    if (s.steps != steps_) out.emplace_back("param_step/" + s.name, torch::tensor({s.steps}, torch::kInt64));
  }
  return out;
}

void Adam::load_state(const NamedTensors& state) {
  std::map<std::string, torch::Tensor> given(state.begin(), state.end());
  std::vector<std::string> problems;
  auto check = [&](const std::string& name, const torch::Tensor& expected) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(fmt::format("'{}' missing", name));
      return;
    }
    if (it->second.sizes() != expected.sizes()) {
      problems.push_back(fmt::format("'{}' has {} elements in shape {}, expected shape {}", name, it->second.numel(),
                                     fmt::join(it->second.sizes(), "x"), fmt::join(expected.sizes(), "x")));
    }
    given.erase(it);
  };
  for (const auto& s : slots_) check("exp_avg/" + s.name, s.exp_avg);
  for (const auto& s : slots_) check("exp_avg_sq/" + s.name, s.exp_avg_sq);
  check("step", torch::zeros({1}, torch::kInt64));
  for (const auto& s : slots_) {
    if (given.count("param_step/" + s.name)) check("param_step/" + s.name, torch::zeros({1}, torch::kInt64));
  }
  for (const auto& entry : given) problems.push_back(fmt::format("'{}' unexpected", entry.first));
  if (!problems.empty()) fail_input("optimizer state does not match the model: {}", fmt::join(problems, "; "));
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) {
    s.exp_avg.copy_(by_name.at("exp_avg/" + s.name));
    s.exp_avg_sq.copy_(by_name.at("exp_avg_sq/" + s.name));
  }
  auto count = [](const torch::Tensor& t) {
    return t.to(torch::kCPU, torch::kInt64).contiguous().data_ptr<std::int64_t>()[0];
  };
  steps_ = count(by_name.at("step"));
  for (auto& s : slots_) {
    auto it = by_name.find("param_step/" + s.name);
    s.steps = it == by_name.end() ? steps_ : count(it->second);
  }
}

double LrSchedule::at(std::int64_t step) const {
  if (step < 0) step = 0;
  if (warmup_steps > 0 && step < warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const std::int64_t decay_steps = total_steps - warmup_steps;
  if (decay_steps <= 0) return base_lr;
  double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps);
  if (progress > 1.0) progress = 1.0;
  constexpr double kPi = 3.14159265358979323846;
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(kPi * progress));
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters) {
    if (p.grad().defined()) norms.push_back(p.grad().norm().to(torch::kFloat64));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).pow(2).sum().sqrt().item<double>();
  if (max_norm > 0 && std::isfinite(total) && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (const auto& p : parameters) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace irisml::train
