#include "statestore/inmemory_state_store.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>

#include "statestore/snapshot_format.h"

namespace statestore {
namespace inmemory_internal {
namespace {

// Records up to this size share chunks; larger ones get a chunk of their own
// so that a chunk tail is never wasted on them.
constexpr std::size_t kFirstChunkSize = 4 * 1024;
constexpr std::size_t kMaxChunkSize = 1024 * 1024;
constexpr std::size_t kOwnChunkThreshold = kMaxChunkSize / 4;

}  // namespace

void FreeDeleter::operator()(void* p) const { std::free(p); }

char* Arena::NewChunk(std::size_t n) {
  std::unique_ptr<char[]> chunk = std::make_unique_for_overwrite<char[]>(n);
  if ((reinterpret_cast<std::uintptr_t>(chunk.get()) + n) >> 48 != 0) {
    // The hash table packs record addresses into 48 bits.
    throw std::bad_alloc();
  }
  // Grow the chunk list first, so that push_back cannot throw and leak.
  if (chunks_.size() == chunks_.capacity()) chunks_.reserve(std::max<std::size_t>(16, 2 * chunks_.size()));
  chunks_.push_back(std::move(chunk));
  reserved_bytes_ += n;
  return chunks_.back().get();
}

char* Arena::AllocateSlow(std::size_t n) {
  if (n > kOwnChunkThreshold) {
    char* p = NewChunk(n);
    used_bytes_ += n;
    return p;
  }
  next_chunk_size_ = std::clamp(next_chunk_size_ * 2, kFirstChunkSize, kMaxChunkSize);
  const std::size_t chunk_size = std::max(next_chunk_size_, n);
  char* chunk = NewChunk(chunk_size);
  // The unused tail of the previous chunk is lost: count it as used so that
  // it shows up as dead space and is reclaimed by compaction.
  used_bytes_ += static_cast<std::size_t>(limit_ - cursor_);
  cursor_ = chunk + n;
  limit_ = chunk + chunk_size;
  used_bytes_ += n;
  return chunk;
}

void Arena::ReserveContiguous(std::size_t n) {
  if (n <= static_cast<std::size_t>(limit_ - cursor_)) return;
  char* chunk = NewChunk(n);
  used_bytes_ += static_cast<std::size_t>(limit_ - cursor_);
  cursor_ = chunk;
  limit_ = chunk + n;
}

namespace {

using internal::KeyPrefix;

// The table every store starts with: one empty slot, so lookups on a store
// that never held a key need no special case.
constexpr std::uint64_t kEmptyTable[1] = {0};

}  // namespace

InMemoryCore::InMemoryCore()
    : secret_(internal::HashSecretFromSeed(internal::InstanceHashSeed())), slots_(kEmptyTable) {}

InMemoryCore::InMemoryCore(std::uint64_t fixed_seed)
    : secret_(internal::HashSecretFromSeed(fixed_seed)), fixed_seed_(fixed_seed), slots_(kEmptyTable) {}

std::size_t InMemoryCore::CapacityFor(std::size_t n) {
  // Linear probing stays short up to a load factor of 3/4.
  std::size_t capacity = kMinCapacity;
  while (capacity * 3 < n * 4) capacity *= 2;
  return capacity;
}

// Inserts keys known to be absent into a table with room for them. Hashes a
// batch ahead and prefetches the home slots, so that the random slot
// accesses of a large table overlap instead of stalling one by one.
class InMemoryCore::BatchInserter {
 public:
  BatchInserter(const InMemoryCore& store, std::uint64_t* table, std::size_t mask)
      : store_(store), table_(table), mask_(mask) {}
  ~BatchInserter() { Flush(); }

  void Add(const Entry* e) {
    batch_[pending_] = e;
    hashes_[pending_] = store_.Hash(e->key());
    __builtin_prefetch(&table_[hashes_[pending_] & mask_], 1);
    if (++pending_ == kBatch) Flush();
  }

  void Flush() {
    for (std::size_t j = 0; j < pending_; ++j) {
      std::size_t i = hashes_[j] & mask_;
      while (table_[i] != kEmptySlot) i = (i + 1) & mask_;
      table_[i] = MakeSlot(hashes_[j], batch_[j]);
    }
    pending_ = 0;
  }

