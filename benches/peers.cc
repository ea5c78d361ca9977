#include "peers.h"

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

}  // namespace statestore::bench
