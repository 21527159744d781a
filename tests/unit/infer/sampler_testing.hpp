// Shared fixtures of the sampler tests: a tiny random-weight model, a tiny
// catalogue written to disk, a small synthetic spectral grid.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/rng.hpp"
#include "io/catalog.hpp"
#include "io/fits.hpp"
#include "infer/posterior_sampler.hpp"
#include "io/hdf5.hpp"
#include "model/checkpoint.hpp"
#include "model/config.hpp"
#include "model/normalizer.hpp"
#include "model/posterior.hpp"
#include "simulate/grid.hpp"
#include "../model/test_util.hpp"
#include "test_support.hpp"

namespace irisml::infer::testing {

inline const std::vector<std::string>& model_filters() {
  static const std::vector<std::string> names{"SDSS_g", "SDSS_r", "SDSS_i", "SDSS_z", "2MASS_J", "2MASS_H"};
  return names;
}

// A job writing `output` with the test model's filters; `model_path` is the label the
// output and its resume key record.
inline SampleJob job_for(const std::string& output, const std::string& model_path) {
  SampleJob job;
  job.output = output;
  job.model_path = model_path;
  job.model_filters = model_filters();
  return job;
}

inline KnownFilters known_filters() {
  KnownFilters known;
  for (const auto& f : model_filters()) known.emplace_back(f, 0.0);
  known.emplace_back("WISE_W1", 0.0);  // known to the registry, not to the model
  return known;
}

inline model::ModelConfig tiny_config() {
  return model::testing::small_config(static_cast<int>(model_filters().size()));
}

// Normaliser with plausible parameter statistics: u = (log10 Teff, log g, [M/H],
// softplus⁻¹ A_V, R_V) ~ mean ± std.
inline model::Normalizer tiny_normalizer(const std::vector<double>& param_mean = {3.74, 4.0, -0.3, 0.5, 3.1},
                                         const std::vector<double>& param_std = {0.08, 0.5, 0.4, 0.5, 0.2}) {
  const auto F = static_cast<std::int64_t>(model_filters().size());
  model::NamedTensors t;
  t.emplace_back("mag_mean", torch::zeros({F}, torch::kFloat32));
  t.emplace_back("mag_std", torch::full({F}, 0.5f, torch::kFloat32));
  t.emplace_back("error_log_mean", torch::full({1}, -3.5f, torch::kFloat32));
  t.emplace_back("error_log_scale", torch::full({1}, 1.0f, torch::kFloat32));
  t.emplace_back("param_mean", torch::tensor(param_mean, torch::kFloat64));
  t.emplace_back("param_std", torch::tensor(param_std, torch::kFloat64));
  return model::Normalizer::from_named_tensors(t);
}

// A random-weight model, identical on every process for the same seed.
inline model::PosteriorEstimator tiny_model(std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  model::PosteriorEstimator m(tiny_config(), tiny_normalizer());
  m->eval();
  return m;
}

// A model whose posterior is N(θ*, tiny) for every input: flow weights zero (identity
// blocks, a standard-normal base), θ* = the normaliser mean, spread = its std.
inline model::PosteriorEstimator point_model(const std::vector<double>& u_star) {
  torch::manual_seed(3);
  model::PosteriorEstimator m(tiny_config(), tiny_normalizer(u_star, {1e-5, 1e-5, 1e-5, 1e-5, 1e-5}));
  torch::NoGradGuard no_grad;
  for (auto& p : m->flow->named_parameters(/*recurse=*/true)) p.value().zero_();
  m->eval();
  return m;
}

// Writes `m` as a checkpoint (model::save_checkpoint) for the sampler and command-line
// tests. `noise`: the training observation model as ("noise.bands_min", "3"), ... root
// attributes.
inline void write_checkpoint(const std::string& path, model::PosteriorEstimator m, const std::string& train_config,
                             const std::vector<std::pair<std::string, std::string>>& noise = {}) {
  model::Checkpoint c;
  c.seed = 1;
  c.train_config = train_config;
  c.noise = noise;
  c.model_config = m->config();
  c.filters = model_filters();
  c.model_state = m->named_state();
  model::save_checkpoint(path, c);
}

// A tiny catalogue: row-major rows × model_filters() magnitudes/errors (NaN = absent).
struct TinyCatalog {
  std::vector<std::string> filters = model_filters();
  std::vector<double> mag, err;
  std::vector<std::string> id;
  std::size_t rows() const { return id.size(); }
};

// `rows` stars with 0 … 6 bands (mostly 3 … 6), smooth SED-like magnitudes, errors 0.01 … 0.1.
inline TinyCatalog make_catalog(std::size_t rows, std::uint64_t seed = 5) {
  TinyCatalog c;
  const std::size_t F = c.filters.size();
  c.mag.assign(rows * F, std::numeric_limits<double>::quiet_NaN());
  c.err = c.mag;
  for (std::size_t r = 0; r < rows; ++r) {
    Philox rng(seed, r);
    const std::size_t k = r % 11 == 3 ? 0 : r % 11 == 7 ? 2 : 3 + static_cast<std::size_t>(rng.uniform() * 4);
    const double base = 14.0 + 3.0 * rng.uniform(), slope = -0.3 + 0.6 * rng.uniform();
    std::vector<std::size_t> order(F);
    for (std::size_t i = 0; i < F; ++i) order[i] = i;
    for (std::size_t i = F - 1; i > 0; --i)
      std::swap(order[i], order[static_cast<std::size_t>(rng.uniform() * (i + 1))]);
    for (std::size_t i = 0; i < std::min(k, F); ++i) {
      const std::size_t f = order[i];
      c.mag[r * F + f] = base + slope * static_cast<double>(f) + 0.05 * rng.normal();
      c.err[r * F + f] = 0.01 + 0.09 * rng.uniform();
    }
    c.id.push_back("star-" + std::to_string(1000 + r * 7));
  }
  return c;
}

// Writes the catalogue as HDF5 (one 1-D dataset per column, /id as strings).
inline void write_hdf5_catalog(const std::string& path, const TinyCatalog& c) {
  auto f = h5::File::create(path);
  const std::size_t F = c.filters.size(), N = c.rows();
  for (std::size_t j = 0; j < F; ++j) {
    std::vector<double> m(N), e(N);
    for (std::size_t r = 0; r < N; ++r) {
      m[r] = c.mag[r * F + j];
      e[r] = c.err[r * F + j];
    }
    f.write<double>(c.filters[j], m, {N});
    f.write<double>(c.filters[j] + "_err", e, {N});
  }
  f.write_strings("/id", c.id);
  f.close();
}

// Writes the catalogue as a FITS binary table (upper-case column names, as FITS
// tools write them; NaN = absent).
inline void write_fits_catalog(const std::string& path, const TinyCatalog& c) {
  auto f = fits::File::create(path);
  const std::size_t F = c.filters.size(), N = c.rows();
  std::vector<fits::ColumnSpec> columns{{"ID", "16A", ""}};
  auto upper = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  };
  for (const auto& name : c.filters) {
    columns.push_back({upper(name), "1D", "mag"});
    columns.push_back({upper(name + "_err"), "1D", "mag"});
  }
  f.create_table("CATALOG", columns, static_cast<std::int64_t>(N));
  f.write_column("ID", c.id);
  for (std::size_t j = 0; j < F; ++j) {
    std::vector<double> m(N), e(N);
    for (std::size_t r = 0; r < N; ++r) {
      m[r] = c.mag[r * F + j];
      e[r] = c.err[r * F + j];
    }
    f.write_column(upper(c.filters[j]), m);
    f.write_column(upper(c.filters[j] + "_err"), e);
  }
  f.close();
}

