// The MPI backend of Communicator: host-memory MPI_Allreduce / MPI_Bcast over a
// private duplicate of the given communicator. CUDA tensors are packed on their
// device, copied to (pinned) host buffers, reduced, and copied back, so it needs no
// CUDA-aware MPI.
#pragma once

#include <mpi.h>

#include "distributed/bucketing.hpp"
#include "distributed/communicator.hpp"

namespace irisml::distributed {

class MpiCommunicator final : public Communicator {
 public:
  // Collective over `comm` (MPI_Comm_dup). Throws MpiError on failure.
  MpiCommunicator(MPI_Comm comm, std::size_t bucket_bytes = kDefaultBucketBytes);
  ~MpiCommunicator() override;

  std::string backend() const override { return "mpi"; }
  void allreduce_sum(std::vector<at::Tensor>& tensors) override;
  void broadcast(std::vector<at::Tensor>& tensors, int root) override;
  // MPI_Iallreduce for a contiguous CPU tensor of an MPI dtype (float32/64,
  // int8/16/32/64, uint8) with at most INT_MAX elements; otherwise synchronous.
  std::unique_ptr<PendingReduction> start_allreduce_sum(const at::Tensor& tensor) override;
  double allreduce_sum(double value) override;
  void allreduce_sum(std::vector<double>& values) override;
  void barrier() override;

  // The private communicator (MPI_ERRORS_RETURN set).
  MPI_Comm comm() const noexcept { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  detail::ScratchBuffers scratch_;
};

}  // namespace irisml::distributed
