#include "io/catalog.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace irisml {
namespace {

using irisml::test_support::expect_error;
using irisml::test_support::temp_path;

namespace fs = std::filesystem;

// A fake registry: SDSS_u carries the −0.04 catalogue offset, SDSS_z +0.02.
const KnownFilters kKnown = {{"SDSS_u", -0.04}, {"SDSS_g", 0.0}, {"PS1_g", 0.0}, {"SDSS_z", 0.02}, {"2MASS_J", 0.0}};

std::string write_text(const std::string& name, const std::string& content) {
  std::string path = temp_path("catalog", name);
  std::ofstream(path) << content;
  return path;
}

// The first 1/`divisor` of `path`'s bytes as a new scratch file `name` (a cut-off download).
std::string truncated_copy(const std::string& path, const std::string& name, std::size_t divisor) {
  const std::string bytes = test_support::read_bytes(path);
  const std::string out = temp_path("catalog", name);
  std::ofstream(out, std::ios::binary) << bytes.substr(0, bytes.size() / divisor);
  return out;
}

bool absent(const CatalogBlock& b, std::size_t row, std::size_t f) {
  std::size_t nf = b.mag.size() / b.rows;
  return std::isnan(b.mag[row * nf + f]) && std::isnan(b.err[row * nf + f]);
}

TEST(CatalogTest, CsvReadsMagnitudesOffsetsMissingValuesAndIds) {
  std::string path = write_text("basic.csv",
                                "# a comment line\n"
                                "id,ra,dec,SDSS_u,SDSS_u_err,SDSS_g,SDSS_g_err\n"
                                "star-a,10.5,-3.25,18.00,0.05,17.0,0.02\n"
                                "\"star, b\",11,-4,-99,0.05,16.5,0.03\n"
                                "star-c,12,-5,,0.1,NaN,0.02\r\n"
                                "star-d,13,-6,19.5,0.2,17.25,0.001\n");
  CatalogOptions options;
  options.error_floor = 0.01;
  auto cat = CatalogReader::open(path, kKnown, options);
  EXPECT_EQ(cat.format(), CatalogFormat::Csv);
  EXPECT_EQ(cat.rows(), 4u);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_u", "SDSS_g"}));
  EXPECT_TRUE(cat.has_id());
  EXPECT_TRUE(cat.has_position());
  EXPECT_FALSE(cat.has_truth());
  auto b = cat.read(0, 4);
  ASSERT_EQ(b.mag.size(), 8u);
  EXPECT_FLOAT_EQ(b.mag[0], 18.00f - 0.04f);  // SDSS_u offset applied
  EXPECT_FLOAT_EQ(b.err[0], 0.05f);
  EXPECT_FLOAT_EQ(b.mag[1], 17.0f);
  EXPECT_TRUE(absent(b, 1, 0));  // −99 sentinel
  EXPECT_FLOAT_EQ(b.mag[3], 16.5f);
  EXPECT_TRUE(absent(b, 2, 0));      // empty
  EXPECT_TRUE(absent(b, 2, 1));      // NaN
  EXPECT_FLOAT_EQ(b.err[7], 0.01f);  // 0.001 raised to the floor
  EXPECT_EQ(b.id, (std::vector<std::string>{"star-a", "star, b", "star-c", "star-d"}));
  EXPECT_DOUBLE_EQ(b.ra[1], 11.0);
  EXPECT_DOUBLE_EQ(b.dec[0], -3.25);
  EXPECT_EQ(b.bands(0), 2);
  EXPECT_EQ(b.bands(1), 1);
  EXPECT_EQ(b.bands(2), 0);
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 0}));
  // a sub-range reads the right rows
  auto tail = cat.read(3, 1);
  EXPECT_EQ(tail.row0, 3u);
  EXPECT_FLOAT_EQ(tail.mag[0], 19.5f - 0.04f);
  EXPECT_EQ(tail.id, (std::vector<std::string>{"star-d"}));
  expect_error<IoError>([&] { cat.read(3, 2); }, {"out of range", "4 rows"});
  fs::remove(path);
}

