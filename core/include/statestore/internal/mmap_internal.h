// The internals of MmapStateStore (mmap_state_store.h): the in-memory
// ordered index and MmapCore, the base class that holds the store's mapping,
// its geometry and counters, and its inline probe and scan code. The file
// format is in mmap_format.h. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "statestore/file_system.h"
#include "statestore/internal/key_hash.h"
#include "statestore/internal/mmap_format.h"
#include "statestore/internal/store_common.h"
#include "statestore/state_store.h"
#include "statestore/status.h"

namespace statestore {

class MmapStateStore;

namespace mmap_internal {

// One live key in the ordered index: internal::KeyPrefix of the key, and
// the record offset shifted left by 4 with min(key_len, 9) in the low 4
// bits. Most comparisons finish on `key_prefix` and never touch the mapping.
struct OrderedRef {
  std::uint64_t key_prefix;
  mutable std::uint64_t packed;  // updated in place when a key is overwritten (same key bytes)
  std::uint64_t offset() const { return packed >> 4; }
  unsigned length_code() const { return static_cast<unsigned>(packed & 15); }
};

inline OrderedRef MakeOrderedRef(std::string_view key, std::uint64_t offset) {
  return OrderedRef{internal::KeyPrefix(key), (offset << 4) | (key.size() < 9 ? key.size() : 9)};
}

// Orders elements by key bytes (unsigned). `data` points at the store's
// current data-region base, which moves when the file is remapped.
struct OrderedLess {
  using is_transparent = void;
  const char* const* data;

  std::string_view key_of(const OrderedRef& e) const { return RecordKey(*data + e.offset()); }
  bool operator()(const OrderedRef& a, const OrderedRef& b) const {
    if (a.key_prefix != b.key_prefix) return a.key_prefix < b.key_prefix;
    // Equal first 8 bytes: when either key has at most 8 bytes it is a
    // prefix of the other, so the shorter one sorts first.
    if (a.length_code() != b.length_code() || a.length_code() < 9) return a.length_code() < b.length_code();
    return key_of(a).compare(key_of(b)) < 0;
  }
  bool operator()(const OrderedRef& a, std::string_view b) const { return key_of(a).compare(b) < 0; }
  bool operator()(std::string_view a, const OrderedRef& b) const { return a.compare(key_of(b)) < 0; }
};

using OrderedIndex = absl::btree_set<OrderedRef, OrderedLess>;

// The geometry and hash seed of a file to create; hash_seed 0 draws a
// random seed.
struct FileSpec {
  std::uint64_t index_slots = 0;
  std::uint64_t data_capacity = 0;
  std::uint64_t hash_seed = 0;
};

// The data and the inline probe and scan code of MmapStateStore, which
// derives from it and adds the public interface. Its public members are the
// test-only observers (TEST_*); everything else is for the store alone.
class MmapCore : public StateStore {
 public:
  // Probe distances of the live keys (store_common.h); O(index slots).
  internal::ProbeDistances TEST_probe_distances() const;

 protected:
  MmapCore();
  // Clean close: see ~MmapStateStore.
  ~MmapCore() override;

  // Open()'s steps. OpenLocked takes `fd` (an open file at `path`), locks
  // it and loads the store; `replaced` is set (and the descriptor closed)
  // when `path` no longer names that file, so Open tries again.
  static Status OpenLocked(FileSystem* fs, const std::string& path, int fd, std::unique_ptr<MmapStateStore>& out,
                           bool& replaced);
  // Creates `path` atomically holding an empty store (see the .cc);
  // `lost_race` is set when another process created it first.
  static Status CreateAtPath(FileSystem* fs, const std::string& path, const FileSpec& spec,
                             std::unique_ptr<MmapStateStore>& out, bool& lost_race);
  // Links the synced, unnamed (or `temp_path`) file of `fresh` at `path`.
  static Status LinkCreated(FileSystem* fs, const std::string& path, const std::string& temp_path,
                            const MmapCore& fresh, bool& lost_race);
  // Creates (O_TRUNC) and locks `file_path` holding an empty store of
  // `spec`; `out` is left empty on error.
  static Status CreateFile(FileSystem* fs, const std::string& file_path, const FileSpec& spec,
                           std::unique_ptr<MmapStateStore>& out);
  static Status InitializeFile(FileSystem* fs, int fd, const std::string& name, const FileSpec& spec,
                               std::unique_ptr<MmapStateStore>& out);
  static Status SyncDirectory(FileSystem* fs, const std::string& file_path, const std::string& path);
  // msync(MS_SYNC) of the whole mapping.
  Status SyncMapping();

