#include "validate/evaluate.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "validate/manifest.hpp"
#include "validate/report.hpp"
#include "core/rng.hpp"
#include "posterior/summary.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace irisml::validate {
namespace {

using irisml::test_support::temp_path;

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST(EvaluateTest, PointMetricsOnAHandComputedExample) {
  auto m = point_metrics({1, -2, 3, -4});
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.bias, -0.5);
  EXPECT_DOUBLE_EQ(m.rms, std::sqrt(7.5));
  EXPECT_DOUBLE_EQ(m.mad, 2.5);
  EXPECT_DOUBLE_EQ(m.median_abs, 2.5);  // |err| = 1 2 3 4
  auto odd = point_metrics({0.5, -3, 1});
  EXPECT_DOUBLE_EQ(odd.median_abs, 1.0);
  EXPECT_DOUBLE_EQ(odd.bias, -0.5);
  EXPECT_TRUE(std::isnan(point_metrics({}).rms));
}

TEST(EvaluateTest, HdiHoldsCeilLevelTimesSPlusOnePlusOneSamples) {
  const double s[5] = {0, 1, 2, 3, 10};
  EXPECT_EQ(posterior::hdi_sorted(s, 5, 0.3),
            (std::pair<double, double>{0, 2}));  // k = ceil(1.8) + 1 = 3; first of equal widths
  EXPECT_EQ(posterior::hdi_sorted(s, 5, 0.5), (std::pair<double, double>{0, 3}));   // k = 4
  EXPECT_EQ(posterior::hdi_sorted(s, 5, 0.8), (std::pair<double, double>{0, 10}));  // k = 6 > 5: every sample
  EXPECT_EQ(posterior::hdi_sorted(s, 5, 1.0), (std::pair<double, double>{0, 10}));
  EXPECT_EQ(posterior::hdi_sorted(s, 5, 0.01), (std::pair<double, double>{0, 1}));  // k = 2: (k−1)/(S+1) ≥ 0.01
  auto levels = coverage_levels(19);
  ASSERT_EQ(levels.size(), 19u);
  EXPECT_DOUBLE_EQ(levels.front(), 0.05);
  EXPECT_NEAR(levels[9], 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(levels.back(), 0.95);
}

// Stars with posterior N(mu, post_sigma) sampled S times and truth ~ N(mu, 1).
// Evaluates one block of `rows` stars (the optional arrays may be null).
EvaluationResult evaluate_rows(std::uint64_t rows, const std::vector<float>& median, const std::vector<double>& truth,
                               const std::vector<std::int32_t>& bands, const std::uint32_t* flags = nullptr,
                               const float* hdi68 = nullptr, const float* hdi95 = nullptr) {
  Evaluator ev;
  EvaluationBlock b;
  b.rows = rows;
  b.median = median.data();
  b.truth = truth.data();
  b.n_bands = bands.data();
  b.flags = flags;
  b.hdi68 = hdi68;
  b.hdi95 = hdi95;
  ev.add(b);
  return ev.finish();
}

EvaluationResult synthetic(double post_sigma, int stars, int s, std::uint64_t seed) {
  std::vector<float> median(static_cast<std::size_t>(stars) * 5), samples(static_cast<std::size_t>(stars) * s * 5);
  std::vector<double> truth(static_cast<std::size_t>(stars) * 5);
  std::vector<std::int32_t> bands(static_cast<std::size_t>(stars));
  for (int i = 0; i < stars; ++i) {
    Philox rng(seed, static_cast<std::uint64_t>(i));
    bands[static_cast<std::size_t>(i)] = 3 + i % 20;
    for (int p = 0; p < 5; ++p) {
      double mu = rng.normal() * 3 + p;
      truth[static_cast<std::size_t>(i * 5 + p)] = mu + rng.normal();
      std::vector<float> v(static_cast<std::size_t>(s));
      for (int k = 0; k < s; ++k) {
        v[static_cast<std::size_t>(k)] = static_cast<float>(mu + post_sigma * rng.normal());
        samples[(static_cast<std::size_t>(i) * s + k) * 5 + p] = v[static_cast<std::size_t>(k)];
      }
      std::nth_element(v.begin(), v.begin() + s / 2, v.end());
      median[static_cast<std::size_t>(i * 5 + p)] = v[static_cast<std::size_t>(s / 2)];
    }
  }
  Evaluator ev;
  EvaluationBlock b;
  b.rows = static_cast<std::uint64_t>(stars);
  b.median = median.data();
  b.truth = truth.data();
  b.n_bands = bands.data();
  b.samples = samples.data();
  b.samples_per_star = s;
  ev.add(b);
  return ev.finish();
}

TEST(EvaluateTest, CalibratedPosteriorCoverageFollowsTheDiagonal) {
  auto r = synthetic(/*post_sigma=*/1.0, /*stars=*/2500, /*s=*/400, /*seed=*/3);
  EXPECT_EQ(r.coverage_source, "samples");
  EXPECT_EQ(r.counts.evaluated, 2500u);
  for (int p = 0; p < 5; ++p) {
    const auto& c = r.overall.parameters[p].coverage;
    const auto& central = r.overall.parameters[p].central;
    ASSERT_EQ(c.levels.size(), 19u);
    ASSERT_EQ(central.levels.size(), 19u);
    // rank-based central intervals: exact under calibration (binomial sd ≤ 0.01)
    EXPECT_LT(central.max_deviation, 0.035) << "parameter " << p;
    EXPECT_NEAR(central.coverage[12], 0.65, 0.03);
    // sample HDIs: close, but biased low at finite S (≈0.02–0.03 at S = 400)
    EXPECT_LT(c.max_deviation, 0.07) << "parameter " << p;
    EXPECT_NEAR(c.coverage[12], 0.65, 0.05);
    // point metrics: error = median − truth has sd ≈ 1 (truth scatter; median of 400 adds ~0.06)
    EXPECT_NEAR(r.overall.parameters[p].point.rms, 1.0, 0.06);
    EXPECT_NEAR(r.overall.parameters[p].point.mad, std::sqrt(2 / M_PI), 0.05);
  }
  // bins 3-5, 6-10, 11-15, 16-20, 21+ (bands 3..22)
  ASSERT_EQ(r.by_bands.size(), 5u);
  EXPECT_EQ(r.by_bands[0].label, "3-5");
  EXPECT_EQ(r.by_bands[4].label, "21+");
  EXPECT_EQ(r.by_bands[0].stars, 375u);  // 3 of every 20 stars
  EXPECT_EQ(r.by_bands[1].stars, 625u);
  EXPECT_LT(r.by_bands[1].parameters[0].central.max_deviation, 0.08);  // 625 stars: sd ≤ 0.02
}

// At S = 64 the HDI definition (k = ceil(α(S+1)) + 1, placed on smoothed order
// statistics) is calibrated; the shortest window of ceil(α·S) raw samples it replaced
// was ≈ 0.06 low on average over the 19 levels.
TEST(EvaluateTest, SixtyFourSamplesHdiIsCalibratedLikeCentral) {
  auto r = synthetic(1.0, 2500, 64, 5);
  double hdi_mean_dev = 0;
  for (int p = 0; p < 5; ++p) {
    const auto& c = r.overall.parameters[p].coverage;
    const auto& central = r.overall.parameters[p].central;
    EXPECT_LT(central.max_deviation, 0.04) << "parameter " << p;
    EXPECT_LT(c.max_deviation, 0.06) << "parameter " << p;  // toy simulation: ≤ 0.04 at the lowest levels
    for (std::size_t l = 0; l < c.levels.size(); ++l) hdi_mean_dev += (c.coverage[l] - c.levels[l]) / 95.0;
  }
  EXPECT_NEAR(hdi_mean_dev, 0.0, 0.015);
}

TEST(EvaluateTest, OverconfidentPosteriorCoverageIsWellBelow) {
  auto r = synthetic(/*post_sigma=*/0.5, 2000, 200, 7);
  for (int p = 0; p < 5; ++p) {
    const auto& c = r.overall.parameters[p].coverage;
    // the 65 % interval spans ±0.5·0.935: P(|N(0,1)| < 0.47) ≈ 0.36
    EXPECT_LT(c.coverage[12], 0.45);
    EXPECT_GT(c.max_deviation, 0.25);
    const auto& central = r.overall.parameters[p].central;
    EXPECT_NEAR(central.coverage[12], 0.36, 0.04);
    EXPECT_GT(central.max_deviation, 0.25);
  }
}

// Issue 10 §4: metrics are repeated for the stars with true Teff in [4000, 7000] K,
// where kelvin errors are not dominated by hot stars; the text table and metrics.json
// carry them.
TEST(EvaluateTest, CoolStarsAreEvaluatedOnTheirOwn) {
  const double teffs[5] = {3500, 4000, 5500, 7000, 12000};
  const float errors[5] = {50, -100, 300, 100, 2000};
  std::vector<float> median;
  std::vector<double> truth;
  std::vector<std::int32_t> bands(5, 8);
  for (int i = 0; i < 5; ++i) {
    truth.insert(truth.end(), {teffs[i], 4.0, 0.0, 0.5, 3.1});
    median.insert(median.end(), {static_cast<float>(teffs[i]) + errors[i], 4.0f, 0.0f, 0.5f, 3.1f});
  }
  const auto r = evaluate_rows(5, median, truth, bands);
  EXPECT_EQ(r.overall.stars, 5u);
  EXPECT_EQ(r.cool.stars, 3u);  // 4000, 5500 and 7000 K: the limits are included
  EXPECT_DOUBLE_EQ(r.cool.parameters[0].point.bias, 100.0);
  EXPECT_DOUBLE_EQ(r.cool.parameters[0].point.median_abs, 100.0);
  EXPECT_NE(summary_table(r).find("stars with true Teff 4000-7000 K (3 of 5)"), std::string::npos) << summary_table(r);
  EXPECT_NE(metrics_json(r, ReportInfo{}).find("\"teff_4000_7000\""), std::string::npos);
}

TEST(EvaluateTest, FlaggedAndNonFiniteStarsAreExcludedAndCounted) {
  // 4 stars: star 1 flagged too-few-bands (wild median), star 2 has a NaN median,
  // star 3 flagged OOD (kept).
  std::vector<float> median = {5000,          4, 0, 0.1f, 3.1f, 1e6f, 99,   99,    99,   99,
                               std::nanf(""), 4, 0, 0,    3,    6100, 4.5f, -0.5f, 0.3f, 3.0f};
  std::vector<double> truth = {5100, 4, 0, 0.1, 3.1, 5000, 4, 0, 0, 3, 5000, 4, 0, 0, 3, 6000, 4.0, -0.5, 0.5, 3.0};
  std::vector<std::int32_t> bands = {7, 2, 9, 12};
  std::vector<std::uint32_t> flags = {0, posterior::kFlagTooFewBands, 0,
                                      posterior::kFlagOutsideTrainingRange | posterior::kFlagPpc};
  std::vector<float> hdi68(4 * 10), hdi95(4 * 10);
  for (int i = 0; i < 4; ++i)
    for (int p = 0; p < 5; ++p) {
      float m = median[static_cast<std::size_t>(i * 5 + p)];
      hdi68[static_cast<std::size_t>((i * 5 + p) * 2)] = m - 60;  // ±60: misses the 100 K Teff errors
      hdi68[static_cast<std::size_t>((i * 5 + p) * 2 + 1)] = m + 60;
      hdi95[static_cast<std::size_t>((i * 5 + p) * 2)] = m - 150;
      hdi95[static_cast<std::size_t>((i * 5 + p) * 2 + 1)] = m + 150;
    }
  auto r = evaluate_rows(4, median, truth, bands, flags.data(), hdi68.data(), hdi95.data());
  EXPECT_EQ(r.counts.total, 4u);
  EXPECT_EQ(r.counts.evaluated, 2u);
  EXPECT_EQ(r.counts.excluded_too_few_bands, 1u);
  EXPECT_EQ(r.counts.excluded_non_finite, 1u);
  EXPECT_EQ(r.counts.flagged_outside_training_range, 1u);
  EXPECT_EQ(r.counts.flagged_ppc_chi2, 1u);
  EXPECT_EQ(r.coverage_source, "hdi");
  const auto& teff = r.overall.parameters[0].point;
  EXPECT_EQ(teff.n, 2u);
  EXPECT_DOUBLE_EQ(teff.bias, 0.0);  // errors −100 and +100
  EXPECT_DOUBLE_EQ(teff.rms, 100.0);
  EXPECT_DOUBLE_EQ(teff.mad, 100.0);
  const auto& av = r.overall.parameters[3].point;  // errors 0 (float 0.1 vs 0.1) and −0.2
  EXPECT_NEAR(av.bias, -0.1, 1e-6);
  EXPECT_NEAR(av.rms, std::sqrt(0.02), 1e-6);
  EXPECT_NEAR(r.overall.teff_dex.mad, 0.5 * (std::fabs(std::log10(5000.0 / 5100)) + std::log10(6100.0 / 6000)), 1e-9);
  // Teff errors of 100 K: outside ±60 (68 %) but inside ±150 (95 %)
  EXPECT_DOUBLE_EQ(r.overall.parameters[0].hdi68_coverage, 0.0);
  EXPECT_DOUBLE_EQ(r.overall.parameters[0].hdi95_coverage, 1.0);
  ASSERT_EQ(r.overall.parameters[0].coverage.levels.size(), 2u);
  EXPECT_DOUBLE_EQ(r.overall.parameters[0].coverage.max_deviation, 0.68);
  // bins: 7 → 6-10, 12 → 11-15
  ASSERT_EQ(r.by_bands.size(), 2u);
  EXPECT_EQ(r.by_bands[0].label, "6-10");
  EXPECT_EQ(r.by_bands[1].label, "11-15");
  EXPECT_DOUBLE_EQ(r.by_bands[0].parameters[0].point.bias, -100.0);
}

// A posterior file as the sampler writes it (docs/posterior_format.md).
void write_posterior(const std::string& path, int stars, int s, bool with_samples, std::vector<double>& truth_out) {
  auto f = h5::File::create(path);
  f.set_attr("/", "format", std::string("irisml-posterior"));
  f.set_attr("/", "format_version", std::int64_t{1});
  f.set_attr("/", "samples_per_star", static_cast<std::int64_t>(s));
  f.set_attr("/", "seed", std::int64_t{1});
  f.set_attr("/", "model", std::string("run/checkpoint.h5"));
  f.write_strings("parameter_names", {"teff", "logg", "mh", "av", "rv"});
  const auto n = static_cast<std::uint64_t>(stars);
  std::vector<float> median(n * 5), samples(n * s * 5), hdi68(n * 10), hdi95(n * 10);
  truth_out.assign(n * 5, 0);
  std::vector<std::int32_t> bands(n);
  std::vector<std::uint32_t> flags(n, 0);
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; i < n; ++i) {
    Philox rng(11, i);
    bands[i] = 4 + static_cast<int>(i % 15);
    ids.push_back("sim-" + std::to_string(i));
    for (int p = 0; p < 5; ++p) {
      double scale = p == 0 ? 200 : 0.2;
      double mu = (p == 0 ? 5000 : 1) + scale * rng.normal();
      truth_out[i * 5 + static_cast<std::size_t>(p)] = mu + scale * rng.normal();
      std::vector<double> v(static_cast<std::size_t>(s));
      for (int k = 0; k < s; ++k) {
        v[static_cast<std::size_t>(k)] = static_cast<float>(mu + scale * rng.normal());
        samples[(i * s + static_cast<std::uint64_t>(k)) * 5 + static_cast<std::size_t>(p)] =
            static_cast<float>(v[static_cast<std::size_t>(k)]);
      }
      std::sort(v.begin(), v.end());
      median[i * 5 + static_cast<std::size_t>(p)] = static_cast<float>(v[static_cast<std::size_t>(s / 2)]);
      auto h68 = posterior::hdi_sorted(v.data(), v.size(), 0.68), h95 = posterior::hdi_sorted(v.data(), v.size(), 0.95);
      hdi68[(i * 5 + static_cast<std::size_t>(p)) * 2] = static_cast<float>(h68.first);
      hdi68[(i * 5 + static_cast<std::size_t>(p)) * 2 + 1] = static_cast<float>(h68.second);
      hdi95[(i * 5 + static_cast<std::size_t>(p)) * 2] = static_cast<float>(h95.first);
      hdi95[(i * 5 + static_cast<std::size_t>(p)) * 2 + 1] = static_cast<float>(h95.second);
    }
  }
  flags[0] = posterior::kFlagTooFewBands;
  for (const char* name : {"median", "mean", "std", "p16", "p84"}) f.write<float>(name, median, {n, 5});
  f.write<float>("hdi68", hdi68, {n, 5, 2});
  f.write<float>("hdi95", hdi95, {n, 5, 2});
  f.write<std::int32_t>("n_bands", bands, {n});
  f.write<std::uint32_t>("flags", flags, {n});
  f.write<float>("ppc_chi2", std::vector<float>(n, 1.0f), {n});
  if (with_samples) f.write<float>("samples", samples, {n, static_cast<std::uint64_t>(s), 5});
  f.write_strings("id", ids);
  f.close();
}

