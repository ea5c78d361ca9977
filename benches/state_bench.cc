// -----------------------------------------------------------------------------
// File: state_bench.cc
// -----------------------------------------------------------------------------
//
// state_bench: the F-PERF-001 suite on Google Benchmark. Every benchmark is a
// workload from workloads.h (setup + Op()) driven by one of the loops below;
// the names, counters and context follow the contract with the perf gate
// (see benches/README.md).
//
//   state_bench [--profile=tiny|quick|full] [--list_profile] [--benchmark_...]
//
// Timing conventions (what one iteration of each benchmark is):
//  - get/put/delete and their peers: one operation per iteration.
//  - range: one whole scan of `results` entries per iteration.
//  - snapshot/restore/memcpy: one whole snapshot/restore/copy per iteration.
//
// Setup is shared: Google Benchmark calls a benchmark's function several
// times (iteration-count estimation, each repetition, one extra run for the
// MemoryManager). Stores are built once per fixture id and kept in a
// one-entry FixtureCache until a benchmark needing a different fixture
// starts; benchmarks are registered so that those sharing a fixture (e.g.
// every 10M-key in-memory benchmark) run consecutively. The 10M-key stores
// are thus built once per process and freed when done.
//
// Memory policy: main() sets glibc's M_MMAP_MAX to 0 and M_TRIM_THRESHOLD to
// its maximum, so memory freed by one iteration (a restore's previous arena,
// a snapshot buffer) is reused by the next instead of being unmapped and
// faulted in again (~10-13 us per 4 KiB page on this VM). The `_cold`
// variants measure the other case on purpose: they release all free memory
// (malloc_trim) while the timer is paused, so their timed region pays every
// page fault of a fresh buffer or store.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "build_info.h"
#include "context.h"
#include "hash_seed.h"
#include "latency.h"
#include "profile.h"
#include "slowdown.h"
#include "statestore/inmemory_state_store.h"
#include "statestore/internal/mmap_format.h"
#include "statestore/mmap_state_store.h"
#include "workloads.h"
#if STATESTORE_PEERS_ON
#include "peers.h"
#endif

namespace statestore::bench {
namespace {

using statestore::InMemoryStateStore;
using statestore::MmapStateStore;

// ---------------------------------------------------------------------------
// Temporary files (mmap stores, LMDB environments).
// ---------------------------------------------------------------------------

class TempDir {
 public:
  // The process's scratch directory under $TMPDIR (or /tmp), created on
  // first use; empty with `error` set when it cannot be created.
  const std::string& Get(std::string& error) {
    if (path_.empty() && error_.empty()) {
      const char* base = std::getenv("TMPDIR");
      const std::string parent = base && *base ? base : "/tmp";
      std::string pattern = parent + "/state_bench.XXXXXX";
      if (mkdtemp(pattern.data()) == nullptr) {
        error_ = "skipped: cannot create a temporary directory in " + parent + " (" + std::strerror(errno) +
                 "); set TMPDIR to a writable directory with free space";
      } else {
        path_ = pattern;
      }
    }
    error = error_;
    return path_;
  }
  // A fresh path inside the directory.
  std::string NewPath(const std::string& tag, std::string& error) {
    const std::string& dir = Get(error);
    if (dir.empty()) return {};
    return dir + "/" + tag + "-" + std::to_string(counter_++);
  }
  void Remove() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
      path_.clear();
    }
  }

 private:
  std::string path_;
  std::string error_;
  int counter_ = 0;
};

TempDir g_temp_dir;

// ---------------------------------------------------------------------------
// The one-entry fixture cache.
// ---------------------------------------------------------------------------

class FixtureCache {
 public:
  template <typename T>
  using Builder = std::function<std::unique_ptr<T>(std::string& error)>;

  // The fixture `id`, building it (after freeing the previous one and
  // checking MemAvailable against `needed_bytes`) when it is not the one
  // held. On failure calls state.SkipWithError and returns nullptr; the
  // failure is remembered so later runs of the same id fail fast.
  template <typename T>
  T* Acquire(benchmark::State& state, const std::string& id, std::size_t needed_bytes, const Builder<T>& build) {
    if (id_ == id) return static_cast<T*>(held_.get());
    if (failed_id_ == id) {
      state.SkipWithError(failed_message_.c_str());
      return nullptr;
    }
    Release();
    std::string error;
    if (auto available = MemAvailableBytes()) error = MemoryShortfall(needed_bytes, *available);
    std::unique_ptr<T> built;
    if (error.empty()) built = build(error);
    if (!built) {
      if (error.empty()) error = "error: building fixture " + id + " failed";
      failed_id_ = id;
      failed_message_ = error;
      std::fprintf(stderr, "state_bench: %s: %s\n", id.c_str(), error.c_str());
      state.SkipWithError(failed_message_.c_str());
      return nullptr;
    }
    T* raw = built.get();
    held_ = std::shared_ptr<void>(std::move(built));
    id_ = id;
    return raw;
  }

  void Release() {
    held_.reset();
    id_.clear();
    malloc_trim(0);
  }

 private:
  std::string id_;
  std::shared_ptr<void> held_;
  std::string failed_id_;
  std::string failed_message_;
};

FixtureCache g_fixtures;

// ---------------------------------------------------------------------------
// Backends: how to create and populate each kind of store.
// ---------------------------------------------------------------------------

template <typename Store>
struct Backend;

template <>
struct Backend<InMemoryStateStore> {
  static constexpr const char* kName = "inmemory";
  static std::unique_ptr<InMemoryStateStore> Create(std::size_t /*entries*/, std::string& /*error*/,
                                                    std::size_t /*kv_bytes_per_entry*/ = 0) {
    // The spec's ::new(), no reserve; a fixed seed only when asked (hash_seed.h).
    const std::uint64_t seed = hash_seed::Get();
    return seed == 0 ? std::make_unique<InMemoryStateStore>()
                     : std::make_unique<InMemoryStateStore>(statestore::FixedHashSeed{seed});
  }
  static void Prefault(const InMemoryStateStore&) {}
};

