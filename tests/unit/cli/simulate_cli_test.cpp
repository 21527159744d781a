// Bad input to the simulator-side commands: one clear message naming the value,
// exit code 2, and nothing left on disk (or an existing file untouched).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <vector>

#include "cli_support.hpp"
#include "io/hdf5.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;

void expect_input_error(const RunResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "message lacks '" << needle << "':\n" << r.output;
}

class SimulateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = scratch_dir("simulate");
    grid_ = dir_ + "/ck04.h5";
    auto r = run_irisml("grid import --quiet " + data_flags() + " --output " + grid_);
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string dir_, grid_;
  std::string sim(const std::string& extra) {
    return "simulate --quiet " + data_flags() + " --grid " + grid_ + " " + extra;
  }
};
std::string SimulateCliTest::dir_;
std::string SimulateCliTest::grid_;

TEST_F(SimulateCliTest, SolarModelMatchesPublishedAbsoluteMagnitudes) {
  auto r = run_irisml("photometry " + data_flags() + " --grid " + grid_ +
                      " --teff 5772 --logg 4.44 --mh 0 --filters Gaia_G,Gaia_BP,Gaia_RP,SDSS_g,SDSS_r");
  ASSERT_EQ(r.code, 0) << r.output;
  std::istringstream in(r.output);
  std::map<std::string, double> mag;
  std::string name;
  double value;
  while (in >> name >> value) mag[name] = value;
  EXPECT_NEAR(mag["Gaia_G"], 4.67, 0.05);  // Casagrande & VandenBerg 2018
  EXPECT_NEAR(mag["Gaia_BP"] - mag["Gaia_RP"], 0.82, 0.03);
  EXPECT_NEAR(mag["SDSS_g"], 5.11, 0.05);  // Willmer 2018
  EXPECT_NEAR(mag["SDSS_r"], 4.65, 0.05);
}

TEST_F(SimulateCliTest, DistanceAndExtinctionShiftMagnitudes) {
  auto near =
      run_irisml("photometry " + data_flags() + " --grid " + grid_ + " --teff 6000 --logg 4 --mh 0 --filters PS1_r");
  auto far = run_irisml("photometry " + data_flags() + " --grid " + grid_ +
                        " --teff 6000 --logg 4 --mh 0 --filters PS1_r --distance 100 --av 1");
  ASSERT_EQ(near.code, 0);
  ASSERT_EQ(far.code, 0);
  double m0 = std::stod(near.output.substr(near.output.find(' ') + 1));
  double m1 = std::stod(far.output.substr(far.output.find(' ') + 1));
  // +5 mag for 10x the distance, plus A_r/A_V ~ 0.85 for a Sun-like star (F99, R_V 3.1)
  EXPECT_NEAR(m1 - m0 - 5.0, 0.85, 0.05);
}

TEST_F(SimulateCliTest, RejectsPointsOutsideTheGrid) {
  expect_input_error(run_irisml("photometry " + data_flags() + " --grid " + grid_ + " --teff 30000 --logg 1 --mh 0"),
                     "outside the grid");
}

TEST_F(SimulateCliTest, RejectsBadSettingsWithoutWritingAnything) {
  const std::string out = dir_ + "/bad.h5";
  expect_input_error(run_irisml(sim("--output " + out + " --stars -5")), "--stars = -5");
  expect_input_error(run_irisml(sim("--output " + out + " --prior.logg_min 5 --prior.logg_max 1")),
                     "prior.logg_min = 5");
  expect_input_error(run_irisml(sim("--output " + out + " --prior.rv_min 0")), "prior.rv_min = 0");
  expect_input_error(run_irisml(sim("--output " + out + " --filters PS1_g,PS1_q")), "PS1_q");
  expect_input_error(run_irisml("simulate " + data_flags() + " --output " + out + " --grid /nonexistent/grid.h5"),
                     "/nonexistent/grid.h5");
  expect_input_error(run_irisml(sim("--output /nonexistent/dir/x.h5")), "/nonexistent/dir");
  expect_input_error(run_irisml("simulate --grid " + grid_ + " --output " + out + " --data-dir /nonexistent/data"),
                     "/nonexistent/data");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));
}

TEST_F(SimulateCliTest, TheIsochronePriorIsRecordedAndItsTracksChecked) {
  const std::string out = dir_ + "/iso.h5";
  expect_input_error(run_irisml(sim("--output " + out + " --prior.kind tracks")), "--prior.kind = 'tracks'");
  expect_input_error(run_irisml(sim("--output " + out + " --prior.kind isochrone --isochrones " + dir_ + "/none.csv")),
                     "none.csv");
  expect_input_error(run_irisml(sim("--output " + out + " --prior.kind isochrone --prior.isochrone_flat_fraction 0")),
                     "prior.isochrone_flat_fraction = 0");
  EXPECT_FALSE(fs::exists(out));
  auto r = run_irisml(sim("--output " + out + " --stars 2000 --prior.kind isochrone"));
  ASSERT_EQ(r.code, 0) << r.output;
  {
    auto f = h5::File::open(out);
    EXPECT_EQ(f.attr_double("/", "prior.kind"), 1.0);
    EXPECT_GT(f.attr_double("/", "prior.isochrone_tracks"), 0.0);
    // A population prior: most simulated stars are cool main-sequence dwarfs.
    const auto theta = f.read<double>("/parameters");
    ASSERT_EQ(theta.size(), 2000u * 5);
    int dwarfs = 0;
    for (int i = 0; i < 2000; ++i) dwarfs += theta[static_cast<std::size_t>(i) * 5 + 1] > 4.0;
    EXPECT_GT(dwarfs, 1200);
  }
  // A flat-prior file carries none of the isochrone keys.
  const std::string flat = dir_ + "/flat.h5";
  ASSERT_EQ(run_irisml(sim("--output " + flat + " --stars 100")).code, 0);
  EXPECT_FALSE(h5::File::open(flat).has_attr("/", "prior.kind"));
  // A tracks file of one's own (--isochrones), the kind from a config file.
  const std::string tracks = dir_ + "/tracks.csv";
  std::ofstream(tracks) << "feh,mass_init,log_age,log_teff,log_g,log_r\n0,1,8,3.76,4.5,0\n0,1,10,3.76,4.4,0\n";
  const std::string ini = dir_ + "/iso.ini";
  std::ofstream(ini) << "[prior]\nkind = isochrone\n";
  r = run_irisml(sim("--config " + ini + " --output " + dir_ + "/iso2.h5 --stars 10 --isochrones " + tracks));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(h5::File::open(dir_ + "/iso2.h5").attr_double("/", "prior.isochrone_tracks"),
            h5::File::open(out).attr_double("/", "prior.isochrone_tracks"));
}

