// Fine-tuning (`train --init-from`): the grown model starts as the parent, the freeze
// phase trains only the new rows, resume is exact, lineage is recorded, and each
// refusal names what is wrong. One process (MPI_COMM_SELF); the MPI environment comes
// from train_test.cpp.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "model/posterior.hpp"
#include "model/checkpoint.hpp"
#include "train/finetune.hpp"
#include "train/optimizer.hpp"
#include "train/trainer.hpp"
#include "train_test_util.hpp"

namespace {

using irisml::InputError;
namespace h5 = irisml::h5;
namespace model = irisml::model;
using namespace irisml::train;
namespace fs = std::filesystem;

const std::vector<std::string> kParentFilters{"F0", "F1", "F3", "F4"};  // F2, F5 are added

const torch::Tensor& tensor_of(const model::Checkpoint& c, const std::string& name) {
  for (const auto& [k, v] : c.model_state)
    if (k == name) return v;
  throw std::runtime_error("no tensor " + name);
}

// A parent trained on 4 of the data's 6 filters (20 steps), shared by the tests.
class FinetuneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test_util::make_temp_dir("finetune");
    data_ = dir_ + "/data.h5";
    test_util::write_training_set(data_, 704, 6);
    auto o = test_util::tiny_options(data_, dir_ + "/parent");
    o.filters = kParentFilters;
    o.max_steps = 20;
    train(o, MPI_COMM_SELF);
    parent_ = dir_ + "/parent/checkpoint.h5";
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static TrainOptions finetune_options(const std::string& run) {
    auto o = test_util::tiny_options(data_, dir_ + "/" + run);
    o.finetune.init_from = parent_;
    for (int j = 0; j < 6; ++j) o.finetune.pivot_wavelengths["F" + std::to_string(j)] = 4000.0 * (1.0 + j);
    o.max_steps = 6;
    o.lr = 3e-4;
    o.warmup_steps = 2;
    return o;
  }
  static std::string dir_, data_, parent_;
};
std::string FinetuneTest::dir_, FinetuneTest::data_, FinetuneTest::parent_;

TEST_F(FinetuneTest, TheGrownModelStartsAsTheParent) {
  auto o = finetune_options("plan");
  auto table = load_training_table(data_, {}, MPI_COMM_SELF, "--data");
  auto init = plan_finetune(o.finetune, table.filters, o.model, {}, "", data_);
  EXPECT_EQ(init.lineage.filters_added, (std::vector<std::string>{"F2", "F5"}));
  // Pivots 4000·(1 + j) Å: F2 is nearer F3 than F1 in ln λ (ln 16/12 < ln 12/8), F5 nearest F4.
  EXPECT_EQ(init.lineage.embedding_init, "F2<-F3,F5<-F4");
  EXPECT_EQ(init.parent_row, (std::vector<int>{0, 1, -1, 2, 3, -1}));

  auto parent_ckpt = model::load_checkpoint(parent_, false);
  auto parent = model::build_model(parent_ckpt);
  auto config = o.model;
  config.n_filters = 6;
  model::PosteriorEstimator grown(config, finetune_normalizer(init, table, 600));
  load_finetune_state(*grown, init);
  grown->eval();

  // New rows copy the nearest parent row; the parent's rows, statistics and flow are kept.
  auto emb = grown->encoder->filter_embedding->weight;
  auto pemb = parent->encoder->filter_embedding->weight;
  EXPECT_TRUE(torch::equal(emb[2], pemb[2]));  // F2 <- F3 (parent row 2)
  EXPECT_TRUE(torch::equal(emb[5], pemb[3]));  // F5 <- F4
  EXPECT_TRUE(torch::equal(emb[3], pemb[2]));
  auto n = grown->normalizer(), pn = parent->normalizer();
  EXPECT_EQ(n.mag_mean()[4], pn.mag_mean()[3]);
  EXPECT_EQ(n.param_std(), pn.param_std());
  EXPECT_EQ(n.error_log_mean(), pn.error_log_mean());
  EXPECT_GT(n.mag_std()[5], 0.0);

  // A star seen only in the parent's bands: the same context and density as the parent's.
  model::ObservationBatch grown_batch, parent_batch;
  grown_batch.filter_ids = torch::tensor({0, 1, 3, 4}, torch::kInt64).reshape({1, 4});
  parent_batch.filter_ids = torch::tensor({0, 1, 2, 3}, torch::kInt64).reshape({1, 4});
  for (auto* b : {&grown_batch, &parent_batch}) {
    b->magnitudes = torch::tensor({12.0f, 11.5f, 11.1f, 10.9f}).reshape({1, 4});
    b->errors = torch::full({1, 4}, 0.02f);
    b->mask = torch::ones({1, 4}, torch::kBool);
  }
  torch::NoGradGuard no_grad;
  auto theta = torch::tensor({5800.0, 4.4, 0.0, 0.3, 3.1}, torch::kFloat64).reshape({1, 5});
  auto a = grown->log_prob(theta, grown->context(grown_batch));
  auto b = parent->log_prob(theta, parent->context(parent_batch));
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6)) << a << " vs " << b;
}

