// The MmapStateStore file format (core/doc/mmap_format.md) as constants and
// small helpers: the header page's layout, the record layout, the index slot
// encoding, the checked words and the index's load factor. Shared by the
// store (mmap_state_store.cc), the tests that craft files, and the benchmarks
// that size files. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "statestore/byte_io.h"

namespace statestore::mmap_internal {

using byte_io::LoadU32;
using byte_io::LoadU64;

inline constexpr char kMagic[8] = {'S', 'S', 'T', 'M', 'M', 'A', 'P', '\0'};
// Version 2: the key hash became XXH3 with a secret derived from the seed
// (version 1 used a hand-written multiply hash; its files are refused, as
// their on-file index is laid out by the old hash). Version 3: the durable
// end, log epoch and boot words (power-cut recovery).
inline constexpr std::uint32_t kFormatVersion = 3;

// Header page layout (byte offsets). Everything not listed is zero.
inline constexpr std::size_t kHeaderSize = 4096;  // the data region starts here
inline constexpr std::size_t kVersionOffset = 8;
inline constexpr std::size_t kStaticReservedOffset = 12;
inline constexpr std::size_t kSeedOffset = 16;
inline constexpr std::size_t kStaticChecksumOffset = 24;  // XXH3 of bytes [0, 24)
inline constexpr std::size_t kGeometryOffset = 64;        // atomic word, own cache line
inline constexpr std::size_t kCommittedOffset = 128;      // atomic word, own cache line
inline constexpr std::size_t kCleanOffset = 192;          // clean-close record:
inline constexpr std::size_t kCleanLiveCountOffset = kCleanOffset;
inline constexpr std::size_t kCleanLiveBytesOffset = kCleanOffset + 8;
inline constexpr std::size_t kCleanDeadBytesOffset = kCleanOffset + 16;
inline constexpr std::size_t kCleanIndexChecksumOffset = kCleanOffset + 24;
inline constexpr std::size_t kCleanFieldsSize = 32;
inline constexpr std::size_t kCleanCheckOffset = kCleanOffset + kCleanFieldsSize;  // 0 = dirty
// The overwrite journal (format doc: "Overwriting in place"): a checked word
// naming the record being rewritten (0 = none pending), and the new image of
// that record in the rest of the header page.
inline constexpr std::size_t kJournalWordOffset = 256;  // atomic word, own cache line
// Power-cut recovery (format doc: "Durability"): the committed end as of the
// last completed flush(), the log epoch (seeds the record checksums; bumped
// by clear(), so records of an earlier log never pass for current ones) and
// a tag of the boot that last opened the file.
inline constexpr std::size_t kDurableOffset = 320;  // checked word: durable end / 8
inline constexpr std::size_t kEpochOffset = 384;    // checked word: log epoch
inline constexpr std::size_t kBootOffset = 448;     // XXH3-64 of the boot id; 0 = unknown
inline constexpr std::size_t kJournalImageOffset = 1024;
inline constexpr std::size_t kJournalCapacity = kHeaderSize - kJournalImageOffset;

// Record layout in the data region (little-endian, 8-byte aligned):
//   checksum u32 | type u32 | key_len u32 | value_len u32 | key | value | pad
inline constexpr std::size_t kRecordHeaderSize = 16;
inline constexpr std::uint32_t kTypePut = 1;
inline constexpr std::uint32_t kTypeDelete = 2;

// Bytes of data region a record takes: header, key, value, padded to 8.
constexpr std::uint64_t LogRecordSize(std::uint64_t key_len, std::uint64_t value_len) {
  return (kRecordHeaderSize + key_len + value_len + 7) & ~std::uint64_t{7};
}
inline std::string_view RecordKey(const char* record) { return {record + kRecordHeaderSize, LoadU32(record + 8)}; }
inline std::string_view RecordValue(const char* record) {
  const std::uint32_t key_len = LoadU32(record + 8);
  return {record + kRecordHeaderSize + key_len, LoadU32(record + 12)};
}
// RecordKey(record) == key, without a memcmp call for keys of 8 to 16 bytes.
inline bool KeyEquals(const char* record, std::string_view key) {
  const std::size_t n = key.size();
  if (LoadU32(record + 8) != n) return false;
  const char* stored = record + kRecordHeaderSize;
  if (n >= 8 && n <= 16) {
    // Two overlapping 8-byte loads cover the whole key.
    return LoadU64(stored) == LoadU64(key.data()) && LoadU64(stored + n - 8) == LoadU64(key.data() + n - 8);
  }
  return n == 0 || std::memcmp(stored, key.data(), n) == 0;
}

// Index slot: (28-bit hash tag << 36) | (record offset / 8 + 1); 0 = empty.
inline constexpr unsigned kOffsetBits = 36;
inline constexpr std::uint64_t kOffsetMask = (std::uint64_t{1} << kOffsetBits) - 1;
inline constexpr unsigned kTagBits = 28;
inline std::uint64_t MakeSlot(std::uint64_t hash, std::uint64_t offset) {
  return ((hash >> kOffsetBits) << kOffsetBits) | (offset / 8 + 1);
}
inline std::uint64_t SlotOffset(std::uint64_t slot_value) { return ((slot_value & kOffsetMask) - 1) * 8; }

// Geometry limits: a slot's home is the top log2(slots) bits of its tag.
inline constexpr unsigned kMinIndexLog2 = 3;
inline constexpr unsigned kMaxIndexLog2 = kTagBits;
inline constexpr std::uint64_t kMaxDataCapacity = (kOffsetMask - 1) * 8;
inline constexpr std::uint64_t kMinDataCapacity = 64;
// The index grows when an insert would push it past 70% occupancy.
inline constexpr std::uint64_t kLoadNumerator = 7;
inline constexpr std::uint64_t kLoadDenominator = 10;
inline bool IndexOverLoaded(std::uint64_t keys, std::uint64_t slots) {
  return keys * kLoadDenominator > slots * kLoadNumerator;
}
// The smallest power of two >= `min_slots` (itself one) that holds `keys`
// keys without growing, capped at 2^kMaxIndexLog2.
inline std::uint64_t IndexSlotsFor(std::uint64_t keys, std::uint64_t min_slots) {
  std::uint64_t slots = min_slots;
  while (IndexOverLoaded(keys, slots) && slots < (std::uint64_t{1} << kMaxIndexLog2)) slots *= 2;
  return slots;
}

// The header's checked words (geometry, committed end, durable end, epoch,
// overwrite journal): a 48-bit payload with 16 check bits mixed from it on
// top, so a single atomic store updates both and a corrupted byte is
// detected.
inline constexpr std::uint64_t kPayloadMask = (std::uint64_t{1} << 48) - 1;
inline std::uint64_t Mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
inline std::uint64_t EncodeCheckedWord(std::uint64_t payload) {
  return payload | ((Mix64(payload ^ 0x5354415445ULL) >> 48) << 48);
}
inline bool DecodeCheckedWord(std::uint64_t word, std::uint64_t& payload) {
  payload = word & kPayloadMask;
  return EncodeCheckedWord(payload) == word;
}

// The clean-check word (kCleanCheckOffset) that the clean-close record, the
// geometry word and the committed-end word of `header_page` call for.
std::uint64_t CleanCloseCheck(const char* header_page);

}  // namespace statestore::mmap_internal
