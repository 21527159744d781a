// Optimiser, schedule, clipping, checkpoint format and data pipeline of the training job.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "core/error.hpp"
#include "core/log.hpp"
#include "io/hdf5.hpp"
#include "model/posterior.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/evaluate.hpp"
#include "train/trainer.hpp"
#include "train/optimizer.hpp"
#include "test_support.hpp"
#include "train_test_util.hpp"

namespace {

using irisml::Error;
using irisml::InputError;
namespace h5 = irisml::h5;
namespace model = irisml::model;
namespace simulate = irisml::simulate;
using namespace irisml::train;
namespace fs = std::filesystem;

// The training code makes MPI calls (on MPI_COMM_SELF here).
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_ = true;
    }
    torch::set_num_threads(1);
    irisml::log::set_quiet(true);
  }
  void TearDown() override {
    if (owns_) MPI_Finalize();
  }

 private:
  bool owns_ = false;
};
const auto* const kMpiEnvironment = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

TEST(AdamTest, MatchesLibTorchAdam) {
  torch::manual_seed(3);
  auto w_ref = torch::randn({4, 3}, torch::requires_grad());
  auto w = w_ref.detach().clone().requires_grad_(true);
  const auto w0 = w_ref.detach().clone();
  auto target = torch::randn({4, 3});
  torch::optim::Adam reference({w_ref}, torch::optim::AdamOptions(0.01).betas({0.9, 0.999}).eps(1e-8));
  Adam adam({{"w", w}});
  for (int step = 0; step < 6; ++step) {
    reference.zero_grad();
    (w_ref - target).pow(3).abs().sum().backward();
    reference.step();
    adam.zero_grad();
    (w - target).pow(3).abs().sum().backward();
    adam.step(0.01);
  }
  EXPECT_EQ(adam.steps(), 6);
  const double diff = (w - w_ref).abs().max().item<double>();
  EXPECT_LT(diff, 1e-6);
  // and the parameters did move: Adam's first steps are ~lr each
  EXPECT_GT((w.detach() - w0).abs().min().item<double>(), 0.03);
}

TEST(AdamTest, DecoupledWeightDecayShrinksAZeroGradientParameter) {
  auto w = torch::full({2}, 2.0, torch::requires_grad());
  Adam adam({{"w", w}}, AdamOptions{0.9, 0.999, 1e-8, 0.1});
  (w * 0).sum().backward();
  adam.step(0.5);
  // p ← p(1 − lr·wd) = 2 · 0.95; the Adam update of a zero gradient is 0.
  EXPECT_NEAR(w[0].item<double>(), 1.9, 1e-6);  // float32
}

TEST(AdamTest, StateRoundTripsAndContinuesIdentically) {
  torch::manual_seed(5);
  auto a = torch::randn({5}, torch::requires_grad());
  auto b = a.detach().clone().requires_grad_(true);
  Adam first({{"p", a}});
  for (int i = 0; i < 3; ++i) {
    first.zero_grad();
    (a * a * a).sum().backward();
    first.step(0.1);
  }
  {
    torch::NoGradGuard g;
    b.copy_(a);
  }
  Adam second({{"p", b}});
  second.load_state(first.state());
  EXPECT_EQ(second.steps(), 3);
  for (auto* opt : {&first, &second}) {
    auto& p = opt == &first ? a : b;
    opt->zero_grad();
    (p * p * p).sum().backward();
    opt->step(0.1);
  }
  EXPECT_TRUE(torch::equal(a, b));
  // a state with a missing entry is refused with its name
  auto state = first.state();
  state.erase(state.begin());
  try {
    second.load_state(state);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("exp_avg/p"), std::string::npos) << e.what();
  }
}

TEST(LrScheduleTest, WarmupThenCosineToMinimum) {
  LrSchedule s{1e-3, 1e-5, 10, 110};
  EXPECT_NEAR(s.at(0), 1e-4, 1e-15);  // first warm-up step: lr/warmup
  EXPECT_NEAR(s.at(4), 5e-4, 1e-15);
  EXPECT_NEAR(s.at(9), 1e-3, 1e-15);                  // end of warm-up
  EXPECT_NEAR(s.at(10), 1e-3, 1e-15);                 // cosine starts at the peak
  EXPECT_NEAR(s.at(60), 0.5 * (1e-3 + 1e-5), 1e-12);  // half way down
  EXPECT_NEAR(s.at(110), 1e-5, 1e-15);
  EXPECT_NEAR(s.at(500), 1e-5, 1e-15);  // stays at the minimum
  EXPECT_GT(s.at(30), s.at(31));
  LrSchedule flat{2e-3, 0.0, 0, 0};
  EXPECT_DOUBLE_EQ(flat.at(7), 2e-3);
}

