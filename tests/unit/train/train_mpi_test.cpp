// Data-parallel equivalence of the training job (CPU, MPI backend, dropout 0).
//
// With the same global batch, 1 rank × 64 and 2 ranks × 32 must give the same
// parameters after 5 steps (to 1e-5 relative: only the summation order of the
// gradient average differs). The test makes sub-communicators of the world:
//   np 1: 1 × 64 only (nothing to compare with; checks the run is sane);
//   np 2: 1 × 64 on rank 0, then 2 × 32 on both ranks;
//   np 3: the same two runs, plus the world of 3, which does not divide 64 and must
//         fail with an InputError naming both numbers on every rank.
// Adam's eps is raised from 1e-8 to 1e-6 here: Adam divides each gradient component
// by its own running RMS, so a component whose exact gradient is zero — the key part
// of the attention's qkv bias (softmax ignores a shift common to all keys) — moves
// by ~lr per step following float32 rounding noise, which differs with the
// summation order (with eps 1e-8 that tensor alone differs by ~4e-5 relative; all
// others agree to < 1e-5). eps 1e-6 damps updates of noise-level (< 1e-7) gradients
// and leaves real ones untouched.
// 4 × 16 needs 4 ranks; run `mpiexec -np 4 train_mpi_test` where they exist: the
// test then also compares 4 × 16.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/shard.hpp"
#include "model/normalizer.hpp"
#include "io/hdf5.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/noise.hpp"
#include "model/checkpoint.hpp"
#include "train/dataset.hpp"
#include "train/trainer.hpp"
#include "train_test_util.hpp"
#include "mpi_test_support.hpp"

