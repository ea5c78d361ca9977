// Unaligned little-endian loads and stores of fixed-width integers, shared by
// the snapshot format, the mmap file format and the in-memory hash. Not part of
// the public API. The project targets little-endian hosts only (snapshot_format.cc
// asserts it); memcpy compiles to a single move on x86-64 and AArch64.

#pragma once

#include <cstdint>
#include <cstring>

namespace statestore::byte_io {

inline std::uint32_t LoadU32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t LoadU64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void StoreU32(char* p, std::uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void StoreU64(char* p, std::uint64_t v) { std::memcpy(p, &v, sizeof v); }

}  // namespace statestore::byte_io
