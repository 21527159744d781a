// GPU paths: NCCL at one rank (and across ranks when each has its own GPU) and
// the MPI backend with CUDA tensors staged through host memory. Compiled in every
// build; each test calls GTEST_SKIP() where CUDA (or NCCL) is missing.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <string>

#include "distributed/communicator.hpp"
#include "distributed/environment.hpp"
#include "distributed/gradient_reducer.hpp"
#include "test_tensors.hpp"

namespace irisml::distributed {
namespace {

using namespace irisml::distributed::test_support;

// This rank's GPU: cuda:(local rank % GPU count).
torch::Device my_gpu() {
  MpiEnvironment env;  // attaches; gives the node-local rank
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank() % torch::cuda::device_count()));
}

// Checks allreduce_sum, allreduce_mean and broadcast of CUDA tensors on `comm`,
// whose ranks are `rank` of `size`.
void check_cuda_collectives(Communicator& comm, torch::Device device) {
  const int rank = comm.rank(), size = comm.size();
  std::vector<torch::Tensor> tensors;
  for (std::size_t k = 0; k < tensor_cases().size(); ++k) {
    tensors.push_back(rank_tensor(static_cast<int>(k), rank, tensor_cases()[k].shape, tensor_cases()[k].dtype, device));
  }
  torch::Tensor base = rank_tensor(99, rank, {4, 6}, torch::kFloat32, device);
  tensors.push_back(base.t());
  comm.allreduce_sum(tensors);
  for (std::size_t k = 0; k < tensor_cases().size(); ++k) {
    EXPECT_EQ(tensors[k].device(), device) << "tensor " << k;
    EXPECT_TRUE(torch::equal(tensors[k].cpu().to(torch::kFloat64),
                             expected_sum(static_cast<int>(k), size, tensor_cases()[k].shape)))
        << comm.backend() << ": tensor " << k << " (" << tensor_cases()[k].dtype << "), buckets of "
        << comm.bucket_bytes() << " bytes";
  }
  EXPECT_TRUE(torch::equal(base.cpu().to(torch::kFloat64), expected_sum(99, size, {4, 6})));

  std::vector<torch::Tensor> means{rank_tensor(0, rank, {10}, torch::kFloat32, device)};
  comm.allreduce_mean(means);
  EXPECT_TRUE(torch::allclose(means[0].cpu().to(torch::kFloat64), expected_sum(0, size, {10}) / size));

  const int root = size - 1;
  std::vector<torch::Tensor> cast{rank_tensor(1, rank, {13}, torch::kFloat32, device),
                                  torch::full({3}, rank % 2 == 0, torch::TensorOptions(torch::kBool).device(device)),
                                  rank_tensor(2, rank, {7}, torch::kInt64, device)};
  comm.broadcast(cast, root);
  EXPECT_TRUE(torch::equal(cast[0].cpu(), rank_tensor(1, root, {13}, torch::kFloat32)));
  EXPECT_TRUE(torch::equal(cast[1].cpu(), torch::full({3}, root % 2 == 0, torch::kBool)));
  EXPECT_TRUE(torch::equal(cast[2].cpu(), rank_tensor(2, root, {7}, torch::kInt64)));
  EXPECT_DOUBLE_EQ(comm.allreduce_sum(1.5), 1.5 * size);
  comm.barrier();
}

TEST(NcclGpuMpiTest, OneRankOnEachProcessesOwnCommunicator) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!built_with_nccl()) GTEST_SKIP() << "built without NCCL";
  // MPI_COMM_SELF: a one-rank NCCL communicator per process, valid even when
  // several test ranks share one GPU.
  const torch::Device device = my_gpu();
  for (std::size_t bucket_bytes : {std::size_t{24}, kDefaultBucketBytes}) {
    auto comm = make_communicator("nccl", MPI_COMM_SELF, device, bucket_bytes);
    EXPECT_EQ(comm->backend(), "nccl");
    EXPECT_EQ(comm->size(), 1);
    check_cuda_collectives(*comm, device);
  }
  EXPECT_EQ(make_communicator("auto", MPI_COMM_SELF, device)->backend(), "nccl");
}

TEST(NcclGpuMpiTest, AllRanksWhenEachRankHasItsOwnGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!built_with_nccl()) GTEST_SKIP() << "built without NCCL";
  const int size = world_size();
  if (size < 2 || torch::cuda::device_count() < static_cast<std::size_t>(size)) {
    GTEST_SKIP() << "needs one GPU per rank and at least two ranks";
  }
  const torch::Device device = my_gpu();
  for (std::size_t bucket_bytes : {std::size_t{24}, kDefaultBucketBytes}) {
    auto comm = make_communicator("nccl", MPI_COMM_WORLD, device, bucket_bytes);
    check_cuda_collectives(*comm, device);
  }
}

TEST(MpiCudaGpuMpiTest, CudaTensorsAreStagedThroughHostMemory) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device device = my_gpu();
  for (std::size_t bucket_bytes : {std::size_t{24}, kDefaultBucketBytes}) {
    auto comm = make_communicator("mpi", MPI_COMM_WORLD, device, bucket_bytes);
    EXPECT_EQ(comm->backend(), "mpi");
    check_cuda_collectives(*comm, device);
  }
}

TEST(MpiCudaGpuMpiTest, GradientReducerAveragesCudaGradients) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const int rank = world_rank(), size = world_size();
  const torch::Device device = my_gpu();
  const std::string backend =
      built_with_nccl() && torch::cuda::device_count() >= static_cast<std::size_t>(size) ? "auto" : "mpi";
  auto comm = make_communicator(backend, MPI_COMM_WORLD, device, 16);
  torch::manual_seed(5 + rank);
  torch::nn::Linear model(3, 2);
  model->to(device);
  GradientReducer reducer(*model, *comm, 16);
  reducer.broadcast_parameters();
  torch::manual_seed(5);
  torch::nn::Linear reference(3, 2);
  EXPECT_TRUE(torch::equal(model->weight.cpu(), reference->weight));
  auto x_of = [&](int r) { return torch::linspace(-1.0, 1.0, 6).reshape({2, 3}) * (r + 1); };
  // Expected mean gradient of sum(model(x_r)^2) over ranks, computed on the CPU.
  torch::Tensor expected = torch::zeros_like(reference->weight);
  for (int r = 0; r < size; ++r) {
    reference->zero_grad();
    reference(x_of(r)).pow(2).sum().backward();
    expected += reference->weight.grad() / size;
  }
  model(x_of(rank).to(device)).pow(2).sum().backward();
  reducer.average_gradients();
  EXPECT_TRUE(torch::allclose(model->weight.grad().cpu(), expected, 1e-5, 1e-6)) << comm->backend() << "\n"
                                                                                 << model->weight.grad() << "\n"
                                                                                 << expected;
}

}  // namespace
}  // namespace irisml::distributed
