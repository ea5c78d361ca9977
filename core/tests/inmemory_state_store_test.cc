// Edge cases of InMemoryStateStore. Randomised model checking lives in
// differential_test.cc, the snapshot format in snapshot_format_test.cc.
#include "statestore/inmemory_state_store.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "statestore/internal/inmemory_internal.h"
#include "statestore/snapshot_format.h"

namespace statestore {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs ScanRange(const StateStore& store, std::string_view start, std::string_view end) {
  Pairs out;
  store.range(start, end, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  return out;
}

Pairs ScanPrefix(const StateStore& store, std::string_view prefix) {
  Pairs out;
  store.prefix_scan(prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  return out;
}

Pairs All(const InMemoryStateStore& store) {
  Pairs out;
  store.for_each([&](std::string_view k, std::string_view v) {
    out.emplace_back(k, v);
    return true;
  });
  return out;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// An 8-byte big-endian key, as the benchmarks use.
std::string BigEndianKey(std::uint64_t i) {
  std::string key(8, '\0');
  for (int b = 0; b < 8; ++b) key[b] = static_cast<char>(i >> (56 - 8 * b));
  return key;
}

TEST_CASE("an empty store finds nothing, scans nothing and has zero sizes", "[inmemory]") {
  InMemoryStateStore store;
  CHECK(store.size() == 0);
  CHECK(store.size_bytes() == 0);
  CHECK_FALSE(store.get("a").has_value());
  CHECK_FALSE(store.get("").has_value());
  CHECK_FALSE(store.contains("a"));
  CHECK(ScanRange(store, "", "\xff\xff").empty());
  CHECK(ScanPrefix(store, "").empty());
  CHECK(store.del("a").ok());
  CHECK(store.flush().ok());
  CHECK(store.TEST_memory_usage() == 0);
}

TEST_CASE("put then get returns the value and overwrites replace it", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("k", "v1").ok());
  CHECK(store.get("k") == std::optional<std::string_view>("v1"));
  CHECK(store.contains("k"));
  REQUIRE(store.put("k", "v2").ok());
  CHECK(store.get("k") == std::optional<std::string_view>("v2"));
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 3);
}

TEST_CASE("overwriting with a longer and then a shorter value keeps the latest", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("key", "short").ok());
  const std::string longer(1000, 'L');
  REQUIRE(store.put("key", longer).ok());
  CHECK(store.get("key") == std::optional<std::string_view>(longer));
  CHECK(store.size_bytes() == 3 + 1000);
  REQUIRE(store.put("key", "s").ok());
  CHECK(store.get("key") == std::optional<std::string_view>("s"));
  CHECK(store.size_bytes() == 4);
  REQUIRE(store.put("key", "").ok());
  CHECK(store.get("key") == std::optional<std::string_view>(""));
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 3);
  CHECK(All(store) == Pairs{{"key", ""}});
}

TEST_CASE("putting a value that is a view of the store's own bytes works", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("a", "abcdef").ok());
  // Shrinks in place from an overlapping source.
  REQUIRE(store.put("a", store.get("a")->substr(2)).ok());
  CHECK(store.get("a") == std::optional<std::string_view>("cdef"));
  // Grows "a" from a view into another record.
  REQUIRE(store.put("b", std::string(100, 'x')).ok());
  REQUIRE(store.put("a", *store.get("b")).ok());
  CHECK(store.get("a") == std::optional<std::string_view>(std::string(100, 'x')));
  CHECK(store.get("b") == std::optional<std::string_view>(std::string(100, 'x')));
}

TEST_CASE("an empty value is stored and distinguished from absence", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("k", "").ok());
  REQUIRE(store.get("k").has_value());
  CHECK(store.get("k")->empty());
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 1);
}

TEST_CASE("an empty key is a legal key", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("", "empty").ok());
  CHECK(store.get("") == std::optional<std::string_view>("empty"));
  CHECK(ScanPrefix(store, "") == Pairs{{"", "empty"}});
  CHECK(ScanRange(store, "", "a") == Pairs{{"", "empty"}});
  REQUIRE(store.del("").ok());
  CHECK_FALSE(store.contains(""));
}