void write_truth(const std::string& path, const std::vector<double>& truth, bool matching_ids) {
  const std::uint64_t n = truth.size() / 5;
  auto f = h5::File::create(path);
  f.write<float>("SDSS_g", std::vector<float>(n, 15.0f), {n});
  f.write<float>("SDSS_g_err", std::vector<float>(n, 0.01f), {n});
  f.write<double>("true_parameters", truth, {n, 5});
  f.set_attr("true_parameters", "parameter_names", std::string("teff,logg,mh,av,rv"));
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; i < n; ++i) ids.push_back((matching_ids || i != 5 ? "sim-" : "x-") + std::to_string(i));
  f.write_strings("id", ids);
  f.close();
}

TEST(EvaluateTest, FilesToReportEndToEnd) {
  std::string post = temp_path("eval", "post.h5"), truth = temp_path("eval", "truth.h5"),
              report = temp_path("eval", "report");
  std::vector<double> truth_values;
  write_posterior(post, 300, 64, /*with_samples=*/true, truth_values);
  write_truth(truth, truth_values, true);
  EvaluateOptions options;
  options.posterior = post;
  options.truth = truth;
  options.block_rows = 64;  // several blocks
  auto r = evaluate_files(options, {});
  EXPECT_EQ(r.counts.total, 300u);
  EXPECT_EQ(r.counts.excluded_too_few_bands, 1u);
  EXPECT_EQ(r.counts.evaluated, 299u);
  EXPECT_EQ(r.coverage_source, "samples");
  EXPECT_EQ(r.samples_per_star, 64);
  EXPECT_EQ(r.model, "run/checkpoint.h5");
  // Teff: error sd ≈ 200 K·sqrt(1 + small) — RMS within 20 %
  EXPECT_NEAR(r.overall.parameters[0].point.rms, 200, 40);
  // the stored 68 % HDI and the 0.70-level curve point agree roughly (same samples)
  EXPECT_NEAR(r.overall.parameters[0].hdi68_coverage, 0.68, 0.1);
  EXPECT_EQ(r.by_bands.size(), 4u);  // 4..18 bands: 4-5, 6-10, 11-15, 16-20
  ReportInfo info{post, truth, r.model, "test"};
  std::string dir = write_report(r, info, report + "/", false);
  EXPECT_EQ(dir, report);
  EXPECT_FALSE(fs::exists(report + ".partial"));
  std::string json = read_all(report + "/metrics.json");
  std::string html = read_all(report + "/index.html");
  EXPECT_NE(json.find("\"evaluated\": 299"), std::string::npos);
  EXPECT_NE(json.find("\"max_deviation\""), std::string::npos);
  EXPECT_EQ(count(json, "{"), count(json, "}"));
  EXPECT_EQ(count(json, "["), count(json, "]"));
  EXPECT_GE(count(html, "<svg"), 11u);  // 5 density + ≥1 coverage + 5 residual
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_NE(html.find("</html>"), std::string::npos);
  std::string table = summary_table(r);
  EXPECT_NE(table.find("teff"), std::string::npos);
  EXPECT_NE(table.find("299 evaluated"), std::string::npos);
  // an existing report: refused without --overwrite, replaced with it
  EXPECT_THROW(write_report(r, info, report, false), InputError);
  EXPECT_NO_THROW(write_report(r, info, report, true));
  std::string other = temp_path("eval", "not_a_report");
  fs::create_directories(other);
  std::ofstream(other + "/precious.txt") << "keep";
  EXPECT_THROW(check_report_dir(other, true), InputError);
  EXPECT_TRUE(fs::exists(other + "/precious.txt"));
  // A directory that also holds a metrics.json is still not a previous report.
  std::ofstream(other + "/metrics.json") << "{}";
  EXPECT_THROW(write_report(r, info, other, true), InputError);
  EXPECT_TRUE(fs::exists(other + "/precious.txt"));
  // Nor is a '<report>.partial' that holds someone's files.
  fs::create_directories(report + ".partial");
  std::ofstream(report + ".partial/notes.txt") << "keep";
  EXPECT_THROW(write_report(r, info, report, true), InputError);
  EXPECT_TRUE(fs::exists(report + ".partial/notes.txt"));
  fs::remove_all(report + ".partial");
  fs::remove_all(other);
  fs::remove_all(report);
  fs::remove(post);
  fs::remove(truth);
}

