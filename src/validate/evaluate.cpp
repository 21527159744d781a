#include "validate/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/error_stats.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "core/log.hpp"
#include "posterior/summary.hpp"
#include "io/hdf5.hpp"

namespace irisml::validate {

namespace P = posterior;

// ---------------------------------------------------------------- files ----

namespace {

template <typename T>
std::vector<T> read_shaped(const h5::File& f, const std::string& name, const std::vector<std::uint64_t>& expected,
                           bool required) {
  if (!f.exists(name)) {
    if (required) fail_input("posterior file '{}' lacks dataset /{} (see docs/posterior_format.md)", f.path(), name);
    return {};
  }
  auto dims = f.dims(name);
  if (dims != expected) {
    fail_input("posterior file '{}': /{} has shape [{}], expected [{}]", f.path(), name, fmt::join(dims, ","),
               fmt::join(expected, ","));
  }
  return f.read<T>(name);
}

// Maps stored parameter names onto teff logg mh av rv: order[p] = stored column of parameter p.
std::vector<int> parameter_order(const std::vector<std::string>& stored, const std::string& where) {
  if (stored.size() != P::kParameters) {
    fail_input("{} names {} parameters ({}), expected teff, logg, mh, av, rv", where, stored.size(),
               fmt::join(stored, ", "));
  }
  std::vector<int> order(P::kParameters);
  for (int p = 0; p < P::kParameters; ++p) {
    auto it = std::find(stored.begin(), stored.end(), P::kParameterNames[p]);
    if (it == stored.end()) {
      fail_input("{} names parameters {}; '{}' is missing (expected teff, logg, mh, av, rv)", where,
                 fmt::join(stored, ", "), P::kParameterNames[p]);
    }
    order[static_cast<std::size_t>(p)] = static_cast<int>(it - stored.begin());
  }
  return order;
}

}  // namespace

void check_posterior_format(const h5::File& f) {
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != P::kFormat) {
    fail_input("'{}' is not a posterior file: root attribute format should be '{}' (written by `irisml sample`)",
               f.path(), P::kFormat);
  }
  if (f.has_attr("/", "format_version")) {
    auto v = f.attr_int("/", "format_version");
    if (v != P::kFormatVersion) {
      fail_input("posterior file '{}' has format_version {}; this irisml reads version {}", f.path(), v,
                 P::kFormatVersion);
    }
  }
}

bool has_importance(const std::string& path) { return h5::File::open(path).exists("importance/median"); }

std::vector<std::uint32_t> read_posterior_flags(const std::string& path) {
  h5::File f = h5::File::open(path);
  check_posterior_format(f);
  if (!f.exists("flags")) fail_input("posterior file '{}' lacks dataset /flags (see docs/posterior_format.md)", path);
  if (f.dims("flags").size() != 1) fail_input("posterior file '{}': /flags is not one value per star", path);
  return f.read<std::uint32_t>("flags");
}

