// Communicator, sharding and GradientReducer at 1, 2 and 3 ranks (run under
// mpiexec with tests/mpi_main.cpp, which initialises MPI itself).
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <string>

#include "core/error.hpp"
#include "distributed/communicator.hpp"
#include "distributed/environment.hpp"
#include "distributed/gradient_reducer.hpp"
#include "distributed/mpi_check.hpp"
#include "distributed/mpi_communicator.hpp"
#include "test_tensors.hpp"

namespace irisml::distributed {
namespace {

using namespace irisml::distributed::test_support;

const c10::Device kCpu(c10::DeviceType::CPU);

void check_allreduce(std::size_t bucket_bytes) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD, bucket_bytes);
  std::vector<torch::Tensor> tensors;
  for (std::size_t k = 0; k < tensor_cases().size(); ++k) {
    tensors.push_back(rank_tensor(static_cast<int>(k), rank, tensor_cases()[k].shape, tensor_cases()[k].dtype));
  }
  // A non-contiguous tensor (a transpose) is reduced in place too.
  torch::Tensor base = rank_tensor(99, rank, {4, 6}, torch::kFloat32);
  tensors.push_back(base.t());
  comm.allreduce_sum(tensors);
  for (std::size_t k = 0; k < tensor_cases().size(); ++k) {
    EXPECT_EQ(tensors[k].scalar_type(), tensor_cases()[k].dtype) << "tensor " << k;
    EXPECT_TRUE(
        torch::equal(tensors[k].to(torch::kFloat64), expected_sum(static_cast<int>(k), size, tensor_cases()[k].shape)))
        << "tensor " << k << " (" << tensor_cases()[k].dtype << ") with buckets of " << bucket_bytes << " bytes";
  }
  EXPECT_TRUE(torch::equal(base.to(torch::kFloat64), expected_sum(99, size, {4, 6})))
      << "non-contiguous tensor not written back in place";
}

TEST(MpiEnvironmentMpiTest, AttachesToInitialisedMpi) {
  {
    MpiEnvironment env;
    EXPECT_FALSE(env.owns_mpi());
    EXPECT_EQ(env.rank(), world_rank());
    EXPECT_EQ(env.size(), world_size());
    EXPECT_GE(env.local_rank(), 0);
    EXPECT_LT(env.local_rank(), env.local_size());
    EXPECT_EQ(env.local_size(), world_size()) << "all test ranks run on this one node";
    EXPECT_EQ(env.local_rank(), world_rank());
  }
  int finalized = 1;
  MPI_Finalized(&finalized);
  EXPECT_FALSE(finalized) << "an attached environment must not finalise MPI";
}

TEST(MpiCheckMpiTest, FailedCallThrowsWithExpressionLocationAndMpiMessage) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  int value = 0;
  try {
    IRISML_MPI_CHECK(MPI_Bcast(&value, -1, MPI_INT, 0, comm.comm()));
    FAIL() << "MPI_Bcast with count -1 did not fail";
  } catch (const MpiError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("MPI_Bcast(&value, -1"), std::string::npos) << message;
    EXPECT_NE(message.find("communicator_mpi_test.cpp:"), std::string::npos) << message;
    EXPECT_NE(message.find(mpi_error_string(e.code())), std::string::npos) << message;
    int error_class = 0;
    MPI_Error_class(e.code(), &error_class);
    EXPECT_EQ(error_class, MPI_ERR_COUNT) << message;
  }
}

TEST(CommunicatorMpiTest, FactoryChoosesBackendAndDuplicatesTheCommunicator) {
  const int size = world_size();
  auto comm = make_communicator("auto", MPI_COMM_WORLD, kCpu);
  EXPECT_EQ(comm->backend(), size > 1 ? "mpi" : "local");
  EXPECT_EQ(comm->size(), size);
  EXPECT_EQ(comm->rank(), world_rank());
  auto mpi = make_communicator("mpi", MPI_COMM_WORLD, kCpu, 1024);
  EXPECT_EQ(mpi->backend(), "mpi");
  EXPECT_EQ(mpi->bucket_bytes(), 1024u);
  int compare = MPI_UNEQUAL;
  MPI_Comm_compare(static_cast<MpiCommunicator&>(*mpi).comm(), MPI_COMM_WORLD, &compare);
  EXPECT_EQ(compare, MPI_CONGRUENT);
  if (size > 1) {
    const std::string message = input_error_of([] { make_communicator("local", MPI_COMM_WORLD, kCpu); });
    EXPECT_NE(message.find("has " + std::to_string(size) + " ranks"), std::string::npos) << message;
  } else {
    EXPECT_EQ(make_communicator("local", MPI_COMM_WORLD, kCpu)->backend(), "local");
  }
}