 private:
  static constexpr std::size_t kBatch = 16;
  const InMemoryCore& store_;
  std::uint64_t* const table_;
  const std::size_t mask_;
  std::size_t pending_ = 0;
  const Entry* batch_[kBatch];
  std::uint64_t hashes_[kBatch];
};

void InMemoryCore::FillTable(std::uint64_t* table, std::size_t mask) const {
  // REQUIRES: `table` is empty and has room for every entry.
  BatchInserter inserter(*this, table, mask);
  if (ordered_deleted_ == 0) {
    for (const OrderedRef& ref : ordered_) inserter.Add(ref.entry);
  } else {
    for (const OrderedRef& ref : ordered_) {
      if (!ref.entry->deleted()) inserter.Add(ref.entry);
    }
  }
}

void InMemoryCore::Rehash(std::size_t capacity) {
  SlotTable table(static_cast<std::uint64_t*>(std::calloc(capacity, sizeof(std::uint64_t))));
  if (!table) throw std::bad_alloc();
  FillTable(table.get(), capacity - 1);
  slots_owner_ = std::move(table);
  slots_ = slots_owner_.get();
  slot_mask_ = capacity - 1;
  tombstones_ = 0;
}

Entry* InMemoryCore::NewRecord(std::string_view key, std::string_view value) {
  char* p = arena_.Allocate(ArenaRecordSize(key.size(), value.size()));
  Entry* e = new (p) Entry;
  e->set_sizes(static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size()));
  if (!key.empty()) std::memcpy(e->key_data(), key.data(), key.size());
  if (!value.empty()) std::memcpy(e->value_data(), value.data(), value.size());
  return e;
}

Status InMemoryCore::Overwrite(std::size_t slot, std::string_view key, std::string_view value, std::uint64_t hash) {
  Entry* old = SlotEntry(slots_[slot]);
  const std::size_t old_size = ArenaRecordSize(old->key_size(), old->value_size());
  const std::size_t new_size = ArenaRecordSize(key.size(), value.size());
  if (new_size <= old_size) {
    // In place. `value` may alias this very record (a view from get()).
    if (!value.empty()) std::memmove(old->value_data(), value.data(), value.size());
    live_kv_bytes_ = live_kv_bytes_ - old->value_size() + value.size();
    old->set_value_size(static_cast<std::uint32_t>(value.size()));
    live_record_bytes_ -= old_size - new_size;
    if (new_size != old_size) MaybeCompact();
    return Status::OK();
  }
  Entry* moved;
  try {
    // Copies `value` before anything changes, so aliasing is harmless.
    moved = NewRecord(key, value);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory",
                                     "cannot store a value of " + std::to_string(value.size()) + " bytes");
  }
  ordered_.find(KeyProbe{KeyPrefix(key), key})->entry = moved;
  slots_owner_[slot] = MakeSlot(hash, moved);
  live_kv_bytes_ = live_kv_bytes_ - old->value_size() + value.size();
  live_record_bytes_ += new_size - old_size;
  MaybeCompact();
  return Status::OK();
}

Status InMemoryCore::Insert(std::string_view key, std::string_view value, std::uint64_t hash) {
  try {
    const std::size_t capacity = slot_mask_ + 1;
    if (!slots_owner_) {
      Rehash(kMinCapacity);
    } else if ((live_count_ + tombstones_ + 1) * 4 > capacity * 3) {
      // Double when live keys fill more than half the allowed load;
      // otherwise the table is mostly tombstones: rebuild it at its size.
      Rehash((live_count_ + 1) * 8 > capacity * 3 ? capacity * 2 : capacity);
    }
    const std::size_t slot = FindInsertSlot(hash);
    Entry* e;
    if (ordered_deleted_ == 0) [[likely]] {
      e = NewRecord(key, value);
      // Should this throw, the record just written becomes dead space. The
      // end() hint makes ascending inserts (the common bulk-load order)
      // O(1); any other key costs one extra comparison.
      ordered_.insert(ordered_.end(), OrderedRef{KeyPrefix(key), e});
    } else {
      e = InsertWithDeleted(key, value);
    }
    if (slots_[slot] == kTombstone) --tombstones_;
    slots_owner_[slot] = MakeSlot(hash, e);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory", "cannot store a " + std::to_string(key.size()) +
                                                          "-byte key and a " + std::to_string(value.size()) +
                                                          "-byte value");
  }
  ++live_count_;
  live_kv_bytes_ += key.size() + value.size();
  live_record_bytes_ += ArenaRecordSize(key.size(), value.size());
  return Status::OK();
}

