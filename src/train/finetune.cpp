#include "train/finetune.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/posterior.hpp"

namespace irisml::train {

namespace {

int index_of(const std::vector<std::string>& list, const std::string& name) {
  auto it = std::find(list.begin(), list.end(), name);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

// "name=value" lines of a prior, sorted by name (attribute order is the file's).
std::vector<std::string> prior_lines(const std::vector<std::pair<std::string, double>>& prior) {
  std::vector<std::string> out;
  for (const auto& [k, v] : prior) out.push_back(fmt::format("{}={}", k, v));
  std::sort(out.begin(), out.end());
  return out;
}

const torch::Tensor& state_tensor(const model::Checkpoint& c, const std::string& name, const std::string& path) {
  for (const auto& [key, value] : c.model_state)
    if (key == name) return value;
  fail_input("--init-from '{}': the checkpoint has no model tensor '{}'", path, name);
}

bool is_layer_norm(const std::string& name) {
  return name.find(".norm1.") != std::string::npos || name.find(".norm2.") != std::string::npos ||
         name.find("final_norm.") != std::string::npos;
}

}  // namespace

FinetuneInit plan_finetune(const FinetuneOptions& o, const std::vector<std::string>& run_filters,
                           const model::ModelConfig& run_config,
                           const std::vector<std::pair<std::string, double>>& data_prior,
                           const std::string& data_grid_checksum, const std::string& data_path) {
  FinetuneInit init;
  init.parent = model::load_checkpoint(o.init_from, /*with_optimizer=*/false);
  const model::Checkpoint& p = init.parent;
  init.run_filters = run_filters;

  std::vector<std::string> missing;
  for (const auto& name : p.filters)
    if (index_of(run_filters, name) < 0) missing.push_back(name);
  if (!missing.empty()) {
    fail_input(
        "--init-from '{}': the model knows filter(s) {} that this run's filter list (--data '{}', --filters) does "
        "not have; a fine-tune can only add bands, so the run's filters must include all of the model's: {}",
        o.init_from, fmt::join(missing, ", "), data_path, fmt::join(p.filters, ", "));
  }
  // A photometry-only parent may gain the parallax token (its row starts from the mean of
  // the parent's rows); a parent with one cannot lose it.
  const bool adds_parallax = run_config.parallax_token && !p.model_config.parallax_token;
  const bool adds_av = run_config.av_prior_token && !p.model_config.av_prior_token;
  if (run_filters.size() == p.filters.size() && !adds_parallax && !adds_av) {
    fail_input(
        "--init-from '{}': this run's filters are the model's own ({}); there is no new band to fine-tune for. "
        "Continue that run with --resume in its own --output-dir, or add bands with `irisml simulate add-filters`",
        o.init_from, fmt::join(p.filters, ", "));
  }
  model::ModelConfig parent_config = p.model_config;
  if (adds_parallax) parent_config.parallax_token = true;
  if (adds_av) parent_config.av_prior_token = true;
  auto diffs = model::model_differences(parent_config, run_config, p.filters, run_filters, /*compare_filters=*/false);
  if (!diffs.empty()) {
    fail_input(
        "--init-from '{}': the checkpoint's model has another shape than this run's [model] settings — {}. Use "
        "the [model] settings it was trained with (the same --config)",
        o.init_from, fmt::join(diffs, "; "));
  }
  if (!o.allow_prior_change) {
    std::vector<std::string> problems;
    const auto was = prior_lines(p.prior), now = prior_lines(data_prior);
    if (!was.empty() && was != now) {
      problems.push_back(
          fmt::format("prior [{}] (checkpoint) vs [{}] (--data)", fmt::join(was, " "), fmt::join(now, " ")));
    }
    if (!p.grid_checksum.empty() && !data_grid_checksum.empty() && p.grid_checksum != data_grid_checksum) {
      problems.push_back(
          fmt::format("grid checksum {} (checkpoint) vs {} (--data)", p.grid_checksum, data_grid_checksum));
    }
    if (!problems.empty()) {
      fail_input(
          "--init-from '{}': --data '{}' was simulated from another prior or grid than the model's training set: "
          "{}. The fine-tuned model would approximate another posterior; pass --allow-prior-change if that is "
          "intended",
          o.init_from, data_path, fmt::join(problems, "; "));
    }
    if (was.empty()) log::warn("--init-from '{}': the checkpoint records no prior; it cannot be compared", o.init_from);
  }

  // Rows: parent bands by name; a new band from the parent band nearest in ln(pivot).
  std::vector<int> all_parent_rows(p.filters.size());
  for (std::size_t i = 0; i < all_parent_rows.size(); ++i) all_parent_rows[i] = static_cast<int>(i);
  std::vector<std::string> init_text;
  for (const auto& name : run_filters) {
    const int row = index_of(p.filters, name);
    init.parent_row.push_back(row);
    if (row >= 0) {
      init.init_rows.push_back({row});
      continue;
    }
    init.lineage.filters_added.push_back(name);
    auto pivot = o.pivot_wavelengths.find(name);
    int nearest = -1;
    double best = std::numeric_limits<double>::infinity();
    if (pivot != o.pivot_wavelengths.end()) {
      for (std::size_t k = 0; k < p.filters.size(); ++k) {
        auto other = o.pivot_wavelengths.find(p.filters[k]);
        if (other == o.pivot_wavelengths.end()) continue;
        const double d = std::fabs(std::log(pivot->second / other->second));
        if (d < best) {
          best = d;
          nearest = static_cast<int>(k);
        }
      }
    }
    if (nearest >= 0) {
      init.init_rows.push_back({nearest});
      init_text.push_back(name + "<-" + p.filters[static_cast<std::size_t>(nearest)]);
    } else {
      init.init_rows.push_back(all_parent_rows);
      init_text.push_back(name + "<-mean");
    }
  }
  // Token rows follow the bands: the parallax's, then the A_V prior's; the parent's own
  // token rows keep their trained values, a new one starts from the mean of its bands.
  const int parent_bands = static_cast<int>(p.filters.size());
  auto token_row = [&](bool in_run, bool in_parent, int parent_index, const char* name) {
    if (!in_run) return;
    if (in_parent) {
      init.init_rows.push_back({parent_index});
      return;
    }
    init.init_rows.push_back(std::vector<int>(all_parent_rows.begin(), all_parent_rows.begin() + parent_bands));
    init.lineage.filters_added.push_back(name);
    init_text.push_back(std::string(name) + "<-mean");
  };
  token_row(run_config.parallax_token, p.model_config.parallax_token, p.model_config.parallax_row(),
            kParallaxTokenName);
  token_row(run_config.av_prior_token, p.model_config.av_prior_token, p.model_config.av_prior_row(), kAvTokenName);
  init.lineage.parent = o.init_from;
  init.lineage.parent_checksum = model::model_checksum(p.model_state);
  init.lineage.parent_step = p.step;
  init.lineage.embedding_init = fmt::format("{}", fmt::join(init_text, ","));
  init.lineage.freeze_steps = o.freeze_steps;
  init.lineage.freeze_train_norms = o.freeze_train_norms;
  return init;
}

model::Normalizer finetune_normalizer(const FinetuneInit& init, const TrainingTable& data, std::int64_t n_train,
                                      MPI_Comm comm) {
  const auto rows = ordered_rows(data, n_train, comm);
  const std::string& path = init.lineage.parent;
  auto parent_stats = [&](const char* name) {
    auto t = state_tensor(init.parent, std::string("normalizer.") + name, path);
    return t.to(torch::kFloat64).contiguous();
  };
  auto pmean = parent_stats("mag_mean"), pstd = parent_stats("mag_std");
  const int nf = data.n_filters();
  std::vector<double> mean(static_cast<std::size_t>(nf)), stdev(static_cast<std::size_t>(nf));
  std::vector<int> old_cols;
  for (int f = 0; f < nf; ++f)
    if (init.parent_row[static_cast<std::size_t>(f)] >= 0) old_cols.push_back(f);
  for (int f = 0; f < nf; ++f) {
    const int row = init.parent_row[static_cast<std::size_t>(f)];
    if (row >= 0) {
      mean[static_cast<std::size_t>(f)] = pmean[row].item<double>();
      stdev[static_cast<std::size_t>(f)] = pstd[row].item<double>();
      continue;
    }
    // Two ordered passes over the training rows: mean, then spread, of m_f − centre(parent bands).
    auto centred = [&](const float* m, double* out) {
      if (!std::isfinite(m[f])) return false;
      double s = 0.0;
      int k = 0;
      for (int c : old_cols) {
        if (std::isfinite(m[c])) {
          s += m[c];
          ++k;
        }
      }
      if (k == 0) return false;
      *out = m[f] - s / k;
      return true;
    };
    std::vector<double> sum{0.0, 0.0};  // sum, count
    rows(sum, [&](std::vector<double>& acc, std::int64_t, const float* m, const double*) {
      double x = 0.0;
      if (centred(m, &x)) {
        acc[0] += x;
        acc[1] += 1.0;
      }
    });
    const double count = sum[1];
    if (count < 2) {
      fail_input("--data '{}': filter {} has {} finite training magnitudes next to the model's bands (need >= 2)",
                 data.path, data.filters[static_cast<std::size_t>(f)], static_cast<std::int64_t>(count));
    }
    const double mu = sum[0] / count;
    std::vector<double> sq{0.0};
    rows(sq, [&](std::vector<double>& acc, std::int64_t, const float* m, const double*) {
      double x = 0.0;
      if (centred(m, &x)) acc[0] += (x - mu) * (x - mu);
    });
    const double sd = std::sqrt(sq[0] / (count - 1.0));
    if (!(sd > 1e-9)) {
      fail_input("--data '{}': the centred magnitudes of filter {} have zero spread", data.path,
                 data.filters[static_cast<std::size_t>(f)]);
    }
    mean[static_cast<std::size_t>(f)] = mu;
    stdev[static_cast<std::size_t>(f)] = sd;
  }
  model::NamedTensors tensors;
  auto vec = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64).to(torch::kFloat32); };
  tensors.emplace_back("mag_mean", vec(mean));
  tensors.emplace_back("mag_std", vec(stdev));
  for (const char* name : {"error_log_mean", "error_log_scale", "param_mean", "param_std"})
    tensors.emplace_back(name, state_tensor(init.parent, std::string("normalizer.") + name, path));
  return model::Normalizer::from_named_tensors(tensors);
}