// A bad error (0, negative, inf, NaN, empty) or a magnitude no star can have (1e30,
// -1e5: a corrupt entry, issue 11 item 8) drops the band and is counted, so it never
// reaches the network; the magnitude limits themselves are kept.
TEST(CatalogTest, UnusableBandsAreDroppedAndCounted) {
  std::string path = write_text("baderr.csv",
                                "SDSS_g,SDSS_g_err,SDSS_z,SDSS_z_err\n"
                                "17,0,15,0.1\n"
                                "17,-0.1,15,inf\n"
                                "17,,15,nan\n"
                                "-99,-99,15,0.05\n"
                                "1e30,0.1,-1e5,0.1\n"
                                "60,0.1,-30,0.1\n");
  auto cat = CatalogReader::open(path, kKnown);
  auto b = cat.read(0, 6);
  // SDSS_g: error 0, −0.1, empty, magnitude 1e30 → 4 dropped; row 3 is missing (sentinel), not counted
  // SDSS_z: inf, nan, magnitude −1e5 → 3 dropped
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{4, 3}));
  EXPECT_TRUE(absent(b, 0, 0));
  EXPECT_FLOAT_EQ(b.mag[1], 15.02f);  // SDSS_z offset +0.02
  EXPECT_TRUE(absent(b, 1, 1));
  EXPECT_FLOAT_EQ(b.mag[7], 15.02f);
  EXPECT_TRUE(absent(b, 4, 0));
  EXPECT_TRUE(absent(b, 4, 1));
  EXPECT_FLOAT_EQ(b.mag[10], 60.0f);  // the limits are usable
  EXPECT_EQ(b.bands(5), 2);
  fs::remove(path);
}

// Star constraints: parallax (any sign) with its error, a Gaussian A_V prior with its
// width, an upper bound on A_V; an unusable error or width drops the pair, a bad bound
// drops the bound, each counted; mapped names work; a value without its error is refused.
TEST(CatalogTest, StarConstraintColumnsAreReadCheckedAndCounted) {
  std::string path = write_text("constraints.csv",
                                "id,SDSS_g,SDSS_g_err,plx,e_plx,av_prior,av_prior_err,av_max\n"
                                "a,17,0.02,1.5,0.1,0.3,0.05,1.2\n"
                                "b,17,0.02,-0.4,0.3,,,\n"
                                "c,17,0.02,2.0,0,0.3,-1,0\n"
                                "d,17,0.02,,,0.2,0.1,inf\n");
  CatalogOptions options;
  options.column_map = parse_column_map("plx:parallax,e_plx:parallax_err");
  auto cat = CatalogReader::open(path, kKnown, options);
  ASSERT_TRUE(cat.has_constraints());
  EXPECT_TRUE(cat.has_constraint(kParallax));
  EXPECT_TRUE(cat.has_constraint(kAvMax));
  auto b = cat.read(0, 4);
  ASSERT_EQ(b.constraints.size(), 4u * kConstraintCount);
  auto at = [&](int r, int c) { return b.constraints[static_cast<std::size_t>(r * kConstraintCount + c)]; };
  EXPECT_DOUBLE_EQ(at(0, kParallax), 1.5);
  EXPECT_DOUBLE_EQ(at(0, kParallaxErr), 0.1);
  EXPECT_DOUBLE_EQ(at(0, kAvPrior), 0.3);
  EXPECT_DOUBLE_EQ(at(0, kAvMax), 1.2);
  EXPECT_DOUBLE_EQ(at(1, kParallax), -0.4);   // a negative parallax is a measurement
  EXPECT_TRUE(std::isnan(at(1, kAvPrior)));   // not given: not counted
  EXPECT_TRUE(std::isnan(at(2, kParallax)));  // error 0: dropped
  EXPECT_TRUE(std::isnan(at(2, kAvPrior)));   // width −1: dropped
  EXPECT_TRUE(std::isnan(at(2, kAvMax)));     // bound 0: dropped
  EXPECT_TRUE(std::isnan(at(3, kAvMax)));     // bound inf: dropped
  EXPECT_DOUBLE_EQ(at(3, kAvPrior), 0.2);
  EXPECT_EQ(b.constraints_dropped, 4);
  // a parallax without its error (and the reverse) is refused, naming both
  std::string orphan = write_text("orphan.csv", "SDSS_g,SDSS_g_err,parallax\n17,0.02,1.0\n");
  expect_error<InputError>([&] { CatalogReader::open(orphan, kKnown); }, {"'parallax'", "no 'parallax_err' column"});
  std::string orphan_av = write_text("orphan_av.csv", "SDSS_g,SDSS_g_err,av_prior_err\n17,0.02,1.0\n");
  expect_error<InputError>([&] { CatalogReader::open(orphan_av, kKnown); }, {"'av_prior_err'", "no 'av_prior'"});
  // a catalogue without them has none
  std::string plain = write_text("plain.csv", "SDSS_g,SDSS_g_err\n17,0.02\n");
  auto pc = CatalogReader::open(plain, kKnown);
  EXPECT_FALSE(pc.has_constraints());
  EXPECT_TRUE(pc.read(0, 1).constraints.empty());
  for (const auto& p : {path, orphan, orphan_av, plain}) fs::remove(p);
}