TEST(CommunicatorMpiTest, AllreduceSumOneBucketPerDtype) { check_allreduce(kDefaultBucketBytes); }

TEST(CommunicatorMpiTest, AllreduceSumWithTinyBucketsSplittingTensors) {
  check_allreduce(24);  // 6 float32 / 3 int64 / 24 int8 elements per bucket
  check_allreduce(1);   // one element per bucket
}

TEST(CommunicatorMpiTest, BucketCountAndBytesFollowBucketSize) {
  MpiCommunicator comm(MPI_COMM_WORLD, /*bucket_bytes=*/64);
  // float32 elements 10 + 30 + 5 = 45 -> buckets of 16, 16, 13; int64: 3 -> one bucket.
  std::vector<torch::Tensor> tensors{torch::ones({10}), torch::ones({3}, torch::kInt64), torch::ones({2, 15}),
                                     torch::ones({5})};
  comm.allreduce_sum(tensors);
  EXPECT_EQ(comm.stats().calls, 1);
  EXPECT_EQ(comm.stats().buckets, 4);
  EXPECT_EQ(comm.stats().bytes, 45 * 4 + 3 * 8);
  EXPECT_EQ(tensors[2].sum().item<float>(), 30.0f * world_size());
  // Half precision is summed in float32 on the wire: 8 float16 elements = 32 bytes.
  comm.reset_stats();
  std::vector<torch::Tensor> half{torch::ones({8}, torch::kFloat16)};
  comm.allreduce_sum(half);
  EXPECT_EQ(comm.stats().bytes, 32);
}

TEST(CommunicatorMpiTest, AllreduceMeanAndErrors) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD, 16);
  std::vector<torch::Tensor> tensors{rank_tensor(0, rank, {10}, torch::kFloat64),
                                     rank_tensor(1, rank, {3}, torch::kFloat32)};
  comm.allreduce_mean(tensors);
  EXPECT_TRUE(torch::allclose(tensors[0], expected_sum(0, size, {10}) / size));
  EXPECT_TRUE(torch::allclose(tensors[1].to(torch::kFloat64), expected_sum(1, size, {3}) / size));
  std::vector<torch::Tensor> integers{torch::ones({2}, torch::kInt64)};
  EXPECT_NE(input_error_of([&] { comm.allreduce_mean(integers); }).find("floating-point"), std::string::npos);
  std::vector<torch::Tensor> flags{torch::ones({2}, torch::kFloat32), torch::ones({2}, torch::kBool)};
  const std::string message = input_error_of([&] { comm.allreduce_sum(flags); });
  EXPECT_NE(message.find("tensor 1 has dtype bool"), std::string::npos) << message;
  EXPECT_EQ(flags[0].sum().item<float>(), 2.0f) << "nothing may be reduced when the list is rejected";
}

TEST(CommunicatorMpiTest, ScalarSumsAndBarrier) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD);
  EXPECT_DOUBLE_EQ(comm.allreduce_sum(rank + 0.5), size * (size - 1) / 2.0 + 0.5 * size);
  std::vector<double> values{1.0, static_cast<double>(rank), -2.0 * rank};
  comm.allreduce_sum(values);
  EXPECT_EQ(values, (std::vector<double>{1.0 * size, size * (size - 1) / 2.0, -1.0 * size * (size - 1)}));
  comm.barrier();
}