TEST_CASE("binary keys with zero and 0xFF bytes are distinct and ordered as unsigned bytes", "[inmemory]") {
  InMemoryStateStore store;
  const std::vector<std::string> keys = {
      Bytes({}),
      Bytes({0x00}),
      Bytes({0x00, 0x00}),
      Bytes({0x00, 0x01}),
      Bytes({0x01}),
      Bytes({0x7f}),
      Bytes({0x80}),
      Bytes({0xff}),
      Bytes({0xff, 0x00}),
      Bytes({0xff, 0xff}),
      Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
  };
  // Insert in reverse so the order comes from the index, not insertion.
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) REQUIRE(store.put(*it, "v" + *it).ok());
  CHECK(store.size() == keys.size());
  Pairs expected;
  for (const std::string& k : keys) {
    CHECK(store.get(k) == std::optional<std::string_view>("v" + k));
    expected.emplace_back(k, "v" + k);
  }
  CHECK(All(store) == expected);
  CHECK(ScanPrefix(store, "") == expected);
}

TEST_CASE("keys that share their first eight bytes are ordered by the rest", "[inmemory]") {
  InMemoryStateStore store;
  const std::string base = Bytes({1, 2, 3, 4, 5, 6, 7, 0});
  REQUIRE(store.put(base + "b", "2").ok());
  REQUIRE(store.put(base, "0").ok());
  REQUIRE(store.put(base + "a", "1").ok());
  REQUIRE(store.put(Bytes({1, 2, 3, 4, 5, 6, 7}), "short").ok());
  CHECK(All(store) ==
        Pairs{{Bytes({1, 2, 3, 4, 5, 6, 7}), "short"}, {base, "0"}, {base + "a", "1"}, {base + "b", "2"}});
  CHECK(ScanRange(store, base, base + "b") == Pairs{{base, "0"}, {base + "a", "1"}});
  CHECK(ScanPrefix(store, base + "a") == Pairs{{base + "a", "1"}});
}

TEST_CASE("range visits start <= key < end in ascending order", "[inmemory]") {
  InMemoryStateStore store;
  for (const char* k : {"a", "b", "ba", "bb", "c", "d"}) REQUIRE(store.put(k, k).ok());
  CHECK(ScanRange(store, "b", "c") == Pairs{{"b", "b"}, {"ba", "ba"}, {"bb", "bb"}});
  CHECK(ScanRange(store, "", "b") == Pairs{{"a", "a"}});
  CHECK(ScanRange(store, "bb", "\xff") == Pairs{{"bb", "bb"}, {"c", "c"}, {"d", "d"}});
  CHECK(ScanRange(store, "a0", "b") == Pairs{});
}

TEST_CASE("an empty range and a range with start after end visit nothing", "[inmemory]") {
  InMemoryStateStore store;
  for (const char* k : {"a", "b", "c"}) REQUIRE(store.put(k, k).ok());
  CHECK(ScanRange(store, "b", "b").empty());
  CHECK(ScanRange(store, "c", "a").empty());
  CHECK(ScanRange(store, "\xff", "").empty());
  int calls = 0;
  store.for_each_in_range("z", "a", [&](std::string_view, std::string_view) { return ++calls, true; });
  CHECK(calls == 0);
}

TEST_CASE("prefix scan of 0xFF bytes finds keys at the very top of the key space", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put(Bytes({0xfe, 0xff}), "below").ok());
  REQUIRE(store.put(Bytes({0xff}), "one").ok());
  REQUIRE(store.put(Bytes({0xff, 0xff}), "two").ok());
  REQUIRE(store.put(Bytes({0xff, 0xff, 0x00}), "two-zero").ok());
  REQUIRE(store.put(Bytes({0xff, 0xff, 0xff}), "three").ok());
  std::string nine_ff(9, '\xff');
  REQUIRE(store.put(nine_ff, "nine").ok());
  REQUIRE(store.put(nine_ff + "x", "nine-x").ok());
  CHECK(ScanPrefix(store, Bytes({0xff, 0xff})) == Pairs{{Bytes({0xff, 0xff}), "two"},
                                                        {Bytes({0xff, 0xff, 0x00}), "two-zero"},
                                                        {Bytes({0xff, 0xff, 0xff}), "three"},
                                                        {nine_ff, "nine"},
                                                        {nine_ff + "x", "nine-x"}});
  CHECK(ScanPrefix(store, nine_ff) == Pairs{{nine_ff, "nine"}, {nine_ff + "x", "nine-x"}});
  CHECK(ScanPrefix(store, std::string(12, '\xff')).empty());
  CHECK(ScanPrefix(store, Bytes({0xfe})) == Pairs{{Bytes({0xfe, 0xff}), "below"}});
}

