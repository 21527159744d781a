#include "io/fits.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "test_support.hpp"

namespace irisml {
namespace {

using irisml::test_support::expect_error;
using irisml::test_support::temp_path;

namespace fs = std::filesystem;

std::string ck04_file(const std::string& relative) {
  return std::string(IRISML_TEST_DATA_DIR) + "/spectra/ck04models/" + relative;
}

// A small table file: primary keys, then a table with float, double and text columns.
std::string write_sample(const std::string& name) {
  std::string path = temp_path("fits", name);
  auto f = fits::File::create(path);
  f.write_key("TEFF", std::int64_t{5750}, "effective temperature");
  f.write_key("LOG_Z", -0.5);
  f.write_key("ORIGIN", std::string("irisml test"));
  f.create_table("SPECTRUM",
                 {{"WAVELENGTH", "1E", "ANGSTROM"}, {"FLUX", "1D", "FLAM"}, {"ID", "12A", ""}, {"VEC", "3E", ""}}, 3);
  f.write_column("WAVELENGTH", std::vector<float>{1000.5f, 2000.25f, 3000.0f});
  f.write_column("FLUX", std::vector<double>{1.0e-3, 2.5e7, -4.0});
  f.write_column("ID", std::vector<std::string>{"Gaia 123", "2MASS J00+01", ""});
  f.close();
  return path;
}

TEST(FitsTest, ReadsKeysAndColumnsItWrote) {
  std::string path = write_sample("sample.fits");
  auto f = fits::File::open(path);
  EXPECT_EQ(f.hdu_count(), 2);
  EXPECT_EQ(f.current_hdu(), 0);
  EXPECT_FALSE(f.is_table());
  EXPECT_DOUBLE_EQ(f.key_double("TEFF"), 5750.0);
  EXPECT_EQ(f.key_int("TEFF"), 5750);
  EXPECT_DOUBLE_EQ(f.key_double("LOG_Z"), -0.5);
  EXPECT_EQ(f.key_string("ORIGIN"), "irisml test");
  EXPECT_TRUE(f.has_key("LOG_Z"));
  EXPECT_FALSE(f.has_key("LOGG"));

  f.move_to_hdu(1);
  EXPECT_TRUE(f.is_table());
  EXPECT_EQ(f.num_rows(), 3);
  EXPECT_EQ(f.column_names(), (std::vector<std::string>{"WAVELENGTH", "FLUX", "ID", "VEC"}));
  EXPECT_TRUE(f.has_column("wavelength"));  // case-insensitive, as FITS column names are
  EXPECT_FALSE(f.has_column("WAVE"));
  EXPECT_EQ(f.read_float_column("WAVELENGTH"), (std::vector<float>{1000.5f, 2000.25f, 3000.0f}));
  EXPECT_EQ(f.read_double_column("FLUX"), (std::vector<double>{1.0e-3, 2.5e7, -4.0}));
  // cfitsio converts between numeric types.
  EXPECT_EQ(f.read_double_column("WAVELENGTH"), (std::vector<double>{1000.5, 2000.25, 3000.0}));
  EXPECT_EQ(f.read_string_column("ID"), (std::vector<std::string>{"Gaia 123", "2MASS J00+01", ""}));
  fs::remove(path);
}

TEST(FitsTest, MissingColumnNamesFileColumnAndColumnsPresent) {
  std::string path = write_sample("missing.fits");
  auto f = fits::File::open(path);
  f.move_to_hdu(1);
  expect_error<IoError>([&] { f.read_float_column("g45"); }, {path, "'g45'", "WAVELENGTH, FLUX, ID, VEC"});
  expect_error<IoError>([&] { f.read_float_column("ID"); }, {path, "'ID'", "text"});
  expect_error<IoError>([&] { f.read_string_column("FLUX"); }, {path, "'FLUX'", "numeric"});
  expect_error<IoError>([&] { f.read_float_column("VEC"); }, {path, "'VEC'", "repeat 3"});
  fs::remove(path);
}

TEST(FitsTest, ErrorsCarryCfitsioMessageAndFile) {
  std::string path = write_sample("errors.fits");
  auto f = fits::File::open(path);
  // A missing key: the check macro records the call, the key and cfitsio's status text.
  expect_error<IoError>([&] { f.key_double("NOSUCHKY"); },
                        {path, "NOSUCHKY", "fits_read_key", "status 202", "fits.cpp:"});
  expect_error<IoError>([&] { f.move_to_hdu(2); }, {path, "HDU 2", "has 2 HDUs"});
  expect_error<IoError>([&] { f.num_rows(); }, {path, "not a table"});
  std::string missing = temp_path("fits", "does_not_exist.fits");
  expect_error<IoError>([&] { fits::File::open(missing); }, {missing, "cannot open"});
  // A file that is not FITS at all.
  std::string text = temp_path("fits", "not_fits.fits");
  {
    std::FILE* out = std::fopen(text.c_str(), "w");
    ASSERT_NE(out, nullptr);
    std::fputs("hello, not a FITS file\n", out);
    std::fclose(out);
  }
  expect_error<IoError>([&] { fits::File::open(text); }, {text});
  fs::remove(text);
  fs::remove(path);
}

TEST(FitsTest, ReadsPublishedCk04Table) {
  // The example header of AA_README: ckp00_8000 has TEFF 8000, LOG_Z 0, and
  // zero-filled g00/g05 columns (no models at log g 0.0 and 0.5).
  auto f = fits::File::open(ck04_file("ckp00/ckp00_8000.fits"));
  EXPECT_EQ(f.key_int("TEFF"), 8000);
  EXPECT_DOUBLE_EQ(f.key_double("LOG_Z"), 0.0);
  f.move_to_hdu(1);
  EXPECT_EQ(f.num_rows(), 1221);
  auto names = f.column_names();
  ASSERT_EQ(names.size(), 12u);
  EXPECT_EQ(names.front(), "WAVELENGTH");
  EXPECT_EQ(names[1], "g00");
  EXPECT_EQ(names.back(), "g50");
  auto wave = f.read_float_column("WAVELENGTH");
  EXPECT_NEAR(wave.front(), 90.9, 1e-3);
  EXPECT_NEAR(wave.back(), 1.6e6, 1.0);
  for (const char* empty : {"g00", "g05"}) {
    auto col = f.read_float_column(empty);
    EXPECT_TRUE(std::all_of(col.begin(), col.end(), [](float v) { return v == 0.0f; })) << empty;
  }
  auto g40 = f.read_float_column("g40");
  // An 8000 K star peaks in the blue/near UV: F_λ at ~4000 Å well above that at 2 µm.
  std::size_t i4000 = 0, i20000 = 0;
  for (std::size_t i = 0; i < wave.size(); ++i) {
    if (wave[i] <= 4000.0f) i4000 = i;
    if (wave[i] <= 20000.0f) i20000 = i;
  }
  EXPECT_GT(g40[i4000], 50.0f * g40[i20000]);
}

}  // namespace
}  // namespace irisml
