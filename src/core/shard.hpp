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

// The rank whose shard_range(n, rank, size) holds item `index` (< n).
inline int shard_of(std::uint64_t n, std::uint64_t index, int size) {
  const std::uint64_t s = static_cast<std::uint64_t>(size);
  const std::uint64_t base = n / s, extra = n % s, long_part = extra * (base + 1);
  return static_cast<int>(index < long_part ? index / (base + 1) : extra + (index - long_part) / base);
}

}  // namespace irisml
