// Even split of n items over `size` ranks: the first n % size ranks get one
// more. Every item is owned by exactly one rank; ranks may own none.
#pragma once

#include <cstdint>
#include <utility>

namespace irisml {

inline std::pair<std::uint64_t, std::uint64_t> shard_range(std::uint64_t n, int rank, int size) {
  const std::uint64_t r = static_cast<std::uint64_t>(rank), s = static_cast<std::uint64_t>(size);
  const std::uint64_t base = n / s, extra = n % s;
  const std::uint64_t begin = r * base + (r < extra ? r : extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

}  // namespace irisml