TEST_F(SimulateCliTest, ConfigFileErrorsNameTheKeyAndFile) {
  const std::string ini = dir_ + "/bad.ini";
  std::ofstream(ini) << "[simulate]\nstarz = 10\n";
  expect_input_error(run_irisml(sim("--config " + ini + " --output " + dir_ + "/c.h5")), "starz");
  std::ofstream(ini) << "[prior]\nav_scale = -2\n";
  expect_input_error(run_irisml(sim("--config " + ini + " --output " + dir_ + "/c.h5")), "prior.av_scale = -2");
  expect_input_error(run_irisml(sim("--config " + dir_ + "/missing.ini --output " + dir_ + "/c.h5")), "missing.ini");
}

TEST_F(SimulateCliTest, ExistingOutputIsKeptWithoutOverwrite) {
  const std::string out = dir_ + "/keep.h5";
  std::ofstream(out) << "precious";
  expect_input_error(run_irisml(sim("--output " + out + " --stars 10")), "--overwrite");
  std::ifstream in(out);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  auto r = run_irisml(sim("--output " + out + " --stars 10 --overwrite"));
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(SimulateCliTest, AddFiltersRefusesDuplicatesAndForeignGrids) {
  const std::string set = dir_ + "/set.h5";
  ASSERT_EQ(run_irisml(sim("--output " + set + " --stars 50 --filters PS1_g")).code, 0);
  expect_input_error(run_irisml("simulate add-filters --quiet " + data_flags() + " --grid " + grid_ + " --input " +
                                set + " --filters PS1_g"),
                     "already in");
  expect_input_error(
      run_irisml("simulate add-filters --quiet " + data_flags() + " --input " + dir_ + "/none.h5 --filters PS1_r"),
      "none.h5");
  auto ok = run_irisml("simulate add-filters --quiet " + data_flags() + " --grid " + grid_ + " --input " + set +
                       " --filters PS1_r");
  EXPECT_EQ(ok.code, 0) << ok.output;
}

// --blend linear-flux (the pre-issue-10 F_lambda blend, kept for before/after comparisons)
// gives other magnitudes for the same stars, says so in the file, and add-filters (which
// computes with the ln F blend) refuses such a file rather than mixing the two.
TEST_F(SimulateCliTest, LinearFluxBlendIsRecordedAndNotMixed) {
  const std::string log_set = dir_ + "/blend_log.h5", lin_set = dir_ + "/blend_lin.h5";
  ASSERT_EQ(run_irisml(sim("--output " + log_set + " --stars 40 --filters SDSS_u,Gaia_BP")).code, 0);
  ASSERT_EQ(run_irisml(sim("--output " + lin_set + " --stars 40 --filters SDSS_u,Gaia_BP --blend linear-flux")).code,
            0);
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string a = bytes(log_set), b = bytes(lin_set);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find("linear-flux"), std::string::npos);
  EXPECT_NE(b.find("linear-flux"), std::string::npos);
  expect_input_error(run_irisml("simulate add-filters --quiet " + data_flags() + " --grid " + grid_ + " --input " +
                                lin_set + " --filters PS1_r"),
                     "linear-flux");
  expect_input_error(run_irisml(sim("--output " + dir_ + "/blend_bad.h5 --stars 5 --blend cubic")), "cubic");
  EXPECT_FALSE(fs::exists(dir_ + "/blend_bad.h5"));
}

TEST_F(SimulateCliTest, MalformedFilterCurveIsRejected) {
  // A private registry whose one band points at a curve with decreasing wavelengths.
  const std::string data = dir_ + "/data";
  fs::create_directories(data + "/filters");
  std::ofstream(data + "/filters/bad.dat") << "4000 0.1\n5000 0.5\n4500 0.2\n";
  const std::string ini = dir_ + "/filters.ini";
  std::ofstream(ini) << "[sets]\n\n[BAD]\nfile = " << data
                     << "/filters/bad.dat\nsystem = AB\ndetector = photon\ncatalog_offset = 0\n"
                        "vega_magnitude = 0\nsurvey = test\n";
  auto r = run_irisml("photometry --grid " + grid_ + " --data-dir " + std::string(IRISML_TEST_DATA_DIR) +
                      " --filters-config " + ini + " --teff 6000 --logg 4 --mh 0 --filters BAD");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.dat"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace irisml::test
