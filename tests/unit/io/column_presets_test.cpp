// Column presets (configs/column_presets.ini): each shipped preset reads a fixture with
// its archive's real column names (tests/data/surveys/) into the right bands and values,
// with its survey's missing-value conventions counted per filter; presets combine on a
// cross-matched table; conflicts, unknown names and bad entries are refused with
// messages naming the value, where it came from and what is allowed; --columns wins.
#include "io/column_presets.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/catalog.hpp"
#include "io/gaia_zero_point.hpp"
#include "io/ini.hpp"
#include "test_support.hpp"

namespace irisml {
namespace {

using irisml::test_support::expect_error;
using irisml::test_support::temp_path;

const std::string kSource = IRISML_SOURCE_DIR;
const std::string kPresetsIni = kSource + "/configs/column_presets.ini";

std::string fixture(const std::string& name) { return kSource + "/tests/data/surveys/" + name; }

// Every band of configs/filters.ini with its catalog_offset, as the CLI passes them.
KnownFilters registry_filters() {
  KnownFilters known;
  for (const auto& section : parse_ini(kSource + "/configs/filters.ini", "filter registry")) {
    if (section.name == "sets") continue;
    double offset = 0.0;
    for (const auto& e : section.entries)
      if (e.key == "catalog_offset") offset = std::stod(e.value);
    known.emplace_back(section.name, offset);
  }
  return known;
}

const KnownFilters& known() {
  static const KnownFilters k = registry_filters();
  return k;
}

CatalogOptions with_presets(const std::string& list) {
  CatalogOptions options;
  options.presets = ColumnPresets::load(kPresetsIni).select(list, "--columns-preset");
  return options;
}

// Index of `band` in the reader's filters (fails the test if absent).
std::size_t band_index(const CatalogReader& cat, const std::string& band) {
  const auto& f = cat.filters();
  auto it = std::find(f.begin(), f.end(), band);
  EXPECT_NE(it, f.end()) << band << " not read";
  return static_cast<std::size_t>(it - f.begin());
}

struct Band {
  const CatalogBlock& block;
  std::size_t nf, f;
  float mag(std::size_t row) const { return block.mag[row * nf + f]; }
  float err(std::size_t row) const { return block.err[row * nf + f]; }
  bool absent(std::size_t row) const { return std::isnan(mag(row)) && std::isnan(err(row)); }
};

Band band(const CatalogReader& cat, const CatalogBlock& b, const std::string& name) {
  return {b, cat.filters().size(), band_index(cat, name)};
}

std::string write_text(const std::string& name, const std::string& content) {
  const std::string path = temp_path("presets", name);
  std::ofstream(path) << content;
  return path;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

TEST(ColumnPresetsTest, ShippedPresetsLoadMapRegistryBandsAndCombine) {
  const auto presets = ColumnPresets::load(kPresetsIni);
  EXPECT_EQ(presets.names(), (std::vector<std::string>{"gaia_dr3", "2mass_psc", "allwise", "ps1_dr2", "sdss_dr17",
                                                       "galex_gr6", "skymapper_dr4"}));
  // All seven at once: no two map the same band or photometric column.
  const auto all = presets.select("gaia_dr3,2mass_psc,allwise,ps1_dr2,sdss_dr17,galex_gr6,skymapper_dr4", "test");
  ASSERT_EQ(all.size(), 7u);
  std::vector<std::string> registry;
  for (const auto& k : known()) registry.push_back(k.first);
  std::size_t bands = 0;
  for (const auto& p : all) {
    EXPECT_FALSE(p.description.empty()) << p.name;
    EXPECT_FALSE(p.id.empty() || p.ra.empty() || p.dec.empty()) << p.name;
    for (const auto& m : p.magnitudes) EXPECT_TRUE(contains(registry, m.band)) << p.name << " " << m.band;
    for (const auto& f : p.fluxes) EXPECT_TRUE(contains(registry, f.band)) << p.name << " " << f.band;
    bands += p.magnitudes.size() + p.fluxes.size();
  }
  EXPECT_EQ(bands, 3u + 3u + 4u + 5u + 5u + 2u + 6u);
  // Gaia DR3 zero points (Riello et al. 2021).
  const auto& gaia = all.front();
  ASSERT_EQ(gaia.fluxes.size(), 3u);
  EXPECT_EQ(gaia.fluxes[0].band, "Gaia_G");
  EXPECT_DOUBLE_EQ(gaia.fluxes[0].zero_point, 25.6874);
  EXPECT_DOUBLE_EQ(gaia.fluxes[0].zero_point_error, 0.0028);
  EXPECT_DOUBLE_EQ(gaia.fluxes[1].zero_point, 25.3385);
  EXPECT_DOUBLE_EQ(gaia.fluxes[2].zero_point, 24.7479);
  EXPECT_DOUBLE_EQ(gaia.fluxes[2].zero_point_error, 0.0038);
}

// Fluxes → Vega magnitudes with the zero points; error = 2.5/ln10 σF/F ⊕ σ_ZP. Null
// fluxes are missing, F <= 0 is counted apart, a flux without an error is unusable.
// The gaia_dr3 preset skips the astrometric columns silently, unless the Lindegren et al.
// (2021) parallax zero point is asked for: then it reads them and applies it per row, with
// G from phot_g_mean_flux.
TEST(ColumnPresetsTest, GaiaDr3ReadsTheZeroPointInputsWhenAsked) {
  const std::string path = temp_path("presets", "gaia_zero_point.csv");
  std::ofstream(path) << "source_id,parallax,parallax_error,phot_g_mean_flux,phot_g_mean_flux_error,"
                         "nu_eff_used_in_astrometry,pseudocolour,ecl_lat,astrometric_params_solved\n"
                         "7,1.5,0.02,33010.4,20,1.55,,-30,31\n";
  auto plain = CatalogReader::open(path, known(), with_presets("gaia_dr3"));
  EXPECT_TRUE(contains(plain.skipped_columns(), "pseudocolour"));
  EXPECT_DOUBLE_EQ(plain.read(0, 1).constraints[kParallax], 1.5);
  auto options = with_presets("gaia_dr3");
  options.gaia_zero_point = true;
  auto corrected = CatalogReader::open(path, known(), options);
  EXPECT_FALSE(contains(corrected.skipped_columns(), "pseudocolour"));
  const auto b = corrected.read(0, 1);
  const double g = 25.6874 - 2.5 * std::log10(33010.4);  // 14.391
  EXPECT_NEAR(b.constraints[kParallax], 1.5 - gaia_parallax_zero_point(g, 1.55, NAN, -30, 31), 1e-6);
  EXPECT_LT(gaia_parallax_zero_point(g, 1.55, NAN, -30, 31), -0.01);
  std::filesystem::remove(path);
}

TEST(ColumnPresetsTest, GaiaDr3FluxesBecomeMagnitudesWithZeroPointErrors) {
  auto cat = CatalogReader::open(fixture("gaia_dr3.csv"), known(), with_presets("gaia_dr3"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"Gaia_G", "Gaia_BP", "Gaia_RP"}));
  EXPECT_TRUE(cat.has_id());
  EXPECT_TRUE(cat.has_position());
  EXPECT_TRUE(cat.ignored_columns().empty());
  EXPECT_TRUE(contains(cat.skipped_columns(), "phot_g_mean_mag"));
  EXPECT_TRUE(contains(cat.skipped_columns(), "phot_variable_flag"));
  auto b = cat.read(0, 5);
  EXPECT_EQ(b.id, (std::vector<std::string>{"4295806720", "34361129088", "38655544960", "55834574848", "60129542144"}));
  EXPECT_DOUBLE_EQ(b.ra[0], 44.99615);
  const auto g = band(cat, b, "Gaia_G"), bp = band(cat, b, "Gaia_BP"), rp = band(cat, b, "Gaia_RP");
  // row 0: phot_g_mean_flux = 217130.0838 ± 144.75339 e-/s
  const double pogson = 2.5 / std::log(10.0);
  const double g_mag = 25.6874 - 2.5 * std::log10(217130.0838);
  const double g_err = std::sqrt(std::pow(pogson * 144.75339 / 217130.0838, 2) + 0.0028 * 0.0028);
  EXPECT_NEAR(g.mag(0), g_mag, 1e-5);
  EXPECT_NEAR(g.mag(0), 12.3456, 1e-4);  // the archive's phot_g_mean_mag of the row
  EXPECT_NEAR(g.err(0), g_err, 1e-7);
  EXPECT_NEAR(g.err(0), 0.00289, 1e-5);  // the zero point dominates a bright star's error
  EXPECT_NEAR(bp.mag(0), 12.7012, 1e-4);
  EXPECT_NEAR(rp.mag(0), 11.8290, 1e-4);
  EXPECT_NEAR(rp.err(0), std::hypot(pogson * 245.13693 / 147082.1603, 0.0038), 1e-7);
  EXPECT_NEAR(g.mag(1), 20.5121, 1e-4);
  EXPECT_NEAR(g.err(1), std::hypot(pogson / 60.0, 0.0028), 1e-6);
  EXPECT_TRUE(bp.absent(1));  // null BP/RP: missing
  EXPECT_TRUE(rp.absent(1));
  EXPECT_TRUE(bp.absent(2));  // BP flux -12.5: non-positive
  EXPECT_NEAR(rp.mag(2), 16.4021, 1e-4);
  EXPECT_TRUE(bp.absent(3));  // BP flux without its error: unusable
  EXPECT_TRUE(rp.absent(3));  // RP flux "null"
  EXPECT_TRUE(g.absent(4));   // G flux 0: non-positive
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{0, 2, 3}));
  EXPECT_EQ(b.nonpositive_flux, (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(b.upper_limits, (std::vector<std::int64_t>{0, 0, 0}));
  EXPECT_EQ(b.bands(0), 3);
  EXPECT_EQ(b.bands(4), 0);
  // parallax and parallax_error are star constraints, as published (no zero point here)
  ASSERT_TRUE(cat.has_constraint(kParallax));
  ASSERT_EQ(b.constraints.size(), 5u * kConstraintCount);
  EXPECT_DOUBLE_EQ(b.constraints[kParallax], 4.1052);
  EXPECT_DOUBLE_EQ(b.constraints[kParallaxErr], 0.0201);
  EXPECT_TRUE(std::isnan(b.constraints[kAvPrior]));
  EXPECT_FALSE(contains(cat.skipped_columns(), "parallax"));
}

// Default magnitudes with [jhk]_msigcom; a null error is an upper limit, a null magnitude
// is missing, an error > 8 is a quality-'F' flag.
TEST(ColumnPresetsTest, TwoMassPscUpperLimitsNullsAndErrorFlags) {
  auto cat = CatalogReader::open(fixture("2mass_psc.csv"), known(), with_presets("2mass_psc"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"2MASS_J", "2MASS_H", "2MASS_Ks"}));
  auto b = cat.read(0, 5);
  EXPECT_EQ(b.id.front(), "00424433+4116075");
  EXPECT_DOUBLE_EQ(b.dec[2], 41.290017);
  const auto j = band(cat, b, "2MASS_J"), h = band(cat, b, "2MASS_H"), k = band(cat, b, "2MASS_Ks");
  EXPECT_FLOAT_EQ(j.mag(0), 10.512f);
  EXPECT_FLOAT_EQ(j.err(0), 0.024f);  // j_msigcom, not j_cmsig
  EXPECT_FLOAT_EQ(k.mag(0), 9.901f);
  EXPECT_TRUE(k.absent(1));  // AAU: K upper limit
  EXPECT_TRUE(h.absent(2));  // AXA: H null
  EXPECT_TRUE(h.absent(3));  // AFA: error flag 9.995
  EXPECT_FLOAT_EQ(k.mag(3), 11.512f);
  EXPECT_EQ(b.bands(4), 0);  // UUU
  EXPECT_EQ(b.upper_limits, (std::vector<std::int64_t>{1, 1, 2}));
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_TRUE(contains(cat.skipped_columns(), "j_cmsig"));
  EXPECT_TRUE(contains(cat.skipped_columns(), "ph_qual"));
  EXPECT_TRUE(cat.ignored_columns().empty());
}

TEST(ColumnPresetsTest, AllWiseUpperLimitsAndWildcardSkips) {
  auto cat = CatalogReader::open(fixture("allwise.csv"), known(), with_presets("allwise"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"WISE_W1", "WISE_W2", "WISE_W3", "WISE_W4"}));
  auto b = cat.read(0, 3);
  EXPECT_EQ(b.id[1], "J004248.55+411652.3");
  const auto w1 = band(cat, b, "WISE_W1"), w3 = band(cat, b, "WISE_W3"), w4 = band(cat, b, "WISE_W4");
  EXPECT_FLOAT_EQ(w1.mag(0), 9.812f);
  EXPECT_FLOAT_EQ(w1.err(0), 0.023f);
  EXPECT_FLOAT_EQ(w4.err(0), 0.312f);
  EXPECT_TRUE(w3.absent(1));  // AAUU
  EXPECT_TRUE(w4.absent(1));
  EXPECT_FLOAT_EQ(w3.mag(2), 11.902f);
  EXPECT_TRUE(w4.absent(2));  // "null" magnitude: missing
  EXPECT_EQ(b.upper_limits, (std::vector<std::int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{0, 0, 0, 1}));
  for (const char* c : {"w1mag_1", "w1sigm_1", "w1flg_1", "j_m_2mass", "cc_flags", "ph_qual"}) {
    EXPECT_TRUE(contains(cat.skipped_columns(), c)) << c;
  }
}