TEST(ClipTest, ScalesToTheGlobalNorm) {
  auto a = torch::zeros({2}, torch::requires_grad());
  auto b = torch::zeros({1}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 0.6, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.8, 1e-5);
  // below the limit: untouched
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 1.0, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.8, 1e-6);
}

class TrainFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::make_temp_dir("train");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(TrainFilesTest, CheckpointRoundTripKeepsEveryTensorAndRebuildsTheModel) {
  auto config = test_util::tiny_model(0.1);
  config.n_filters = 6;
  torch::manual_seed(1);
  model::PosteriorEstimator model(config);
  model->set_dropout_seed(1234);
  const auto pairs = model->named_parameters().pairs();
  Adam adam(NamedTensors(pairs.begin(), pairs.end()));
  model::Checkpoint c;
  c.model_config = config;
  c.filters = test_util::test_filters(6);
  c.model_state = model->named_state();
  c.model_state.emplace_back("extra.bool", torch::tensor({true, false, true}));
  c.model_state.emplace_back("extra.scalar", torch::tensor(2.5, torch::kFloat64));
  c.model_state.emplace_back("extra.half", torch::tensor({1.5f, -2.0f}).to(torch::kFloat16));
  c.optimizer_state = adam.state();
  c.step = 17;
  c.epoch = 2;
  c.step_in_epoch = 3;
  c.seed = 99;
  c.best_val_loss = -1.25;
  const std::string path = dir_ + "/ckpt.h5";
  model::save_checkpoint(path, c);
  EXPECT_FALSE(fs::exists(path + ".partial"));

  auto f = h5::File::open(path);
  EXPECT_EQ(f.attr_string("/", "format"), "irisml-checkpoint");
  EXPECT_EQ(f.attr_int("/", "step"), 17);
  EXPECT_EQ(f.read_strings("/filters"), c.filters);
  EXPECT_EQ(f.attr_string("/model/encoder.cls", "dtype"), "float32");
  EXPECT_TRUE(f.exists("/optimizer/exp_avg/encoder.cls"));
  f.close();

  auto loaded = model::load_checkpoint(path);
  EXPECT_EQ(loaded.step, 17);
  EXPECT_EQ(loaded.epoch, 2);
  EXPECT_EQ(loaded.step_in_epoch, 3);
  EXPECT_EQ(loaded.seed, 99u);
  EXPECT_DOUBLE_EQ(loaded.best_val_loss, -1.25);
  EXPECT_TRUE(std::isnan(loaded.last_val_loss));
  EXPECT_EQ(loaded.model_config.describe(), config.describe());
  EXPECT_EQ(loaded.filters, c.filters);
  ASSERT_EQ(loaded.model_state.size(), c.model_state.size());
  std::map<std::string, torch::Tensor> by_name(loaded.model_state.begin(), loaded.model_state.end());
  for (const auto& [name, t] : c.model_state) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_EQ(by_name[name].scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(by_name[name].sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(by_name[name], t)) << name;
  }
  EXPECT_EQ(loaded.optimizer_state.size(), c.optimizer_state.size());

