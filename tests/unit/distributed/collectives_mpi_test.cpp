// The control collectives (distributed/collectives.hpp) at 1, 2 and 3 ranks: each
// reduction and broadcast gives the same answer on every rank, and a failure on one
// rank reaches all of them with its message.
#include <gtest/gtest.h>
#include <mpi.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "distributed/collectives.hpp"
#include "mpi_test_support.hpp"

namespace irisml::distributed {
namespace {

using irisml::test_support::world_rank;
using irisml::test_support::world_size;

TEST(CollectivesMpiTest, ReductionsAgreeOnEveryRank) {
  const int rank = world_rank(), size = world_size();
  EXPECT_EQ(rank_of(MPI_COMM_WORLD), rank);
  EXPECT_EQ(size_of(MPI_COMM_WORLD), size);
  EXPECT_TRUE(any_rank(rank == size - 1, MPI_COMM_WORLD));
  EXPECT_FALSE(any_rank(false, MPI_COMM_WORLD));
  EXPECT_TRUE(every_rank(true, MPI_COMM_WORLD));
  EXPECT_FALSE(every_rank(rank != 0, MPI_COMM_WORLD));
  EXPECT_EQ(max_over_ranks(static_cast<std::uint64_t>(rank) + 1, MPI_COMM_WORLD), static_cast<std::uint64_t>(size));
  EXPECT_EQ(min_over_ranks(std::int64_t{rank} - 5, MPI_COMM_WORLD), -5);
  EXPECT_EQ(sum_over_ranks(static_cast<std::uint64_t>(rank) + 1, MPI_COMM_WORLD),
            static_cast<std::uint64_t>(size * (size + 1) / 2));
  // Every arithmetic type, signed values and fractions included (no max as −min(−x)).
  EXPECT_EQ(max_over_ranks(std::int64_t{-rank} - 7, MPI_COMM_WORLD), -7);
  EXPECT_EQ(min_over_ranks(rank + 2, MPI_COMM_WORLD), 2);
  EXPECT_EQ(max_over_ranks(static_cast<unsigned>(rank), MPI_COMM_WORLD), static_cast<unsigned>(size - 1));
  EXPECT_EQ(max_over_ranks(-0.25 * rank, MPI_COMM_WORLD), 0.0);
  EXPECT_EQ(min_over_ranks(1.5f + static_cast<float>(rank), MPI_COMM_WORLD), 1.5f);
  EXPECT_DOUBLE_EQ(sum_over_ranks(0.5, MPI_COMM_WORLD), 0.5 * size);
  EXPECT_EQ(sum_over_ranks(1LL << 40, MPI_COMM_WORLD), static_cast<long long>(size) << 40);
  std::vector<std::uint64_t> counts{1, static_cast<std::uint64_t>(rank)};
  sum_over_ranks(counts, MPI_COMM_WORLD);
  EXPECT_EQ(counts, (std::vector<std::uint64_t>{static_cast<std::uint64_t>(size),
                                                static_cast<std::uint64_t>(size * (size - 1) / 2)}));
  std::vector<double> sums{0.5, -1.0 * rank};
  sum_over_ranks(sums, MPI_COMM_WORLD);
  EXPECT_DOUBLE_EQ(sums[0], 0.5 * size);
  EXPECT_DOUBLE_EQ(sums[1], -0.5 * size * (size - 1));
  auto all = gather_from_all(10 * std::int64_t{rank}, MPI_COMM_WORLD);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) EXPECT_EQ(all[static_cast<std::size_t>(r)], 10 * r);
}

TEST(CollectivesMpiTest, BroadcastsCarryRankZerosValue) {
  const int rank = world_rank();
  EXPECT_EQ(
      broadcast_from_root(rank == 0 ? std::string("from rank 0") : std::string("other, longer text"), MPI_COMM_WORLD),
      "from rank 0");
  EXPECT_EQ(broadcast_from_root(rank == 0 ? std::string() : std::string("x"), MPI_COMM_WORLD), "");
  EXPECT_EQ(broadcast_from_root(rank == 0 ? 42 : -1, MPI_COMM_WORLD), 42);
  EXPECT_TRUE(broadcast_from_root(rank == 0, MPI_COMM_WORLD));
  std::vector<char> bytes(3, rank == 0 ? 'a' : 'z');
  broadcast_from_root(bytes, MPI_COMM_WORLD);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "aaa");
  barrier(MPI_COMM_WORLD);
}

