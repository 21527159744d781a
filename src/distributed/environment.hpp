// The MPI environment of a process, and the small helpers every parallel job
// needs: even sharding of n items over ranks and rank offsets from MPI_Exscan.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>

#include "core/output_lock.hpp"

namespace irisml::distributed {

// RAII owner of MPI for one process. The CLI holds the only instance for the
// whole run. If MPI is not yet initialised, the constructor calls
// MPI_Init_thread(MPI_THREAD_FUNNELED) and the destructor calls MPI_Finalize; if
// it is already initialised (a test's main, an embedding program) the
// environment attaches to it and leaves finalisation to whoever initialised it.
// Either way MPI_COMM_WORLD gets MPI_ERRORS_RETURN, so failed calls reach
// IRISML_MPI_CHECK instead of aborting inside MPI.
class MpiEnvironment {
 public:
  // argc/argv may be null. Throws MpiError if MPI cannot be initialised and
  // Error if MPI was already finalised.
  MpiEnvironment(int* argc, char*** argv);
  // Attaches to an already-initialised MPI, or initialises it without arguments.
  MpiEnvironment() : MpiEnvironment(nullptr, nullptr) {}
  ~MpiEnvironment();

  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  MPI_Comm comm() const noexcept { return MPI_COMM_WORLD; }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  // Rank among the processes on this node (MPI_Comm_split_type with
  // MPI_COMM_TYPE_SHARED) and their number: rank k on a node takes GPU k.
  int local_rank() const noexcept { return local_rank_; }
  int local_size() const noexcept { return local_size_; }
  // True if this object called MPI_Init_thread (and so will call MPI_Finalize).
  bool owns_mpi() const noexcept { return owns_; }
  // Thread level MPI provides (MPI_THREAD_FUNNELED or higher when we initialised).
  int thread_level() const noexcept { return thread_level_; }

  // Ends the whole job from one rank: prints "irisml[rank r/size]: error: message"
  // to stderr and calls MPI_Abort(MPI_COMM_WORLD, code), so an exception on one
  // rank never leaves the others waiting in a collective. With a single rank it
  // flushes and exits with `code` without the MPI_Abort banner.
  [[noreturn]] void abort(int code, const std::string& message) const noexcept;

 private:
  bool owns_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
};

// Splits n items into `size` contiguous shards, as evenly as possible: the first
// n % size ranks get n / size + 1 items, the others n / size, so shards differ by
// at most one item and, for n < size, the last size - n ranks get an empty range.
// Returns [begin, end) for `rank`; the ranges of ranks 0..size-1 tile [0, n) in
// order. Throws InputError for n < 0, size < 1 or rank outside [0, size).
std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n, int rank, int size);

// Sum of `local` over the ranks before this one in `comm` (MPI_Exscan with
// MPI_SUM); 0 on rank 0 (where MPI leaves the result undefined). Collective.
std::int64_t exclusive_scan(std::int64_t local, MPI_Comm comm);

// The one-writer lock of a job's output (see OutputLock), taken by rank 0 and held
// until the returned object is destroyed. Collective over `comm`: if rank 0 cannot
// take the lock, every rank throws the same error (InputError when another run
// holds it), so the job stops before it writes anything.
OutputLock lock_output(const std::string& output, MPI_Comm comm, const std::string& lock_file = "");

}  // namespace irisml::distributed
