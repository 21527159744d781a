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

const char* kBands = "Gaia_G,Gaia_BP,Gaia_RP,2MASS_J,2MASS_H,2MASS_Ks";

std::map<std::string, double> photometry(const std::string& args) {
  auto r = run_irisml("photometry --quiet " + data_flags() + " --filters " + kBands + " " + args);
  EXPECT_EQ(r.code, 0) << r.output;
  std::map<std::string, double> mag;
  std::istringstream in(r.output);
  std::string name;
  double value;
  while (in >> name >> value) mag[name] = value;
  return mag;
}

TEST(FitCliTest, FitsModelStarsAndRefusesBadInput) {
  const std::string dir = scratch_dir("fit");
  const std::string cat = dir + "/stars.csv", out = dir + "/ref.h5";
  {
    std::ofstream csv(cat);
    csv << "id";
    std::istringstream names(kBands);
    std::string b;
    std::vector<std::string> bands;
    while (std::getline(names, b, ',')) bands.push_back(b);
    for (const auto& band : bands) csv << "," << band << "," << band << "_err";
    csv << "\n";
    int i = 0;
    for (const char* star : {"--teff 5772 --logg 4.44 --mh 0 --av 0.1 --distance 50",
                             "--teff 4500 --logg 2.5 --mh -0.5 --av 0.5 --distance 800"}) {
      auto mag = photometry(star);
      csv << "s" << i++;
      for (const auto& band : bands) csv << "," << mag[band] << ",0.01";
      csv << "\n";
    }
  }
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
  for (const auto& [args, needle] :
       std::vector<std::pair<std::string, std::string>>{{" --bands-min 1", "--bands-min = 1"},
                                                        {" --proposals 10", "--proposals = 10"},
                                                        {" --coarse-sigma -1", "--coarse-sigma = -1"}}) {
    auto bad =
        run_irisml("fit --quiet " + data_flags() + " --catalog " + cat + " --output " + out + " --overwrite" + args);
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find(needle), std::string::npos) << bad.output;
    EXPECT_EQ(fs::file_size(out), bytes);  // the existing output is untouched
  }
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