template <>
struct Backend<MmapStateStore> {
  static constexpr const char* kName = "mmap";
  // With `kv_bytes_per_entry` 0, the default geometry: the file grows like a
  // user's store that was opened without a size hint. Otherwise the file is
  // created with room for `entries` entries of that many key + value bytes
  // (data region and index), as an operator that knows its key space opens
  // it; the put benchmark uses this for its 2N keys, so that with the spec's
  // mmap warm-up (every page touched) its inserts take no page faults either.
  static std::unique_ptr<MmapStateStore> Create(std::size_t entries, std::string& error,
                                                std::size_t kv_bytes_per_entry = 0) {
    const std::string path = g_temp_dir.NewPath("state.mmap", error);
    if (path.empty()) return nullptr;
    MmapOptions options;
    options.hash_seed = hash_seed::Get();  // 0: random (hash_seed.h)
    if (kv_bytes_per_entry > 0) {
      const std::size_t record_bytes = mmap_internal::LogRecordSize(0, kv_bytes_per_entry);
      options.initial_data_bytes = std::max(options.initial_data_bytes, entries * record_bytes);
      options.initial_index_slots = mmap_internal::IndexSlotsFor(entries, options.initial_index_slots);
    }
    std::unique_ptr<MmapStateStore> store;
    Status s = MmapStateStore::Open(path, store, options);
    if (!s.ok()) {
      error = "skipped: cannot create the mmap store (" + s.ToString() + ")";
      return nullptr;
    }
    return store;
  }
  // The spec's warm-up for mmap: touch every page so none faults while timed.
  static void Prefault(const MmapStateStore& store) { store.prefault(); }
};

#if STATESTORE_PEERS_ON
template <typename Peer>
struct MapBackend {
  static std::unique_ptr<Peer> Create(std::size_t, std::string&, std::size_t = 0) { return std::make_unique<Peer>(); }
  static void Prefault(const Peer&) {}
};
template <>
struct Backend<FlatHashMapPeer> : MapBackend<FlatHashMapPeer> {
  static constexpr const char* kName = "absl_flat_hash_map";
};
template <>
struct Backend<UnorderedMapPeer> : MapBackend<UnorderedMapPeer> {
  static constexpr const char* kName = "std_unordered_map";
};
template <>
struct Backend<BtreeMapPeer> : MapBackend<BtreeMapPeer> {
  static constexpr const char* kName = "absl_btree_map";
};
template <>
struct Backend<LmdbPeer> {
  static constexpr const char* kName = "lmdb";
  static std::unique_ptr<LmdbPeer> Create(std::size_t entries, std::string& error,
                                          std::size_t /*kv_bytes_per_entry*/ = 0) {
    const std::string dir = g_temp_dir.NewPath("lmdb", error);
    if (dir.empty()) return nullptr;
    std::error_code ec;
    if (!std::filesystem::create_directory(dir, ec)) {
      error = "skipped: cannot create " + dir + ": " + ec.message();
      return nullptr;
    }
    // Sparse map: room for the entries at ~4x their raw size, at least 64 MiB.
    const std::size_t map_bytes = std::max<std::size_t>(entries * 1024, 64ull << 20);
    std::unique_ptr<LmdbPeer> peer;
    Status s = LmdbPeer::Open(dir, map_bytes, peer);
    if (!s.ok()) {
      error = "skipped: cannot open the LMDB environment (" + s.ToString() + ")";
      return nullptr;
    }
    return peer;
  }
  static void Prefault(const LmdbPeer&) {}
};
template <>
struct Backend<RocksDbPeer> {
  static constexpr const char* kName = "rocksdb";
  static std::unique_ptr<RocksDbPeer> Create(std::size_t entries, std::string& error,
                                             std::size_t kv_bytes_per_entry = 0) {
    const std::string dir = g_temp_dir.NewPath("rocksdb", error);
    if (dir.empty()) return nullptr;
    // A block cache that holds the working set: twice the raw bytes, at least 64 MiB.
    const std::size_t raw = entries * (kv_bytes_per_entry > 0 ? kv_bytes_per_entry : 8 + 128);
    std::unique_ptr<RocksDbPeer> peer;
    Status s = RocksDbPeer::Open(dir, std::max<std::size_t>(2 * raw, 64ull << 20), peer);
    if (!s.ok()) {
      error = "skipped: cannot open the RocksDB database (" + s.ToString() + ")";
      return nullptr;
    }
    return peer;
  }
  static void Prefault(const RocksDbPeer&) {}
};
#endif

template <typename Store>
Status Populate(Store& store, std::size_t begin, std::size_t end, std::size_t key_size, std::size_t value_size) {
#if STATESTORE_PEERS_ON
  if constexpr (std::is_same_v<Store, LmdbPeer> || std::is_same_v<Store, RocksDbPeer>) {
    std::string key(key_size, '\0');
    std::string value(value_size, '\0');
    return store.Load(
        begin, end,
        [&](std::size_t i) {
          FillKey(i, key_size, key.data());
          return std::string_view(key);
        },
        [&](std::size_t i) {
          FillValue(i, value_size, value.data());
          return std::string_view(value);
        });
  }
#endif
  return PopulateStore(store, begin, end, key_size, value_size);
}

// ---------------------------------------------------------------------------
// Fixtures.
// ---------------------------------------------------------------------------

// The shape of a populated store: entry count and key/value sizes.
struct Shape {
  std::size_t count;
  std::size_t key_size = 8;
  std::size_t value_size = 128;
  std::string Id() const {
    return std::to_string(key_size) + "/" + std::to_string(value_size) + "/" + std::to_string(count);
  }
};

