// Exact resume, signal handling and bad input of the training job (one process,
// MPI_COMM_SELF; the MPI environment comes from train_test.cpp).
#include <gtest/gtest.h>
#include <mpi.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/error.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/trainer.hpp"
#include "train_test_util.hpp"
#include "test_support.hpp"

namespace {

using irisml::Error;
using irisml::InputError;
namespace h5 = irisml::h5;
namespace model = irisml::model;
namespace simulate = irisml::simulate;
using namespace irisml::train;
namespace fs = std::filesystem;

using irisml::test_support::read_bytes;

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

// 704 stars, 10 % held out: 634 training stars = 9 steps of 64 per epoch.
class ResumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test_util::make_temp_dir("resume");
    data_ = dir_ + "/data.h5";
    test_util::write_training_set(data_, 704, 6);
    auto o = options("straight");
    straight_ = new TrainResult(train(o, MPI_COMM_SELF));
  }
  static void TearDownTestSuite() {
    delete straight_;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static TrainOptions options(const std::string& run) {
    auto o = test_util::tiny_options(data_, dir_ + "/" + run);
    o.model.dropout = 0.1;  // the dropout stream must resume too
    o.epochs = 2;
    return o;
  }
  static void expect_same_state(const std::string& run) {
    auto a = model::load_checkpoint(dir_ + "/straight/checkpoint.h5");
    auto b = model::load_checkpoint(dir_ + "/" + run + "/checkpoint.h5");
    EXPECT_EQ(a.step, 18);
    EXPECT_EQ(b.step, 18);
    EXPECT_EQ(b.epoch, 2);
    ASSERT_EQ(a.model_state.size(), b.model_state.size());
    for (std::size_t i = 0; i < a.model_state.size(); ++i) {
      EXPECT_EQ(a.model_state[i].first, b.model_state[i].first);
      EXPECT_TRUE(torch::equal(a.model_state[i].second, b.model_state[i].second)) << a.model_state[i].first;
    }
    ASSERT_EQ(a.optimizer_state.size(), b.optimizer_state.size());
    for (std::size_t i = 0; i < a.optimizer_state.size(); ++i) {
      EXPECT_TRUE(torch::equal(a.optimizer_state[i].second, b.optimizer_state[i].second)) << a.optimizer_state[i].first;
    }
    EXPECT_EQ(a.last_val_loss, b.last_val_loss);
  }
  static std::string dir_, data_;
  static TrainResult* straight_;
};
std::string ResumeTest::dir_, ResumeTest::data_;
TrainResult* ResumeTest::straight_ = nullptr;

TEST_F(ResumeTest, StraightRunTrainsAndLogs) {
  EXPECT_FALSE(straight_->interrupted);
  EXPECT_EQ(straight_->steps_per_epoch, 9);
  EXPECT_EQ(straight_->step, 18);
  EXPECT_EQ(straight_->epoch, 2);
  EXPECT_TRUE(std::isfinite(straight_->val_loss));
  EXPECT_TRUE(fs::exists(dir_ + "/straight/best.h5"));
  auto ckpt = model::load_checkpoint(dir_ + "/straight/checkpoint.h5", /*with_optimizer=*/false);
  EXPECT_EQ(ckpt.noise.size(), 7u);                                                         // with noise.sigma_sys
  EXPECT_EQ(ckpt.noise[0], (std::pair<std::string, std::string>("noise.bands_max", "0")));  // sorted by name
  bool found = false;
  for (const auto& [key, value] : ckpt.noise) found = found || (key == "noise.bands_min" && value == "3");
  EXPECT_TRUE(found);
  EXPECT_NE(ckpt.train_config.find("batch_size=64"), std::string::npos);
  const auto log = read_bytes(dir_ + "/straight/train_log.jsonl");
  EXPECT_EQ(count_of(log, "\"event\":\"start\""), 1);
  EXPECT_EQ(count_of(log, "\"event\":\"epoch\""), 2);
  EXPECT_EQ(count_of(log, "\"event\":\"done\""), 1);
  // the model learnt something: validation loss well below its value for the
  // untrained model is hard to pin down, but it must be finite and the training
  // loss of the second epoch below that of the first
  std::istringstream lines(log);
  std::vector<double> epoch_losses;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"event\":\"epoch\"") == std::string::npos) continue;
    auto pos = line.find("\"train_loss\":") + 13;
    epoch_losses.push_back(std::stod(line.substr(pos)));
  }
  ASSERT_EQ(epoch_losses.size(), 2u);
  EXPECT_LT(epoch_losses[1], epoch_losses[0]);
}

TEST_F(ResumeTest, OneEpochStopResumeOneEpochIsBitwiseIdentical) {
  auto first = options("epochwise");
  first.stop_after_steps = 9;
  auto r1 = train(first, MPI_COMM_SELF);
  EXPECT_TRUE(r1.interrupted);
  EXPECT_EQ(r1.step, 9);
  auto mid = model::load_checkpoint(dir_ + "/epochwise/checkpoint.h5");
  EXPECT_EQ(mid.epoch, 1);
  EXPECT_EQ(mid.step_in_epoch, 0);
  auto second = options("epochwise");
  second.resume = true;
  auto r2 = train(second, MPI_COMM_SELF);
  EXPECT_FALSE(r2.interrupted);
  EXPECT_EQ(r2.step, 18);
  expect_same_state("epochwise");
  EXPECT_EQ(r2.val_loss, straight_->val_loss);
}