TEST(CommunicatorMpiTest, BroadcastFromEachRootAnyDtype) {
  const int rank = world_rank(), size = world_size();
  for (std::size_t bucket_bytes : {std::size_t{8}, kDefaultBucketBytes}) {
    MpiCommunicator comm(MPI_COMM_WORLD, bucket_bytes);
    for (int root = 0; root < size; ++root) {
      torch::Tensor matrix = rank_tensor(3, rank, {5, 4}, torch::kFloat64);
      std::vector<torch::Tensor> tensors{
          rank_tensor(0, rank, {13}, torch::kFloat32), matrix.t(), torch::full({3}, rank % 2 == 0, torch::kBool),
          rank_tensor(2, rank, {7}, torch::kInt64), rank_tensor(4, rank, {6}, torch::kBFloat16)};
      comm.broadcast(tensors, root);
      EXPECT_TRUE(torch::equal(tensors[0], rank_tensor(0, root, {13}, torch::kFloat32))) << "root " << root;
      EXPECT_TRUE(torch::equal(matrix, rank_tensor(3, root, {5, 4}, torch::kFloat64))) << "root " << root;
      EXPECT_TRUE(torch::equal(tensors[2], torch::full({3}, root % 2 == 0, torch::kBool))) << "root " << root;
      EXPECT_TRUE(torch::equal(tensors[3], rank_tensor(2, root, {7}, torch::kInt64))) << "root " << root;
      EXPECT_TRUE(torch::equal(tensors[4], rank_tensor(4, root, {6}, torch::kBFloat16))) << "root " << root;
    }
    std::vector<torch::Tensor> one{torch::ones({1})};
    EXPECT_NE(input_error_of([&] { comm.broadcast(one, size); }).find("outside [0, " + std::to_string(size) + ")"),
              std::string::npos);
  }
}

TEST(ShardingMpiTest, ShardsCoverItemsOnceEvenWhenFewerItemsThanRanks) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD);
  for (std::int64_t n : {std::int64_t{0}, std::int64_t{size - 1}, std::int64_t{size + 1}, std::int64_t{10}}) {
    auto [begin, end] = shard_range(n, rank, size);
    // Each rank marks its items; after the sum every item is marked exactly once.
    std::vector<torch::Tensor> marks{torch::zeros({n}, torch::kInt32)};
    if (end > begin) marks[0].narrow(0, begin, end - begin).add_(1);
    comm.allreduce_sum(marks);
    EXPECT_TRUE(torch::equal(marks[0], torch::ones({n}, torch::kInt32))) << "n=" << n;
    // The ranks' offsets from exclusive_scan of their counts are their begins.
    EXPECT_EQ(exclusive_scan(end - begin, MPI_COMM_WORLD), begin) << "n=" << n;
  }
}

TEST(ShardingMpiTest, ExclusiveScanIsZeroOnRankZero) {
  const int rank = world_rank();
  // Ranks contribute r + 1: rank r receives 1 + 2 + ... + r = r (r + 1) / 2.
  EXPECT_EQ(exclusive_scan(rank + 1, MPI_COMM_WORLD), static_cast<std::int64_t>(rank) * (rank + 1) / 2);
  EXPECT_EQ(exclusive_scan(std::int64_t{1} << 40, MPI_COMM_WORLD), rank * (std::int64_t{1} << 40));
}

// A tiny model: Linear(3 -> 2) followed by a second head that only rank 0 uses,
// and a BatchNorm whose running statistics are buffers.
struct Net : torch::nn::Module {
  Net() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    head = register_module("head", torch::nn::Linear(2, 1));
    norm = register_module("norm", torch::nn::BatchNorm1d(2));
  }
  torch::nn::Linear fc{nullptr}, head{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
};

void check_skip_sync(bool overlap);

torch::Tensor input_of(int rank) { return torch::linspace(-1.0, 1.0, 12).reshape({4, 3}) * (rank + 1) + 0.1 * rank; }

// Loss on rank r: sum of fc(x_r)^2, plus head(fc(x_r)) only on rank 0.
torch::Tensor loss_of(Net& net, int rank) {
  auto hidden = net.fc(input_of(rank));
  auto loss = hidden.pow(2).sum();
  if (rank == 0) loss = loss + net.head(hidden).sum();
  return loss;
}

TEST(GradientReducerMpiTest, BroadcastGivesRankZerosParametersAndBuffers) {
  const int rank = world_rank();
  MpiCommunicator comm(MPI_COMM_WORLD, 16);
  torch::manual_seed(100 + rank);
  Net net;
  {
    torch::NoGradGuard no_grad;
    net.norm->running_mean.fill_(rank + 0.25);
    net.norm->num_batches_tracked.fill_(10 * rank + 1);
  }
  GradientReducer reducer(net, comm, 16);
  reducer.broadcast_parameters();
  torch::manual_seed(100);
  Net reference;
  auto got = net.parameters(), want = reference.parameters();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], want[i])) << "parameter " << i;
  EXPECT_TRUE(torch::equal(net.norm->running_mean, torch::full({2}, 0.25)));
  EXPECT_EQ(net.norm->num_batches_tracked.item<std::int64_t>(), 1);
  EXPECT_TRUE(got[0].requires_grad()) << "broadcast must keep parameters trainable";
}