// A store holding keys [0, count): shared by get, Zipfian get, range and
// delete (delete puts every key back before its run ends).
template <typename Store>
struct OpsFixture {
  Shape shape;
  std::unique_ptr<Store> store;
  KeySet keys;
  // Growth of the process's resident set while the store was populated (and,
  // for mmap, prefaulted): what the store costs in memory. 0 when unknown.
  std::size_t resident_bytes = 0;
  std::unique_ptr<ValueSet> values;                  // built on first use (delete)
  std::unique_ptr<std::vector<std::uint32_t>> zipf;  // built on first use
  std::unique_ptr<DeleteWorkload<Store>> deleter;

  const std::vector<std::uint32_t>& Zipf() {
    if (!zipf) zipf = std::make_unique<std::vector<std::uint32_t>>(ZipfianOrder(shape.count, kZipfOrderLength));
    return *zipf;
  }
  DeleteWorkload<Store>& Deleter() {
    if (!values) values = std::make_unique<ValueSet>(shape.count, shape.value_size);
    if (!deleter) {
      deleter = std::make_unique<DeleteWorkload<Store>>(*store, keys, *values,
                                                        DeleteWorkload<Store>::DefaultBatch(shape.count));
    }
    return *deleter;
  }
};

template <typename Store>
OpsFixture<Store>* AcquireOps(benchmark::State& state, const Shape& shape) {
  const std::string id = std::string("ops/") + Backend<Store>::kName + "/" + shape.Id();
  return g_fixtures.Acquire<OpsFixture<Store>>(
      state, id, EstimateStoreBytes(shape.count, shape.key_size, shape.value_size),
      [&shape](std::string& error) -> std::unique_ptr<OpsFixture<Store>> {
        auto fx = std::make_unique<OpsFixture<Store>>();
        fx->shape = shape;
        fx->store = Backend<Store>::Create(shape.count, error);
        if (!fx->store) return nullptr;
        fx->keys = KeySet(shape.count, shape.key_size);
        const std::optional<std::size_t> resident_before = ResidentBytes();
        Status s = Populate(*fx->store, 0, shape.count, shape.key_size, shape.value_size);
        if (!s.ok()) {
          error = "error: populating " + std::to_string(shape.count) + " keys failed: " + s.ToString();
          return nullptr;
        }
#if STATESTORE_PEERS_ON
        if constexpr (std::is_same_v<Store, LmdbPeer>) {
          if (Status r = fx->store->BeginReads(); !r.ok()) {
            error = "error: " + r.ToString();
            return nullptr;
          }
        }
#endif
        Backend<Store>::Prefault(*fx->store);
        const std::optional<std::size_t> resident_after = ResidentBytes();
        if (resident_before && resident_after && *resident_after > *resident_before) {
          fx->resident_bytes = *resident_after - *resident_before;
        }
        return fx;
      });
}

// The spec's put setup: 2N keys and values, the store holding the first N.
// The PutWorkload lives in the fixture so that its position carries over
// from one Google Benchmark run to the next, as the spec's closure state does.
template <typename Store>
struct PutFixture {
  Shape shape;
  std::unique_ptr<Store> store;
  KeySet keys;
  std::unique_ptr<ValueSet> values;
  std::unique_ptr<PutWorkload<Store>> putter;
};

template <typename Store>
PutFixture<Store>* AcquirePut(benchmark::State& state, const Shape& shape) {
  const std::string id = std::string("put/") + Backend<Store>::kName + "/" + shape.Id();
  return g_fixtures.Acquire<PutFixture<Store>>(
      state, id, 2 * EstimateStoreBytes(shape.count, shape.key_size, shape.value_size),
      [&shape](std::string& error) -> std::unique_ptr<PutFixture<Store>> {
        auto fx = std::make_unique<PutFixture<Store>>();
        fx->shape = shape;
        fx->store = Backend<Store>::Create(2 * shape.count, error, shape.key_size + shape.value_size);
        if (!fx->store) return nullptr;
        fx->keys = KeySet(2 * shape.count, shape.key_size);
        fx->values = std::make_unique<ValueSet>(2 * shape.count, shape.value_size);
        Status s = Populate(*fx->store, 0, shape.count, shape.key_size, shape.value_size);
        if (!s.ok()) {
          error = "error: populating " + std::to_string(shape.count) + " keys failed: " + s.ToString();
          return nullptr;
        }
        Backend<Store>::Prefault(*fx->store);
        fx->putter = std::make_unique<PutWorkload<Store>>(*fx->store, fx->keys, *fx->values);
        return fx;
      });
}

// Snapshot/restore: a populated source, its snapshot blob, a reused snapshot
// buffer, a restore target and a reused memcpy destination.
template <typename Store>
struct SnapFixture {
  std::unique_ptr<Store> source;
  std::unique_ptr<Store> target;
  std::string blob;
  std::string buffer;
  std::string copy;
};

template <typename Store>
SnapFixture<Store>* AcquireSnap(benchmark::State& state, const SnapshotSize& size) {
  const std::string id = std::string("snap/") + Backend<Store>::kName + "/" + size.label;
  return g_fixtures.Acquire<SnapFixture<Store>>(state, id, 3 * EstimateStoreBytes(size.entries, 8, 128),
                                                [&size](std::string& error) -> std::unique_ptr<SnapFixture<Store>> {
                                                  auto fx = std::make_unique<SnapFixture<Store>>();
                                                  fx->source = Backend<Store>::Create(size.entries, error);
                                                  if (!fx->source) return nullptr;
                                                  fx->target = Backend<Store>::Create(size.entries, error);
                                                  if (!fx->target) return nullptr;
                                                  Status s = Populate(*fx->source, 0, size.entries, 8, 128);
                                                  if (!s.ok()) {
                                                    error = "error: populating failed: " + s.ToString();
                                                    return nullptr;
                                                  }
                                                  Backend<Store>::Prefault(*fx->source);
                                                  fx->source->snapshot_to(fx->blob);
                                                  return fx;
                                                });
}

// ---------------------------------------------------------------------------
// Loops and counters.
// ---------------------------------------------------------------------------