TEST(EvaluateTest, WithoutSamplesUsesTheStoredHdisAndIdsMustMatch) {
  std::string post = temp_path("eval", "post_nosamples.h5"), truth = temp_path("eval", "truth2.h5");
  std::vector<double> truth_values;
  write_posterior(post, 120, 32, /*with_samples=*/false, truth_values);
  write_truth(truth, truth_values, true);
  EvaluateOptions options{post, truth};
  auto r = evaluate_files(options, {});
  EXPECT_EQ(r.coverage_source, "hdi");
  ASSERT_EQ(r.overall.parameters[1].coverage.levels, (std::vector<double>{0.68, 0.95}));
  EXPECT_NEAR(r.overall.parameters[1].coverage.coverage[1], 0.95, 0.08);
  write_truth(truth, truth_values, false);
  try {
    evaluate_files(options, {});
    ADD_FAILURE() << "id mismatch not detected";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("row 5"), std::string::npos) << e.what();
  }
  truth_values.resize(100 * 5);
  write_truth(truth, truth_values, true);
  EXPECT_THROW(evaluate_files(options, {}), InputError);  // 120 vs 100 stars
  fs::remove(post);
  fs::remove(truth);
}

TEST(EvaluateTest, BadPosteriorFilesAreClearErrors) {
  std::string wrong = temp_path("eval", "wrong.h5");
  {
    auto f = h5::File::create(wrong);
    f.set_attr("/", "format", std::string("irisml-training-set"));
    f.close();
  }
  try {
    read_posterior_summary(wrong);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("irisml-posterior"), std::string::npos);
  }
  std::string text = temp_path("eval", "text.h5");
  std::ofstream(text) << "not hdf5";
  EXPECT_THROW(read_posterior_summary(text), IoError);
  fs::remove(wrong);
  fs::remove(text);
}

}  // namespace
}  // namespace irisml::validate