TEST(GradientReducerMpiTest, AverageGradientsIsTheMeanOverRanks) {
  const int rank = world_rank(), size = world_size();
  for (std::size_t bucket_bytes : {std::size_t{8}, kDefaultBucketBytes}) {
    MpiCommunicator comm(MPI_COMM_WORLD, bucket_bytes);
    torch::manual_seed(7);  // same initial parameters everywhere
    Net net;
    GradientReducer reducer(net, comm, bucket_bytes);
    // 8-byte buckets: one per trainable tensor (fc.w 24 B, fc.b 8 B, head.w 8 B,
    // head.b 4 B, norm.w 8 B, norm.b 8 B); head.b and norm.w are different sizes but
    // 4 + 8 > 8, so still six. Default: everything (all float32, CPU) in one.
    EXPECT_EQ(reducer.bucket_count(), bucket_bytes == 8 ? 6u : 1u);

    // Expected: the mean of every rank's gradient, computed here serially.
    std::vector<torch::Tensor> mean;
    for (const auto& p : net.parameters()) mean.push_back(torch::zeros_like(p));
    for (int r = 0; r < size; ++r) {
      net.zero_grad();
      loss_of(net, r).backward();
      auto params = net.parameters();
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (params[i].grad().defined()) mean[i] += params[i].grad() / size;
      }
    }
    for (auto& p : net.parameters()) p.mutable_grad() = torch::Tensor();

    loss_of(net, rank).backward();
    EXPECT_EQ(net.head->weight.grad().defined(), rank == 0);
    EXPECT_TRUE(reducer.average_gradients());
    auto params = net.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
      EXPECT_TRUE(torch::allclose(params[i].grad(), mean[i], 1e-6, 1e-6))
          << "parameter " << i << " bucket bytes " << bucket_bytes << "\n"
          << params[i].grad() << "\n"
          << mean[i];
    }
    // The head is used on rank 0 only: its mean gradient is rank 0's divided by size.
    EXPECT_FALSE(torch::equal(mean[2], torch::zeros_like(mean[2])));
    // norm is unused everywhere: zero gradient, defined on every rank.
    EXPECT_EQ(net.norm->weight.grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(GradientReducerMpiTest, SkipSyncAccumulatesLocallyThenAveragesTheSum) {
  for (bool overlap : {false, true}) {
    SCOPED_TRACE(overlap ? "overlap with backward" : "no overlap");
    check_skip_sync(overlap);
  }
}

void check_skip_sync(bool overlap) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD);
  torch::manual_seed(11);
  Net net;
  GradientReducer reducer(net, comm, kDefaultBucketBytes, overlap);
  comm.reset_stats();
  {
    GradientReducer::SkipSyncGuard no_sync(reducer);
    loss_of(net, rank).backward();
    EXPECT_FALSE(reducer.average_gradients());
  }
  EXPECT_EQ(comm.stats().calls, 0) << "skip-sync mode communicated";
  const torch::Tensor local = net.fc->bias.grad().clone();
  loss_of(net, (rank + 1) % size).backward();  // second micro-batch accumulates
  EXPECT_TRUE(reducer.average_gradients());
  const torch::Tensor averaged = net.fc->bias.grad().clone();
  // Expected: mean over ranks of g(x_r) + g(x_{r+1 mod size}) = 2 * mean_r g(x_r),
  // computed serially (in skip-sync mode, so that the hooks stay quiet).
  GradientReducer::SkipSyncGuard quiet(reducer);
  torch::Tensor expected = torch::zeros({2});
  for (int r = 0; r < size; ++r) {
    net.zero_grad();
    loss_of(net, r).backward();
    expected += 2.0 * net.fc->bias.grad() / size;
  }
  EXPECT_TRUE(torch::allclose(averaged, expected, 1e-6, 1e-6)) << averaged << expected;
  if (size > 1) {
    EXPECT_FALSE(torch::allclose(local, expected)) << "test cannot tell local from averaged gradients";
  }
}