PosteriorSummary read_posterior_summary(const std::string& path, const std::string& variant) {
  if (variant != "flow" && variant != "importance") {
    fail_input("posterior variant '{}' is not known; allowed: flow, importance", variant);
  }
  const std::string g = variant == "importance" ? "importance/" : "";
  h5::File f = h5::File::open(path);
  PosteriorSummary s;
  s.path = path;
  check_posterior_format(f);
  if (f.has_attr("/", "model")) s.model = f.attr_string("/", "model");
  if (!f.exists(g + "median")) {
    fail_input("posterior file '{}' lacks dataset /{}median{}", path, g,
               g.empty() ? "" : " (written by `irisml sample --importance`)");
  }
  auto mdims = f.dims(g + "median");
  if (mdims.size() != 2 || mdims[1] != P::kParameters) {
    fail_input("posterior file '{}': /median has shape [{}], expected [N,5]", path, fmt::join(mdims, ","));
  }
  const std::uint64_t n = mdims[0];
  s.stars = n;
  if (f.exists("parameter_names")) {
    auto order = parameter_order(f.read_strings("parameter_names"), fmt::format("posterior file '{}'", path));
    for (int p = 0; p < P::kParameters; ++p) {
      if (order[static_cast<std::size_t>(p)] != p) {
        fail_input("posterior file '{}': /parameter_names must be teff, logg, mh, av, rv in that order", path);
      }
    }
  }
  s.median = f.read<float>(g + "median");
  s.mean = read_shaped<float>(f, g + "mean", {n, 5}, false);
  s.std = read_shaped<float>(f, g + "std", {n, 5}, false);
  s.p16 = read_shaped<float>(f, g + "p16", {n, 5}, false);
  s.p84 = read_shaped<float>(f, g + "p84", {n, 5}, false);
  s.hdi68 = read_shaped<float>(f, g + "hdi68", {n, 5, 2}, false);
  s.hdi95 = read_shaped<float>(f, g + "hdi95", {n, 5, 2}, false);
  s.n_bands = read_shaped<std::int32_t>(f, "n_bands", {n}, true);
  s.flags = read_shaped<std::uint32_t>(f, "flags", {n}, true);
  s.ppc_chi2 = read_shaped<float>(f, "ppc_chi2", {n}, false);
  if (f.exists("id")) {
    s.id = f.read_strings("id");
    if (s.id.size() != n) fail_input("posterior file '{}': /id has {} entries for {} stars", path, s.id.size(), n);
  }
  if (f.has_attr("/", "samples_per_star")) s.samples_per_star = static_cast<int>(f.attr_int("/", "samples_per_star"));
  s.samples_dataset = g + "samples";
  if (f.exists(s.samples_dataset)) {
    auto d = f.dims(s.samples_dataset);
    if (d.size() != 3 || d[0] != n || d[2] != P::kParameters || d[1] == 0) {
      fail_input("posterior file '{}': /samples has shape [{}], expected [{},S,5]", path, fmt::join(d, ","), n);
    }
    s.has_samples = true;
    s.samples_per_star = static_cast<int>(d[1]);
  }
  return s;
}

TruthTable read_truth(const std::string& path, const KnownFilters& known_filters) {
  TruthTable t;
  if (h5::is_hdf5(path)) {
    h5::File f = h5::File::open(path);
    std::string name;
    std::vector<int> order = {0, 1, 2, 3, 4};
    if (f.exists("true_parameters")) {
      name = "true_parameters";
      if (f.has_attr(name, "parameter_names")) {
        order = parameter_order(split(f.attr_string(name, "parameter_names"), ", "),
                                fmt::format("truth file '{}' /true_parameters", path));
      }
    } else if (f.exists("parameters") && f.exists("magnitudes")) {  // a training set
      name = "parameters";
      if (f.exists("parameter_names")) {
        order = parameter_order(f.read_strings("parameter_names"), fmt::format("truth file '{}'", path));
      }
    } else {
      fail_input(
          "truth file '{}' holds no true parameters: expected /true_parameters (a catalogue from `irisml "
          "catalog make`) or /parameters (a simulated set)",
          path);
    }
    auto d = f.dims(name);
    if (d.size() != 2 || d[1] != 5) {
      fail_input("truth file '{}': /{} has shape [{}], expected [N,5]", path, name, fmt::join(d, ","));
    }
    t.stars = d[0];
    auto raw = f.read<double>(name);
    t.values.resize(raw.size());
    for (std::uint64_t r = 0; r < t.stars; ++r)
      for (int p = 0; p < 5; ++p)
        t.values[r * 5 + static_cast<std::size_t>(p)] =
            raw[r * 5 + static_cast<std::size_t>(order[static_cast<std::size_t>(p)])];
    if (f.exists("id")) {
      auto d_id = f.dims("id");
      if (d_id.size() == 1 && d_id[0] == t.stars) t.id = f.read_strings("id");
    }
    return t;
  }
  CatalogOptions options;
  options.ignore_unknown_columns = true;
  auto cat = CatalogReader::open(path, known_filters, options);
  if (!cat.has_truth()) {
    fail_input("truth file '{}' has no true_teff, true_logg, true_mh, true_av, true_rv columns", path);
  }
  t.stars = cat.rows();
  auto block = cat.read(0, t.stars);
  t.values = std::move(block.truth);
  t.id = std::move(block.id);
  return t;
}