TEST(ColumnPresetsTest, Ps1Dr2MeanPsfMagnitudesWithTheMinus999Sentinel) {
  auto cat = CatalogReader::open(fixture("ps1_dr2.csv"), known(), with_presets("ps1_dr2"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"PS1_g", "PS1_r", "PS1_i", "PS1_z", "PS1_y"}));
  auto b = cat.read(0, 3);
  EXPECT_EQ(b.id[0], "157290106847432001");
  EXPECT_DOUBLE_EQ(b.ra[0], 10.6847219);  // raMean
  const auto g = band(cat, b, "PS1_g"), y = band(cat, b, "PS1_y");
  EXPECT_FLOAT_EQ(g.mag(0), 16.8912f);
  EXPECT_FLOAT_EQ(g.err(0), 0.0031f);
  EXPECT_TRUE(g.absent(1));  // -999 / -999
  EXPECT_TRUE(y.absent(1));
  EXPECT_TRUE(g.absent(2));  // a magnitude with error -999: unusable
  EXPECT_EQ(b.bands(1), 3);
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{1, 0, 0, 0, 1}));
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{1, 0, 0, 0, 0}));
  EXPECT_TRUE(contains(cat.skipped_columns(), "gMeanKronMagErr"));
  EXPECT_TRUE(contains(cat.skipped_columns(), "gMeanPSFMagStd"));
}

