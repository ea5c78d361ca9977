// -----------------------------------------------------------------------------
// File: inmemory_state_store.h
// -----------------------------------------------------------------------------
//
// InMemoryStateStore is the heap-resident StateStore backend: the state of one
// streaming operator held entirely in this process's memory, built for the
// hot path (point lookups of a few tens of nanoseconds, range scans of a few
// nanoseconds per result).
//
// Guarantees:
//  - get(), contains(), range(), prefix_scan() and the for_each_* templates
//    never allocate.
//  - Hashing is XXH3-64 keyed by a per-instance 192-byte secret
//    (internal/key_hash.h, core/doc/key_hash.md) derived from a per-process
//    std::random_device seed and an instance counter, so keys crafted against
//    one store's secret, or against XXH3 itself, do not build long probe
//    chains in another store.
//  - put(), del() and restore() either complete or leave the store exactly
//    as it was (including on allocation failure, reported as
//    ResourceExhausted).
//
// Costs:
//  - get/contains: O(1) expected. put of a new key: O(1) amortised hash
//    insert plus an O(log n) btree insert (or reuse of its marked element).
//    Overwrite with a value whose record fits the old one: in place, no
//    index change. del: O(1) expected (a hash probe and a mark); the
//    rebuild that drops marked elements is O(n), amortised over at least n
//    deletes.
//  - range/prefix_scan: O(log n) to find the start, then O(1) per result,
//    plus one step per deleted-but-not-yet-dropped key inside the range
//    (a scan of a region emptied by many deletes walks their elements until
//    the next rebuild).
//  - snapshot_to: one pass in key order into a buffer sized exactly once.
//    restore: ValidateSnapshot(), one memcpy of the entries into a fresh
//    arena, then one pass building both indexes; the new state is built
//    beside the old one, so memory peaks at both for the duration.
//  - Memory: the records (8 bytes of header per entry, no padding),
//    8 bytes per hash slot (load factor kept at or below 3/4) and about 20
//    bytes per entry of btree. Space freed by del() or by an overwrite that
//    moves a record is counted as dead; when dead space exceeds both the live
//    record bytes and 64 KiB the arena is compacted (live records copied, in
//    key order, into one fresh chunk), so churn never grows memory without
//    bound. Compaction is O(live) and amortised against the dead bytes.
//
// What invalidates views: every std::string_view handed out (by get(), or to
// a visitor) points into the arena and stays valid until the next mutating
// call on this store: put, del, clear, restore, reserve, or destruction. Any
// mutation may compact the arena.
//
// Example:
//   statestore::InMemoryStateStore store;
//   store.reserve(1'000'000);
//   if (auto s = store.put("user:1", "alice"); !s.ok()) return s;
//   if (std::optional<std::string_view> v = store.get("user:1")) use(*v);
//   // Inlined iteration, no indirect call per entry:
//   store.for_each_in_range("user:", "user;", [](std::string_view k, std::string_view v) {
//     consume(k, v);
//     return true;  // false stops the scan
//   });
//
// Thread safety: none; one owner per store (see state_store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "statestore/internal/inmemory_internal.h"
#include "statestore/state_store.h"
#include "statestore/status.h"

namespace statestore {

// Requests a hash secret derived from a fixed seed instead of a random one.
// Only for reproducible measurements (instruction counts) and tests: a fixed
// seed lets keys be crafted to collide, so never use one for a store keyed by
// untrusted input.
struct FixedHashSeed {
  std::uint64_t value = 0;
};

// The layout, and the test-only observers (TEST_*), are in
// internal/inmemory_internal.h.
class InMemoryStateStore final : public inmemory_internal::InMemoryCore {
 public:
  // An empty store with a fresh hash secret. Allocates nothing until the
  // first put() or reserve().
  InMemoryStateStore();
  // An empty store whose hash secret derives from `seed` alone, and keeps
  // deriving from it across restore(). See FixedHashSeed.
  explicit InMemoryStateStore(FixedHashSeed seed);
  ~InMemoryStateStore() override;

  // StateStore. See state_store.h for the contracts.
  std::optional<std::string_view> get(std::string_view key) const override {
    const inmemory_internal::Entry* e = Find(key);
    if (e == nullptr) return std::nullopt;
    return e->value();
  }
  bool contains(std::string_view key) const override { return Find(key) != nullptr; }
  std::size_t size() const override { return live_count_; }
  std::size_t size_bytes() const override { return live_kv_bytes_; }
  // InvalidArgument("key too long"/"value too long", naming the size and the
  // limit) beyond kMaxKeySize/kMaxValueSize; ResourceExhausted when memory
  // runs out. On error the store is unchanged.
  Status put(std::string_view key, std::string_view value) override { return Put(key, value); }
  Status del(std::string_view key) override;
  // Releases all memory (the hash secret is kept).
  Status clear() override;
  void range(std::string_view start, std::string_view end, EntryVisitor visit) const override;
  void prefix_scan(std::string_view prefix, EntryVisitor visit) const override;
  void snapshot_to(std::string& out) const override;
  Status restore(std::string_view blob) override;
  Status flush() override { return Status::OK(); }

  // Inlinable iteration for callers that know the concrete type: `f` is
  // called as f(std::string_view key, std::string_view value) -> bool (true
  // to continue) in ascending key order, with no indirect call per entry.
  // Same contracts as range(), prefix_scan() and a full scan.
  template <typename F>
  void for_each_in_range(std::string_view start, std::string_view end, F&& f) const {
    ForEachInRange(start, end, f);
  }
  template <typename F>
  void for_each_with_prefix(std::string_view prefix, F&& f) const {
    ForEachWithPrefix(prefix, f);
  }
  template <typename F>
  void for_each(F&& f) const {
    ForEach(f);
  }

  // Sizes the hash table for `n` keys so that inserting up to `n` keys does
  // not rehash. Never shrinks. Returns ResourceExhausted, with the table left
  // as it was, when `n` exceeds kMaxReservableKeys or the slots cannot be
  // allocated; OK otherwise.
  Status reserve(std::size_t n);
  static constexpr std::size_t kMaxReservableKeys = (std::size_t{1} << 40) / 4 * 3;
};

}  // namespace statestore