void check_data_parallel_sgd(bool overlap) {
  // Global batch of 12 split evenly over 1, 2 or 3 ranks; 5 SGD steps on the
  // per-rank mean loss with averaged gradients must equal 5 steps on the whole
  // batch in one process (computed here on every rank).
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD, /*bucket_bytes=*/32);
  torch::manual_seed(1234);
  const torch::Tensor x = torch::randn({12, 3});
  const torch::Tensor y = torch::randn({12, 2});
  torch::manual_seed(77 + rank);  // different initial parameters: the broadcast must fix them
  torch::nn::Linear model(3, 2);
  torch::manual_seed(77);
  torch::nn::Linear serial(3, 2);
  GradientReducer reducer(*model, comm, 32, overlap);
  reducer.broadcast_parameters();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD serial_opt(serial->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto [begin, end] = shard_range(12, rank, size);
  for (int step = 0; step < 5; ++step) {
    const torch::Tensor shift = torch::full({1}, 0.1 * step);
    opt.zero_grad();
    torch::mse_loss(model(x.slice(0, begin, end) + shift), y.slice(0, begin, end)).backward();
    reducer.average_gradients();
    opt.step();
    serial_opt.zero_grad();
    torch::mse_loss(serial(x + shift), y).backward();
    serial_opt.step();
  }
  EXPECT_TRUE(torch::allclose(model->weight, serial->weight, 1e-5, 1e-6)) << model->weight << serial->weight;
  EXPECT_TRUE(torch::allclose(model->bias, serial->bias, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(serial->weight, torch::nn::Linear(3, 2)->weight)) << "the model did not train";
}

TEST(GradientReducerMpiTest, DataParallelSgdMatchesSingleProcessOnTheWholeBatch) {
  for (bool overlap : {false, true}) {
    SCOPED_TRACE(overlap ? "overlap with backward" : "no overlap");
    check_data_parallel_sgd(overlap);
  }
}

// A three-layer MLP where every parameter gets a gradient on every rank.
torch::nn::Sequential mlp() {
  return torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::Tanh(), torch::nn::Linear(8, 8), torch::nn::Tanh(),
                               torch::nn::Linear(8, 2));
}

TEST(GradientReducerMpiTest, OverlapStartsBucketsDuringBackwardWithTheSameResult) {
  const int rank = world_rank(), size = world_size();
  MpiCommunicator comm(MPI_COMM_WORLD);
  torch::manual_seed(21);
  auto plain = mlp();
  torch::manual_seed(21);
  auto overlapped = mlp();
  // 64-byte buckets, filled in reverse order: b3 (8 B) + w3 (64 B) overflows, and so
  // does every later pair, so each of the 6 parameter tensors gets its own bucket.
  GradientReducer reference(*plain, comm, 64, /*overlap_with_backward=*/false);
  GradientReducer reducer(*overlapped, comm, 64, /*overlap_with_backward=*/true);
  EXPECT_EQ(reducer.overlaps_with_backward(), size > 1);
  EXPECT_EQ(reducer.bucket_count(), 6u);
  const torch::Tensor x = torch::linspace(-2.0, 2.0, 20).reshape({5, 4}) * (rank + 1);
  for (int step = 0; step < 2; ++step) {
    plain->zero_grad();
    overlapped->zero_grad();
    plain->forward(x).pow(2).sum().backward();
    reference.average_gradients();
    overlapped->forward(x).pow(2).sum().backward();
    reducer.average_gradients();
    // All buckets complete during backward, so every one starts there.
    EXPECT_EQ(reducer.buckets_started_in_backward(), size > 1 ? 6u : 0u) << "step " << step;
    EXPECT_EQ(reference.buckets_started_in_backward(), 0u);
    auto want = plain->parameters(), got = overlapped->parameters();
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(torch::allclose(got[i].grad(), want[i].grad(), 1e-6, 1e-7)) << "parameter " << i;
    }
  }
  if (size > 1) {
    // A second backward pass without skip-sync mode is refused, on every rank alike.
    overlapped->zero_grad();
    overlapped->forward(x).sum().backward();
    try {
      overlapped->forward(x).sum().backward();
      ADD_FAILURE() << "second backward before average_gradients() was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("received a second gradient"), std::string::npos) << e.what();
    }
    reducer.average_gradients();  // completes the reductions in flight on every rank
  }
}

TEST(GradientReducerMpiTest, DifferentModelsOnRanksAreAnInputErrorEverywhere) {
  const int rank = world_rank(), size = world_size();
  if (size == 1) GTEST_SKIP() << "needs two ranks";
  MpiCommunicator comm(MPI_COMM_WORLD);
  torch::nn::Linear model(3, rank == size - 1 ? 3 : 2);
  const std::string message = input_error_of([&] { GradientReducer reducer(*model, comm); });
  EXPECT_NE(message.find("the model differs between ranks (1 of " + std::to_string(size)), std::string::npos)
      << message;
}

}  // namespace
}  // namespace irisml::distributed
