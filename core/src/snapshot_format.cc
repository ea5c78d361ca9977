#include "statestore/snapshot_format.h"

// XXH3 is compiled into this file (XXH_INLINE_ALL) twice over: the portable
// SSE2 code path, and an AVX2 accumulator picked at run time when the CPU
// has it (the same technique as xxhash's own xxh_x86dispatch.c). The AVX2
// path hashes about twice as fast; both produce the same XXH3-64 value.
#define XXH_INLINE_ALL
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STATESTORE_XXH3_DISPATCH 1
#define XXH_DISPATCH_AVX2 1
// The AVX2 accumulator uses aligned 32-byte loads of the accumulators.
#define XXH_ACC_ALIGN 64
#define XXH_TARGET_AVX2 __attribute__((__target__("avx2")))
#include <immintrin.h>
#endif
#include <xxhash.h>

#include <bit>
#include <cstring>
#include <string>

#include "statestore/state_store.h"

static_assert(std::endian::native == std::endian::little,
              "the snapshot and mmap formats are little-endian; big-endian hosts are unsupported");

namespace statestore {
namespace {

using byte_io::LoadU64;
using byte_io::StoreU32;
using byte_io::StoreU64;

#ifdef STATESTORE_XXH3_DISPATCH
XXH_TARGET_AVX2 XXH64_hash_t HashLongAvx2(const void* input, std::size_t len, XXH64_hash_t /*seed*/,
                                          const xxh_u8* /*secret*/, std::size_t /*secret_len*/) {
  return XXH3_hashLong_64b_internal(input, len, XXH3_kSecret, sizeof(XXH3_kSecret), XXH3_accumulate_512_avx2,
                                    XXH3_scrambleAcc_avx2);
}
#endif

// XXH3-64 with seed 0: the snapshot checksum.
std::uint64_t Checksum(const char* data, std::size_t size) {
#ifdef STATESTORE_XXH3_DISPATCH
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2) return XXH3_64bits_internal(data, size, 0, XXH3_kSecret, sizeof(XXH3_kSecret), HashLongAvx2);
#endif
  return XXH3_64bits(data, size);
}

// Unsigned byte-wise comparison, the order every backend iterates in.
bool KeyLess(std::string_view a, std::string_view b) {
  if (a.size() >= 8 && b.size() >= 8) {
    // Fast path: the first eight bytes as big-endian integers order like
    // memcmp; only equal prefixes need the full comparison.
    const std::uint64_t pa = __builtin_bswap64(LoadU64(a.data()));
    const std::uint64_t pb = __builtin_bswap64(LoadU64(b.data()));
    if (pa != pb) return pa < pb;
  }
  return a.compare(b) < 0;  // char_traits<char>::compare uses memcmp: unsigned bytes
}

}  // namespace

SnapshotWriter::SnapshotWriter(std::string& out, std::size_t entry_count, std::size_t kv_bytes) : out_(out) {
  const std::size_t total = SnapshotSize(entry_count, kv_bytes);
  // resize() keeps the existing capacity when the buffer is reused, so a
  // caller that snapshots repeatedly into one string pays no page faults.
  out_.resize(total);
  char* base = out_.data();
  std::memcpy(base, kSnapshotMagic, sizeof kSnapshotMagic);
  StoreU32(base + 8, kSnapshotVersion);
  StoreU32(base + 12, 0);
  StoreU64(base + 16, entry_count);
  StoreU64(base + 24, entry_count * kSnapshotEntryHeaderSize + kv_bytes);
  cursor_ = base + kSnapshotHeaderSize;
  end_ = base + total - kSnapshotTrailerSize;
}

void SnapshotWriter::finish() {
  const char* base = out_.data();
  const std::uint64_t checksum = Checksum(base, static_cast<std::size_t>(end_ - base));
  StoreU64(end_, checksum);
  cursor_ = end_ + kSnapshotTrailerSize;
}

