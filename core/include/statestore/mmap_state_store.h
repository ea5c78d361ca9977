// MmapStateStore: a StateStore kept in one memory-mapped file that survives
// process restarts and SIGKILL.
//
// The file (format in core/doc/mmap_format.md) holds a header page, an
// append-only data region of checksummed records and an open-addressing hash
// index. put() and del() append a record, publish it by bumping the
// committed end in the header, then update the index (an overwrite that
// keeps the record's size rewrites it in place instead); get() probes the
// mapped index and returns a view into the mapped record. An in-memory
// B-tree of record offsets serves range() and prefix_scan() in unsigned byte
// order. It is built on the first ordered call after open, clear() or
// restore() (one sort of the live keys, the only allocation a scan can make)
// and maintained by every put/del (and compact) from then on, so a store
// used only for point operations never pays for it.
//
// Guarantees and costs:
//  - get() is one hash, a few index probes and one record compare; it never
//    allocates. Views stay valid until the next mutating call (put, del,
//    clear, restore, compact, destruction): growth may move the mapping.
//  - put()/del() are amortised O(1) for the index plus O(log n) for the
//    B-tree once an ordered call has built it; growth remaps the file (the
//    data region grows by 1.5x, the index by 2x) and prefaults the new pages.
//  - An overwrite whose record keeps its size (same key, a value of the same
//    length give or take the 8-byte padding, records up to 3 KiB) of a record
//    written since the last flush() is done in place through a redo journal
//    in the header page: no growth, no new pages, no dead bytes. Other
//    overwrites append a new record.
//  - A process killed at any instruction leaves a file that opens to a
//    consistent store holding every put/del that returned.
//  - flush() is a durability point. After a power cut or an operating-system
//    crash at any moment after flush() returned, the file opens (a later
//    Open under the new boot recovers it), and to a state the store held no
//    earlier than that flush: the writes after it survive all together or
//    not at all, so Open gives the state of the last flush, of a later
//    compact()/restore(), or the latest one. What it costs: flush() is two
//    msyncs (the mapping, then the header page recording the durable end);
//    the first same-size overwrite of a key after a flush appends instead of
//    rewriting in place (a flushed record is never rewritten; later
//    overwrites of the new record are in place again); clear() after a flush
//    syncs the header page; compact() and restore() msync the new file
//    before renaming it and fsync the directory after; a recovery that drops
//    a lost tail zeroes and syncs it. Not covered: a disk that writes back a
//    page between two in-place overwrites of records after the last flush
//    and loses a later page can expose a mix of those states (the test model
//    has each page either as flushed or as last written); see
//    core/doc/mmap_format.md, "Durability".
//  - put()/del() accept views previously returned by get()/range() of the
//    same store (they are copied first when growth could move the mapping).
//  - The in-memory B-tree costs about 16 bytes per live key once built.
//  - Records replaced by a resized overwrite, and deleted records, stay in
//    the file as dead bytes until compact() rewrites the live records into a
//    fresh file.
//  - Limits: kMaxKeySize / kMaxValueSize per entry, at most 2^28 index slots
//    (about 188 million keys) and 512 GiB of data region.
//  - One open handle per file: a second Open() of a file that is already
//    open (in this or another process) returns Busy.
//
//   std::unique_ptr<statestore::MmapStateStore> store;
//   statestore::Status s = statestore::MmapStateStore::Open("/var/lib/op/state.mmap", store);
//   if (!s.ok()) return s;
//   store->put("user:1", "alice");
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
#include "statestore/file_system.h"
#include "statestore/internal/key_hash.h"
#include "statestore/state_store.h"
#include "statestore/status.h"

