// The internals of InMemoryStateStore (inmemory_state_store.h): its record
// layout, arena, hash-slot encoding and ordered-index element, and
// InMemoryCore, the base class that holds the store's data and its inline
// probe and scan code. Not part of the public API.
//
// Layout. Every entry lives in a chunked arena as one contiguous record
// (4-byte key length, 4-byte value length, key bytes, value bytes: the
// snapshot format's entry layout, so restore() copies a snapshot's entries
// into the arena with one memcpy). Two indexes point at the records:
//   - a flat open-addressing hash table (linear probing, tombstones on
//     delete, 8-byte slots holding a 16-bit tag made of 15 hash bits and a
//     48-bit record address) for get/put/del;
//   - an absl::btree_set of {big-endian 8-byte key prefix, record address}
//     for range() and prefix_scan(), ordered by unsigned byte comparison.
//     del() leaves the key's element in place and marks its record deleted
//     (the value length's top bit set): scans skip it, a later put() of the
//     same key reuses it (and the record, when the value fits), and a
//     rebuild drops the marked elements in one pass (at compaction, or once
//     they outnumber the live keys by kMinDeadRefsToPurge).
// A get() therefore touches one slot (rarely two) and one record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "statestore/byte_io.h"
#include "statestore/internal/key_hash.h"
#include "statestore/internal/store_common.h"
#include "statestore/state_store.h"
#include "statestore/status.h"

namespace statestore::inmemory_internal {

static_assert(sizeof(void*) == 8, "InMemoryStateStore packs 48-bit addresses into 64-bit slots");

using byte_io::LoadU32;
using byte_io::LoadU64;

// One arena record, laid out exactly like a snapshot entry: the key length
// and the value length (4 bytes each, little-endian), then the key bytes,
// then the value bytes. Records are unaligned (so a snapshot's payload can be
// copied into the arena in one piece); the lengths are read with memcpy.
class Entry {
 public:
  static constexpr std::size_t kHeaderSize = 8;

  std::uint32_t key_size() const { return LoadU32(base()); }
  std::uint32_t value_size() const { return LoadU32(base() + 4); }
  void set_sizes(std::uint32_t key_size, std::uint32_t value_size) {
    byte_io::StoreU32(base(), key_size);
    byte_io::StoreU32(base() + 4, value_size);
  }
  void set_value_size(std::uint32_t value_size) { byte_io::StoreU32(base() + 4, value_size); }
  // A deleted record whose ordered-index element has not been dropped yet:
  // the value length's top bit (kMaxValueSize < 2^31) is set and the other
  // bits keep the length the record had, so a re-insert of the key can reuse
  // the record when the new value fits. Its key bytes stay intact (the index
  // still compares them).
  static constexpr std::uint32_t kDeletedBit = 0x8000'0000;
  bool deleted() const { return (value_size() & kDeletedBit) != 0; }
  void mark_deleted() { set_value_size(value_size() | kDeletedBit); }
  // REQUIRES: deleted(). The value bytes the record has room for.
  std::uint32_t deleted_value_room() const { return value_size() & ~kDeletedBit; }

  const char* key_data() const { return base() + kHeaderSize; }
  char* key_data() { return base() + kHeaderSize; }
  const char* value_data() const { return key_data() + key_size(); }
  char* value_data() { return key_data() + key_size(); }
  std::string_view key() const { return {key_data(), key_size()}; }
  std::string_view value() const { return {value_data(), value_size()}; }

 private:
  const char* base() const { return reinterpret_cast<const char*>(this); }
  char* base() { return reinterpret_cast<char*>(this); }

  char header_[kHeaderSize];
};
static_assert(alignof(Entry) == 1 && sizeof(Entry) == Entry::kHeaderSize);

// Bytes of arena a record of this shape occupies (no padding).
constexpr std::size_t ArenaRecordSize(std::size_t key_size, std::size_t value_size) {
  return Entry::kHeaderSize + key_size + value_size;
}

// An element of the ordered index.
struct OrderedRef {
  std::uint64_t key_prefix;  // internal::KeyPrefix of the key
  // Mutable so that moving a record (overwrite, compaction) can repoint it in
  // place: the key, hence the element's position, does not change.
  mutable Entry* entry;
};

// A lookup key for the ordered index.
struct KeyProbe {
  std::uint64_t key_prefix;
  std::string_view key;
};

struct OrderedLess {
  using is_transparent = void;

