#include "distributed/collectives.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <type_traits>

#include "core/error.hpp"
#include "distributed/mpi_check.hpp"

namespace irisml::distributed {

int rank_of(MPI_Comm comm) {
  int rank = 0;
  IRISML_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  return rank;
}

int size_of(MPI_Comm comm) {
  int size = 1;
  IRISML_MPI_CHECK(MPI_Comm_size(comm, &size));
  return size;
}

bool any_rank(bool here, MPI_Comm comm) {
  int local = here ? 1 : 0, out = 0;
  IRISML_MPI_CHECK(MPI_Allreduce(&local, &out, 1, MPI_INT, MPI_MAX, comm));
  return out != 0;
}

bool every_rank(bool here, MPI_Comm comm) {
  int local = here ? 1 : 0, out = 0;
  IRISML_MPI_CHECK(MPI_Allreduce(&local, &out, 1, MPI_INT, MPI_MIN, comm));
  return out != 0;
}

namespace {

template <typename T>
MPI_Datatype datatype_of() {
  if constexpr (std::is_same_v<T, int>) return MPI_INT;
  if constexpr (std::is_same_v<T, unsigned>) return MPI_UNSIGNED;
  if constexpr (std::is_same_v<T, long>) return MPI_LONG;
  if constexpr (std::is_same_v<T, unsigned long>) return MPI_UNSIGNED_LONG;
  if constexpr (std::is_same_v<T, long long>) return MPI_LONG_LONG;
  if constexpr (std::is_same_v<T, unsigned long long>) return MPI_UNSIGNED_LONG_LONG;
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
}

template <typename T>
T reduce_one(T value, MPI_Op op, MPI_Comm comm) {
  T out{};
  IRISML_MPI_CHECK(MPI_Allreduce(&value, &out, 1, datatype_of<T>(), op, comm));
  return out;
}

// An MPI datatype of `width` contiguous values of `element`: one table row.
struct RowType {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  RowType(int width, MPI_Datatype element) {
    IRISML_MPI_CHECK(MPI_Type_contiguous(width, element, &type));
    IRISML_MPI_CHECK(MPI_Type_commit(&type));
  }
  ~RowType() { MPI_Type_free(&type); }
  RowType(const RowType&) = delete;
  RowType& operator=(const RowType&) = delete;
};

}  // namespace

template <typename T>
T max_over_ranks(T value, MPI_Comm comm) {
  return reduce_one(value, MPI_MAX, comm);
}
template <typename T>
T min_over_ranks(T value, MPI_Comm comm) {
  return reduce_one(value, MPI_MIN, comm);
}
template <typename T>
T sum_over_ranks(T value, MPI_Comm comm) {
  return reduce_one(value, MPI_SUM, comm);
}

#define IRISML_REDUCTIONS(T)                            \
  template T max_over_ranks<T>(T value, MPI_Comm comm); \
  template T min_over_ranks<T>(T value, MPI_Comm comm); \
  template T sum_over_ranks<T>(T value, MPI_Comm comm);
IRISML_REDUCTIONS(int)
IRISML_REDUCTIONS(unsigned)
IRISML_REDUCTIONS(long)
IRISML_REDUCTIONS(unsigned long)
IRISML_REDUCTIONS(long long)
IRISML_REDUCTIONS(unsigned long long)
IRISML_REDUCTIONS(float)
IRISML_REDUCTIONS(double)
#undef IRISML_REDUCTIONS

void allgather_rows_in_place(void* data, const std::vector<int>& counts, const std::vector<int>& displs, int width,
                             MPI_Datatype element, MPI_Comm comm) {
  const RowType row(width, element);
  IRISML_MPI_CHECK(
      MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts.data(), displs.data(), row.type, comm));
}

std::vector<int> exchange_counts(const std::vector<int>& send_counts, MPI_Comm comm) {
  std::vector<int> recv_counts(send_counts.size());
  IRISML_MPI_CHECK(MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, comm));
  return recv_counts;
}