namespace statestore {

struct MmapOptions {
  // Index slots of a newly created file; a power of two, at least 8.
  std::size_t initial_index_slots = 1024;
  // Data region bytes of a newly created file (rounded up to a multiple of 8, at least 64).
  std::size_t initial_data_bytes = 1 << 20;
  // Hash seed of a newly created file; 0 (the default) draws a random one.
  // A fixed seed makes probe sequences, hence instruction counts,
  // reproducible; it also lets keys be crafted to collide, so never fix it
  // for a store keyed by untrusted input. Ignored when the file exists (the
  // seed lives in its header); compact() and restore() keep the file's seed.
  std::uint64_t hash_seed = 0;
  // The operating-system calls the store makes (file_system.h); null: POSIX.
  // Must outlive the store. Tests inject faults and record syncs through it.
  FileSystem* file_system = nullptr;
};

namespace mmap_internal {

// Record layout in the data region (little-endian, 8-byte aligned):
//   checksum u32 | type u32 | key_len u32 | value_len u32 | key | value | pad
inline constexpr std::size_t kRecordHeaderSize = 16;

// Index slot: (28-bit hash tag << 36) | (record offset / 8 + 1); 0 = empty.
inline constexpr unsigned kOffsetBits = 36;
inline constexpr std::uint64_t kOffsetMask = (std::uint64_t{1} << kOffsetBits) - 1;
inline constexpr unsigned kTagBits = 28;

using byte_io::LoadU32;
using byte_io::LoadU64;
inline std::uint64_t SlotOffset(std::uint64_t slot_value) { return ((slot_value & kOffsetMask) - 1) * 8; }

// The header's checked words (geometry, committed end, overwrite journal):
// a 48-bit payload with 16 check bits mixed from it on top. Part of the file
// format; exposed for tests that craft files.
std::uint64_t EncodeCheckedWord(std::uint64_t payload);
// The clean-check word (header offset 224) that the clean-close record, the
// geometry word and the committed-end word of `header_page` call for. Part
// of the file format; exposed for tests that craft files.
std::uint64_t CleanCloseCheck(const char* header_page);

inline std::string_view RecordKey(const char* record) {
  return {record + kRecordHeaderSize, LoadU32(record + 8)};
}
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

// One live key in the ordered index: its first 8 bytes big-endian (zero
// padded), and the record offset shifted left by 4 with min(key_len, 9) in
// the low 4 bits. Most comparisons finish on `prefix` and never touch the
// mapping.
struct OrderedEntry {
  std::uint64_t prefix;
  mutable std::uint64_t packed;  // updated in place when a key is overwritten (same key bytes)
  std::uint64_t offset() const { return packed >> 4; }
  unsigned length_code() const { return static_cast<unsigned>(packed & 15); }
};

// Orders entries by key bytes (unsigned). `data` points at the store's
// current data-region base, which moves when the file is remapped.
struct OrderedCompare {
  using is_transparent = void;
  const char* const* data;

  std::string_view key_of(const OrderedEntry& e) const { return RecordKey(*data + e.offset()); }
  bool operator()(const OrderedEntry& a, const OrderedEntry& b) const {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    // Equal first 8 bytes: when either key has at most 8 bytes it is a
    // prefix of the other, so the shorter one sorts first.
    if (a.length_code() != b.length_code() || a.length_code() < 9) return a.length_code() < b.length_code();
    return key_of(a).compare(key_of(b)) < 0;
  }
  bool operator()(const OrderedEntry& a, std::string_view b) const { return key_of(a).compare(b) < 0; }
  bool operator()(std::string_view a, const OrderedEntry& b) const { return a.compare(key_of(b)) < 0; }
};

using OrderedIndex = absl::btree_set<OrderedEntry, OrderedCompare>;

}  // namespace mmap_internal

class MmapStateStore final : public StateStore {
 public:
  // Opens `path`, creating it when absent (creation is atomic: a crash never
  // leaves a half-written file at `path`). On error returns IOError (the OS
  // refused; errno text included), Corruption (the file failed validation),
  // Busy (already open elsewhere) or InvalidArgument (bad options or an
  // unsupported format version), each message naming the file and the
  // problem, and leaves `out` empty.
  static Status Open(const std::string& path, std::unique_ptr<MmapStateStore>& out,
                     const MmapOptions& options = {});

  // Clean close: records the index checksum and statistics so the next Open
  // can trust the on-file index, then unmaps and unlocks. Does not msync;
  // call flush() first for durability against an OS crash.
  ~MmapStateStore() override;