// -------------------------------------------------------------- metrics ----

PointMetrics point_metrics(const std::vector<double>& errors) {
  PointMetrics m;
  m.n = errors.size();
  ErrorSums sums;
  for (double e : errors) sums.add(e);
  m.bias = sums.bias();
  m.rms = sums.rms();
  m.mad = sums.mean_abs();
  m.median_abs = median_abs(errors);
  return m;
}

std::vector<double> coverage_levels(int n) {
  if (n < 1) fail_input("coverage levels = {} must be >= 1", n);
  std::vector<double> levels;
  for (int k = 1; k <= n; ++k) levels.push_back(static_cast<double>(k) / (n + 1));
  return levels;
}

int band_bin(int bands) {
  if (bands <= 5) return 0;
  if (bands <= 10) return 1;
  if (bands <= 15) return 2;
  if (bands <= 20) return 3;
  return 4;
}

Evaluator::Evaluator(int coverage_level_count) : levels_(coverage_levels(coverage_level_count)) {
  for (int p = 0; p < P::kParameters; ++p) {
    all_.hits[p].assign(levels_.size(), 0);
    all_.central_hits[p].assign(levels_.size(), 0);
    cool_.hits[p].assign(levels_.size(), 0);
    cool_.central_hits[p].assign(levels_.size(), 0);
    for (auto& b : bins_) {
      b.hits[p].assign(levels_.size(), 0);
      b.central_hits[p].assign(levels_.size(), 0);
    }
  }
}

void Evaluator::add_star(Group& g, const float* median, const double* truth, const float* samples, int s,
                         const float* hdi68, const float* hdi95, std::vector<double>& scratch) {
  ++g.stars;
  for (int p = 0; p < P::kParameters; ++p) g.errors[p].push_back(static_cast<double>(median[p]) - truth[p]);
  if (median[0] > 0 && truth[0] > 0)
    g.teff_dex.push_back(std::log10(static_cast<double>(median[0])) - std::log10(truth[0]));
  if (samples) {
    ++g.coverage_stars;
    scratch.resize(static_cast<std::size_t>(s));
    for (int p = 0; p < P::kParameters; ++p) {
      scratch.clear();
      for (int i = 0; i < s; ++i) {
        const double v = samples[i * P::kParameters + p];
        if (std::isfinite(v)) scratch.push_back(v);  // (sorting NaN is undefined)
      }
      if (scratch.empty()) continue;
      std::sort(scratch.begin(), scratch.end());
      // rank of the truth among the samples (ties count half)
      auto below = std::lower_bound(scratch.begin(), scratch.end(), truth[p]) - scratch.begin();
      auto not_above = std::upper_bound(scratch.begin(), scratch.end(), truth[p]) - scratch.begin();
      const double u = (0.5 * static_cast<double>(below + not_above) + 0.5) / static_cast<double>(scratch.size() + 1);
      const auto smoothed = posterior::smoothed_order_statistics(scratch.data(), scratch.size());
      for (std::size_t l = 0; l < levels_.size(); ++l) {
        auto [lo, hi] = posterior::hdi_smoothed(scratch.data(), smoothed.data(), scratch.size(), levels_[l]);
        if (truth[p] >= lo && truth[p] <= hi) ++g.hits[p][l];
        if (std::fabs(u - 0.5) <= 0.5 * levels_[l] + 1e-12) ++g.central_hits[p][l];
      }
    }
  }
  if (hdi68 && hdi95) {
    ++g.hdi_stars;
    for (int p = 0; p < P::kParameters; ++p) {
      if (truth[p] >= hdi68[p * 2] && truth[p] <= hdi68[p * 2 + 1]) ++g.hdi68_hits[p];
      if (truth[p] >= hdi95[p * 2] && truth[p] <= hdi95[p * 2 + 1]) ++g.hdi95_hits[p];
    }
  }
}

