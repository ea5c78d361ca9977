// The portable snapshot format (core/doc/snapshot_format.md): writer, reader,
// validation, and every error message ValidateSnapshot can produce.
#include "statestore/snapshot_format.h"

#include <catch2/catch.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "statestore/inmemory_state_store.h"
#include "statestore/state_store.h"

namespace statestore {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

void PutU32(std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& s, std::uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void SetU32(std::string& s, std::size_t at, std::uint32_t v) { std::memcpy(s.data() + at, &v, 4); }
void SetU64(std::string& s, std::size_t at, std::uint64_t v) { std::memcpy(s.data() + at, &v, 8); }

// Recomputes the trailing checksum after a test edited the blob, so that the
// check under test (not the checksum) is what rejects it.
void Reseal(std::string& blob) { SetU64(blob, blob.size() - 8, XXH3_64bits(blob.data(), blob.size() - 8)); }

// Builds a blob by hand, entries in the order given (sorted or not).
std::string HandBuilt(const Pairs& entries) {
  std::string blob(kSnapshotMagic, sizeof kSnapshotMagic);
  PutU32(blob, kSnapshotVersion);
  PutU32(blob, 0);
  std::uint64_t payload = 0;
  for (const auto& [k, v] : entries) payload += 8 + k.size() + v.size();
  PutU64(blob, entries.size());
  PutU64(blob, payload);
  for (const auto& [k, v] : entries) {
    PutU32(blob, static_cast<std::uint32_t>(k.size()));
    PutU32(blob, static_cast<std::uint32_t>(v.size()));
    blob += k;
    blob += v;
  }
  PutU64(blob, 0);
  Reseal(blob);
  return blob;
}

Pairs Entries(std::string_view blob) {
  Pairs out;
  ForEachSnapshotEntry(blob, [&](std::string_view k, std::string_view v) { out.emplace_back(k, v); });
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

Status Validate(std::string_view blob) {
  SnapshotInfo info;
  return ValidateSnapshot(blob, info);
}

const Pairs kSmall = {{"", "empty key"}, {std::string("\0", 1), ""}, {"a", "1"}, {"b\xff", "two"}};

// The snapshot of a store holding kSmall, written by InMemoryStateStore.
std::string SmallSnapshot() {
  InMemoryStateStore store;
  for (const auto& [k, v] : kSmall) {
    if (!store.put(k, v).ok()) return {};
  }
  return store.snapshot();
}

TEST_CASE("the writer produces exactly the documented bytes", "[snapshot]") {
  const std::string written = SmallSnapshot();
  CHECK(written == HandBuilt(kSmall));
  CHECK(written.size() == SnapshotSize(kSmall.size(), 0 + 9 + 1 + 0 + 1 + 1 + 2 + 3));
}

TEST_CASE("an empty store's snapshot is a header and a trailer", "[snapshot]") {
  InMemoryStateStore empty;
  const std::string blob = empty.snapshot();
  CHECK(blob.size() == kSnapshotHeaderSize + kSnapshotTrailerSize);
  SnapshotInfo info;
  REQUIRE(ValidateSnapshot(blob, info).ok());
  CHECK(info.entry_count == 0);
  CHECK(info.kv_bytes == 0);
}

TEST_CASE("a snapshot round-trips through validation, iteration and restore", "[snapshot]") {
  const std::string blob = SmallSnapshot();
  SnapshotInfo info;
  REQUIRE(ValidateSnapshot(blob, info).ok());
  CHECK(info.entry_count == kSmall.size());
  CHECK(info.kv_bytes == 17);
  CHECK(Entries(blob) == kSmall);
  InMemoryStateStore restored;
  REQUIRE(restored.restore(blob).ok());
  CHECK(All(restored) == kSmall);
  CHECK(restored.snapshot() == blob);
}

TEST_CASE("a snapshot of large binary values round-trips", "[snapshot]") {
  InMemoryStateStore source;
  std::string big(300'000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
  REQUIRE(source.put(std::string(kMaxKeySize, '\xff'), big).ok());
  REQUIRE(source.put("small", "v").ok());
  InMemoryStateStore target;
  REQUIRE(target.restore(source.snapshot()).ok());
  CHECK(All(target) == All(source));
}

TEST_CASE("the checksum of a large snapshot is XXH3-64 of everything before the trailer", "[snapshot]") {
  // Large enough for XXH3's long-input path, which may run vectorised.
  InMemoryStateStore store;
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(store.put("key-" + std::to_string(i), std::string(static_cast<std::size_t>(i % 300), static_cast<char>(i)))
                .ok());
  }
  const std::string blob = store.snapshot();
  REQUIRE(blob.size() > 100'000);
  std::string resealed = blob;
  Reseal(resealed);
  CHECK(resealed == blob);
  CHECK(Validate(blob).ok());
  std::string damaged = blob;
  damaged[blob.size() / 2] ^= 0x10;
  CHECK(Validate(damaged).message() == "snapshot checksum mismatch: the blob was altered or torn");
}

TEST_CASE("flipping any single byte of a snapshot is rejected and restore leaves the store unchanged", "[snapshot]") {
  const std::string good = SmallSnapshot();
  InMemoryStateStore target;
  REQUIRE(target.put("existing", "state").ok());
  REQUIRE(target.put(std::string("\xff\x00", 2), "").ok());
  const Pairs before = All(target);
  for (std::size_t position = 0; position < good.size(); ++position) {
    for (int flip : {0x01, 0x80, 0xff}) {
      INFO("byte " << position << " xor " << flip);
      std::string bad = good;
      bad[position] = static_cast<char>(bad[position] ^ flip);
      const Status s = Validate(bad);
      REQUIRE_FALSE(s.ok());
      REQUIRE_FALSE(s.message().empty());
      REQUIRE_FALSE(target.restore(bad).ok());
      REQUIRE(All(target) == before);
      REQUIRE(target.size() == 2);
      REQUIRE(target.size_bytes() == 15);
    }
  }
}

TEST_CASE("a snapshot truncated at any length is rejected and restore leaves the store unchanged", "[snapshot]") {
  const std::string good = SmallSnapshot();
  InMemoryStateStore target;
  REQUIRE(target.put("existing", "state").ok());
  for (std::size_t length = 0; length < good.size(); ++length) {
    INFO("length " << length);
    const std::string_view truncated(good.data(), length);
    REQUIRE_FALSE(Validate(truncated).ok());
    REQUIRE_FALSE(target.restore(truncated).ok());
    REQUIRE(All(target) == Pairs{{"existing", "state"}});
  }
  // Extra bytes after the trailer are rejected as well.
  CHECK(Validate(good + "x").message() ==
        "snapshot size mismatch: header says 49 payload bytes, blob has 90 bytes in all (truncated?)");
}

TEST_CASE("a blob shorter than a header and trailer is reported as truncated", "[snapshot]") {
  const Status s = Validate(std::string(39, '\0'));
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot truncated: only 39 bytes, a header and trailer need 40");
}

TEST_CASE("a blob with the wrong magic is reported as not a snapshot", "[snapshot]") {
  std::string blob = SmallSnapshot();
  blob[0] = 'X';
  const Status s = Validate(blob);
  CHECK(s.IsCorruption());
  CHECK(s.message() == "not a snapshot: bad magic");
  CHECK(s.ToString() == "Corruption: not a snapshot: bad magic");
}

TEST_CASE("a snapshot of an unknown version is reported as unsupported", "[snapshot]") {
  std::string blob = SmallSnapshot();
  SetU32(blob, 8, 2);
  Reseal(blob);
  const Status s = Validate(blob);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "unsupported snapshot version: 2 (this build reads version 1)");
}

TEST_CASE("a snapshot with reserved flags set is rejected", "[snapshot]") {
  std::string blob = SmallSnapshot();
  SetU32(blob, 12, 1);
  Reseal(blob);
  const Status s = Validate(blob);
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot header has unknown flags set");
}

TEST_CASE("a snapshot whose payload size disagrees with its length is rejected", "[snapshot]") {
  std::string blob = SmallSnapshot();
  SetU64(blob, 24, 48);
  Reseal(blob);
  CHECK(Validate(blob).message() ==
        "snapshot size mismatch: header says 48 payload bytes, blob has 89 bytes in all (truncated?)");
  SetU64(blob, 24, ~std::uint64_t{0});
  Reseal(blob);
  CHECK(Validate(blob).message() ==
        "snapshot size mismatch: header says 18446744073709551615 payload bytes, blob has 89 bytes in all "
        "(truncated?)");
}

TEST_CASE("a snapshot whose bytes do not match its checksum is rejected", "[snapshot]") {
  std::string blob = SmallSnapshot();
  blob[blob.size() - 1] ^= 0x40;
  const Status s = Validate(blob);
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot checksum mismatch: the blob was altered or torn");
}

TEST_CASE("a snapshot whose entry count disagrees with its entries is rejected", "[snapshot]") {
  std::string blob = HandBuilt(kSmall);
  SetU64(blob, 16, 5);
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry count mismatch: header says 5, payload holds 4");
  SetU64(blob, 16, 3);
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry count mismatch: header says 3, payload holds 4");
}

TEST_CASE("a snapshot with keys out of order or duplicated is rejected", "[snapshot]") {
  const Status unordered = Validate(HandBuilt({{"b", "1"}, {"a", "2"}}));
  CHECK(unordered.IsCorruption());
  CHECK(unordered.message() == "snapshot keys are not in strictly ascending order: entry 1");
  CHECK(Validate(HandBuilt({{"a", "1"}, {"b", "2"}, {"b", "3"}})).message() ==
        "snapshot keys are not in strictly ascending order: entry 2");
  // 0xFF sorts after every other byte: unsigned comparison.
  CHECK(Validate(HandBuilt({{"\xff", "1"}, {"\x01", "2"}})).message() ==
        "snapshot keys are not in strictly ascending order: entry 1");
  CHECK(Validate(HandBuilt({{"\x01", "1"}, {"\xff", "2"}})).ok());
  // Long keys: order decided within the first eight bytes, and after them.
  CHECK(Validate(HandBuilt({{"\xff-long-key", "1"}, {"\x01-long-key", "2"}})).message() ==
        "snapshot keys are not in strictly ascending order: entry 1");
  CHECK(Validate(HandBuilt({{"12345678\xff", "1"}, {"12345678\x01", "2"}})).message() ==
        "snapshot keys are not in strictly ascending order: entry 1");
  CHECK(Validate(HandBuilt({{"12345678", "1"}, {std::string("12345678\0", 9), "2"}, {"12345679", "3"}})).ok());
  CHECK(Validate(HandBuilt({{"12345678", "1"}, {"12345678", "2"}})).message() ==
        "snapshot keys are not in strictly ascending order: entry 1");
}

TEST_CASE("a snapshot entry running past the payload is rejected", "[snapshot]") {
  std::string blob = HandBuilt({{"a", "1"}, {"b", "2"}});
  SetU32(blob, kSnapshotHeaderSize + 10 + 4, 3);  // second entry's value_len
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry runs past the payload: entry 1");
}

TEST_CASE("a snapshot entry header cut by the end of the payload is rejected", "[snapshot]") {
  std::string blob = HandBuilt({{"a", "1"}});
  // Grow the payload by four bytes that cannot hold an entry header.
  blob.insert(blob.size() - 8, 4, '\0');
  SetU64(blob, 24, 14);
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry header runs past the payload: entry 1");
}

TEST_CASE("a snapshot entry beyond the size limits is rejected", "[snapshot]") {
  std::string blob = HandBuilt({{"a", "1"}});
  SetU32(blob, kSnapshotHeaderSize, static_cast<std::uint32_t>(kMaxKeySize + 1));
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry exceeds the size limits: entry 0");
  blob = HandBuilt({{"a", "1"}});
  SetU32(blob, kSnapshotHeaderSize + 4, static_cast<std::uint32_t>(kMaxValueSize + 1));
  Reseal(blob);
  CHECK(Validate(blob).message() == "snapshot entry exceeds the size limits: entry 0");
}

TEST_CASE("restore reports the validation error and keeps the old state", "[snapshot]") {
  InMemoryStateStore target;
  REQUIRE(target.put("keep", "this").ok());
  const Status s = target.restore(HandBuilt({{"b", "1"}, {"a", "2"}}));
  CHECK(s.IsCorruption());
  CHECK(s.message() == "snapshot keys are not in strictly ascending order: entry 1");
  CHECK(All(target) == Pairs{{"keep", "this"}});
}

}  // namespace
}  // namespace statestore
