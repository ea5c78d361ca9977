// The keyed hash both backends use for their hash indexes: XXH3-64 (from
// libxxhash, inlined) with a per-store 192-byte secret. Why this one, what it
// resists and what it costs: core/doc/key_hash.md. Not part of the public
// API; the mmap file format depends on it (core/doc/mmap_format.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace statestore::internal {

// XXH3's default secret size; XXH3_generateSecret() fills one from any seed.
inline constexpr std::size_t kHashSecretSize = XXH3_SECRET_DEFAULT_SIZE;

struct alignas(64) HashSecret {
  unsigned char bytes[kHashSecretSize];
};

// The secret derived from a 64-bit seed (XXH3_generateSecret over the seed's
// 8 little-endian bytes): the same in every process and on every machine, so
// the mmap format can store the seed and rebuild the secret at open.
HashSecret HashSecretFromSeed(std::uint64_t seed);

// A 64-bit seed from the OS entropy source (std::random_device), never 0:
// one per mmap file.
std::uint64_t RandomHashSeed();
// A seed for one in-memory store, never 0, without a system call: a
// per-process random seed (std::random_device, drawn once) stepped through
// splitmix64 by a per-process counter.
std::uint64_t InstanceHashSeed();

// XXH3_64bits_withSecret(key, secret), bit for bit (key_hash_test checks
// every length up to 300 bytes). Keys of up to 16 bytes, the common case, go
// straight to XXH3's forced-inline short path: called whole, the library
// function is too big for the compiler to inline into get(), and the call
// cost about 28 instructions per lookup.
inline std::uint64_t HashKey(std::string_view key, const HashSecret& secret) {
  const auto* bytes = reinterpret_cast<const xxh_u8*>(key.data());
  if (key.size() <= 16) [[likely]] {
    return XXH3_len_0to16_64b(bytes, key.size(), secret.bytes, 0);
  }
  return XXH3_64bits_withSecret(bytes, key.size(), secret.bytes, kHashSecretSize);
}

}  // namespace statestore::internal
