#include "simulate/grid.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace irisml::simulate {
namespace {

using irisml::test_support::expect_error;
using irisml::test_support::TempDir;

namespace fs = std::filesystem;

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<char> bytes(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::size_t axis_index(const std::vector<double>& axis, double value) {
  auto it = std::find(axis.begin(), axis.end(), value);
  EXPECT_NE(it, axis.end()) << value << " is not a node";
  return static_cast<std::size_t>(it - axis.begin());
}

// ---------------------------------------------------------------------------
// The published CK04 collection, imported once for the whole suite.

class Ck04Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    grid_ = std::make_unique<SpectralGrid>(import_ck04(std::string(IRISML_TEST_DATA_DIR) + "/spectra/ck04models"));
  }
  static void TearDownTestSuite() { grid_.reset(); }
  static const SpectralGrid& grid() { return *grid_; }
  // A node's spectrum, by physical values.
  static const float* node(double teff, double logg, double mh) {
    const auto& g = grid();
    return g.spectrum(axis_index(g.mh, mh), axis_index(g.teff, teff), axis_index(g.logg, logg));
  }

  static std::unique_ptr<SpectralGrid> grid_;
};
std::unique_ptr<SpectralGrid> Ck04Test::grid_;

TEST_F(Ck04Test, ImportsTheWholeCollection) {
  const auto& g = grid();
  EXPECT_EQ(g.n_teff(), 76u);
  EXPECT_EQ(g.n_logg(), 11u);
  EXPECT_EQ(g.n_mh(), 8u);
  EXPECT_EQ(g.n_wave(), 1221u);
  EXPECT_EQ(g.n_valid(), 3808u);
  EXPECT_EQ(g.flux.size(), 8u * 76u * 11u * 1221u);
  EXPECT_DOUBLE_EQ(g.teff.front(), 3500.0);
  EXPECT_DOUBLE_EQ(g.teff[1], 3750.0);
  EXPECT_DOUBLE_EQ(g.teff.back(), 50000.0);
  EXPECT_EQ(g.logg, (std::vector<double>{0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0}));
  EXPECT_EQ(g.mh, (std::vector<double>{-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.2, 0.5}));
  EXPECT_NEAR(g.wavelength.front(), 90.9, 1e-4);
  EXPECT_NEAR(g.wavelength.back(), 1.6e6, 1.0);
  EXPECT_EQ(g.checksum.rfind("fnv1a64:", 0), 0u);
  EXPECT_EQ(g.checksum.size(), 8u + 16u);
  EXPECT_EQ(g.checksum, g.compute_checksum());
  // AA_README's example: ckp00_8000 has no log g 0.0 / 0.5 models, but one at 1.0.
  std::size_t m0 = axis_index(g.mh, 0.0), t8000 = axis_index(g.teff, 8000.0);
  EXPECT_FALSE(g.is_valid(m0, t8000, 0));
  EXPECT_FALSE(g.is_valid(m0, t8000, 1));
  EXPECT_TRUE(g.is_valid(m0, t8000, 2));
}

TEST_F(Ck04Test, FluxIsSurfaceFlamConsistentWithStefanBoltzmann) {
  // ∫F_λ dλ = σ T⁴ within a few per cent (data README); trapezoid on the grid.
  const auto& g = grid();
  const double sigma = 5.670374419e-5;  // erg s⁻¹ cm⁻² K⁻⁴
  for (double teff : {4000.0, 5750.0, 10000.0}) {
    const float* f = node(teff, 4.5, 0.0);
    double integral = 0;
    for (std::size_t i = 1; i < g.n_wave(); ++i) {
      integral += 0.5 * (double(f[i]) + double(f[i - 1])) * (g.wavelength[i] - g.wavelength[i - 1]);
    }
    EXPECT_NEAR(integral / (sigma * std::pow(teff, 4)), 1.0, 0.05) << teff;
  }
}

