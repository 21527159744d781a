// The control collectives every job makes: agree on failure, reduce a count or a flag,
// broadcast a decision, a message or a byte array from rank 0, a checked barrier.
// simulate, train, infer and cli use these instead of raw MPI calls, so that every
// collective is checked (MpiError naming the call and MPI's message) and reads as
// what it decides. Each function is a collective over `comm`: every rank calls it, in
// the same order. No torch here (this is the torch-free irisml::mpi library).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace irisml::distributed {

int rank_of(MPI_Comm comm);
int size_of(MPI_Comm comm);

// Logical or / and of a flag over all ranks.
bool any_rank(bool here, MPI_Comm comm);
bool every_rank(bool here, MPI_Comm comm);

// The maximum, minimum or sum of one value over all ranks, for the arithmetic types
// int, unsigned, long, unsigned long, long long, unsigned long long, float and double
// (instantiated in collectives.cpp; another type is a link error).
template <typename T>
T max_over_ranks(T value, MPI_Comm comm);
template <typename T>
T min_over_ranks(T value, MPI_Comm comm);
template <typename T>
T sum_over_ranks(T value, MPI_Comm comm);
// Element-wise sums, in place (every rank passes the same length).
void sum_over_ranks(std::vector<std::uint64_t>& values, MPI_Comm comm);
void sum_over_ranks(std::vector<double>& values, MPI_Comm comm);
// Every rank's value, in rank order.
std::vector<std::int64_t> gather_from_all(std::int64_t value, MPI_Comm comm);

// Rank 0's value on every rank.
bool broadcast_from_root(bool value, MPI_Comm comm);
int broadcast_from_root(int value, MPI_Comm comm);
std::string broadcast_from_root(const std::string& value, MPI_Comm comm);
// Rank 0's bytes into `bytes` (every rank passes the same length).
void broadcast_from_root(std::vector<char>& bytes, MPI_Comm comm);

void barrier(MPI_Comm comm);

// Exchanges of table rows: `width` contiguous values of `element` (MPI_FLOAT, ...) per
// row; counts and displacements are in rows, one entry per rank.
// Every rank ends with every rank's rows: rank r's are rows [displs[r], displs[r] +
// counts[r]) of `data`, which each rank already holds for itself (MPI_Allgatherv in place).
void allgather_rows_in_place(void* data, const std::vector<int>& counts, const std::vector<int>& displs, int width,
                             MPI_Datatype element, MPI_Comm comm);
// How many rows each rank will send this one, given how many this one sends each rank.
std::vector<int> exchange_counts(const std::vector<int>& send_counts, MPI_Comm comm);
// Rows grouped by destination rank out, rows grouped by source rank in (MPI_Alltoallv).
void exchange_rows(const void* send, const std::vector<int>& send_counts, const std::vector<int>& send_displs,
                   void* recv, const std::vector<int>& recv_counts, const std::vector<int>& recv_displs, int width,
                   MPI_Datatype element, MPI_Comm comm);

// A running sum (or any accumulation) over data spread across the ranks in rank order:
// rank 0 runs `add` on `acc`, passes the result to rank 1, which continues from it, and
// so on; every rank ends with the last rank's `acc`. The floating-point operations happen
// in the order one process would make them walking every rank's part in turn, so the
// result is bitwise the same for any rank count. The ranks run one after another: meant
// for one-off statistics, not per-step work. If `add` throws (or changes acc's length)
// on any rank, every rank throws after the scan, as agree_on_failure(…, `during`).
void ordered_scan(std::vector<double>& acc, MPI_Comm comm, const std::function<void(std::vector<double>&)>& add,
                  const std::string& during);

// Failure agreement. any_rank_failed: whether any rank holds an error. agree_on_failure:
// returns if no rank failed; otherwise every rank throws (a failing rank its own error,
// the others one saying another rank failed `during`), so that no rank is left waiting
// in a later collective while another unwinds.
bool any_rank_failed(const std::exception_ptr& local_error, MPI_Comm comm);
void agree_on_failure(const std::exception_ptr& local_error, MPI_Comm comm, const std::string& during);

// Runs `action` on rank 0 only and agrees on its outcome: if it throws, rank 0 rethrows
// its error and every other rank throws one carrying rank 0's message.
template <typename Action>
void on_root_agreed(Action&& action, MPI_Comm comm, const std::string& what) {
  std::exception_ptr error;
  std::string message;  // empty: rank 0's action succeeded
  if (rank_of(comm) == 0) {
    try {
      action();
    } catch (const std::exception& e) {
      error = std::current_exception();
      message = *e.what() ? e.what() : "unknown error";
    } catch (...) {
      error = std::current_exception();
      message = "unknown error";
    }
  }
  message = broadcast_from_root(message, comm);
  if (message.empty()) return;
  if (error) std::rethrow_exception(error);
  throw Error("rank 0 failed " + what + ": " + message);
}

}  // namespace irisml::distributed