Entry* InMemoryCore::InsertWithDeleted(std::string_view key, std::string_view value) {
  // The key may have been deleted with its record and ordered element kept
  // (see del()): then the element is reused, and so is the record when the
  // value fits in it, which also gives its bytes back to the live count (a
  // delete-and-put-back cycle leaves no dead bytes and so never compacts).
  const auto it = ordered_.lower_bound(KeyProbe{KeyPrefix(key), key});
  if (it == ordered_.end() || !it->entry->deleted() || it->entry->key() != key) {
    Entry* e = NewRecord(key, value);
    ordered_.insert(it, OrderedRef{KeyPrefix(key), e});
    return e;
  }
  Entry* e = it->entry;
  if (value.size() <= e->deleted_value_room()) {
    // A deleted record is reachable from no view a caller may still use.
    if (!value.empty()) std::memcpy(e->value_data(), value.data(), value.size());
    e->set_value_size(static_cast<std::uint32_t>(value.size()));
  } else {
    e = NewRecord(key, value);
    it->entry = e;
  }
  --ordered_deleted_;
  return e;
}

void InMemoryCore::MaybeCompact() {
  const std::size_t dead = dead_record_bytes();
  try {
    if (dead >= kMinDeadBytesToCompact && dead > live_record_bytes_) {
      Compact();
    } else if (ordered_deleted_ > live_count_ + kMinDeadRefsToPurge) [[unlikely]] {
      PurgeDeletedRefs();
    }
  } catch (const std::bad_alloc&) {
    // Both only reclaim space; without memory for them the store stays
    // correct and tries again on a later mutation.
  }
}

void InMemoryCore::PurgeDeletedRefs() {
  OrderedIndex live(ordered_.key_comp());
  for (const OrderedRef& ref : ordered_) {
    if (!ref.entry->deleted()) live.insert(live.end(), ref);
  }
  ordered_.swap(live);
  ordered_deleted_ = 0;
}

void InMemoryCore::Compact() {
  // Everything that can fail happens before anything changes (a purge that
  // throws leaves the index as it was).
  if (ordered_deleted_ > 0) PurgeDeletedRefs();
  Arena fresh;
  if (live_record_bytes_ > 0) fresh.ReserveContiguous(live_record_bytes_);
  SlotTable table(static_cast<std::uint64_t*>(std::calloc(slot_mask_ + 1, sizeof(std::uint64_t))));
  if (!table) throw std::bad_alloc();
  // Copy in key order so that later scans walk memory sequentially.
  for (const OrderedRef& ref : ordered_) {
    const Entry* old = ref.entry;
    const std::size_t bytes = ArenaRecordSize(old->key_size(), old->value_size());
    Entry* e = reinterpret_cast<Entry*>(fresh.Allocate(bytes));
    std::memcpy(static_cast<void*>(e), old, bytes);
    ref.entry = e;
  }
  FillTable(table.get(), slot_mask_);
  arena_ = std::move(fresh);
  slots_owner_ = std::move(table);
  slots_ = slots_owner_.get();
  tombstones_ = 0;
}

void InMemoryCore::Swap(InMemoryCore& other) noexcept {
  using std::swap;
  swap(secret_, other.secret_);
  swap(fixed_seed_, other.fixed_seed_);
  swap(slots_owner_, other.slots_owner_);
  swap(slots_, other.slots_);
  swap(slot_mask_, other.slot_mask_);
  swap(tombstones_, other.tombstones_);
  ordered_.swap(other.ordered_);
  swap(ordered_deleted_, other.ordered_deleted_);
  swap(arena_, other.arena_);
  swap(live_count_, other.live_count_);
  swap(live_kv_bytes_, other.live_kv_bytes_);
  swap(live_record_bytes_, other.live_record_bytes_);
}

std::size_t InMemoryCore::TEST_memory_usage() const {
  // The btree's node overhead is not exposed; estimate its leaves as 3/4 full.
  const std::size_t ordered_estimate = ordered_.size() * sizeof(OrderedRef) * 4 / 3;
  return arena_.reserved_bytes() + index_capacity() * sizeof(std::uint64_t) + ordered_estimate;
}

internal::ProbeDistances InMemoryCore::TEST_probe_distances() const {
  internal::ProbeDistances distances;
  if (!slots_owner_) return distances;
  for (std::size_t i = 0; i <= slot_mask_; ++i) {
    const std::uint64_t s = slots_[i];
    if (s == kEmptySlot || s == kTombstone) continue;
    const std::size_t distance = (i - (Hash(SlotEntry(s)->key()) & slot_mask_)) & slot_mask_;
    distances.longest = std::max(distances.longest, distance);
    distances.total += distance;
  }
  return distances;
}

}  // namespace inmemory_internal

namespace {

using inmemory_internal::ArenaRecordSize;
using inmemory_internal::Entry;
using inmemory_internal::kEmptyTable;
using inmemory_internal::kTombstone;
using inmemory_internal::OrderedRef;
using inmemory_internal::SlotEntry;
using internal::KeyPrefix;

}  // namespace