void Evaluator::add(const EvaluationBlock& b) {
  std::vector<double> scratch;
  const int s = b.samples ? b.samples_per_star : 0;
  if (b.samples) {
    if (s <= 0) fail_input("evaluate: samples given with samples_per_star = {}", s);
    if (samples_per_star_ != 0 && samples_per_star_ != s) {
      fail_input("evaluate: samples per star changed from {} to {}", samples_per_star_, s);
    }
    samples_per_star_ = s;
    any_samples_ = true;
  } else if (b.rows > 0) {
    any_without_samples_ = true;
  }
  for (std::uint64_t r = 0; r < b.rows; ++r) {
    ++counts_.total;
    const std::uint32_t flags = b.flags ? b.flags[r] : 0u;
    if (flags & P::kFlagOutsideTrainingRange) ++counts_.flagged_outside_training_range;
    if (flags & P::kFlagPpc) ++counts_.flagged_ppc_chi2;
    if (flags & P::kFlagTooFewBands) {
      ++counts_.excluded_too_few_bands;
      continue;
    }
    const float* med = b.median + r * P::kParameters;
    const double* tru = b.truth + r * P::kParameters;
    bool finite = true;
    for (int p = 0; p < P::kParameters; ++p) finite = finite && std::isfinite(med[p]) && std::isfinite(tru[p]);
    if (!finite) {
      ++counts_.excluded_non_finite;
      continue;
    }
    ++counts_.evaluated;
    const int bands = b.n_bands[r];
    const float* smp = b.samples ? b.samples + r * static_cast<std::uint64_t>(s) * P::kParameters : nullptr;
    const float* h68 = b.hdi68 ? b.hdi68 + r * P::kParameters * 2 : nullptr;
    const float* h95 = b.hdi95 ? b.hdi95 + r * P::kParameters * 2 : nullptr;
    add_star(all_, med, tru, smp, s, h68, h95, scratch);
    add_star(bins_[band_bin(bands)], med, tru, smp, s, h68, h95, scratch);
    if (tru[0] >= kCoolTeffMin && tru[0] <= kCoolTeffMax) add_star(cool_, med, tru, smp, s, h68, h95, scratch);
    if (counts_.evaluated == 1 || bands < min_bands_seen_) min_bands_seen_ = bands;
    median_.insert(median_.end(), med, med + P::kParameters);
    truth_.insert(truth_.end(), tru, tru + P::kParameters);
    n_bands_.push_back(bands);
  }
}

GroupMetrics Evaluator::summarise(const Group& g, const std::string& label, int lo, int hi) const {
  GroupMetrics m;
  m.label = label;
  m.bands_lo = lo;
  m.bands_hi = hi;
  m.stars = g.stars;
  for (int p = 0; p < P::kParameters; ++p) {
    ParameterMetrics& pm = m.parameters[p];
    pm.point = point_metrics(g.errors[p]);
    CoverageCurve& c = pm.coverage;
    if (any_samples_ && g.coverage_stars > 0) {
      c.levels = levels_;
      c.stars = g.coverage_stars;
      pm.central.levels = levels_;
      pm.central.stars = g.coverage_stars;
      for (std::size_t l = 0; l < levels_.size(); ++l) {
        c.coverage.push_back(static_cast<double>(g.hits[p][l]) / static_cast<double>(g.coverage_stars));
        pm.central.coverage.push_back(static_cast<double>(g.central_hits[p][l]) /
                                      static_cast<double>(g.coverage_stars));
        pm.central.max_deviation = std::max(pm.central.max_deviation, std::fabs(pm.central.coverage[l] - levels_[l]));
      }
    } else if (g.hdi_stars > 0) {
      c.levels = {0.68, 0.95};
      c.stars = g.hdi_stars;
      c.coverage = {static_cast<double>(g.hdi68_hits[p]) / static_cast<double>(g.hdi_stars),
                    static_cast<double>(g.hdi95_hits[p]) / static_cast<double>(g.hdi_stars)};
    }
    for (std::size_t l = 0; l < c.levels.size(); ++l) {
      c.max_deviation = std::max(c.max_deviation, std::fabs(c.coverage[l] - c.levels[l]));
    }
    if (g.hdi_stars > 0) {
      pm.hdi68_coverage = static_cast<double>(g.hdi68_hits[p]) / static_cast<double>(g.hdi_stars);
      pm.hdi95_coverage = static_cast<double>(g.hdi95_hits[p]) / static_cast<double>(g.hdi_stars);
    }
  }
  m.teff_dex = point_metrics(g.teff_dex);
  return m;
}