TEST_CASE("prefix scan with a prefix ending in zero bytes does not match shorter keys", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("a", "1").ok());
  REQUIRE(store.put(Bytes({'a', 0}), "2").ok());
  REQUIRE(store.put(Bytes({'a', 0, 0}), "3").ok());
  REQUIRE(store.put(Bytes({'a', 1}), "4").ok());
  CHECK(ScanPrefix(store, Bytes({'a', 0})) == Pairs{{Bytes({'a', 0}), "2"}, {Bytes({'a', 0, 0}), "3"}});
  CHECK(ScanPrefix(store, "a").size() == 4);
  CHECK(ScanPrefix(store, "b").empty());
}

TEST_CASE("an empty prefix visits every entry", "[inmemory]") {
  InMemoryStateStore store;
  for (int i = 0; i < 100; ++i) REQUIRE(store.put(BigEndianKey(i), "v").ok());
  CHECK(ScanPrefix(store, "").size() == 100);
}

TEST_CASE("a visitor that returns false stops the scan", "[inmemory]") {
  InMemoryStateStore store;
  for (int i = 0; i < 10; ++i) REQUIRE(store.put(BigEndianKey(i), "v").ok());
  int calls = 0;
  store.range("", "\xff", [&](std::string_view, std::string_view) { return ++calls < 3; });
  CHECK(calls == 3);
  calls = 0;
  store.prefix_scan("", [&](std::string_view, std::string_view) { return ++calls < 5; });
  CHECK(calls == 5);
  calls = 0;
  store.for_each([&](std::string_view, std::string_view) { return ++calls < 1; });
  CHECK(calls == 1);
}

TEST_CASE("delete removes the key and deleting an absent key is a no-op", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("a", "1").ok());
  REQUIRE(store.put("b", "2").ok());
  CHECK(store.del("a").ok());
  CHECK_FALSE(store.contains("a"));
  CHECK(store.del("a").ok());
  CHECK(store.del("never").ok());
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 2);
  CHECK(All(store) == Pairs{{"b", "2"}});
}

TEST_CASE("a deleted key can be reinserted with a new value", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("k", "old").ok());
  REQUIRE(store.del("k").ok());
  REQUIRE(store.put("k", "new-and-longer").ok());
  CHECK(store.get("k") == std::optional<std::string_view>("new-and-longer"));
  CHECK(store.size() == 1);
  CHECK(All(store) == Pairs{{"k", "new-and-longer"}});
}

TEST_CASE("an oversize key is rejected with a message naming the limit and the store is unchanged", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("keep", "me").ok());
  const std::string big_key(kMaxKeySize + 1, 'k');
  const Status s = store.put(big_key, "v");
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "key too long: 65537 bytes exceeds kMaxKeySize (65536 bytes)");
  CHECK(s.ToString() == "Invalid argument: key too long: 65537 bytes exceeds kMaxKeySize (65536 bytes)");
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 6);
  CHECK_FALSE(store.contains(big_key));
  CHECK(All(store) == Pairs{{"keep", "me"}});
  // Exactly at the limit is fine.
  CHECK(store.put(std::string(kMaxKeySize, 'k'), "v").ok());
}

TEST_CASE("an oversize value is rejected with a message naming the limit and the store is unchanged", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("keep", "me").ok());
  // A view of kMaxValueSize + 1 bytes; put must reject it before reading it.
  const std::string small = "x";
  const std::string_view huge(small.data(), kMaxValueSize + 1);
  const Status s = store.put("keep", huge);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "value too long: 268435457 bytes exceeds kMaxValueSize (268435456 bytes)");
  CHECK(store.get("keep") == std::optional<std::string_view>("me"));
  CHECK(store.put("other", huge).IsInvalidArgument());
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 6);
}

TEST_CASE("clear removes every entry and the store is usable afterwards", "[inmemory]") {
  InMemoryStateStore store;
  for (int i = 0; i < 1000; ++i) REQUIRE(store.put(BigEndianKey(i), std::string(100, 'v')).ok());
  REQUIRE(store.clear().ok());
  CHECK(store.size() == 0);
  CHECK(store.size_bytes() == 0);
  CHECK_FALSE(store.contains(BigEndianKey(5)));
  CHECK(ScanPrefix(store, "").empty());
  CHECK(store.TEST_memory_usage() == 0);
  REQUIRE(store.put("again", "yes").ok());
  CHECK(All(store) == Pairs{{"again", "yes"}});
}

