// `irisml fit` from the command line: a small catalogue of model stars fitted end to end
// (the reference posterior finds the star it was made from), and bad input refused with
// exit code 2 and nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli_support.hpp"
#include "io/hdf5.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;

TEST(FitCliTest, FitsModelStarsAndRefusesBadInput) {
  const std::string dir = scratch_dir("fit");
  const std::string cat = dir + "/stars.csv", out = dir + "/ref.h5";
  write_model_star_catalog(cat, {"--teff 5772 --logg 4.44 --mh 0 --av 0.1 --distance 50",
                                 "--teff 4500 --logg 2.5 --mh -0.5 --av 0.5 --distance 800"});
  auto r = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out +
                      " --samples 8 --proposals 1024 --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  auto f = h5::File::open(out);
  const auto median = f.read<float>("/median");
  const auto ess = f.read<float>("/reference/ess");
  ASSERT_EQ(median.size(), 10u);
  EXPECT_GT(ess[0], 50.0f);
  // six optical/IR bands leave Teff and A_V partly degenerate: a loose check
  EXPECT_NEAR(median[0], 5772.0, 500.0);
  EXPECT_NEAR(median[5], 4500.0, 500.0);
  EXPECT_EQ(f.dims("/samples"), (std::vector<std::uint64_t>{2, 8, 5}));
  f.close();

  const auto bytes = fs::file_size(out);
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {" --bands-min 1", "--bands-min = 1"},
           {" --proposals 10", "--proposals = 10"},
           {" --coarse-sigma -1", "--coarse-sigma = -1"},
           {" --mass-min 5", "--mass-min = 5 and --mass-max = 3"},
           {" --distance-length-scale 0", "--distance-length-scale = 0"},
           {" --parallax-zero-point nan", "--parallax-zero-point = nan"},
           {" --parallax-zero-point -0.01x",
            "--parallax-zero-point = '-0.01x' is neither a number (mas) nor "
            "lindegren2021"},
           {" --parallax-zero-point lindegren2021", "lindegren2021 needs the columns"}}) {
    auto bad =
        run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out + " --overwrite" + args);
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find(needle), std::string::npos) << bad.output;
    EXPECT_EQ(fs::file_size(out), bytes);  // the existing output is untouched
  }
  // a calibration file must cover every band the catalogue gives: missing ones are named
  {
    std::ofstream partial(dir + "/partial.ini");
    partial << "[Gaia_G]\noffset = 0.01\nsigma_sys = 0.02\n";
  }
  auto uncovered = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out +
                              " --overwrite --calibration " + dir + "/partial.ini");
  EXPECT_EQ(uncovered.code, 2) << uncovered.output;
  EXPECT_NE(uncovered.output.find("Gaia_BP, Gaia_RP, 2MASS_J, 2MASS_H, 2MASS_Ks"), std::string::npos)
      << uncovered.output;
  EXPECT_EQ(fs::file_size(out), bytes);
  {
    std::ofstream full(dir + "/full.ini");
    std::istringstream names(kModelStarBands);
    std::string b;
    while (std::getline(names, b, ',')) full << "[" << b << "]\noffset = 0\nsigma_sys = 0.02\n";
  }
  const std::string calibrated = dir + "/calibrated.h5";
  auto with = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + calibrated +
                         " --samples 8 --proposals 1024 --threads 1 --calibration " + dir + "/full.ini");
  ASSERT_EQ(with.code, 0) << with.output;
  EXPECT_NE(h5::File::open(calibrated).attr_string("/", "calibration").find("Gaia_G:0:0.02"), std::string::npos);
  // an existing output is never replaced without --overwrite
  auto again = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out);
  EXPECT_EQ(again.code, 2) << again.output;
  // options that need --importance
  auto sir =
      run_irisml("sample --quiet --model " + dir + "/none.h5 --catalog " + cat + " --output " + dir + "/post.h5 --sir");
  EXPECT_EQ(sir.code, 2) << sir.output;
  EXPECT_NE(sir.output.find("need --importance"), std::string::npos) << sir.output;
  fs::remove_all(dir);
}

// --columns-preset reads an archive cross-match by its own column names (ids from the
// first preset); the presets come from the command line or the [fit] section of --config,
// and bad names or files are refused (exit 2) before anything is loaded.
TEST(FitCliTest, ColumnPresetsReadAnArchiveCrossMatch) {
  const std::string dir = scratch_dir("fit_presets");
  const std::string cat = std::string(IRISML_SOURCE_DIR) + "/tests/data/surveys/gaia_2mass_allwise.csv";
  const std::string out = dir + "/ref.h5";
  auto r = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out +
                      " --columns-preset gaia_dr3,2mass_psc,allwise --samples 4 --proposals 256 --max-rounds 1 "
                      "--threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  {
    auto f = h5::File::open(out);
    EXPECT_EQ(f.read_strings("/id"),
              (std::vector<std::string>{"4685014217386329216", "4685014217386329344", "4685014217386329472"}));
  }
  auto unknown = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + dir +
                            "/x.h5 --columns-preset gaia_dr3,gaia_dr4");
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown preset 'gaia_dr4'"), std::string::npos) << unknown.output;
  EXPECT_NE(unknown.output.find("gaia_dr3, 2mass_psc, allwise, ps1_dr2"), std::string::npos) << unknown.output;
  {
    std::ofstream ini(dir + "/fit.ini");
    ini << "[fit]\ncolumns-preset = gaia_dr3,2mass_psc\n";
  }
  auto from_config = run_irisml("fit --quiet " + data_flags() + " --config " + dir + "/fit.ini --catalog " + cat +
                                " --output " + dir + "/x.h5");
  EXPECT_EQ(from_config.code, 2) << from_config.output;  // the AllWISE columns are unknown without allwise
  EXPECT_NE(from_config.output.find("w1mpro"), std::string::npos) << from_config.output;
  EXPECT_NE(from_config.output.find("column preset(s) gaia_dr3, 2mass_psc"), std::string::npos) << from_config.output;
  auto no_file = run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + dir +
                            "/x.h5 --columns-preset gaia_dr3 --column-presets-config " + dir + "/none.ini");
  EXPECT_EQ(no_file.code, 2) << no_file.output;
  EXPECT_NE(no_file.output.find("from --column-presets-config"), std::string::npos) << no_file.output;
  EXPECT_FALSE(fs::exists(dir + "/x.h5"));
  fs::remove_all(dir);
}

TEST(FitCliTest, ThreadsAboveTheCoresAreCappedWithAWarning) {
  auto r = run_irisml(
      "bench sample --model.width 16 --model.layers 1 --model.ffn 32 --model.heads 2 "
      "--model.flow_blocks 1 --model.made_hidden 16 --n-filters 6 --bands 4 --stars 8 --batch 8 "
      "--repeat 1 --parallel intra-op --threads 1000");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--threads = 1000 is more than the"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("threads=1000"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace irisml::test