void exchange_rows(const void* send, const std::vector<int>& send_counts, const std::vector<int>& send_displs,
                   void* recv, const std::vector<int>& recv_counts, const std::vector<int>& recv_displs, int width,
                   MPI_Datatype element, MPI_Comm comm) {
  const RowType row(width, element);
  IRISML_MPI_CHECK(MPI_Alltoallv(send, send_counts.data(), send_displs.data(), row.type, recv, recv_counts.data(),
                                 recv_displs.data(), row.type, comm));
}

namespace {
int count_of(std::size_t n) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(fmt::format("internal error: a collective of {} elements exceeds MPI's int count", n));
  }
  return static_cast<int>(n);
}
}  // namespace

void sum_over_ranks(std::vector<std::uint64_t>& values, MPI_Comm comm) {
  if (values.empty()) return;
  IRISML_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), count_of(values.size()), MPI_UINT64_T, MPI_SUM, comm));
}

void sum_over_ranks(std::vector<double>& values, MPI_Comm comm) {
  if (values.empty()) return;
  IRISML_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), count_of(values.size()), MPI_DOUBLE, MPI_SUM, comm));
}

std::vector<std::int64_t> gather_from_all(std::int64_t value, MPI_Comm comm) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(size_of(comm)));
  IRISML_MPI_CHECK(MPI_Allgather(&value, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, comm));
  return out;
}

bool broadcast_from_root(bool value, MPI_Comm comm) { return broadcast_from_root(value ? 1 : 0, comm) != 0; }

int broadcast_from_root(int value, MPI_Comm comm) {
  IRISML_MPI_CHECK(MPI_Bcast(&value, 1, MPI_INT, 0, comm));
  return value;
}

std::string broadcast_from_root(const std::string& value, MPI_Comm comm) {
  const int length = broadcast_from_root(count_of(value.size()), comm);
  std::string out = value;
  out.resize(static_cast<std::size_t>(length));
  if (length > 0) IRISML_MPI_CHECK(MPI_Bcast(out.data(), length, MPI_CHAR, 0, comm));
  return out;
}

void broadcast_from_root(std::vector<char>& bytes, MPI_Comm comm) {
  if (bytes.empty()) return;
  IRISML_MPI_CHECK(MPI_Bcast(bytes.data(), count_of(bytes.size()), MPI_CHAR, 0, comm));
}

void barrier(MPI_Comm comm) { IRISML_MPI_CHECK(MPI_Barrier(comm)); }

bool any_rank_failed(const std::exception_ptr& local_error, MPI_Comm comm) {
  return any_rank(static_cast<bool>(local_error), comm);
}

void agree_on_failure(const std::exception_ptr& local_error, MPI_Comm comm, const std::string& during) {
  if (!any_rank_failed(local_error, comm)) return;
  if (local_error) std::rethrow_exception(local_error);
  throw Error(fmt::format("another rank failed {} (its message is above)", during));
}

void ordered_scan(std::vector<double>& acc, MPI_Comm comm, const std::function<void(std::vector<double>&)>& add,
                  const std::string& during) {
  constexpr int kTag = 0x5343;  // "SC"
  const int rank = rank_of(comm), size = size_of(comm);
  const std::size_t length = acc.size();
  const int n = count_of(length);
  if (rank > 0) IRISML_MPI_CHECK(MPI_Recv(acc.data(), n, MPI_DOUBLE, rank - 1, kTag, comm, MPI_STATUS_IGNORE));
  std::exception_ptr error;
  try {
    add(acc);
    if (acc.size() != length) {
      throw std::logic_error(
          fmt::format("ordered_scan: the accumulator changed length from {} to {} {}", length, acc.size(), during));
    }
  } catch (...) {
    error = std::current_exception();
    acc.resize(length);
  }
  if (rank + 1 < size) IRISML_MPI_CHECK(MPI_Send(acc.data(), n, MPI_DOUBLE, rank + 1, kTag, comm));
  if (size > 1) IRISML_MPI_CHECK(MPI_Bcast(acc.data(), n, MPI_DOUBLE, size - 1, comm));
  agree_on_failure(error, comm, during);
}

}  // namespace irisml::distributed