TEST_CASE("size and size_bytes track live keys and values through every mutation", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("ab", "cde").ok());       // 5
  REQUIRE(store.put("f", "").ok());           // 1
  REQUIRE(store.put("ab", "c").ok());         // 3
  REQUIRE(store.put("ghij", "klmnop").ok());  // 10
  CHECK(store.size() == 3);
  CHECK(store.size_bytes() == 3 + 1 + 10);
  REQUIRE(store.del("f").ok());
  CHECK(store.size() == 2);
  CHECK(store.size_bytes() == 13);
}

TEST_CASE("a store grows across many rehashes and keeps every key", "[inmemory]") {
  InMemoryStateStore store;
  constexpr int kKeys = 200'000;
  std::size_t last_capacity = 0;
  int growths = 0;
  for (int i = 0; i < kKeys; ++i) {
    // Multiplicative scrambling so insertion order is not key order.
    const std::uint64_t id = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    REQUIRE(store.put(BigEndianKey(id), std::to_string(i)).ok());
    if (store.TEST_index_capacity() != last_capacity) {
      ++growths;
      last_capacity = store.TEST_index_capacity();
    }
  }
  CHECK(growths >= 10);
  CHECK(store.size() == kKeys);
  for (int i = 0; i < kKeys; ++i) {
    const std::uint64_t id = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    const auto v = store.get(BigEndianKey(id));
    REQUIRE(v.has_value());
    REQUIRE(*v == std::to_string(i));
  }
  std::string previous;
  std::size_t visited = 0;
  bool ascending = true;
  store.for_each([&](std::string_view k, std::string_view) {
    if (visited++ > 0 && !(previous < k)) ascending = false;
    previous.assign(k);
    return true;
  });
  CHECK(visited == kKeys);
  CHECK(ascending);
}