// --parallax-zero-point lindegren2021: each row's parallax minus its Gaia zero point from
// its G band and the archive inputs; a row without them loses its parallax (counted); a
// catalogue without the columns is refused, naming them; without the option the inputs
// are unknown columns as before.
TEST(CatalogTest, GaiaZeroPointIsSubtractedPerRow) {
  const KnownFilters known = {{"Gaia_G", 0.0}, {"2MASS_J", 0.0}};
  std::string path = write_text("zero_point.csv",
                                "Gaia_G,Gaia_G_err,2MASS_J,2MASS_J_err,plx,parallax_err,nu_eff_used_in_astrometry,"
                                "pseudocolour,ecl_lat,astrometric_params_solved\n"
                                "12.5,0.003,11,0.02,1.5,0.02,1.55,,-30,31\n"
                                "16.0,0.003,15,0.02,0.5,0.05,,1.3,20,95\n"
                                ",,15,0.02,0.5,0.05,1.5,,20,31\n"
                                "16.0,0.003,15,0.02,0.5,0.05,1.5,,20,3\n"
                                "16.0,0.003,15,0.02,,,1.5,,20,31\n");
  CatalogOptions options;
  options.column_map = parse_column_map("plx:parallax");
  options.gaia_zero_point = true;
  auto cat = CatalogReader::open(path, known, options);
  auto b = cat.read(0, 5);
  auto at = [&](int r, int c) { return b.constraints[static_cast<std::size_t>(r * kConstraintCount + c)]; };
  EXPECT_NEAR(at(0, kParallax), 1.5 + 0.0243912380952, 1e-9);  // the zero points of GaiaZeroPointTest
  EXPECT_NEAR(at(1, kParallax), 0.5 + 0.0491285461101, 1e-9);
  EXPECT_DOUBLE_EQ(at(0, kParallaxErr), 0.02);
  EXPECT_TRUE(std::isnan(at(2, kParallax)));  // no G
  EXPECT_TRUE(std::isnan(at(2, kParallaxErr)));
  EXPECT_TRUE(std::isnan(at(3, kParallax)));  // a two-parameter solution
  EXPECT_TRUE(std::isnan(at(4, kParallax)));  // none given: nothing to drop
  EXPECT_EQ(b.constraints_dropped, 2);
  // Without the option the inputs are unknown columns, as they always were.
  options.gaia_zero_point = false;
  expect_error<InputError>([&] { CatalogReader::open(path, known, options); }, {"nu_eff_used_in_astrometry"});
  // With it, a catalogue lacking an input (or G) is refused, naming what is missing.
  std::string lacking = write_text("zero_point_lacking.csv",
                                   "2MASS_J,2MASS_J_err,parallax,parallax_err,nu_eff_used_in_astrometry,ecl_lat\n"
                                   "15,0.02,0.5,0.05,1.5,20\n");
  options.gaia_zero_point = true;
  options.column_map.clear();
  expect_error<InputError>([&] { CatalogReader::open(lacking, known, options); },
                           {"lindegren2021", "the Gaia_G band", "pseudocolour, astrometric_params_solved"});
  for (const auto& p : {path, lacking}) fs::remove(p);
}

