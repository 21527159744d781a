// Serial tests (no mpiexec): the local backend, the factory's choices and
// errors, shard_range, bucket planning and GradientReducer with one rank.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mpi.h>

#include <string>

#include "core/error.hpp"
#include "distributed/bucketing.hpp"
#include "distributed/communicator.hpp"
#include "distributed/environment.hpp"
#include "distributed/gradient_reducer.hpp"

namespace irisml::distributed {
namespace {

const c10::Device kCpu(c10::DeviceType::CPU);

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError thrown>";
}

TEST(CommunicatorFactoryTest, NcclWithoutNcclBuildIsAnInputError) {
  if (built_with_nccl()) GTEST_SKIP() << "this build has NCCL";
  const std::string message = message_of([] { make_communicator("nccl", MPI_COMM_NULL, kCpu); });
  EXPECT_NE(message.find("lacks NCCL"), std::string::npos) << message;
  EXPECT_NE(message.find("-DIRISML_WITH_CUDA=ON"), std::string::npos) << message;
}

TEST(CommunicatorFactoryTest, UnknownBackendNamesAllowedOnes) {
  const std::string message = message_of([] { make_communicator("gloo", MPI_COMM_NULL, kCpu); });
  EXPECT_NE(message.find("'gloo'"), std::string::npos) << message;
  EXPECT_NE(message.find("auto, local, mpi, nccl"), std::string::npos) << message;
}

TEST(CommunicatorFactoryTest, ZeroBucketBytesIsRejected) {
  const std::string message = message_of([] { make_communicator("local", MPI_COMM_NULL, kCpu, 0); });
  EXPECT_NE(message.find("0 bytes"), std::string::npos) << message;
}

TEST(CommunicatorFactoryTest, AutoWithoutMpiIsLocal) {
  // This executable never initialises MPI: "auto" must not call into it.
  auto comm = make_communicator("auto", MPI_COMM_WORLD, kCpu);
  EXPECT_EQ(comm->backend(), "local");
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->bucket_bytes(), kDefaultBucketBytes);
  EXPECT_EQ(kDefaultBucketBytes, 25u * 1024u * 1024u);
}

TEST(CommunicatorFactoryTest, MpiBackendWithoutMpiIsAnInputError) {
  const std::string message = message_of([] { make_communicator("mpi", MPI_COMM_NULL, kCpu); });
  EXPECT_NE(message.find("initialised MPI"), std::string::npos) << message;
}

TEST(LocalCommunicatorTest, OperationsLeaveValuesUnchanged) {
  auto comm = make_communicator("local", MPI_COMM_NULL, kCpu);
  std::vector<torch::Tensor> tensors{torch::arange(5, torch::kFloat32), torch::full({2, 3}, 7, torch::kInt64)};
  comm->allreduce_sum(tensors);
  EXPECT_TRUE(torch::equal(tensors[0], torch::arange(5, torch::kFloat32)));
  std::vector<torch::Tensor> floats{torch::arange(5, torch::kFloat32)};
  comm->allreduce_mean(floats);
  EXPECT_TRUE(torch::equal(floats[0], torch::arange(5, torch::kFloat32)));
  comm->broadcast(tensors, 0);
  EXPECT_TRUE(torch::equal(tensors[0], torch::arange(5, torch::kFloat32)));
  EXPECT_DOUBLE_EQ(comm->allreduce_sum(2.5), 2.5);
  std::vector<double> values{1.0, -3.0};
  comm->allreduce_sum(values);
  EXPECT_EQ(values, (std::vector<double>{1.0, -3.0}));
  comm->barrier();
  EXPECT_EQ(comm->stats().calls, 6);
  EXPECT_EQ(comm->stats().buckets, 0);
}

TEST(LocalCommunicatorTest, BadRootAndIntegerMeanAreInputErrors) {
  LocalCommunicator comm;
  std::vector<torch::Tensor> tensors{torch::ones({3}, torch::kInt32)};
  EXPECT_NE(message_of([&] { comm.broadcast(tensors, 1); }).find("root rank 1 is outside [0, 1)"), std::string::npos);
  EXPECT_NE(message_of([&] { comm.allreduce_mean(tensors); }).find("dtype int32"), std::string::npos);
  std::vector<torch::Tensor> undefined{torch::Tensor()};
  EXPECT_NE(message_of([&] { comm.allreduce_sum(undefined); }).find("tensor 0 of 1"), std::string::npos);
}

TEST(ShardRangeTest, EvenSplitWithRemainderOnFirstRanks) {
  EXPECT_EQ(shard_range(10, 0, 3), (std::pair<std::int64_t, std::int64_t>{0, 4}));
  EXPECT_EQ(shard_range(10, 1, 3), (std::pair<std::int64_t, std::int64_t>{4, 7}));
  EXPECT_EQ(shard_range(10, 2, 3), (std::pair<std::int64_t, std::int64_t>{7, 10}));
  EXPECT_EQ(shard_range(2, 2, 5), (std::pair<std::int64_t, std::int64_t>{2, 2}));
  EXPECT_EQ(shard_range(0, 0, 1), (std::pair<std::int64_t, std::int64_t>{0, 0}));
}

