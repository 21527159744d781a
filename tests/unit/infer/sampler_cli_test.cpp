// `irisml sample` end to end through the built binary: a run, rank-count
// independence under mpiexec, resume after an interruption, and bad input (exit
// codes, messages, nothing previously written damaged).
#include <gtest/gtest.h>

#include <chrono>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../cli/cli_support.hpp"
#include "core/output_lock.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "sampler_testing.hpp"

namespace irisml::infer {
namespace {

using test::run_command;
using test::RunResult;

RunResult irisml(const std::string& arguments) {
  return run_command(std::string(IRISML_BINARY) + " " + arguments + " --data-dir " + IRISML_TEST_DATA_DIR);
}

class SampleCliTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    if (!dir_.empty() && suite && !suite->Failed()) std::filesystem::remove_all(dir_);  // kept for a look on failure
  }
  static void SetUpTestSuite() {
    // Per process: ctest may run these tests in parallel processes.
    dir_ = (std::filesystem::temp_directory_path() / ("irisml_sample_cli_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    available_ = std::filesystem::exists(IRISML_BINARY) && irisml("sample --help").code == 0;
    if (!available_) return;
    testing::write_checkpoint(dir_ + "/model.h5", testing::tiny_model(), "batch_size=64",
                              {{"noise.bands_min", "3"},
                               {"noise.bands_max", "0"},
                               {"noise.sigma_distribution", "loguniform"},
                               {"noise.sigma_min", "0.005"},
                               {"noise.sigma_max", "0.2"},
                               {"noise.sigma_floor", "0"}});
    testing::write_csv_catalog(dir_ + "/cat.csv", testing::make_catalog(45, 21));
    testing::write_hdf5_catalog(dir_ + "/cat.h5", testing::make_catalog(45, 21));
    testing::write_fits_catalog(dir_ + "/cat.fits", testing::make_catalog(45, 21));
    testing::write_csv_catalog(dir_ + "/cat_w1.csv", testing::make_catalog(10, 22), {"WISE_W1"});
  }
  // Reference outputs shared by the tests, made on first use (ctest runs each test in
  // its own process).
  static const RunResult& csv_run() {
    static const RunResult r = irisml(base("cat.csv", "post.h5"));
    return r;
  }
  static const RunResult& h5_run() {
    static const RunResult r = irisml(base("cat.h5", "post_h5.h5"));
    return r;
  }
  void SetUp() override {
    if (!available_) GTEST_SKIP() << "the irisml binary has no `sample` command registered yet";
  }
  static std::string base(const std::string& catalog, const std::string& output) {
    return "sample --model " + dir_ + "/model.h5 --catalog " + dir_ + "/" + catalog + " --output " + dir_ + "/" +
           output + " --no-ppc --samples 16 --batch 8 --block-rows 10 --threads 1 --quiet";
  }
  static std::string dir_;
  static bool available_;
};
std::string SampleCliTest::dir_;
bool SampleCliTest::available_ = false;

// Equal values, NaN equal to NaN.
bool same_values(const std::vector<float>& a, const std::vector<float>& b, double rel) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) return false;
    } else if (std::abs(a[i] - b[i]) > rel * std::abs(a[i])) {
      return false;
    }
  }
  return true;
}

