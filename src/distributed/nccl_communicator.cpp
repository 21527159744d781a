// NCCL backend; compiled to nothing unless IRISML_WITH_NCCL is defined, so the
// CPU build never sees CUDA or NCCL headers.
#ifdef IRISML_WITH_NCCL

#include "distributed/nccl_communicator.hpp"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/log.hpp"
#include "distributed/collectives.hpp"
#include "distributed/mpi_check.hpp"
#include "distributed/nccl_check.hpp"

namespace irisml::distributed {

// --- check helpers -------------------------------------------------------------

std::string nccl_failure_message(ncclResult_t result, const char* expression, const char* file, int line) {
  std::string message = fmt::format("NCCL call `{}` failed at {}:{}: {} (ncclResult_t {})", expression, file, line,
                                    ncclGetErrorString(result), static_cast<int>(result));
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* detail = ncclGetLastError(nullptr);
  if (detail != nullptr && detail[0] != '\0') message += fmt::format("; last NCCL error: {}", detail);
#endif
  return message;
}

void throw_nccl_error(ncclResult_t result, const char* expression, const char* file, int line) {
  throw NcclError(nccl_failure_message(result, expression, file, line), result);
}

void print_nccl_error(ncclResult_t result, const char* expression, const char* file, int line) noexcept {
  try {
    log::warn("{}", nccl_failure_message(result, expression, file, line));
  } catch (...) {
  }
}

std::string cuda_failure_message(cudaError_t error, const char* expression, const char* file, int line) {
  return fmt::format("CUDA call `{}` failed at {}:{}: {} ({})", expression, file, line, cudaGetErrorString(error),
                     cudaGetErrorName(error));
}

void throw_cuda_error(cudaError_t error, const char* expression, const char* file, int line) {
  throw Error(cuda_failure_message(error, expression, file, line));
}

namespace {

c10::Device resolve_device(c10::Device device) {
  if (!device.is_cuda()) {
    fail_input("communicator backend 'nccl' needs a CUDA device, got '{}'; use device cuda (or backend 'mpi')",
               device.str());
  }
  const int count = static_cast<int>(c10::cuda::device_count());
  if (count == 0) fail_input("communicator backend 'nccl': no CUDA device is visible to this process");
  const int index = device.has_index() ? device.index() : static_cast<int>(c10::cuda::current_device());
  if (index < 0 || index >= count) {
    fail_input("communicator backend 'nccl': device cuda:{} does not exist; this process sees {} GPU(s)", index, count);
  }
  return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
}

c10::ScalarType nccl_sum_wire_dtype(c10::ScalarType dtype, std::size_t index) {
  switch (dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Double:
    case c10::ScalarType::Half:
    case c10::ScalarType::Char:
    case c10::ScalarType::Byte:
    case c10::ScalarType::Int:
    case c10::ScalarType::Long: return dtype;
    case c10::ScalarType::Short: return c10::ScalarType::Int;
#if defined(__CUDA_BF16_TYPES_EXIST__)
    case c10::ScalarType::BFloat16: return dtype;
#else
    case c10::ScalarType::BFloat16: return c10::ScalarType::Float;
#endif
    default:
      fail_input(
          "allreduce_sum (nccl): tensor {} has dtype {}, which cannot be summed; allowed: float32, "
          "float64, float16, bfloat16, int8, uint8, int16, int32, int64",
          index, detail::dtype_name(dtype));
  }
}

ncclDataType_t nccl_type(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return ncclFloat32;
    case c10::ScalarType::Double: return ncclFloat64;
    case c10::ScalarType::Half: return ncclFloat16;
#if defined(__CUDA_BF16_TYPES_EXIST__)
    case c10::ScalarType::BFloat16: return ncclBfloat16;
#endif
    case c10::ScalarType::Char: return ncclInt8;
    case c10::ScalarType::Byte: return ncclUint8;
    case c10::ScalarType::Int: return ncclInt32;
    case c10::ScalarType::Long: return ncclInt64;
    default: throw Error(fmt::format("NCCL communicator: no NCCL datatype for wire dtype {}", c10::toString(dtype)));
  }
}

std::vector<at::Tensor> pick(const std::vector<at::Tensor>& tensors, const std::vector<std::size_t>& indices) {
  std::vector<at::Tensor> picked;
  picked.reserve(indices.size());
  for (std::size_t i : indices) picked.push_back(tensors[i]);  // handles share storage: in-place edits reach the caller
  return picked;
}

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm comm, c10::Device device, std::size_t bucket_bytes)
    : Communicator(distributed::rank_of(comm), distributed::size_of(comm), bucket_bytes),
      device_(resolve_device(device)),
      host_(std::make_unique<MpiCommunicator>(comm, bucket_bytes)) {
  // Rank 0 makes the unique id and sends it, with a success flag so that the
  // other ranks fail cleanly instead of waiting if it could not.
  std::vector<char> message(1 + sizeof(ncclUniqueId), 0);
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  ncclResult_t id_result = ncclSuccess;
  if (rank() == 0) {
    id_result = ncclGetUniqueId(&id);
    message[0] = id_result == ncclSuccess ? 1 : 0;
    std::memcpy(message.data() + 1, &id, sizeof(id));
  }
  IRISML_MPI_CHECK(MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_BYTE, 0, host_->comm()));
  if (message[0] == 0) {
    if (rank() == 0) throw_nccl_error(id_result, "ncclGetUniqueId(&id)", __FILE__, __LINE__);
    throw Error("NCCL communicator: rank 0 could not create the ncclUniqueId (see its error message)");
  }
  std::memcpy(&id, message.data() + 1, sizeof(id));
  c10::cuda::CUDAGuard guard(device_);
  IRISML_NCCL_CHECK(ncclCommInitRank(&nccl_, size(), id, rank()));
}