EvaluationResult Evaluator::finish() const {
  EvaluationResult r;
  r.counts = counts_;
  r.coverage_source = any_samples_ ? "samples" : "hdi";
  r.samples_per_star = samples_per_star_;
  r.overall = summarise(all_, "all", 0, 0);
  r.cool = summarise(cool_, fmt::format("teff {:.0f}-{:.0f} K", kCoolTeffMin, kCoolTeffMax), 0, 0);
  static const int kLo[kBandBins] = {1, 6, 11, 16, 21};
  static const int kHi[kBandBins] = {5, 10, 15, 20, 0};
  for (int b = 0; b < kBandBins; ++b) {
    if (bins_[b].stars == 0) continue;
    int lo = b == 0 ? std::max(1, min_bands_seen_) : kLo[b];
    std::string label = kHi[b] == 0 ? fmt::format("{}+", lo) : fmt::format("{}-{}", lo, kHi[b]);
    r.by_bands.push_back(summarise(bins_[b], label, lo, kHi[b]));
  }
  r.median = median_;
  r.truth = truth_;
  r.n_bands = n_bands_;
  return r;
}

// -------------------------------------------------------------- driver -----

EvaluationResult evaluate_files(const EvaluateOptions& options, const KnownFilters& known_filters) {
  if (options.block_rows == 0) fail_input("evaluate: block rows must be > 0");
  PosteriorSummary post = read_posterior_summary(options.posterior, options.variant);
  TruthTable truth = read_truth(options.truth, known_filters);
  if (truth.stars != post.stars) {
    fail_input("--posterior '{}' has {} stars but --truth '{}' has {}; they must be the same catalogue, in order",
               options.posterior, post.stars, options.truth, truth.stars);
  }
  if (!post.id.empty() && !truth.id.empty()) {
    for (std::uint64_t i = 0; i < post.stars; ++i) {
      if (post.id[i] != truth.id[i]) {
        fail_input(
            "row {}: --posterior id '{}' differs from --truth id '{}'; they must be the same catalogue, in order", i,
            post.id[i], truth.id[i]);
      }
    }
  }
  const bool have_hdi = !post.hdi68.empty() && !post.hdi95.empty();
  if (!post.has_samples) {
    if (!have_hdi) {
      fail_input("posterior file '{}' has neither /samples nor /hdi68 and /hdi95; coverage cannot be computed",
                 options.posterior);
    }
    if (options.variant == "importance") {
      log::info(
          "note: the importance-weighted posteriors of '{}' have no equal-weight samples (sample --sir stores "
          "them); their coverage uses only the stored weighted 68 % and 95 % HDIs",
          options.posterior);
    } else {
      log::info(
          "note: '{}' has no /samples (sample without --keep-samples?); coverage uses only the stored 68 % and "
          "95 % HDIs",
          options.posterior);
    }
  }
  Evaluator ev(options.coverage_levels);
  const int s = post.samples_per_star;
  std::vector<float> samples;
  std::unique_ptr<h5::File> file;
  if (post.has_samples) file = std::make_unique<h5::File>(h5::File::open(options.posterior));
  for (std::uint64_t r0 = 0; r0 < post.stars; r0 += options.block_rows) {
    const std::uint64_t n = std::min(options.block_rows, post.stars - r0);
    EvaluationBlock b;
    b.rows = n;
    b.median = post.median.data() + r0 * 5;
    b.truth = truth.values.data() + r0 * 5;
    b.n_bands = post.n_bands.data() + r0;
    b.flags = post.flags.data() + r0;
    if (have_hdi) {
      b.hdi68 = post.hdi68.data() + r0 * 10;
      b.hdi95 = post.hdi95.data() + r0 * 10;
    }
    if (post.has_samples) {
      samples.resize(n * static_cast<std::uint64_t>(s) * 5);
      file->read_rows<float>(post.samples_dataset, r0, n, samples.data());
      b.samples = samples.data();
      b.samples_per_star = s;
    }
    ev.add(b);
  }
  EvaluationResult result = ev.finish();
  result.model = post.model;
  return result;
}

