// What both backends share: the entry size check (one rule, one message),
// the ordered indexes' key prefix and the keyed hash (key_hash.h). Not part
// of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "statestore/byte_io.h"
#include "statestore/internal/key_hash.h"
#include "statestore/state_store.h"
#include "statestore/status.h"

namespace statestore::internal {

// True when put() must refuse the entry: the key exceeds kMaxKeySize or the
// value kMaxValueSize (state_store.h).
inline bool EntryTooLarge(std::size_t key_size, std::size_t value_size) {
  return key_size > kMaxKeySize || value_size > kMaxValueSize;
}

// The InvalidArgument put() returns when EntryTooLarge(): "key too long" or
// "value too long", naming the size and the limit.
Status EntryTooLargeError(std::size_t key_size, std::size_t value_size);

// The first 8 key bytes, zero-padded, as a big-endian integer: comparing two
// prefixes orders keys exactly like comparing the keys (unsigned bytes),
// except that equal prefixes need the full comparison. Both ordered indexes
// keep it beside each element so most comparisons never touch the key.
inline std::uint64_t KeyPrefix(std::string_view key) {
  std::uint64_t v = 0;
  if (key.size() >= 8) {
    v = byte_io::LoadU64(key.data());
  } else if (!key.empty()) {
    std::memcpy(&v, key.data(), key.size());
  }
  return __builtin_bswap64(v);
}

// What the hash-flooding tests observe of a backend's hash index: the
// longest distance, in slots, of a live key from its home slot, and the sum
// of those distances over all live keys (a lookup of a present key reads
// 1 + its distance slots).
struct ProbeDistances {
  std::size_t longest = 0;
  std::size_t total = 0;
};

}  // namespace statestore::internal