  // Inline so callers holding an MmapStateStore get the probe loop inlined.
  std::optional<std::string_view> get(std::string_view key) const override {
    bool found;
    const std::uint64_t position = FindSlot(key, Hash(key), found);
    if (!found) return std::nullopt;
    return mmap_internal::RecordValue(data_ + mmap_internal::SlotOffset(index_[position]));
  }
  bool contains(std::string_view key) const override { return get(key).has_value(); }
  std::size_t size() const override { return live_count_; }
  std::size_t size_bytes() const override { return live_bytes_; }
  Status put(std::string_view key, std::string_view value) override;
  Status del(std::string_view key) override;
  Status clear() override;
  void range(std::string_view start, std::string_view end, EntryVisitor visit) const override;
  void prefix_scan(std::string_view prefix, EntryVisitor visit) const override;
  void snapshot_to(std::string& out) const override;
  // Validates `blob`, writes its contents into a fresh file beside this one
  // and renames it over the path. On error the store and file are unchanged.
  // The replaced file is kept as `<path>.spare` (see release_spare()).
  Status restore(std::string_view blob) override;
  // A durability point (see the file comment): msync(MS_SYNC) of the whole
  // mapping, then of the header page recording the durable end (and a
  // retried fsync of the directory, if one after a rename failed). IOError
  // when a sync fails; the contents are unchanged either way.
  Status flush() override;

  // Rewrites the live records, in key order, into a fresh file and renames it
  // over the path. Contents are unchanged; fragmentation() drops to 0. On
  // error the store is unchanged. The replaced file is kept as
  // `<path>.spare` (see release_spare()).
  Status compact();

  // restore() and compact() keep the file they replaced, still open and
  // mapped, as `<path>.spare`, and the next one empties and rewrites it in
  // place instead of creating a file: no fresh pages to fault in, no file
  // to create, flush and delete (restore/mmap/10MB: see benches/README.md).
  // It costs one more file of about the store's size on disk and in the page
  // cache until this call, the next Open of the path, or closing the store
  // removes it. Not needed for correctness: a crash leaves it, and Open
  // deletes it.
  void release_spare();

  // Dead bytes (overwritten or deleted records and tombstones) divided by the
  // data-region bytes in use; 0 for an empty region.
  double fragmentation() const;

  // Touches every page of the mapping so later accesses take no page faults
  // (benchmark warm-up). Contents are unchanged.
  void prefault() const;

  const std::string& path() const { return path_; }

  // The longest distance, in slots, of a live key from its home slot, and
  // the sum of those distances over all live keys (observability for the
  // hash-flooding tests; O(index slots)).
  std::size_t longest_probe_distance() const;
  std::size_t total_probe_distance() const;

  // Like range(), with the visitor inlined: visit(key, value) returns true to
  // continue. Allocates nothing.
  template <typename F>
  void for_each_in_range(std::string_view start, std::string_view end, F&& visit) const {
    if (!(start < end)) return;
    EnsureOrdered();
    for (auto it = ordered_.lower_bound(start); it != ordered_.end(); ++it) {
      const char* record = data_ + it->offset();
      const std::string_view key = mmap_internal::RecordKey(record);
      if (!(key < end)) break;
      if (!visit(key, mmap_internal::RecordValue(record))) break;
    }
  }

  // Like prefix_scan(), with the visitor inlined.
  template <typename F>
  void for_each_with_prefix(std::string_view prefix, F&& visit) const {
    EnsureOrdered();
    for (auto it = ordered_.lower_bound(prefix); it != ordered_.end(); ++it) {
      const char* record = data_ + it->offset();
      const std::string_view key = mmap_internal::RecordKey(record);
      if (!key.starts_with(prefix)) break;
      if (!visit(key, mmap_internal::RecordValue(record))) break;
    }
  }

 private:
  MmapStateStore();