TEST_F(FinetuneTest, APhotometryOnlyModelGainsTheParallaxToken) {
  auto o = finetune_options("parallax");
  o.filters = kParentFilters;  // no new band: the token alone is the addition
  o.noise.parallax_fraction = 0.5;
  auto config = o.model;
  config.parallax_token = true;
  auto table = load_training_table(data_, kParentFilters, MPI_COMM_SELF, "--data");
  auto init = plan_finetune(o.finetune, table.filters, config, {}, "", data_);
  EXPECT_EQ(init.lineage.filters_added, (std::vector<std::string>{"parallax"}));
  EXPECT_EQ(init.lineage.embedding_init, "parallax<-mean");
  const auto result = train(o, MPI_COMM_SELF);
  auto grown = model::load_checkpoint(result.checkpoint, false);
  EXPECT_TRUE(grown.model_config.parallax_token);
  EXPECT_EQ(tensor_of(grown, "encoder.filter_embedding.weight").size(0), 5);  // 4 bands + the token
  // Without parallaxes in the run, the same parent and filters have nothing to add.
  o = finetune_options("parallax_refused");
  o.filters = kParentFilters;
  try {
    train(o, MPI_COMM_SELF);
    ADD_FAILURE() << "accepted a fine-tune that adds nothing";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no new band"), std::string::npos) << e.what();
  }
}

TEST_F(FinetuneTest, TheFreezePhaseTrainsOnlyTheNewRows) {
  auto o = finetune_options("frozen");
  o.finetune.freeze_steps = 3;
  o.max_steps = 3;
  o.weight_decay = 0.01;  // must not move the frozen weights either
  train(o, MPI_COMM_SELF);
  auto parent = model::load_checkpoint(parent_, false);
  auto child = model::load_checkpoint(dir_ + "/frozen/checkpoint.h5");
  const auto& emb = tensor_of(child, kFilterEmbeddingName);
  const auto& pemb = tensor_of(parent, kFilterEmbeddingName);
  EXPECT_TRUE(torch::equal(emb.index_select(0, torch::tensor({0, 1, 3, 4})), pemb));
  EXPECT_FALSE(torch::equal(emb[2], pemb[2]));  // started as F3's row, then trained
  EXPECT_FALSE(torch::equal(emb[5], pemb[3]));
  int compared = 0;
  for (const auto& [name, t] : child.model_state) {
    if (name == kFilterEmbeddingName || name.rfind("normalizer.", 0) == 0 || name == "rng.dropout") continue;
    EXPECT_TRUE(torch::equal(t, tensor_of(parent, name))) << name;
    ++compared;
  }
  EXPECT_GT(compared, 10);
  // Adam counted no update for the frozen parameters.
  std::int64_t qkv_steps = -1;
  for (const auto& [name, t] : child.optimizer_state)
    if (name == "param_step/encoder.layers.0.qkv.weight") qkv_steps = t.item<std::int64_t>();
  EXPECT_EQ(qkv_steps, 0);

  // With --freeze-train-norms the layer norms move too (and nothing else).
  auto n = finetune_options("frozen_norms");
  n.finetune.freeze_steps = 3;
  n.finetune.freeze_train_norms = true;
  n.max_steps = 3;
  train(n, MPI_COMM_SELF);
  auto norms = model::load_checkpoint(dir_ + "/frozen_norms/checkpoint.h5", false);
  EXPECT_FALSE(
      torch::equal(tensor_of(norms, "encoder.final_norm.weight"), tensor_of(parent, "encoder.final_norm.weight")));
  EXPECT_TRUE(
      torch::equal(tensor_of(norms, "encoder.layers.0.qkv.weight"), tensor_of(parent, "encoder.layers.0.qkv.weight")));
}

TEST_F(FinetuneTest, StopAndResumeAcrossTheFreezeBoundaryIsBitwiseIdentical) {
  auto straight = finetune_options("straight");
  straight.finetune.freeze_steps = 2;
  train(straight, MPI_COMM_SELF);

  auto part = finetune_options("parts");
  part.finetune.freeze_steps = 2;
  part.stop_after_steps = 1;  // inside the freeze phase
  EXPECT_TRUE(train(part, MPI_COMM_SELF).interrupted);
  part.resume = true;
  part.stop_after_steps = 2;  // exactly at its end: the next update restarts the embedding's moments
  EXPECT_TRUE(train(part, MPI_COMM_SELF).interrupted);
  part.stop_after_steps = 0;
  part.finetune.init_from = "elsewhere.h5";  // ignored on resume (warned)
  EXPECT_FALSE(train(part, MPI_COMM_SELF).interrupted);

  auto a = model::load_checkpoint(dir_ + "/straight/checkpoint.h5");
  auto b = model::load_checkpoint(dir_ + "/parts/checkpoint.h5");
  EXPECT_EQ(b.step, 6);
  ASSERT_EQ(a.model_state.size(), b.model_state.size());
  for (std::size_t i = 0; i < a.model_state.size(); ++i)
    EXPECT_TRUE(torch::equal(a.model_state[i].second, b.model_state[i].second)) << a.model_state[i].first;
  ASSERT_EQ(a.optimizer_state.size(), b.optimizer_state.size());
  for (std::size_t i = 0; i < a.optimizer_state.size(); ++i)
    EXPECT_TRUE(torch::equal(a.optimizer_state[i].second, b.optimizer_state[i].second)) << a.optimizer_state[i].first;

  // The lineage survives the resumes.
  for (const auto* c : {&a, &b}) {
    EXPECT_EQ(c->lineage.parent, parent_);
    EXPECT_EQ(c->lineage.parent_checksum, model::model_checksum(model::load_checkpoint(parent_, false).model_state));
    EXPECT_EQ(c->lineage.parent_step, 20);
    EXPECT_EQ(c->lineage.filters_added, (std::vector<std::string>{"F2", "F5"}));
    EXPECT_EQ(c->lineage.freeze_steps, 2);
    EXPECT_EQ(c->filters.size(), 6u);
  }
  EXPECT_TRUE(model::load_checkpoint(parent_, false).lineage.parent.empty());
}

