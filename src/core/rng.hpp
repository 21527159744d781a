// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//
// A stream is keyed by (seed, stream id) — for the simulator the stream id is
// the global star index — so the numbers a star gets do not depend on which
// rank simulates it or in which order.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace irisml {

class Philox {
 public:
  using Block = std::array<std::uint32_t, 4>;

  Philox(std::uint64_t seed, std::uint64_t stream) {
    key_ = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
    counter_ = {0u, 0u, static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
  }

  // Uniform in (0, 1), never exactly 0 or 1 (53-bit resolution).
  double uniform() {
    std::uint64_t hi = next32();
    std::uint64_t lo = next32();
    std::uint64_t bits = ((hi << 32) | lo) >> 11;  // 53 bits
    return (static_cast<double>(bits) + 0.5) * (1.0 / 9007199254740992.0);
  }

  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Standard normal by Box–Muller; both values of a pair are used.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    double u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    double phi = 6.283185307179586476925 * u2;
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }

  double normal(double mean, double sigma) { return mean + sigma * normal(); }

  double exponential(double scale) { return -scale * std::log(uniform()); }

  std::uint32_t next32() {
    if (index_ == 4) {
      block_ = generate(counter_, key_);
      increment();
      index_ = 0;
    }
    return block_[index_++];
  }

  static Block generate(Block ctr, std::array<std::uint32_t, 2> key) {
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
      }
      std::uint64_t p0 = std::uint64_t{0xD2511F53u} * ctr[0];
      std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * ctr[2];
      auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
      auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
      ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    }
    return ctr;
  }

 private:
  void increment() {
    if (++counter_[0] == 0) ++counter_[1];
  }

  std::array<std::uint32_t, 2> key_{};
  Block counter_{};
  Block block_{};
  int index_ = 4;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace irisml
