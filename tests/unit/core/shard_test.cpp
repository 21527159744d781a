// shard_of is the inverse of shard_range: every item's owner holds it.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/shard.hpp"

namespace irisml {
namespace {

TEST(ShardTest, ShardOfFindsTheRankWhoseRangeHoldsTheItem) {
  for (std::uint64_t n : {1u, 2u, 3u, 7u, 64u, 704u, 1001u}) {
    for (int size : {1, 2, 3, 4, 5, 8, 16}) {
      for (int r = 0; r < size; ++r) {
        auto [b, e] = shard_range(n, r, size);
        for (std::uint64_t i = b; i < e; ++i) EXPECT_EQ(shard_of(n, i, size), r) << n << " " << size << " " << i;
      }
    }
  }
}

}  // namespace
}  // namespace irisml