TEST_F(ResumeTest, SignalMidEpochCheckpointsAndResumesExactly) {
  for (int signal_number : {SIGUSR1, SIGTERM}) {
    const std::string run = signal_number == SIGUSR1 ? "usr1" : "term";
    auto first = options(run);
    first.checkpoint_every = 4;
    first.on_step = [](std::int64_t step, double) {
      if (step == 4) std::raise(SIGUSR1);
    };
    if (signal_number == SIGTERM) {
      first.on_step = [](std::int64_t step, double) {
        if (step == 13) std::raise(SIGTERM);
      };
    }
    auto r1 = train(first, MPI_COMM_SELF);
    // the flag is folded into the next step's all-reduce: that step finishes, then stop
    const std::int64_t stop = signal_number == SIGUSR1 ? 5 : 14;
    EXPECT_TRUE(r1.interrupted) << run;
    EXPECT_EQ(r1.step, stop) << run;
    auto mid = model::load_checkpoint(dir_ + "/" + run + "/checkpoint.h5");
    EXPECT_EQ(mid.step, stop);
    EXPECT_EQ(mid.epoch, stop / 9);
    EXPECT_EQ(mid.step_in_epoch, stop % 9);
    EXPECT_EQ(count_of(read_bytes(dir_ + "/" + run + "/train_log.jsonl"), "\"event\":\"interrupted\""), 1);
    auto second = options(run);
    second.resume_if_present = true;
    auto r2 = train(second, MPI_COMM_SELF);
    EXPECT_FALSE(r2.interrupted);
    expect_same_state(run);
  }
}

TEST_F(ResumeTest, ExistingCheckpointNeedsResumeOrOverwrite) {
  const std::string ckpt = dir_ + "/straight/checkpoint.h5";
  const auto before = read_bytes(ckpt);
  try {
    train(options("straight"), MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("already holds a checkpoint"), std::string::npos) << m;
    EXPECT_NE(m.find("--resume"), std::string::npos) << m;
    EXPECT_NE(m.find("--overwrite"), std::string::npos) << m;
  }
  auto o = options("nothing_here");
  o.resume = true;
  EXPECT_THROW(train(o, MPI_COMM_SELF), InputError);
  // --overwrite next to --resume-if-present (as a requeued job passes it) is refused,
  // not silently turned into a resume.
  auto both = options("straight");
  both.resume_if_present = true;
  both.overwrite = true;
  try {
    train(both, MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume-if-present and --overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_bytes(ckpt), before);
}

TEST_F(ResumeTest, DataFiltersUnknownToTheRegistryAreBadInput) {
  auto o = options("unknown_filters");
  const auto data_filters = load_training_table(data_, {}, MPI_COMM_SELF, "--data").filters;
  ASSERT_GE(data_filters.size(), 2u);
  o.known_filters = {data_filters.front()};  // every other data filter is unknown
  try {
    train(o, MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(data_filters.back()), std::string::npos) << m;
    EXPECT_NE(m.find("filter registry"), std::string::npos) << m;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/unknown_filters/checkpoint.h5"));
}

TEST_F(ResumeTest, ResumeWithAnotherModelOrFilterListIsRefused) {
  const std::string ckpt = dir_ + "/straight/checkpoint.h5";
  const auto before = read_bytes(ckpt);
  auto o = options("straight");
  o.resume = true;
  o.model.width = 32;
  o.model.layers = 2;
  try {
    train(o, MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("width: 16 (checkpoint) vs 32 (this run)"), std::string::npos) << m;
    EXPECT_NE(m.find("layers: 1 (checkpoint) vs 2 (this run)"), std::string::npos) << m;
  }
  auto f = options("straight");
  f.resume = true;
  f.filters = {"F0", "F1", "F2", "F3"};
  try {
    train(f, MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("n_filters: 6 (checkpoint) vs 4 (this run)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_bytes(ckpt), before);
}

TEST_F(ResumeTest, NonFiniteLossStopsNamingTheStepAndKeepsTheCheckpoint) {
  // Continue the finished run on data whose A_V are all negative (outside the
  // density's support): the loss is infinite at the first new step. (A fresh run
  // would refuse such data when fitting the normaliser.)
  const std::string run = dir_ + "/nonfinite";
  fs::create_directories(run);
  fs::copy_file(dir_ + "/straight/checkpoint.h5", run + "/checkpoint.h5");
  const auto before = read_bytes(run + "/checkpoint.h5");
  const std::string bad = dir_ + "/bad_av.h5";
  {
    test_util::write_training_set(bad, 704, 6);
    auto f = h5::File::open(bad, /*writable=*/true);
    auto p = f.read<double>("/parameters");
    for (std::size_t i = 3; i < p.size(); i += 5) p[i] = -0.5;
    f.write_rows<double>("/parameters", 0, 704, p.data());
  }
  auto o = test_util::tiny_options(bad, run);
  o.model.dropout = 0.1;
  o.epochs = 3;
  o.checkpoint_every = 1;
  o.resume = true;
  try {
    train(o, MPI_COMM_SELF);
    FAIL() << "expected Error";
  } catch (const InputError& e) {
    FAIL() << "a non-finite loss is a runtime error, not bad input: " << e.what();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("not finite at step 19 (epoch 2"), std::string::npos) << m;
  }
  EXPECT_EQ(read_bytes(run + "/checkpoint.h5"), before);
}

TEST_F(ResumeTest, TooFewStarsForOneBatchIsBadInput) {
  auto o = options("too_few");
  o.batch_size = 1024;
  try {
    train(o, MPI_COMM_SELF);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("634 training stars"), std::string::npos) << e.what();
  }
}

}  // namespace