  static std::string_view KeyOf(const OrderedRef& r) { return r.entry->key(); }
  static std::string_view KeyOf(const KeyProbe& p) { return p.key; }

  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    // Most comparisons end on the prefixes. The hint pins GCC's own static
    // estimate for this branch (67%, which its heuristics give while they
    // take compare() below for a call that may write memory); unpinned, the
    // estimate moved with unrelated code in the translation unit (50% once
    // the internals had their own header: restore's btree inserts, laid out
    // for it, took 1.7 instructions more each).
    if (__builtin_expect_with_probability(a.key_prefix != b.key_prefix, 1, 0.67)) {
      return a.key_prefix < b.key_prefix;
    }
    return KeyOf(a).compare(KeyOf(b)) < 0;
  }
};

using OrderedIndex = absl::btree_set<OrderedRef, OrderedLess>;

// A chunked bump allocator for records. Records never move while they live
// in an arena; InMemoryCore::Compact() copies them into a new one.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&&) noexcept = default;

  // Returns `n` contiguous bytes (unaligned). Throws std::bad_alloc when
  // memory runs out.
  char* Allocate(std::size_t n) {
    if (n <= static_cast<std::size_t>(limit_ - cursor_)) {
      char* p = cursor_;
      cursor_ += n;
      used_bytes_ += n;
      return p;
    }
    return AllocateSlow(n);
  }

  // Makes the next `n` bytes of allocations come from one fresh chunk.
  void ReserveContiguous(std::size_t n);

  // Bytes handed out, plus chunk tails skipped when a record did not fit.
  std::size_t used_bytes() const { return used_bytes_; }
  // Bytes obtained from the system.
  std::size_t reserved_bytes() const { return reserved_bytes_; }

 private:
  char* AllocateSlow(std::size_t n);
  char* NewChunk(std::size_t n);

  std::vector<std::unique_ptr<char[]>> chunks_;
  char* cursor_ = nullptr;
  char* limit_ = nullptr;
  std::size_t used_bytes_ = 0;
  std::size_t reserved_bytes_ = 0;
  std::size_t next_chunk_size_ = 0;
};

struct FreeDeleter {
  void operator()(void* p) const;
};
using SlotTable = std::unique_ptr<std::uint64_t[], FreeDeleter>;

// Hash slot encoding: 0 = empty, kTombstone = deleted, otherwise the top 16
// bits are a tag (the top 15 bits of the key's hash with bit 63 forced to
// one, so a tag never matches an empty slot or a tombstone) and the low 48
// bits the record address.
inline constexpr std::uint64_t kEmptySlot = 0;
inline constexpr std::uint64_t kTombstone = 1;
inline constexpr int kTagShift = 48;
inline constexpr std::uint64_t kAddressMask = (std::uint64_t{1} << kTagShift) - 1;
inline constexpr std::uint64_t kTagMask = ~kAddressMask;
inline constexpr std::uint64_t kTagBit = std::uint64_t{1} << 63;

inline Entry* SlotEntry(std::uint64_t slot) { return reinterpret_cast<Entry*>(slot & kAddressMask); }
inline std::uint64_t MakeSlot(std::uint64_t hash, const Entry* e) {
  return ((hash | kTagBit) & kTagMask) | reinterpret_cast<std::uintptr_t>(e);
}
inline bool KeyEquals(const Entry* e, std::string_view key) {
  if (key.size() == 8) [[likely]] {
    return e->key_size() == 8 && LoadU64(e->key_data()) == LoadU64(key.data());
  }
  return e->key_size() == key.size() && (key.empty() || std::memcmp(e->key_data(), key.data(), key.size()) == 0);
}

// The data and the inline probe and scan code of InMemoryStateStore, which
// derives from it and adds the public interface. Its public members are the
// test-only observers (TEST_*); everything else is for the store alone.
class InMemoryCore : public StateStore {
 public:
  // Test-only observers. Approximate bytes held: arena chunks + hash slots +
  // ordered index.
  std::size_t TEST_memory_usage() const;
  // Bytes of arena obtained from the system / occupied by live records /
  // dead (freed but not yet reclaimed).
  std::size_t TEST_arena_reserved_bytes() const { return arena_.reserved_bytes(); }
  std::size_t TEST_live_record_bytes() const { return live_record_bytes_; }
  std::size_t TEST_dead_record_bytes() const { return dead_record_bytes(); }
  // Hash slots currently allocated (0 before the first insert).
  std::size_t TEST_index_capacity() const { return index_capacity(); }
  // Probe distances of the live keys (store_common.h).
  internal::ProbeDistances TEST_probe_distances() const;
  // This instance's keyed hash of `key` (stable for the life of the store
  // until restore(), which adopts a new secret unless the store was built
  // with a FixedHashSeed).
  std::uint64_t TEST_hash(std::string_view key) const { return Hash(key); }