void SetLatencyCounters(benchmark::State& state, const LatencySummary& lat) {
  state.counters["p50_ns"] = lat.p50_ns;
  state.counters["p99_ns"] = lat.p99_ns;
  state.counters["p999_ns"] = lat.p999_ns;
  state.counters["timer_overhead_ns"] = lat.timer_overhead_ns;
  state.counters["latency_samples"] = static_cast<double>(lat.samples);
}

void SetSlowdownCounter(benchmark::State& state, std::uint64_t spins) {
  if (slowdown::kEnabled) state.counters["slowdown_spins"] = static_cast<double>(spins);
}

// One operation per iteration: the timed loop, then (outside the timer) the
// per-operation latency pass on the same workload.
template <typename Workload>
void RunPointOps(benchmark::State& state, const std::string& name, Workload& w) {
  const std::uint64_t spins = slowdown::Prepare(name, [&w] { w.Op(); });
  AllocWindow allocs;
  for (auto _ : state) {
    w.Op();
    slowdown::after_op();
  }
  state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
  state.SetItemsProcessed(state.iterations());
  SetLatencyCounters(state, MeasureLatency(LatencySampleCount(state.iterations()), [&w] {
                       w.Op();
                       slowdown::after_op();
                     }));
  SetSlowdownCounter(state, spins);
}

// One whole operation (scan, snapshot, restore, copy) per iteration.
template <typename Op>
void RunBulkOps(benchmark::State& state, const std::string& name, Op&& op) {
  const std::uint64_t spins = slowdown::Prepare(name, op);
  AllocWindow allocs;
  for (auto _ : state) {
    op();
    slowdown::after_op();
  }
  state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
  SetSlowdownCounter(state, spins);
}

// ---------------------------------------------------------------------------
// Benchmarks.
// ---------------------------------------------------------------------------

template <typename Store>
void BenchGet(benchmark::State& state, const std::string& name, const Shape& shape, bool zipf) {
  OpsFixture<Store>* fx = AcquireOps<Store>(state, shape);
  if (fx == nullptr) return;
  WarmUp(*fx->store, fx->keys);
  GetWorkload<Store> w(*fx->store, fx->keys, zipf ? &fx->Zipf() : nullptr);
  RunPointOps(state, name, w);
  if (w.misses() != 0) state.SkipWithError("error: get missed populated keys (broken setup)");
  if (fx->resident_bytes > 0) {
    // Memory: resident bytes per entry, and per byte of raw key + value data.
    const double raw = static_cast<double>(shape.count) * static_cast<double>(shape.key_size + shape.value_size);
    state.counters["resident_bytes_per_entry"] =
        static_cast<double>(fx->resident_bytes) / static_cast<double>(shape.count);
    state.counters["resident_over_raw"] = static_cast<double>(fx->resident_bytes) / raw;
  }
}

template <typename Store>
void BenchPut(benchmark::State& state, const std::string& name, const Shape& shape, std::size_t flush_every) {
  PutFixture<Store>* fx = AcquirePut<Store>(state, shape);
  if (fx == nullptr) return;
  WarmUp(*fx->store, fx->keys);
  PutWorkload<Store>& w = *fx->putter;
  if (flush_every == 0) {
    RunPointOps(state, name, w);
  } else if constexpr (requires(Store & st) { st.flush(); }) {
    // put + flush() every `flush_every` puts, all inside the timed region:
    // the msync cost is amortised over the puts that dirtied the pages.
    struct Flushing {
      PutWorkload<Store>& w;
      std::size_t every;
      void Op() { w.OpWithFlush(every); }
    } flushing{w, flush_every};
    RunPointOps(state, name, flushing);  // p99.9 shows the flushes
    state.counters["flush_every"] = static_cast<double>(flush_every);
  }
  if (!w.status().ok()) state.SkipWithError(("error: put failed: " + w.status().ToString()).c_str());
}

// Deletes with the store's size kept steady: each iteration deletes one key
// (timed); every `batch` deletes the timer is paused and the deleted keys are
// put back (untimed, and their allocations excluded from allocs_per_op).
// The pause costs a few clock reads per batch (batch = min(N/4, 4096)), i.e.
// well under 1 ns per delete at N >= 100K and a few ns at N = 1000.
// The entry count stays steady, the mmap file does not: del() appends a
// tombstone and the re-insert a record (only same-size overwrites are done in
// place). Left alone, a growth of the file (remap + prefault of the new pages,
// milliseconds at the sizes a run reaches) landed in whichever call crossed the
// capacity, and state_delete_mmap/1000 read 26-30 ns in some runs and 150-413 ns
// in others: a coin toss, not a measurement. So for small mmap stores the refill
// ends with a compact() (untimed, see SettleAfterRefill); the timed region is
// del() alone, and the file's growth is the put and restore benchmarks' business.
template <typename Store>
void SettleAfterRefill(Store&, const Shape&, Status&) {}

// compact() leaves the data region 25% larger than the live records
// (MmapStateStore::RewriteFile), and the next batch appends at most N/4
// tombstones, each smaller than a record: they fit, so no timed del() grows the
// file. Stores above kCompactingDeleteMaxKeys keep the growth in the timed
// region (rewriting 15 MB per batch of 4096 deletes would make the run 100x
// longer than its timed part); their growths are a smaller share of the run.
constexpr std::size_t kCompactingDeleteMaxKeys = 10'000;

template <>
void SettleAfterRefill<MmapStateStore>(MmapStateStore& store, const Shape& shape, Status& failed) {
  if (shape.count > kCompactingDeleteMaxKeys) return;
  Status s = store.compact();
  if (!s.ok() && failed.ok()) failed = std::move(s);
  store.prefault();  // the compacted file's free pages: their first touch is not del()'s cost either
}