TEST_F(FinetuneTest, RefusalsNameTheCheckpointAndWhatDiffers) {
  auto expect_refused = [](TrainOptions o, const std::vector<std::string>& needles) {
    try {
      train(o, MPI_COMM_SELF);
      ADD_FAILURE() << "accepted; expected an error with " << needles.front();
    } catch (const InputError& e) {
      for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // The run lacks a band the model knows (F0).
  auto o = finetune_options("refused_subset");
  o.filters = {"F1", "F2", "F3", "F4", "F5"};
  expect_refused(o, {parent_, "F0", "can only add bands"});
  // Nothing to add.
  o = finetune_options("refused_same");
  o.filters = kParentFilters;
  expect_refused(o, {parent_, "no new band"});
  // Another model shape.
  o = finetune_options("refused_shape");
  o.model.width = 32;
  expect_refused(o, {parent_, "width: 16 (checkpoint) vs 32 (this run)"});
  // A missing checkpoint.
  o = finetune_options("refused_missing");
  o.finetune.init_from = dir_ + "/nope.h5";
  expect_refused(o, {"nope.h5", "does not exist"});
  // --freeze-steps without --init-from.
  o = finetune_options("refused_freeze");
  o.finetune.init_from.clear();
  o.finetune.freeze_steps = 5;
  expect_refused(o, {"--freeze-steps needs --init-from"});

  // Another prior: refused, accepted with allow_prior_change.
  const std::string other = dir_ + "/other_prior.h5";
  test_util::write_training_set(other, 704, 6);
  {
    auto f = h5::File::open(other, /*writable=*/true);
    f.set_attr("/", "prior.av_scale", 2.5);
    f.set_attr("/", "grid_checksum", std::string("fnv1a64:0000000000000001"));
  }
  {  // the parent's own data had no prior: record one in a copy of the parent
    auto c = model::load_checkpoint(parent_);
    c.prior = {{"av_scale", 1.5}};
    c.grid_checksum = "fnv1a64:0000000000000002";
    model::save_checkpoint(dir_ + "/parent_with_prior.h5", c);
  }
  o = finetune_options("refused_prior");
  o.data = other;
  o.finetune.init_from = dir_ + "/parent_with_prior.h5";
  expect_refused(o, {"parent_with_prior.h5", "av_scale=1.5", "av_scale=2.5", "grid checksum", "--allow-prior-change"});
  o.finetune.allow_prior_change = true;
  o.max_steps = 1;
  EXPECT_NO_THROW(train(o, MPI_COMM_SELF));
}

TEST(AdamFreezeTest, FrozenParametersKeepTheirValueAndCountNoUpdate) {
  auto a = torch::ones({3}).requires_grad_(true), b = torch::ones({2}).requires_grad_(true);
  Adam adam({{"a", a}, {"b", b}});
  for (int k = 0; k < 3; ++k) {
    adam.set_frozen(k < 2 ? std::vector<std::string>{"b"} : std::vector<std::string>{});
    adam.zero_grad();
    (a.sum() + 2 * b.sum()).backward();
    adam.step(0.1);
  }
  auto state = adam.state();
  std::int64_t b_steps = -1;
  for (const auto& [name, t] : state)
    if (name == "param_step/b") b_steps = t.item<std::int64_t>();
  EXPECT_EQ(b_steps, 1);  // only the last step updated b; a (3 updates) has no entry
  // One update of a fresh Adam moves by lr exactly (bias-corrected m/√v = 1).
  EXPECT_NEAR(b[0].item<double>(), 0.9, 1e-6);
  EXPECT_NEAR(a[0].item<double>(), 1.0 - 0.3, 1e-5);

  // The state round-trips, per-parameter counts included.
  auto a2 = torch::zeros({3}).requires_grad_(true), b2 = torch::zeros({2}).requires_grad_(true);
  Adam other({{"a", a2}, {"b", b2}});
  other.load_state(state);
  auto again = other.state();
  ASSERT_EQ(again.size(), state.size());
  for (std::size_t i = 0; i < state.size(); ++i) EXPECT_TRUE(torch::equal(again[i].second, state[i].second));
}

}  // namespace