InMemoryStateStore::InMemoryStateStore() = default;

InMemoryStateStore::InMemoryStateStore(FixedHashSeed seed) : InMemoryCore(seed.value) {}

InMemoryStateStore::~InMemoryStateStore() = default;

Status InMemoryStateStore::reserve(std::size_t n) {
  // Checked before CapacityFor(), whose doubling would overflow.
  if (n > kMaxReservableKeys) {
    return Status::ResourceExhausted(
        "cannot reserve " + std::to_string(n) + " keys",
        "the hash table holds at most " + std::to_string(kMaxReservableKeys) + " keys (2^40 slots at a load of 3/4)");
  }
  const std::size_t capacity = CapacityFor(n);
  if (capacity <= index_capacity()) return Status::OK();
  try {
    Rehash(capacity);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory", "cannot allocate " + std::to_string(capacity) +
                                                          " hash slots for " + std::to_string(n) + " keys");
  }
  return Status::OK();
}

Status InMemoryStateStore::del(std::string_view key) {
  const std::size_t slot = FindSlot(key, Hash(key));
  if (slot == kNotFound) return Status::OK();
  Entry* e = SlotEntry(slots_[slot]);
  slots_owner_[slot] = kTombstone;
  ++tombstones_;
  --live_count_;
  live_kv_bytes_ -= e->key_size() + e->value_size();
  live_record_bytes_ -= ArenaRecordSize(e->key_size(), e->value_size());
  // The ordered index keeps the key's element (an O(log n) erase is most of
  // what a delete would cost): marked here, skipped by scans, reused by a
  // re-insert of the key, dropped by the next rebuild (MaybeCompact).
  e->mark_deleted();
  ++ordered_deleted_;
  MaybeCompact();
  return Status::OK();
}

Status InMemoryStateStore::clear() {
  slots_owner_.reset();
  slots_ = kEmptyTable;
  slot_mask_ = 0;
  tombstones_ = 0;
  ordered_.clear();
  ordered_deleted_ = 0;
  arena_ = inmemory_internal::Arena();
  live_count_ = 0;
  live_kv_bytes_ = 0;
  live_record_bytes_ = 0;
  return Status::OK();
}

void InMemoryStateStore::range(std::string_view start, std::string_view end, EntryVisitor visit) const {
  for_each_in_range(start, end, visit);
}

void InMemoryStateStore::prefix_scan(std::string_view prefix, EntryVisitor visit) const {
  for_each_with_prefix(prefix, visit);
}

void InMemoryStateStore::snapshot_to(std::string& out) const {
  SnapshotWriter writer(out, live_count_, live_kv_bytes_);
  auto add = [&writer](std::string_view key, std::string_view value) {
    writer.add(key, value);
    return true;
  };
  if (ordered_deleted_ == 0) {
    ScanAll<false>(add);
  } else {
    ScanAll<true>(add);
  }
  writer.finish();
}

Status InMemoryStateStore::restore(std::string_view blob) {
  SnapshotInfo info;
  Status status = ValidateSnapshot(blob, info);
  if (!status.ok()) return status;
  try {
    InMemoryStateStore fresh;
    if (fixed_seed_) {
      fresh.fixed_seed_ = fixed_seed_;
      fresh.secret_ = secret_;
    }
    fresh.Rehash(CapacityFor(info.entry_count));
    // The snapshot's entries are laid out exactly like arena records: copy
    // them in one piece, then index them in one pass in key order (the
    // blob's order, already validated as strictly ascending), so each btree
    // insert appends.
    const std::size_t payload_size = blob.size() - kSnapshotHeaderSize - kSnapshotTrailerSize;
    if (payload_size > 0) {
      char* const arena = fresh.arena_.Allocate(payload_size);
      std::memcpy(arena, blob.data() + kSnapshotHeaderSize, payload_size);
      BatchInserter inserter(fresh, fresh.slots_owner_.get(), fresh.slot_mask_);
      for (char* p = arena; p < arena + payload_size;) {
        Entry* e = reinterpret_cast<Entry*>(p);
        fresh.ordered_.insert(fresh.ordered_.end(), OrderedRef{KeyPrefix(e->key()), e});
        inserter.Add(e);
        p += ArenaRecordSize(e->key_size(), e->value_size());
      }
    }
    fresh.live_count_ = info.entry_count;
    fresh.live_kv_bytes_ = info.kv_bytes;
    fresh.live_record_bytes_ = fresh.arena_.used_bytes();
    Swap(fresh);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory",
                                     "cannot restore a snapshot of " + std::to_string(blob.size()) + " bytes");
  }
  return Status::OK();
}

}  // namespace statestore