template <typename Store>
void BenchDelete(benchmark::State& state, const std::string& name, const Shape& shape) {
  OpsFixture<Store>* fx = AcquireOps<Store>(state, shape);
  if (fx == nullptr) return;
  WarmUp(*fx->store, fx->keys);
#if STATESTORE_PEERS_ON
  if constexpr (std::is_same_v<Store, LmdbPeer>) fx->store->EndReads();  // see LmdbPeer
#endif
  DeleteWorkload<Store>& w = fx->Deleter();
  const std::uint64_t spins = slowdown::Prepare(name, [&w] {
    w.Op();
    if (w.NeedsRefill()) w.Refill();
  });
  Status settle_failed;
  w.Refill();
  SettleAfterRefill(*fx->store, shape, settle_failed);
  AllocWindow allocs;
  for (auto _ : state) {
    w.Op();
    slowdown::after_op();
    if (w.NeedsRefill()) [[unlikely]] {
      state.PauseTiming();
      allocs.BeginExcluded();
      w.Refill();
      SettleAfterRefill(*fx->store, shape, settle_failed);
      allocs.EndExcluded();
      state.ResumeTiming();
    }
  }
  if (!settle_failed.ok()) state.SkipWithError(("error: compact failed: " + settle_failed.ToString()).c_str());
  state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
  state.counters["delete_batch"] = static_cast<double>(w.batch());
  state.SetItemsProcessed(state.iterations());
  SetLatencyCounters(state, MeasureLatency(
                                LatencySampleCount(state.iterations()),
                                [&w] {
                                  w.Op();
                                  slowdown::after_op();
                                },
                                [&w] {
                                  if (w.NeedsRefill()) w.Refill();
                                }));
  w.Refill();  // leave the shared store whole for the next benchmark
#if STATESTORE_PEERS_ON
  if constexpr (std::is_same_v<Store, LmdbPeer>) {
    if (Status r = fx->store->BeginReads(); !r.ok()) state.SkipWithError(("error: " + r.ToString()).c_str());
  }
#endif
  SetSlowdownCounter(state, spins);
  if (!w.status().ok()) state.SkipWithError(("error: delete failed: " + w.status().ToString()).c_str());
}

template <typename Store>
void BenchRange(benchmark::State& state, const std::string& name, const Shape& shape, std::size_t results) {
  OpsFixture<Store>* fx = AcquireOps<Store>(state, shape);
  if (fx == nullptr) return;
  WarmUp(*fx->store, fx->keys);
  RangeWorkload<Store> w(*fx->store, results, shape.key_size);
  w.Op();  // touches the range (and, for mmap, builds the ordered index) outside the timer
  if (w.last_count() != results) {
    state.SkipWithError("error: range visited the wrong number of entries (broken setup)");
    return;
  }
  RunBulkOps(state, name, [&w] { w.Op(); });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(results));
  state.counters["results"] = static_cast<double>(results);
}

