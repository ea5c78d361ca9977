#include "statestore/snapshot_format.h"

#include <xxhash.h>

#include <bit>
#include <cstring>
#include <string>

#include "statestore/state_store.h"

static_assert(std::endian::native == std::endian::little,
              "the snapshot and mmap formats are little-endian; big-endian hosts are unsupported");

namespace statestore {
namespace {

void StoreU32(char* p, std::uint32_t v) { std::memcpy(p, &v, sizeof v); }
void StoreU64(char* p, std::uint64_t v) { std::memcpy(p, &v, sizeof v); }
std::uint64_t LoadU64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Unsigned byte-wise comparison, the order every backend iterates in.
bool KeyLess(std::string_view a, std::string_view b) {
  return a.compare(b) < 0;  // char_traits<char>::compare uses memcmp: unsigned bytes
}

}  // namespace

SnapshotWriter::SnapshotWriter(std::string& out, std::size_t entry_count, std::size_t kv_bytes)
    : out_(out) {
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

void SnapshotWriter::add(std::string_view key, std::string_view value) {
  StoreU32(cursor_, static_cast<std::uint32_t>(key.size()));
  StoreU32(cursor_ + 4, static_cast<std::uint32_t>(value.size()));
  cursor_ += kSnapshotEntryHeaderSize;
  if (!key.empty()) std::memcpy(cursor_, key.data(), key.size());
  cursor_ += key.size();
  if (!value.empty()) std::memcpy(cursor_, value.data(), value.size());
  cursor_ += value.size();
}

void SnapshotWriter::finish() {
  const char* base = out_.data();
  const std::uint64_t checksum = XXH3_64bits(base, static_cast<std::size_t>(end_ - base));
  StoreU64(end_, checksum);
  cursor_ = end_ + kSnapshotTrailerSize;
}

Status ValidateSnapshot(std::string_view blob, SnapshotInfo& info) {
  if (blob.size() < kSnapshotHeaderSize + kSnapshotTrailerSize) {
    return Status::Corruption("snapshot truncated",
                              "only " + std::to_string(blob.size()) + " bytes, a header and trailer need " +
                                  std::to_string(kSnapshotHeaderSize + kSnapshotTrailerSize));
  }
  const char* base = blob.data();
  if (std::memcmp(base, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
    return Status::Corruption("not a snapshot", "bad magic");
  }
  const std::uint32_t version = snapshot_internal::LoadU32(base + 8);
  if (version != kSnapshotVersion) {
    return Status::InvalidArgument("unsupported snapshot version",
                                   std::to_string(version) + " (this build reads version " +
                                       std::to_string(kSnapshotVersion) + ")");
  }
  if (snapshot_internal::LoadU32(base + 12) != 0) {
    return Status::Corruption("snapshot header has unknown flags set");
  }
  const std::uint64_t entry_count = LoadU64(base + 16);
  const std::uint64_t payload_size = LoadU64(base + 24);
  const std::uint64_t expected_size = kSnapshotHeaderSize + payload_size + kSnapshotTrailerSize;
  if (payload_size > blob.size() || expected_size != blob.size()) {
    return Status::Corruption("snapshot size mismatch",
                              "header says " + std::to_string(payload_size) + " payload bytes, blob has " +
                                  std::to_string(blob.size()) + " bytes in all (truncated?)");
  }
  const char* entries_end = base + blob.size() - kSnapshotTrailerSize;
  const std::uint64_t stored_checksum = LoadU64(entries_end);
  const std::uint64_t actual_checksum = XXH3_64bits(base, blob.size() - kSnapshotTrailerSize);
  if (stored_checksum != actual_checksum) {
    return Status::Corruption("snapshot checksum mismatch", "the blob was altered or torn");
  }

  // Structure: the entries must exactly fill the payload, within limits and
  // in strictly ascending key order.
  const char* p = base + kSnapshotHeaderSize;
  std::uint64_t seen = 0;
  std::uint64_t kv_bytes = 0;
  std::string_view previous_key;
  while (p < entries_end) {
    if (static_cast<std::size_t>(entries_end - p) < kSnapshotEntryHeaderSize) {
      return Status::Corruption("snapshot entry header runs past the payload",
                                "entry " + std::to_string(seen));
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
      return Status::Corruption("snapshot keys are not in strictly ascending order",
                                "entry " + std::to_string(seen));
    }
    previous_key = key;
    p += std::uint64_t{key_len} + value_len;
    kv_bytes += std::uint64_t{key_len} + value_len;
    ++seen;
  }
  if (seen != entry_count) {
    return Status::Corruption("snapshot entry count mismatch",
                              "header says " + std::to_string(entry_count) + ", payload holds " +
                                  std::to_string(seen));
  }
  info.entry_count = entry_count;
  info.kv_bytes = kv_bytes;
  return Status::OK();
}

}  // namespace statestore
