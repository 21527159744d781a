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

// The simulated set's columns the catalogue keeps, their filter names and catalogue
// offsets: the survey's bands, --filters in its order, or every filter of the set.
struct BandSelection {
  std::vector<std::size_t> columns;
  std::vector<std::string> names;
  std::vector<double> offsets;
};

BandSelection select_bands(const CatalogMakeOptions& options, const Source& src, const SurveyPattern* survey,
                           const KnownFilters& known_filters) {
  BandSelection b;
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
      b.columns.push_back(static_cast<std::size_t>(it - src.filters.begin()));
      b.names.push_back(band.filter);
    }
  } else if (options.filters.empty()) {
    for (std::size_t j = 0; j < src.filters.size(); ++j) b.columns.push_back(j);
    b.names = src.filters;
  } else {
    for (const auto& f : options.filters) {
      auto it = std::find(src.filters.begin(), src.filters.end(), f);
      if (it == src.filters.end()) {
        fail_input("--filters: '{}' is not in the simulated set '{}'; its filters: {}", f, options.from,
                   fmt::join(src.filters, ", "));
      }
      if (std::find(b.names.begin(), b.names.end(), f) != b.names.end()) fail_input("--filters names '{}' twice", f);
      b.columns.push_back(static_cast<std::size_t>(it - src.filters.begin()));
      b.names.push_back(f);
    }
  }
  for (const auto& n : b.names) {
    auto it = std::find_if(known_filters.begin(), known_filters.end(), [&](const auto& k) { return k.first == n; });
    if (it == known_filters.end()) {
      std::vector<std::string> known;
      for (const auto& k : known_filters) known.push_back(k.first);
      fail_input("filter '{}' of '{}' is not in the filter registry; known filters: {}", n, options.from,
                 fmt::join(known, ", "));
    }
    b.offsets.push_back(it->second);
  }
  return b;
}

// The catalogue's attributes and (empty) datasets.
void create_catalog(h5::File& out, const CatalogMakeOptions& options, const Source& src, const SurveyPattern* survey,
                    const std::vector<std::string>& names, std::uint64_t n_stars) {
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
}

// Observes the set's stars block by block (noise keyed by (seed, star)) into the
// catalogue's columns; counts bands into the report.
class CatalogObserver {
 public:
  CatalogObserver(const CatalogMakeOptions& options, const Source& src, const SurveyPattern* survey,
                  const BandSelection& bands)
      : o_(options),
        survey_(survey),
        bands_(bands),
        all_f_(src.filters.size()),
        nf_(static_cast<int>(bands.names.size())),
        seed_key_(catalog_noise_key(options.seed)),
        star_clean_(nf_u()),
        mag_out_(nf_u()),
        err_out_(nf_u()),
        idx_(nf_u()),
        band_mag_(nf_u()),
        band_err_(nf_u()),
        kept_(std::make_unique<bool[]>(nf_u())),
        mag_cols_(nf_u()),
        err_cols_(nf_u()) {}