  // Validates the file behind fd_ and makes it ready for use (Open). Its
  // steps read what they check into a LoadPlan; nothing in the file changes
  // before Recover().
  Status Load(std::uint64_t file_size);
  struct PendingOverwrite {
    bool active = false;
    std::uint64_t target = 0;  // data offset of the record being rewritten
  };
  struct LoadPlan {
    std::uint64_t file_size = 0;
    std::uint64_t data_capacity = 0;  // as the header says
    std::uint64_t index_slots = 0;
    std::uint64_t data_in_file = 0;   // bytes of the data region the file holds
    std::uint64_t committed_end = 0;  // as the header says
    std::uint64_t durable_end = 0;
    std::uint64_t end = 0;  // the committed end kept: durable_end when a lost tail is dropped
    std::uint64_t epoch = 0;
    std::uint64_t boot = 0;  // this boot's tag
    std::uint64_t clean_check = 0;
    bool same_boot = false;   // written by this boot: any damage is corruption
    bool short_file = false;  // shorter than its geometry (a lost growth)
    bool clean = false;       // the on-file index and counts are to be trusted
    PendingOverwrite pending;
  };
  Status CheckStaticHeader() const;
  Status ReadHeaderWords(LoadPlan& plan) const;
  Status CheckDataRegion(LoadPlan& plan);
  Status Recover(const LoadPlan& plan);
  Status FitGeometryToFile(const LoadPlan& plan);
  Status RebuildIndex(std::uint64_t end);
  Status MapFile(std::uint64_t size);
  void SetGeometry(std::uint64_t data_capacity, std::uint64_t index_slots);
  // Prefaults (and so reserves space for) up to `max_bytes` of the mapping
  // from `file_offset` on.
  Status PopulateFrom(std::uint64_t file_offset, std::uint64_t max_bytes);
  void AdviseHugePages();
  void WriteGeometry();
  void PublishCommittedEnd(std::uint64_t end);
  void MarkClean();
  Status Corrupt(std::string_view problem) const;
  Status IoError(std::string_view what, int err) const;

  std::uint64_t Hash(std::string_view key) const { return internal::HashKey(key, hash_secret_); }
  // Returns the slot holding `key`, or the empty slot where it would go.
  // The index is never full (at most 70% occupied), so the loop ends.
  std::uint64_t FindSlot(std::string_view key, std::uint64_t hash, bool& found) const {
    const std::uint64_t tag = hash >> kOffsetBits;
    std::uint64_t position = tag >> index_shift_;
    for (;;) {
      const std::uint64_t v = index_[position];
      if (v == 0) {
        found = false;
        return position;
      }
      if ((v >> kOffsetBits) == tag && KeyEquals(data_ + SlotOffset(v), key)) {
        found = true;
        return position;
      }
      position = (position + 1) & index_mask_;
    }
  }
  [[gnu::always_inline]] std::optional<std::string_view> Get(std::string_view key) const {
    bool found;
    const std::uint64_t position = FindSlot(key, Hash(key), found);
    if (!found) return std::nullopt;
    return RecordValue(data_ + SlotOffset(index_[position]));
  }
  std::uint64_t HomeOf(std::uint64_t slot_value) const;
  void InsertIntoIndex(std::uint64_t slot_value);
  void EraseSlot(std::uint64_t position);
  Status Grow(std::uint64_t record_bytes, bool new_key);
  Status RehashInto(std::uint64_t data_capacity, std::uint64_t index_slots);
  // Writes a record past the committed end without publishing it.
  std::uint64_t WriteRecord(std::uint32_t type, std::string_view key, std::string_view value);
  // WriteRecord, then publish it.
  std::uint64_t AppendRecord(std::uint32_t type, std::string_view key, std::string_view value);
  // Rewrites the put record of `key` at `target` (of the same LogRecordSize)
  // to hold `value`, crash-safely, through the header's overwrite journal.
  void OverwriteInPlace(std::uint64_t target, std::string_view key, std::string_view value);
  // At Open: checks (without writing) an overwrite that a crash interrupted.
  Status CheckPendingOverwrite(std::uint64_t committed_end, PendingOverwrite& pending) const;
  Status ScanRecords(std::uint64_t from, std::uint64_t to, std::uint64_t data_in_file, const PendingOverwrite& pending);
  Status CheckCleanRecord(std::uint64_t committed_end);
  Status CheckProbePaths(std::uint64_t occupied) const;
  void PublishDurableEnd(std::uint64_t end);
  Status ApplyLoggedRecord(std::uint64_t offset, std::uint32_t type, std::string_view key);