TEST(ColumnPresetsTest, SdssDr17PsfMagnitudesSentinelAndCatalogueOffsets) {
  auto cat = CatalogReader::open(fixture("sdss_dr17.csv"), known(), with_presets("sdss_dr17"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SDSS_u", "SDSS_g", "SDSS_r", "SDSS_i", "SDSS_z"}));
  auto b = cat.read(0, 3);
  EXPECT_EQ(b.id[0], "1237663784734294045");
  const auto u = band(cat, b, "SDSS_u"), g = band(cat, b, "SDSS_g"), z = band(cat, b, "SDSS_z");
  EXPECT_NEAR(u.mag(0), 18.52101 - 0.04, 1e-5);  // the registry's u offset to AB
  EXPECT_NEAR(z.mag(0), 16.33301 + 0.02, 1e-5);
  EXPECT_FLOAT_EQ(g.err(0), 0.00451f);
  EXPECT_TRUE(u.absent(1));  // -9999
  EXPECT_TRUE(g.absent(2));  // psfMagErr_g -9999
  EXPECT_NEAR(u.mag(2), 24.90012 - 0.04, 1e-5);
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{1, 0, 0, 0, 0}));
  EXPECT_EQ(b.dropped_unusable, (std::vector<std::int64_t>{0, 1, 0, 0, 0}));
  EXPECT_TRUE(cat.ignored_columns().empty());
}

