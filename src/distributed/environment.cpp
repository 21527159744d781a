#include "distributed/environment.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/shard.hpp"
#include "distributed/collectives.hpp"
#include "distributed/mpi_check.hpp"

namespace irisml::distributed {

MpiEnvironment::MpiEnvironment(int* argc, char*** argv) {
  int finalized = 0;
  IRISML_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) throw Error("MpiEnvironment: MPI has already been finalised in this process and cannot restart");
  int initialized = 0;
  IRISML_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    IRISML_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &thread_level_));
    owns_ = true;
  } else {
    IRISML_MPI_CHECK(MPI_Query_thread(&thread_level_));
  }
  IRISML_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  IRISML_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  IRISML_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node = MPI_COMM_NULL;
  IRISML_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  const int local_rank_rc = MPI_Comm_rank(node, &local_rank_);
  const int local_size_rc = MPI_Comm_size(node, &local_size_);
  IRISML_MPI_CHECK_PRINT(MPI_Comm_free(&node));
  IRISML_MPI_CHECK(local_rank_rc);
  IRISML_MPI_CHECK(local_size_rc);
  log::set_rank(rank_, size_);
  if (owns_ && thread_level_ < MPI_THREAD_FUNNELED) {
    log::warn(
        "the MPI library provides thread level {} below MPI_THREAD_FUNNELED ({}); LibTorch's worker "
        "threads make no MPI calls, so this is only a warning",
        thread_level_, static_cast<int>(MPI_THREAD_FUNNELED));
  }
}

MpiEnvironment::~MpiEnvironment() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) IRISML_MPI_CHECK_PRINT(MPI_Finalize());
}

void MpiEnvironment::abort(int code, const std::string& message) const noexcept {
  std::fflush(stdout);
  if (size_ > 1) {
    std::fprintf(stderr, "irisml[rank %d/%d]: error: %s\n", rank_, size_, message.c_str());
  } else {
    std::fprintf(stderr, "irisml: error: %s\n", message.c_str());
  }
  std::fflush(stderr);
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  // A single rank (or an MPI_Abort that returned): leave without running
  // destructors that might wait on MPI or half-written files.
  std::_Exit(code);
}

std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n, int rank, int size) {
  if (n < 0) fail_input("shard_range: item count {} is negative; it must be >= 0", n);
  if (size < 1) fail_input("shard_range: world size {} must be >= 1", size);
  if (rank < 0 || rank >= size) fail_input("shard_range: rank {} is outside [0, {})", rank, size);
  auto [begin, end] = irisml::shard_range(static_cast<std::uint64_t>(n), rank, size);
  return {static_cast<std::int64_t>(begin), static_cast<std::int64_t>(end)};
}

std::int64_t exclusive_scan(std::int64_t local, MPI_Comm comm) {
  std::int64_t result = 0;
  IRISML_MPI_CHECK(MPI_Exscan(&local, &result, 1, MPI_INT64_T, MPI_SUM, comm));
  return rank_of(comm) == 0 ? 0 : result;
}

OutputLock lock_output(const std::string& output, MPI_Comm comm, const std::string& lock_file) {
  const int rank = rank_of(comm);
  OutputLock lock;
  int status = 0;  // 0 locked, 1 I/O error, 2 input error (another run holds it)
  std::string message;
  if (rank == 0) {
    try {
      lock = OutputLock(output, lock_file);
    } catch (const InputError& e) {
      status = 2;
      message = e.what();
    } catch (const std::exception& e) {
      status = 1;
      message = e.what();
    }
  }
  // deliberate collective: every rank learns the outcome of rank 0's attempt
  status = broadcast_from_root(status, comm);
  message = broadcast_from_root(message, comm);
  if (status == 2) throw InputError(message);
  if (status == 1) throw IoError(message);
  return lock;
}

}  // namespace irisml::distributed