// A sum whose value depends on the order of its terms (large and small values mixed):
// ordered_scan over blocks of it must give bitwise the serial loop's result.
TEST(CollectivesMpiTest, OrderedScanSumsInTheSerialOrderForAnyRankCount) {
  const int rank = world_rank(), size = world_size();
  constexpr int n = 1000;
  auto term = [](int i) { return i == 0 ? 1e16 : 1.0 + 1e-3 * i; };  // each small term rounds against 1e16
  std::vector<double> serial{0.0, 0.0};
  for (int i = 0; i < n; ++i) {
    serial[0] += term(i);
    serial[1] += term(i) * term(i);
  }
  std::vector<double> acc{0.0, 0.0};
  const int begin = n * rank / size, end = n * (rank + 1) / size;
  ordered_scan(
      acc, MPI_COMM_WORLD,
      [&](std::vector<double>& a) {
        for (int i = begin; i < end; ++i) {
          a[0] += term(i);
          a[1] += term(i) * term(i);
        }
      },
      "while testing");
  EXPECT_EQ(acc[0], serial[0]);
  EXPECT_EQ(acc[1], serial[1]);
  // a pairwise (rank-count-dependent) order would differ: the test can fail
  double halves = 0.0, second = 0.0;
  for (int i = 0; i < n / 2; ++i) halves += term(i);
  for (int i = n / 2; i < n; ++i) second += term(i);
  EXPECT_NE(halves + second, serial[0]);

  // a failure on one rank, mid-scan, reaches every rank and no rank is left waiting
  try {
    ordered_scan(
        acc, MPI_COMM_WORLD,
        [&](std::vector<double>&) {
          if (rank == size / 2) throw InputError("bad row on rank " + std::to_string(rank));
        },
        "while testing the scan");
    ADD_FAILURE() << "no rank threw";
  } catch (const InputError& e) {
    EXPECT_EQ(rank, size / 2);
    EXPECT_EQ(std::string(e.what()), "bad row on rank " + std::to_string(rank));
  } catch (const Error& e) {
    EXPECT_NE(rank, size / 2);
    EXPECT_NE(std::string(e.what()).find("another rank failed while testing the scan"), std::string::npos) << e.what();
  }
}

TEST(CollectivesMpiTest, AFailureOnOneRankReachesEveryRank) {
  const int rank = world_rank(), size = world_size();
  std::exception_ptr none;
  EXPECT_NO_THROW(agree_on_failure(none, MPI_COMM_WORLD, "while testing"));
  std::exception_ptr mine;
  if (rank == size - 1) mine = std::make_exception_ptr(InputError("boom on the last rank"));
  try {
    agree_on_failure(mine, MPI_COMM_WORLD, "while testing");
    ADD_FAILURE() << "no rank threw";
  } catch (const InputError& e) {
    EXPECT_EQ(rank, size - 1);
    EXPECT_STREQ(e.what(), "boom on the last rank");
  } catch (const Error& e) {
    EXPECT_NE(rank, size - 1);
    EXPECT_NE(std::string(e.what()).find("another rank failed while testing"), std::string::npos) << e.what();
  }
}

TEST(CollectivesMpiTest, RootActionsRunOnceAndTheirFailureIsShared) {
  const int rank = world_rank();
  int runs = 0;
  on_root_agreed([&] { ++runs; }, MPI_COMM_WORLD, "counting");
  EXPECT_EQ(sum_over_ranks(static_cast<std::uint64_t>(runs), MPI_COMM_WORLD), 1u);
  try {
    on_root_agreed([] { throw IoError("disk full"); }, MPI_COMM_WORLD, "writing the file");
    ADD_FAILURE() << "no rank threw";
  } catch (const IoError& e) {
    EXPECT_EQ(rank, 0);
    EXPECT_STREQ(e.what(), "disk full");
  } catch (const Error& e) {
    EXPECT_NE(rank, 0);
    EXPECT_STREQ(e.what(), "rank 0 failed writing the file: disk full");
  }
}

}  // namespace
}  // namespace irisml::distributed