namespace irisml::validate {
namespace {

// Minimal posterior files: every star's samples are the same S Gaussian draws around a
// known centre, shifted and scaled per file, so the comparison's numbers are known.
void write_gaussian_posterior(const std::string& path, int stars, int s, double shift_sd, double width,
                              std::uint32_t flag0) {
  auto f = h5::File::create(path);
  f.set_attr("/", "format", std::string("irisml-posterior"));
  f.set_attr("/", "samples_per_star", static_cast<std::int64_t>(s));
  const auto n = static_cast<std::uint64_t>(stars);
  const double centre[5] = {5000, 4.0, -0.3, 0.5, 3.1}, sd[5] = {100, 0.3, 0.1, 0.05, 0.2};
  std::vector<float> median(n * 5), stdv(n * 5), samples(n * s * 5);
  Philox rng(3, 0);
  std::vector<double> z(static_cast<std::size_t>(s) * 5);
  for (auto& v : z) v = rng.normal();
  for (std::uint64_t i = 0; i < n; ++i) {
    for (int p = 0; p < 5; ++p) {
      const double c = centre[p] + shift_sd * sd[p];
      median[i * 5 + p] = static_cast<float>(c);
      stdv[i * 5 + p] = static_cast<float>(width * sd[p]);
      for (int k = 0; k < s; ++k) {
        samples[(i * s + k) * 5 + p] = static_cast<float>(c + width * sd[p] * z[static_cast<std::size_t>(k) * 5 + p]);
      }
    }
  }
  std::vector<std::uint32_t> flags(n, 0);
  flags[0] = flag0;
  f.write<float>("median", median, {n, 5});
  f.write<float>("std", stdv, {n, 5});
  f.write<std::int32_t>("n_bands", std::vector<std::int32_t>(n, 10), {n});
  f.write<std::uint32_t>("flags", flags, {n});
  f.write<float>("samples", samples, {n, static_cast<std::uint64_t>(s), 5});
  f.close();
}

TEST(ReferenceComparisonTest, ShiftWidthAndEnergyDistanceAreMeasured) {
  test_support::TempDir dir("evaluate", "reference");
  const std::string ref = (dir.path() / "ref.h5").string(), same = (dir.path() / "same.h5").string(),
                    off = (dir.path() / "off.h5").string();
  write_gaussian_posterior(ref, 20, 64, 0.0, 1.0, posterior::kFlagLowEss);  // star 0: reference not converged
  write_gaussian_posterior(same, 20, 64, 0.0, 1.0, 0);
  write_gaussian_posterior(off, 20, 64, 0.5, 2.0, 0);
  const auto a = compare_with_reference(same, "flow", ref, 7);
  EXPECT_EQ(a.stars, 19u);
  EXPECT_EQ(a.skipped_reference_low_ess, 1u);
  EXPECT_NEAR(a.bias[0], 0.0, 1e-3);
  EXPECT_NEAR(a.width_ratio[2], 1.0, 1e-6);
  ASSERT_TRUE(a.has_energy);
  EXPECT_NEAR(a.energy_median, 0.0, 1e-6);  // identical sample sets
  const auto b = compare_with_reference(off, "flow", ref, 7);
  EXPECT_NEAR(b.bias[0], 50.0, 1e-3);  // 0.5 sd of 100 K
  EXPECT_NEAR(b.rms[1], 0.15, 1e-6);
  EXPECT_NEAR(b.median_abs_z[3], 0.5, 1e-4);
  EXPECT_NEAR(b.width_ratio[4], 2.0, 1e-6);
  EXPECT_GT(b.energy_median, 0.5);
  EXPECT_NE(reference_table(b, "flow").find("width ratio"), std::string::npos);
  EXPECT_NE(reference_json(b).find("\"energy_distance\""), std::string::npos);
  // another catalogue: refused
  write_gaussian_posterior(off, 21, 64, 0.5, 2.0, 0);
  EXPECT_THROW(compare_with_reference(off, "flow", ref, 7), InputError);
  EXPECT_THROW(compare_with_reference(same, "importance", ref, 7), InputError);  // no /importance
}

// The reprocessing manifest: each input's status from its output and status file, flag
// counts from the posterior file itself, and an output that is not a posterior reported.
TEST(ManifestTest, StatusOfEveryInputFromItsOutputAndAttempts) {
  test_support::TempDir dir("manifest", "run");
  const std::string d = dir.path();
  std::vector<double> truth;
  write_posterior(d + "/a.post.h5", 40, 8, false, truth);  // ok: star 0 has too few bands
  std::ofstream(d + "/a.post.h5.status") << "attempt\t3\t10.5\t7_0\tinterrupted\nattempt\t0\t4.5\t7_0\t\n";
  std::ofstream(d + "/b.post.h5.progress") << "irisml-sample-progress 1\n";  // partial
  std::ofstream(d + "/b.post.h5.status") << "attempt\t3\t2\t7_1\tinterrupted\n";
  std::ofstream(d + "/c.post.h5.status")
      << "attempt\t2\t0.3\t7_1\tirisml: error: catalogue 'c.csv' line 4: ragged row\n";
  std::ofstream(d + "/e.post.h5") << "not hdf5";  // d.post.h5: never run
  std::ofstream(d + "/plan.tsv") << "# input\toutput\n"
                                 << "a.csv\t" << d << "/a.post.h5\n"
                                 << "b.csv\t" << d << "/b.post.h5\n"
                                 << "c.csv\t" << d << "/c.post.h5\n"
                                 << "d.csv\t" << d << "/d.post.h5\n"
                                 << "e.csv\t" << d << "/e.post.h5\n";
  const auto m = build_manifest(d + "/plan.tsv");
  ASSERT_EQ(m.rows.size(), 5u);
  EXPECT_EQ(m.rows[0].status, "ok");
  EXPECT_EQ(m.rows[0].stars, 40u);
  EXPECT_EQ(m.rows[0].clean, 39u);
  EXPECT_EQ(m.rows[0].flagged[0], 1u);  // too_few_bands
  EXPECT_EQ(m.rows[0].attempts, 2);
  EXPECT_DOUBLE_EQ(m.rows[0].wall_s, 15.0);
  EXPECT_EQ(m.rows[1].status, "partial");
  EXPECT_EQ(m.rows[2].status, "failed");
  EXPECT_EQ(m.rows[2].last_exit, 2);
  EXPECT_NE(m.rows[2].message.find("ragged row"), std::string::npos);
  EXPECT_EQ(m.rows[3].status, "missing");
  EXPECT_EQ(m.rows[4].status, "failed");
  EXPECT_NE(m.rows[4].message.find("not a valid posterior"), std::string::npos);
  EXPECT_EQ(m.ok, 1u);
  EXPECT_EQ(m.stars, 40u);
  EXPECT_FALSE(m.complete());
  write_manifest(m, d + "/manifest.tsv");
  std::ifstream in(d + "/manifest.tsv");
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header.rfind("input\toutput\tstatus\tstars\tclean\ttoo_few_bands", 0), 0u) << header;
  EXPECT_EQ(first.rfind("a.csv\t" + d + "/a.post.h5\tok\t40\t39\t1\t0", 0), 0u) << first;
  const std::string summary = manifest_summary(m);
  EXPECT_NE(summary.find("5 input(s): 1 ok (40 stars"), std::string::npos) << summary;
  EXPECT_NE(summary.find("failed: c.csv: irisml: error"), std::string::npos) << summary;

  std::ofstream(d + "/dup.tsv") << "a.csv\t" << d << "/a.post.h5\nz/a.csv\t" << d << "/a.post.h5\n";
  test_support::expect_error<InputError>([&] { build_manifest(d + "/dup.tsv"); }, {"named twice", "line 2"});
  std::ofstream(d + "/bad.tsv") << "a.csv " << d << "/a.post.h5\n";
  test_support::expect_error<InputError>([&] { build_manifest(d + "/bad.tsv"); },
                                         {"bad.tsv", "line 1", "input<TAB>output"});
}

}  // namespace
}  // namespace irisml::validate
