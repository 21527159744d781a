// The NCCL backend of Communicator (only in builds with IRISML_WITH_NCCL): one
// rank per GPU; the ncclUniqueId is made on rank 0 and sent to the others with
// MPI_Bcast; collectives run on the current CUDA stream of the communicator's
// device (c10::cuda::getCurrentCUDAStream), so they are ordered after the kernels
// that produced the tensors and before those that consume them, without a host
// synchronisation. Host scalars, barriers and CPU tensors go over MPI.
#pragma once

#ifdef IRISML_WITH_NCCL

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <memory>

#include "distributed/bucketing.hpp"
#include "distributed/communicator.hpp"
#include "distributed/mpi_communicator.hpp"

namespace irisml::distributed {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `comm`. `device` must be a CUDA device (an index of -1 means
  // the current device); every rank uses its own GPU.
  NcclCommunicator(MPI_Comm comm, c10::Device device, std::size_t bucket_bytes = kDefaultBucketBytes);
  ~NcclCommunicator() override;

  std::string backend() const override { return "nccl"; }
  // CUDA tensors must be on device(); CPU tensors in the list go over MPI.
  void allreduce_sum(std::vector<at::Tensor>& tensors) override;
  void broadcast(std::vector<at::Tensor>& tensors, int root) override;
  double allreduce_sum(double value) override;
  void allreduce_sum(std::vector<double>& values) override;
  // Waits for the device's current stream, then MPI_Barrier.
  void barrier() override;

  c10::Device device() const noexcept { return device_; }

 private:
  // Splits `tensors` into those on device_ (returned) and CPU ones (into `host`);
  // throws InputError for tensors on another GPU.
  std::vector<std::size_t> partition(const std::vector<at::Tensor>& tensors, std::vector<std::size_t>& host,
                                     const char* operation) const;
  // Scratch buffers are reused between calls; if the caller switched streams,
  // waits for the previous stream before they are touched on the new one.
  void sync_previous_stream(cudaStream_t stream);

  c10::Device device_;
  std::unique_ptr<MpiCommunicator> host_;  // scalars, barrier, CPU tensors
  ncclComm_t nccl_ = nullptr;
  detail::ScratchBuffers scratch_;
  cudaStream_t last_stream_ = nullptr;
};

}  // namespace irisml::distributed

#endif  // IRISML_WITH_NCCL