void load_finetune_state(model::PosteriorEstimatorImpl& model, const FinetuneInit& init) {
  const std::string& path = init.lineage.parent;
  auto state = model.named_state();
  for (auto& [name, tensor] : state) {
    if (name.rfind("normalizer.", 0) == 0 || name == "rng.dropout") continue;  // as built for this run
    const torch::Tensor& parent = state_tensor(init.parent, name, path);
    if (name != kFilterEmbeddingName) {
      tensor = parent;
      continue;
    }
    auto rows = parent.to(torch::kFloat32);
    std::vector<torch::Tensor> out;
    for (const auto& sources : init.init_rows) {
      auto idx = torch::tensor(std::vector<std::int64_t>(sources.begin(), sources.end()), torch::kInt64);
      out.push_back(rows.index_select(0, idx).mean(0));
    }
    tensor = torch::stack(out).to(tensor.dtype());
  }
  model.load_named_state(state);
}

std::vector<std::string> frozen_parameter_names(const model::PosteriorEstimatorImpl& model, bool train_norms) {
  std::vector<std::string> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (item.key() == kFilterEmbeddingName) continue;
    if (train_norms && is_layer_norm(item.key())) continue;
    out.push_back(item.key());
  }
  return out;
}

std::vector<std::int64_t> parent_rows_in_run(const model::Lineage& lineage,
                                             const std::vector<std::string>& run_filters) {
  std::vector<std::int64_t> rows;
  for (std::size_t f = 0; f < run_filters.size(); ++f) {
    if (std::find(lineage.filters_added.begin(), lineage.filters_added.end(), run_filters[f]) ==
        lineage.filters_added.end())
      rows.push_back(static_cast<std::int64_t>(f));
  }
  return rows;
}

}  // namespace irisml::train
