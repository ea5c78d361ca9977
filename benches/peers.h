// -----------------------------------------------------------------------------
// File: peers.h
// -----------------------------------------------------------------------------
//
// What a user would pick instead of our stores, behind the method names the
// workloads in workloads.h call (get/put/del/for_each_in_range/snapshot_to),
// so peers run the same data through the same loops. Built only when
// STATESTORE_BUILD_PEERS is ON.
//
//  - FlatHashMapPeer: absl::flat_hash_map<std::string, std::string>. get()
//    uses heterogeneous lookup (absl's default string hash/eq are
//    transparent), so it never builds a std::string and never allocates.
//    put() is find-then-assign for an existing key (std::string::assign keeps
//    the value's capacity, so an overwrite with a same-sized value does not
//    allocate) and emplace for a new key (one allocation per value > 15 B).
//  - UnorderedMapPeer: std::unordered_map with a transparent hash and
//    std::equal_to<> (C++20 heterogeneous lookup), same put policy.
//  - BtreeMapPeer: absl::btree_map<std::string, std::string>, range scans
//    with lower_bound + iteration.
//  - LmdbPeer: LMDB with MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS. get() runs
//    in one read transaction opened by BeginReads() and reused for every get
//    (what a read-mostly caller does). put()/del() run one write transaction
//    per operation, committed before returning: like MmapStateStore, a
//    completed put then survives the process being killed (NOSYNC drops only
//    OS-crash durability, as our store does without flush()), so the
//    comparison is like for like. Loading uses one transaction per 10,000
//    puts. EndReads() closes the read transaction for the delete benchmark:
//    a reader held open across a million write transactions pins every page
//    they free and the map fills up.
//  - RocksDbPeer: RocksDB as the streaming engines configure it for keyed
//    state (Kafka Streams' RocksDBStore defaults; Flink's RocksDB backend
//    differs in compaction style only): the WAL off (both engines recover
//    from their own checkpoint or changelog, never from RocksDB's log; so,
//    unlike our mmap store and LMDB, a put that returned does not survive
//    the process being killed until the memtable is flushed), 4 KiB blocks,
//    a 10-bit Bloom filter, no compression, universal compaction, 16 MiB
//    memtables (3 of them), two background threads; the LRU block cache is
//    sized to hold the whole working set (twice its raw bytes, at least
//    64 MiB), not Kafka Streams' 50 MiB. Load() writes batches of 10,000,
//    then flushes and compacts to one sorted run: the best shape for reads.
//    get() pins the value in the block cache (PinnableSlice, no copy); the
//    view is valid until the next call. for_each_in_range() opens one
//    iterator per scan with the end as its upper bound. snapshot_to() is an
//    iterator dump of every entry (4-byte key length, 4-byte value length,
//    key, value: our snapshot's entry layout, without its header and
//    checksum) into a reused buffer; Checkpoint() is RocksDB's own
//    checkpoint (flush, then hard links to the table files), what Flink's
//    checkpoints build on.
#pragma once

#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "statestore/status.h"