 protected:
  // A fresh per-instance secret / one derived from `fixed_seed` alone.
  InMemoryCore();
  explicit InMemoryCore(std::uint64_t fixed_seed);

  static constexpr std::size_t kNotFound = SIZE_MAX;
  static constexpr std::size_t kMinCapacity = 16;
  static constexpr std::size_t kMinDeadBytesToCompact = 64 * 1024;
  // Marked ordered-index elements beyond the live count that trigger a
  // rebuild of the index (records of very different sizes can leave many
  // marked elements before the dead bytes trigger a compaction).
  static constexpr std::size_t kMinDeadRefsToPurge = 1024;

  std::uint64_t Hash(std::string_view key) const { return internal::HashKey(key, secret_); }
  std::size_t index_capacity() const { return slots_owner_ ? slot_mask_ + 1 : 0; }
  std::size_t dead_record_bytes() const { return arena_.used_bytes() - live_record_bytes_; }

  // Index of the slot holding `key`, or kNotFound.
  std::size_t FindSlot(std::string_view key, std::uint64_t hash) const {
    const std::uint64_t tagged = hash | kTagBit;
    std::size_t i = hash & slot_mask_;
    for (;;) {
      const std::uint64_t s = slots_[i];
      if ((s ^ tagged) <= kAddressMask && KeyEquals(SlotEntry(s), key)) [[likely]] {
        return i;
      }
      if (s == kEmptySlot) return kNotFound;
      i = (i + 1) & slot_mask_;
    }
  }
  const Entry* Find(std::string_view key) const {
    const std::size_t i = FindSlot(key, Hash(key));
    return i == kNotFound ? nullptr : SlotEntry(slots_[i]);
  }
  // First empty-or-tombstone slot on `hash`'s probe path.
  std::size_t FindInsertSlot(std::uint64_t hash) const {
    std::size_t i = hash & slot_mask_;
    while (slots_[i] != kEmptySlot && slots_[i] != kTombstone) i = (i + 1) & slot_mask_;
    return i;
  }
  static std::size_t CapacityFor(std::size_t n);

  // put(): an overwrite of the same length in place, anything else out of line.
  Status Put(std::string_view key, std::string_view value) {
    if (internal::EntryTooLarge(key.size(), value.size())) [[unlikely]] {
      return internal::EntryTooLargeError(key.size(), value.size());
    }
    const std::uint64_t hash = Hash(key);
    const std::size_t slot = FindSlot(key, hash);
    if (slot == kNotFound) return Insert(key, value, hash);
    Entry* e = SlotEntry(slots_[slot]);
    if (value.size() != e->value_size()) return Overwrite(slot, key, value, hash);
    // Same length: overwrite in place. memmove, as `value` may be a view
    // into this store.
    if (!value.empty()) std::memmove(e->value_data(), value.data(), value.size());
    return Status::OK();
  }
  Entry* NewRecord(std::string_view key, std::string_view value);
  // Insert()'s record and ordered element when deleted keys are still in the
  // ordered index.
  Entry* InsertWithDeleted(std::string_view key, std::string_view value);
  Status Insert(std::string_view key, std::string_view value, std::uint64_t hash);
  Status Overwrite(std::size_t slot, std::string_view key, std::string_view value, std::uint64_t hash);
  // Rebuilds the hash table with `capacity` slots from the ordered index.
  void Rehash(std::size_t capacity);
  void MaybeCompact();
  void Compact();
  // Rebuilds the ordered index without its marked elements. Throws
  // std::bad_alloc with the store unchanged.
  void PurgeDeletedRefs();

