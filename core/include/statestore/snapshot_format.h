// The portable snapshot format shared by every backend.
// Prose description: core/doc/snapshot_format.md. Summary (little-endian):
//
//   header  (32 bytes)
//     magic        8  "SSTSNAP\0"
//     version      4  kSnapshotVersion
//     flags        4  0 (reserved; non-zero is rejected)
//     entry_count  8
//     payload_size 8  bytes of the entries section
//   entries (payload_size bytes), in ascending key order, each:
//     key_len      4
//     value_len    4
//     key          key_len bytes
//     value        value_len bytes
//   trailer (8 bytes)
//     checksum     8  XXH3-64 of header + entries
//
// A writer that knows the entry count and payload size up front writes the
// blob in one pass into a buffer of exactly SnapshotSize() bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "statestore/byte_io.h"
#include "statestore/status.h"

namespace statestore {

inline constexpr char kSnapshotMagic[8] = {'S', 'S', 'T', 'S', 'N', 'A', 'P', '\0'};
inline constexpr std::uint32_t kSnapshotVersion = 1;
inline constexpr std::size_t kSnapshotHeaderSize = 32;
inline constexpr std::size_t kSnapshotEntryHeaderSize = 8;
inline constexpr std::size_t kSnapshotTrailerSize = 8;

// Bytes of a snapshot holding `entry_count` entries whose keys and values
// add up to `kv_bytes`.
constexpr std::size_t SnapshotSize(std::size_t entry_count, std::size_t kv_bytes) {
  return kSnapshotHeaderSize + entry_count * kSnapshotEntryHeaderSize + kv_bytes + kSnapshotTrailerSize;
}

// Writes a snapshot into a caller-owned string in one pass.
//   SnapshotWriter w(out, store.size(), store.size_bytes());
//   for (each entry in key order) w.add(key, value);
//   w.finish();
// REQUIRES: exactly `entry_count` add() calls whose keys and values total
// `kv_bytes`, in strictly ascending key order, before finish().
class SnapshotWriter {
 public:
  SnapshotWriter(std::string& out, std::size_t entry_count, std::size_t kv_bytes);
  // Inline: a snapshot calls this once per entry.
  void add(std::string_view key, std::string_view value) {
    const std::uint32_t lengths[2] = {static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size())};
    std::memcpy(cursor_, lengths, kSnapshotEntryHeaderSize);
    cursor_ += kSnapshotEntryHeaderSize;
    if (!key.empty()) std::memcpy(cursor_, key.data(), key.size());
    cursor_ += key.size();
    if (!value.empty()) std::memcpy(cursor_, value.data(), value.size());
    cursor_ += value.size();
  }
  void finish();

 private:
  std::string& out_;
  char* cursor_;
  char* end_;
};

struct SnapshotInfo {
  std::uint64_t entry_count = 0;
  std::uint64_t kv_bytes = 0;  // sum of key and value lengths
};

// Validates everything about `blob`: size, magic, version, flags, checksum,
// that the entries exactly fill the payload, that every key and value is
// within kMaxKeySize/kMaxValueSize and that keys strictly ascend. Returns
// Corruption (or InvalidArgument for an unknown version) naming the problem.
Status ValidateSnapshot(std::string_view blob, SnapshotInfo& info);

// Calls visit(key, value) for every entry of a blob that ValidateSnapshot()
// accepted. REQUIRES: ValidateSnapshot(blob) returned OK.
template <typename Visit>
void ForEachSnapshotEntry(std::string_view blob, Visit&& visit);

namespace snapshot_internal {
using byte_io::LoadU32;
}  // namespace snapshot_internal

template <typename Visit>
void ForEachSnapshotEntry(std::string_view blob, Visit&& visit) {
  const char* p = blob.data() + kSnapshotHeaderSize;
  const char* end = blob.data() + blob.size() - kSnapshotTrailerSize;
  while (p < end) {
    const std::uint32_t key_len = snapshot_internal::LoadU32(p);
    const std::uint32_t value_len = snapshot_internal::LoadU32(p + 4);
    p += kSnapshotEntryHeaderSize;
    visit(std::string_view(p, key_len), std::string_view(p + key_len, value_len));
    p += key_len + value_len;
  }
}

}  // namespace statestore