TEST_F(Ck04Test, LocateRefusesPointsOutsideTheGrid) {
  GridInterpolator interp(grid());
  GridInterpolator::Cell cell;
  // Hot stars have no low-gravity models: 30000 K needs log g >= 3.5.
  EXPECT_FALSE(interp.locate(30000, 1.0, 0.0, cell));
  EXPECT_FALSE(interp.locate(30000, 3.25, 0.0, cell));  // the log g 3.0 corner is missing
  EXPECT_TRUE(interp.locate(30000, 4.0, 0.0, cell));
  // 8000 K: log g 0.5 is missing, so the cell [0.5, 1.0] is out, log g 1.0 itself is in.
  EXPECT_FALSE(interp.locate(8000, 0.75, 0.0, cell));
  EXPECT_TRUE(interp.locate(8000, 1.0, 0.0, cell));
  // Off the axes, or not numbers.
  EXPECT_FALSE(interp.locate(3400, 4.5, 0.0, cell));
  EXPECT_FALSE(interp.locate(50001, 5.0, 0.0, cell));
  EXPECT_FALSE(interp.locate(5000, -0.01, 0.0, cell));
  EXPECT_FALSE(interp.locate(5000, 5.01, 0.0, cell));
  EXPECT_FALSE(interp.locate(5000, 4.5, -2.51, cell));
  EXPECT_FALSE(interp.locate(5000, 4.5, 0.51, cell));
  EXPECT_FALSE(interp.locate(std::nan(""), 4.5, 0.0, cell));
  EXPECT_FALSE(interp.locate(5000, std::nan(""), 0.0, cell));
  EXPECT_FALSE(interp.locate(-5000, 4.5, 0.0, cell));
  EXPECT_FALSE(interp.locate(INFINITY, 4.5, 0.0, cell));
}

TEST_F(Ck04Test, NodesAreReproducedExactlyIncludingUpperEdges) {
  const auto& g = grid();
  GridInterpolator interp(g);
  std::vector<double> out(g.n_wave());
  struct Node {
    double teff, logg, mh;
  };
  for (Node n : {Node{5750, 4.5, 0.0}, Node{50000, 5.0, 0.5}, Node{3500, 0.0, -2.5}, Node{3500, 5.0, 0.5},
                 Node{12000, 2.5, 0.2}}) {
    ASSERT_TRUE(interp.spectrum(n.teff, n.logg, n.mh, out.data())) << n.teff << " " << n.logg << " " << n.mh;
    const float* f = node(n.teff, n.logg, n.mh);
    for (std::size_t i = 0; i < g.n_wave(); ++i) ASSERT_EQ(out[i], double(f[i])) << n.teff << " index " << i;
  }
  // A Teff that went through log10/pow still lands on the node.
  ASSERT_TRUE(interp.spectrum(std::pow(10.0, std::log10(50000.0)), 5.0, 0.5, out.data()));
  EXPECT_EQ(out[600], double(node(50000, 5.0, 0.5)[600]));
}

TEST_F(Ck04Test, MidpointsAreGeometricMeansOfTheirNeighbours) {
  const auto& g = grid();
  GridInterpolator interp(g);  // Blend::LogFlux
  std::vector<double> out(g.n_wave());
  // ln F is held as float: |ln F| ≤ 90 gives ≤ 6e-6 relative. Zero stays zero
  // (CK04 has zero flux below 1215 Å in cool models).
  auto expect_geometric = [&](const float* a, const float* b, const char* what) {
    for (std::size_t i = 0; i < g.n_wave(); ++i) {
      double expect = a[i] == 0 && b[i] == 0
                          ? 0.0
                          : std::sqrt(std::max(double(a[i]), kFluxFloor) * std::max(double(b[i]), kFluxFloor));
      ASSERT_NEAR(out[i], expect, 6e-6 * expect) << what << " index " << i;
    }
  };
  // log g midpoint (weights 0.5).
  ASSERT_TRUE(interp.spectrum(5750, 4.25, 0.0, out.data()));
  expect_geometric(node(5750, 4.0, 0.0), node(5750, 4.5, 0.0), "log g");
  // [M/H] midpoint between -0.5 and 0.0.
  ASSERT_TRUE(interp.spectrum(5750, 4.5, -0.25, out.data()));
  expect_geometric(node(5750, 4.5, -0.5), node(5750, 4.5, 0.0), "[M/H]");
  // log10 Teff midpoint = geometric mean of the Teffs (not the arithmetic one).
  ASSERT_TRUE(interp.spectrum(std::sqrt(5750.0 * 6000.0), 4.5, 0.0, out.data()));
  expect_geometric(node(5750, 4.5, 0.0), node(6000, 4.5, 0.0), "Teff");
  // ... which differs from the value at the arithmetic midpoint 5875 K.
  std::vector<double> arith(g.n_wave());
  ASSERT_TRUE(interp.spectrum(5875.0, 4.5, 0.0, arith.data()));
  EXPECT_NE(arith[600], out[600]);
  // The geometric mean lies below the arithmetic one (the linear blend), most in
  // the blue where the flux is most convex in Teff: 5% at 3000 Å at 3750–4000 K.
  GridInterpolator linear(g, Blend::LinearFlux);
  std::vector<double> lin(g.n_wave());
  ASSERT_TRUE(interp.spectrum(std::sqrt(3750.0 * 4000.0), 4.5, 0.0, out.data()));
  ASSERT_TRUE(linear.spectrum(std::sqrt(3750.0 * 4000.0), 4.5, 0.0, lin.data()));
  const std::size_t i3000 = static_cast<std::size_t>(
      std::lower_bound(g.wavelength.begin(), g.wavelength.end(), 3000.0) - g.wavelength.begin());
  for (std::size_t i = 0; i < g.n_wave(); ++i) ASSERT_LE(out[i], lin[i] * (1 + 6e-6)) << i;
  EXPECT_LT(out[i3000], 0.96 * lin[i3000]);
}

