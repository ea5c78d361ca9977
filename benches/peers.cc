#include "peers.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include <cstring>

namespace statestore::bench {

Status LmdbPeer::Error(const char* what, int rc) const {
  return Status::IOError(std::string("lmdb ") + what, mdb_strerror(rc));
}

Status LmdbPeer::Open(const std::string& dir, std::size_t map_bytes, std::unique_ptr<LmdbPeer>& out) {
  std::unique_ptr<LmdbPeer> peer(new LmdbPeer());
  if (int rc = mdb_env_create(&peer->env_); rc != 0) return peer->Error("mdb_env_create", rc);
  if (int rc = mdb_env_set_mapsize(peer->env_, map_bytes); rc != 0) return peer->Error("mdb_env_set_mapsize", rc);
  if (int rc = mdb_env_open(peer->env_, dir.c_str(), MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS, 0644); rc != 0) {
    return peer->Error("mdb_env_open", rc);
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(peer->env_, nullptr, 0, &txn); rc != 0) return peer->Error("mdb_txn_begin", rc);
  if (int rc = mdb_dbi_open(txn, nullptr, 0, &peer->dbi_); rc != 0) {
    mdb_txn_abort(txn);
    return peer->Error("mdb_dbi_open", rc);
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return peer->Error("mdb_txn_commit", rc);
  out = std::move(peer);
  return Status::OK();
}

LmdbPeer::~LmdbPeer() {
  if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
  if (env_ != nullptr) mdb_env_close(env_);
}

Status LmdbPeer::BeginReads() {
  if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
  read_txn_ = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_); rc != 0) {
    read_txn_ = nullptr;
    return Error("mdb_txn_begin(MDB_RDONLY)", rc);
  }
  return Status::OK();
}

void LmdbPeer::EndReads() {
  if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
  read_txn_ = nullptr;
}

Status LmdbPeer::PutIn(MDB_txn* txn, std::string_view key, std::string_view value) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  if (int rc = mdb_put(txn, dbi_, &k, &v, 0); rc != 0) return Error("mdb_put", rc);
  return Status::OK();
}

Status LmdbPeer::put(std::string_view key, std::string_view value) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return Error("mdb_txn_begin", rc);
  Status s = PutIn(txn, key, value);
  if (!s.ok()) {
    mdb_txn_abort(txn);
    return s;
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return Error("mdb_txn_commit", rc);
  return Status::OK();
}

Status LmdbPeer::del(std::string_view key) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return Error("mdb_txn_begin", rc);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  const int rc = mdb_del(txn, dbi_, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return Error("mdb_del", rc);
  }
  if (int crc = mdb_txn_commit(txn); crc != 0) return Error("mdb_txn_commit", crc);
  return Status::OK();
}

Status RocksDbPeer::Open(const std::string& dir, std::size_t block_cache_bytes, std::unique_ptr<RocksDbPeer>& out) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.IncreaseParallelism(2);
  options.compaction_style = rocksdb::kCompactionStyleUniversal;
  options.compression = rocksdb::kNoCompression;
  options.write_buffer_size = 16 << 20;
  options.max_write_buffer_number = 3;
  options.info_log_level = rocksdb::WARN_LEVEL;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(block_cache_bytes);
  table.block_size = 4096;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::unique_ptr<RocksDbPeer> peer(new RocksDbPeer());
  peer->write_options_.disableWAL = true;
  rocksdb::DB* db = nullptr;
  if (Status s = Check("DB::Open", rocksdb::DB::Open(options, dir, &db)); !s.ok()) return s;
  peer->db_.reset(db);
  out = std::move(peer);
  return Status::OK();
}

RocksDbPeer::~RocksDbPeer() {
  pinned_.Reset();
  if (db_) (void)db_->Close();
}

Status RocksDbPeer::Settle() {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  if (Status s = Check("Flush", db_->Flush(flush)); !s.ok()) return s;
  return Check("CompactRange", db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr));
}

void RocksDbPeer::snapshot_to(std::string& out) const {
  out.clear();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const rocksdb::Slice v = it->value();
    char header[8];
    const auto key_size = static_cast<std::uint32_t>(k.size());
    const auto value_size = static_cast<std::uint32_t>(v.size());
    std::memcpy(header, &key_size, 4);
    std::memcpy(header + 4, &value_size, 4);
    out.append(header, sizeof header);
    out.append(k.data(), k.size());
    out.append(v.data(), v.size());
  }
}

Status RocksDbPeer::Checkpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  if (Status s = Check("Checkpoint::Create", rocksdb::Checkpoint::Create(db_.get(), &raw)); !s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return Check("CreateCheckpoint", checkpoint->CreateCheckpoint(dir));
}

}  // namespace statestore::bench
