#include "simulate/catalog_make.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/rng.hpp"
#include "simulate/survey.hpp"
#include "io/hdf5.hpp"

namespace irisml::simulate {

std::uint64_t catalog_noise_key(std::uint64_t seed) {
  // splitmix64 finaliser of (seed ^ "catmake1"): distinct from every raw seed in practice
  std::uint64_t z = seed ^ 0x6361746d616b6531ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

struct Source {
  std::uint64_t stars = 0;
  std::vector<std::string> filters;
  std::int64_t seed = -1;
};

Source inspect_training_set(const h5::File& in) {
  const std::string& path = in.path();
  if (in.has_attr("/", "format")) {
    std::string format = in.attr_string("/", "format");
    if (format != "irisml-training-set") {
      fail_input(
          "--from '{}' has format '{}', but catalog make needs a simulated set (format irisml-training-set, "
          "written by `irisml simulate`)",
          path, format);
    }
  }
  for (const char* name : {"parameters", "magnitudes", "filters"}) {
    if (!in.exists(name)) {
      fail_input(
          "--from '{}' is not a simulated set: dataset /{} is missing (expected /parameters, /magnitudes, "
          "/filters as written by `irisml simulate`)",
          path, name);
    }
  }
  Source s;
  s.filters = in.read_strings("filters");
  auto mdims = in.dims("magnitudes");
  auto pdims = in.dims("parameters");
  if (mdims.size() != 2 || mdims[1] != s.filters.size()) {
    fail_input("--from '{}': /magnitudes has shape [{}] but /filters lists {} filters", path, fmt::join(mdims, ","),
               s.filters.size());
  }
  if (pdims.size() != 2 || pdims[1] != 5 || pdims[0] != mdims[0]) {
    fail_input("--from '{}': /parameters has shape [{}], expected [{},5]", path, fmt::join(pdims, ","), mdims[0]);
  }
  s.stars = mdims[0];
  if (in.has_attr("/", "seed")) s.seed = in.attr_int("/", "seed");
  return s;
}

}  // namespace

CatalogMakeReport make_catalog(const CatalogMakeOptions& options, const KnownFilters& known_filters) {
  auto t0 = std::chrono::steady_clock::now();
  if (options.from.empty()) fail_input("--from is empty; give the simulated set (training-set HDF5)");
  if (!file_exists(options.from)) fail_input("--from '{}' does not exist", options.from);
  if (options.block_rows == 0) fail_input("block rows must be > 0");
  check_output_path(options.output, options.overwrite, "--output");
  check_outputs_not_inputs(options.output, "--output", {{options.from, "--from"}});

  h5::File in = h5::File::open(options.from);
  Source src = inspect_training_set(in);

  // Columns of /magnitudes to use, in the set's order unless --filters orders them.
  std::vector<std::size_t> columns;
  std::vector<std::string> names;
  const SurveyPattern* survey = options.survey.empty() ? nullptr : &survey_pattern(options.survey);
  if (survey) {
    if (!options.filters.empty()) fail_input("--survey and --filters exclude each other: the survey names its bands");
    if (!(options.error_scale >= 1.0) || !std::isfinite(options.error_scale)) {
      fail_input("--error-scale = {} must be a finite number >= 1 (the factor quoted errors are too small by)",
                 options.error_scale);
    }
    for (const auto& band : survey->bands) {
      auto it = std::find(src.filters.begin(), src.filters.end(), band.filter);
      if (it == src.filters.end()) {
        fail_input(
            "--survey {} needs filter {}, which '{}' does not hold; its filters: {} (add it with `irisml "
            "simulate add-filters`)",
            survey->name, band.filter, options.from, fmt::join(src.filters, ", "));
      }
      columns.push_back(static_cast<std::size_t>(it - src.filters.begin()));
      names.push_back(band.filter);
    }
  } else if (options.filters.empty()) {
    for (std::size_t j = 0; j < src.filters.size(); ++j) columns.push_back(j);
    names = src.filters;
  } else {
    for (const auto& f : options.filters) {
      auto it = std::find(src.filters.begin(), src.filters.end(), f);
      if (it == src.filters.end()) {
        fail_input("--filters: '{}' is not in the simulated set '{}'; its filters: {}", f, options.from,
                   fmt::join(src.filters, ", "));
      }
      if (std::find(names.begin(), names.end(), f) != names.end()) fail_input("--filters names '{}' twice", f);
      columns.push_back(static_cast<std::size_t>(it - src.filters.begin()));
      names.push_back(f);
    }
  }
  std::vector<double> offsets;
  for (const auto& n : names) {
    auto it = std::find_if(known_filters.begin(), known_filters.end(), [&](const auto& k) { return k.first == n; });
    if (it == known_filters.end()) {
      std::vector<std::string> known;
      for (const auto& k : known_filters) known.push_back(k.first);
      fail_input("filter '{}' of '{}' is not in the filter registry; known filters: {}", n, options.from,
                 fmt::join(known, ", "));
    }
    offsets.push_back(it->second);
  }
  const int nf = static_cast<int>(names.size());
  if (survey) {
    options.noise.validate();  // only sigma_sys is used
  } else {
    options.noise.validate(nf);
  }

  std::uint64_t n_stars = src.stars;
  if (options.stars > 0) {
    if (options.stars > src.stars) {
      fail_input("--stars = {} exceeds the {} stars in '{}'", options.stars, src.stars, options.from);
    }
    n_stars = options.stars;
  }
  if (n_stars == 0) fail_input("--from '{}' holds no stars", options.from);

  const std::string partial = partial_path(options.output);
  CatalogMakeReport report;
  report.filters = names;
  report.stars = n_stars;
  report.min_bands = std::numeric_limits<int>::max();
  std::optional<h5::File> file;
  try {
    file.emplace(h5::File::create(partial));
    h5::File& out = *file;
    out.set_attr("/", "format", std::string("irisml-catalog"));
    out.set_attr("/", "format_version", std::int64_t{1});
    out.set_attr("/", "stars", static_cast<std::int64_t>(n_stars));
    out.set_attr("/", "seed", static_cast<std::int64_t>(options.seed));
    out.set_attr("/", "source", options.from);
    out.set_attr("/", "source_seed", src.seed);
    out.set_attr("/", "magnitude_convention",
                 std::string("simulated magnitude minus the filter's catalog_offset (a reader adds it back); NaN = "
                             "band not observed"));
    if (survey) {
      out.set_attr("/", "survey", survey->name + ": " + survey->description);
      out.set_attr("/", "error_scale", options.error_scale);
      out.set_attr("/", "noise.sigma_sys", fmt::format("{}", options.noise.sigma_sys));
    } else {
      for (const auto& [key, value] : options.noise.items()) out.set_attr("/", key, value);
    }

    for (const auto& n : names) {
      out.create_dataset<float>(n, {n_stars});
      out.create_dataset<float>(n + "_err", {n_stars});
    }
    out.create_dataset<double>("true_parameters", {n_stars, 5});
    out.set_attr("true_parameters", "parameter_names", std::string("teff,logg,mh,av,rv"));
    out.set_attr("true_parameters", "units", std::string("K,dex,dex,mag,1"));

    const std::size_t all_f = src.filters.size();
    const std::uint64_t seed_key = catalog_noise_key(options.seed);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> clean, star_clean(static_cast<std::size_t>(nf)), mag_out(static_cast<std::size_t>(nf)),
        err_out(static_cast<std::size_t>(nf));
    std::vector<int> idx(static_cast<std::size_t>(nf));
    // survey mode: each band's draw in pattern order, and which bands are kept
    std::vector<float> band_mag(static_cast<std::size_t>(nf)), band_err(static_cast<std::size_t>(nf));
    auto kept = std::make_unique<bool[]>(static_cast<std::size_t>(nf));
    std::vector<double> params;
    std::vector<std::vector<float>> mag_cols(static_cast<std::size_t>(nf)), err_cols(static_cast<std::size_t>(nf));
    double band_sum = 0;
    for (std::uint64_t r0 = 0; r0 < n_stars; r0 += options.block_rows) {
      const std::uint64_t n = std::min(options.block_rows, n_stars - r0);
      clean.resize(n * all_f);
      params.resize(n * 5);
      in.read_rows<float>("magnitudes", r0, n, clean.data());
      in.read_rows<double>("parameters", r0, n, params.data());
      for (int f = 0; f < nf; ++f) {
        mag_cols[static_cast<std::size_t>(f)].assign(n, nan);
        err_cols[static_cast<std::size_t>(f)].assign(n, nan);
      }
      for (std::uint64_t r = 0; r < n; ++r) {
        for (int f = 0; f < nf; ++f) {
          float v = clean[r * all_f + columns[static_cast<std::size_t>(f)]];
          if (!std::isfinite(v)) {
            fail_input("--from '{}': star {} has a non-finite magnitude in filter {}", options.from, r0 + r,
                       names[static_cast<std::size_t>(f)]);
          }
          star_clean[static_cast<std::size_t>(f)] = v;
        }
        Philox rng(seed_key, r0 + r);
        int k = 0;
        if (survey) {
          // Band i of the pattern in place i; idx lists the kept ones.
          observe_survey_star(rng, *survey, star_clean.data(), options.noise.sigma_sys, options.error_scale,
                              band_mag.data(), band_err.data(), kept.get());
          for (int f = 0; f < nf; ++f) {
            if (!kept[static_cast<std::size_t>(f)]) continue;
            idx[static_cast<std::size_t>(k)] = f;
            mag_out[static_cast<std::size_t>(k)] = band_mag[static_cast<std::size_t>(f)];
            err_out[static_cast<std::size_t>(k)] = band_err[static_cast<std::size_t>(f)];
            ++k;
          }
        } else {
          k = observe_star(rng, star_clean.data(), nf, options.noise, idx.data(), mag_out.data(), err_out.data());
        }
        for (int i = 0; i < k; ++i) {
          auto f = static_cast<std::size_t>(idx[static_cast<std::size_t>(i)]);
          mag_cols[f][r] = static_cast<float>(mag_out[static_cast<std::size_t>(i)] - offsets[f]);
          err_cols[f][r] = err_out[static_cast<std::size_t>(i)];
        }
        band_sum += k;
        report.min_bands = std::min(report.min_bands, k);
        report.max_bands = std::max(report.max_bands, k);
      }
      for (int f = 0; f < nf; ++f) {
        out.write_rows<float>(names[static_cast<std::size_t>(f)], r0, n, mag_cols[static_cast<std::size_t>(f)].data());
        out.write_rows<float>(names[static_cast<std::size_t>(f)] + "_err", r0, n,
                              err_cols[static_cast<std::size_t>(f)].data());
      }
      out.write_rows<double>("true_parameters", r0, n, params.data());
    }
    std::vector<std::string> ids;
    ids.reserve(n_stars);
    for (std::uint64_t i = 0; i < n_stars; ++i) ids.push_back(fmt::format("sim-{}", i));
    out.write_strings("id", ids);
    out.close();
    commit_partial(options.output);
    report.mean_bands = band_sum / static_cast<double>(n_stars);
  } catch (...) {
    if (file) {
      file->discard();  // frees a full disk so the close succeeds, then removes it
    } else {
      std::error_code ec;
      std::filesystem::remove(partial, ec);
    }
    throw;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace irisml::simulate