TEST_F(Ck04Test, GeneralPointMatchesAnIndependentTrilinearSum) {
  const auto& g = grid();
  GridInterpolator log_interp(g), lin_interp(g, Blend::LinearFlux);
  EXPECT_EQ(log_interp.blend(), Blend::LogFlux);
  EXPECT_EQ(lin_interp.blend(), Blend::LinearFlux);
  const double teff = 5888, logg = 4.37, mh = -0.33;
  std::vector<double> log_out(g.n_wave()), lin_out(g.n_wave());
  ASSERT_TRUE(log_interp.spectrum(teff, logg, mh, log_out.data()));
  ASSERT_TRUE(lin_interp.spectrum(teff, logg, mh, lin_out.data()));
  // Bracketing nodes: 5750–6000 K, 4.0–4.5, −0.5–0.0.
  const double ft = (std::log10(teff) - std::log10(5750.0)) / (std::log10(6000.0) - std::log10(5750.0));
  const double fg = (logg - 4.0) / 0.5, fm = (mh + 0.5) / 0.5;
  for (std::size_t i : {0ul, 300ul, 600ul, 900ul, 1220ul}) {
    double lin = 0, log = 0;
    bool all_zero = true;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 2; ++c) {
          double w = (a ? fm : 1 - fm) * (b ? ft : 1 - ft) * (c ? fg : 1 - fg);
          double f = node(b ? 6000 : 5750, c ? 4.5 : 4.0, a ? 0.0 : -0.5)[i];
          lin += w * f;
          log += w * std::log(std::max(f, kFluxFloor));
          all_zero = all_zero && f == 0;
        }
    EXPECT_NEAR(lin_out[i], lin, 1e-12 * std::abs(lin) + 1e-300) << i;
    const double expect = all_zero ? 0.0 : std::exp(log);
    EXPECT_NEAR(log_out[i], expect, 6e-6 * expect) << i;
  }
}

TEST_F(Ck04Test, WavelengthRangeRestrictsTheOutput) {
  const auto& g = grid();
  GridInterpolator full(g), part(g, 100, 900);
  EXPECT_EQ(part.size(), 800u);
  EXPECT_EQ(part.wavelength()[0], g.wavelength[100]);
  std::vector<double> a(g.n_wave()), b(part.size());
  ASSERT_TRUE(full.spectrum(6321, 3.9, -1.2, a.data()));
  ASSERT_TRUE(part.spectrum(6321, 3.9, -1.2, b.data()));
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], a[100 + i]) << i;
  // The range covering 5000–6000 Å: from the last point <= 5000 to the first >= 6000.
  auto [i0, i1] = g.covering_range(5000.0, 6000.0);
  EXPECT_LE(g.wavelength[i0], 5000.0);
  EXPECT_GT(g.wavelength[i0 + 1], 5000.0);
  EXPECT_GE(g.wavelength[i1 - 1], 6000.0);
  EXPECT_LT(g.wavelength[i1 - 2], 6000.0);
  EXPECT_EQ(i1 - i0, 52u);  // 20 Å steps on odd tens in the optical: 4990, 5010, …, 6010
  EXPECT_EQ(g.covering_range(1.0, 1e9), (std::pair<std::size_t, std::size_t>{0, 1221}));
  expect_error<InputError>([&] { g.covering_range(6000.0, 5000.0); }, {"[6000, 5000]"});
  expect_error<InputError>([&] { GridInterpolator bad(g, 900, 900); }, {"[900, 900)", "1221"});
  expect_error<InputError>([&] { GridInterpolator bad(g, 0, 1222); }, {"[0, 1222)"});
}