  // The rebuilt model computes the same densities (and has the dropout stream).
  c.model_state.resize(c.model_state.size() - 3);
  model::save_checkpoint(path, c);
  auto rebuilt = model::build_model(model::load_checkpoint(path, /*with_optimizer=*/false));
  model->eval();
  auto batch = model::ObservationBatch{torch::tensor({{0, 2, 5}}), torch::tensor({{15.0f, 14.2f, 13.9f}}),
                                       torch::tensor({{0.02f, 0.05f, 0.01f}}), torch::tensor({{true, true, true}})};
  auto theta = torch::tensor({{5800.0, 4.4, 0.0, 0.3, 3.1}}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  const double a = model->log_prob(theta, model->context(batch)).item<double>();
  const double b = rebuilt->log_prob(theta, rebuilt->context(batch)).item<double>();
  EXPECT_TRUE(std::isfinite(a));
  EXPECT_EQ(a, b);
  EXPECT_EQ(rebuilt->encoder->dropout_seed(), 1234u);
}

// The training prior travels with the checkpoint; a model with non-finite weights is
// refused on load, naming the tensor (it would otherwise give silent NaN posteriors).
TEST_F(TrainFilesTest, CheckpointKeepsThePriorAndRefusesNonFiniteWeights) {
  auto config = test_util::tiny_model();
  config.n_filters = 4;
  model::PosteriorEstimator model(config);
  model::Checkpoint c;
  c.model_config = config;
  c.filters = test_util::test_filters(4);
  c.model_state = model->named_state();
  c.prior = {{"logg_min", 0.1}, {"av_scale", 1.5}};
  c.grid_checksum = "fnv1a64:0123456789abcdef";
  const std::string path = dir_ + "/prior.h5";
  model::save_checkpoint(path, c);
  auto loaded = model::load_checkpoint(path, /*with_optimizer=*/false);
  EXPECT_EQ(loaded.grid_checksum, c.grid_checksum);
  ASSERT_EQ(loaded.prior.size(), 2u);
  std::map<std::string, double> prior(loaded.prior.begin(), loaded.prior.end());
  EXPECT_EQ(prior["av_scale"], 1.5);
  bool poisoned = false;
  for (auto& [name, t] : c.model_state) {
    if (t.is_floating_point() && t.dim() == 2 && name.rfind("flow.", 0) == 0) {
      t = t.clone();
      t.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      model::save_checkpoint(path, c);
      irisml::test_support::expect_error<InputError>([&] { model::load_checkpoint(path, false); },
                                                     {name, "non-finite", path});
      poisoned = true;
      break;
    }
  }
  EXPECT_TRUE(poisoned);
}

TEST_F(TrainFilesTest, LoadCheckpointRefusesOtherFiles) {
  EXPECT_THROW(model::load_checkpoint(dir_ + "/missing.h5"), InputError);
  const std::string data = dir_ + "/data.h5";
  test_util::write_training_set(data, 10, 4);
  try {
    model::load_checkpoint(data);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an IrisML checkpoint"), std::string::npos) << e.what();
  }
}

TEST(ModelDifferencesTest, NamesEveryDifferingField) {
  auto a = test_util::tiny_model();
  a.n_filters = 4;
  auto b = a;
  b.width = 32;
  b.made_hidden = {32, 32};
  auto diffs = model::model_differences(a, b, {"A", "B", "C", "D"}, {"A", "B", "C", "E"});
  ASSERT_EQ(diffs.size(), 3u);
  EXPECT_EQ(diffs[0], "width: 16 (checkpoint) vs 32 (this run)");
  EXPECT_EQ(diffs[1], "made_hidden: 16,16 (checkpoint) vs 32,32 (this run)");
  EXPECT_NE(diffs[2].find("filters: A,B,C,D (checkpoint) vs A,B,C,E"), std::string::npos);
  EXPECT_TRUE(model::model_differences(a, a, {"A"}, {"A"}).empty());
}

TEST_F(TrainFilesTest, TrainingTableSelectsFiltersByName) {
  const std::string path = dir_ + "/data.h5";
  test_util::write_training_set(path, 50, 5);
  auto all = load_training_table(path, {}, MPI_COMM_SELF, "--data");
  EXPECT_EQ(all.rows, 50);
  EXPECT_EQ(all.n_filters(), 5);
  auto some = load_training_table(path, {"F3", "F0"}, MPI_COMM_SELF, "--data");
  ASSERT_EQ(some.n_filters(), 2);
  for (std::int64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(some.magnitudes_of(i)[0], all.magnitudes_of(i)[3]);
    EXPECT_EQ(some.magnitudes_of(i)[1], all.magnitudes_of(i)[0]);
    EXPECT_EQ(some.parameters_of(i)[3], all.parameters_of(i)[3]);
  }
  try {
    load_training_table(path, {"F1", "PS1_q"}, MPI_COMM_SELF, "--data");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("PS1_q"), std::string::npos) << m;
    EXPECT_NE(m.find("F0, F1, F2, F3, F4"), std::string::npos) << m;  // the known filters
  }
}

