// Hash flooding: 100,000 keys (20,000 under ASan) crafted to collide must cost both backends
// about what 100,000 random keys cost (core/doc/key_hash.md).
//
// Crafted classes (each checked to be a real collision class of the function
// it targets, so the test cannot pass by accident of a weak crafting):
//  - against the pre-XXH3 mmap hash (format 1): keys whose 8-byte word that
//    met the seed was the multiplier constant, so the mix multiplied by zero
//    and every such key of a length hashed alike in every file, whatever the
//    seed (16- and 32-byte variants);
//  - against XXH3 itself, crafted with full knowledge of the function but
//    not of the store's secret: 32-byte keys whose two 16-byte blocks cancel
//    the default secret, so XXH3 with the default secret (or seed 0) maps
//    all of them to one value.
// The test asserts the index shape (total probe distance, a deterministic
// function of the hashes), never timing; it prints ns/op for put and get of
// each class beside random keys for the record (run it under the timing
// lock when quoting those figures).
#include <unistd.h>

#include <catch2/catch.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "statestore/inmemory_state_store.h"
#include "statestore/internal/key_hash.h"
#include "statestore/mmap_state_store.h"
#include "temp_dir.h"

namespace statestore {
namespace {

// 100,000 keys as the issue asks; 20,000 under ASan/UBSan, where the same
// suite took about 165 s instead of 9 (the probe-shape check holds at any size).
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kKeys = 20'000;
#else
constexpr std::size_t kKeys = 100'000;
#endif

void PutWord(std::string& key, std::size_t at, std::uint64_t word) { std::memcpy(key.data() + at, &word, 8); }
std::uint64_t Word(const unsigned char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// The old (format 1) mmap hash's first multiplier constant: a key word equal
// to it zeroed the 128-bit multiply it met.
constexpr std::uint64_t kOldMul1 = 0xe7037ed1a0b428dbULL;

std::vector<std::string> RandomKeys(std::size_t length) {
  std::mt19937_64 rng(20261201);
  std::vector<std::string> keys(kKeys, std::string(length, '\0'));
  for (std::string& key : keys) {
    for (std::size_t at = 0; at < length; at += 8) PutWord(key, at, rng());
  }
  return keys;
}

std::vector<std::string> OldHashZeroMultiply16() {
  std::vector<std::string> keys(kKeys, std::string(16, '\0'));
  for (std::size_t i = 0; i < kKeys; ++i) {
    PutWord(keys[i], 0, kOldMul1);
    PutWord(keys[i], 8, i * 0x9e3779b97f4a7c15ULL);
  }
  return keys;
}

std::vector<std::string> OldHashZeroMultiply32() {
  std::vector<std::string> keys(kKeys, std::string(32, '\0'));
  for (std::size_t i = 0; i < kKeys; ++i) {
    PutWord(keys[i], 0, i);
    PutWord(keys[i], 8, ~i);
    PutWord(keys[i], 16, kOldMul1);
    PutWord(keys[i], 24, i * 0x9e3779b97f4a7c15ULL);
  }
  return keys;
}

// XXH3 hashes 17..32-byte inputs as len*P1 + mix(block0, secret[0..16]) +
// mix(block1, secret[16..32]) (then an avalanche), where mix multiplies
// (lo ^ secret_lo) by (hi ^ secret_hi). A block whose low word equals its
// secret word contributes 0 whatever its high word: with the default secret
// known, every such key collides.
std::vector<std::string> Xxh3DefaultSecretCancelling32() {
  std::vector<std::string> keys(kKeys, std::string(32, '\0'));
  for (std::size_t i = 0; i < kKeys; ++i) {
    PutWord(keys[i], 0, Word(XXH3_kSecret + 0));
    PutWord(keys[i], 8, i * 0x9e3779b97f4a7c15ULL);
    PutWord(keys[i], 16, Word(XXH3_kSecret + 16));
    PutWord(keys[i], 24, ~i);
  }
  return keys;
}

struct Shape {
  std::size_t total_probe_distance;
  std::size_t longest_probe_distance;
  double put_ns;
  double get_ns;
};

template <typename Store>
Shape Measure(Store& store, const std::vector<std::string>& keys) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  for (const std::string& key : keys) REQUIRE(store.put(key, "value-08").ok());
  const auto t1 = Clock::now();
  constexpr int kGetPasses = 3;
  std::size_t found = 0;
  for (int pass = 0; pass < kGetPasses; ++pass) {
    for (const std::string& key : keys) found += store.get(key).has_value();
  }
  const auto t2 = Clock::now();
  REQUIRE(found == keys.size() * kGetPasses);
  REQUIRE(store.size() == keys.size());
  const auto ns = [](auto d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  const internal::ProbeDistances distances = store.TEST_probe_distances();
  return Shape{distances.total, distances.longest, ns(t1 - t0) / static_cast<double>(keys.size()),
               ns(t2 - t1) / static_cast<double>(keys.size() * kGetPasses)};
}

Shape MeasureInMemory(const std::vector<std::string>& keys) {
  InMemoryStateStore store;
  return Measure(store, keys);
}

Shape MeasureMmap(const std::vector<std::string>& keys) {
  TempDir dir("hash_flood_test");
  std::unique_ptr<MmapStateStore> store;
  REQUIRE(MmapStateStore::Open(dir.file("flood.mmap"), store).ok());
  return Measure(*store, keys);
}

void CheckResists(const char* backend, const char* name, const std::vector<std::string>& crafted,
                  const std::function<Shape(const std::vector<std::string>&)>& measure) {
  const Shape random = measure(RandomKeys(crafted.front().size()));
  const Shape attacked = measure(crafted);
  std::printf(
      "flood %-8s %-34s put %7.1f ns/op (random %6.1f, x%.2f)  get %7.1f ns/op (random %6.1f, x%.2f)  "
      "probe total %zu (random %zu) longest %zu (random %zu)\n",
      backend, name, attacked.put_ns, random.put_ns, attacked.put_ns / random.put_ns, attacked.get_ns, random.get_ns,
      attacked.get_ns / random.get_ns, attacked.total_probe_distance, random.total_probe_distance,
      attacked.longest_probe_distance, random.longest_probe_distance);
  INFO(backend << " " << name << ": total probe distance " << attacked.total_probe_distance << " vs "
               << random.total_probe_distance << " for random keys");
  // A flooded table's total probe distance grows as n^2/2 (5e9 here); a
  // random one's as a small multiple of n. 1.5x plus slack covers the
  // spread between two random key sets.
  CHECK(attacked.total_probe_distance <= random.total_probe_distance * 3 / 2 + kKeys / 10);
}

TEST_CASE("keys crafted against the old mmap hash cost what random keys cost", "[flood]") {
  const std::vector<std::string> crafted16 = OldHashZeroMultiply16();
  const std::vector<std::string> crafted32 = OldHashZeroMultiply32();
  CheckResists("inmemory", "old-hash zero multiply, 16 B", crafted16, MeasureInMemory);
  CheckResists("mmap", "old-hash zero multiply, 16 B", crafted16, MeasureMmap);
  CheckResists("inmemory", "old-hash zero multiply, 32 B", crafted32, MeasureInMemory);
  CheckResists("mmap", "old-hash zero multiply, 32 B", crafted32, MeasureMmap);
}

TEST_CASE("keys that all collide under XXH3's default secret spread under a store's own secret", "[flood]") {
  const std::vector<std::string> crafted = Xxh3DefaultSecretCancelling32();
  // The class is real: unkeyed XXH3 gives every crafted key one hash.
  const XXH64_hash_t first = XXH3_64bits(crafted.front().data(), crafted.front().size());
  std::size_t same = 0;
  for (const std::string& key : crafted) same += XXH3_64bits(key.data(), key.size()) == first;
  REQUIRE(same == crafted.size());
  CheckResists("inmemory", "XXH3 default-secret cancelling, 32 B", crafted, MeasureInMemory);
  CheckResists("mmap", "XXH3 default-secret cancelling, 32 B", crafted, MeasureMmap);
}

TEST_CASE("the key hash is XXH3-64 with the store's secret at every key length", "[flood]") {
  const internal::HashSecret secret = internal::HashSecretFromSeed(0x5EED);
  const internal::HashSecret other = internal::HashSecretFromSeed(0x5EEE);
  std::string key;
  for (std::size_t length = 0; length <= 300; ++length) {
    INFO("key length " << length);
    CHECK(internal::HashKey(key, secret) ==
          XXH3_64bits_withSecret(key.data(), key.size(), secret.bytes, internal::kHashSecretSize));
    CHECK(internal::HashKey(key, secret) != internal::HashKey(key, other));
    key.push_back(static_cast<char>(length * 37 + 11));
  }
  // The secret is a deterministic function of the seed (the mmap format relies on it).
  CHECK(std::memcmp(internal::HashSecretFromSeed(0x5EED).bytes, secret.bytes, internal::kHashSecretSize) == 0);
}

}  // namespace
}  // namespace statestore