TEST(ShardRangeTest, RangesTileEveryCountExactlyOnce) {
  for (std::int64_t n = 0; n <= 17; ++n) {
    for (int size = 1; size <= 6; ++size) {
      std::int64_t next = 0;
      std::int64_t smallest = n, largest = 0;
      for (int rank = 0; rank < size; ++rank) {
        auto [begin, end] = shard_range(n, rank, size);
        EXPECT_EQ(begin, next) << "n=" << n << " size=" << size << " rank=" << rank;
        EXPECT_LE(begin, end);
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
        next = end;
      }
      EXPECT_EQ(next, n) << "n=" << n << " size=" << size;
      EXPECT_LE(largest - smallest, 1) << "n=" << n << " size=" << size;
    }
  }
}

TEST(ShardRangeTest, BadArgumentsAreInputErrors) {
  EXPECT_THROW(shard_range(-1, 0, 1), InputError);
  EXPECT_THROW(shard_range(5, 0, 0), InputError);
  EXPECT_THROW(shard_range(5, 3, 3), InputError);
  EXPECT_THROW(shard_range(5, -1, 3), InputError);
}

TEST(BucketPlanTest, SplitsTensorsAcrossBucketsAndGroupsByDtype) {
  std::vector<torch::Tensor> tensors{torch::zeros({10}), torch::zeros({3}, torch::kInt64), torch::zeros({2, 15}),
                                     torch::zeros({5})};
  auto same = [](c10::ScalarType dtype, std::size_t) { return dtype; };
  // 64 bytes = 16 float32 or 8 int64 elements.
  const auto buckets = detail::plan_buckets(tensors, 64, 1 << 30, same);
  ASSERT_EQ(buckets.size(), 4u);  // float32: 45 elements -> 16 + 16 + 13; int64: 3
  EXPECT_EQ(buckets[0].numel, 16);
  ASSERT_EQ(buckets[0].segments.size(), 2u);
  EXPECT_EQ(buckets[0].segments[1].tensor, 2u);  // tensor 2 starts inside the first bucket...
  EXPECT_EQ(buckets[0].segments[1].count, 6);
  EXPECT_EQ(buckets[1].segments[0].offset, 6);  // ...and continues in the second
  EXPECT_EQ(buckets[1].numel, 16);
  EXPECT_EQ(buckets[2].numel, 13);
  EXPECT_EQ(buckets[2].segments.back().tensor, 3u);
  EXPECT_EQ(buckets[3].wire_dtype, c10::ScalarType::Long);
  EXPECT_EQ(buckets[3].numel, 3);
  // max_elements caps a bucket below bucket_bytes.
  EXPECT_EQ(detail::plan_buckets(tensors, 1 << 20, 7, same).size(), 7u + 1u);
}

TEST(GradientReducerTest, SingleRankDefinesMissingGradientsAndSkipsSync) {
  torch::manual_seed(3);
  torch::nn::Linear used(3, 2), unused(2, 2);
  std::vector<torch::Tensor> parameters = used->parameters();
  for (const auto& p : unused->parameters()) parameters.push_back(p);
  LocalCommunicator comm;
  GradientReducer reducer(parameters, {}, comm, /*bucket_bytes=*/16);
  // Reverse order, one dtype, 16-byte buckets: unused.bias (8 B), unused.weight (16 B),
  // used.bias (8 B), used.weight (24 B) -> four buckets, the first holding index 3 only.
  ASSERT_EQ(reducer.bucket_count(), 4u);
  EXPECT_EQ(reducer.bucket_parameters().front(), std::vector<std::size_t>{3});
  EXPECT_EQ(reducer.trainable_numel(), 6 + 2 + 4 + 2);

  used(torch::ones({4, 3})).sum().backward();
  const torch::Tensor bias_grad = used->bias.grad().clone();
  EXPECT_TRUE(torch::allclose(bias_grad, torch::full({2}, 4.0)));
  {
    GradientReducer::SkipSyncGuard guard(reducer);
    EXPECT_FALSE(reducer.average_gradients());
    EXPECT_FALSE(unused->weight.grad().defined());
  }
  EXPECT_FALSE(reducer.skip_sync());
  EXPECT_TRUE(reducer.average_gradients());
  ASSERT_TRUE(unused->weight.grad().defined());
  EXPECT_EQ(unused->weight.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(used->bias.grad(), bias_grad));
}

TEST(GradientReducerTest, ModuleConstructorTakesParametersAndBuffers) {
  torch::nn::BatchNorm1d norm(4);
  LocalCommunicator comm;
  GradientReducer reducer(*norm, comm);
  EXPECT_EQ(reducer.trainable_count(), 2u);  // weight and bias; running stats are buffers
  EXPECT_EQ(reducer.bucket_count(), 1u);
  reducer.broadcast_parameters();
  EXPECT_THROW(reducer.broadcast_parameters(1), InputError);
}

TEST(MpiEnvironmentTest, InitialisesAndFinalisesWhenOwner) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  ASSERT_FALSE(initialized) << "serial tests run without MPI";
  {
    MpiEnvironment env;
    EXPECT_TRUE(env.owns_mpi());
    EXPECT_EQ(env.size(), 1);
    EXPECT_EQ(env.rank(), 0);
    EXPECT_EQ(env.local_rank(), 0);
    EXPECT_EQ(env.local_size(), 1);
    EXPECT_GE(env.thread_level(), MPI_THREAD_FUNNELED);
    EXPECT_EQ(exclusive_scan(41, env.comm()), 0);
    auto comm = make_communicator("auto", env.comm(), kCpu);
    EXPECT_EQ(comm->backend(), "local");
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  EXPECT_TRUE(finalized);
  EXPECT_THROW(MpiEnvironment(), Error);
}

}  // namespace
}  // namespace irisml::distributed