TEST_F(Ck04Test, LogTeffIntervalsFollowTheGridsRaggedEdge) {
  const auto& g = grid();
  auto kelvin = [](const std::vector<std::pair<double, double>>& iv) {
    std::vector<std::pair<double, double>> out;
    for (auto [lo, hi] : iv) out.emplace_back(std::round(std::pow(10, lo)), std::round(std::pow(10, hi)));
    return out;
  };
  using Iv = std::vector<std::pair<double, double>>;
  // 50000 K has only log g 5.0 models, so at log g 4.5 the union stops at 49000 K.
  EXPECT_EQ(kelvin(g.log_teff_intervals(4.5)), (Iv{{3500, 49000}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(4.75)), (Iv{{3500, 49000}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(5.0)), (Iv{{3500, 50000}}));
  // log g 1.0 models exist up to 8250 K (8500 K starts at 1.5).
  EXPECT_EQ(kelvin(g.log_teff_intervals(1.0)), (Iv{{3500, 8250}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(1.25)), (Iv{{3500, 8250}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(0.25)), (Iv{{3500, 6000}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(2.25)), (Iv{{3500, 11750}}));
  EXPECT_EQ(kelvin(g.log_teff_intervals(3.25)), (Iv{{3500, 26000}}));
  EXPECT_TRUE(g.log_teff_intervals(-0.1).empty());
  EXPECT_TRUE(g.log_teff_intervals(5.2).empty());
  EXPECT_DOUBLE_EQ(g.log_teff_intervals(4.5).front().first, std::log10(3500.0));
}

TEST_F(Ck04Test, EveryPointOfTheIntervalsIsInterpolableAtAnyMetallicity) {
  const auto& g = grid();
  GridInterpolator interp(g);
  GridInterpolator::Cell cell;
  int checked = 0;
  for (double logg = 0.05; logg < 5.0; logg += 0.1) {
    auto iv = g.log_teff_intervals(logg);
    ASSERT_FALSE(iv.empty()) << logg;
    for (auto [lo, hi] : iv) {
      for (int k = 0; k <= 20; ++k) {
        double teff = std::pow(10.0, lo + (hi - lo) * k / 20.0);  // endpoints included
        for (double mh : {-2.5, -1.234, 0.0, 0.37, 0.5}) {
          ASSERT_TRUE(interp.locate(teff, logg, mh, cell)) << teff << " " << logg << " " << mh;
          ++checked;
        }
      }
    }
    // Just past the hot end (where it is not the axis end) some model is missing.
    double top = iv.back().second;
    if (top < std::log10(50000.0) - 1e-9) {
      EXPECT_FALSE(interp.locate(std::pow(10.0, top + 1e-4), logg, 0.0, cell)) << logg;
    }
  }
  EXPECT_GT(checked, 5000);
}

TEST_F(Ck04Test, SaveLoadRoundTripIsBitIdenticalAndReproducible) {
  TempDir dir("grid", "roundtrip");
  const auto& g = grid();
  const std::string path = dir.file("ck04.h5"), again = dir.file("ck04_again.h5");
  save_grid(g, path);
  EXPECT_FALSE(file_exists(partial_path(path)));
  SpectralGrid back = load_grid(path);
  EXPECT_EQ(back.teff, g.teff);
  EXPECT_EQ(back.logg, g.logg);
  EXPECT_EQ(back.mh, g.mh);
  EXPECT_EQ(back.wavelength, g.wavelength);
  ASSERT_EQ(back.flux.size(), g.flux.size());
  EXPECT_EQ(std::memcmp(back.flux.data(), g.flux.data(), g.flux.size() * sizeof(float)), 0);
  EXPECT_EQ(back.valid, g.valid);
  EXPECT_EQ(back.checksum, g.checksum);
  EXPECT_EQ(back.source, g.source);
  EXPECT_EQ(back.provenance, g.provenance);
  auto f = h5::File::open(path);
  EXPECT_EQ(f.attr_string("/", "format"), kGridFormatName);
  EXPECT_EQ(f.attr_int("/", "format_version"), kGridFormatVersion);
  EXPECT_EQ(f.attr_int("/", "n_valid"), 3808);
  EXPECT_EQ(f.dims("flux"), (std::vector<std::uint64_t>{8, 76, 11, 1221}));
  // No timestamps: the same grid gives the same bytes.
  save_grid(back, again);
  EXPECT_TRUE(read_bytes(path) == read_bytes(again));
}

TEST_F(Ck04Test, CorruptedFluxIsDetectedByTheChecksum) {
  TempDir dir("grid", "corrupt");
  const auto& g = grid();
  const std::string path = dir.file("ck04.h5"), bad = dir.file("ck04_bad.h5");
  save_grid(g, path);
  std::vector<char> bytes = read_bytes(path);
  // Find 8 consecutive flux values of one model in the file and flip the
  // lowest mantissa bit of one of them (still a finite number).
  const char* pattern = reinterpret_cast<const char*>(node(5750, 4.5, 0.0) + 600);
  auto it = std::search(bytes.begin(), bytes.end(), pattern, pattern + 8 * sizeof(float));
  ASSERT_NE(it, bytes.end());
  *(it + 4 * sizeof(float)) ^= 1;
  write_bytes(bad, bytes);
  expect_error<IoError>([&] { load_grid(bad); }, {bad, "checksum mismatch", g.checksum});
  EXPECT_NO_THROW(load_grid(path));
}

// ---------------------------------------------------------------------------
// Small synthetic grids.

// F_λ linear in (log10 Teff, log g, [M/H]) per wavelength, so multilinear
// interpolation must reproduce it anywhere inside a complete cell.
double linear_flux(double teff, double logg, double mh, std::size_t i) {
  return 10.0 + 2.0 * std::log10(teff) * double(i + 1) + 0.75 * logg - 0.5 * mh * double(i + 2);
}

struct TableRow {
  double teff, logg, mh;
  std::vector<float> flux;
};

const std::vector<double> kTableWave = {1000, 2000, 3000, 4000, 5000};

// 3 Teff × 2 log g × 2 [M/H]: (6000, 4.0, −1.0) absent, (6000, 4.0, 0.0) all zero.
std::vector<TableRow> table_rows() {
  std::vector<TableRow> rows;
  for (double mh : {0.0, -1.0}) {  // deliberately unsorted
    for (double teff : {6000.0, 4000.0, 5000.0}) {
      for (double logg : {4.5, 4.0}) {
        if (teff == 6000 && logg == 4.0 && mh == -1.0) continue;
        TableRow r{teff, logg, mh, {}};
        for (std::size_t i = 0; i < kTableWave.size(); ++i) {
          r.flux.push_back(teff == 6000 && logg == 4.0 ? 0.0f : static_cast<float>(linear_flux(teff, logg, mh, i)));
        }
        rows.push_back(r);
      }
    }
  }
  return rows;
}

void write_table_h5(const std::string& path, const std::vector<TableRow>& rows) {
  auto f = h5::File::create(path);
  std::vector<double> teff, logg, mh;
  std::vector<float> flux;
  for (const auto& r : rows) {
    teff.push_back(r.teff);
    logg.push_back(r.logg);
    mh.push_back(r.mh);
    flux.insert(flux.end(), r.flux.begin(), r.flux.end());
  }
  f.write<double>("teff", teff, {teff.size()});
  f.write<double>("logg", logg, {logg.size()});
  f.write<double>("mh", mh, {mh.size()});
  f.write<double>("wavelength", kTableWave, {kTableWave.size()});
  f.write<float>("flux", flux, {rows.size(), kTableWave.size()});
  f.set_attr("/", "provenance", std::string("synthetic test grid"));
}

// Manifest + one spectrum file per row, in `dir`.
std::string write_table_text(const TempDir& dir, const std::vector<TableRow>& rows) {
  fs::create_directories(dir.path() / "spectra");
  std::string manifest = dir.file("grid.txt");
  std::FILE* m = std::fopen(manifest.c_str(), "w");
  std::fprintf(m, "# teff logg mh spectrum\n\n");
  for (std::size_t k = 0; k < rows.size(); ++k) {
    std::string name = "spectra/model_" + std::to_string(k) + ".dat";
    std::fprintf(m, "%.17g %.17g %.17g %s  # model %zu\n", rows[k].teff, rows[k].logg, rows[k].mh, name.c_str(), k);
    std::FILE* s = std::fopen(dir.file(name).c_str(), "w");
    std::fprintf(s, "# wavelength flux continuum\n");
    for (std::size_t i = 0; i < kTableWave.size(); ++i) {
      std::fprintf(s, "%.17g,%.9g,1.0\n", kTableWave[i], double(rows[k].flux[i]));
    }
    std::fclose(s);
  }
  std::fclose(m);
  return manifest;
}

void expect_synthetic_grid(const SpectralGrid& g) {
  EXPECT_EQ(g.teff, (std::vector<double>{4000, 5000, 6000}));
  EXPECT_EQ(g.logg, (std::vector<double>{4.0, 4.5}));
  EXPECT_EQ(g.mh, (std::vector<double>{-1.0, 0.0}));
  EXPECT_EQ(g.wavelength, kTableWave);
  EXPECT_EQ(g.n_valid(), 10u);
  EXPECT_FALSE(g.is_valid(0, 2, 0));  // absent
  EXPECT_FALSE(g.is_valid(1, 2, 0));  // all zero
  EXPECT_TRUE(g.is_valid(1, 2, 1));
  EXPECT_FLOAT_EQ(g.spectrum(1, 0, 1)[3], static_cast<float>(linear_flux(4000, 4.5, 0.0, 3)));
}

TEST(GridTableTest, ImportsHdf5TableAndInterpolatesLinearFluxExactly) {
  TempDir dir("grid", "table_h5");
  std::string path = dir.file("table.h5");
  write_table_h5(path, table_rows());
  SpectralGrid g = import_table(path);
  expect_synthetic_grid(g);
  EXPECT_EQ(g.source, path);
  EXPECT_NE(g.provenance.find("synthetic test grid"), std::string::npos);
  EXPECT_EQ(g.checksum, g.compute_checksum());

  // The table's flux is linear in (log10 Teff, log g, [M/H]): the linear blend
  // reproduces it (the default ln F blend is checked in interpolation_test.cpp).
  GridInterpolator interp(g, Blend::LinearFlux);
  std::vector<double> out(g.n_wave());
  ASSERT_TRUE(interp.spectrum(4472.1, 4.31, -0.77, out.data()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    double expect = linear_flux(4472.1, 4.31, -0.77, i);
    EXPECT_NEAR(out[i], expect, 2e-6 * expect) << i;
  }
  GridInterpolator::Cell cell;
  EXPECT_FALSE(interp.locate(5500, 4.25, -0.5, cell));  // needs (6000, 4.0, ·)
  EXPECT_FALSE(interp.locate(5500, 4.25, 0.0, cell));
  EXPECT_TRUE(interp.locate(5500, 4.5, -0.5, cell));  // on the log g 4.5 edge: complete
  EXPECT_TRUE(interp.locate(6000, 4.5, 0.0, cell));

  auto expect_interval = [](const std::vector<std::pair<double, double>>& iv, double lo, double hi) {
    ASSERT_EQ(iv.size(), 1u);
    EXPECT_NEAR(iv[0].first, std::log10(lo), 1e-14);
    EXPECT_NEAR(iv[0].second, std::log10(hi), 1e-14);
  };
  expect_interval(g.log_teff_intervals(4.25), 4000, 5000);  // 6000 K lacks log g 4.0
  expect_interval(g.log_teff_intervals(4.5), 4000, 6000);   // two cells merged
  EXPECT_TRUE(g.log_teff_intervals(3.9).empty());
}

TEST(GridTableTest, TextManifestGivesTheSameGridAsHdf5) {
  TempDir dir("grid", "table_text");
  auto rows = table_rows();
  std::string h5path = dir.file("table.h5");
  write_table_h5(h5path, rows);
  std::string manifest = write_table_text(dir, rows);
  SpectralGrid a = import_table(h5path), b = import_table(manifest);
  expect_synthetic_grid(b);
  EXPECT_EQ(b.source, manifest);
  // The checksum covers the content only, not where it came from.
  EXPECT_EQ(a.checksum, b.checksum);
  EXPECT_EQ(a.flux, b.flux);
}

TEST(GridTableTest, SyntheticSaveLoadAndCorruption) {
  TempDir dir("grid", "table_save");
  std::string table = dir.file("table.h5"), path = dir.file("grid.h5"), bad = dir.file("bad.h5");
  write_table_h5(table, table_rows());
  SpectralGrid g = import_table(table);
  save_grid(g, path);
  SpectralGrid back = load_grid(path);
  EXPECT_EQ(back.flux, g.flux);
  EXPECT_EQ(back.valid, g.valid);
  EXPECT_EQ(back.checksum, g.checksum);
  // Flip one bit of one flux value in a copy.
  std::vector<char> bytes = read_bytes(path);
  const float* row = g.spectrum(1, 1, 1);
  const char* pattern = reinterpret_cast<const char*>(row);
  auto it = std::search(bytes.begin(), bytes.end(), pattern, pattern + 5 * sizeof(float));
  ASSERT_NE(it, bytes.end());
  *(it + 8) ^= 1;
  write_bytes(bad, bytes);
  expect_error<IoError>([&] { load_grid(bad); }, {bad, "checksum mismatch"});
  // A table file is not a grid file, and a missing file says so.
  expect_error<InputError>([&] { load_grid(table); }, {table, "not an irisml spectral grid"});
  expect_error<IoError>([&] { load_grid(dir.file("nope.h5")); }, {"nope.h5"});
}

TEST(GridTableTest, BadTablesAreRefusedWithTheirLocation) {
  TempDir dir("grid", "table_bad");
  auto rows = table_rows();
  // A model listed twice.
  auto dup = rows;
  dup.push_back(rows[3]);
  std::string dup_path = dir.file("dup.h5");
  write_table_h5(dup_path, dup);
  expect_error<InputError>([&] { import_table(dup_path); }, {"row 3 of", "row 11 of", "appear once"});
  // A non-finite flux.
  auto nan = rows;
  nan[2].flux[1] = std::nanf("");
  std::string nan_path = dir.file("nan.h5");
  write_table_h5(nan_path, nan);
  expect_error<InputError>([&] { import_table(nan_path); }, {"row 2 of", "2000 Å", "finite"});
  // A missing dataset.
  std::string partial = dir.file("partial.h5");
  {
    auto f = h5::File::create(partial);
    f.write<double>("teff", {5000.0}, {1});
  }
  expect_error<InputError>([&] { import_table(partial); }, {partial, "'logg'"});
  // Manifest: a malformed line, a spectrum on another wavelength grid, a missing file.
  std::string manifest = write_table_text(dir, rows);
  {
    std::ofstream out(manifest, std::ios::app);
    out << "5000 4.5 oops spectra/model_0.dat\n";
  }
  expect_error<InputError>([&] { import_table(manifest); }, {manifest, "line 14", "teff logg mh spectrum-file"});
  write_table_text(dir, rows);
  {
    std::ofstream out(dir.file("spectra/model_4.dat"));
    out << "1000 1\n2000 1\n3000 1\n4000 1\n5001 1\n";
  }
  expect_error<InputError>([&] { import_table(manifest); }, {"model_4.dat", "5001", "row 4"});
  write_table_text(dir, rows);
  fs::remove(dir.file("spectra/model_7.dat"));
  expect_error<InputError>([&] { import_table(manifest); }, {"model_7.dat", "missing"});
  expect_error<InputError>([&] { import_table(dir.file("absent.txt")); }, {"absent.txt"});
}

// ---------------------------------------------------------------------------
// CK04 importer on small hand-made collections.

struct FakeCkFile {
  std::string dir;  // "ckp00"
  std::string teff_name;
  double teff_key;
  double logz;
  std::vector<std::string> columns;  // in order
  std::vector<float> wavelength = {1000, 2000, 3000};
  std::vector<std::string> zero_columns = {};
};

void write_fake_ck(const TempDir& root, const FakeCkFile& spec) {
  fs::create_directories(root.path() / spec.dir);
  std::string path = root.file(spec.dir + "/" + spec.dir + "_" + spec.teff_name + ".fits");
  auto f = fits::File::create(path);
  f.write_key("TEFF", spec.teff_key);
  f.write_key("LOG_Z", spec.logz);
  std::vector<fits::ColumnSpec> cols;
  for (const auto& c : spec.columns) cols.push_back({c, "1E", c == "WAVELENGTH" ? "ANGSTROM" : "FLAM"});
  f.create_table("", cols, static_cast<std::int64_t>(spec.wavelength.size()));
  for (std::size_t k = 0; k < spec.columns.size(); ++k) {
    const auto& c = spec.columns[k];
    if (c == "WAVELENGTH") {
      f.write_column(c, spec.wavelength);
      continue;
    }
    bool zero = std::find(spec.zero_columns.begin(), spec.zero_columns.end(), c) != spec.zero_columns.end();
    std::vector<float> v;
    for (std::size_t i = 0; i < spec.wavelength.size(); ++i) {
      v.push_back(zero ? 0.0f : static_cast<float>(spec.teff_key / 1000.0 + spec.logz + double(k) + 0.1 * double(i)));
    }
    f.write_column(c, v);
  }
  f.close();
}

const std::vector<std::string> kCols = {"WAVELENGTH", "g40", "g45", "g50"};

TEST(Ck04ImportTest, SmallCollectionBuildsTheLattice) {
  TempDir root("grid", "ck_small");
  write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, kCols});
  write_fake_ck(root, {"ckp00", "6000", 6000, 0.0, kCols, {1000, 2000, 3000}, {"g40"}});
  write_fake_ck(root, {"ckm10", "5000", 5000, -1.0, kCols});
  write_fake_ck(root, {"ckm10", "6000", 6000, -1.0, kCols});
  {  // files that are not models are ignored
    std::ofstream(root.file("AA_README")) << "readme\n";
    std::ofstream(root.file("ckp00/notes.txt")) << "x\n";
  }
  SpectralGrid g = import_ck04(root.path().string());
  EXPECT_EQ(g.teff, (std::vector<double>{5000, 6000}));
  EXPECT_EQ(g.logg, (std::vector<double>{4.0, 4.5, 5.0}));
  EXPECT_EQ(g.mh, (std::vector<double>{-1.0, 0.0}));
  EXPECT_EQ(g.wavelength, (std::vector<double>{1000, 2000, 3000}));
  EXPECT_EQ(g.n_valid(), 11u);
  EXPECT_FALSE(g.is_valid(1, 1, 0));  // ckp00_6000 g40 is all zero
  // ckm10_6000, column 3 (g45), row 2: 6 − 1 + 2 + 0.2
  EXPECT_FLOAT_EQ(g.spectrum(0, 1, 1)[2], 7.2f);
  EXPECT_EQ(g.source, root.path().string());
}

TEST(Ck04ImportTest, UnexpectedAndMissingColumnsNameFileAndColumn) {
  {
    TempDir root("grid", "ck_unexpected");
    write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, {"WAVELENGTH", "g40", "FLUX"}});
    expect_error<InputError>([&] { import_ck04(root.path().string()); },
                             {"ckp00_5000.fits", "unexpected column 'FLUX'", "g00"});
  }
  {
    TempDir root("grid", "ck_nowave");
    write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, {"g40", "g45"}});
    expect_error<InputError>([&] { import_ck04(root.path().string()); },
                             {"ckp00_5000.fits", "'WAVELENGTH' is missing", "g40, g45"});
  }
  {
    TempDir root("grid", "ck_missing");
    write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, kCols});
    write_fake_ck(root, {"ckp00", "6000", 6000, 0.0, {"WAVELENGTH", "g40", "g50"}});
    expect_error<InputError>([&] { import_ck04(root.path().string()); },
                             {"ckp00_6000.fits", "column 'g45'", "ckp00_5000.fits", "missing"});
  }
  {
    TempDir root("grid", "ck_extra");
    write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, kCols});
    write_fake_ck(root, {"ckp00", "6000", 6000, 0.0, {"WAVELENGTH", "g40", "g45", "g50", "g55"}});
    expect_error<InputError>([&] { import_ck04(root.path().string()); },
                             {"ckp00_6000.fits", "unexpected column 'g55'"});
  }
}