// ------------------------------------------------------------ reference ----

namespace {

// Energy distance between two sample sets (rows of 5), coordinates divided by scale.
double energy_distance(const float* x, int nx, const float* y, int ny, const double* scale) {
  auto dist = [&](const float* a, const float* b) {
    double d2 = 0.0;
    for (int p = 0; p < P::kParameters; ++p) {
      const double d = (static_cast<double>(a[p]) - b[p]) / scale[p];
      d2 += d * d;
    }
    return std::sqrt(d2);
  };
  auto mean_dist = [&](const float* a, int na, const float* b, int nb) {
    double sum = 0.0;
    for (int i = 0; i < na; ++i)
      for (int j = 0; j < nb; ++j) sum += dist(a + i * P::kParameters, b + j * P::kParameters);
    return sum / (static_cast<double>(na) * nb);
  };
  return 2.0 * mean_dist(x, nx, y, ny) - mean_dist(x, nx, x, nx) - mean_dist(y, ny, y, ny);
}

double median_of(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return posterior::quantile_sorted(v.data(), v.size(), 0.5);
}

}  // namespace

ReferenceMetrics compare_with_reference(const std::string& posterior, const std::string& variant,
                                        const std::string& reference, std::uint64_t block_rows) {
  if (block_rows == 0) fail_input("evaluate: block rows must be > 0");
  const PosteriorSummary post = read_posterior_summary(posterior, variant);
  const PosteriorSummary ref = read_posterior_summary(reference);
  if (post.stars != ref.stars) {
    fail_input("--posterior '{}' has {} stars but --reference '{}' has {}; they must be the same catalogue, in order",
               posterior, post.stars, reference, ref.stars);
  }
  if (!post.id.empty() && !ref.id.empty() && post.id != ref.id) {
    fail_input("--posterior '{}' and --reference '{}' hold different /id rows; they must be the same catalogue",
               posterior, reference);
  }
  if (ref.std.empty()) fail_input("--reference '{}' lacks /std", reference);
  if (post.std.empty()) fail_input("--posterior '{}' lacks /std", posterior);
  ReferenceMetrics m;
  std::vector<double> err[P::kParameters], absz[P::kParameters], ratio[P::kParameters], energy;
  const bool with_samples = post.has_samples && ref.has_samples;
  std::unique_ptr<h5::File> fp, fr;
  if (with_samples) {
    fp = std::make_unique<h5::File>(h5::File::open(posterior));
    fr = std::make_unique<h5::File>(h5::File::open(reference));
  }
  std::vector<float> sp, sr;
  for (std::uint64_t r0 = 0; r0 < post.stars; r0 += block_rows) {
    const std::uint64_t n = std::min(block_rows, post.stars - r0);
    if (with_samples) {
      sp.resize(n * static_cast<std::uint64_t>(post.samples_per_star) * 5);
      sr.resize(n * static_cast<std::uint64_t>(ref.samples_per_star) * 5);
      fp->read_rows<float>(post.samples_dataset, r0, n, sp.data());
      fr->read_rows<float>(ref.samples_dataset, r0, n, sr.data());
    }
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t i = r0 + k;
      if (ref.flags[i] & P::kFlagLowEss) {
        ++m.skipped_reference_low_ess;
        continue;
      }
      bool ok = (ref.flags[i] & P::kFlagTooFewBands) == 0 && (post.flags[i] & P::kFlagTooFewBands) == 0;
      double scale[P::kParameters];
      for (int p = 0; p < P::kParameters && ok; ++p) {
        const std::size_t o = i * 5 + static_cast<std::size_t>(p);
        scale[p] = ref.std[o];
        ok = std::isfinite(post.median[o]) && std::isfinite(ref.median[o]) && ref.std[o] > 0 &&
             std::isfinite(post.std[o]);
      }
      if (!ok) continue;
      ++m.stars;
      for (int p = 0; p < P::kParameters; ++p) {
        const std::size_t o = i * 5 + static_cast<std::size_t>(p);
        const double e = static_cast<double>(post.median[o]) - ref.median[o];
        err[p].push_back(e);
        absz[p].push_back(std::abs(e) / ref.std[o]);
        ratio[p].push_back(post.std[o] / ref.std[o]);
      }
      if (with_samples) {
        energy.push_back(energy_distance(sp.data() + k * post.samples_per_star * 5, post.samples_per_star,
                                         sr.data() + k * ref.samples_per_star * 5, ref.samples_per_star, scale));
      }
    }
  }
  for (int p = 0; p < P::kParameters; ++p) {
    if (err[p].empty()) continue;
    const PointMetrics pm = point_metrics(err[p]);
    m.bias[p] = pm.bias;
    m.rms[p] = pm.rms;
    m.median_abs_z[p] = median_of(absz[p]);
    m.width_ratio[p] = median_of(ratio[p]);
  }
  if (!energy.empty()) {
    m.has_energy = true;
    std::sort(energy.begin(), energy.end());
    m.energy_median = posterior::quantile_sorted(energy.data(), energy.size(), 0.5);
    m.energy_p90 = posterior::quantile_sorted(energy.data(), energy.size(), 0.9);
  }
  return m;
}

