// Collective communication for data-parallel training, with the backend chosen
// at run time: "local" (one process, no-ops), "mpi" (MPI_Allreduce/MPI_Bcast on
// host memory; CUDA tensors are staged through the host) and "nccl" (one rank per
// GPU, only in builds with IRISML_WITH_NCCL).
//
// Tensors are at::Tensor, which is the same type as torch::Tensor; the header
// includes only ATen's core Tensor to keep compile times down.
//
// Every operation is collective: all ranks of the communicator call it in the
// same order with tensor lists of the same length, shapes and dtypes. Calls are
// made from the thread that initialised MPI (MPI_THREAD_FUNNELED).
#pragma once

#include <mpi.h>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace irisml::distributed {

// Default upper bound of one flat communication bucket: 25 MiB, as PyTorch DDP's
// bucket_cap_mb.
inline constexpr std::size_t kDefaultBucketBytes = std::size_t{25} << 20;

// What a communicator has sent since construction (or reset_stats()).
struct CommStats {
  std::int64_t calls = 0;    // collective API calls (allreduce_sum, broadcast, ...)
  std::int64_t buckets = 0;  // flat buckets put on the wire (MPI_Allreduce/ncclAllReduce/... calls)
  std::int64_t bytes = 0;    // payload bytes of those buckets, per rank
};

// A reduction started by Communicator::start_allreduce_sum. Reductions are
// completed in the order they were started.
class PendingReduction {
 public:
  virtual ~PendingReduction() = default;
  // Lets the reduction progress without blocking; true once it has completed.
  virtual bool test() { return true; }
  // Blocks until the reduction has completed (the tensor then holds the sum).
  virtual void wait() {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  std::size_t bucket_bytes() const noexcept { return bucket_bytes_; }
  // "local", "mpi" or "nccl".
  virtual std::string backend() const = 0;

  // In place: every tensor becomes the element-wise sum of that tensor over all
  // ranks. Tensors of the same dtype are packed into flat buckets of at most
  // bucket_bytes() and reduced with one collective per bucket (a tensor larger than
  // a bucket is split over several). Tensors may be non-contiguous. Supported
  // dtypes: float32/64, float16 and bfloat16 (summed in float32 by MPI), and the
  // integer types int8, uint8, int16, int32, int64; bool and complex throw InputError.
  virtual void allreduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // allreduce_sum, then divides by size(). Floating-point tensors only.
  void allreduce_mean(std::vector<at::Tensor>& tensors);
  // In place: every tensor takes the value it has on `root`. Any dtype.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  // Starts summing one tensor in place over all ranks, as one collective (no
  // bucketing), and returns without waiting where the backend can: MPI uses
  // MPI_Iallreduce for contiguous CPU tensors of an MPI dtype. Elsewhere the sum is
  // done before returning (NCCL enqueues it on the current stream, which is
  // already asynchronous to the host). The tensor must stay alive and untouched
  // until the returned reduction completes; all ranks start their reductions in
  // the same order.
  virtual std::unique_ptr<PendingReduction> start_allreduce_sum(const at::Tensor& tensor);
  // Sums of host scalars (metrics), in one collective.
  virtual double allreduce_sum(double value) = 0;
  virtual void allreduce_sum(std::vector<double>& values) = 0;
  virtual void barrier() = 0;

  const CommStats& stats() const noexcept { return stats_; }
  void reset_stats() noexcept { stats_ = CommStats{}; }

 protected:
  Communicator(int rank, int size, std::size_t bucket_bytes);
  // Throws InputError unless 0 <= root < size().
  void check_root(int root, const char* operation) const;

  CommStats stats_;

 private:
  int rank_;
  int size_;
  std::size_t bucket_bytes_;
};

// One process: reductions and broadcasts leave tensors unchanged.
class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(std::size_t bucket_bytes = kDefaultBucketBytes);
  std::string backend() const override { return "local"; }
  void allreduce_sum(std::vector<at::Tensor>& tensors) override;
  void broadcast(std::vector<at::Tensor>& tensors, int root) override;
  double allreduce_sum(double value) override;
  void allreduce_sum(std::vector<double>& values) override;
  void barrier() override { ++stats_.calls; }
};

// True if this build has the NCCL backend (compiled with IRISML_WITH_NCCL).
bool built_with_nccl() noexcept;

// Creates the communicator for `backend`:
//   "local" one process; throws InputError if `comm` has more than one rank
//           (`comm` may be MPI_COMM_NULL, and MPI need not be initialised);
//   "mpi"   MPI on a duplicate of `comm` (with MPI_ERRORS_RETURN);
//   "nccl"  NCCL on `device` (CUDA), bootstrapped over `comm`; in a build without
//           NCCL throws InputError asking for -DIRISML_WITH_CUDA=ON;
//   "auto"  nccl if built with it and `device` is CUDA, else mpi if `comm` has more
//           than one rank, else local.
// Collective over `comm` for "mpi", "nccl" and "auto". bucket_bytes must be > 0.
std::unique_ptr<Communicator> make_communicator(const std::string& backend, MPI_Comm comm, c10::Device device,
                                                std::size_t bucket_bytes = kDefaultBucketBytes);

}  // namespace irisml::distributed
