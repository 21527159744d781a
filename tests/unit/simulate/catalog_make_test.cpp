#include "simulate/catalog_make.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

using irisml::test_support::expect_error;
using irisml::test_support::temp_path;

namespace fs = std::filesystem;

// A large SDSS_u offset makes a missing or doubled offset obvious against σ ≤ 0.05.
const KnownFilters kKnown = {{"SDSS_u", -0.5}, {"SDSS_g", 0.0},  {"SDSS_r", 0.0},  {"SDSS_i", 0.0},
                             {"SDSS_z", 0.3},  {"2MASS_J", 0.0}, {"2MASS_H", 0.0}, {"2MASS_Ks", 0.0}};
const std::vector<std::string> kSetFilters = {"SDSS_u", "SDSS_g",  "SDSS_r",  "SDSS_i",
                                              "SDSS_z", "2MASS_J", "2MASS_H", "2MASS_Ks"};

// A small simulated set in the training-set format (docs/training_set_format.md).
std::string write_training_set(const std::string& name, std::uint64_t n, std::vector<float>& mags,
                               std::vector<double>& params) {
  std::string path = temp_path("catmake", name);
  const std::uint64_t f = kSetFilters.size();
  mags.resize(n * f);
  params.resize(n * 5);
  for (std::uint64_t i = 0; i < n; ++i) {
    for (std::uint64_t j = 0; j < f; ++j) mags[i * f + j] = 5.0f + 0.25f * static_cast<float>(j) + 0.001f * i;
    double p[5] = {4000.0 + 10.0 * i, 4.5, -0.2, 0.01 * i, 3.1};
    for (int k = 0; k < 5; ++k) params[i * 5 + static_cast<std::uint64_t>(k)] = p[k];
  }
  auto file = h5::File::create(path);
  file.set_attr("/", "format", std::string("irisml-training-set"));
  file.set_attr("/", "seed", std::int64_t{1});
  file.write<double>("parameters", params, {n, 5});
  file.write<float>("magnitudes", mags, {n, f});
  file.write_strings("filters", kSetFilters);
  file.write_strings("parameter_names", {"teff", "logg", "mh", "av", "rv"});
  file.close();
  return path;
}

TEST(CatalogMakeTest, WritesARealisticCatalogueThatReadsBackConsistently) {
  std::vector<float> mags;
  std::vector<double> params;
  const std::uint64_t n = 400;
  std::string set = write_training_set("set.h5", n, mags, params);
  std::string out = temp_path("catmake", "cat.h5");
  CatalogMakeOptions o;
  o.from = set;
  o.output = out;
  o.seed = 42;
  o.noise.bands_min = 3;
  o.noise.bands_max = 6;
  o.noise.sigma_min = 0.01;
  o.noise.sigma_max = 0.05;
  o.block_rows = 64;  // several blocks
  auto report = make_catalog(o, kKnown);
  EXPECT_EQ(report.stars, n);
  EXPECT_EQ(report.filters, kSetFilters);
  EXPECT_EQ(report.min_bands, 3);
  EXPECT_EQ(report.max_bands, 6);
  EXPECT_NEAR(report.mean_bands, 4.5, 0.2);
  EXPECT_FALSE(fs::exists(out + ".partial"));

  auto cat = CatalogReader::open(out, kKnown);
  ASSERT_EQ(cat.rows(), n);
  EXPECT_EQ(cat.filters(), kSetFilters);  // registry order = set order here
  ASSERT_TRUE(cat.has_truth());
  ASSERT_TRUE(cat.has_id());
  auto b = cat.read(0, n);
  EXPECT_EQ(b.id[0], "sim-0");
  EXPECT_EQ(b.id[n - 1], "sim-399");
  EXPECT_EQ(b.truth, params);
  double z_sum = 0, z2_sum = 0;
  long observed = 0;
  const std::size_t f = kSetFilters.size();
  for (std::uint64_t i = 0; i < n; ++i) {
    int k = b.bands(i);
    EXPECT_GE(k, 3);
    EXPECT_LE(k, 6);
    for (std::size_t j = 0; j < f; ++j) {
      float m = b.mag[i * f + j], e = b.err[i * f + j];
      if (std::isnan(m)) {
        EXPECT_TRUE(std::isnan(e));
        continue;
      }
      EXPECT_GE(e, 0.01f * 0.999f);
      EXPECT_LE(e, 0.05f * 1.001f);
      // The reader adds the offset back: magnitudes scatter around the clean ones.
      // quoted errors leave out the systematic term that is in the noise
      double z = (m - mags[i * f + j]) / std::sqrt(e * e + o.noise.sigma_sys * o.noise.sigma_sys);
      EXPECT_LT(std::fabs(z), 6.0) << "star " << i << " filter " << kSetFilters[j];
      z_sum += z;
      z2_sum += z * z;
      ++observed;
    }
  }
  ASSERT_GT(observed, 1500);
  EXPECT_NEAR(z_sum / observed, 0.0, 0.1);
  EXPECT_NEAR(z2_sum / observed, 1.0, 0.12);
  // the stored values are catalogue magnitudes: model magnitude minus the offset
  h5::File raw = h5::File::open(out);
  auto u = raw.read<float>("SDSS_u");
  EXPECT_EQ(raw.attr_string("/", "format"), "irisml-catalog");
  EXPECT_EQ(raw.attr_string("/", "noise.bands_min"), "3");
  for (std::uint64_t i = 0; i < n; ++i) {
    if (!std::isnan(u[i])) {
      EXPECT_NEAR(u[i], mags[i * f] + 0.5f, 0.3f);  // 0.5 offset ≫ 6σ = 0.3
    }
  }
  fs::remove(set);
  fs::remove(out);
}