namespace {

// The header and trailer of `blob`: size, magic, version, flags, payload
// size and checksum. Sets `entry_count` to the header's count. Inlined so
// that ValidateSnapshot's entry loop compiles as it did before this was
// split out of it (called, it cost restore() about one instruction more per
// entry).
[[gnu::always_inline]] inline Status CheckSnapshotFrame(std::string_view blob, std::uint64_t& entry_count) {
  if (blob.size() < kSnapshotHeaderSize + kSnapshotTrailerSize) {
    return Status::Corruption("snapshot truncated", "only " + std::to_string(blob.size()) +
                                                        " bytes, a header and trailer need " +
                                                        std::to_string(kSnapshotHeaderSize + kSnapshotTrailerSize));
  }
  const char* base = blob.data();
  if (std::memcmp(base, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
    return Status::Corruption("not a snapshot", "bad magic");
  }
  const std::uint32_t version = snapshot_internal::LoadU32(base + 8);
  if (version != kSnapshotVersion) {
    return Status::InvalidArgument(
        "unsupported snapshot version",
        std::to_string(version) + " (this build reads version " + std::to_string(kSnapshotVersion) + ")");
  }
  if (snapshot_internal::LoadU32(base + 12) != 0) {
    return Status::Corruption("snapshot header has unknown flags set");
  }
  entry_count = LoadU64(base + 16);
  const std::uint64_t payload_size = LoadU64(base + 24);
  const std::uint64_t expected_size = kSnapshotHeaderSize + payload_size + kSnapshotTrailerSize;
  if (payload_size > blob.size() || expected_size != blob.size()) {
    return Status::Corruption("snapshot size mismatch", "header says " + std::to_string(payload_size) +
                                                            " payload bytes, blob has " + std::to_string(blob.size()) +
                                                            " bytes in all (truncated?)");
  }
  const std::uint64_t stored_checksum = LoadU64(base + blob.size() - kSnapshotTrailerSize);
  const std::uint64_t actual_checksum = Checksum(base, blob.size() - kSnapshotTrailerSize);
  if (stored_checksum != actual_checksum) {
    return Status::Corruption("snapshot checksum mismatch", "the blob was altered or torn");
  }
  return Status::OK();
}

}  // namespace

Status ValidateSnapshot(std::string_view blob, SnapshotInfo& info) {
  std::uint64_t entry_count = 0;
  Status status = CheckSnapshotFrame(blob, entry_count);
  if (!status.ok()) return status;

  // Structure: the entries must exactly fill the payload, within limits and
  // in strictly ascending key order.
  const char* entries_end = blob.data() + blob.size() - kSnapshotTrailerSize;
  const char* p = blob.data() + kSnapshotHeaderSize;
  std::uint64_t seen = 0;
  std::uint64_t kv_bytes = 0;
  std::string_view previous_key;
  while (p < entries_end) {
    if (static_cast<std::size_t>(entries_end - p) < kSnapshotEntryHeaderSize) {
      return Status::Corruption("snapshot entry header runs past the payload", "entry " + std::to_string(seen));
    }
    const std::uint32_t key_len = snapshot_internal::LoadU32(p);
    const std::uint32_t value_len = snapshot_internal::LoadU32(p + 4);
    if (key_len > kMaxKeySize || value_len > kMaxValueSize) {
      return Status::Corruption("snapshot entry exceeds the size limits", "entry " + std::to_string(seen));
    }
    p += kSnapshotEntryHeaderSize;
    if (static_cast<std::uint64_t>(entries_end - p) < std::uint64_t{key_len} + value_len) {
      return Status::Corruption("snapshot entry runs past the payload", "entry " + std::to_string(seen));
    }
    const std::string_view key(p, key_len);
    if (seen > 0 && !KeyLess(previous_key, key)) {
      return Status::Corruption("snapshot keys are not in strictly ascending order", "entry " + std::to_string(seen));
    }
    previous_key = key;
    p += std::uint64_t{key_len} + value_len;
    kv_bytes += std::uint64_t{key_len} + value_len;
    ++seen;
  }
  if (seen != entry_count) {
    return Status::Corruption("snapshot entry count mismatch",
                              "header says " + std::to_string(entry_count) + ", payload holds " + std::to_string(seen));
  }
  info.entry_count = entry_count;
  info.kv_bytes = kv_bytes;
  return Status::OK();
}

}  // namespace statestore
