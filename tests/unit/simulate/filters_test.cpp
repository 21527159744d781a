#include "simulate/filters.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace irisml::simulate {
namespace {

const std::string kDataDir = IRISML_TEST_DATA_DIR;
const std::string kIni = std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini";

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "irisml_filters_XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Expects `fn` to throw InputError whose message contains every piece.
template <typename Fn>
void expect_input_error(Fn fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "no InputError thrown";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& piece : pieces)
      EXPECT_NE(msg.find(piece), std::string::npos) << "'" << piece << "' not in: " << msg;
  }
}

TEST(FilterRegistryTest, LoadsTheProjectRegistry) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  EXPECT_EQ(reg.names().size(), 31u);
  EXPECT_EQ(reg.set("all").size(), 31u);
  auto paper = reg.set("paper");
  ASSERT_EQ(paper.size(), 25u);
  // The published code's 25 bands (issue 10 §3): GALEX FUV out (chromospheric for FGKM
  // stars), SkyMapper v in.
  const std::vector<std::string> published{"Gaia_G",      "Gaia_BP",     "Gaia_RP",     "GALEX_NUV",   "PS1_g",
                                           "PS1_r",       "PS1_i",       "PS1_z",       "PS1_y",       "SDSS_u",
                                           "SDSS_g",      "SDSS_r",      "SDSS_i",      "SDSS_z",      "SkyMapper_u",
                                           "SkyMapper_v", "SkyMapper_g", "SkyMapper_r", "SkyMapper_i", "SkyMapper_z",
                                           "2MASS_J",     "2MASS_H",     "2MASS_Ks",    "WISE_W1",     "WISE_W2"};
  EXPECT_EQ(paper, published);
  EXPECT_EQ(reg.resolve("paper"), paper);
  const auto standard = reg.set("standard");  // the default training set: FUV only by name
  EXPECT_EQ(std::count(standard.begin(), standard.end(), "GALEX_FUV"), 0);
  EXPECT_EQ(standard.size(), 28u);
  EXPECT_EQ(reg.resolve("GALEX_FUV,GALEX_NUV").front(), "GALEX_FUV");

  const auto& u = reg.get("SDSS_u");
  EXPECT_EQ(u.system, FilterSpec::System::AB);
  EXPECT_EQ(u.detector, FilterSpec::Detector::Photon);
  EXPECT_DOUBLE_EQ(u.catalog_offset, -0.04);
  EXPECT_DOUBLE_EQ(reg.get("SDSS_z").catalog_offset, 0.02);
  EXPECT_DOUBLE_EQ(reg.get("SDSS_g").catalog_offset, 0.0);
  EXPECT_EQ(reg.get("2MASS_Ks").detector, FilterSpec::Detector::Energy);
  EXPECT_EQ(reg.get("2MASS_Ks").system, FilterSpec::System::Vega);
  EXPECT_EQ(reg.get("WISE_W1").system, FilterSpec::System::Vega);
  EXPECT_DOUBLE_EQ(reg.get("Gaia_G").vega_magnitude, 0.023);
  EXPECT_DOUBLE_EQ(reg.get("Gaia_DR2_RP").vega_magnitude, 0.023);
  EXPECT_DOUBLE_EQ(reg.get("WISE_W1").vega_magnitude, 0.0);
  EXPECT_EQ(reg.get("PS1_y").survey, "Pan-STARRS1");
}

TEST(FilterRegistryTest, EveryCurveLoadsAndIsValid) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  for (const auto& name : reg.names()) {
    FilterCurve c = reg.curve(name);
    ASSERT_GE(c.wavelength.size(), 2u) << name;
    for (double r : c.response) EXPECT_GE(r, 0.0) << name;
  }
  // The published Gaia DR2 G table ends in two tiny negative values: clipped to 0.
  FilterCurve g2 = reg.curve("Gaia_DR2_G");
  EXPECT_EQ(g2.response.back(), 0.0);
  EXPECT_DOUBLE_EQ(g2.wavelength.back(), 10990.0);
  // ... but the plain loader refuses them, naming the line and value.
  expect_input_error([&] { load_filter_curve(reg.curve_path("Gaia_DR2_G"), "Gaia_DR2_G"); },
                     {"Gaia_DR2_G", "Gaia_DR2_G.dat", "line 3196", "-1.257", "negative"});
}

TEST(FilterRegistryTest, ResolvesListsAndRejectsUnknownNames) {
  auto reg = FilterRegistry::load(kIni, kDataDir);
  EXPECT_EQ(reg.resolve(" SDSS_g , SDSS_r"), (std::vector<std::string>{"SDSS_g", "SDSS_r"}));
  auto mixed = reg.resolve("paper,Gaia_DR2_G");
  ASSERT_EQ(mixed.size(), 26u);
  EXPECT_EQ(mixed.back(), "Gaia_DR2_G");
  expect_input_error([&] { reg.get("PS1_q"); }, {"'PS1_q'", "unknown", "GALEX_FUV", "WISE_W4"});
  expect_input_error([&] { reg.resolve("SDSS_g,PS1_q"); }, {"'PS1_q'", "known filters", "paper"});
  expect_input_error([&] { reg.resolve("SDSS_g,SDSS_g"); }, {"SDSS_g", "more than once"});
  expect_input_error([&] { reg.resolve("paper,SDSS_u"); }, {"SDSS_u", "more than once"});
  expect_input_error([&] { reg.resolve(""); }, {"empty"});
  expect_input_error([&] { reg.resolve("SDSS_g,,SDSS_r"); }, {"empty item"});
  expect_input_error([&] { reg.set("nosuchset"); }, {"nosuchset", "paper", "all"});
}