namespace {

using irisml::test_support::world_rank;
using irisml::test_support::world_size;

using irisml::Error;
using irisml::InputError;
namespace h5 = irisml::h5;
namespace model = irisml::model;
namespace simulate = irisml::simulate;
using namespace irisml::train;
namespace fs = std::filesystem;

// A directory made by rank 0, known to all ranks.
std::string shared_temp_dir(const std::string& tag) {
  std::string dir = world_rank() == 0 ? test_util::make_temp_dir(tag) : std::string();
  int len = static_cast<int>(dir.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  dir.resize(static_cast<std::size_t>(len));
  MPI_Bcast(dir.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  return dir;
}

class TrainMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    irisml::log::set_quiet(true);
    dir_ = shared_temp_dir("train_mpi");
    data_ = dir_ + "/data.h5";
    if (world_rank() == 0) test_util::write_training_set(data_, 704, 6);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  // Runs 5 steps with the first `ranks` world ranks; returns the run directory.
  std::string run_on(int ranks, double adam_eps, const std::string& tag = "",
                     const std::function<void(TrainOptions&)>& adjust = {}) {
    const std::string out = dir_ + "/" + tag + "np" + std::to_string(ranks) + "_eps" + fmt::format("{:g}", adam_eps);
    MPI_Comm sub = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, world_rank() < ranks ? 0 : MPI_UNDEFINED, world_rank(), &sub);
    if (sub != MPI_COMM_NULL) {
      auto o = test_util::tiny_options(data_, out);
      o.max_steps = 5;
      o.adam_eps = adam_eps;
      o.backend = ranks == 1 ? "local" : "mpi";
      o.bucket_bytes = 4096;  // several buckets even for the tiny model
      if (adjust) adjust(o);
      auto r = train(o, sub);
      EXPECT_EQ(r.step, 5);
      EXPECT_FALSE(r.interrupted);
      MPI_Comm_free(&sub);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return out;
  }
  std::string dir_, data_;
};

TEST_F(TrainMpiTest, SameParametersWhateverTheRankCount) {
  for (double eps : {1e-6, 1e-8}) {
    const auto reference_dir = run_on(1, eps);
    auto reference = model::load_checkpoint(reference_dir + "/checkpoint.h5");
    EXPECT_EQ(reference.step, 5);
    EXPECT_EQ(reference.global_batch, 64);
    for (const auto& [name, t] : reference.optimizer_state) {
      if (name == "step") {
        EXPECT_EQ(t.item<std::int64_t>(), 5);
      }
    }
    for (int ranks : {2, 4}) {
      if (ranks > world_size()) continue;
      const auto other_dir = run_on(ranks, eps);
      auto other = model::load_checkpoint(other_dir + "/checkpoint.h5");
      EXPECT_EQ(other.world_size, ranks);
      EXPECT_EQ(other.step, 5);
      auto a = reference.model_state, b = other.model_state;
      if (eps < 1e-7) {
        // default eps: everything but the key third of the qkv biases, whose true
        // gradient is zero (see the top); their query and value thirds are compared.
        auto drop_key_bias = [](auto& state) {
          for (auto& [name, t] : state) {
            if (name.find("qkv.bias") == std::string::npos) continue;
            const auto m = t.size(0) / 3;
            t = torch::cat({t.narrow(0, 0, m), t.narrow(0, 2 * m, m)});
          }
        };
        drop_key_bias(a);
        drop_key_bias(b);
      }
      std::string worst;
      const double rel = test_util::max_relative_difference(a, b, &worst);
      EXPECT_LT(rel, 1e-5) << "1x64 vs " << ranks << "x" << 64 / ranks << " (adam eps " << eps << "): tensor " << worst;
      if (world_rank() == 0) {
        std::printf(
            "[ equivalence ] adam_eps %g%s: 1x64 vs %dx%d after 5 steps: max per-tensor relative "
            "difference %.3g (%s)\n",
            eps, eps < 1e-7 ? " (key biases excluded)" : "", ranks, 64 / ranks, rel, worst.c_str());
      }
      if (eps > 1e-7) {
        EXPECT_LT(test_util::max_relative_difference(reference.optimizer_state, other.optimizer_state), 1e-4);
      }
    }
  }
}

// A fine-tune (--init-from a 4-band parent, 2 new bands, 2 frozen updates of 5) gives
// the same parameters at 1 and 2 ranks, as training from scratch does.
TEST_F(TrainMpiTest, FineTuneSameParametersWhateverTheRankCount) {
  const auto parent_dir = run_on(1, 1e-6, "parent_", [](TrainOptions& o) { o.filters = {"F0", "F1", "F3", "F4"}; });
  const std::string parent = parent_dir + "/checkpoint.h5";
  auto finetune = [&](TrainOptions& o) {
    o.finetune.init_from = parent;
    o.finetune.freeze_steps = 2;
  };
  auto reference = model::load_checkpoint(run_on(1, 1e-6, "ft_", finetune) + "/checkpoint.h5");
  EXPECT_EQ(reference.lineage.filters_added, (std::vector<std::string>{"F2", "F5"}));
  if (world_size() < 2) return;
  auto other = model::load_checkpoint(run_on(2, 1e-6, "ft_", finetune) + "/checkpoint.h5");
  EXPECT_EQ(other.world_size, 2);
  std::string worst;
  const double rel = test_util::max_relative_difference(reference.model_state, other.model_state, &worst);
  EXPECT_LT(rel, 1e-5) << "fine-tune 1x64 vs 2x32: tensor " << worst;
  EXPECT_LT(test_util::max_relative_difference(reference.optimizer_state, other.optimizer_state), 1e-4);
  if (world_rank() == 0) {
    std::printf("[ equivalence ] fine-tune 1x64 vs 2x32 after 5 steps (2 frozen): max relative difference %.3g (%s)\n",
                rel, worst.c_str());
  }
}

TEST_F(TrainMpiTest, WorldSizeThatDoesNotDivideTheBatchIsBadInputOnEveryRank) {
  const int size = world_size();
  if (size == 1) GTEST_SKIP() << "every batch divides over one rank";
  auto o = test_util::tiny_options(data_, dir_ + "/indivisible");
  o.max_steps = 1;
  o.batch_size = 64 % size != 0 ? 64 : 16 * size + 1;
  try {
    train(o, MPI_COMM_WORLD);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(fmt::format("global batch size {}", o.batch_size)), std::string::npos) << m;
    EXPECT_NE(m.find(fmt::format("number of ranks {}", size)), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(dir_ + "/indivisible/checkpoint.h5"));
}

TEST_F(TrainMpiTest, EveryRankHoldsTheWholeTableAfterParallelLoading) {
  auto table = load_training_table(data_, {"F4", "F1"}, MPI_COMM_WORLD, "--data");
  ASSERT_EQ(table.rows, 704);
  double local[2] = {0.0, 0.0};
  for (std::int64_t i = 0; i < table.rows; ++i) {
    local[0] += table.magnitudes_of(i)[0] * static_cast<double>(i % 7 + 1) + table.magnitudes_of(i)[1];
    local[1] += table.parameters_of(i)[0] * static_cast<double>(i % 5 + 1);
  }
  // the same checksum on every rank, equal to a serial read on this rank
  double lo[2], hi[2];
  MPI_Allreduce(local, lo, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(local, hi, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(lo[0], hi[0]);
  EXPECT_EQ(lo[1], hi[1]);
  auto serial = load_training_table(data_, {"F4", "F1"}, MPI_COMM_SELF, "--data");
  EXPECT_EQ(serial.magnitudes, table.magnitudes);
  EXPECT_EQ(serial.parameters, table.parameters);
}

// Sharded loading: each rank holds its shard_range block only, and gather_rows returns
// any rows (another rank's, repeated, out of order, none) as a whole-table read would.
TEST_F(TrainMpiTest, ShardedTableHoldsOneBlockPerRankAndGathersAnyRows) {
  const int rank = world_rank(), size = world_size();
  auto shard =
      load_training_table(data_, {"F4", "F1", "F0", "F2", "F5", "F3"}, MPI_COMM_WORLD, "--data", TableLayout::shard);
  auto whole = load_training_table(data_, {"F4", "F1", "F0", "F2", "F5", "F3"}, MPI_COMM_SELF, "--data");
  ASSERT_EQ(shard.rows, 704);
  auto [b, e] = irisml::shard_range(704, rank, size);
  EXPECT_EQ(shard.first, static_cast<std::int64_t>(b));
  EXPECT_EQ(shard.held, static_cast<std::int64_t>(e - b));
  EXPECT_EQ(shard.whole(), size == 1);
  EXPECT_EQ(shard.magnitudes.size(), (e - b) * 6);
  EXPECT_EQ(shard.parameters.size(), (e - b) * 5);
  // each rank asks for a different list: its own rows, the last rank's, repeats, reversed
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < 37 * (rank + 1); ++i) rows.push_back(((703 - 19 * i - 5 * rank) % 704 + 704) % 704);
  rows.push_back(703);
  rows.push_back(0);
  rows.push_back(0);
  auto got = gather_rows(shard, rows.data(), static_cast<std::int64_t>(rows.size()), MPI_COMM_WORLD);
  auto want = take_rows(whole, rows.data(), static_cast<std::int64_t>(rows.size()));
  EXPECT_EQ(got.index, rows);
  EXPECT_EQ(got.magnitudes, want.magnitudes);
  EXPECT_EQ(got.parameters, want.parameters);
  // an empty request on some ranks is still a collective the others can finish
  auto none = gather_rows(shard, rows.data(), rank == 0 ? 5 : 0, MPI_COMM_WORLD);
  EXPECT_EQ(none.size(), rank == 0 ? 5 : 0);
  // the same noise for a star however it was fetched
  simulate::NoiseModel noise;
  auto a = make_batch(got, noise, 7, 100);
  auto c = make_batch(whole, rows.data(), static_cast<std::int64_t>(rows.size()), noise, 7, 100);
  EXPECT_TRUE(torch::equal(a.observations.magnitudes, c.observations.magnitudes));
  EXPECT_TRUE(torch::equal(a.observations.errors, c.observations.errors));
  EXPECT_TRUE(torch::equal(a.theta, c.theta));
  // a row outside the table is refused on every rank
  std::vector<std::int64_t> bad{rank == size - 1 ? 704 : 1};
  EXPECT_THROW(gather_rows(shard, bad.data(), 1, MPI_COMM_WORLD), std::exception);
}

// An isochrone-prior set's mass windows travel with their rows (whole and sharded) and
// set the training parallaxes' masses; the same batch however the rows were fetched.
TEST_F(TrainMpiTest, MassWindowsTravelWithTheirRowsIntoTheParallaxes) {
  const int rank = world_rank();
  const std::string windowed = dir_ + "/windows.h5";
  if (rank == 0) test_util::write_training_set(windowed, 704, 6, 7, /*mass_windows=*/true);
  MPI_Barrier(MPI_COMM_WORLD);
  auto shard = load_training_table(windowed, {}, MPI_COMM_WORLD, "--data", TableLayout::shard);
  auto whole = load_training_table(windowed, {}, MPI_COMM_WORLD, "--data");
  auto serial = load_training_table(windowed, {}, MPI_COMM_SELF, "--data");
  auto plain = load_training_table(data_, {}, MPI_COMM_SELF, "--data");
  EXPECT_FALSE(plain.has_mass_windows());
  ASSERT_EQ(serial.mass_windows.size(), 704u * 3);
  EXPECT_EQ(whole.mass_windows, serial.mass_windows);
  EXPECT_EQ(shard.mass_windows.size(), static_cast<std::size_t>(shard.held) * 3);
  EXPECT_EQ(serial.mass_windows[5 * 3 + 1], -1.0f + 0.005f);
  EXPECT_EQ(serial.magnitudes, plain.magnitudes);
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < 50 + 20 * rank; ++i) rows.push_back((i * 37 + 11 * rank) % 704);
  auto got = gather_rows(shard, rows.data(), static_cast<std::int64_t>(rows.size()), MPI_COMM_WORLD);
  auto want = take_rows(serial, rows.data(), static_cast<std::int64_t>(rows.size()));
  EXPECT_EQ(got.mass_windows, want.mass_windows);
  simulate::NoiseModel noise;
  noise.parallax_fraction = 1.0;
  auto a = make_batch(got, noise, 7, 100);
  auto b = make_batch(serial, rows.data(), static_cast<std::int64_t>(rows.size()), noise, 7, 100);
  EXPECT_TRUE(torch::equal(a.observations.magnitudes, b.observations.magnitudes));
  EXPECT_TRUE(torch::equal(a.observations.parallax, b.observations.parallax));
  // Rows of weight 0 draw their mass log-uniformly, but from a stream that also chose the
  // component: the windows change the parallaxes of every star, not only of weighted ones.
  auto c = make_batch(plain, rows.data(), static_cast<std::int64_t>(rows.size()), noise, 7, 100);
  EXPECT_FALSE(torch::equal(a.observations.magnitudes, c.observations.magnitudes));
  // The windows reach the mass: point windows at 0.15 and 1 M_sun move every star's
  // apparent magnitudes by the difference of the radius terms, exactly.
  auto light = got, heavy = got;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    for (auto* block : {&light, &heavy}) {
      const float log_m = block == &light ? std::log10(0.15f) : 0.0f;
      float* w = block->mass_windows.data() + k * 3;
      w[0] = 1.0f, w[1] = log_m, w[2] = log_m;
    }
  }
  auto l = make_batch(light, noise, 7, 100), h = make_batch(heavy, noise, 7, 100);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto i = static_cast<std::int64_t>(k);
    const double logg = got.parameters[k * 5 + 1];
    const double light_mass = std::pow(10.0, static_cast<double>(std::log10(0.15f)));
    const double shift = simulate::radius_term(1.0, logg) - simulate::radius_term(light_mass, logg);
    EXPECT_NEAR(l.observations.magnitudes[i][0].item<float>() - h.observations.magnitudes[i][0].item<float>(), shift,
                2e-4)
        << k;
  }
  // A window dataset of another shape is refused, naming it.
  const std::string bad = dir_ + "/bad_windows.h5";
  if (rank == 0) {
    test_util::write_training_set(bad, 10, 6);
    auto f = h5::File::open(bad, /*writable=*/true);
    f.write<float>("/isochrone_mass", std::vector<float>(20), {10, 2});
  }
  MPI_Barrier(MPI_COMM_WORLD);
  try {
    load_training_table(bad, {}, MPI_COMM_WORLD, "--data");
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/isochrone_mass has shape [10, 2]"), std::string::npos) << e.what();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// The normaliser fitted over a sharded table (rows walked rank by rank) is bitwise the
// one fitted by one process over the whole table, so training does not depend on the
// rank count through it.
TEST_F(TrainMpiTest, NormaliserFromAShardedTableIsBitwiseTheSerialOne) {
  auto shard = load_training_table(data_, {}, MPI_COMM_WORLD, "--data", TableLayout::shard);
  auto whole = load_training_table(data_, {}, MPI_COMM_SELF, "--data");
  for (std::int64_t n : {std::int64_t{704}, std::int64_t{650}, std::int64_t{3}}) {
    model::Normalizer sharded(6), serial(6);
    sharded.fit(ordered_rows(shard, n, MPI_COMM_WORLD), n, 6);
    serial.fit(whole.magnitudes.data(), whole.parameters.data(), n, 6);
    EXPECT_EQ(sharded.mag_mean(), serial.mag_mean()) << n;
    EXPECT_EQ(sharded.mag_std(), serial.mag_std()) << n;
    EXPECT_EQ(sharded.param_mean(), serial.param_mean()) << n;
    EXPECT_EQ(sharded.param_std(), serial.param_std()) << n;
  }
  // a bad value on one rank's shard fails on every rank, naming the row there
  auto broken = shard;
  const std::int64_t row = broken.first + broken.held - 1;
  const bool mine = world_rank() == world_size() - 1;
  if (mine) broken.parameters[static_cast<std::size_t>(row - broken.first) * 5 + 3] = -1.0;  // A_V <= 0
  model::Normalizer n(6);
  try {
    n.fit(ordered_rows(broken, 704, MPI_COMM_WORLD), 704, 6);
    ADD_FAILURE() << "no rank threw";
  } catch (const InputError& e) {
    EXPECT_TRUE(mine);
    EXPECT_NE(std::string(e.what()).find(fmt::format("A_V of training star {}", row)), std::string::npos) << e.what();
  } catch (const Error& e) {
    EXPECT_FALSE(mine);
    EXPECT_NE(std::string(e.what()).find("another rank failed"), std::string::npos) << e.what();
  }
}

// Training with a separate --validation file, sharded like --data: the same validation
// loss for 1 rank × 96 and the world's ranks (the noise of a validation star is keyed on
// its row, the loss summed over ranks).
TEST_F(TrainMpiTest, SeparateValidationFileGivesTheSameLossOnAnyRankCount) {
  const std::string val = dir_ + "/val.h5";
  if (world_rank() == 0) test_util::write_training_set(val, 101, 6, 9);
  MPI_Barrier(MPI_COMM_WORLD);
  const int size = world_size();
  auto with_val = [&](TrainOptions& o) {
    o.validation = val;
    o.batch_size = 96;  // divides over 1, 2, 3 and 4 ranks
  };
  const auto one = run_on(1, 1e-6, "val_one_", with_val);
  const auto all = run_on(size, 1e-6, "val_all_", with_val);
  auto a = model::load_checkpoint(one + "/checkpoint.h5"), b = model::load_checkpoint(all + "/checkpoint.h5");
  EXPECT_TRUE(std::isfinite(a.last_val_loss));
  EXPECT_NEAR(a.last_val_loss, b.last_val_loss, 1e-5 * std::abs(a.last_val_loss));
}

}  // namespace