  void block(h5::File& in, h5::File& out, std::uint64_t r0, std::uint64_t n, CatalogMakeReport& report) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    clean_.resize(n * all_f_);
    params_.resize(n * 5);
    in.read_rows<float>("magnitudes", r0, n, clean_.data());
    in.read_rows<double>("parameters", r0, n, params_.data());
    for (int f = 0; f < nf_; ++f) {
      mag_cols_[static_cast<std::size_t>(f)].assign(n, nan);
      err_cols_[static_cast<std::size_t>(f)].assign(n, nan);
    }
    for (std::uint64_t r = 0; r < n; ++r) {
      const int k = star(r0, r);
      band_sum_ += k;
      report.min_bands = std::min(report.min_bands, k);
      report.max_bands = std::max(report.max_bands, k);
    }
    for (int f = 0; f < nf_; ++f) {
      const std::string& name = bands_.names[static_cast<std::size_t>(f)];
      out.write_rows<float>(name, r0, n, mag_cols_[static_cast<std::size_t>(f)].data());
      out.write_rows<float>(name + "_err", r0, n, err_cols_[static_cast<std::size_t>(f)].data());
    }
    out.write_rows<double>("true_parameters", r0, n, params_.data());
  }

  double band_sum() const { return band_sum_; }

 private:
  std::size_t nf_u() const { return static_cast<std::size_t>(nf_); }

  // Row r of the block at r0 into the columns; returns its number of bands.
  int star(std::uint64_t r0, std::uint64_t r) {
    for (int f = 0; f < nf_; ++f) {
      float v = clean_[r * all_f_ + bands_.columns[static_cast<std::size_t>(f)]];
      if (!std::isfinite(v)) {
        fail_input("--from '{}': star {} has a non-finite magnitude in filter {}", o_.from, r0 + r,
                   bands_.names[static_cast<std::size_t>(f)]);
      }
      star_clean_[static_cast<std::size_t>(f)] = v;
    }
    Philox rng(seed_key_, r0 + r);
    int k = 0;
    if (survey_) {
      // Band i of the pattern in place i; idx lists the kept ones.
      observe_survey_star(rng, *survey_, star_clean_.data(), o_.noise.sigma_sys, o_.error_scale, band_mag_.data(),
                          band_err_.data(), kept_.get());
      for (int f = 0; f < nf_; ++f) {
        if (!kept_[static_cast<std::size_t>(f)]) continue;
        idx_[static_cast<std::size_t>(k)] = f;
        mag_out_[static_cast<std::size_t>(k)] = band_mag_[static_cast<std::size_t>(f)];
        err_out_[static_cast<std::size_t>(k)] = band_err_[static_cast<std::size_t>(f)];
        ++k;
      }
    } else {
      k = observe_star(rng, star_clean_.data(), nf_, o_.noise, idx_.data(), mag_out_.data(), err_out_.data());
    }
    for (int i = 0; i < k; ++i) {
      auto f = static_cast<std::size_t>(idx_[static_cast<std::size_t>(i)]);
      mag_cols_[f][r] = static_cast<float>(mag_out_[static_cast<std::size_t>(i)] - bands_.offsets[f]);
      err_cols_[f][r] = err_out_[static_cast<std::size_t>(i)];
    }
    return k;
  }

  const CatalogMakeOptions& o_;
  const SurveyPattern* survey_;
  const BandSelection& bands_;
  const std::size_t all_f_;
  const int nf_;
  const std::uint64_t seed_key_;
  std::vector<float> clean_, star_clean_, mag_out_, err_out_;
  std::vector<int> idx_;
  // survey mode: each band's draw in pattern order, and which bands are kept
  std::vector<float> band_mag_, band_err_;
  std::unique_ptr<bool[]> kept_;
  std::vector<double> params_;
  std::vector<std::vector<float>> mag_cols_, err_cols_;
  double band_sum_ = 0;
};

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
  const SurveyPattern* survey = options.survey.empty() ? nullptr : &survey_pattern(options.survey);
  const BandSelection bands = select_bands(options, src, survey, known_filters);
  if (survey) {
    options.noise.validate();  // only sigma_sys is used
  } else {
    options.noise.validate(static_cast<int>(bands.names.size()));
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
  report.filters = bands.names;
  report.stars = n_stars;
  report.min_bands = std::numeric_limits<int>::max();
  std::optional<h5::File> file;
  try {
    file.emplace(h5::File::create(partial));
    h5::File& out = *file;
    create_catalog(out, options, src, survey, bands.names, n_stars);
    CatalogObserver observer(options, src, survey, bands);
    for (std::uint64_t r0 = 0; r0 < n_stars; r0 += options.block_rows) {
      observer.block(in, out, r0, std::min(options.block_rows, n_stars - r0), report);
    }
    std::vector<std::string> ids;
    ids.reserve(n_stars);
    for (std::uint64_t i = 0; i < n_stars; ++i) ids.push_back(fmt::format("sim-{}", i));
    out.write_strings("id", ids);
    out.close();
    commit_partial(options.output);
    report.mean_bands = observer.band_sum() / static_cast<double>(n_stars);
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