namespace statestore::bench {

// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), and its heterogeneous lookup takes that type.
inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// `View` is the heterogeneous lookup key type the map accepts.
template <typename Map, typename View>
class MapPeer {
 public:
  void reserve(std::size_t n) { map_.reserve(n); }
  std::optional<std::string_view> get(std::string_view key) const {
    auto it = map_.find(View(key.data(), key.size()));
    if (it == map_.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  Status put(std::string_view key, std::string_view value) {
    auto it = map_.find(View(key.data(), key.size()));
    if (it != map_.end()) {
      it->second.assign(value.data(), value.size());
    } else {
      map_.emplace(std::string(key), std::string(value));
    }
    return Status::OK();
  }
  Status del(std::string_view key) {
    auto it = map_.find(View(key.data(), key.size()));
    if (it != map_.end()) map_.erase(it);
    return Status::OK();
  }
  std::size_t size() const { return map_.size(); }

 private:
  Map map_;
};

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using FlatHashMapPeer = MapPeer<absl::flat_hash_map<std::string, std::string>, absl::string_view>;
using UnorderedMapPeer =
    MapPeer<std::unordered_map<std::string, std::string, TransparentStringHash, std::equal_to<>>, std::string_view>;

class BtreeMapPeer {
 public:
  Status put(std::string_view key, std::string_view value) {
    map_.insert_or_assign(std::string(key), std::string(value));
    return Status::OK();
  }
  std::optional<std::string_view> get(std::string_view key) const {
    auto it = map_.find(AbslView(key));
    if (it == map_.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  template <typename F>
  void for_each_in_range(std::string_view start, std::string_view end, F&& f) const {
    for (auto it = map_.lower_bound(AbslView(start)); it != map_.end() && std::string_view(it->first) < end; ++it) {
      if (!f(std::string_view(it->first), std::string_view(it->second))) return;
    }
  }
  std::size_t size() const { return map_.size(); }

 private:
  absl::btree_map<std::string, std::string> map_;
};

class LmdbPeer {
 public:
  // Creates an environment in `dir` (which must exist) with room for
  // `map_bytes`. On error `out` stays empty and the Status names the call.
  static Status Open(const std::string& dir, std::size_t map_bytes, std::unique_ptr<LmdbPeer>& out);
  ~LmdbPeer();

  // Loads keys/values [begin, end) with one write txn per 10,000 puts.
  template <typename KeyAt, typename ValueAt>
  Status Load(std::size_t begin, std::size_t end, KeyAt&& key_at, ValueAt&& value_at);

  // Opens the read transaction get() reuses (after loading).
  Status BeginReads();
  // Closes it (get() then finds nothing until the next BeginReads()).
  void EndReads();

  std::optional<std::string_view> get(std::string_view key) const {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    if (mdb_get(read_txn_, dbi_, &k, &v) != 0) return std::nullopt;
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
  }
  Status put(std::string_view key, std::string_view value);
  Status del(std::string_view key);

 private:
  LmdbPeer() = default;
  Status Error(const char* what, int rc) const;
  Status PutIn(MDB_txn* txn, std::string_view key, std::string_view value);

  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* read_txn_ = nullptr;
};

template <typename KeyAt, typename ValueAt>
Status LmdbPeer::Load(std::size_t begin, std::size_t end, KeyAt&& key_at, ValueAt&& value_at) {
  constexpr std::size_t kBatch = 10'000;
  for (std::size_t i = begin; i < end;) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return Error("mdb_txn_begin", rc);
    const std::size_t stop = end - i < kBatch ? end : i + kBatch;
    for (; i < stop; ++i) {
      Status s = PutIn(txn, key_at(i), value_at(i));
      if (!s.ok()) {
        mdb_txn_abort(txn);
        return s;
      }
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return Error("mdb_txn_commit", rc);
  }
  return Status::OK();
}

class RocksDbPeer {
 public:
  // Creates a database in `dir` (which must not exist yet) with a block
  // cache of `block_cache_bytes`. On error `out` stays empty and the Status
  // names the call.
  static Status Open(const std::string& dir, std::size_t block_cache_bytes, std::unique_ptr<RocksDbPeer>& out);
  ~RocksDbPeer();

  // Loads keys/values [begin, end) in write batches of 10,000, then flushes
  // the memtable and compacts everything into one sorted run.
  template <typename KeyAt, typename ValueAt>
  Status Load(std::size_t begin, std::size_t end, KeyAt&& key_at, ValueAt&& value_at);

  std::optional<std::string_view> get(std::string_view key) const {
    pinned_.Reset();
    if (!db_->Get(read_options_, db_->DefaultColumnFamily(), rocksdb::Slice(key.data(), key.size()), &pinned_).ok()) {
      return std::nullopt;
    }
    return std::string_view(pinned_.data(), pinned_.size());
  }
  Status put(std::string_view key, std::string_view value) {
    return Check("Put", db_->Put(write_options_, rocksdb::Slice(key.data(), key.size()),
                                 rocksdb::Slice(value.data(), value.size())));
  }
  Status del(std::string_view key) {
    return Check("Delete", db_->Delete(write_options_, rocksdb::Slice(key.data(), key.size())));
  }
  template <typename F>
  void for_each_in_range(std::string_view start, std::string_view end, F&& f) const {
    const rocksdb::Slice upper(end.data(), end.size());
    rocksdb::ReadOptions options = read_options_;
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
    for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      const rocksdb::Slice v = it->value();
      if (!f(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) return;
    }
  }
  // Every entry into `out` (its capacity reused), in key order.
  void snapshot_to(std::string& out) const;
  // RocksDB's checkpoint into `dir` (which must not exist yet).
  Status Checkpoint(const std::string& dir) const;

 private:
  RocksDbPeer() = default;
  static Status Check(const char* what, const rocksdb::Status& s) {
    if (s.ok()) [[likely]] {
      return Status::OK();
    }
    return Status::IOError(std::string("rocksdb ") + what, s.ToString());
  }
  Status Write(rocksdb::WriteBatch& batch) { return Check("Write", db_->Write(write_options_, &batch)); }
  Status Settle();

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ReadOptions read_options_;
  rocksdb::WriteOptions write_options_;
  mutable rocksdb::PinnableSlice pinned_;
};

template <typename KeyAt, typename ValueAt>
Status RocksDbPeer::Load(std::size_t begin, std::size_t end, KeyAt&& key_at, ValueAt&& value_at) {
  constexpr std::size_t kBatch = 10'000;
  rocksdb::WriteBatch batch;
  for (std::size_t i = begin; i < end; ++i) {
    const std::string_view k = key_at(i);
    const std::string_view v = value_at(i);
    if (rocksdb::Status s = batch.Put(rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
        !s.ok()) {
      return Check("WriteBatch::Put", s);
    }
    if (batch.Count() == static_cast<std::uint32_t>(kBatch)) {
      if (Status s = Write(batch); !s.ok()) return s;
      batch.Clear();
    }
  }
  if (batch.Count() > 0) {
    if (Status s = Write(batch); !s.ok()) return s;
  }
  return Settle();
}

}  // namespace statestore::bench