TEST_F(TrainFilesTest, TrainingTableRejectsMalformedFiles) {
  auto expect_error = [&](const std::string& path, const std::string& needle) {
    try {
      load_training_table(path, {}, MPI_COMM_SELF, "--data");
      ADD_FAILURE() << "expected InputError for " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(dir_ + "/none.h5", "does not exist");
  {
    auto f = h5::File::create(dir_ + "/no_mags.h5");
    f.write<double>("/parameters", std::vector<double>(10, 1.0), {2, 5});
    f.write_strings("/filters", {"A"});
  }
  expect_error(dir_ + "/no_mags.h5", "no dataset '/magnitudes'");
  {
    auto f = h5::File::create(dir_ + "/bad_shape.h5");
    f.write<double>("/parameters", std::vector<double>(8, 1.0), {2, 4});
    f.write<float>("/magnitudes", std::vector<float>(6, 1.0f), {2, 3});
    f.write_strings("/filters", {"A", "B", "C"});
  }
  expect_error(dir_ + "/bad_shape.h5", "/parameters has shape [2, 4], expected [N, 5]");
  {
    auto f = h5::File::create(dir_ + "/mismatch.h5");
    f.write<double>("/parameters", std::vector<double>(10, 1.0), {2, 5});
    f.write<float>("/magnitudes", std::vector<float>(6, 1.0f), {2, 3});
    f.write_strings("/filters", {"A", "B"});
  }
  expect_error(dir_ + "/mismatch.h5", "/magnitudes has shape [2, 3]");
  {
    auto f = h5::File::create(dir_ + "/nan.h5");
    f.write<double>("/parameters", std::vector<double>(10, 5000.0), {2, 5});
    std::vector<float> m(4, 1.0f);
    m[3] = NAN;
    f.write<float>("/magnitudes", m, {2, 2});
    f.write_strings("/filters", {"A", "B"});
  }
  expect_error(dir_ + "/nan.h5", "row 1 holds a non-finite");
}

TEST(EpochPermutationTest, IsAPermutationKeyedBySeedAndEpoch) {
  auto p0 = epoch_permutation(3, 0, 1000);
  auto p0b = epoch_permutation(3, 0, 1000);
  auto p1 = epoch_permutation(3, 1, 1000);
  auto q0 = epoch_permutation(4, 0, 1000);
  EXPECT_EQ(p0, p0b);
  EXPECT_NE(p0, p1);
  EXPECT_NE(p0, q0);
  std::set<std::int64_t> seen(p0.begin(), p0.end());
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 999);
  int fixed = 0;
  for (std::int64_t i = 0; i < 1000; ++i) fixed += p0[static_cast<std::size_t>(i)] == static_cast<std::uint32_t>(i);
  EXPECT_LT(fixed, 10);  // a shuffle leaves ~1 element in place
  // 32-bit rows: larger sets are refused before anything is allocated
  EXPECT_THROW(epoch_permutation(3, 0, kMaxTrainingRows + 1), std::logic_error);
}

TEST_F(TrainFilesTest, BatchObservationsDependOnlyOnTheStar) {
  const std::string path = dir_ + "/data.h5";
  test_util::write_training_set(path, 40, 8);
  auto table = load_training_table(path, {}, MPI_COMM_SELF, "--data");
  simulate::NoiseModel noise;
  noise.bands_min = 2;
  std::vector<std::int64_t> rows_a{5, 17, 3}, rows_b{17, 30, 9, 11};
  auto a = make_batch(table, rows_a.data(), 3, noise, 42, 1000);
  auto b = make_batch(table, rows_b.data(), 4, noise, 42, 1000);
  // star 17 is row 1 of a and row 0 of b: same bands, magnitudes and errors
  auto na = a.observations.mask[1].sum().item<std::int64_t>();
  auto nb = b.observations.mask[0].sum().item<std::int64_t>();
  ASSERT_EQ(na, nb);
  EXPECT_GE(na, 2);
  for (std::int64_t s = 0; s < na; ++s) {
    EXPECT_EQ(a.observations.filter_ids[1][s].item<std::int64_t>(),
              b.observations.filter_ids[0][s].item<std::int64_t>());
    EXPECT_EQ(a.observations.magnitudes[1][s].item<float>(), b.observations.magnitudes[0][s].item<float>());
    EXPECT_EQ(a.observations.errors[1][s].item<float>(), b.observations.errors[0][s].item<float>());
  }
  EXPECT_EQ(a.theta[1][0].item<double>(), table.parameters_of(17)[0]);
  // a different stream base (another epoch) changes the noise
  auto c = make_batch(table, rows_a.data(), 3, noise, 42, 2000);
  EXPECT_FALSE(torch::equal(a.observations.magnitudes, c.observations.magnitudes));
  // padded slots are masked; errors of observed slots lie in the configured range
  auto errs = a.observations.errors.masked_select(a.observations.mask);
  EXPECT_GE(errs.min().item<float>(), 0.005f * 0.999f);
  EXPECT_LE(errs.max().item<float>(), 0.2f * 1.001f);
  a.observations.validate(8);
}

TEST_F(TrainFilesTest, QualityTableComparesWithTheTrainingMedianAndIgnoresBatching) {
  const std::string data = dir_ + "/train.h5", test = dir_ + "/test.h5";
  test_util::write_training_set(data, 704, 6, /*seed=*/7);
  test_util::write_training_set(test, 150, 6, /*seed=*/8);
  auto o = test_util::tiny_options(data, dir_ + "/run");
  train(o, MPI_COMM_SELF);
  const std::string checkpoint = dir_ + "/run/checkpoint.h5";
  QualityOptions q;
  q.test_data = test;
  q.train_data = data;
  q.noise = o.noise;
  q.samples = 16;
  q.batch = 64;
  auto a = evaluate_quality(checkpoint, q, MPI_COMM_SELF);
  q.batch = 7;
  auto b = evaluate_quality(checkpoint, q, MPI_COMM_SELF);
  EXPECT_EQ(a.stars, 150);
  EXPECT_EQ(a.checkpoint_step, model::load_checkpoint_info(checkpoint).step);
  ASSERT_EQ(a.rows.size(), 5u);
  EXPECT_EQ(a.rows[0].parameter, "teff");
  EXPECT_EQ(a.rows[3].parameter, "av");
  // the baseline is the median of the training parameters
  auto table = load_training_table(data, {}, MPI_COMM_SELF, "--data");
  for (int k = 0; k < 5; ++k) {
    std::vector<double> column;
    for (std::int64_t i = 0; i < table.rows; ++i) column.push_back(table.parameters_of(i)[k]);
    std::sort(column.begin(), column.end());
    const double median = 0.5 * (column[351] + column[352]);
    EXPECT_DOUBLE_EQ(a.rows[static_cast<std::size_t>(k)].baseline_value, median) << k;
    const auto& r = a.rows[static_cast<std::size_t>(k)];
    EXPECT_GE(r.rms, r.mean_abs);
    EXPECT_GE(r.mean_abs, std::abs(r.bias));
    EXPECT_GE(r.baseline_rms, r.baseline_mean_abs);
    EXPECT_GT(r.rms, 0.0);
    // a star's observation and draws are keyed by the star: batching changes nothing
    // beyond float32 rounding of the network (unkeyed randomness would change it by ~%)
    EXPECT_NEAR(r.rms, b.rows[static_cast<std::size_t>(k)].rms, 1e-6 * r.rms) << k;
  }
  EXPECT_NE(a.markdown().find("| teff |"), std::string::npos);
}

// Not a test of the code: prints the quality table of a trained model when
// IRISML_QUALITY_CHECKPOINT and IRISML_QUALITY_TEST (and optionally
// IRISML_QUALITY_TRAIN) name files, e.g. after training configs/small.ini.
TEST(QualityReportTest, OfAGivenCheckpoint) {
  const char* ckpt_path = std::getenv("IRISML_QUALITY_CHECKPOINT");
  const char* test_path = std::getenv("IRISML_QUALITY_TEST");
  if (!ckpt_path || !test_path) GTEST_SKIP() << "set IRISML_QUALITY_CHECKPOINT and IRISML_QUALITY_TEST";
  const char* train_path = std::getenv("IRISML_QUALITY_TRAIN");
  torch::set_num_threads(2);
  const auto ckpt = model::load_checkpoint_info(ckpt_path);
  QualityOptions q;
  q.test_data = test_path;
  q.train_data = train_path ? train_path : "";
  auto report = evaluate_quality(ckpt_path, q, MPI_COMM_SELF);
  std::cout << "checkpoint " << ckpt_path << " (step " << ckpt.step << ", val_loss " << ckpt.last_val_loss << "), "
            << report.stars << " test stars, " << report.mean_bands << " bands per star on average, " << report.seconds
            << " s\n"
            << report.markdown();
}

}  // namespace

