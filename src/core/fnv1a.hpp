// FNV-1a, 64 bit, over values serialised little-endian: a content checksum that is
// the same on every platform for the same values ("fnv1a64:<16 hex digits>", as
// written by to_hex_string()). Used for the spectral grid and checkpoint lineage.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace irisml {

class Fnv1a {
 public:
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t h = hash_;
    for (std::size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ULL;
    }
    hash_ = h;
  }
  void u64(std::uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b, 8);
  }
  void doubles(const std::vector<double>& v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    bytes(v.data(), v.size() * sizeof(double));
#else
    for (double x : v) {
      std::uint64_t u;
      std::memcpy(&u, &x, 8);
      u64(u);
    }
#endif
  }
  void floats(const std::vector<float>& v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    bytes(v.data(), v.size() * sizeof(float));
#else
    for (float x : v) {
      std::uint32_t u;
      std::memcpy(&u, &x, 4);
      unsigned char b[4];
      for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(u >> (8 * i));
      bytes(b, 4);
    }
#endif
  }
  std::uint64_t value() const { return hash_; }
  std::string to_hex_string() const { return fmt::format("fnv1a64:{:016x}", hash_); }

 private:
  std::uint64_t hash_ = 14695981039346656037ULL;
};

}  // namespace irisml