  // The scans in ascending key order, f(key, value) -> bool (true to go on):
  // with the test for marked elements only while there are some.
  template <typename F>
  [[gnu::always_inline]] void ForEachInRange(std::string_view start, std::string_view end, F& f) const {
    if (start.compare(end) >= 0) return;
    if (ordered_deleted_ == 0) [[likely]] {
      ScanRange<false>(start, end, f);
    } else {
      ScanRange<true>(start, end, f);
    }
  }
  template <typename F>
  [[gnu::always_inline]] void ForEachWithPrefix(std::string_view prefix, F& f) const {
    if (ordered_deleted_ == 0) [[likely]] {
      ScanPrefix<false>(prefix, f);
    } else {
      ScanPrefix<true>(prefix, f);
    }
  }
  template <typename F>
  [[gnu::always_inline]] void ForEach(F& f) const {
    if (ordered_deleted_ == 0) [[likely]] {
      ScanAll<false>(f);
    } else {
      ScanAll<true>(f);
    }
  }
  template <bool kSkipDeleted, typename F>
  void ScanRange(std::string_view start, std::string_view end, F& f) const;
  template <bool kSkipDeleted, typename F>
  void ScanPrefix(std::string_view prefix, F& f) const;
  template <bool kSkipDeleted, typename F>
  void ScanAll(F& f) const;

  class BatchInserter;
  void FillTable(std::uint64_t* table, std::size_t mask) const;
  void Swap(InMemoryCore& other) noexcept;

  internal::HashSecret secret_;
  std::optional<std::uint64_t> fixed_seed_;  // set: secret_ derives from it
  // Hash table. slots_ points at slots_owner_, or at a one-slot static empty
  // table before the first insert, so lookups need no null check.
  SlotTable slots_owner_;
  const std::uint64_t* slots_;
  std::size_t slot_mask_ = 0;
  std::size_t tombstones_ = 0;

  OrderedIndex ordered_;
  std::size_t ordered_deleted_ = 0;  // elements of ordered_ whose record is marked deleted
  Arena arena_;

  std::size_t live_count_ = 0;
  std::size_t live_kv_bytes_ = 0;      // sum of key + value lengths
  std::size_t live_record_bytes_ = 0;  // sum of ArenaRecordSize() of live records
};

template <bool kSkipDeleted, typename F>
[[gnu::always_inline]] inline void InMemoryCore::ScanRange(std::string_view start, std::string_view end, F& f) const {
  using internal::KeyPrefix;
  const std::uint64_t end_prefix = KeyPrefix(end);
  for (auto it = ordered_.lower_bound(KeyProbe{KeyPrefix(start), start}); it != ordered_.end(); ++it) {
    const Entry* e = it->entry;
    if (it->key_prefix >= end_prefix) {
      if (it->key_prefix > end_prefix || e->key().compare(end) >= 0) return;
    }
    if constexpr (kSkipDeleted) {
      if (e->deleted()) continue;
    }
    if (!f(e->key(), e->value())) return;
  }
}

template <bool kSkipDeleted, typename F>
[[gnu::always_inline]] inline void InMemoryCore::ScanPrefix(std::string_view prefix, F& f) const {
  // Keys that begin with `prefix` form one run starting at lower_bound(prefix).
  // A key >= prefix whose first min(8, |prefix|) bytes match cannot be shorter
  // than the prefix (it would then be a proper prefix of it, hence smaller).
  const std::size_t checked = prefix.size() < 8 ? prefix.size() : 8;
  const std::uint64_t mask = checked == 0 ? 0 : ~std::uint64_t{0} << (64 - 8 * checked);
  const std::uint64_t prefix_bits = internal::KeyPrefix(prefix);
  for (auto it = ordered_.lower_bound(KeyProbe{prefix_bits, prefix}); it != ordered_.end(); ++it) {
    const Entry* e = it->entry;
    if ((it->key_prefix & mask) != prefix_bits) return;
    if (prefix.size() > 8 &&
        (e->key_size() < prefix.size() || std::memcmp(e->key_data() + 8, prefix.data() + 8, prefix.size() - 8) != 0)) {
      return;
    }
    if constexpr (kSkipDeleted) {
      if (e->deleted()) continue;
    }
    if (!f(e->key(), e->value())) return;
  }
}

template <bool kSkipDeleted, typename F>
[[gnu::always_inline]] inline void InMemoryCore::ScanAll(F& f) const {
  for (const OrderedRef& ref : ordered_) {
    if constexpr (kSkipDeleted) {
      if (ref.entry->deleted()) continue;
    }
    if (!f(ref.entry->key(), ref.entry->value())) return;
  }
}

}  // namespace statestore::inmemory_internal
