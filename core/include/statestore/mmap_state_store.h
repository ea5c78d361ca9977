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
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "statestore/file_system.h"
#include "statestore/internal/mmap_internal.h"
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

// The internals, and the test-only observers (TEST_*), are in
// internal/mmap_internal.h; the file format's constants in
// internal/mmap_format.h.
class MmapStateStore final : public mmap_internal::MmapCore {
 public:
  // Opens `path`, creating it when absent (creation is atomic: a crash never
  // leaves a half-written file at `path`). On error returns IOError (the OS
  // refused; errno text included), Corruption (the file failed validation),
  // Busy (already open elsewhere) or InvalidArgument (bad options or an
  // unsupported format version), each message naming the file and the
  // problem, and leaves `out` empty.
  static Status Open(const std::string& path, std::unique_ptr<MmapStateStore>& out, const MmapOptions& options = {});

  // Clean close: records the index checksum and statistics so the next Open
  // can trust the on-file index, then unmaps and unlocks. Does not msync;
  // call flush() first for durability against an OS crash.
  ~MmapStateStore() override;

  // Inline so callers holding an MmapStateStore get the probe loop inlined.
  std::optional<std::string_view> get(std::string_view key) const override { return Get(key); }
  bool contains(std::string_view key) const override { return get(key).has_value(); }
  std::size_t size() const override { return live_count_; }
  std::size_t size_bytes() const override { return live_kv_bytes_; }
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

  // Like range(), with the visitor inlined: visit(key, value) returns true to
  // continue. Allocates nothing once the ordered index is built (the first
  // ordered call after Open, clear() or restore() builds it).
  template <typename F>
  void for_each_in_range(std::string_view start, std::string_view end, F&& visit) const {
    ForEachInRange(start, end, visit);
  }

  // Like prefix_scan(), with the visitor inlined.
  template <typename F>
  void for_each_with_prefix(std::string_view prefix, F&& visit) const {
    ForEachWithPrefix(prefix, visit);
  }

 private:
  friend class mmap_internal::MmapCore;  // creates stores (Open's steps, the spare file)
  MmapStateStore() = default;
};

}  // namespace statestore