TEST(ColumnPresetsTest, GalexGr6MagnitudesAndSentinels) {
  auto cat = CatalogReader::open(fixture("galex_gr6.csv"), known(), with_presets("galex_gr6"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"GALEX_NUV", "GALEX_FUV"}));
  auto b = cat.read(0, 3);
  const auto nuv = band(cat, b, "GALEX_NUV"), fuv = band(cat, b, "GALEX_FUV");
  EXPECT_FLOAT_EQ(nuv.mag(0), 19.8012f);
  EXPECT_FLOAT_EQ(fuv.err(0), 0.2401f);
  EXPECT_TRUE(fuv.absent(1));
  EXPECT_TRUE(nuv.absent(2));
  EXPECT_FLOAT_EQ(fuv.mag(2), 20.9031f);
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{1, 1}));
  EXPECT_TRUE(contains(cat.skipped_columns(), "nuv_mag_auto"));
  EXPECT_TRUE(contains(cat.skipped_columns(), "fuv_mag_aper_4"));
}

TEST(ColumnPresetsTest, SkyMapperDr4PsfMagnitudesAndNulls) {
  auto cat = CatalogReader::open(fixture("skymapper_dr4.csv"), known(), with_presets("skymapper_dr4"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"SkyMapper_u", "SkyMapper_v", "SkyMapper_g", "SkyMapper_r",
                                                     "SkyMapper_i", "SkyMapper_z"}));
  auto b = cat.read(0, 2);
  EXPECT_EQ(b.id, (std::vector<std::string>{"503829412", "503829413"}));
  EXPECT_DOUBLE_EQ(b.dec[0], -60.123456);  // dej2000
  const auto u = band(cat, b, "SkyMapper_u"), v = band(cat, b, "SkyMapper_v");
  EXPECT_FLOAT_EQ(v.mag(0), 15.2101f);
  EXPECT_TRUE(u.absent(1));
  EXPECT_TRUE(v.absent(1));
  EXPECT_EQ(b.bands(1), 4);
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{1, 1, 0, 0, 0, 0}));
  EXPECT_TRUE(contains(cat.skipped_columns(), "gaia_dr3_id1"));
}