TEST(CatalogTest, ColumnMapAndSentinelOption) {
  std::string path = write_text("mapped.csv",
                                "name,gmag,e_gmag,Jmag,e_Jmag\n"
                                "x,17.5,0.02,99,99\n"
                                "y,99,0.02,14.0,0.03\n");
  CatalogOptions options;
  options.column_map = parse_column_map("name:id, gmag:PS1_g,e_gmag:PS1_g_err,Jmag:2MASS_J,e_Jmag:2MASS_J_err");
  options.missing_sentinel = 99;
  auto cat = CatalogReader::open(path, kKnown, options);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"PS1_g", "2MASS_J"}));
  auto b = cat.read(0, 2);
  EXPECT_FLOAT_EQ(b.mag[0], 17.5f);
  EXPECT_TRUE(absent(b, 0, 1));
  EXPECT_TRUE(absent(b, 1, 0));
  EXPECT_FLOAT_EQ(b.mag[3], 14.0f);
  EXPECT_EQ(b.id, (std::vector<std::string>{"x", "y"}));
  expect_error<InputError>([] { parse_column_map("gmag=PS1_g"); }, {"gmag=PS1_g", "FILE_COLUMN:NAME"});
  CatalogOptions wrong;
  wrong.column_map = {{"rmag", "PS1_r"}};
  expect_error<InputError>([&] { CatalogReader::open(path, kKnown, wrong); }, {"rmag", "no column"});
  CatalogOptions not_a_filter;
  not_a_filter.column_map = {{"gmag", "PS1_q"}, {"e_gmag", "PS1_q_err"}};
  expect_error<InputError>([&] { CatalogReader::open(path, kKnown, not_a_filter); }, {"PS1_q", "SDSS_u, SDSS_g"});
  fs::remove(path);
}

TEST(CatalogTest, CsvByteOrderMarkIsNotPartOfTheFirstColumn) {
  for (const char* first : {"id,SDSS_g,SDSS_g_err\n", "# comment\nid,SDSS_g,SDSS_g_err\n"}) {
    std::string path = write_text("bom.csv", std::string("\xEF\xBB\xBF") + first + "s1,17.0,0.02\n");
    auto cat = CatalogReader::open(path, kKnown);
    EXPECT_TRUE(cat.has_id());
    EXPECT_EQ(cat.read(0, 1).id, (std::vector<std::string>{"s1"}));
  }
}

TEST(CatalogTest, CsvRaggedRowsAndTextNameFileLineColumnAndValue) {
  std::string ragged = write_text("ragged.csv",
                                  "SDSS_g,SDSS_g_err,SDSS_z,SDSS_z_err\n"
                                  "17,0.1,15,0.1\n"
                                  "\n"
                                  "17,0.1,15\n");
  expect_error<InputError>([&] { CatalogReader::open(ragged, kKnown); },
                           {ragged, "line 4", "ragged", "SDSS_z_err", "3 values"});
  std::string extra = write_text("extra.csv", "SDSS_g,SDSS_g_err\n17,0.1,oops\n");
  expect_error<InputError>([&] { CatalogReader::open(extra, kKnown); }, {"line 2", "'oops'", "column 3"});
  std::string text = write_text("text.csv",
                                "SDSS_g,SDSS_g_err,SDSS_z,SDSS_z_err\n"
                                "17,0.1,15,0.1\n"
                                "17,0.1,bright,0.1\n");
  expect_error<InputError>([&] { CatalogReader::open(text, kKnown); },
                           {text, "line 3", "'SDSS_z'", "column 3", "'bright'", "not a number"});
  std::string empty = write_text("empty.csv", "# nothing\n");
  expect_error<InputError>([&] { CatalogReader::open(empty, kKnown); }, {"no header"});
  for (const auto& p : {ragged, extra, text, empty}) fs::remove(p);
}