std::string reference_table(const ReferenceMetrics& m, const std::string& label) {
  std::string out =
      fmt::format("distance from the reference posterior ({}), {} stars ({} skipped: reference ESS low)\n", label,
                  m.stars, m.skipped_reference_low_ess);
  out += fmt::format("{:<6} {:>12} {:>12} {:>16} {:>14}\n", "param", "bias", "RMS", "median |dz|", "width ratio");
  for (int p = 0; p < P::kParameters; ++p) {
    out += fmt::format("{:<6} {:>12.4g} {:>12.4g} {:>16.3f} {:>14.3f}\n", P::kParameterNames[p], m.bias[p], m.rms[p],
                       m.median_abs_z[p], m.width_ratio[p]);
  }
  if (m.has_energy) {
    out += fmt::format(
        "energy distance per star (standardised by the reference std): median {:.3f}, 90th percentile "
        "{:.3f}\n",
        m.energy_median, m.energy_p90);
  }
  return out;
}

std::string reference_json(const ReferenceMetrics& m) {
  auto num = [](double v) { return json_number(v); };
  std::string out = fmt::format("{{\n  \"stars\": {},\n  \"skipped_reference_low_ess\": {},\n  \"parameters\": {{\n",
                                m.stars, m.skipped_reference_low_ess);
  for (int p = 0; p < P::kParameters; ++p) {
    out += fmt::format("    \"{}\": {{\"bias\": {}, \"rms\": {}, \"median_abs_z\": {}, \"width_ratio\": {}}}{}\n",
                       P::kParameterNames[p], num(m.bias[p]), num(m.rms[p]), num(m.median_abs_z[p]),
                       num(m.width_ratio[p]), p + 1 < P::kParameters ? "," : "");
  }
  out += "  },\n";
  out += m.has_energy ? fmt::format("  \"energy_distance\": {{\"median\": {}, \"p90\": {}}}\n", num(m.energy_median),
                                    num(m.energy_p90))
                      : "  \"energy_distance\": null\n";
  return out + "}\n";
}

}  // namespace irisml::validate
