// Summary tables (validate/export.hpp): a posterior file written as FITS, ECSV and CSV
// (gzip too) reads back to the same values, with units, descriptions and provenance in
// the headers; bad names and bad files are refused. The catalogue report
// (validate/catalog_report.hpp) of the same file.
#include "validate/export.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <unistd.h>

#include "core/error.hpp"
#include "validate/catalog_report.hpp"
#include "core/text.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "io/text_lines.hpp"

namespace irisml::validate {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kStars = 7;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::string scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("irisml_export_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// A posterior file as sample --importance writes it, with a parallax (/physical): star i's
// value of summary k, parameter p is 1000 i + 10 k + p + 0.125 (exact in float32), star 2
// has too few bands (NaN summaries) and star 4 carries flag bits 2 and 8.
std::string make_posterior(const std::string& dir) {
  const std::string path = dir + "/post.h5";
  h5::File f = h5::File::create(path);
  f.set_attr("/", "format", std::string("irisml-posterior"));
  f.set_attr("/", "format_version", std::int64_t{1});
  f.set_attr("/", "samples_per_star", std::int64_t{64});
  f.set_attr("/", "seed", std::int64_t{42});
  f.set_attr("/", "model", dir + "/model.h5");
  f.set_attr("/", "catalog", std::string("cat, with a comma and a 'quote'.csv"));
  f.write_strings("parameter_names", {"teff", "logg", "mh", "av", "rv"});
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; i < kStars; ++i) ids.push_back(i == 3 ? "star, \"three\"" : "s" + std::to_string(i));
  f.write_strings("id", ids);
  const char* summaries[] = {"median", "mean", "std", "p16", "p84"};
  for (const std::string group : {"", "importance/"}) {
    if (!group.empty()) f.create_group("importance");
    for (int k = 0; k < 5; ++k) {
      std::vector<float> v(kStars * 5);
      for (std::uint64_t i = 0; i < kStars; ++i) {
        for (int p = 0; p < 5; ++p) v[i * 5 + p] = i == 2 ? kNaN : 1000.0f * i + 10.0f * k + p + 0.125f;
      }
      f.write(group + summaries[k], v, {kStars, 5});
    }
    for (const std::string hdi : {"hdi68", "hdi95"}) {
      std::vector<float> v(kStars * 10);
      for (std::size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(j) + (hdi == "hdi95" ? 0.5f : 0.25f);
      f.write(group + hdi, v, {kStars, 5, 2});
    }
  }
  std::vector<std::int32_t> bands(kStars, 6);
  bands[2] = 1;
  f.write("n_bands", bands, {kStars});
  std::vector<std::uint32_t> flags(kStars, 0);
  flags[2] = 1;
  flags[4] = 2 | 8;
  f.write("flags", flags, {kStars});
  std::vector<float> p(kStars, 0.5f);
  p[2] = kNaN;
  f.write("ppc_p", p, {kStars});
  f.write("importance/ess_fraction", std::vector<float>(kStars, 0.25f), {kStars});
  f.create_group("physical");
  std::vector<float> d(kStars * 3);
  for (std::size_t j = 0; j < d.size(); ++j) d[j] = 100.0f + static_cast<float>(j);
  f.write("physical/distance", d, {kStars, 3});
  f.close();
  return path;
}

const ExportColumn& find(const std::vector<ExportColumn>& columns, const std::string& name) {
  for (const auto& c : columns) {
    if (c.name == name) return c;
  }
  throw std::runtime_error("no column " + name);
}

TEST(ExportTest, ColumnsFollowTheDatasetsOfTheFile) {
  const std::string dir = scratch("columns");
  const auto columns = export_columns(make_posterior(dir), true);
  EXPECT_EQ(columns.front().name, "id");
  EXPECT_EQ(find(columns, "ra").unit, "deg");
  EXPECT_EQ(find(columns, "teff_median").unit, "K");
  EXPECT_EQ(find(columns, "logg_hdi95_hi").unit, "dex(cm / s2)");
  EXPECT_EQ(find(columns, "mh_p16").unit, "dex");
  EXPECT_EQ(find(columns, "av_mean").unit, "mag");
  EXPECT_EQ(find(columns, "rv_std").unit, "");
  EXPECT_EQ(find(columns, "distance_median").unit, "pc");
  EXPECT_EQ(find(columns, "iw_teff_median").type, ExportColumn::Type::Float32);
  EXPECT_EQ(find(columns, "flag_low_ess").type, ExportColumn::Type::Bool);
  EXPECT_NO_THROW(find(columns, "iw_ess_fraction"));
  EXPECT_NO_THROW(find(columns, "ppc_p"));
  // absent datasets give no columns
  EXPECT_THROW(find(columns, "ppc_chi2"), std::runtime_error);
  EXPECT_THROW(find(columns, "radius_median"), std::runtime_error);
  EXPECT_THROW(find(columns, "ref_ess"), std::runtime_error);
  // hdi68/95 lower/upper and p16 of 5 parameters, for the flow and the reweighted summaries
  std::size_t summaries = 0;
  for (const auto& c : columns) {
    summaries += c.dataset.find("hdi") != std::string::npos || c.dataset.find("p16") != std::string::npos;
  }
  EXPECT_EQ(summaries, 2u * 5u * 5u);
}

// Under the isochrone prior /physical also holds age: three columns in Gyr, in the file's
// (p16, median, p84) order.
TEST(ExportTest, AnAgeDatasetGivesAgeColumnsInGyr) {
  const std::string dir = scratch("age");
  const std::string path = make_posterior(dir);
  {
    auto f = h5::File::open(path, /*writable=*/true);
    f.write("physical/age", std::vector<float>(kStars * 3, 4.5f), {kStars, 3});
    f.close();
  }
  const auto columns = export_columns(path, false);
  const char* stats[3] = {"age_p16", "age_median", "age_p84"};
  for (std::uint64_t k = 0; k < 3; ++k) {
    const auto& c = find(columns, stats[k]);
    EXPECT_EQ(c.unit, "Gyr");
    EXPECT_EQ(c.dataset, "physical/age");
    EXPECT_EQ(c.offset, k);
    EXPECT_EQ(c.stride, 3u);
  }
}

TEST(ExportTest, FitsReadsBackWithUnitsDescriptionsAndProvenance) {
  const std::string dir = scratch("fits");
  ExportOptions o;
  o.posterior = make_posterior(dir);
  o.output = dir + "/summary.fits";
  o.command = "irisml export --posterior post.h5";
  o.code_version = "test";
  o.block_rows = 3;  // several blocks, the last one short
  for (std::uint64_t i = 0; i < kStars; ++i) {
    o.ra.push_back(10.0 + 0.1 * static_cast<double>(i));
    o.dec.push_back(-5.0 - 0.01 * static_cast<double>(i));
  }
  const auto result = export_table(o);
  EXPECT_EQ(result.rows, kStars);
  EXPECT_FALSE(fs::exists(o.output + ".partial"));
  auto f = fits::File::open(o.output);
  f.move_to_hdu(1);
  EXPECT_EQ(f.num_rows(), static_cast<std::int64_t>(kStars));
  EXPECT_EQ(f.column_names().size(), result.columns.size());
  EXPECT_EQ(f.key_string("EXTNAME"), "IRISML");
  EXPECT_EQ(f.key_string("COMMAND"), o.command);
  EXPECT_EQ(f.key_string("CATALOG"), "cat, with a comma and a 'quote'.csv");
  EXPECT_EQ(f.key_int("SEED"), 42);
  EXPECT_FALSE(f.has_key("MODELSUM"));  // the model file does not exist
  // units and descriptions of the columns
  for (std::size_t k = 0; k < result.columns.size(); ++k) {
    const auto& c = result.columns[k];
    const std::string n = std::to_string(k + 1);
    EXPECT_EQ(f.key_string("TTYPE" + n), c.name);
    if (c.unit.empty()) {
      EXPECT_FALSE(f.has_key("TUNIT" + n)) << c.name;
    } else {
      EXPECT_EQ(f.key_string("TUNIT" + n), c.unit.rfind("dex", 0) == 0 ? "dex" : c.unit) << c.name;
    }
    EXPECT_EQ(f.key_string("TCOMM" + n), c.description) << c.name;
  }
  const auto ids = f.read_string_column("id");
  EXPECT_EQ(ids[3], "star, \"three\"");
  EXPECT_EQ(ids[6], "s6");
  const auto median = f.read_float_column("logg_median");
  const auto iw = f.read_float_column("iw_rv_p84");
  const auto hi = f.read_float_column("mh_hdi95_hi");
  const auto dist = f.read_float_column("distance_p84");
  const auto ra = f.read_double_column("ra");
  const auto flags = f.read_int_column("flags");
  const auto low_ess = f.read_logical_column("flag_low_ess");
  for (std::uint64_t i = 0; i < kStars; ++i) {
    if (i == 2) {
      EXPECT_TRUE(std::isnan(median[i]));
    } else {
      EXPECT_EQ(median[i], 1000.0f * i + 1.125f);
      EXPECT_EQ(iw[i], 1000.0f * i + 44.125f);
    }
    EXPECT_EQ(hi[i], static_cast<float>(i * 10 + 2 * 2 + 1) + 0.5f);
    EXPECT_EQ(dist[i], 100.0f + static_cast<float>(i * 3 + 2));
    EXPECT_EQ(ra[i], o.ra[i]);
    EXPECT_EQ(low_ess[i], i == 4 ? 1 : 0);
  }
  EXPECT_EQ(flags[4], 10);
}

// Parses one comma-separated line with double-quoted fields.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  return out;
}

TEST(ExportTest, EcsvAndGzipCsvHoldTheSameValuesAsTheFile) {
  const std::string dir = scratch("text");
  ExportOptions o;
  o.posterior = make_posterior(dir);
  o.code_version = "test";
  o.command = "irisml export";
  for (const std::string name : {"summary.ecsv", "summary.csv.gz"}) {
    o.output = dir + "/" + name;
    const auto result = export_table(o);
    TextLines lines(o.output);
    EXPECT_EQ(lines.compressed(), name == "summary.csv.gz");
    std::string line;
    std::vector<std::string> header;
    while (lines.next(line) && line.rfind("#", 0) == 0) header.push_back(line);
    if (name == "summary.ecsv") {
      ASSERT_GE(header.size(), 5u);
      EXPECT_EQ(header[0], "# %ECSV 1.0");
      EXPECT_EQ(header[2], "# delimiter: ','");
      EXPECT_EQ(header[4], "# - {name: id, datatype: string, description: 'star id from the input catalogue'}");
      bool saw_logg = false, saw_catalog = false;
      for (const auto& h : header) {
        saw_logg |= h ==
                    "# - {name: logg_median, unit: 'dex(cm / s2)', datatype: float32, description: "
                    "'posterior median of log g'}";
        saw_catalog |= h == "# - {catalog: 'cat, with a comma and a ''quote''.csv'}";
      }
      EXPECT_TRUE(saw_logg);
      EXPECT_TRUE(saw_catalog);
      EXPECT_EQ(header.back(), "# schema: astropy-2.0");
    } else {
      EXPECT_TRUE(header.empty());
    }
    const auto names = csv_fields(line);
    ASSERT_EQ(names.size(), result.columns.size());
    std::uint64_t row = 0;
    while (lines.next(line)) {
      const auto fields = csv_fields(line);
      ASSERT_EQ(fields.size(), names.size()) << line;
      for (std::size_t k = 0; k < names.size(); ++k) {
        if (names[k] == "id") {
          EXPECT_EQ(fields[k], row == 3 ? "star, \"three\"" : "s" + std::to_string(row));
        }
        if (names[k] == "teff_p84") {
          if (row == 2) {
            EXPECT_EQ(fields[k], "nan");
          } else {
            EXPECT_EQ(std::stof(fields[k]), 1000.0f * row + 40.125f);
          }
        }
        if (names[k] == "flag_outside_training") {
          EXPECT_EQ(fields[k], row == 4 ? "True" : "False");
        }
        if (names[k] == "n_bands") {
          EXPECT_EQ(fields[k], row == 2 ? "1" : "6");
        }
      }
      ++row;
    }
    EXPECT_EQ(row, kStars);
  }
}

TEST(ExportTest, RefusesUnknownNamesOtherFilesAndWrongPositions) {
  EXPECT_EQ(table_format_of("a.FITS").format, TableFormat::Fits);
  EXPECT_TRUE(table_format_of("a.ecsv.gz").gzip);
  EXPECT_EQ(table_format_of("a.csv").format, TableFormat::Csv);
  EXPECT_THROW(table_format_of("a.txt"), InputError);
  EXPECT_THROW(table_format_of("a.fits.gz"), InputError);
  const std::string dir = scratch("refuse");
  ExportOptions o;
  o.posterior = make_posterior(dir);
  o.output = dir + "/t.csv";
  o.ra = {1.0, 2.0};
  o.dec = {1.0, 2.0};
  EXPECT_THROW(export_table(o), InputError);
  EXPECT_FALSE(fs::exists(o.output));
  {
    h5::File other = h5::File::create(dir + "/other.h5");
    other.set_attr("/", "format", std::string("irisml-training-set"));
  }
  o.posterior = dir + "/other.h5";
  o.ra.clear();
  o.dec.clear();
  EXPECT_THROW(export_table(o), InputError);
  // a write that fails leaves nothing behind
  o.posterior = dir + "/post.h5";
  o.output = dir + "/missing-directory/t.csv";
  EXPECT_THROW(export_table(o), IoError);
  EXPECT_FALSE(fs::exists(o.output + ".partial"));
}

TEST(CatalogReportTest, ShowsTheReweightedPosteriorsFlagsAndPositions) {
  const std::string dir = scratch("report");
  CatalogReportOptions o;
  o.posterior = make_posterior(dir);
  o.code_version = "test";
  o.worst_rows = 3;
  for (std::uint64_t i = 0; i < kStars; ++i) {
    o.ra.push_back(30.0 * static_cast<double>(i));
    o.dec.push_back(10.0);
    o.magnitude.push_back(10.0f + static_cast<float>(i));
  }
  o.magnitude_band = "Gaia_G";
  const auto r = build_catalog_report(o);
  EXPECT_EQ(r.variant, "importance");  // the file has /importance
  EXPECT_EQ(r.stars, kStars);
  EXPECT_EQ(r.summarised, kStars - 1);  // star 2 has NaN summaries
  ASSERT_EQ(r.flag_counts.size(), 6u);
  EXPECT_EQ(r.flag_counts[0], 1u);
  EXPECT_EQ(r.flag_counts[1], 1u);
  EXPECT_EQ(r.flag_counts[3], 1u);
  for (const char* part : {"Kiel diagram", "A_V distribution", "A_V on the sky", "Gaia_G [mag]", "Teff width",
                           "Posterior-predictive check", "Worst-fitting stars", "star, &quot;three&quot;"}) {
    EXPECT_NE(r.html.find(part), std::string::npos) << part;
  }
  EXPECT_NE(r.summary_json.find("\"stars\": 7, \"summarised\": 6"), std::string::npos) << r.summary_json;
  o.variant = "flow";
  EXPECT_EQ(build_catalog_report(o).variant, "flow");
  o.variant = "";
  o.ra.pop_back();
  EXPECT_THROW(build_catalog_report(o), InputError);
  o.ra.clear();
  o.dec.clear();
  o.magnitude.clear();
  const auto bare = build_catalog_report(o);
  EXPECT_EQ(bare.html.find("A_V on the sky"), std::string::npos);
  EXPECT_NE(bare.html.find("No positions"), std::string::npos);
}

TEST(CatalogReportTest, GalacticCoordinatesOfKnownPoints) {
  double l = 0, b = 0;
  icrs_to_galactic(266.40499, -28.93617, l, b);  // the Galactic centre
  EXPECT_NEAR(std::fmod(l + 180.0, 360.0) - 180.0, 0.0, 0.01);
  EXPECT_NEAR(b, 0.0, 0.01);
  icrs_to_galactic(192.85948, 27.12825, l, b);  // the north Galactic pole
  EXPECT_NEAR(b, 90.0, 0.01);
  icrs_to_galactic(0.0, 0.0, l, b);  // ra = dec = 0: l = 96.34, b = -60.19
  EXPECT_NEAR(l, 96.337, 0.01);
  EXPECT_NEAR(b, -60.189, 0.01);
}

}  // namespace
}  // namespace irisml::validate