template <typename Store>
void BenchSnapshot(benchmark::State& state, const std::string& name, const SnapshotSize& size, bool cold) {
  SnapFixture<Store>* fx = AcquireSnap<Store>(state, size);
  if (fx == nullptr) return;
  if (!cold) {
    SnapshotWorkload<Store> w(*fx->source, fx->buffer);
    w.Op();  // sizes and faults in the reused buffer outside the timer
    RunBulkOps(state, name, [&w] { w.Op(); });
  } else {
    // A fresh buffer per snapshot; freeing it and returning all free memory
    // to the kernel happen with the timer paused, so each timed snapshot
    // faults in every page of its buffer.
    const std::uint64_t spins = slowdown::Prepare(name, [fx] {
      std::string fresh;
      fx->source->snapshot_to(fresh);
      Sink(fresh.data());
    });
    AllocWindow allocs;
    malloc_trim(0);
    for (auto _ : state) {
      {
        std::string fresh;
        fx->source->snapshot_to(fresh);
        Sink(fresh.data());
        slowdown::after_op();
        state.PauseTiming();
      }
      malloc_trim(0);
      state.ResumeTiming();
    }
    state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
    SetSlowdownCounter(state, spins);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(fx->blob.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(fx->blob.size());
}

template <typename Store>
void BenchRestore(benchmark::State& state, const std::string& name, const SnapshotSize& size, bool cold) {
  SnapFixture<Store>* fx = AcquireSnap<Store>(state, size);
  if (fx == nullptr) return;
  Status failed;
  if (!cold) {
    // Restores into the same target every time: the memory of the state it
    // replaces is reused (see the memory policy at the top). For mmap every
    // restore writes a fresh file and renames it over the old one, so its
    // page faults are part of the operation itself.
    RestoreWorkload<Store> w(*fx->target, fx->blob);
    w.Op();
    RunBulkOps(state, name, [&w] { w.Op(); });
    failed = w.status();
  } else {
    // A fresh, empty store per restore, created and destroyed with the timer
    // paused (and all free memory returned to the kernel before the restore).
    const std::uint64_t spins = slowdown::Prepare(name, [fx, &size] {
      std::string error;
      std::unique_ptr<Store> fresh = Backend<Store>::Create(size.entries, error);
      if (fresh) Sink(fresh->restore(fx->blob).ok() ? 1u : 0u);
    });
    AllocWindow allocs;
    for (auto _ : state) {
      state.PauseTiming();
      allocs.BeginExcluded();
      std::string error;
      std::unique_ptr<Store> fresh = Backend<Store>::Create(size.entries, error);
      malloc_trim(0);
      allocs.EndExcluded();
      if (!fresh) {
        state.SkipWithError(error.c_str());
        break;
      }
      state.ResumeTiming();
      Status s = fresh->restore(fx->blob);
      slowdown::after_op();
      state.PauseTiming();
      if (!s.ok()) failed = s;
      allocs.BeginExcluded();
      fresh.reset();
      allocs.EndExcluded();
      state.ResumeTiming();
    }
    state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
    SetSlowdownCounter(state, spins);
  }
  if (!failed.ok()) state.SkipWithError(("error: restore failed: " + failed.ToString()).c_str());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(fx->blob.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(fx->blob.size());
}

void BenchZeroAlloc(benchmark::State& state, const std::string& name) {
  // The spec's state_get_zero_alloc: 10,000 keys, in-memory store.
  OpsFixture<InMemoryStateStore>* fx = AcquireOps<InMemoryStateStore>(state, Shape{10'000});
  if (fx == nullptr) return;
  WarmUp(*fx->store, fx->keys);
  GetWorkload<InMemoryStateStore> w(*fx->store, fx->keys);
  RunPointOps(state, name, w);
}

#if STATESTORE_PEERS_ON
// peer_memcpy/<size>: memcpy of the in-memory snapshot's bytes into a reused
// buffer: the floor any snapshot of that many bytes pays.
void BenchMemcpy(benchmark::State& state, const std::string& name, const SnapshotSize& size) {
  SnapFixture<InMemoryStateStore>* fx = AcquireSnap<InMemoryStateStore>(state, size);
  if (fx == nullptr) return;
  fx->copy.resize(fx->blob.size());
  std::memcpy(fx->copy.data(), fx->blob.data(), fx->blob.size());  // fault in outside the timer
  RunBulkOps(state, name, [fx] {
    std::memcpy(fx->copy.data(), fx->blob.data(), fx->blob.size());
    Sink(fx->copy.data());
  });
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(fx->blob.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(fx->blob.size());
}

// peer_rocksdb_dump/<size>: an iterator over every entry of a RocksDB
// holding the snapshot size's entries, copied into a reused buffer (what
// snapshot_to does for our stores).
void BenchRocksDbDump(benchmark::State& state, const std::string& name, const SnapshotSize& size) {
  OpsFixture<RocksDbPeer>* fx = AcquireOps<RocksDbPeer>(state, Shape{size.entries});
  if (fx == nullptr) return;
  std::string buffer;
  SnapshotWorkload<RocksDbPeer> w(*fx->store, buffer);
  w.Op();  // sizes the buffer and warms the block cache outside the timer
  RunBulkOps(state, name, [&w] { w.Op(); });
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(buffer.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(buffer.size());
}

// peer_rocksdb_checkpoint/<size>: RocksDB's Checkpoint of the same database
// into a fresh directory (timed), removed with the timer paused.
void BenchRocksDbCheckpoint(benchmark::State& state, const std::string& name, const SnapshotSize& size) {
  OpsFixture<RocksDbPeer>* fx = AcquireOps<RocksDbPeer>(state, Shape{size.entries});
  if (fx == nullptr) return;
  std::string error;
  const std::string dir = g_temp_dir.NewPath("rocksdb-checkpoint", error);
  if (dir.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  Status failed;
  std::error_code ec;
  const std::uint64_t spins = slowdown::Prepare(name, [&] {
    if (Status s = fx->store->Checkpoint(dir); !s.ok()) failed = s;
    std::filesystem::remove_all(dir, ec);
  });
  AllocWindow allocs;
  for (auto _ : state) {
    if (Status s = fx->store->Checkpoint(dir); !s.ok()) failed = s;
    slowdown::after_op();
    state.PauseTiming();
    allocs.BeginExcluded();
    std::filesystem::remove_all(dir, ec);
    allocs.EndExcluded();
    state.ResumeTiming();
  }
  state.counters["allocs_per_op"] = allocs.PerOp(state.iterations());
  SetSlowdownCounter(state, spins);
  if (!failed.ok()) state.SkipWithError(("error: checkpoint failed: " + failed.ToString()).c_str());
}
#endif

// ---------------------------------------------------------------------------
// The benchmark table.
// ---------------------------------------------------------------------------

struct BenchDef {
  std::string name;
  unsigned profiles;
  std::function<void(benchmark::State&, const std::string&)> run;
};

constexpr unsigned kAll = kTiny | kQuick | kFull;
constexpr unsigned kQuickFull = kQuick | kFull;
constexpr unsigned kFullOnly = kFull;

template <typename Store>
void AddStoreOps(std::vector<BenchDef>& defs, std::size_t n, unsigned profiles) {
  const std::string b = Backend<Store>::kName;
  const std::string ns = std::to_string(n);
  const bool small = n <= 1'000;
  const Shape shape{n};
  defs.push_back({"state_get_" + b + "/" + ns, small ? kAll : profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchGet<Store>(s, nm, shape, false); }});
  defs.push_back({"state_get_" + b + "_zipf/" + ns, profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchGet<Store>(s, nm, shape, true); }});
  for (const BenchConfig& c : StandardConfigs()) {
    if (c.key_size == 8 && c.value_size == 128 && c.key_count == n) {
      defs.push_back({"state_get_config/" + b + "/" + c.label, profiles,
                      [shape](benchmark::State& s, const std::string& nm) { BenchGet<Store>(s, nm, shape, false); }});
    }
  }
  if (n == 100'000) {
    const std::string range_prefix = std::is_same_v<Store, InMemoryStateStore> ? "state_range" : "state_range_" + b;
    for (std::size_t results : {10, 100, 1'000}) {
      defs.push_back(
          {range_prefix + "/results/" + std::to_string(results),
           results == 10 && std::is_same_v<Store, InMemoryStateStore> ? kAll : profiles,
           [shape, results](benchmark::State& s, const std::string& nm) { BenchRange<Store>(s, nm, shape, results); }});
    }
  }
  // Last: delete mutates the shared store (and restores it).
  defs.push_back({"state_delete_" + b + "/" + ns, small ? kAll : profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchDelete<Store>(s, nm, shape); }});
}

template <typename Store>
void AddStorePuts(std::vector<BenchDef>& defs, std::size_t n, unsigned profiles, bool spec_row) {
  const std::string b = Backend<Store>::kName;
  const Shape shape{n};
  if (spec_row) {
    defs.push_back({"state_put_" + b + "/" + std::to_string(n), n <= 1'000 ? kAll : profiles,
                    [shape](benchmark::State& s, const std::string& nm) { BenchPut<Store>(s, nm, shape, 0); }});
  }
  for (const BenchConfig& c : StandardConfigs()) {
    if (c.key_size == 8 && c.value_size == 128 && c.key_count == n) {
      defs.push_back({"state_put_config/" + b + "/" + c.label, profiles,
                      [shape](benchmark::State& s, const std::string& nm) { BenchPut<Store>(s, nm, shape, 0); }});
    }
  }
}

template <typename Store>
void AddWideConfig(std::vector<BenchDef>& defs, const BenchConfig& c, unsigned profiles) {
  const std::string b = Backend<Store>::kName;
  const Shape shape{c.key_count, c.key_size, c.value_size};
  defs.push_back({"state_get_config/" + b + "/" + c.label, profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchGet<Store>(s, nm, shape, false); }});
  defs.push_back({"state_put_config/" + b + "/" + c.label, profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchPut<Store>(s, nm, shape, 0); }});
}

template <typename Store>
void AddSnapshots(std::vector<BenchDef>& defs, const SnapshotSize& size, unsigned profiles) {
  const std::string b = Backend<Store>::kName;
  const std::string label = size.label;
  const bool tiny = std::is_same_v<Store, InMemoryStateStore> && label == "1MB";
  defs.push_back({"state_snapshot/" + b + "/" + label, tiny ? kAll : profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchSnapshot<Store>(s, nm, size, false); }});
  defs.push_back({"state_snapshot_cold/" + b + "/" + label, profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchSnapshot<Store>(s, nm, size, true); }});
  defs.push_back({"state_restore/" + b + "/" + label, tiny ? kAll : profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchRestore<Store>(s, nm, size, false); }});
  defs.push_back({"state_restore_cold/" + b + "/" + label, profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchRestore<Store>(s, nm, size, true); }});
#if STATESTORE_PEERS_ON
  if constexpr (std::is_same_v<Store, InMemoryStateStore>) {
    defs.push_back({"peer_memcpy/" + label, profiles,
                    [size](benchmark::State& s, const std::string& nm) { BenchMemcpy(s, nm, size); }});
  }
#endif
}