TEST_F(SampleCliTest, SamplesACatalogueAndWritesTheDocumentedFile) {
  ASSERT_EQ(csv_run().code, 0) << csv_run().output;
  auto f = h5::File::open(dir_ + "/post.h5");
  EXPECT_EQ(f.attr_string("/", "format"), "irisml-posterior");
  EXPECT_EQ(f.attr_int("/", "bands_min"), 3);  // from the checkpoint's noise settings
  EXPECT_DOUBLE_EQ(f.attr_double("/", "sigma_max"), 0.2);
  EXPECT_EQ(f.dims("/median"), (std::vector<std::uint64_t>{45, 5}));
  auto n_bands = f.read<std::int32_t>("/n_bands");
  auto flags = f.read<std::uint32_t>("/flags");
  EXPECT_EQ(n_bands[3], 0);  // make_catalog: row 3 has no band, row 7 two
  EXPECT_EQ(flags[3] & 1u, 1u);
  EXPECT_EQ(n_bands[7], 2);
  EXPECT_EQ(flags[7] & 1u, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/post.h5.progress"));
  // The same catalogue as HDF5 gives the same numbers (up to the CSV's 9 printed digits).
  ASSERT_EQ(h5_run().code, 0) << h5_run().output;
  auto g = h5::File::open(dir_ + "/post_h5.h5");
  EXPECT_TRUE(same_values(f.read<float>("/median"), g.read<float>("/median"), 1e-3));
  EXPECT_EQ(f.read<std::uint32_t>("/flags"), g.read<std::uint32_t>("/flags"));
}

// Issue 11 item 8: a star with an impossible magnitude (1e30) in one band is sampled
// from its other bands: finite summaries and no non-finite flag (bit 4), where the
// band used to reach the network and turn the summaries into NaN under flag 2.
TEST_F(SampleCliTest, AnImpossibleMagnitudeDropsItsBandNotTheStar) {
  ASSERT_EQ(csv_run().code, 0) << csv_run().output;
  std::ifstream in(dir_ + "/cat.csv");
  std::ofstream out(dir_ + "/cat_1e30.csv");
  std::string line;
  std::size_t column = 0;
  for (int l = 0; std::getline(in, line); ++l) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    if (!line.empty() && line.back() == ',') fields.emplace_back();  // (getline drops a trailing empty field)
    if (l == 0) {
      column = static_cast<std::size_t>(std::find(fields.begin(), fields.end(), testing::model_filters().front()) -
                                        fields.begin());
      ASSERT_LT(column, fields.size()) << line;
    } else if (l == 1) {
      fields[column] = "1e30";
    }
    for (std::size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << fields[i];
    out << "\n";
  }
  out.close();
  auto r = irisml(base("cat_1e30.csv", "post_1e30.h5"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto f = h5::File::open(dir_ + "/post_1e30.h5");
  auto g = h5::File::open(dir_ + "/post.h5");
  const auto median = f.read<float>("/median");
  const auto flags = f.read<std::uint32_t>("/flags");
  EXPECT_EQ(f.read<std::int32_t>("/n_bands")[0], g.read<std::int32_t>("/n_bands")[0] - 1);
  if ((flags[0] & 1u) == 0) {
    for (int p = 0; p < 5; ++p) EXPECT_TRUE(std::isfinite(median[static_cast<std::size_t>(p)])) << p;
  }
  for (std::size_t i = 0; i < flags.size(); ++i) EXPECT_EQ(flags[i] & 16u, 0u) << "row " << i;
}

TEST_F(SampleCliTest, FitsCatalogueGivesTheSameBytesAsHdf5) {
  ASSERT_EQ(h5_run().code, 0) << h5_run().output;
  auto r = irisml(base("cat.fits", "post_fits.h5"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto g = h5::File::open(dir_ + "/post_h5.h5");
  auto f = h5::File::open(dir_ + "/post_fits.h5");
  // Both hold the same float64 values: identical posteriors (NaN rows included), ids too.
  EXPECT_TRUE(same_values(f.read<float>("/median"), g.read<float>("/median"), 0.0));
  EXPECT_TRUE(same_values(f.read<float>("/std"), g.read<float>("/std"), 0.0));
  EXPECT_EQ(f.read<std::uint32_t>("/flags"), g.read<std::uint32_t>("/flags"));
  EXPECT_EQ(f.read_strings("/id"), g.read_strings("/id"));
}

TEST_F(SampleCliTest, FitsWithoutAnErrorColumnIsAClearError) {
  const std::string path = dir_ + "/no_err.fits";
  {
    auto f = fits::File::create(path);
    f.create_table("CATALOG", {{"PS1_G", "1D", "mag"}, {"PS1_R", "1D", "mag"}, {"PS1_R_ERR", "1D", "mag"}}, 2);
    f.write_column("PS1_G", std::vector<double>{15.0, 16.0});
    f.write_column("PS1_R", std::vector<double>{14.5, 15.5});
    f.write_column("PS1_R_ERR", std::vector<double>{0.02, 0.03});
    f.close();
  }
  auto r = irisml(base("no_err.fits", "post_no_err.h5"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("PS1_G"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("_err"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/post_no_err.h5"));
}

TEST_F(SampleCliTest, TwoRanksWriteTheSameBytesAsOne) {
  ASSERT_EQ(h5_run().code, 0) << h5_run().output;
  auto r = run_command(std::string("mpiexec -n 2 --oversubscribe --allow-run-as-root ") + IRISML_BINARY + " " +
                       base("cat.h5", "two.h5") + " --data-dir " + IRISML_TEST_DATA_DIR);
  if (r.code != 0 && r.output.find("mpiexec") != std::string::npos && r.output.find("irisml") == std::string::npos) {
    GTEST_SKIP() << "mpiexec unavailable: " << r.output;
  }
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/post_h5.h5") == testing::read_bytes(dir_ + "/two.h5"));
}

// Issue 11 item 2: with one batch per block (fewer batches than threads) the sampler
// used to switch to LibTorch's intra-op threads, whose round-off depends on the thread
// count: --threads 1 and 2 (and so -np 1 and -np 2) differed. Now the default mode
// gives the same bytes for any --threads and rank count; --parallel intra-op with more
// than one thread says so in the output's 'parallel' attribute.
TEST_F(SampleCliTest, ThreadsAndRanksGiveTheSameBytesOnASmallCatalogue) {
  auto args = [&](const std::string& output, const std::string& extra) {
    return "sample --model " + dir_ + "/model.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ + "/" + output +
           " --no-ppc --samples 512 --batch 64 --block-rows 64 --quiet " + extra;
  };
  auto r = irisml(args("small_t1.h5", "--threads 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = irisml(args("small_t2.h5", "--threads 2"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/small_t1.h5") == testing::read_bytes(dir_ + "/small_t2.h5"));
  r = run_command("mpiexec -n 2 --oversubscribe --allow-run-as-root " + std::string(IRISML_BINARY) + " " +
                  args("small_np2.h5", "--threads 1") + " --data-dir " + IRISML_TEST_DATA_DIR);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/small_t1.h5") == testing::read_bytes(dir_ + "/small_np2.h5"));
  EXPECT_FALSE(h5::File::open(dir_ + "/small_t2.h5").has_attr("/", "parallel"));
  r = irisml(args("small_intra.h5", "--threads 2 --parallel intra-op"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto f = h5::File::open(dir_ + "/small_intra.h5");
  ASSERT_TRUE(f.has_attr("/", "parallel"));
  EXPECT_NE(f.attr_string("/", "parallel").find("2 threads"), std::string::npos);
}

TEST_F(SampleCliTest, InterruptedRunExitsThreeAndResumesToTheSameBytes) {
  ASSERT_EQ(csv_run().code, 0) << csv_run().output;
  auto first = irisml(base("cat.csv", "part.h5") + " --max-blocks 2");
  EXPECT_EQ(first.code, 3) << first.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/part.h5"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/part.h5.partial"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/part.h5.progress"));
  auto second = irisml(base("cat.csv", "part.h5"));
  EXPECT_EQ(second.code, 0) << second.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/post.h5") == testing::read_bytes(dir_ + "/part.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/part.h5.progress"));
}

TEST_F(SampleCliTest, UnfinishedRunWithOtherSettingsIsKeptUnlessOverwrite) {
  auto first = irisml(base("cat.csv", "other.h5") + " --max-blocks 2");
  ASSERT_EQ(first.code, 3) << first.output;
  const auto partial_before = testing::read_bytes(dir_ + "/other.h5.partial");
  // Another seed is another run: refused, the finished blocks untouched.
  auto changed = irisml(base("cat.csv", "other.h5") + " --seed 9");
  EXPECT_EQ(changed.code, 2) << changed.output;
  EXPECT_NE(changed.output.find("unfinished run"), std::string::npos) << changed.output;
  EXPECT_NE(changed.output.find("--overwrite"), std::string::npos) << changed.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/other.h5.partial") == partial_before);
  // --overwrite discards it and runs to the end.
  auto fresh = irisml(base("cat.csv", "other.h5") + " --seed 9 --overwrite");
  EXPECT_EQ(fresh.code, 0) << fresh.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/other.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/other.h5.progress"));
}

// Issue 26 item 3: resume goes by content, not names or times. A touched catalogue, the same
// files named by absolute paths through ./.., and an output path holding a newline all
// resume; a changed setting is refused naming what changed.
TEST_F(SampleCliTest, ResumeIsByContentAndARefusalNamesWhatChanged) {
  ASSERT_EQ(csv_run().code, 0) << csv_run().output;
  // the posteriors (the files' attributes record the paths as given, so not their bytes)
  auto same_data = [&](const std::string& path) {
    auto a = h5::File::open(dir_ + "/post.h5"), b = h5::File::open(path);
    return same_values(a.read<float>("/median"), b.read<float>("/median"), 0.0) &&
           a.read<std::uint32_t>("/flags") == b.read<std::uint32_t>("/flags");
  };
  std::filesystem::copy_file(dir_ + "/cat.csv", dir_ + "/touched.csv",
                             std::filesystem::copy_options::overwrite_existing);
  auto first = irisml(base("touched.csv", "touched.h5") + " --max-blocks 1");
  ASSERT_EQ(first.code, 3) << first.output;
  // a bare touch, and the same files named differently (./sub/.. and the absolute path)
  std::filesystem::last_write_time(dir_ + "/touched.csv",
                                   std::filesystem::last_write_time(dir_ + "/touched.csv") + std::chrono::hours(1));
  std::filesystem::create_directories(dir_ + "/sub");
  const std::string renamed = "sample --model " + dir_ + "/sub/../model.h5 --catalog " + dir_ +
                              "/sub/../touched.csv --output " + dir_ + "/sub/../touched.h5" +
                              " --no-ppc --samples 16 --batch 8 --block-rows 10 --threads 1 --quiet";
  auto second = irisml(renamed);
  EXPECT_EQ(second.code, 0) << second.output;
  EXPECT_TRUE(same_data(dir_ + "/touched.h5")) << "resumed output differs";
  // a newline in the output path (quoted for the shell): the sidecar's key stays one
  // line, so the run resumes
  const std::string quoted = "'odd\nname.h5'";
  auto third = run_command(std::string(IRISML_BINARY) + " " + base("cat.csv", quoted) + " --max-blocks 1 --data-dir " +
                           IRISML_TEST_DATA_DIR);
  EXPECT_EQ(third.code, 3) << third.output;
  std::string loud = base("cat.csv", quoted);
  loud.erase(loud.find(" --quiet"), 8);  // its resume message, not a silent start over
  auto fourth = run_command(std::string(IRISML_BINARY) + " " + loud + " --data-dir " + IRISML_TEST_DATA_DIR);
  EXPECT_EQ(fourth.code, 0) << fourth.output;
  EXPECT_NE(fourth.output.find("already done"), std::string::npos) << fourth.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/odd\nname.h5").size() > 0);
  EXPECT_TRUE(same_data(dir_ + "/odd\nname.h5")) << "resumed output differs";
  // a changed setting is refused, naming it
  auto fifth = irisml(base("cat.csv", "named.h5") + " --max-blocks 1");
  ASSERT_EQ(fifth.code, 3) << fifth.output;
  auto changed = irisml(base("cat.csv", "named.h5") + " --seed 9");
  EXPECT_EQ(changed.code, 2) << changed.output;
  EXPECT_NE(changed.output.find("seed: was '1', now '9'"), std::string::npos) << changed.output;
}

// Issue 11 item 1: a second run on an output another run is writing fails at once
// (exit 2, naming the holder) and leaves nothing behind; also under mpiexec.
TEST_F(SampleCliTest, SecondRunOnTheSameOutputFailsAtOnceAndLeavesNothing) {
  const std::string out = dir_ + "/locked.h5";
  {
    OutputLock held(out);  // this test process plays the first run
    ASSERT_TRUE(held.held());
    for (const std::string& launcher :
         {std::string(), std::string("mpiexec -n 2 --oversubscribe --allow-run-as-root ")}) {
      auto r = run_command(launcher + IRISML_BINARY + " " + base("cat.csv", "locked.h5") + " --data-dir " +
                           IRISML_TEST_DATA_DIR);
      EXPECT_EQ(r.code, 2) << launcher << r.output;
      EXPECT_NE(r.output.find("is being written by another run"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("pid " + std::to_string(::getpid())), std::string::npos) << r.output;
      EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
      EXPECT_FALSE(std::filesystem::exists(out + ".progress"));
      EXPECT_FALSE(std::filesystem::exists(out));
      EXPECT_TRUE(std::filesystem::exists(out + ".lock"));  // still ours
    }
  }
  EXPECT_FALSE(std::filesystem::exists(out + ".lock"));
  auto r = irisml(base("cat.csv", "locked.h5"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out + ".lock"));  // released at the end
}

// Issue 11 item 7: a progress file whose partial output is gone is explained, and
// the run starts over (there is nothing to protect) instead of being refused.
TEST_F(SampleCliTest, ProgressWithoutItsPartialIsExplainedAndStartsOver) {
  ASSERT_EQ(csv_run().code, 0) << csv_run().output;
  auto first = irisml(base("cat.csv", "orphan.h5") + " --max-blocks 1");
  ASSERT_EQ(first.code, 3) << first.output;
  std::filesystem::remove(dir_ + "/orphan.h5.partial");
  auto second = irisml(base("cat.csv", "orphan.h5"));
  EXPECT_EQ(second.code, 0) << second.output;
  EXPECT_NE(second.output.find("partial output"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("is missing"), std::string::npos) << second.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/post.h5") == testing::read_bytes(dir_ + "/orphan.h5"));
}

// Issue 11 items 4, 7 and 9: inputs that used to fail late, with a misleading message
// or with exit 1 are refused up front with exit 2, a message naming what is wrong,
// and no file left behind.
TEST_F(SampleCliTest, MalformedInputsAreNamedAndRefusedBeforeWriting) {
  auto expect_refused = [&](const std::string& arguments, const std::string& output, const std::string& words) {
    auto r = irisml(arguments);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find(words), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("frame #"), std::string::npos) << r.output;  // no LibTorch backtrace
    for (const char* suffix : {"", ".partial", ".progress", ".lock"}) {
      EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + output + suffix)) << output + suffix;
    }
  };
  // A copy of cat.h5 whose dataset `name` is replaced by one of `type` and `dims`
  // holding `data`.
  auto with_dataset = [&](const std::string& file, const std::string& name, hid_t type,
                          const std::vector<hsize_t>& dims, const void* data) {
    const std::string path = dir_ + "/" + file;
    std::filesystem::copy_file(dir_ + "/cat.h5", path, std::filesystem::copy_options::overwrite_existing);
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, name.c_str(), H5P_DEFAULT);
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
  };
  const std::string band = testing::model_filters().front();
  // A 2-D magnitude dataset: its shape is what is wrong, not its name.
  const std::vector<float> values(90, 15.0f);
  with_dataset("twod.h5", band, H5T_NATIVE_FLOAT, {45, 2}, values.data());
  expect_refused(base("twod.h5", "o1.h5"), "o1.h5", "has shape [45,2]; a column must be 1-D");
  // Variable-length string ids.
  hid_t vlen_type = H5Tcopy(H5T_C_S1);
  H5Tset_size(vlen_type, H5T_VARIABLE);
  std::vector<std::string> ids(45);
  std::vector<const char*> pointers;
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = "star" + std::to_string(i);
  for (const auto& id : ids) pointers.push_back(id.c_str());
  with_dataset("vlen.h5", "id", vlen_type, {45}, pointers.data());
  H5Tclose(vlen_type);
  expect_refused(base("vlen.h5", "o2.h5"), "o2.h5", "variable-length strings");
  // A magnitude column stored as text.
  hid_t text_type = H5Tcopy(H5T_C_S1);
  H5Tset_size(text_type, 8);
  std::string text(45 * 8, '\0');
  for (std::size_t i = 0; i < 45; ++i) text.replace(i * 8, 5, "17.25");
  with_dataset("text_mag.h5", band, text_type, {45}, text.data());
  H5Tclose(text_type);
  expect_refused(base("text_mag.h5", "o6.h5"), "o6.h5", "holds text, but a number is needed");
  // CSV text under an .h5 name; a directory as the catalogue.
  std::filesystem::copy_file(dir_ + "/cat.csv", dir_ + "/text.h5", std::filesystem::copy_options::overwrite_existing);
  expect_refused(base("text.h5", "o3.h5"), "o3.h5", "a CSV catalogue must be named .csv");
  std::filesystem::create_directories(dir_ + "/folder.csv");
  expect_refused(base("folder.csv", "o4.h5"), "o4.h5", "is a directory");
  // Samples x batch far beyond the memory: refused with the figures, not LibTorch's allocator error.
  expect_refused("sample --model " + dir_ + "/model.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ +
                     "/o5.h5 --no-ppc --samples 2000000000 --quiet",
                 "o5.h5", "GiB of memory per rank");
}

TEST_F(SampleCliTest, OutputThatIsAnInputIsRefusedEvenWithOverwrite) {
  const auto before = testing::read_bytes(dir_ + "/cat.csv");
  auto r = irisml("sample --model " + dir_ + "/model.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ +
                  "/cat.csv --overwrite --no-ppc --quiet");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("is the --catalog file"), std::string::npos) << r.output;
  EXPECT_TRUE(testing::read_bytes(dir_ + "/cat.csv") == before);
}

TEST_F(SampleCliTest, ExistingOutputIsNotReplacedWithoutOverwrite) {
  const std::string out = dir_ + "/keep.h5";
  { std::ofstream(out) << "precious"; }
  auto r = irisml(base("cat.csv", "keep.h5"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(testing::read_bytes(out), "precious");
}

TEST_F(SampleCliTest, BadModelFilesAreClearErrors) {
  { std::ofstream(dir_ + "/not_a_model.h5") << "this is not HDF5\n"; }
  auto r = irisml("sample --model " + dir_ + "/not_a_model.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ +
                  "/x.h5 --no-ppc");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("not_a_model.h5"), std::string::npos) << r.output;
  // A truncated checkpoint (the first 3 kB of a good one).
  {
    const auto bytes = testing::read_bytes(dir_ + "/model.h5");
    std::ofstream(dir_ + "/truncated.h5", std::ios::binary) << bytes.substr(0, 3000);
  }
  r = irisml("sample --model " + dir_ + "/truncated.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ +
             "/x.h5 --no-ppc");
  EXPECT_TRUE(r.code == 1 || r.code == 2) << r.output;
  EXPECT_NE(r.output.find("truncated.h5"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.h5.partial"));
  // A checkpoint without one of its attributes is bad input (exit 2, issue 11 item 9), named.
  std::filesystem::copy_file(dir_ + "/model.h5", dir_ + "/no_step.h5",
                             std::filesystem::copy_options::overwrite_existing);
  {
    hid_t f = H5Fopen((dir_ + "/no_step.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "step");
    H5Fclose(f);
  }
  r = irisml("sample --model " + dir_ + "/no_step.h5 --catalog " + dir_ + "/cat.csv --output " + dir_ +
             "/x.h5 --no-ppc");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("attribute 'step' is missing"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("no_step.h5"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.h5.partial"));
}

TEST_F(SampleCliTest, BadCataloguesAreClearErrors) {
  { std::ofstream(dir_ + "/garbage.h5") << "no catalogue here\n"; }
  auto r = irisml(base("garbage.h5", "y.h5"));
  EXPECT_TRUE(r.code == 1 || r.code == 2) << r.output;
  EXPECT_NE(r.output.find("garbage.h5"), std::string::npos) << r.output;
  {
    const auto bytes = testing::read_bytes(dir_ + "/cat.h5");
    std::ofstream(dir_ + "/cat_truncated.h5", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  r = irisml(base("cat_truncated.h5", "y.h5"));
  EXPECT_TRUE(r.code == 1 || r.code == 2) << r.output;
  EXPECT_NE(r.output.find("cat_truncated.h5"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/y.h5"));
}

TEST_F(SampleCliTest, CatalogueFilterUnknownToTheModel) {
  auto r = irisml(base("cat_w1.csv", "z.h5"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("WISE_W1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("SDSS_g, SDSS_r, SDSS_i, SDSS_z, 2MASS_J, 2MASS_H"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/z.h5.partial"));
  auto ok = irisml(base("cat_w1.csv", "z.h5") + " --ignore-unknown-columns");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("WISE_W1"), std::string::npos) << ok.output;  // the warning names it
}

}  // namespace
}  // namespace irisml::infer