TEST_CASE("reserve sizes the table so inserting that many keys does not rehash", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.reserve(10'000).ok());
  const std::size_t capacity = store.TEST_index_capacity();
  CHECK(capacity * 3 >= 10'000 * 4);
  for (int i = 0; i < 10'000; ++i) REQUIRE(store.put(BigEndianKey(i), "v").ok());
  CHECK(store.TEST_index_capacity() == capacity);
  CHECK(store.reserve(10).ok());  // never shrinks
  CHECK(store.TEST_index_capacity() == capacity);
}

TEST_CASE("reserve of an absurd count returns ResourceExhausted and leaves the store as it was", "[inmemory]") {
  InMemoryStateStore store;
  REQUIRE(store.put("kept", "value").ok());
  const std::size_t capacity = store.TEST_index_capacity();
  for (const std::size_t n : {SIZE_MAX, SIZE_MAX / 4, SIZE_MAX / 8 + 1, InMemoryStateStore::kMaxReservableKeys + 1}) {
    INFO("reserve(" << n << ")");
    const Status s = store.reserve(n);
    CHECK(s.IsResourceExhausted());
    CHECK(s.message() == "cannot reserve " + std::to_string(n) +
                             " keys: the hash table holds at most 824633720832 keys (2^40 slots at a load of 3/4)");
    CHECK(store.TEST_index_capacity() == capacity);
  }
  CHECK(store.get("kept") == std::optional<std::string_view>("value"));
  CHECK(store.size() == 1);
}

TEST_CASE("put and delete churn does not grow memory without bound", "[inmemory]") {
  InMemoryStateStore store;
  std::mt19937_64 rng(7);
  constexpr int kKeySpace = 2000;
  std::size_t peak_after_warmup = 0;
  for (int op = 0; op < 400'000; ++op) {
    const std::string key = BigEndianKey(rng() % kKeySpace);
    const int dice = static_cast<int>(rng() % 4);
    if (dice == 0) {
      REQUIRE(store.del(key).ok());
    } else {
      // Values of varying size force records to move.
      REQUIRE(store.put(key, std::string(rng() % 300, 'v')).ok());
    }
    if (op >= 50'000) peak_after_warmup = std::max(peak_after_warmup, store.TEST_arena_reserved_bytes());
  }
  // Live data is at most kKeySpace * (8 + 300 + 8) bytes (~632 KB). Without
  // compaction the arena would hold every record ever written (~60 MB).
  const std::size_t live_bound = kKeySpace * inmemory_internal::ArenaRecordSize(8, 300);
  CHECK(store.TEST_live_record_bytes() <= live_bound);
  CHECK(peak_after_warmup <= 3 * live_bound + 2 * 1024 * 1024);
  CHECK(store.TEST_dead_record_bytes() <=
        std::max<std::size_t>(store.TEST_live_record_bytes(), 64 * 1024) + 1024 * 1024);
}

TEST_CASE("compaction keeps every live entry and its order", "[inmemory]") {
  InMemoryStateStore store;
  std::map<std::string, std::string> model;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = BigEndianKey(i % 500);
    const std::string value(static_cast<std::size_t>(i % 97) * 3, static_cast<char>('a' + i % 26));
    REQUIRE(store.put(key, value).ok());
    model[key] = value;
    if (i % 7 == 0) {
      REQUIRE(store.del(BigEndianKey((i * 13) % 500)).ok());
      model.erase(BigEndianKey((i * 13) % 500));
    }
  }
  CHECK(All(store) == Pairs(model.begin(), model.end()));
  for (const auto& [k, v] : model) CHECK(store.get(k) == std::optional<std::string_view>(v));
}

// Deletes leave their ordered-index element marked (scans skip it, a
// re-insert reuses it, a rebuild drops it). Dense deletes and re-inserts in a
// few narrow key regions, with every kind of ordered read interleaved,
// against a std::map.
TEST_CASE("ranges, prefix scans and snapshots interleaved with dense deletes and re-inserts agree with a std::map",
          "[inmemory][deferred-delete]") {
  for (std::uint64_t seed : {11u, 12u, 13u}) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    InMemoryStateStore store;
    std::map<std::string, std::string> model;
    // Marked elements are dropped by the compactions this churn triggers;
    // the next case covers the rebuild without a compaction.
    for (int op = 0; op < 15'000; ++op) {
      // Keys from one of three regions of 600, so deletes clear whole runs.
      const int region = static_cast<int>(rng() % 3);
      const int index = region * 10'000 + static_cast<int>(rng() % 600);
      const std::string key = BigEndianKey(index);
      const int dice = static_cast<int>(rng() % 100);
      if (dice < 40) {
        REQUIRE(store.del(key).ok());
        model.erase(key);
      } else if (dice < 80) {
        const std::string value(rng() % 24, static_cast<char>('a' + op % 26));
        REQUIRE(store.put(key, value).ok());
        model[key] = value;
      } else if (dice < 93) {
        const std::string end = BigEndianKey(index + static_cast<int>(rng() % 200));
        const std::size_t limit = 1 + rng() % 50;
        Pairs want;
        for (auto it = model.lower_bound(key); it != model.end() && it->first < end && want.size() < limit; ++it) {
          want.emplace_back(it->first, it->second);
        }
        Pairs got;
        store.for_each_in_range(key, end, [&](std::string_view k, std::string_view v) {
          got.emplace_back(k, v);
          return got.size() < limit;
        });
        REQUIRE(got == want);
      } else if (dice < 97) {
        const std::string prefix = key.substr(0, 6);
        Pairs want;
        for (auto it = model.lower_bound(prefix); it != model.end() && it->first.starts_with(prefix); ++it) {
          want.emplace_back(it->first, it->second);
        }
        REQUIRE(ScanPrefix(store, prefix) == want);
      } else if (dice < 98) {
        InMemoryStateStore copy;
        REQUIRE(copy.restore(store.snapshot()).ok());
        REQUIRE(All(copy) == Pairs(model.begin(), model.end()));
      } else {
        REQUIRE(store.get(key).has_value() == model.contains(key));
      }
      REQUIRE(store.size() == model.size());
    }
    CHECK(All(store) == Pairs(model.begin(), model.end()));
    for (const auto& [k, v] : model) REQUIRE(store.get(k) == std::optional<std::string_view>(v));
  }
}

TEST_CASE("deleting many small keys beside large values drops their ordered-index elements without a compaction",
          "[inmemory][deferred-delete]") {
  InMemoryStateStore store;
  REQUIRE(store.put("big", std::string(4 * 1024 * 1024, 'b')).ok());
  for (int i = 0; i < 5000; ++i) REQUIRE(store.put(BigEndianKey(i), "v").ok());
  const std::size_t arena = store.TEST_arena_reserved_bytes();
  const std::size_t before = store.TEST_memory_usage();
  for (int i = 0; i < 5000; ++i) REQUIRE(store.del(BigEndianKey(i)).ok());
  // The dead bytes (5000 small records) stay far below the live 4 MiB, so no
  // compaction ran; the marked elements outnumbered the one live key by more
  // than 1024 and the index was rebuilt without them.
  CHECK(store.TEST_arena_reserved_bytes() == arena);
  CHECK(store.TEST_dead_record_bytes() > 0);
  CHECK(store.TEST_memory_usage() + 4000 * sizeof(inmemory_internal::OrderedRef) < before);
  CHECK(All(store) == Pairs{{"big", std::string(4 * 1024 * 1024, 'b')}});
  // Re-inserting a deleted key after the rebuild works like a new key.
  REQUIRE(store.put(BigEndianKey(7), "again").ok());
  CHECK(ScanRange(store, BigEndianKey(0), BigEndianKey(100)) == Pairs{{BigEndianKey(7), "again"}});
}

TEST_CASE("a deleted key put back with a value that fits reuses its record and leaves no dead bytes behind",
          "[inmemory][deferred-delete]") {
  InMemoryStateStore store;
  for (int i = 0; i < 1000; ++i) REQUIRE(store.put(BigEndianKey(i), std::string(100, 'a')).ok());
  const std::size_t arena = store.TEST_arena_reserved_bytes();
  const std::size_t live = store.TEST_live_record_bytes();
  const std::size_t slack = store.TEST_dead_record_bytes();  // chunk ends the arena skipped
  // Ten cycles of deleting a quarter of the keys and putting them back, the
  // delete benchmark's loop: without reuse each cycle leaves 250 dead records
  // and the dead bytes pass the live ones (a compaction inside del()).
  for (int cycle = 0; cycle < 10; ++cycle) {
    for (int i = 0; i < 1000; i += 4) REQUIRE(store.del(BigEndianKey(i)).ok());
    CHECK(store.TEST_dead_record_bytes() == slack + 250 * (8 + 8 + 100));
    for (int i = 0; i < 1000; i += 4) REQUIRE(store.put(BigEndianKey(i), std::string(100, 'b')).ok());
    CHECK(store.TEST_dead_record_bytes() == slack);
  }
  CHECK(store.TEST_arena_reserved_bytes() == arena);
  CHECK(store.TEST_live_record_bytes() == live);
  CHECK(store.get(BigEndianKey(4)) == std::optional<std::string_view>(std::string(100, 'b')));
  CHECK(store.get(BigEndianKey(5)) == std::optional<std::string_view>(std::string(100, 'a')));
  CHECK(ScanRange(store, BigEndianKey(3), BigEndianKey(6)) == Pairs{{BigEndianKey(3), std::string(100, 'a')},
                                                                    {BigEndianKey(4), std::string(100, 'b')},
                                                                    {BigEndianKey(5), std::string(100, 'a')}});
}

TEST_CASE("a deleted key put back with a shorter, an empty or a longer value reads back exactly that value",
          "[inmemory][deferred-delete]") {
  InMemoryStateStore store;
  for (int i = 0; i < 10; ++i) REQUIRE(store.put(BigEndianKey(i), "0123456789").ok());
  const std::size_t slack = store.TEST_dead_record_bytes();
  for (int i = 0; i < 3; ++i) REQUIRE(store.del(BigEndianKey(i)).ok());
  REQUIRE(store.put(BigEndianKey(0), "short").ok());  // reuses the record; 5 bytes stay dead
  REQUIRE(store.put(BigEndianKey(1), "").ok());
  REQUIRE(store.put(BigEndianKey(2), "a value longer than the record had room for").ok());  // a new record
  CHECK(store.TEST_dead_record_bytes() == slack + 5 + 10 + (8 + 8 + 10));
  CHECK(store.size() == 10);
  CHECK(store.get(BigEndianKey(0)) == std::optional<std::string_view>("short"));
  CHECK(store.get(BigEndianKey(1)) == std::optional<std::string_view>(""));
  CHECK(store.get(BigEndianKey(2)) == std::optional<std::string_view>("a value longer than the record had room for"));
  CHECK(ScanRange(store, BigEndianKey(0), BigEndianKey(3)) ==
        Pairs{{BigEndianKey(0), "short"},
              {BigEndianKey(1), ""},
              {BigEndianKey(2), "a value longer than the record had room for"}});
  // Deleted again and put back: the reused record's room is now its new length.
  REQUIRE(store.del(BigEndianKey(0)).ok());
  REQUIRE(store.put(BigEndianKey(0), "0123456").ok());
  CHECK(store.get(BigEndianKey(0)) == std::optional<std::string_view>("0123456"));
  InMemoryStateStore copy;
  std::string blob;
  store.snapshot_to(blob);
  REQUIRE(copy.restore(blob).ok());
  CHECK(All(copy) == All(store));
}

TEST_CASE("two stores hash with different secrets", "[inmemory]") {
  InMemoryStateStore a;
  InMemoryStateStore b;
  int equal = 0;
  for (int i = 0; i < 64; ++i) equal += a.TEST_hash(BigEndianKey(i)) == b.TEST_hash(BigEndianKey(i));
  CHECK(equal == 0);
}

TEST_CASE("a fixed hash seed gives the same hash in every store and keeps it across restore", "[inmemory]") {
  InMemoryStateStore a{FixedHashSeed{12345}};
  InMemoryStateStore b{FixedHashSeed{12345}};
  InMemoryStateStore other_seed{FixedHashSeed{54321}};
  InMemoryStateStore random_seed;
  int same = 0, same_as_other = 0, same_as_random = 0;
  for (int i = 0; i < 64; ++i) {
    const std::string key = BigEndianKey(i);
    same += a.TEST_hash(key) == b.TEST_hash(key);
    same_as_other += a.TEST_hash(key) == other_seed.TEST_hash(key);
    same_as_random += a.TEST_hash(key) == random_seed.TEST_hash(key);
  }
  CHECK(same == 64);
  CHECK(same_as_other == 0);
  CHECK(same_as_random == 0);

  // restore() rebuilds the table; a fixed-seed store keeps its secret.
  for (int i = 0; i < 100; ++i) REQUIRE(random_seed.put(BigEndianKey(i), "v").ok());
  const std::uint64_t before = a.TEST_hash("probe");
  REQUIRE(a.restore(random_seed.snapshot()).ok());
  CHECK(a.TEST_hash("probe") == before);
  CHECK(a.size() == 100);
  CHECK(a.get(BigEndianKey(7)) == std::optional<std::string_view>("v"));
  // ... while a randomly seeded store adopts a new one.
  const std::uint64_t random_before = random_seed.TEST_hash("probe");
  REQUIRE(random_seed.restore(a.snapshot()).ok());
  CHECK(random_seed.TEST_hash("probe") != random_before);
}

TEST_CASE("keys crafted to collide under one store's secret do not collide in another store", "[inmemory]") {
  // An attacker who knew store A's secret could pick keys that all land in
  // one home slot of A. Store B, with its own secret, spreads them out.
  InMemoryStateStore victim_model;
  constexpr std::size_t kCrafted = 400;
  const std::size_t mask = 1024 - 1;  // the table size 400 keys end up in
  std::vector<std::string> crafted;
  for (std::uint64_t candidate = 0; crafted.size() < kCrafted; ++candidate) {
    const std::string key = BigEndianKey(candidate);
    if ((victim_model.TEST_hash(key) & mask) == 0) crafted.push_back(key);
  }
  for (const std::string& key : crafted) REQUIRE(victim_model.put(key, "x").ok());
  REQUIRE(victim_model.TEST_index_capacity() == mask + 1);
  CHECK(victim_model.TEST_probe_distances().longest >= kCrafted - 1);  // the attack works on A ...

  InMemoryStateStore other;
  for (const std::string& key : crafted) REQUIRE(other.put(key, "x").ok());
  CHECK(other.TEST_probe_distances().longest < 40);  // ... and not on B
  for (const std::string& key : crafted) CHECK(other.contains(key));
}

TEST_CASE("snapshot then restore into a new store reproduces the contents", "[inmemory]") {
  InMemoryStateStore source;
  for (int i = 0; i < 3000; ++i) REQUIRE(source.put(BigEndianKey(i * 7919 % 3001), std::to_string(i)).ok());
  REQUIRE(source.put(Bytes({0, 0xff, 0}), "").ok());
  const std::string blob = source.snapshot();
  InMemoryStateStore target;
  REQUIRE(target.put("stale", "gone after restore").ok());
  REQUIRE(target.restore(blob).ok());
  CHECK(All(target) == All(source));
  CHECK(target.size() == source.size());
  CHECK(target.size_bytes() == source.size_bytes());
  CHECK_FALSE(target.contains("stale"));
  // The restored store is fully usable.
  REQUIRE(target.put("new", "1").ok());
  REQUIRE(target.del(BigEndianKey(5)).ok());
  CHECK(target.get("new") == std::optional<std::string_view>("1"));
  CHECK(target.snapshot() != blob);
}

TEST_CASE("snapshot_to reuses the caller's buffer", "[inmemory]") {
  InMemoryStateStore store;
  for (int i = 0; i < 100; ++i) REQUIRE(store.put(BigEndianKey(i), "value").ok());
  std::string out;
  out.reserve(1 << 16);
  const char* data = out.data();
  store.snapshot_to(out);
  CHECK(out.data() == data);
  CHECK(out.size() == SnapshotSize(100, 100 * 13));
  CHECK(out == store.snapshot());
}

TEST_CASE("restoring an empty snapshot empties the store", "[inmemory]") {
  InMemoryStateStore empty;
  InMemoryStateStore store;
  REQUIRE(store.put("a", "b").ok());
  REQUIRE(store.restore(empty.snapshot()).ok());
  CHECK(store.size() == 0);
  CHECK(ScanPrefix(store, "").empty());
}

TEST_CASE("restore rejects a bad blob and leaves the store exactly as it was", "[inmemory]") {
  InMemoryStateStore store;
  for (int i = 0; i < 50; ++i) REQUIRE(store.put(BigEndianKey(i), std::to_string(i)).ok());
  const Pairs before = All(store);
  const std::string good = store.snapshot();

  std::string corrupted = good;
  corrupted[40] ^= 0x01;
  Status s = store.restore(corrupted);
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot checksum mismatch: the blob was altered or torn");

  s = store.restore(good.substr(0, good.size() - 1));
  CHECK(s.IsCorruption());

  s = store.restore("");
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot truncated: only 0 bytes, a header and trailer need 40");

  CHECK(All(store) == before);
  CHECK(store.size() == 50);
  CHECK(store.get(BigEndianKey(3)) == std::optional<std::string_view>("3"));
}

// Caps this process's address space a little above its current size for the
// lifetime of the object, so that large allocations fail with bad_alloc.
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(std::size_t headroom) {
    getrlimit(RLIMIT_AS, &saved_);
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    statm >> pages;
    rlimit capped = saved_;
    capped.rlim_cur = pages * 4096 + headroom;
    ok_ = setrlimit(RLIMIT_AS, &capped) == 0;
  }
  ~AddressSpaceCap() { setrlimit(RLIMIT_AS, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

#if !defined(__SANITIZE_ADDRESS__)
// (AddressSanitizer reserves terabytes of shadow memory, so an address-space
// cap cannot be used under it.)
TEST_CASE("running out of memory is reported as ResourceExhausted and the store is unchanged", "[inmemory]") {
  constexpr std::size_t kBig = 200 * 1024 * 1024;
  const std::string big(kBig, 'b');
  InMemoryStateStore store;
  REQUIRE(store.put("small", "value").ok());
  InMemoryStateStore big_store;
  REQUIRE(big_store.put("k", big).ok());
  const std::string big_snapshot = big_store.snapshot();
  Status insert, overwrite, restore;
  {
    AddressSpaceCap cap(64 * 1024 * 1024);
    REQUIRE(cap.ok());
    insert = store.put("new", big);
    overwrite = store.put("small", big);
    restore = store.restore(big_snapshot);
  }
  CHECK(insert.IsResourceExhausted());
  CHECK(insert.message() == "out of memory: cannot store a 3-byte key and a 209715200-byte value");
  CHECK(overwrite.IsResourceExhausted());
  CHECK(overwrite.message() == "out of memory: cannot store a value of 209715200 bytes");
  CHECK(restore.IsResourceExhausted());
  CHECK(restore.message() ==
        "out of memory: cannot restore a snapshot of " + std::to_string(big_snapshot.size()) + " bytes");
  CHECK(big_snapshot.size() == SnapshotSize(1, 1 + kBig));
  CHECK(All(store) == Pairs{{"small", "value"}});
  CHECK(store.size() == 1);
  CHECK(store.size_bytes() == 10);
  // Memory is back: the same operations now succeed.
  REQUIRE(store.put("new", big).ok());
  CHECK(store.get("new")->size() == kBig);
}
#endif

}  // namespace
}  // namespace statestore