  // Builds ordered_ from the hash index when it is not being maintained.
  void EnsureOrdered() const {
    if (!ordered_valid_) BuildOrderedIndex();
  }
  void BuildOrderedIndex() const;
  // The ordered scans, visit(key, value) -> bool (true to go on).
  template <typename F>
  [[gnu::always_inline]] void ForEachInRange(std::string_view start, std::string_view end, F& visit) const {
    if (!(start < end)) return;
    EnsureOrdered();
    for (auto it = ordered_.lower_bound(start); it != ordered_.end(); ++it) {
      const char* record = data_ + it->offset();
      const std::string_view key = RecordKey(record);
      if (!(key < end)) break;
      if (!visit(key, RecordValue(record))) break;
    }
  }
  template <typename F>
  [[gnu::always_inline]] void ForEachWithPrefix(std::string_view prefix, F& visit) const {
    EnsureOrdered();
    for (auto it = ordered_.lower_bound(prefix); it != ordered_.end(); ++it) {
      const char* record = data_ + it->offset();
      const std::string_view key = RecordKey(record);
      if (!key.starts_with(prefix)) break;
      if (!visit(key, RecordValue(record))) break;
    }
  }

  // put() for a key known to be absent and greater than every key present
  // (compaction and restore fill fresh files in key order).
  Status AppendInKeyOrder(std::string_view key, std::string_view value);
  // restore()'s fill of the fresh file: every entry of the validated `blob`.
  Status FillFromSnapshot(std::string_view blob);
  // Empties this (spare) store for the given geometry, resizing its file.
  Status ResetEmpty(std::uint64_t index_slots, std::uint64_t data_capacity);
  std::string SpareFile() const;
  void DropSpare();
  // Builds a fresh file with the given contents beside this one (`fill`
  // puts into it), then renames it over path_ and takes it over.
  template <typename Fill>
  Status RewriteFile(std::uint64_t entries, std::uint64_t kv_bytes, Fill&& fill);
  void SwapContents(MmapCore& other);
  bool PointsIntoMapping(std::string_view bytes) const {
    const auto start = reinterpret_cast<std::uintptr_t>(bytes.data());
    const auto base = reinterpret_cast<std::uintptr_t>(base_);
    return !bytes.empty() && start >= base && start < base + mapped_size_;
  }
  void CloseFile();

  FileSystem* fs_ = FileSystem::Default();
  std::string path_;       // as given to Open(), for messages and path()
  std::string file_path_;  // symbolic links resolved: what compact/restore replace
  int fd_ = -1;
  char* base_ = nullptr;  // start of the mapping (header page)
  std::uint64_t mapped_size_ = 0;
  char* data_ = nullptr;            // base_ + header page: the data region
  std::uint64_t* index_ = nullptr;  // the hash index, after the data region
  std::uint64_t data_capacity_ = 0;
  std::uint64_t index_slots_ = 0;
  std::uint64_t index_mask_ = 0;
  unsigned index_shift_ = 0;     // tag >> index_shift_ is a slot's home
  std::uint64_t hash_seed_ = 0;  // the file's; hash_secret_ derives from it
  internal::HashSecret hash_secret_{};
  std::uint64_t committed_end_ = 0;
  std::uint64_t durable_end_ = 0;          // committed end as of the last flush(); no in-place write below it
  std::uint64_t epoch_ = 0;                // seeds record checksums; bumped by clear()
  std::vector<std::uint64_t> put_starts_;  // Load() only: bitmap of put-record offsets / 8
  std::uint64_t live_count_ = 0;
  std::uint64_t live_kv_bytes_ = 0;  // sum of key + value lengths
  std::uint64_t dead_bytes_ = 0;
  bool discard_on_close_ = false;  // skip the clean-close bookkeeping (replaced file)
  bool renamed_since_flush_ = false;
  // Heap cell holding data_, read by the ordered index's comparator; it stays
  // put when contents are swapped between stores.
  std::unique_ptr<const char*> data_cell_;
  mutable OrderedIndex ordered_;
  mutable bool ordered_valid_ = false;  // ordered_ holds every live key
  // The file the last restore()/compact() replaced (see release_spare()).
  std::unique_ptr<MmapStateStore> spare_;
};

}  // namespace mmap_internal
}  // namespace statestore
