// `irisml export`, `fit --export` and `irisml report` from the command line: the tables
// and the report are written beside the posterior file, bad requests are refused with exit
// 2 and nothing written, and the tables open in astropy (`Table.read`) with the right
// dtypes, units and values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_support.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;

TEST(ExportCliTest, TablesAndReportOfAFit) {
  const std::string dir = scratch_dir("export");
  const std::string cat = dir + "/stars.csv", post = dir + "/ref.h5";
  write_model_star_catalog(cat,
                           {"--teff 5772 --logg 4.44 --mh 0 --av 0.1 --distance 50",
                            "--teff 4500 --logg 2.5 --mh -0.5 --av 0.5 --distance 800",
                            "--teff 6500 --logg 4.2 --mh -0.2 --av 0.2 --distance 300"},
                           "ra,dec,parallax,parallax_err",
                           {"10.5,-20.25,20,0.05", "11,-21,1.25,0.05", "12,22,3.3,0.1"});
  const std::string fit =
      "fit --quiet " + data_flags() + " --catalog " + cat + " --samples 8 --proposals 1024 --threads 1";
  auto r = run_irisml(fit + " --output " + post + " --export " + dir + "/fit.fits");
  ASSERT_EQ(r.code, 0) << r.output;
  {
    auto f = fits::File::open(dir + "/fit.fits");
    f.move_to_hdu(1);
    EXPECT_EQ(f.num_rows(), 3);
    EXPECT_EQ(f.read_string_column("id")[2], "s2");
    EXPECT_EQ(f.read_double_column("dec")[1], -21.0);
    const auto median = h5::File::open(post).read<float>("median");
    EXPECT_EQ(f.read_float_column("av_median")[1], median[5 + 3]);
    EXPECT_EQ(f.read_float_column("distance_median").size(), 3u);
    EXPECT_NE(f.key_string("COMMAND").find("--export"), std::string::npos);
    EXPECT_EQ(f.key_string("PLXZP"), "0");  // the zero point the parallaxes were read with
  }
  const std::string ex = "export --quiet " + data_flags() + " --posterior " + post;
  for (const char* name : {"/t.ecsv", "/t.csv", "/t.csv.gz"}) {
    auto e = run_irisml(ex + " --catalog " + cat + " --output " + dir + name);
    ASSERT_EQ(e.code, 0) << e.output;
  }
  // refused, exit 2, nothing written: the input as output, an unknown ending, an existing
  // table without --overwrite, a catalogue of other stars, --export over the output
  const auto bytes = fs::file_size(post);
  {
    std::ofstream few(dir + "/few.csv");  // one star: not the catalogue of the posteriors
    few << "id,ra,dec,Gaia_G,Gaia_G_err\ns0,1,2,10.5,0.01\n";
  }
  for (const std::string& bad :
       {ex + " --output " + post, ex + " --output " + dir + "/t.txt", ex + " --output " + dir + "/t.ecsv",
        ex + " --output " + dir + "/u.fits.gz", ex + " --output " + dir + "/u.csv --catalog " + dir + "/few.csv",
        fit + " --output " + dir + "/o.h5 --export " + dir + "/o.h5"}) {
    auto e = run_irisml(bad);
    EXPECT_EQ(e.code, 2) << bad << "\n" << e.output;
    EXPECT_NE(e.output.find("--"), std::string::npos) << e.output;  // names the option
  }
  EXPECT_EQ(fs::file_size(post), bytes);
  EXPECT_FALSE(fs::exists(dir + "/u.csv"));
  EXPECT_FALSE(fs::exists(dir + "/o.h5"));
  // the catalogue report: written, never over an existing one without --overwrite, and
  // --overwrite never replaces a directory that holds anything but a report
  const std::string report = "report --quiet " + data_flags() + " --posterior " + post + " --catalog " + cat;
  auto rep = run_irisml(report + " --output " + dir + "/rep");
  ASSERT_EQ(rep.code, 0) << rep.output;
  EXPECT_TRUE(fs::exists(dir + "/rep/index.html"));
  EXPECT_TRUE(fs::exists(dir + "/rep/summary.json"));
  EXPECT_EQ(run_irisml(report + " --output " + dir + "/rep").code, 2);
  EXPECT_EQ(run_irisml(report + " --output " + dir + "/rep --overwrite").code, 0);
  fs::create_directories(dir + "/other");
  { std::ofstream(dir + "/other/notes.txt") << "mine\n"; }
  EXPECT_EQ(run_irisml(report + " --output " + dir + "/other --overwrite").code, 2);
  EXPECT_TRUE(fs::exists(dir + "/other/notes.txt"));
  EXPECT_EQ(run_irisml(report + " --output " + dir + "/rep2 --variant importance").code, 2);  // a fit file has none
  // astropy reads all three formats alike
  auto probe = run_command("/usr/bin/python3 -c 'import astropy'");
  if (probe.code != 0) GTEST_SKIP() << "python3-astropy is not installed (scripts/install-deps.sh installs it)";
  auto check =
      run_command("/usr/bin/python3 " + std::string(IRISML_SOURCE_DIR) + "/tests/scripts/check_export_astropy.py " +
                  dir + "/fit.fits " + dir + "/t.ecsv " + dir + "/t.csv " + dir + "/t.csv.gz");
  EXPECT_EQ(check.code, 0) << check.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace irisml::test
