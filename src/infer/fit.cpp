#include "infer/fit.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <thread>

#include "infer/physical.hpp"
#include "posterior/summary.hpp"

namespace irisml::infer {

namespace {
enum FitColumn { kEss, kRounds, kEvaluations, kPhysical };
constexpr int D = posterior::kParameters;
}  // namespace

FitProcessor::FitProcessor(const ReferenceFitter& fitter, const SamplerSettings& settings)
    : fitter_(&fitter), settings_(settings) {
  settings_.validate();
}

std::vector<ExtraColumn> FitProcessor::extra_columns() const {
  std::vector<ExtraColumn> c = {{"/reference/ess", {}}, {"/reference/rounds", {}}, {"/reference/evaluations", {}}};
  if (settings_.physical) {
    for (auto& p : physical_columns(fitter_->posterior().prior().isochrone())) c.push_back(std::move(p));
  }
  return c;
}

std::string FitProcessor::describe() const {
  const auto& r = fitter_->settings();
  return fmt::format(
             "reference proposals={} max_rounds={} target_ess={} min_ess={} coarse_sigma={} "
             "defensive_prior={} defensive={} components={} steps={},{},{} rv_boxes={} "
             "bands_min={} sigma_sys={} input_error_min={}",
             r.proposals, r.max_rounds, r.target_ess, r.min_ess, r.coarse_sigma, r.defensive_prior, r.defensive,
             r.components, r.step_log_teff, r.step_logg, r.step_mh, r.rv_boxes, settings_.bands_min,
             settings_.sigma_sys, settings_.input_error_min) +
         (settings_.calibrated() ? " " + settings_.calibration : std::string());
}

std::vector<std::pair<std::string, std::string>> FitProcessor::attributes() const {
  std::vector<std::pair<std::string, std::string>> a = {
      {"reference", "adaptive importance sampling of prior x likelihood (docs/reference_posterior.md)"},
      {"reference_settings", describe()},
      {"reference_min_ess", fmt::format("{}", fitter_->settings().min_ess)},
      {"likelihood_sigma_sys", fmt::format("{}", settings_.sigma_sys)}};
  if (settings_.calibrated()) a.push_back({"calibration", settings_.calibration});
  return a;
}

void FitProcessor::run(const StarBlock& block, BlockResult& out) {
  const int S = settings_.samples;
  const std::size_t R = block.rows;
  const int C = block.n_columns;
  out.reset(R, S, settings_.keep_samples, extra_columns());
  const int min_bands = std::max(settings_.bands_min, 2);

  std::atomic<std::size_t> next{0};
  auto work = [&]() {
    simulate::ObservedStar star;
    std::vector<posterior::WeightedValue> weighted;
    PhysicalScratch physical;
    for (std::size_t r = next++; r < R; r = next++) {
      star.clear();
      for (int j = 0; j < C; ++j) {
        if (block.usable(r, j)) {
          const int f = block.column_filter[static_cast<std::size_t>(j)];
          star.add(f, block.mag[r * C + j] - settings_.magnitude_offset(f),
                   training_error(block.err[r * C + j], settings_.input_error_min, out.flags[r]),
                   settings_.likelihood_sigma_sys(f));
        }
      }
      apply_constraints(block, r, fitter_->posterior(), star);
      out.n_bands[r] = star.size();
      if (star.size() < min_bands) {
        out.flags[r] |= kFlagTooFewBands;
        continue;
      }
      const ReferenceResult res = fitter_->fit(star, settings_.seed, block.row0 + r);
      evaluations_ += res.evaluations;
      out.extra[kEss][r] = static_cast<float>(res.ess);
      out.extra[kRounds][r] = static_cast<float>(res.rounds);
      out.extra[kEvaluations][r] = static_cast<float>(res.evaluations);
      if (res.ess < fitter_->settings().min_ess) out.flags[r] |= kFlagLowEss;
      if (res.ess <= 0.0) continue;
      const std::size_t n = res.log_w.size();
      for (int p = 0; p < D; ++p) {
        out.set_summary(r, p, posterior::summarize_weighted(res.theta.data(), D, p, res.log_w.data(), n, weighted));
      }
      if (settings_.keep_samples) {
        resample_draws(res.theta.data(), res.log_w.data(), n, S, settings_.seed, block.row0 + r,
                       out.samples.data() + r * S * D);
      }
      if (settings_.physical) {
        physical_summary(fitter_->posterior(), star, res.theta.data(), res.mu_hat.data(), res.log_w.data(), n,
                         settings_.seed, block.row0 + r, out, kPhysical, r, physical);
      }
    }
  };
  const int workers = std::max(1, settings_.workers);
  if (workers == 1) {
    work();
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      try {
        work();
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace irisml::infer