// gzip-compressed CSV reads as the plain file does, block by block and out of order
// (several 64 KiB buffers, so seeks land outside the buffer in hand).
TEST(CatalogTest, GzippedCsvReadsAsThePlainFile) {
  std::string content = "# header comment\nid,SDSS_g,SDSS_g_err,SDSS_z,SDSS_z_err\n";
  const int n = 6000;
  for (int i = 0; i < n; ++i) {
    content += fmt::format("star-{},{:.3f},{:.3f},{},0.05\n", i, 14.0 + 0.001 * i, 0.01 + 1e-5 * i,
                           i % 7 == 0 ? std::string() : fmt::format("{:.2f}", 13.0 + 0.0005 * i));
  }
  std::string plain = write_text("gz_plain.csv", content);
  std::string zipped = temp_path("catalog", "gz_plain.csv.gz");
  ASSERT_EQ(std::system(fmt::format("gzip -c '{}' > '{}'", plain, zipped).c_str()), 0);
  auto a = CatalogReader::open(plain, kKnown);
  auto b = CatalogReader::open(zipped, kKnown);
  EXPECT_EQ(b.format(), CatalogFormat::Csv);
  ASSERT_EQ(b.rows(), static_cast<std::uint64_t>(n));
  for (auto [row0, rows] : {std::pair<std::uint64_t, std::uint64_t>{5000, 1000}, {0, 2500}, {2500, 2500}, {4321, 7}}) {
    auto x = a.read(row0, rows), y = b.read(row0, rows);
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.mag.size(), y.mag.size());
    for (std::size_t i = 0; i < x.mag.size(); ++i) {
      ASSERT_TRUE((std::isnan(x.mag[i]) && std::isnan(y.mag[i])) || x.mag[i] == y.mag[i])
          << "row0 " << row0 << " i " << i;
      ASSERT_TRUE((std::isnan(x.err[i]) && std::isnan(y.err[i])) || x.err[i] == y.err[i]);
    }
  }
  EXPECT_EQ(b.read(5999, 1).id, (std::vector<std::string>{"star-5999"}));
  // a truncated download is an error naming the file, never a short catalogue
  std::string truncated = truncated_copy(zipped, "gz_truncated.csv.gz", 2);
  expect_error<IoError>([&] { CatalogReader::open(truncated, kKnown); },
                        {truncated, "gzip stream is corrupt or truncated"});
  // a flipped byte is a damaged stream, never a "ragged row" (issue 26 item 10): whatever
  // the damage decompresses to, opening reports the gzip stream, or else the file reads
  // back as the plain one (a flip the format cannot see does not happen with a CRC)
  const std::string bytes = test_support::read_bytes(zipped);
  int damaged = 0;
  for (std::size_t at : {bytes.size() / 3, bytes.size() / 2, 2 * bytes.size() / 3}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    const std::string path = temp_path("catalog", "gz_flipped.csv.gz");
    std::ofstream(path, std::ios::binary) << flipped;
    try {
      auto c = CatalogReader::open(path, kKnown);
      for (std::uint64_t r = 0; r < c.rows(); r += 1000) c.read(r, std::min<std::uint64_t>(1000, c.rows() - r));
      ADD_FAILURE() << "a flipped byte at " << at << " was read without an error";
    } catch (const IoError& e) {
      ++damaged;
      EXPECT_NE(std::string(e.what()).find("gzip"), std::string::npos) << e.what();
    } catch (const InputError& e) {
      ADD_FAILURE() << "a flipped byte at " << at << " was reported as bad input: " << e.what();
    }
    fs::remove(path);
  }
  EXPECT_EQ(damaged, 3);
  for (const auto& p : {plain, zipped, truncated}) fs::remove(p);
}

