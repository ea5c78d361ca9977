// The spec's test plan for the benchmark utilities (F-PERF-001 "Unit Tests"):
// deterministic keys and values, populate counts, standard configs, plus the
// Zipfian order and the workload classes state_bench drives.
#include "workloads.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "statestore/inmemory_state_store.h"
#include "statestore/mmap_state_store.h"

namespace sb = statestore::bench;

namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// A scratch directory removed at scope exit.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string pattern = "/tmp/workloads_test.XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("key generation is deterministic and puts the big-endian index first") {
  REQUIRE(sb::GenerateKeys(1000, 8) == sb::GenerateKeys(1000, 8));
  const auto keys = sb::GenerateKeys(300, 8);
  CHECK(keys[0] == Bytes({0, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(keys[1] == Bytes({0, 0, 0, 0, 0, 0, 0, 1}));
  CHECK(keys[258] == Bytes({0, 0, 0, 0, 0, 0, 1, 2}));
  const auto wide = sb::GenerateKeys(6, 32);
  std::string expected(32, '\0');
  expected[7] = 5;
  CHECK(wide[5] == expected);
  std::string big(8, '\0');
  sb::FillKey(0x0102030405060708ull, 8, big.data());
  CHECK(big == Bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  std::string narrow(4, '\0');
  sb::FillKey(0x0102030405060708ull, 4, narrow.data());
  CHECK(narrow == Bytes({1, 2, 3, 4}));
}

TEST_CASE("generated keys are distinct and sort in index order") {
  const auto keys = sb::GenerateKeys(5000, 8);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
}

TEST_CASE("key sets hold the same bytes as generated keys") {
  const sb::KeySet set(1000, 32);
  const auto keys = sb::GenerateKeys(1000, 32);
  REQUIRE(set.size() == 1000);
  for (std::size_t i = 0; i < keys.size(); ++i) REQUIRE(set[i] == keys[i]);
}

TEST_CASE("value generation is deterministic with byte j equal to (i*7 + j*13) mod 256") {
  REQUIRE(sb::GenerateValues(100, 128) == sb::GenerateValues(100, 128));
  const auto values = sb::GenerateValues(1001, 128);
  CHECK(values[0].substr(0, 4) == Bytes({0, 13, 26, 39}));
  CHECK(values[1].substr(0, 4) == Bytes({7, 20, 33, 46}));
  CHECK(static_cast<unsigned char>(values[40][0]) == 24);
  CHECK(static_cast<unsigned char>(values[40][20]) == 28);
  CHECK(static_cast<unsigned char>(values[1000][100]) == 108);
  for (const auto& v : values) REQUIRE(v.size() == 128);
}

TEST_CASE("value sets are exact up to their byte budget and then reuse a pool") {
  const sb::ValueSet exact(1000, 128);
  const auto values = sb::GenerateValues(1000, 128);
  CHECK(exact.pool_size() == 1000);
  for (std::size_t i = 0; i < values.size(); ++i) REQUIRE(exact[i] == values[i]);
  const sb::ValueSet pooled(1000, 128, 128 * 10);
  CHECK(pooled.pool_size() == 10);
  CHECK(pooled[13] == values[3]);
}

TEST_CASE("populate gives the expected count in the in-memory store") {
  statestore::InMemoryStateStore store;
  const sb::KeySet keys(1000, 8);
  REQUIRE(sb::PopulateStore(store, keys, 128).ok());
  CHECK(store.size() == 1000);
  const auto values = sb::GenerateValues(1000, 128);
  CHECK(store.get(keys[5]) == std::optional<std::string_view>(values[5]));
  CHECK(store.get(keys[999]) == std::optional<std::string_view>(values[999]));
}

TEST_CASE("populate gives the expected count in the mmap store") {
  ScratchDir dir;
  std::unique_ptr<statestore::MmapStateStore> store;
  REQUIRE(statestore::MmapStateStore::Open(dir.path + "/state.mmap", store).ok());
  const sb::KeySet keys(2000, 32);
  REQUIRE(sb::PopulateStore(*store, keys, 256).ok());
  CHECK(store->size() == 2000);
  const auto values = sb::GenerateValues(2000, 256);
  CHECK(store->get(keys[1234]) == std::optional<std::string_view>(values[1234]));
}

TEST_CASE("standard configs are valid and cover the spec's four labels") {
  const auto configs = sb::StandardConfigs();
  std::set<std::string> labels;
  for (const auto& c : configs) {
    INFO(c.label);
    CHECK(sb::ValidateConfig(c).empty());
    labels.insert(c.label);
  }
  CHECK(labels == std::set<std::string>{"8B-key/128B-val/1K", "8B-key/128B-val/100K", "32B-key/256B-val/100K",
                                        "8B-key/128B-val/10M"});
  for (const auto& c : configs) {
    if (c.label == "32B-key/256B-val/100K") {
      CHECK(c.key_size == 32);
      CHECK(c.value_size == 256);
      CHECK(c.key_count == 100'000);
    }
    if (c.label == "8B-key/128B-val/10M") CHECK(c.key_count == 10'000'000);
  }
}

TEST_CASE("an invalid config is reported with every problem") {
  const sb::BenchConfig bad{4, 0, 0, ""};
  CHECK(sb::ValidateConfig(bad) ==
        "key_size must be at least 8 bytes to hold a distinct index; value_size must be positive; "
        "key_count must be positive; label must not be empty");
}

TEST_CASE("the Zipfian generator is deterministic for a fixed seed") {
  sb::ZipfianGenerator a(100'000), b(100'000), c(100'000, sb::kZipfTheta, 42);
  bool differs = false;
  for (int i = 0; i < 10'000; ++i) {
    const auto x = a.NextRank();
    REQUIRE(x == b.NextRank());
    REQUIRE(x < 100'000);
    differs |= x != c.NextRank();
  }
  CHECK(differs);
  CHECK(sb::ZipfianOrder(1000, 5000) == sb::ZipfianOrder(1000, 5000));
}

TEST_CASE("Zipfian ranks are skewed roughly as 1/rank^theta with rank 0 the most frequent") {
  constexpr std::uint64_t kN = 1000;
  constexpr int kDraws = 400'000;
  sb::ZipfianGenerator gen(kN);
  std::vector<int> freq(kN);
  for (int i = 0; i < kDraws; ++i) ++freq[gen.NextRank()];
  CHECK(std::max_element(freq.begin(), freq.end()) == freq.begin());
  // Expected ratio freq(rank 0) / freq(rank 9) = 10^0.99 ~ 9.8.
  const double ratio = static_cast<double>(freq[0]) / freq[9];
  CHECK(ratio > 6.0);
  CHECK(ratio < 14.0);
  // Frequencies fall with rank: the top 10 ranks take far more than the bottom 500.
  long top = 0, bottom = 0;
  for (std::size_t r = 0; r < 10; ++r) top += freq[r];
  for (std::size_t r = 500; r < kN; ++r) bottom += freq[r];
  CHECK(top > 2 * bottom / 3);
  // Rank 0 gets about 1/zeta(1000, 0.99) ~ 13% of the draws.
  CHECK(freq[0] > kDraws / 12);
  CHECK(freq[0] < kDraws / 6);
}

TEST_CASE("scrambling ranks is a bijection onto the key indexes") {
  for (std::uint64_t n : {1ull, 2ull, 1000ull, 7300ull, 100'000ull}) {
    std::vector<bool> seen(n);
    for (std::uint64_t r = 0; r < n; ++r) {
      const auto k = sb::ScrambleRank(r, n);
      REQUIRE(k < n);
      REQUIRE(!seen[k]);
      seen[k] = true;
    }
  }
}

TEST_CASE("the put workload starts at key N, inserts the second half, then overwrites") {
  statestore::InMemoryStateStore store;
  const sb::KeySet keys(200, 8);
  const sb::ValueSet values(200, 128);
  REQUIRE(sb::PopulateStore(store, 0, 100, 8, 128).ok());
  sb::PutWorkload<statestore::InMemoryStateStore> put(store, keys, values);
  put.Op();
  CHECK(store.size() == 101);
  CHECK(store.contains(keys[100]));
  for (int i = 0; i < 99; ++i) put.Op();
  CHECK(store.size() == 200);
  for (int i = 0; i < 500; ++i) put.Op();
  CHECK(store.size() == 200);
  CHECK(put.status().ok());
}

TEST_CASE("the put workload on the mmap store stops growing the file once every key exists") {
  ScratchDir dir;
  const std::string path = dir.path + "/state.mmap";
  std::unique_ptr<statestore::MmapStateStore> store;
  REQUIRE(statestore::MmapStateStore::Open(path, store).ok());
  const sb::KeySet keys(2000, 8);
  const sb::ValueSet values(2000, 128);
  REQUIRE(sb::PopulateStore(*store, 0, 1000, 8, 128).ok());
  sb::PutWorkload<statestore::MmapStateStore> put(*store, keys, values);
  for (int i = 0; i < 2000; ++i) put.Op();  // N inserts, then N overwrites
  REQUIRE(store->size() == 2000);
  const auto file_bytes = std::filesystem::file_size(path);
  for (int i = 0; i < 20'000; ++i) put.Op();  // overwrites only, same-sized values
  CHECK(put.status().ok());
  CHECK(store->size() == 2000);
  CHECK(std::filesystem::file_size(path) == file_bytes);
  CHECK(store->fragmentation() == 0.0);
  CHECK(store->get(keys[1500]) == std::optional<std::string_view>(values[1500]));
}

TEST_CASE("the delete workload keeps the store between N minus one batch and N keys") {
  statestore::InMemoryStateStore store;
  const sb::KeySet keys(1000, 8);
  const sb::ValueSet values(1000, 128);
  REQUIRE(sb::PopulateStore(store, keys, 128).ok());
  sb::DeleteWorkload<statestore::InMemoryStateStore> del(store, keys, values, decltype(del)::DefaultBatch(1000));
  CHECK(del.batch() == 250);
  for (int i = 0; i < 3000; ++i) {
    del.Op();
    REQUIRE(store.size() >= 750);
    if (del.NeedsRefill()) {
      del.Refill();
      REQUIRE(store.size() == 1000);
    }
  }
  del.Refill();
  CHECK(store.size() == 1000);
  CHECK(store.get(keys[10]) == std::optional<std::string_view>(values[10]));
  CHECK(del.status().ok());
}

TEST_CASE("the range workload visits exactly the requested number of entries") {
  statestore::InMemoryStateStore store;
  const sb::KeySet keys(5000, 8);
  REQUIRE(sb::PopulateStore(store, keys, 128).ok());
  for (std::size_t results : {10, 100, 1000}) {
    sb::RangeWorkload<statestore::InMemoryStateStore> range(store, results, 8);
    range.Op();
    CHECK(range.last_count() == results);
  }
}

TEST_CASE("the get workload finds every key in sequential and Zipfian order") {
  statestore::InMemoryStateStore store;
  const sb::KeySet keys(1000, 8);
  REQUIRE(sb::PopulateStore(store, keys, 128).ok());
  const auto order = sb::ZipfianOrder(1000, 4096);
  sb::GetWorkload<statestore::InMemoryStateStore> seq(store, keys), zipf(store, keys, &order);
  for (int i = 0; i < 10'000; ++i) {
    seq.Op();
    zipf.Op();
  }
  CHECK(seq.misses() == 0);
  CHECK(zipf.misses() == 0);
}

TEST_CASE("the memory check names what is needed and what is available") {
  CHECK(sb::MemoryShortfall(3ull << 30, 1ull << 30) ==
        "skipped: needs about 3.0 GiB of memory, MemAvailable is 1.0 GiB");
  CHECK(sb::MemoryShortfall(1ull << 30, 3ull << 30).empty());
  CHECK(sb::MemAvailableBytes().has_value());
  CHECK(sb::EstimateStoreBytes(10'000'000, 8, 128) > (2ull << 30));
}
