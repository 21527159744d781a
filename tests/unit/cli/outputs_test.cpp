// Issue 26 item 1–2: an output never replaces an input. For every command that writes a
// file, naming an input as the output (directly, through a symlink, through ./.., or as
// the output's .partial) exits 2 naming both options, whatever --overwrite says, and the
// input keeps its bytes. The check comes before anything is loaded, so placeholder files
// stand in for the inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli_support.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(OutputsTest, AnOutputIsNeverAnInput) {
  const std::string dir = scratch_dir("outputs");
  auto make = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  const std::string grid = make("grid.h5", "not really a grid"), cat = make("cat.csv", "Gaia_G,Gaia_G_err\n10,0.01\n");
  const std::string plan = make("plan.tsv", "a.csv\ta.h5\n"), labels = make("labels.csv", "id,teff,logg,mh\n");
  const std::string set = make("set.h5", "not really a set");
  fs::create_directories(dir + "/run");
  const std::string checkpoint = make("run/checkpoint.h5", "not really a checkpoint");
  fs::create_symlink(grid, dir + "/link.h5");
  fs::create_directories(dir + "/sub");
  struct Case {
    std::string args, file, output_option, input_option;
  };
  const std::string q = " --quiet " + data_flags();
  const std::vector<Case> cases = {
      {"fit --catalog " + cat + " --grid " + grid + " --output " + grid + " --overwrite", grid, "--output", "--grid"},
      {"fit --catalog " + cat + " --grid " + dir + "/link.h5 --output " + dir + "/sub/../grid.h5 --overwrite", grid,
       "--output", "--grid"},
      {"fit --catalog " + cat + " --grid " + grid + " --output " + dir + "/grid --overwrite", grid, "--output",
       "--grid"},  // grid.h5 is not grid's partial: a control, refused for another reason (see below)
      {"fit --catalog " + cat + " --output " + cat + " --overwrite", cat, "--output", "--catalog"},
      {"simulate --grid " + grid + " --output " + grid + " --overwrite --stars 10", grid, "--output", "--grid"},
      {"catalog make --from " + set + " --output " + set + " --overwrite", set, "--output", "--from"},
      {"manifest --plan " + plan + " --output " + plan, plan, "--output", "--plan"},
      {"calibrate --catalog " + cat + " --labels " + labels + " --output " + labels + " --overwrite", labels,
       "--output", "--labels"},
      {"train --data " + checkpoint + " --output-dir " + dir + "/run --max-steps 1", checkpoint, "--output-dir",
       "--data"},
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    const std::string before = bytes_of(c.file);
    const auto r = run_irisml(c.args + q);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_EQ(bytes_of(c.file), before) << c.args;
    if (k == 2) continue;  // the control case fails on the placeholder grid, not on the check
    EXPECT_NE(r.output.find(c.output_option), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.input_option), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("write to another path"), std::string::npos) << r.output;
  }
  // an input that is the output's partial file
  const std::string partial = make("out.h5.partial", "someone's input");
  const auto r = run_irisml("fit --catalog " + cat + " --grid " + partial + " --output " + dir + "/out.h5" + q);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("would write '" + partial + "'"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(partial), "someone's input");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace irisml::test