// ECSV as the Gaia archive exports it (comma-delimited, YAML header, null for missing,
// JSON arrays in quotes), astropy's default (space-delimited), and a header row that
// contradicts the YAML.
TEST(CatalogTest, EcsvHeaderIsReadAndItsColumnNamesUsed) {
  std::string gaia = write_text("gaia.csv",
                                "# %ECSV 1.0\n"
                                "# ---\n"
                                "# delimiter: ','\n"
                                "# datatype:\n"
                                "# - {name: source_id, datatype: int64, description: Unique source identifier}\n"
                                "# - {name: SDSS_g, datatype: float32, unit: mag, description: 'g, mean'}\n"
                                "# - {name: SDSS_g_err, datatype: float32}\n"
                                "# - {name: vec, datatype: string, subtype: 'float64[2]'}\n"
                                "# meta: !!omap\n"
                                "# - {name: GaiaSource}\n"
                                "source_id,SDSS_g,SDSS_g_err,vec\n"
                                "4295806720,17.5,0.01,\"[1.0, 2.0]\"\n"
                                "34361129088,null,null,\"[3.0, 4.0]\"\n"
                                "38655544960,,,\n");
  CatalogOptions options;
  options.ignore_unknown_columns = true;
  auto cat = CatalogReader::open(gaia, kKnown, options);
  ASSERT_EQ(cat.rows(), 3u);
  auto b = cat.read(0, 3);
  EXPECT_FLOAT_EQ(b.mag[0], 17.5f);
  EXPECT_TRUE(absent(b, 1, 0));
  EXPECT_TRUE(absent(b, 2, 0));

  std::string spaced = write_text("astropy.ecsv",
                                  "# %ECSV 1.0\n"
                                  "# ---\n"
                                  "# datatype:\n"
                                  "# - {name: id, datatype: string}\n"
                                  "# - {name: SDSS_g, datatype: float64}\n"
                                  "# - {name: SDSS_g_err, datatype: float64}\n"
                                  "# schema: astropy-2.0\n"
                                  "id SDSS_g SDSS_g_err\n"
                                  "\"star a\"  16.25 0.02\n"
                                  "b \"\" \"\"\n");
  auto sp = CatalogReader::open(spaced, kKnown);
  ASSERT_EQ(sp.rows(), 2u);
  auto c = sp.read(0, 2);
  EXPECT_EQ(c.id, (std::vector<std::string>{"star a", "b"}));
  EXPECT_FLOAT_EQ(c.mag[0], 16.25f);
  EXPECT_FLOAT_EQ(c.err[0], 0.02f);
  EXPECT_TRUE(absent(c, 1, 0));

  std::string mismatch = write_text("mismatch.ecsv",
                                    "# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n"
                                    "# - {name: SDSS_g, datatype: float64}\n# - {name: SDSS_g_err, datatype: float64}\n"
                                    "SDSS_g,SDSS_z_err\n17,0.1\n");
  expect_error<InputError>([&] { CatalogReader::open(mismatch, kKnown); },
                           {mismatch, "line 7", "column 2", "'SDSS_z_err'", "'SDSS_g_err'"});
  std::string tabs = write_text("tabs.ecsv", "# %ECSV 1.0\n# ---\n# delimiter: '\\t'\nSDSS_g\n17\n");
  expect_error<InputError>([&] { CatalogReader::open(tabs, kKnown); }, {tabs, "delimiter", "not supported"});
  for (const auto& p : {gaia, spaced, mismatch, tabs}) fs::remove(p);
}

TEST(CatalogTest, UnknownColumnsListKnownFiltersOrWarnWhenIgnored) {
  std::string path = write_text("unknown.csv",
                                "id,SDSS_g,SDSS_g_err,PS1_q,PS1_q_err,pmra\n"
                                "a,17,0.1,16,0.1,1.5\n");
  expect_error<InputError>(
      [&] { CatalogReader::open(path, kKnown); },
      {"PS1_q, PS1_q_err, pmra", "SDSS_u, SDSS_g, PS1_g, SDSS_z, 2MASS_J", "--ignore-unknown-columns"});
  CatalogOptions options;
  options.ignore_unknown_columns = true;
  auto cat = CatalogReader::open(path, kKnown, options);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_g"}));
  EXPECT_EQ(cat.ignored_columns(), (std::vector<std::string>{"PS1_q", "PS1_q_err", "pmra"}));
  fs::remove(path);
}

