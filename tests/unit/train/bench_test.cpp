// `bench train`: synthetic steps and the real job (`--data`) report sane figures, and
// the job leaves nothing behind. One process (MPI_COMM_SELF); the MPI environment
// comes from train_test.cpp.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "train/bench.hpp"
#include "train_test_util.hpp"

namespace {

using namespace irisml::train;
namespace fs = std::filesystem;

TEST(BenchTrainTest, TheRealJobAndSyntheticStepsGivePositiveRates) {
  const std::string dir = test_util::make_temp_dir("bench");
  ASSERT_FALSE(dir.empty());
  const std::string tmp = dir + "/tmp";
  fs::create_directories(tmp);
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", tmp.c_str(), 1);
  test_util::write_training_set(dir + "/data.h5", 400, 6);
  auto o = test_util::tiny_options(dir + "/data.h5", "ignored");
  o.filters = {"F0", "F2", "F4", "F5"};
  auto job = bench_train_job(o, 1, 4, MPI_COMM_SELF);
  EXPECT_GT(job.stars_per_second, 0.0);
  EXPECT_GE(job.median_seconds, job.best_seconds);
  EXPECT_EQ(job.global_batch, 64);
  EXPECT_EQ(job.filters, 4);
  EXPECT_TRUE(fs::is_empty(tmp)) << "the job's temporary run directory was not removed";
  EXPECT_FALSE(fs::exists("ignored"));
  EXPECT_THROW(bench_train_job(o, 0, 4, MPI_COMM_SELF), irisml::InputError);

  auto config = o.model;
  config.n_filters = 4;
  BenchTrainOptions s;
  s.batch = 32;
  s.steps = 3;
  s.warmup = 1;
  s.min_bands = 3;
  s.max_bands = 4;
  auto synthetic = bench_train(config, s);
  EXPECT_GT(synthetic.stars_per_second, 0.0);
  EXPECT_GT(synthetic.parameters, 0);
  if (old) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