// Gaia x 2MASS x AllWISE in one table: ten bands; id and position from Gaia (listed
// first), 2MASS's designation skipped.
TEST(ColumnPresetsTest, PresetsCombineOnACrossMatchedTable) {
  auto cat =
      CatalogReader::open(fixture("gaia_2mass_allwise.csv"), known(), with_presets("gaia_dr3,2mass_psc,allwise"));
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"Gaia_G", "Gaia_BP", "Gaia_RP", "2MASS_J", "2MASS_H", "2MASS_Ks",
                                                     "WISE_W1", "WISE_W2", "WISE_W3", "WISE_W4"}));
  EXPECT_TRUE(cat.ignored_columns().empty());
  EXPECT_TRUE(contains(cat.skipped_columns(), "designation"));
  auto b = cat.read(0, 3);
  EXPECT_EQ(b.id[0], "4685014217386329216");
  EXPECT_DOUBLE_EQ(b.ra[0], 10.684713219);
  EXPECT_NEAR(band(cat, b, "Gaia_G").mag(0), 11.2034, 1e-4);
  EXPECT_FLOAT_EQ(band(cat, b, "2MASS_H").mag(0), 9.512f);
  EXPECT_FLOAT_EQ(band(cat, b, "WISE_W1").err(0), 0.023f);
  EXPECT_EQ(b.bands(0), 10);
  EXPECT_EQ(b.bands(1), 7);  // K, W3, W4 upper limits
  EXPECT_EQ(b.bands(2), 9);  // W4 missing
  EXPECT_EQ(b.upper_limits, (std::vector<std::int64_t>{0, 0, 0, 0, 0, 1, 0, 0, 1, 1}));
  EXPECT_EQ(b.missing, (std::vector<std::int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  // its parallax has no error column: skipped (with a warning), not a star constraint
  EXPECT_FALSE(cat.has_constraints());
  EXPECT_TRUE(contains(cat.skipped_columns(), "parallax"));
  // 2MASS listed first: its designation is the id and Gaia's source_id is skipped.
  auto tm_first =
      CatalogReader::open(fixture("gaia_2mass_allwise.csv"), known(), with_presets("2mass_psc,gaia_dr3,allwise"));
  EXPECT_EQ(tm_first.read(0, 1).id[0], "00424433+4116075");
  EXPECT_TRUE(contains(tm_first.skipped_columns(), "source_id"));
  // without the allwise preset its columns are unknown: an error naming them
  expect_error<InputError>(
      [&] { CatalogReader::open(fixture("gaia_2mass_allwise.csv"), known(), with_presets("gaia_dr3,2mass_psc")); },
      {"w1mpro", "cc_flags", "column preset(s) gaia_dr3, 2mass_psc", "--ignore-unknown-columns"});
}

TEST(ColumnPresetsTest, ConflictingPresetsAreRefusedNamingBoth) {
  const std::string ini = write_text("conflict.ini",
                                     "[ps1_a]\ndescription = one\nid = objID\n"
                                     "magnitudes = gmag:e_gmag:PS1_g\n"
                                     "[ps1_b]\nid = objID\nmagnitudes = g_psf:g_psf_err:PS1_g\n"
                                     "[sdss_c]\nmagnitudes = gmag:e_gmag2:SDSS_g\n"
                                     "[pos_d]\nra = gmag\nmagnitudes = rmag:e_rmag:SDSS_r\n");
  const auto presets = ColumnPresets::load(ini);
  expect_error<InputError>([&] { presets.select("ps1_a,ps1_b", "--columns-preset"); },
                           {"'ps1_a' and 'ps1_b'", "both map band PS1_g", "'gmag' and 'e_gmag'", "--columns"});
  expect_error<InputError>([&] { presets.select("ps1_a,sdss_c", "--columns-preset"); },
                           {"'ps1_a' and 'sdss_c'", "file column 'gmag'", "magnitude of PS1_g", "magnitude of SDSS_g"});
  expect_error<InputError>([&] { presets.select("ps1_a,pos_d", "--columns-preset"); },
                           {"'ps1_a' and 'pos_d'", "file column 'gmag'", "its ra column"});
  EXPECT_EQ(presets.select("ps1_b,sdss_c", "x").size(), 2u);  // the same id column is fine
  expect_error<InputError>([&] { presets.select("ps1_a,PS1_A", "--columns-preset"); },
                           {"--columns-preset = 'ps1_a,PS1_A'", "names preset 'ps1_a' twice"});
  // the reader checks presets handed to it directly, too
  CatalogOptions options;
  options.presets = {presets.select("ps1_a", "x").front(), presets.select("ps1_b", "x").front()};
  expect_error<InputError>([&] { CatalogReader::open(fixture("ps1_dr2.csv"), known(), options); },
                           {"'ps1_a' and 'ps1_b'", "PS1_g"});
  std::filesystem::remove(ini);
}

TEST(ColumnPresetsTest, UnknownPresetListsTheKnownOnes) {
  const auto presets = ColumnPresets::load(kPresetsIni);
  expect_error<InputError>([&] { presets.select("gaia_dr3,gaia_dr4", "--columns-preset"); },
                           {"--columns-preset = 'gaia_dr3,gaia_dr4'", "unknown preset 'gaia_dr4'", kPresetsIni,
                            "gaia_dr3, 2mass_psc, allwise, ps1_dr2, sdss_dr17, galex_gr6, skymapper_dr4"});
}

// An explicit --columns entry replaces the preset's mapping of that band: here 2MASS J
// from j_cmsig (photometric error only) instead of j_msigcom, and H renamed.
TEST(ColumnPresetsTest, ExplicitColumnsWinOverAPreset) {
  auto options = with_presets("2mass_psc");
  options.column_map = parse_column_map("j_m:2MASS_J,j_cmsig:2MASS_J_err,pts_key:id");
  auto cat = CatalogReader::open(fixture("2mass_psc.csv"), known(), options);
  EXPECT_EQ(cat.filters(), (std::vector<std::string>{"2MASS_J", "2MASS_H", "2MASS_Ks"}));
  auto b = cat.read(0, 5);
  const auto j = band(cat, b, "2MASS_J");
  EXPECT_FLOAT_EQ(j.err(0), 0.022f);  // j_cmsig
  EXPECT_TRUE(j.absent(4));           // no preset upper-limit convention for an explicit band: unusable
  EXPECT_EQ(b.dropped_unusable[0], 1);
  EXPECT_EQ(b.upper_limits[0], 0);
  EXPECT_EQ(b.id[0], "1185931425");  // pts_key; the preset's designation is skipped
  EXPECT_TRUE(contains(cat.skipped_columns(), "j_msigcom"));
  EXPECT_TRUE(contains(cat.skipped_columns(), "designation"));
  // Mapping only the error replaces the preset's band too: its magnitude must then be mapped.
  auto partial = with_presets("2mass_psc");
  partial.column_map = parse_column_map("j_cmsig:2MASS_J_err");
  expect_error<InputError>([&] { CatalogReader::open(fixture("2mass_psc.csv"), known(), partial); },
                           {"error column 'j_cmsig'", "no magnitude column '2MASS_J'"});
}

TEST(ColumnPresetsTest, PresetBandWithoutItsErrorColumnIsAnError) {
  const std::string path = write_text("no_err.csv",
                                      "designation,ra,dec,j_m,j_msigcom,h_m\n"
                                      "00424433+4116075,10.68,41.27,10.512,0.024,9.987\n");
  expect_error<InputError>([&] { CatalogReader::open(path, known(), with_presets("2mass_psc")); },
                           {path, "column 'h_m' is the magnitude of 2MASS_H in column preset '2mass_psc'",
                            "no error column 'h_msigcom'", "--columns FILE_COLUMN:2MASS_H,FILE_COLUMN:2MASS_H_err"});
  const std::string orphan = write_text("no_flux.csv", "source_id,ra,dec,phot_g_mean_flux_error\n1,2,3,4\n");
  expect_error<InputError>(
      [&] { CatalogReader::open(orphan, known(), with_presets("gaia_dr3")); },
      {"column 'phot_g_mean_flux_error' is the error of Gaia_G", "no flux column 'phot_g_mean_flux'"});
  std::filesystem::remove(path);
  std::filesystem::remove(orphan);
}

// Bad preset files name the file and line, the key and value, and what is allowed.
TEST(ColumnPresetsTest, BadPresetEntriesNameFileLineValueAndWhatIsAllowed) {
  struct Case {
    const char* ini;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"[a]\nmagnitudes = gmag:e_gmag\n",
       {":2: [a] magnitudes", "'gmag:e_gmag'", "MAGNITUDE_COLUMN:ERROR_COLUMN:BAND"}},
      {"[a]\nfluxes = f:e:Gaia_G:zp:0.1\n", {":2: [a] fluxes", "zero point 'zp'", "finite number"}},
      {"[a]\nfluxes = f:e:Gaia_G:25:-1\n", {"zero-point error '-1'", ">= 0"}},
      {"[a]\nmagnitudes = g:e:PS1_g\nmissing = -999, none\n", {":3: [a] missing", "'none'", "e.g. -999"}},
      {"[a]\nmagnitudes = g:e:PS1_g\nupper_limits = maybe\n", {":3: [a] upper_limits = 'maybe'", "yes or no"}},
      {"[a]\nmagnitudes = g:e:PS1_g\nerror_flag = 8\n",
       {":3: unknown key 'error_flag'", "allowed keys", "error_flags_above"}},
      {"[a]\nid = objID\n", {":1: preset [a] maps no band", "magnitudes = "}},
      {"[a]\nmagnitudes = g:e:PS1_g, g:e2:PS1_r\n", {"preset [a] uses column 'g' twice"}},
      {"[a b]\nmagnitudes = g:e:PS1_g\n", {":1: preset name 'a b'", "letters, digits"}},
  };
  int i = 0;
  for (const auto& c : cases) {
    const std::string ini = write_text("bad" + std::to_string(i++) + ".ini", c.ini);
    std::vector<std::string> parts = c.parts;
    parts.push_back(ini);
    expect_error<InputError>([&] { ColumnPresets::load(ini); }, parts);
    std::filesystem::remove(ini);
  }
  expect_error<IoError>([] { ColumnPresets::load(temp_path("presets", "absent.ini")); },
                        {"column presets", "absent.ini", "missing or unreadable"});
  // A band the registry does not know is refused when the catalogue is opened.
  const std::string ini = write_text("band.ini", "[a]\nmagnitudes = gmag:e_gmag:PS1_q\n");
  CatalogOptions options;
  options.presets = ColumnPresets::load(ini).select("a", "--columns-preset");
  expect_error<InputError>([&] { CatalogReader::open(fixture("ps1_dr2.csv"), known(), options); },
                           {"column preset 'a'", ini + ":1", "band 'PS1_q'", "not in the filter registry", "PS1_g"});
  std::filesystem::remove(ini);
}

}  // namespace
}  // namespace irisml