TEST(FilterRegistryTest, RejectsMalformedRegistries) {
  TempDir dir;
  const std::string band = "[A]\nfile = a.dat\nsystem = AB\ndetector = photon\n";
  EXPECT_THROW(FilterRegistry::load(dir.path() + "/missing.ini", kDataDir), IoError);
  expect_input_error(
      [&] { FilterRegistry::load(dir.write("r1.ini", "[A]\nfile = a.dat\nsystem = ST\ndetector = photon\n"), "."); },
      {"r1.ini:3", "ST", "AB or Vega"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r2.ini", "[A]\nfile = a.dat\nsystem = AB\n"), "."); },
                     {"r2.ini:1", "[A]", "detector"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r3.ini", band + "colour = red\n"), "."); },
                     {"r3.ini:5", "unknown key 'colour'"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r4.ini", band + "catalog_offset = abc\n"), "."); },
                     {"r4.ini:5", "abc"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r5.ini", band + band), "."); }, {"r5.ini:5", "twice"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r6.ini", "[sets]\nmine = A, B\n" + band), "."); },
                     {"r6.ini:2", "unknown band 'B'"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r7.ini", "[sets]\nall = A\n" + band), "."); },
                     {"r7.ini:2", "built in"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r8.ini", "file = x\n" + band), "."); },
                     {"r8.ini:1", "before any [section]"});
  expect_input_error([&] { FilterRegistry::load(dir.write("r9.ini", "[A\n"), "."); }, {"r9.ini:1", "']'"});
  // comments (both kinds, inline too) and continuation lines are accepted
  auto reg = FilterRegistry::load(
      dir.write("ok.ini", "# registry\n[sets]\nboth = A,   ; first\n   B\n" + band +
                              "survey = Demo  # inline\n[B]\nfile=b.dat\nsystem=vega\ndetector=energy\n"),
      dir.path());
  EXPECT_EQ(reg.set("both"), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(reg.get("A").survey, "Demo");
  EXPECT_EQ(reg.get("B").system, FilterSpec::System::Vega);
  EXPECT_EQ(reg.curve_path("B"), dir.path() + "/b.dat");
  EXPECT_THROW(reg.curve("B"), IoError);  // the curve file does not exist
}

TEST(FilterCurveTest, LoadsAValidCurve) {
  TempDir dir;
  auto c = load_filter_curve(dir.write("ok.dat", "# header\n4000 0\n\n4500 0.5\n5000 1e-1\n5500 0.\n"), "X");
  ASSERT_EQ(c.wavelength.size(), 4u);
  EXPECT_DOUBLE_EQ(c.wavelength[1], 4500.0);
  EXPECT_DOUBLE_EQ(c.response[2], 0.1);
}

TEST(FilterCurveTest, RejectsMalformedCurves) {
  TempDir dir;
  EXPECT_THROW(load_filter_curve(dir.path() + "/none.dat", "X"), IoError);
  expect_input_error([&] { load_filter_curve(dir.write("dec.dat", "4000 0\n4500 1\n4400 1\n"), "X"); },
                     {"filter 'X'", "dec.dat", "line 3", "4400", "strictly increasing"});
  expect_input_error([&] { load_filter_curve(dir.write("eq.dat", "4000 0\n4000 1\n"), "X"); },
                     {"eq.dat", "line 2", "strictly increasing"});
  expect_input_error([&] { load_filter_curve(dir.write("neg.dat", "4000 0\n4500 -0.2\n5000 1\n"), "X"); },
                     {"neg.dat", "line 2", "-0.2", "negative"});
  expect_input_error([&] { load_filter_curve(dir.write("nan.dat", "4000 0\n4500 nan\n5000 1\n"), "X"); },
                     {"nan.dat", "line 2", "'nan'", "finite"});
  expect_input_error([&] { load_filter_curve(dir.write("inf.dat", "4000 0\n4500 inf\n"), "X"); },
                     {"inf.dat", "line 2", "'inf'"});
  expect_input_error([&] { load_filter_curve(dir.write("cols.dat", "4000 0 1\n4500 1 1\n"), "X"); },
                     {"cols.dat", "line 1", "two columns", "found 3"});
  expect_input_error([&] { load_filter_curve(dir.write("txt.dat", "4000 0\n45x0 1\n"), "X"); },
                     {"txt.dat", "line 2", "45x0"});
  expect_input_error([&] { load_filter_curve(dir.write("one.dat", "4000 1\n"), "X"); }, {"one.dat", "1 data row"});
  expect_input_error([&] { load_filter_curve(dir.write("zero.dat", "4000 0\n4500 0\n"), "X"); }, {"zero.dat", "<= 0"});
  // clipping only clears tiny negatives
  auto c = load_filter_curve(dir.write("tiny.dat", "4000 1\n4500 -1e-5\n"), "X", true);
  EXPECT_EQ(c.response[1], 0.0);
  expect_input_error([&] { load_filter_curve(dir.write("big.dat", "4000 1\n4500 -0.1\n"), "X", true); },
                     {"big.dat", "line 2", "-0.1"});
}

}  // namespace
}  // namespace irisml::simulate
