// Differential tests: long random operation sequences applied both to a store
// and to a std::map model, checking that every observation agrees.
//
// The harness (CheckAgainstModel) is templated on a store factory and a
// reopen hook so that any StateStore backend can be driven by it; this file
// runs it on InMemoryStateStore and on MmapStateStore (closing and reopening
// the file every 1,500 operations), and checks snapshots across backends.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "statestore/inmemory_state_store.h"
#include "statestore/mmap_state_store.h"
#include "statestore/snapshot_format.h"
#include "statestore/state_store.h"

namespace statestore {
namespace {

using Model = std::map<std::string, std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

class RandomOps {
 public:
  explicit RandomOps(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t Below(std::uint64_t n) { return rng_() % n; }
  bool OneIn(std::uint64_t n) { return Below(n) == 0; }

  // Keys come from two populations: short strings over a tiny alphabet that
  // includes 0x00 and 0xFF (so overwrites, deletes of present keys and
  // shared prefixes are frequent), and 8-byte big-endian integers from a
  // few thousand values (so the store grows through several rehashes).
  std::string Key() {
    if (OneIn(3)) {
      const std::uint64_t id = Below(3000);
      std::string key(8, '\0');
      for (int b = 0; b < 8; ++b) key[b] = static_cast<char>(id >> (56 - 8 * b));
      return key;
    }
    return Short(Below(5));
  }

  // 0-4 bytes from {0x00, 0x01, 'a', 0x7F, 0x80, 0xFF}.
  std::string Short(std::uint64_t length) {
    static constexpr char kAlphabet[] = {'\x00', '\x01', 'a', '\x7f', '\x80', '\xff'};
    std::string s;
    for (std::uint64_t i = 0; i < length; ++i) s.push_back(kAlphabet[Below(sizeof kAlphabet)]);
    return s;
  }

  std::string Value() {
    // Mostly short, sometimes empty, sometimes large enough to move records.
    std::uint64_t length = Below(24);
    if (OneIn(10)) length = 0;
    if (OneIn(20)) length = 200 + Below(800);
    std::string v(length, '\0');
    for (char& c : v) c = static_cast<char>(Below(256));
    return v;
  }

 private:
  std::mt19937_64 rng_;
};

Pairs ModelRange(const Model& model, const std::string& start, const std::string& end) {
  Pairs out;
  if (!(start < end)) return out;
  for (auto it = model.lower_bound(start); it != model.end() && it->first < end; ++it) out.push_back(*it);
  return out;
}

Pairs ModelPrefix(const Model& model, const std::string& prefix) {
  Pairs out;
  for (auto it = model.lower_bound(prefix); it != model.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(*it);
  }
  return out;
}

Pairs StoreRange(const StateStore& store, const std::string& start, const std::string& end,
                 std::size_t limit = SIZE_MAX) {
  Pairs out;
  store.range(start, end, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return out.size() < limit;
  });
  return out;
}

Pairs StorePrefix(const StateStore& store, const std::string& prefix) {
  Pairs out;
  store.prefix_scan(prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  return out;
}

void CheckEverything(const StateStore& store, const Model& model) {
  REQUIRE(store.size() == model.size());
  std::size_t bytes = 0;
  for (const auto& [k, v] : model) bytes += k.size() + v.size();
  REQUIRE(store.size_bytes() == bytes);
  REQUIRE(StorePrefix(store, "") == Pairs(model.begin(), model.end()));
  for (const auto& [k, v] : model) {
    const std::optional<std::string_view> got = store.get(k);
    REQUIRE(got.has_value());
    REQUIRE(*got == v);
  }
}

struct Counts {
  int puts = 0, dels = 0, gets = 0, ranges = 0, prefixes = 0, snapshots = 0, restores = 0, rejected_restores = 0,
      clears = 0;
};

// Runs `ops` random operations on a store made by `make_store()` and on a
// std::map model, checking every observation. Factory: a callable returning
// std::unique_ptr<S> for some S derived from StateStore. Every kReopenEvery
// operations `reopen(store)` may replace the store (mmap: close and open the
// same file); the model is then checked in full against what came back.
constexpr int kReopenEvery = 1500;

template <typename Factory, typename Reopen>
Counts CheckAgainstModel(Factory make_store, Reopen reopen, std::uint64_t seed, int ops) {
  INFO("seed " << seed);
  RandomOps random(seed);
  auto store = make_store();
  Model model;
  std::string saved_blob;
  Model saved_model;
  bool have_snapshot = false;
  Counts counts;

  for (int op = 0; op < ops; ++op) {
    INFO("operation " << op);
    const std::uint64_t dice = random.Below(1000);
    if (dice < 450) {
      const std::string key = random.Key();
      const std::string value = random.Value();
      REQUIRE(store->put(key, value).ok());
      model[key] = value;
      ++counts.puts;
    } else if (dice < 650) {
      const std::string key = random.Key();
      REQUIRE(store->del(key).ok());
      model.erase(key);
      ++counts.dels;
    } else if (dice < 850) {
      const std::string key = random.Key();
      const auto got = store->get(key);
      const auto want = model.find(key);
      REQUIRE(got.has_value() == (want != model.end()));
      REQUIRE(store->contains(key) == got.has_value());
      if (got) REQUIRE(*got == want->second);
      ++counts.gets;
    } else if (dice < 920) {
      const std::string start = random.OneIn(4) ? random.Short(random.Below(3)) : random.Key();
      const std::string end = random.OneIn(4) ? random.Short(random.Below(3)) : random.Key();
      Pairs want = ModelRange(model, start, end);
      if (random.OneIn(4)) {
        // Early stop after a few results.
        const std::size_t limit = 1 + random.Below(5);
        if (want.size() > limit) want.resize(limit);
        REQUIRE(StoreRange(*store, start, end, limit) == want);
      } else {
        REQUIRE(StoreRange(*store, start, end) == want);
      }
      ++counts.ranges;
    } else if (dice < 970) {
      std::string prefix = random.Short(random.Below(4));
      if (random.OneIn(5)) prefix = random.Key().substr(0, random.Below(9));
      if (random.OneIn(10)) prefix = std::string(random.Below(3) + 1, '\xff');
      REQUIRE(StorePrefix(*store, prefix) == ModelPrefix(model, prefix));
      ++counts.prefixes;
    } else if (dice < 985) {
      saved_blob = store->snapshot();
      saved_model = model;
      have_snapshot = true;
      SnapshotInfo info;
      REQUIRE(ValidateSnapshot(saved_blob, info).ok());
      REQUIRE(info.entry_count == model.size());
      ++counts.snapshots;
    } else if (dice < 997) {
      if (!have_snapshot) continue;
      if (random.OneIn(3)) {
        // A damaged blob must be rejected without touching the store.
        std::string damaged = saved_blob;
        if (random.OneIn(2) && damaged.size() > 1) {
          damaged.resize(random.Below(damaged.size()));
        } else {
          damaged[random.Below(damaged.size())] ^= static_cast<char>(1 + random.Below(255));
        }
        REQUIRE_FALSE(store->restore(damaged).ok());
        ++counts.rejected_restores;
      } else {
        REQUIRE(store->restore(saved_blob).ok());
        model = saved_model;
        ++counts.restores;
      }
      CheckEverything(*store, model);
    } else {
      REQUIRE(store->clear().ok());
      model.clear();
      ++counts.clears;
    }
    if (op % 2000 == 1999) CheckEverything(*store, model);
    if (op % kReopenEvery == kReopenEvery - 1) {
      reopen(store);
      CheckEverything(*store, model);
    }
  }
  CheckEverything(*store, model);
  return counts;
}

TEST_CASE("InMemoryStateStore agrees with a std::map model over long random sequences", "[differential]") {
  const auto make = [] { return std::make_unique<InMemoryStateStore>(); };
  const auto keep = [](std::unique_ptr<InMemoryStateStore>&) {};
  for (std::uint64_t seed : {1u, 2u, 3u, 42u, 20261124u}) {
    const Counts counts = CheckAgainstModel(make, keep, seed, 20'000);
    // Every kind of operation was exercised.
    CHECK(counts.puts > 5000);
    CHECK(counts.dels > 2000);
    CHECK(counts.gets > 2000);
    CHECK(counts.ranges > 500);
    CHECK(counts.prefixes > 300);
    CHECK(counts.snapshots > 100);
    CHECK(counts.restores > 50);
    CHECK(counts.rejected_restores > 20);
    CHECK(counts.clears > 10);
  }
}

TEST_CASE("InMemoryStateStore's inlined iteration agrees with its virtual range and prefix scan", "[differential]") {
  RandomOps random(99);
  InMemoryStateStore store;
  for (int i = 0; i < 5000; ++i) REQUIRE(store.put(random.Key(), random.Value()).ok());
  for (int i = 0; i < 2000; ++i) {
    const std::string a = random.Key();
    const std::string b = random.Key();
    Pairs inlined;
    store.for_each_in_range(a, b, [&](std::string_view k, std::string_view v) {
      inlined.emplace_back(k, v);
      return true;
    });
    REQUIRE(inlined == StoreRange(store, a, b));
    const std::string prefix = random.Short(random.Below(4));
    inlined.clear();
    store.for_each_with_prefix(prefix, [&](std::string_view k, std::string_view v) {
      inlined.emplace_back(k, v);
      return true;
    });
    REQUIRE(inlined == StorePrefix(store, prefix));
  }
}

TEST_CASE("a snapshot restores into a store that already holds other data", "[differential]") {
  RandomOps random(7);
  InMemoryStateStore source;
  InMemoryStateStore target;
  Model model;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = random.Key();
    const std::string value = random.Value();
    REQUIRE(source.put(key, value).ok());
    model[key] = value;
    REQUIRE(target.put(random.Key(), random.Value()).ok());
  }
  REQUIRE(target.restore(source.snapshot()).ok());
  CheckEverything(target, model);
  CHECK(target.snapshot() == source.snapshot());
}

// A file path in the temp directory, removed on destruction.
class TempPath {
 public:
  explicit TempPath(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("statestore_differential_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {
    std::filesystem::remove(path_);
  }
  ~TempPath() { std::filesystem::remove(path_); }
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<MmapStateStore> OpenMmap(const std::string& path) {
  // Small initial geometry so the random sequences grow the index and the
  // data region through several remaps.
  MmapOptions options;
  options.initial_index_slots = 8;
  options.initial_data_bytes = 4096;
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, options);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return store;
}

TEST_CASE("MmapStateStore agrees with a std::map model across close and reopen", "[differential][mmap]") {
  for (std::uint64_t seed : {1u, 2u, 42u}) {
    TempPath file("seed" + std::to_string(seed) + ".mmap");
    int reopens = 0;
    const auto make = [&] { return OpenMmap(file.str()); };
    const auto reopen = [&](std::unique_ptr<MmapStateStore>& store) {
      if (reopens % 3 == 2) REQUIRE(store->compact().ok());  // sometimes compact first
      store.reset();                                         // clean close
      store = OpenMmap(file.str());
      ++reopens;
    };
    const Counts counts = CheckAgainstModel(make, reopen, seed, 12'000);
    CHECK(reopens == 12'000 / kReopenEvery);
    CHECK(counts.puts > 3000);
    CHECK(counts.dels > 1500);
    CHECK(counts.ranges > 300);
    CHECK(counts.restores > 20);
    CHECK(counts.rejected_restores > 5);
  }
}

// Fills `store` and `model` with the same random content.
void FillRandom(StateStore& store, Model& model, std::uint64_t seed, int puts) {
  RandomOps random(seed);
  for (int i = 0; i < puts; ++i) {
    const std::string key = random.Key();
    const std::string value = random.Value();
    REQUIRE(store.put(key, value).ok());
    model[key] = value;
    if (random.OneIn(5)) {
      const std::string gone = random.Key();
      REQUIRE(store.del(gone).ok());
      model.erase(gone);
    }
  }
}

TEST_CASE("a snapshot from either backend restores into the other byte for byte", "[differential][snapshot]") {
  TempPath source_file("cross_source.mmap");
  TempPath target_file("cross_target.mmap");

  SECTION("in-memory into mmap") {
    InMemoryStateStore source;
    Model model;
    FillRandom(source, model, 11, 4000);
    auto target = OpenMmap(target_file.str());
    REQUIRE(target->put("stale", "data that restore must replace").ok());
    const std::string blob = source.snapshot();
    REQUIRE(target->restore(blob).ok());
    CheckEverything(*target, model);
    CHECK(target->snapshot() == blob);  // the format is canonical: same state, same bytes
    target.reset();
    target = OpenMmap(target_file.str());  // and the restored file survives a reopen
    CheckEverything(*target, model);
  }

  SECTION("mmap into in-memory") {
    auto source = OpenMmap(source_file.str());
    Model model;
    FillRandom(*source, model, 12, 4000);
    InMemoryStateStore target;
    REQUIRE(target.put("stale", "data that restore must replace").ok());
    const std::string blob = source->snapshot();
    REQUIRE(target.restore(blob).ok());
    CheckEverything(target, model);
    CHECK(target.snapshot() == blob);
  }

  SECTION("a damaged cross-backend snapshot leaves the target unchanged") {
    InMemoryStateStore source;
    Model model;
    FillRandom(source, model, 13, 500);
    auto target = OpenMmap(target_file.str());
    Model target_model;
    FillRandom(*target, target_model, 14, 300);
    std::string blob = source.snapshot();
    blob[blob.size() / 2] ^= 0x20;
    const Status s = target->restore(blob);
    REQUIRE_FALSE(s.ok());
    CHECK(s.IsCorruption());
    CheckEverything(*target, target_model);
  }
}

}  // namespace
}  // namespace statestore