TEST(CatalogMakeTest, DeterministicPerSeedAndRestrictableToFiltersAndStars) {
  std::vector<float> mags;
  std::vector<double> params;
  std::string set = write_training_set("set2.h5", 120, mags, params);
  auto make = [&](const std::string& name, std::uint64_t seed, std::uint64_t block) {
    CatalogMakeOptions o;
    o.from = set;
    o.output = temp_path("catmake", name);
    o.seed = seed;
    o.noise.bands_min = 2;
    o.block_rows = block;
    o.overwrite = true;
    make_catalog(o, kKnown);
    auto cat = CatalogReader::open(o.output, kKnown);
    auto b = cat.read(0, cat.rows());
    fs::remove(o.output);
    return b;
  };
  auto a = make("a.h5", 9, 1000);
  auto b = make("b.h5", 9, 7);  // block size does not matter
  auto c = make("c.h5", 10, 1000);
  EXPECT_EQ(std::memcmp(a.mag.data(), b.mag.data(), a.mag.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.err.data(), b.err.data(), a.err.size() * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(a.mag.data(), c.mag.data(), a.mag.size() * sizeof(float)), 0);

  CatalogMakeOptions o;
  o.from = set;
  o.output = temp_path("catmake", "restricted.h5");
  o.filters = {"2MASS_J", "SDSS_g", "SDSS_r"};
  o.noise.bands_min = 3;
  o.stars = 50;
  auto report = make_catalog(o, kKnown);
  EXPECT_EQ(report.stars, 50u);
  EXPECT_EQ(report.min_bands, 3);  // all three bands, every star
  auto cat = CatalogReader::open(o.output, kKnown);
  EXPECT_EQ(cat.rows(), 50u);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_g", "SDSS_r", "2MASS_J"}));  // registry order
  fs::remove(o.output);
  fs::remove(set);
}

TEST(CatalogMakeTest, BadInputIsRefusedAndExistingOutputIsUntouched) {
  std::vector<float> mags;
  std::vector<double> params;
  std::string set = write_training_set("set3.h5", 30, mags, params);
  std::string out = temp_path("catmake", "exists.h5");
  std::ofstream(out) << "precious";
  CatalogMakeOptions o;
  o.from = set;
  o.output = out;
  expect_error<InputError>([&] { make_catalog(o, kKnown); }, {"already exists", "--overwrite"});
  {
    std::ifstream in(out);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "precious");
  }
  fs::remove(out);
  o.filters = {"SDSS_g", "PS1_g"};
  expect_error<InputError>([&] { make_catalog(o, kKnown); }, {"'PS1_g'", "SDSS_u, SDSS_g"});
  o.filters = {"SDSS_g", "SDSS_r"};  // fewer than bands_min = 6
  expect_error<InputError>([&] { make_catalog(o, kKnown); }, {"noise.bands_min = 6", "only 2"});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  o.filters.clear();
  o.stars = 31;
  expect_error<InputError>([&] { make_catalog(o, kKnown); }, {"--stars = 31", "30 stars"});
  o.stars = 0;
  KnownFilters partial_registry(kKnown.begin(), kKnown.begin() + 4);
  expect_error<InputError>([&] { make_catalog(o, partial_registry); }, {"'SDSS_z'", "not in the filter registry"});
  // not a training set
  std::string cat = temp_path("catmake", "notaset.h5");
  {
    auto f = h5::File::create(cat);
    f.write<float>("SDSS_g", {1.0f}, {1});
    f.close();
  }
  o.from = cat;
  expect_error<InputError>([&] { make_catalog(o, kKnown); }, {"not a simulated set", "/parameters"});
  std::string text = temp_path("catmake", "text.h5");
  std::ofstream(text) << "hello";
  o.from = text;
  expect_error<IoError>([&] { make_catalog(o, kKnown); }, {text, "not an HDF5 file"});
  EXPECT_FALSE(fs::exists(out));
  for (const auto& p : {set, cat, text}) fs::remove(p);
}

}  // namespace
}  // namespace irisml::simulate