// Writes the catalogue as CSV (empty field = absent).
inline void write_csv_catalog(const std::string& path, const TinyCatalog& c,
                              const std::vector<std::string>& extra_filters = {}) {
  std::ofstream out(path);
  const std::size_t F = c.filters.size();
  out << "id";
  for (const auto& f : c.filters) out << "," << f << "," << f << "_err";
  for (const auto& f : extra_filters) out << "," << f << "," << f << "_err";
  out << "\n";
  out.precision(9);
  for (std::size_t r = 0; r < c.rows(); ++r) {
    out << c.id[r];
    for (std::size_t j = 0; j < F; ++j) {
      const double m = c.mag[r * F + j];
      out << ",";
      if (std::isfinite(m)) out << m;
      out << ",";
      if (std::isfinite(m)) out << c.err[r * F + j];
    }
    for (std::size_t j = 0; j < extra_filters.size(); ++j) out << ",15.0,0.02";
    out << "\n";
  }
}

using irisml::test_support::read_bytes;

// A small synthetic grid: Planck spectra (with a gentle log g / [M/H] tilt) on a
// Teff 4000…7000 K × log g 3…5 × [M/H] −1…0 lattice; the node (7000 K, log g 3)
// is missing at every [M/H] (a ragged corner, like the hot low-gravity corner of CK04).
inline std::shared_ptr<const simulate::SpectralGrid> synthetic_grid() {
  auto g = std::make_shared<simulate::SpectralGrid>();
  g->teff = {4000, 5000, 6000, 7000};
  g->logg = {3.0, 4.0, 5.0};
  g->mh = {-1.0, 0.0};
  for (int i = 0; i < 700; ++i) g->wavelength.push_back(900.0 * std::pow(10.0, i * (2.6 / 699.0)));
  const std::size_t W = g->wavelength.size();
  g->flux.assign(g->n_nodes() * W, 0.0f);
  g->valid.assign(g->n_nodes(), 1);
  for (std::size_t m = 0; m < g->mh.size(); ++m) {
    for (std::size_t t = 0; t < g->teff.size(); ++t) {
      for (std::size_t l = 0; l < g->logg.size(); ++l) {
        if (t == 3 && l == 0) {
          g->valid[g->node_index(m, t, l)] = 0;
          continue;
        }
        float* f = g->flux.data() + g->node_index(m, t, l) * W;
        for (std::size_t w = 0; w < W; ++w) {
          const double lam_cm = g->wavelength[w] * 1e-8;
          const double x = 1.4387769 / (lam_cm * g->teff[t]);
          const double planck = 3.7417718e-5 / std::pow(lam_cm, 5) / std::expm1(std::min(x, 700.0)) * 1e-8;
          const double tilt = 1.0 + 0.05 * g->mh[m] * std::log10(g->wavelength[w] / 5000.0) +
                              0.02 * (g->logg[l] - 4.0) * std::log10(g->wavelength[w] / 5000.0);
          f[w] = static_cast<float>(3.14159265 * planck * tilt);
        }
      }
    }
  }
  g->source = "synthetic test grid";
  g->checksum = g->compute_checksum();
  return g;
}

}  // namespace irisml::infer::testing
