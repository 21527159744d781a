// The per-band calibration file: written and read back, and bad files refused naming the
// file, line, band and value.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "simulate/calibration.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

namespace fs = std::filesystem;
using irisml::test_support::expect_error;

const std::vector<std::string> kKnown = {"Gaia_G", "Gaia_BP", "Gaia_RP", "2MASS_J"};

std::string scratch_file(const std::string& name, const std::string& text) {
  const std::string path = (fs::temp_directory_path() / ("irisml_calibration_" + name)).string();
  std::ofstream(path) << text;
  return path;
}

TEST(CalibrationFileTest, RoundTripsAndCoversBands) {
  Calibration c;
  BandCalibration g;
  g.offset = -0.0123;
  g.sigma_sys = 0.0051;
  g.offset_err = 0.002;
  g.sigma_sys_err = 0.001;
  g.stars = 150;
  c.set("Gaia_G", g);
  BandCalibration j;
  j.offset = 0.0123;
  j.sigma_sys = 0.03;
  c.set("2MASS_J", j);
  const std::string path = (fs::temp_directory_path() / "irisml_calibration_roundtrip.ini").string();
  c.save(path, {{"method", "test"}, {"stars", "150"}});
  const auto back = Calibration::load(path, kKnown);
  ASSERT_EQ(back.bands().size(), 2u);
  EXPECT_NEAR(back.find("Gaia_G")->offset, -0.0123, 1e-9);
  EXPECT_NEAR(back.find("Gaia_G")->sigma_sys, 0.0051, 1e-9);
  EXPECT_NEAR(back.find("Gaia_G")->offset_err, 0.002, 1e-9);
  EXPECT_EQ(back.find("Gaia_G")->stars, 150);
  EXPECT_TRUE(std::isnan(back.find("2MASS_J")->offset_err));
  const auto both = back.for_bands({"2MASS_J", "Gaia_G"}, "test");
  EXPECT_NEAR(both[0].sigma_sys, 0.03, 1e-9);
  expect_error<InputError>(
      [&] {
        back.for_bands({"Gaia_G", "Gaia_BP", "Gaia_RP"}, "catalogue 'x.csv'");
      },
      {"Gaia_BP, Gaia_RP", "catalogue 'x.csv'", "it covers: Gaia_G, 2MASS_J"});
  EXPECT_NE(back.describe().find("Gaia_G:-0.0123:0.0051"), std::string::npos);
  fs::remove(path);
}

TEST(CalibrationFileTest, BadFilesNameFileLineAndValue) {
  struct Case {
    const char* text;
    std::vector<std::string> needles;
  };
  const Case cases[] = {
      {"[PS1_q]\noffset = 0\nsigma_sys = 0.01\n", {":1:", "[PS1_q]", "not in the filter registry", "Gaia_G"}},
      {"[Gaia_G]\noffset = 0\n", {":1:", "[Gaia_G] needs both offset and sigma_sys"}},
      {"[Gaia_G]\noffset = zero\nsigma_sys = 0.01\n", {":2:", "offset = 'zero' is not a finite number"}},
      {"[Gaia_G]\noffset = 0\nsigma_sys = -0.01\n", {":3:", "sigma_sys = -0.01", "[0, 1)"}},
      {"[Gaia_G]\noffset = 2\nsigma_sys = 0.01\n", {":2:", "offset = 2"}},
      {"[Gaia_G]\noffset = 0\nsigma_sys = 0.01\nslope = 1\n", {":4:", "unknown key 'slope'"}},
      {"[Gaia_G]\noffset = 0\nsigma_sys = 0.01\n[Gaia_G]\noffset = 0\nsigma_sys = 0.01\n", {"appears twice"}},
      {"[calibration]\nmethod = x\n", {"no band sections"}},
  };
  int k = 0;
  for (const auto& c : cases) {
    const std::string path = scratch_file("bad" + std::to_string(k++) + ".ini", c.text);
    auto needles = c.needles;
    needles.push_back(path);
    expect_error<InputError>([&] { Calibration::load(path, kKnown); }, needles);
    fs::remove(path);
  }
}

}  // namespace
}  // namespace irisml::simulate