#if STATESTORE_PEERS_ON
// get, range (RocksDB at 100K keys), delete, then put: the first three share
// one populated fixture (delete puts its keys back), put builds its own.
template <typename Peer>
void AddPeerOps(std::vector<BenchDef>& defs, std::size_t n, unsigned profiles, bool with_put = true) {
  const std::string b = Backend<Peer>::kName;
  const Shape shape{n};
  const bool tiny = std::is_same_v<Peer, FlatHashMapPeer> && n == 1'000;
  defs.push_back({"peer_" + b + "_get/" + std::to_string(n), tiny ? kAll : profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchGet<Peer>(s, nm, shape, false); }});
  if (!with_put) return;
  if constexpr (std::is_same_v<Peer, RocksDbPeer>) {
    if (n == 100'000) {
      for (std::size_t results : {10, 100, 1'000}) {
        defs.push_back({"peer_" + b + "_range/results/" + std::to_string(results), profiles,
                        [shape, results](benchmark::State& s, const std::string& nm) {
                          BenchRange<Peer>(s, nm, shape, results);
                        }});
      }
    }
  }
  defs.push_back({"peer_" + b + "_delete/" + std::to_string(n), profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchDelete<Peer>(s, nm, shape); }});
  defs.push_back({"peer_" + b + "_put/" + std::to_string(n), profiles,
                  [shape](benchmark::State& s, const std::string& nm) { BenchPut<Peer>(s, nm, shape, 0); }});
}

void AddRocksDbSnapshots(std::vector<BenchDef>& defs, const SnapshotSize& size, unsigned profiles) {
  const std::string label = size.label;
  defs.push_back({"peer_rocksdb_dump/" + label, profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchRocksDbDump(s, nm, size); }});
  defs.push_back({"peer_rocksdb_checkpoint/" + label, profiles,
                  [size](benchmark::State& s, const std::string& nm) { BenchRocksDbCheckpoint(s, nm, size); }});
}
#endif