TEST(Ck04ImportTest, InconsistentFilesAreRefused) {
  {
    TempDir root("grid", "ck_wave");
    write_fake_ck(root, {"ckp00", "5000", 5000, 0.0, kCols});
    write_fake_ck(root, {"ckp00", "6000", 6000, 0.0, kCols, {1000, 2000, 3001}});
    expect_error<InputError>([&] { import_ck04(root.path().string()); },
                             {"ckp00_6000.fits", "row 2", "3001", "one wavelength grid"});
  }
  {
    TempDir root("grid", "ck_teff");
    write_fake_ck(root, {"ckp00", "5000", 5250, 0.0, kCols});
    expect_error<InputError>([&] { import_ck04(root.path().string()); }, {"ckp00_5000.fits", "TEFF = 5250"});
  }
  {
    TempDir root("grid", "ck_logz");
    write_fake_ck(root, {"ckm05", "5000", 5000, 0.5, kCols});
    expect_error<InputError>([&] { import_ck04(root.path().string()); }, {"ckm05_5000.fits", "LOG_Z = 0.5", "-0.5"});
  }
  {
    TempDir root("grid", "ck_empty");
    expect_error<InputError>([&] { import_ck04(root.path().string()); }, {"no CK04 model files", "ck_empty"});
    expect_error<InputError>([&] { import_ck04(root.file("absent")); }, {"absent", "does not exist"});
  }
}

}  // namespace
}  // namespace irisml::simulate
