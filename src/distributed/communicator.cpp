#include "distributed/communicator.hpp"

#include <ATen/ATen.h>

#include "core/error.hpp"
#include "distributed/bucketing.hpp"
#include "distributed/mpi_check.hpp"
#include "distributed/mpi_communicator.hpp"
#ifdef IRISML_WITH_NCCL
#include "distributed/nccl_communicator.hpp"
#endif

namespace irisml::distributed {

Communicator::Communicator(int rank, int size, std::size_t bucket_bytes)
    : rank_(rank), size_(size), bucket_bytes_(bucket_bytes) {
  if (bucket_bytes == 0) fail_input("communicator bucket size is 0 bytes; it must be at least 1 (default 25 MiB)");
}

void Communicator::check_root(int root, const char* operation) const {
  if (root < 0 || root >= size_) fail_input("{}: root rank {} is outside [0, {})", operation, root, size_);
}

void Communicator::allreduce_mean(std::vector<at::Tensor>& tensors) {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].defined() && !at::isFloatingType(tensors[i].scalar_type())) {
      fail_input(
          "allreduce_mean: tensor {} has dtype {}; a mean needs a floating-point dtype (float32, float64, "
          "float16, bfloat16)",
          i, detail::dtype_name(tensors[i].scalar_type()));
    }
  }
  allreduce_sum(tensors);
  if (size_ == 1) return;
  at::NoGradGuard no_grad;
  for (at::Tensor& t : tensors) t.div_(static_cast<double>(size_));
}

std::unique_ptr<PendingReduction> Communicator::start_allreduce_sum(const at::Tensor& tensor) {
  std::vector<at::Tensor> list{tensor};
  allreduce_sum(list);
  return std::make_unique<PendingReduction>();
}

LocalCommunicator::LocalCommunicator(std::size_t bucket_bytes) : Communicator(0, 1, bucket_bytes) {}

void LocalCommunicator::allreduce_sum(std::vector<at::Tensor>& tensors) {
  ++stats_.calls;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) fail_input("communicator: tensor {} of {} in the list is undefined", i, tensors.size());
  }
}

void LocalCommunicator::broadcast(std::vector<at::Tensor>& tensors, int root) {
  check_root(root, "broadcast (local)");
  ++stats_.calls;
}

double LocalCommunicator::allreduce_sum(double value) {
  ++stats_.calls;
  return value;
}

void LocalCommunicator::allreduce_sum(std::vector<double>& values) { ++stats_.calls; }

bool built_with_nccl() noexcept {
#ifdef IRISML_WITH_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

bool mpi_active() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

int comm_size(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL || !mpi_active()) return 1;
  int size = 1;
  IRISML_MPI_CHECK(MPI_Comm_size(comm, &size));
  return size;
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const std::string& backend, MPI_Comm comm, c10::Device device,
                                                std::size_t bucket_bytes) {
  if (backend != "auto" && backend != "local" && backend != "mpi" && backend != "nccl") {
    fail_input("communicator backend '{}' is unknown; allowed: auto, local, mpi, nccl", backend);
  }
  if (bucket_bytes == 0) fail_input("communicator bucket size is 0 bytes; it must be at least 1 (default 25 MiB)");
  if (backend == "nccl" && !built_with_nccl()) {
    fail_input(
        "communicator backend 'nccl' was requested, but this build of irisml lacks NCCL; rebuild with "
        "-DIRISML_WITH_CUDA=ON (LibTorch with CUDA and NCCL), or use backend 'mpi' or 'auto'");
  }
  std::string chosen = backend;
  if (backend == "auto") {
    if (built_with_nccl() && device.is_cuda()) {
      chosen = "nccl";
    } else {
      chosen = comm_size(comm) > 1 ? "mpi" : "local";
    }
  }
  if (chosen == "local") {
    const int size = comm_size(comm);
    if (size > 1) {
      fail_input(
          "communicator backend 'local' serves one process, but the MPI communicator has {} ranks; use "
          "'mpi', 'nccl' or 'auto'",
          size);
    }
    return std::make_unique<LocalCommunicator>(bucket_bytes);
  }
  if (comm == MPI_COMM_NULL || !mpi_active()) {
    fail_input("communicator backend '{}' needs an initialised MPI and a communicator (got {})", chosen,
               comm == MPI_COMM_NULL ? "MPI_COMM_NULL" : "MPI not initialised");
  }
  if (chosen == "mpi") return std::make_unique<MpiCommunicator>(comm, bucket_bytes);
#ifdef IRISML_WITH_NCCL
  return std::make_unique<NcclCommunicator>(comm, device, bucket_bytes);
#else
  fail_input("communicator backend 'nccl' is not available in this build");
#endif
}

}  // namespace irisml::distributed
