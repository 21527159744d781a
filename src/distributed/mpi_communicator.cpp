#include "distributed/mpi_communicator.hpp"

#include <ATen/ATen.h>

#include <climits>
#include <utility>

#include "core/error.hpp"
#include "distributed/collectives.hpp"
#include "distributed/mpi_check.hpp"

namespace irisml::distributed {
namespace {

MPI_Datatype mpi_sum_type(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return MPI_FLOAT;
    case c10::ScalarType::Double: return MPI_DOUBLE;
    case c10::ScalarType::Char: return MPI_INT8_T;
    case c10::ScalarType::Byte: return MPI_UINT8_T;
    case c10::ScalarType::Short: return MPI_INT16_T;
    case c10::ScalarType::Int: return MPI_INT32_T;
    case c10::ScalarType::Long: return MPI_INT64_T;
    default: throw Error(fmt::format("MPI communicator: no MPI datatype for wire dtype {}", c10::toString(dtype)));
  }
}

// True for the dtypes MPI sums natively.
bool has_mpi_sum_type(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Double:
    case c10::ScalarType::Char:
    case c10::ScalarType::Byte:
    case c10::ScalarType::Short:
    case c10::ScalarType::Int:
    case c10::ScalarType::Long: return true;
    default: return false;
  }
}

// dtype a tensor is summed in: itself, except half precision (no MPI type),
// which is summed in float32.
c10::ScalarType sum_wire_dtype(c10::ScalarType dtype, std::size_t index) {
  if (has_mpi_sum_type(dtype)) return dtype;
  if (dtype == c10::ScalarType::Half || dtype == c10::ScalarType::BFloat16) return c10::ScalarType::Float;
  fail_input(
      "allreduce_sum (mpi): tensor {} has dtype {}, which cannot be summed; allowed: float32, "
      "float64, float16, bfloat16, int8, uint8, int16, int32, int64",
      index, detail::dtype_name(dtype));
}

// An MPI_Iallreduce in flight; keeps its tensor alive. Never destroyed while
// MPI may still write: the destructor waits.
class MpiPendingReduction final : public PendingReduction {
 public:
  explicit MpiPendingReduction(at::Tensor tensor) : tensor_(std::move(tensor)) {}
  ~MpiPendingReduction() override {
    if (request_ != MPI_REQUEST_NULL) IRISML_MPI_CHECK_PRINT(MPI_Wait(&request_, MPI_STATUS_IGNORE));
  }
  MPI_Request* request() { return &request_; }
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    IRISML_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) IRISML_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
  }

 private:
  at::Tensor tensor_;
  MPI_Request request_ = MPI_REQUEST_NULL;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::size_t bucket_bytes)
    : Communicator(distributed::rank_of(comm), distributed::size_of(comm), bucket_bytes) {
  IRISML_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  const int rc = MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    IRISML_MPI_CHECK_PRINT(MPI_Comm_free(&comm_));
    IRISML_MPI_CHECK(rc);
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) IRISML_MPI_CHECK_PRINT(MPI_Comm_free(&comm_));
}

void MpiCommunicator::allreduce_sum(std::vector<at::Tensor>& tensors) {
  ++stats_.calls;
  const auto buckets = detail::plan_buckets(tensors, bucket_bytes(), INT_MAX, sum_wire_dtype);
  detail::run_buckets(tensors, buckets, c10::Device(c10::DeviceType::CPU), /*pack=*/true, /*write_back=*/true, scratch_,
                      [&](at::Tensor& flat, const detail::Bucket& b) {
                        IRISML_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(b.numel),
                                                       mpi_sum_type(b.wire_dtype), MPI_SUM, comm_));
                        ++stats_.buckets;
                        stats_.bytes += flat.nbytes();
                      });
}

void MpiCommunicator::broadcast(std::vector<at::Tensor>& tensors, int root) {
  check_root(root, "broadcast (mpi)");
  ++stats_.calls;
  // Broadcast moves bytes: every dtype travels as itself, counted in MPI_BYTE.
  const auto buckets = detail::plan_buckets(tensors, bucket_bytes(), INT_MAX / 16,
                                            [](c10::ScalarType dtype, std::size_t) { return dtype; });
  const bool is_root = rank() == root;
  detail::run_buckets(
      tensors, buckets, c10::Device(c10::DeviceType::CPU), /*pack=*/is_root,
      /*write_back=*/!is_root, scratch_, [&](at::Tensor& flat, const detail::Bucket&) {
        IRISML_MPI_CHECK(MPI_Bcast(flat.data_ptr(), static_cast<int>(flat.nbytes()), MPI_BYTE, root, comm_));
        ++stats_.buckets;
        stats_.bytes += flat.nbytes();
      });
}

std::unique_ptr<PendingReduction> MpiCommunicator::start_allreduce_sum(const at::Tensor& tensor) {
  if (!tensor.defined()) fail_input("start_allreduce_sum (mpi): the tensor is undefined");
  if (!tensor.is_cpu() || !tensor.is_contiguous() || !has_mpi_sum_type(tensor.scalar_type()) ||
      tensor.numel() > INT_MAX) {
    return Communicator::start_allreduce_sum(tensor);
  }
  ++stats_.calls;
  auto pending = std::make_unique<MpiPendingReduction>(tensor);
  if (tensor.numel() == 0) return pending;
  IRISML_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                                  mpi_sum_type(tensor.scalar_type()), MPI_SUM, comm_, pending->request()));
  ++stats_.buckets;
  stats_.bytes += tensor.nbytes();
  return pending;
}

double MpiCommunicator::allreduce_sum(double value) {
  ++stats_.calls;
  double result = 0.0;
  IRISML_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_DOUBLE, MPI_SUM, comm_));
  ++stats_.buckets;
  stats_.bytes += sizeof(double);
  return result;
}

void MpiCommunicator::allreduce_sum(std::vector<double>& values) {
  ++stats_.calls;
  if (values.empty()) return;
  if (values.size() > static_cast<std::size_t>(INT_MAX))
    fail_input("allreduce_sum (mpi): {} values are too many for one call", values.size());
  IRISML_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, comm_));
  ++stats_.buckets;
  stats_.bytes += static_cast<std::int64_t>(values.size() * sizeof(double));
}

void MpiCommunicator::barrier() {
  ++stats_.calls;
  IRISML_MPI_CHECK(MPI_Barrier(comm_));
}

}  // namespace irisml::distributed