TEST(CatalogTest, FilterWithoutErrorColumnIsAnError) {
  std::string path = write_text("noerr.csv", "SDSS_g,SDSS_g_err,SDSS_z\n17,0.1,15\n");
  expect_error<InputError>([&] { CatalogReader::open(path, kKnown); }, {"'SDSS_z'", "SDSS_z_err"});
  std::string orphan = write_text("orphan.csv", "SDSS_g,SDSS_g_err,SDSS_z_err\n17,0.1,15\n");
  expect_error<InputError>([&] { CatalogReader::open(orphan, kKnown); }, {"SDSS_z_err", "no magnitude column"});
  std::string none = write_text("none.csv", "id,ra,dec\na,1,2\n");
  expect_error<InputError>([&] { CatalogReader::open(none, kKnown); }, {"no filter columns"});
  for (const auto& p : {path, orphan, none}) fs::remove(p);
}

TEST(CatalogTest, CsvTruthColumns) {
  std::string path = write_text("truth.csv",
                                "SDSS_g,SDSS_g_err,true_teff,true_logg,true_mh,true_av,true_rv\n"
                                "17,0.1,5800,4.4,0.0,0.1,3.1\n");
  auto cat = CatalogReader::open(path, kKnown);
  ASSERT_TRUE(cat.has_truth());
  auto b = cat.read(0, 1);
  EXPECT_EQ(b.truth, (std::vector<double>{5800, 4.4, 0.0, 0.1, 3.1}));
  std::string partial = write_text("partial.csv", "SDSS_g,SDSS_g_err,true_teff\n17,0.1,5800\n");
  expect_error<InputError>([&] { CatalogReader::open(partial, kKnown); }, {"only 1 of the 5 truth columns"});
  fs::remove(path);
  fs::remove(partial);
}

std::string write_hdf5_catalog(const std::string& name, bool permuted_truth) {
  std::string path = temp_path("catalog", name);
  auto f = h5::File::create(path);
  const float nan = std::nanf("");
  f.write<float>("SDSS_z", {15.0f, nan, 14.0f}, {3});
  f.write<float>("SDSS_z_err", {0.05f, nan, -1.0f}, {3});
  f.write<double>("SDSS_u", {20.0, 19.0, -99.0}, {3});
  f.write<double>("SDSS_u_err", {0.1, 0.2, 0.1}, {3});
  f.write_strings("id", {"s0", "s1", "s2"});
  std::vector<double> truth = {5000, 4.5, -0.5, 0.2, 3.1, 6000, 4.0, 0.1, 1.0, 2.9, 7000, 3.5, -1.0, 0.0, 3.3};
  if (permuted_truth) {  // stored as (logg, teff, mh, av, rv)
    for (int r = 0; r < 3; ++r)
      std::swap(truth[static_cast<std::size_t>(r * 5)], truth[static_cast<std::size_t>(r * 5 + 1)]);
  }
  f.write<double>("true_parameters", truth, {3, 5});
  f.set_attr("true_parameters", "parameter_names", permuted_truth ? "logg,teff,mh,av,rv" : "teff,logg,mh,av,rv");
  f.close();
  return path;
}

