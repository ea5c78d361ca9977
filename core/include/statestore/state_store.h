// StateStore: the key-value state of one streaming operator.
//
// Keys and values are arbitrary byte strings (zero bytes, 0xFF and empty
// values are all legal), carried as std::string_view. A store is
// single-threaded by design: one owner, no internal locking.
//
// Guarantees shared by every backend:
//  - get() never allocates. range()/prefix_scan() allocate nothing per
//    entry, and nothing at all once a backend's ordered index exists (the
//    mmap backend builds its index on the first ordered call after open,
//    clear() or restore(): see its header).
//  - The views get() and the scans hand out point into the store and stay
//    valid until the next mutating call: put, del, clear, restore, a
//    backend's own mutating calls (InMemoryStateStore::reserve,
//    MmapStateStore::compact), or destruction.
//  - put() and del() report failures as a Status; they never throw on the
//    hot path.
//  - snapshot() produces the portable format documented in
//    core/doc/snapshot_format.md; a snapshot from one backend restores into
//    any other.
//
//   statestore::InMemoryStateStore store;
//   store.put("user:1", "alice");
//   if (auto v = store.get("user:1")) use(*v);
//   store.range("user:", "user;", [](std::string_view k, std::string_view v) {
//     ...; return true;  // false stops the scan
//   });
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "statestore/status.h"

namespace statestore {

// Size limits, enforced by put() with Status::InvalidArgument beyond them.
// Lengths travel as 32-bit fields in both the snapshot and the mmap formats.
inline constexpr std::size_t kMaxKeySize = 64 * 1024;            // 64 KiB
inline constexpr std::size_t kMaxValueSize = 256 * 1024 * 1024;  // 256 MiB

// Called once per entry, in ascending lexicographic (unsigned byte) key order.
// Return true to continue, false to stop the scan early. The views are valid
// only for the duration of the call unless the store is left unmutated.
using EntryVisitor = absl::FunctionRef<bool(std::string_view key, std::string_view value)>;

class StateStore {
 public:
  StateStore() = default;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  virtual ~StateStore() = default;

  // Returns a view of the value stored under `key`, or std::nullopt when the
  // key is absent. Never allocates. The view is valid until the next
  // mutating call on this store.
  virtual std::optional<std::string_view> get(std::string_view key) const = 0;

  // True when `key` is present.
  virtual bool contains(std::string_view key) const = 0;

  // Number of live keys.
  virtual std::size_t size() const = 0;

  // Sum of the lengths of all live keys and values (not the memory used).
  virtual std::size_t size_bytes() const = 0;

  // Inserts or overwrites. REQUIRES nothing; returns InvalidArgument when the
  // key or value exceeds kMaxKeySize / kMaxValueSize, IOError or
  // ResourceExhausted when the backend cannot grow. On error the store is
  // unchanged.
  virtual Status put(std::string_view key, std::string_view value) = 0;

  // Removes `key`. Idempotent: deleting an absent key returns OK.
  virtual Status del(std::string_view key) = 0;

  // Removes every entry.
  virtual Status clear() = 0;

  // Visits every entry with start <= key < end in ascending order. An empty
  // range (start >= end) visits nothing. Allocates nothing per entry (see
  // the file comment for a backend's first ordered call).
  virtual void range(std::string_view start, std::string_view end, EntryVisitor visit) const = 0;

  // Visits every entry whose key begins with `prefix`, in ascending order.
  // An empty prefix visits everything; a prefix of all 0xFF bytes works.
  virtual void prefix_scan(std::string_view prefix, EntryVisitor visit) const = 0;

  // Serialises the whole state into `out` (replacing its contents, reusing
  // its capacity) in the format of core/doc/snapshot_format.md.
  virtual void snapshot_to(std::string& out) const = 0;

  // Convenience: an owned snapshot blob.
  std::string snapshot() const {
    std::string out;
    snapshot_to(out);
    return out;
  }

  // Replaces the whole state with the contents of `blob`. The blob is
  // validated completely (magic, version, structure, checksum, limits)
  // before anything changes: on error the store is exactly as it was and
  // the Status (Corruption or InvalidArgument) says what is wrong.
  virtual Status restore(std::string_view blob) = 0;

  // Makes every completed put/del durable: a no-op in memory, msync for mmap.
  virtual Status flush() = 0;
};

}  // namespace statestore