namespace irisml::train {
namespace {

TEST_F(TrainFilesTest, ParallaxesShiftTheMagnitudesAndLeaveTheBandDrawsAlone) {
  const std::string path = dir_ + "/data.h5";
  test_util::write_training_set(path, 40, 8);
  auto table = load_training_table(path, {}, MPI_COMM_SELF, "--data");
  simulate::NoiseModel noise;
  noise.bands_min = 2;
  std::vector<std::int64_t> rows{5, 17, 3, 30, 9, 11, 0, 1, 2, 4};
  const auto n = static_cast<std::int64_t>(rows.size());
  auto plain = make_batch(table, rows.data(), n, noise, 42, 1000);
  EXPECT_FALSE(plain.observations.parallax.defined());  // photometry-only: as before
  noise.parallax_fraction = 0.5;
  auto with = make_batch(table, rows.data(), n, noise, 42, 1000);
  ASSERT_TRUE(with.observations.parallax.defined());
  with.observations.validate(8);
  EXPECT_TRUE(torch::equal(plain.observations.filter_ids, with.observations.filter_ids));
  EXPECT_TRUE(torch::equal(plain.observations.errors, with.observations.errors));
  EXPECT_TRUE(torch::equal(plain.observations.mask, with.observations.mask));
  int present = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float p = with.observations.parallax[i].item<float>();
    auto diff =
        (with.observations.magnitudes[i] - plain.observations.magnitudes[i]).masked_select(with.observations.mask[i]);
    if (std::isnan(p)) {
      EXPECT_EQ(diff.abs().max().item<float>(), 0.0f);
      continue;
    }
    ++present;
    EXPECT_GT(with.observations.parallax_err[i].item<float>(), 0.0f);
    // One shift per star (absolute → apparent), the same in every band.
    EXPECT_LT((diff - diff[0]).abs().max().item<float>(), 1e-4f);
  }
  EXPECT_GT(present, 0);
  EXPECT_LT(present, n);
  // A_V priors: their own stream, so the parallaxes and band draws stay as they were.
  noise.av_prior_fraction = 1.0;
  auto both = make_batch(table, rows.data(), n, noise, 42, 1000);
  EXPECT_TRUE(torch::equal(both.observations.magnitudes, with.observations.magnitudes));
  EXPECT_TRUE(torch::allclose(both.observations.parallax, with.observations.parallax, 0, 0, /*equal_nan=*/true));
  for (std::int64_t i = 0; i < n; ++i) {
    const double width = both.observations.av_prior_err[i].item<float>();
    EXPECT_GE(width, noise.av_prior_sigma_min * 0.999);
    EXPECT_LE(width, noise.av_prior_sigma_max * 1.001);
    EXPECT_LT(std::abs(both.observations.av_prior[i].item<float>() - both.theta[i][3].item<double>()), 6 * width);
  }
  noise.av_prior_fraction = 0.0;
  // The same star keyed alike in another batch gets the same parallax.
  std::vector<std::int64_t> one{rows[3]};
  auto single = make_batch(table, one.data(), 1, noise, 42, 1000);
  const float a = with.observations.parallax[3].item<float>(), b = single.observations.parallax[0].item<float>();
  EXPECT_TRUE((std::isnan(a) && std::isnan(b)) || a == b);
}

}  // namespace
}  // namespace irisml::train