NcclCommunicator::~NcclCommunicator() {
  if (nccl_ != nullptr) IRISML_NCCL_CHECK_PRINT(ncclCommDestroy(nccl_));
}

std::vector<std::size_t> NcclCommunicator::partition(const std::vector<at::Tensor>& tensors,
                                                     std::vector<std::size_t>& host, const char* operation) const {
  std::vector<std::size_t> on_device;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    if (!t.defined()) fail_input("{}: tensor {} of {} in the list is undefined", operation, i, tensors.size());
    if (t.device() == device_) {
      on_device.push_back(i);
    } else if (t.device().is_cpu()) {
      host.push_back(i);
    } else {
      fail_input("{}: tensor {} is on {}, but this rank's NCCL communicator is on {}", operation, i, t.device().str(),
                 device_.str());
    }
  }
  return on_device;
}

void NcclCommunicator::sync_previous_stream(cudaStream_t stream) {
  // Scratch buffers are reused between calls; if the caller switched streams, the
  // previous call's copies on the old stream must finish before they are reused.
  if (last_stream_ != nullptr && last_stream_ != stream) IRISML_CUDA_CHECK(cudaStreamSynchronize(last_stream_));
  last_stream_ = stream;
}

void NcclCommunicator::allreduce_sum(std::vector<at::Tensor>& tensors) {
  ++stats_.calls;
  std::vector<std::size_t> host;
  const std::vector<std::size_t> device = partition(tensors, host, "allreduce_sum (nccl)");
  if (!device.empty()) {
    std::vector<at::Tensor> list = pick(tensors, device);
    const auto buckets =
        detail::plan_buckets(list, bucket_bytes(), std::numeric_limits<std::int64_t>::max(), nccl_sum_wire_dtype);
    c10::cuda::CUDAGuard guard(device_);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
    sync_previous_stream(stream);
    detail::run_buckets(
        list, buckets, std::nullopt, /*pack=*/true, /*write_back=*/true, scratch_,
        [&](at::Tensor& flat, const detail::Bucket& b) {
          IRISML_NCCL_CHECK(ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<std::size_t>(b.numel),
                                          nccl_type(b.wire_dtype), ncclSum, nccl_, stream));
          ++stats_.buckets;
          stats_.bytes += flat.nbytes();
        });
  }
  if (!host.empty()) {
    std::vector<at::Tensor> list = pick(tensors, host);
    host_->allreduce_sum(list);
  }
}

void NcclCommunicator::broadcast(std::vector<at::Tensor>& tensors, int root) {
  check_root(root, "broadcast (nccl)");
  ++stats_.calls;
  std::vector<std::size_t> host;
  const std::vector<std::size_t> device = partition(tensors, host, "broadcast (nccl)");
  if (!device.empty()) {
    std::vector<at::Tensor> list = pick(tensors, device);
    const auto buckets = detail::plan_buckets(list, bucket_bytes(), std::numeric_limits<std::int64_t>::max() / 16,
                                              [](c10::ScalarType dtype, std::size_t) { return dtype; });
    const bool is_root = rank() == root;
    c10::cuda::CUDAGuard guard(device_);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
    sync_previous_stream(stream);
    detail::run_buckets(list, buckets, std::nullopt, /*pack=*/is_root, /*write_back=*/!is_root, scratch_,
                        [&](at::Tensor& flat, const detail::Bucket&) {
                          IRISML_NCCL_CHECK(ncclBroadcast(flat.data_ptr(), flat.data_ptr(), flat.nbytes(), ncclUint8,
                                                          root, nccl_, stream));
                          ++stats_.buckets;
                          stats_.bytes += flat.nbytes();
                        });
  }
  if (!host.empty()) {
    std::vector<at::Tensor> list = pick(tensors, host);
    host_->broadcast(list, root);
  }
}

double NcclCommunicator::allreduce_sum(double value) {
  ++stats_.calls;
  return host_->allreduce_sum(value);
}

void NcclCommunicator::allreduce_sum(std::vector<double>& values) {
  ++stats_.calls;
  host_->allreduce_sum(values);
}

void NcclCommunicator::barrier() {
  ++stats_.calls;
  c10::cuda::CUDAGuard guard(device_);
  c10::cuda::getCurrentCUDAStream(device_.index()).synchronize();
  host_->barrier();
}

}  // namespace irisml::distributed

#endif  // IRISML_WITH_NCCL