  // Creates `path` atomically holding an empty store (see the .cc);
  // `lost_race` is set when another process created it first.
  static Status CreateAtPath(FileSystem* fs, const std::string& path, std::uint64_t index_slots,
                             std::uint64_t data_capacity, std::uint64_t hash_seed,
                             std::unique_ptr<MmapStateStore>& out, bool& lost_race);
  // Creates (O_TRUNC) and locks `file_path` holding an empty store sized
  // for the given geometry; `out` is left empty on error.
  // `hash_seed` 0 draws a random seed.
  static Status CreateFile(FileSystem* fs, const std::string& file_path, std::uint64_t index_slots,
                           std::uint64_t data_capacity, std::uint64_t hash_seed,
                           std::unique_ptr<MmapStateStore>& out);
  static Status InitializeFile(FileSystem* fs, int fd, const std::string& name, std::uint64_t index_slots,
                               std::uint64_t data_capacity, std::uint64_t hash_seed,
                               std::unique_ptr<MmapStateStore>& out);
  static Status SyncDirectory(FileSystem* fs, const std::string& file_path, const std::string& path);
  // msync(MS_SYNC) of the whole mapping.
  Status SyncMapping();
  // Validates the file behind fd_/base_ and makes it ready for use.
  Status Load(std::uint64_t file_size);
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
    using mmap_internal::kOffsetBits;
    const std::uint64_t tag = hash >> kOffsetBits;
    std::uint64_t position = tag >> index_shift_;
    for (;;) {
      const std::uint64_t v = index_[position];
      if (v == 0) {
        found = false;
        return position;
      }
      if ((v >> kOffsetBits) == tag && mmap_internal::KeyEquals(data_ + mmap_internal::SlotOffset(v), key)) {
        found = true;
        return position;
      }
      position = (position + 1) & index_mask_;
    }
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
  // Rewrites the put record of `key` at `target` (of the same RecordSize)
  // to hold `value`, crash-safely, through the header's overwrite journal.
  void OverwriteInPlace(std::uint64_t target, std::string_view key, std::string_view value);
  // At Open: checks (without writing) an overwrite that a crash interrupted.
  struct PendingOverwrite {
    bool active = false;
    std::uint64_t target = 0;  // data offset of the record being rewritten
  };
  Status CheckPendingOverwrite(std::uint64_t committed_end, PendingOverwrite& pending) const;
  Status ScanRecords(std::uint64_t from, std::uint64_t to, std::uint64_t data_in_file, const PendingOverwrite& pending);
  Status CheckCleanRecord(std::uint64_t committed_end);
  void PublishDurableEnd(std::uint64_t end);
  Status ApplyLoggedRecord(std::uint64_t offset, std::uint32_t type, std::string_view key);
  // Builds ordered_ from the hash index when it is not being maintained.
  void EnsureOrdered() const {
    if (!ordered_valid_) BuildOrderedIndex();
  }
  void BuildOrderedIndex() const;
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
  void SwapContents(MmapStateStore& other);
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
  char* base_ = nullptr;          // start of the mapping (header page)
  std::uint64_t mapped_size_ = 0;
  char* data_ = nullptr;          // base_ + header page: the data region
  std::uint64_t* index_ = nullptr;  // the hash index, after the data region
  std::uint64_t data_capacity_ = 0;
  std::uint64_t index_slots_ = 0;
  std::uint64_t index_mask_ = 0;
  unsigned index_shift_ = 0;      // tag >> index_shift_ is a slot's home
  std::uint64_t hash_seed_ = 0;   // the file's; hash_secret_ derives from it
  internal::HashSecret hash_secret_{};
  std::uint64_t committed_end_ = 0;
  std::uint64_t durable_end_ = 0;  // committed end as of the last flush(); no in-place write below it
  std::uint64_t epoch_ = 0;        // seeds record checksums; bumped by clear()
  std::vector<std::uint64_t> put_starts_;  // Load() only: bitmap of put-record offsets / 8
  std::uint64_t live_count_ = 0;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t dead_bytes_ = 0;
  bool discard_on_close_ = false;   // skip the clean-close bookkeeping (replaced file)
  bool renamed_since_flush_ = false;
  // Heap cell holding data_, read by the ordered index's comparator; it stays
  // put when contents are swapped between stores.
  std::unique_ptr<const char*> data_cell_;
  mutable mmap_internal::OrderedIndex ordered_;
  mutable bool ordered_valid_ = false;  // ordered_ holds every live key
  // The file the last restore()/compact() replaced (see release_spare()).
  std::unique_ptr<MmapStateStore> spare_;
};

}  // namespace statestore