// Quick and full: the stores' point operations at 1K and 100K keys (fixtures
// shared within each group), the wide configurations, the zero-allocation
// check and the snapshots up to 10MB.
void AddStoreBenchmarks(std::vector<BenchDef>& defs) {
  for (std::size_t n : {1'000, 100'000}) AddStoreOps<InMemoryStateStore>(defs, n, kQuickFull);
  for (std::size_t n : {1'000, 100'000}) AddStoreOps<MmapStateStore>(defs, n, kQuickFull);
  for (std::size_t n : {1'000, 100'000}) AddStorePuts<InMemoryStateStore>(defs, n, kQuickFull, true);
  for (std::size_t n : {1'000, 100'000}) AddStorePuts<MmapStateStore>(defs, n, kQuickFull, true);
  for (std::size_t every : {1'000, 10'000}) {
    defs.push_back({"state_put_mmap_flush/every:" + std::to_string(every), kQuickFull,
                    [every](benchmark::State& s, const std::string& nm) {
                      BenchPut<MmapStateStore>(s, nm, Shape{100'000}, every);
                    }});
  }
  for (const BenchConfig& c : StandardConfigs()) {
    if (c.key_size != 8 || c.value_size != 128) {
      AddWideConfig<InMemoryStateStore>(defs, c, kQuickFull);
      AddWideConfig<MmapStateStore>(defs, c, kQuickFull);
    }
  }
  defs.push_back(
      {"state_get_zero_alloc", kAll, [](benchmark::State& s, const std::string& nm) { BenchZeroAlloc(s, nm); }});
  for (const SnapshotSize& size : kSnapshotSizes) {
    if (std::string(size.label) == "100MB") continue;
    AddSnapshots<InMemoryStateStore>(defs, size, kQuickFull);
    AddSnapshots<MmapStateStore>(defs, size, kQuickFull);
  }
}

#if STATESTORE_PEERS_ON
// Quick and full: the peers at 1K and 100K keys.
void AddPeerBenchmarks(std::vector<BenchDef>& defs) {
  for (std::size_t n : {1'000, 100'000}) {
    AddPeerOps<FlatHashMapPeer>(defs, n, kQuickFull);
    AddPeerOps<UnorderedMapPeer>(defs, n, kQuickFull);
    AddPeerOps<LmdbPeer>(defs, n, kQuickFull);
    AddPeerOps<RocksDbPeer>(defs, n, kQuickFull);
  }
  for (const SnapshotSize& size : kSnapshotSizes) {
    if (std::string(size.label) != "100MB") AddRocksDbSnapshots(defs, size, kQuickFull);
  }
  for (std::size_t results : {10, 100, 1'000}) {
    defs.push_back({"peer_absl_btree_map_range/results/" + std::to_string(results), kQuickFull,
                    [results](benchmark::State& s, const std::string& nm) {
                      BenchRange<BtreeMapPeer>(s, nm, Shape{100'000}, results);
                    }});
  }
}
#endif

// Full only: 10M keys and 100MB snapshots, one big fixture at a time.
void AddFullOnlyBenchmarks(std::vector<BenchDef>& defs) {
  AddStoreOps<InMemoryStateStore>(defs, 10'000'000, kFullOnly);
  AddStoreOps<MmapStateStore>(defs, 10'000'000, kFullOnly);
  AddStorePuts<InMemoryStateStore>(defs, 10'000'000, kFullOnly, false);
  AddStorePuts<MmapStateStore>(defs, 10'000'000, kFullOnly, false);
#if STATESTORE_PEERS_ON
  // Peers at 10M keys: get for each, put for absl (the spec's put stops at
  // 100K; ours runs at 10M through the standard config).
  AddPeerOps<FlatHashMapPeer>(defs, 10'000'000, kFullOnly);
  AddPeerOps<UnorderedMapPeer>(defs, 10'000'000, kFullOnly, /*with_put=*/false);
  AddPeerOps<LmdbPeer>(defs, 10'000'000, kFullOnly, /*with_put=*/false);
#endif
  for (const SnapshotSize& size : kSnapshotSizes) {
    if (std::string(size.label) != "100MB") continue;
    AddSnapshots<InMemoryStateStore>(defs, size, kFullOnly);
    AddSnapshots<MmapStateStore>(defs, size, kFullOnly);
#if STATESTORE_PEERS_ON
    AddRocksDbSnapshots(defs, size, kFullOnly);
#endif
  }
}

std::vector<BenchDef> AllBenchmarks() {
  std::vector<BenchDef> defs;
  AddStoreBenchmarks(defs);
#if STATESTORE_PEERS_ON
  AddPeerBenchmarks(defs);
#endif
  AddFullOnlyBenchmarks(defs);
  return defs;
}

// The settings state_bench reads besides its arguments (the slowdown hook,
// the hash seed): false, after one line on stderr, when one is invalid.
bool SettingsValid() {
  std::string error;
  if (!slowdown::Validate(error) || !hash_seed::Validate(error)) {
    std::fprintf(stderr, "state_bench: %s\n", error.c_str());
    return false;
  }
  return true;
}

// Registers the profile's benchmarks with Google Benchmark and runs them
// (`benchmark_args` are its own flags): main()'s exit code.
int RunProfile(const CommandLine& cl, const std::vector<BenchDef>& defs) {
  const std::string warning = UntrustworthyBuildWarning();
  if (!warning.empty()) std::fputs(warning.c_str(), stderr);

  // See "Memory policy" at the top of this file.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);

  for (const auto& d : defs) {
    if (!(d.profiles & cl.profile.bit)) continue;
    const std::string name = d.name;
    auto run = d.run;
    benchmark::RegisterBenchmark(name.c_str(), [name, run](benchmark::State& state) { run(state, name); });
  }

  std::vector<std::string> benchmark_args = cl.benchmark_args;
  std::vector<char*> gb_argv;
  for (auto& a : benchmark_args) gb_argv.push_back(a.data());
  gb_argv.push_back(nullptr);
  int gb_argc = static_cast<int>(gb_argv.size()) - 1;
  benchmark::Initialize(&gb_argc, gb_argv.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_argv.data())) return 2;

  for (const auto& [key, value] : BuildContext(cl.profile.name)) benchmark::AddCustomContext(key, value);
  OpTimer::Get();  // calibrate before the first benchmark

  static CountingMemoryManager memory_manager;
  benchmark::RegisterMemoryManager(&memory_manager);
  // 0 when the filter matched nothing, or did not compile (Google Benchmark
  // then prints "Could not compile benchmark re" and writes no JSON): a
  // caller that asked for results must not mistake that for success.
  const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::RegisterMemoryManager(nullptr);
  benchmark::Shutdown();
  g_fixtures.Release();
  g_temp_dir.Remove();
  if (ran == 0) {
    std::fprintf(stderr,
                 "state_bench: no benchmark ran (the filter matched none, or is not a valid POSIX "
                 "extended regex)\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace statestore::bench

int main(int argc, char** argv) {
  namespace sb = statestore::bench;
  std::vector<std::string> args(argv, argv + argc);
  sb::CommandLine cl = sb::ParseCommandLine(args);
  if (!cl.error.empty()) {
    std::fprintf(stderr, "%s\n", cl.error.c_str());
    return 2;
  }
  if (!sb::SettingsValid()) return 2;

  std::vector<sb::BenchDef> defs = sb::AllBenchmarks();
  if (cl.list_profile) {
    for (const auto& d : defs) {
      if (d.profiles & cl.profile.bit) std::printf("%s\n", d.name.c_str());
    }
    return 0;
  }
  return sb::RunProfile(cl, defs);
}