TEST(CatalogTest, Hdf5ReadsRowRangesTruthAndCountsDrops) {
  std::string path = write_hdf5_catalog("cat.h5", /*permuted_truth=*/true);
  auto cat = CatalogReader::open(path, kKnown);
  EXPECT_EQ(cat.format(), CatalogFormat::Hdf5);
  EXPECT_EQ(cat.rows(), 3u);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_u", "SDSS_z"}));  // registry order
  EXPECT_TRUE(cat.has_truth());
  auto b = cat.read(1, 2);
  EXPECT_EQ(b.rows, 2u);
  EXPECT_FLOAT_EQ(b.mag[0], 19.0f - 0.04f);
  EXPECT_TRUE(absent(b, 0, 1));  // NaN magnitude: absent, not counted
  EXPECT_TRUE(absent(b, 1, 0));  // −99
  EXPECT_TRUE(absent(b, 1, 1));  // error −1: dropped
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(b.id, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(b.truth, (std::vector<double>{6000, 4.0, 0.1, 1.0, 2.9, 7000, 3.5, -1.0, 0.0, 3.3}));
  fs::remove(path);
}

// A damaged file is an I/O error; a file of another format under a catalogue's name
// is the user's input (exit 2), and the message says what it holds.
TEST(CatalogTest, TruncatedOrForeignFilesAreErrorsNamingTheFile) {
  std::string good = write_hdf5_catalog("good.h5", false);
  std::string truncated = truncated_copy(good, "truncated.h5", 3);
  expect_error<IoError>([&] { CatalogReader::open(truncated, kKnown); }, {truncated});
  std::string fake = write_text("fake.h5", "SDSS_g,SDSS_g_err\n17,0.1\n");
  expect_error<InputError>([&] { CatalogReader::open(fake, kKnown); },
                           {fake, "not an HDF5 file", "a CSV catalogue must be named .csv"});
  std::string fake_fits = write_text("fake.fits", "hello");
  expect_error<InputError>([&] { CatalogReader::open(fake_fits, kKnown); }, {fake_fits, "not a FITS file"});
  // a catalogue that is not there is bad input (exit 2), like a missing --model or --grid
  expect_error<InputError>([&] { CatalogReader::open(temp_path("catalog", "missing.csv"), kKnown); },
                           {"missing.csv", "does not exist"});
  std::string odd = write_text("cat.dat", "x");
  expect_error<InputError>([&] { CatalogReader::open(odd, kKnown); }, {"cannot tell the format"});
  for (const auto& p : {good, truncated, fake, fake_fits, odd}) fs::remove(p);
}

TEST(CatalogTest, FitsTableWithUpperCaseNamesAndMapping) {
  std::string path = temp_path("catalog", "cat.fits");
  {
    auto f = fits::File::create(path);
    f.create_table("CATALOG",
                   {{"OBJID", "10A", ""},
                    {"SDSS_U", "1E", "mag"},
                    {"SDSS_U_ERR", "1E", "mag"},
                    {"KMAG", "1D", "mag"},
                    {"E_KMAG", "1D", "mag"}},
                   3);
    f.write_column("OBJID", std::vector<std::string>{"f1", "f2", "f3"});
    f.write_column("SDSS_U", std::vector<float>{18.0f, std::nanf(""), -99.0f});
    f.write_column("SDSS_U_ERR", std::vector<float>{0.05f, 0.05f, 0.05f});
    f.write_column("KMAG", std::vector<double>{12.0, 12.5, 13.0});
    f.write_column("E_KMAG", std::vector<double>{0.02, 0.0, 0.03});
    f.close();
  }
  CatalogOptions options;
  options.column_map = parse_column_map("objid:id,kmag:2MASS_J,e_kmag:2MASS_J_err");  // FITS names: any case
  auto cat = CatalogReader::open(path, kKnown, options);
  EXPECT_EQ(cat.format(), CatalogFormat::Fits);
  EXPECT_EQ(cat.rows(), 3u);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_u", "2MASS_J"}));
  auto b = cat.read(0, 3);
  EXPECT_NEAR(b.mag[0], 17.96f, 1e-5);
  EXPECT_TRUE(absent(b, 1, 0));
  EXPECT_TRUE(absent(b, 2, 0));
  EXPECT_TRUE(absent(b, 1, 1));  // error 0
  EXPECT_FLOAT_EQ(b.mag[5], 13.0f);
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(b.id, (std::vector<std::string>{"f1", "f2", "f3"}));
  auto part = cat.read(2, 1);
  EXPECT_EQ(part.id, (std::vector<std::string>{"f3"}));
  // without the mapping, KMAG is unknown
  expect_error<InputError>([&] { CatalogReader::open(path, kKnown); }, {"OBJID", "KMAG, E_KMAG", "known filters"});
  fs::remove(path);
}

}  // namespace
}  // namespace irisml
