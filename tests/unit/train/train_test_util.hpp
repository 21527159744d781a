// Helpers for the training tests: tiny training-set files and tiny models.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/rng.hpp"
#include "io/hdf5.hpp"
#include "model/config.hpp"
#include "train/trainer.hpp"

namespace irisml::train::test_util {

inline std::vector<std::string> test_filters(int n) {
  std::vector<std::string> names;
  for (int j = 0; j < n; ++j) names.push_back("F" + std::to_string(j));
  return names;
}

// A training set in the format of docs/training_set_format.md: random parameters
// from roughly the training prior, and magnitudes that depend smoothly on them
// (so the loss can go down), written serially; with `mass_windows`, also an
// /isochrone_mass dataset as an isochrone-prior set has (weights and windows varied).
inline void write_training_set(const std::string& path, std::int64_t n, int n_filters, std::uint64_t seed = 7,
                               bool mass_windows = false) {
  std::vector<double> params(static_cast<std::size_t>(n * 5));
  std::vector<float> mags(static_cast<std::size_t>(n * n_filters));
  for (std::int64_t i = 0; i < n; ++i) {
    Philox rng(seed, static_cast<std::uint64_t>(i));
    const double log_teff = rng.uniform(3.5, 4.2);
    double* p = &params[static_cast<std::size_t>(i * 5)];
    p[0] = std::pow(10.0, log_teff);
    p[1] = rng.uniform(0.5, 5.0);
    p[2] = rng.normal(-0.1, 0.3);
    p[3] = 0.003 + rng.exponential(1.5);
    p[4] = rng.normal(3.13, 0.18);
    const double distance_modulus = rng.uniform(5.0, 12.0);
    for (int j = 0; j < n_filters; ++j) {
      const double x = static_cast<double>(j) / std::max(1, n_filters - 1);  // "wavelength" 0..1
      mags[static_cast<std::size_t>(i * n_filters + j)] =
          static_cast<float>(distance_modulus + 4.0 * (3.8 - log_teff) * (1.0 - x) + p[3] * (1.5 - x) * (p[4] / 3.1) +
                             0.1 * p[2] * (1.0 - x) + 0.05 * (p[1] - 3.0) * x * x);
    }
  }
  auto f = h5::File::create(path);
  f.write<double>("/parameters", params, {static_cast<std::uint64_t>(n), 5});
  f.write<float>("/magnitudes", mags, {static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(n_filters)});
  f.write_strings("/filters", test_filters(n_filters));
  if (mass_windows) {
    std::vector<float> windows(static_cast<std::size_t>(n * 3));
    for (std::int64_t i = 0; i < n; ++i) {
      float* w = &windows[static_cast<std::size_t>(i * 3)];
      w[0] = static_cast<float>(i % 4) / 3.0f;              // weights 0, 1/3, 2/3, 1
      w[1] = -1.0f + 0.001f * static_cast<float>(i % 700);  // log10 M from 0.1 M_sun up
      w[2] = w[1] + 0.1f;
    }
    f.write<float>("/isochrone_mass", windows, {static_cast<std::uint64_t>(n), 3});
  }
  f.set_attr("/", "format", std::string("irisml-training-set"));
  f.close();
}

inline model::ModelConfig tiny_model(double dropout = 0.0) {
  model::ModelConfig c;
  c.width = 16;
  c.layers = 1;
  c.ffn = 32;
  c.heads = 2;
  c.dropout = dropout;
  c.flow_blocks = 2;
  c.made_hidden = {16, 16};
  c.mixture_components = 2;
  return c;
}

inline TrainOptions tiny_options(const std::string& data, const std::string& output_dir) {
  TrainOptions o;
  o.data = data;
  o.output_dir = output_dir;
  o.model = tiny_model();
  o.noise.bands_min = 3;
  o.epochs = 2;
  o.batch_size = 64;
  o.lr = 1e-3;
  o.min_lr = 1e-5;
  o.warmup_steps = 3;
  o.validation_fraction = 0.1;
  o.checkpoint_every = 0;
  o.log_every = 1000;
  o.backend = "auto";
  o.seed = 11;
  return o;
}

// A fresh directory under $TMPDIR (or /tmp).
inline std::string make_temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/irisml_" + tag + "_XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data())) return {};
  return buffer.data();
}

// Largest per-tensor relative difference ||a - b|| / max(||a||, tiny) over matching
// floating-point tensors; +inf if names or shapes differ.
inline double max_relative_difference(const std::vector<std::pair<std::string, torch::Tensor>>& a,
                                      const std::vector<std::pair<std::string, torch::Tensor>>& b,
                                      std::string* worst = nullptr) {
  if (a.size() != b.size()) return INFINITY;
  double out = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.sizes() != b[i].second.sizes()) return INFINITY;
    if (!a[i].second.is_floating_point()) continue;
    auto x = a[i].second.to(torch::kFloat64), y = b[i].second.to(torch::kFloat64);
    const double rel = (x - y).norm().item<double>() / std::max(x.norm().item<double>(), 1e-30);
    if (rel > out) {
      out = rel;
      if (worst) *worst = a[i].first;
    }
  }
  return out;
}

}  // namespace irisml::train::test_util