namespace irisml::train {
namespace {

TEST_F(TrainFilesTest, ACalibratedRunRecordsItsPerBandTermsAndNeedsEveryBand) {
  const std::string path = dir_ + "/data.h5";
  test_util::write_training_set(path, 300, 6);
  auto calibration = std::make_shared<simulate::Calibration>();
  for (int j = 0; j < 6; ++j) {
    simulate::BandCalibration b;
    b.offset = 0.01 * j - 0.025;
    b.sigma_sys = 0.005 * (j + 1);
    calibration->set("F" + std::to_string(j), b);
  }
  auto o = test_util::tiny_options(path, dir_ + "/calibrated");
  o.calibration = calibration;
  o.filters = {"F5", "F0", "F1", "F2", "F3", "F4"};  // model order, not the file's
  o.max_steps = 2;
  const auto result = train(o, MPI_COMM_SELF);
  const auto c = model::load_checkpoint(result.checkpoint, false);
  const auto noise = simulate::NoiseModel::from_items(c.noise, "checkpoint");
  ASSERT_TRUE(noise.calibrated());
  EXPECT_EQ(noise.band_sigma_sys, (std::vector<double>{0.03, 0.005, 0.01, 0.015, 0.02, 0.025}));
  EXPECT_DOUBLE_EQ(noise.band_offset[0], 0.025);
  // A model band the calibration does not cover: refused, naming it.
  auto partial = std::make_shared<simulate::Calibration>();
  partial->set("F0", simulate::BandCalibration{});
  o = test_util::tiny_options(path, dir_ + "/partial");
  o.calibration = partial;
  o.max_steps = 1;
  try {
    train(o, MPI_COMM_SELF);
    ADD_FAILURE() << "accepted a calibration without the model's bands";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("F3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace irisml::train
