// Behaviour of MmapStateStore: persistence across clean closes, growth,
// compaction, edge cases, every user-visible error, and a differential test
// against a std::map model. Crash behaviour lives in mmap_crash_test.cc.
#include "statestore/mmap_state_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "statestore/file_system.h"
#include "statestore/internal/mmap_format.h"
#include "statestore/snapshot_format.h"
#include "temp_dir.h"

namespace statestore {
namespace {

using Catch::Matchers::Contains;
using Model = std::map<std::string, std::string>;

MmapOptions Tiny() {
  MmapOptions options;
  options.initial_index_slots = 8;
  options.initial_data_bytes = 64;
  return options;
}

std::unique_ptr<MmapStateStore> OpenOrFail(const std::string& path, const MmapOptions& options = {}) {
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, options);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(store != nullptr);
  return store;
}

Model Contents(const StateStore& store) {
  Model out;
  store.prefix_scan("", [&](std::string_view k, std::string_view v) {
    out.emplace(std::string(k), std::string(v));
    return true;
  });
  return out;
}

// Everything observable about the store agrees with `model`.
void CheckMatches(const StateStore& store, const Model& model) {
  REQUIRE(store.size() == model.size());
  std::size_t bytes = 0;
  for (const auto& [k, v] : model) {
    bytes += k.size() + v.size();
    const auto got = store.get(k);
    REQUIRE(got.has_value());
    REQUIRE(*got == v);
  }
  REQUIRE(store.size_bytes() == bytes);
  REQUIRE(Contents(store) == model);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

Status OpenStatus(const std::string& path, const MmapOptions& options = {}) {
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, options);
  if (!s.ok()) REQUIRE(store == nullptr);
  return s;
}

// "prefix" + n, spelled so GCC 12's -Wrestrict false positive stays quiet.
std::string Numbered(std::string_view prefix, long long n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

const MmapOptions kSmallFixed = [] {
  MmapOptions options;
  options.initial_index_slots = 64;
  options.initial_data_bytes = 4096;
  return options;
}();

// A cleanly closed file holding a few entries, no growth: the data region is
// 4096 bytes at file offset 4096 and the index (64 slots) follows it.
std::string MakeSmallFile(const TempDir& dir) {
  const std::string path = dir.file("small.mmap");
  auto store = OpenOrFail(path, kSmallFixed);
  REQUIRE(store->put("alpha", "first value").ok());
  REQUIRE(store->put("beta", "second value").ok());
  REQUIRE(store->put("gamma", "third value").ok());
  return path;
}

// ------------------------------------------------------------------ persistence

TEST_CASE("a new store is empty and reopens empty", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path);
    CHECK(store->size() == 0);
    CHECK(store->size_bytes() == 0);
    CHECK_FALSE(store->get("x").has_value());
    CHECK(store->fragmentation() == 0.0);
    CHECK(store->path() == path);
  }
  auto store = OpenOrFail(path);
  CHECK(store->size() == 0);
  CHECK(Contents(*store).empty());
}

TEST_CASE("reopening after a clean close returns exactly the same contents", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  Model model;
  {
    auto store = OpenOrFail(path);
    for (int i = 0; i < 500; ++i) {
      const std::string key = Numbered("key", i);
      const std::string value(static_cast<std::size_t>(i % 37), static_cast<char>('a' + i % 26));
      REQUIRE(store->put(key, value).ok());
      model[key] = value;
    }
    for (int i = 0; i < 500; i += 3) {
      REQUIRE(store->del(Numbered("key", i)).ok());
      model.erase(Numbered("key", i));
    }
    for (int i = 1; i < 500; i += 5) {
      const std::string value = "overwritten " + std::to_string(i * 7);
      REQUIRE(store->put(Numbered("key", i), value).ok());
      model[Numbered("key", i)] = value;
    }
    CheckMatches(*store, model);
  }
  auto store = OpenOrFail(path);
  CheckMatches(*store, model);
  // And again, after more changes in the reopened store.
  REQUIRE(store->put("late", "entry").ok());
  model["late"] = "entry";
  store.reset();
  store = OpenOrFail(path);
  CheckMatches(*store, model);
}

TEST_CASE("the store grows across several remaps and keeps its contents after reopen", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  Model model;
  const auto initial_size = [&] {
    auto store = OpenOrFail(path, Tiny());
    return std::filesystem::file_size(path);
  }();
  {
    auto store = OpenOrFail(path, Tiny());
    for (int i = 0; i < 3000; ++i) {
      const std::string key = Numbered("k", i * 7919 % 3001);
      const std::string value(static_cast<std::size_t>(i % 300), static_cast<char>(i));
      REQUIRE(store->put(key, value).ok());
      model[key] = value;
      if (i % 250 == 0) CheckMatches(*store, model);
    }
    CheckMatches(*store, model);
  }
  CHECK(std::filesystem::file_size(path) > 100 * initial_size);
  auto store = OpenOrFail(path, Tiny());
  CheckMatches(*store, model);
}

TEST_CASE("compaction preserves contents, drops fragmentation to zero and survives reopen", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  Model model;
  {
    auto store = OpenOrFail(path, Tiny());
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 200; ++i) {
        const std::string key = Numbered("key", i);
        const std::string value = std::string(static_cast<std::size_t>(10 + round), 'v') + std::to_string(i);
        REQUIRE(store->put(key, value).ok());
        model[key] = value;
      }
    }
    for (int i = 0; i < 200; i += 2) {
      REQUIRE(store->del(Numbered("key", i)).ok());
      model.erase(Numbered("key", i));
    }
    const double before = store->fragmentation();
    CHECK(before > 0.5);
    CHECK(before < 1.0);
    const auto size_before = std::filesystem::file_size(path);
    REQUIRE(store->compact().ok());
    CHECK(store->fragmentation() == 0.0);
    CHECK(std::filesystem::file_size(path) < size_before);
    CheckMatches(*store, model);
    // The compacted store keeps working.
    REQUIRE(store->put("after", "compaction").ok());
    model["after"] = "compaction";
    REQUIRE(store->del("key1").ok());
    model.erase("key1");
    CheckMatches(*store, model);
    CHECK_FALSE(std::filesystem::exists(path + ".rewrite"));
  }
  auto store = OpenOrFail(path);
  CheckMatches(*store, model);
}

TEST_CASE("restore and compact keep the replaced file as the spare that the next one rewrites in place", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  const std::string spare = path + ".spare";
  // Three snapshots of different sizes, so the spare is grown and shrunk.
  std::vector<std::string> blobs;
  std::vector<Model> models;
  for (int n : {300, 3000, 30}) {
    auto source = OpenOrFail(dir.file("source" + std::to_string(n) + ".mmap"));
    Model model;
    for (int i = 0; i < n; ++i) {
      const std::string key = Numbered("k", i * 7 % n);
      const std::string value(static_cast<std::size_t>(i % 50), static_cast<char>('a' + n % 26));
      REQUIRE(source->put(key, value).ok());
      model[key] = value;
    }
    blobs.push_back(source->snapshot());
    models.push_back(model);
  }
  {
    auto store = OpenOrFail(path, Tiny());
    REQUIRE(store->put("before", "restore").ok());
    CHECK_FALSE(std::filesystem::exists(spare));
    for (int round = 0; round < 2; ++round) {
      for (std::size_t b = 0; b < blobs.size(); ++b) {
        REQUIRE(store->restore(blobs[b]).ok());
        CHECK(std::filesystem::exists(spare));
        CheckMatches(*store, models[b]);
      }
    }
    // A store rebuilt in a spare keeps working, compacts, and reopens cleanly.
    Model expected = models.back();
    const std::string deleted = expected.begin()->first;
    REQUIRE(store->put("after", "restores").ok());
    REQUIRE(store->del(deleted).ok());
    expected["after"] = "restores";
    expected.erase(deleted);
    CheckMatches(*store, expected);
    REQUIRE(store->compact().ok());
    CheckMatches(*store, expected);
    store->release_spare();
    CHECK_FALSE(std::filesystem::exists(spare));
    REQUIRE(store->restore(blobs[1]).ok());  // without a spare: a new file, and a spare again
    CHECK(std::filesystem::exists(spare));
    CheckMatches(*store, models[1]);
    CHECK_FALSE(std::filesystem::exists(path + ".rewrite"));
  }
  // Closing the store removes its spare; what the path holds opens cleanly.
  CHECK_FALSE(std::filesystem::exists(spare));
  auto store = OpenOrFail(path);
  CheckMatches(*store, models[1]);
}

TEST_CASE("a spare file left behind by a crash is deleted by the next open", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path);
    REQUIRE(store->put("k", "v").ok());
  }
  for (const char* leftover : {".spare", ".spare.next"}) {
    std::ofstream(path + leftover) << "left by a crash";
  }
  auto store = OpenOrFail(path);
  CHECK_FALSE(std::filesystem::exists(path + ".spare"));
  CHECK_FALSE(std::filesystem::exists(path + ".spare.next"));
  CHECK(store->get("k") == std::optional<std::string_view>("v"));
}

TEST_CASE("a fixed hash seed is written to the header and kept by compact and restore", "[mmap]") {
  TempDir dir("mmap_store_test");
  const auto seed_in_file = [](const std::string& path) {
    const std::string bytes = ReadFile(path);
    REQUIRE(bytes.size() >= 24);
    std::uint64_t seed;
    std::memcpy(&seed, bytes.data() + 16, sizeof seed);  // header offset 16 (mmap_format.md)
    return seed;
  };
  MmapOptions fixed = Tiny();
  fixed.hash_seed = 0x5EED;
  const std::string path = dir.file("fixed.mmap");
  {
    auto store = OpenOrFail(path, fixed);
    for (int i = 0; i < 300; ++i) REQUIRE(store->put(Numbered("k", i), "value").ok());
  }
  CHECK(seed_in_file(path) == 0x5EED);
  {
    auto store = OpenOrFail(path, fixed);
    REQUIRE(store->compact().ok());
    REQUIRE(store->restore(store->snapshot()).ok());
    CHECK(store->size() == 300);
  }
  CHECK(seed_in_file(path) == 0x5EED);

  // The default draws a random seed per file.
  const std::string a = dir.file("a.mmap"), b = dir.file("b.mmap");
  { auto store = OpenOrFail(a, Tiny()); }
  { auto store = OpenOrFail(b, Tiny()); }
  CHECK(seed_in_file(a) != 0);
  CHECK(seed_in_file(a) != seed_in_file(b));
}

TEST_CASE("compacting an empty store leaves it empty", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->compact().ok());
  CHECK(store->size() == 0);
  REQUIRE(store->put("a", "b").ok());
  CHECK(store->get("a") == std::optional<std::string_view>("b"));
}

TEST_CASE("a file copied while the store is open (not closed cleanly) opens with every completed put", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  const std::string copy = dir.file("copy.mmap");
  Model model;
  auto store = OpenOrFail(path, Tiny());
  for (int i = 0; i < 400; ++i) {
    const std::string key = Numbered("k", i % 150);
    if (i % 7 == 3) {
      REQUIRE(store->del(key).ok());
      model.erase(key);
    } else {
      const std::string value(static_cast<std::size_t>(i % 50), 'x');
      REQUIRE(store->put(key, value).ok());
      model[key] = value;
    }
  }
  // The copy has no clean-close record, so Open rebuilds its index from the
  // log; scribbling over the copy's index must not matter.
  std::string bytes = ReadFile(path);
  for (std::size_t i = bytes.size() - 64; i < bytes.size(); ++i) bytes[i] = '\x5a';
  // A torn put: a half-written record just past the committed end (the
  // committed-end word at header offset 128 holds end / 8 in its low 48 bits).
  std::uint64_t committed_word;
  std::memcpy(&committed_word, bytes.data() + 128, 8);
  const std::size_t tail = 4096 + (committed_word & ((std::uint64_t{1} << 48) - 1)) * 8;
  REQUIRE(tail + 40 < bytes.size() - 64);
  const char torn[] = "\x12\x34\x56\x78\x01\x00\x00\x00\x05\x00\x00\x00\x07\x00\x00\x00torn!";
  std::memcpy(bytes.data() + tail, torn, sizeof torn);
  WriteFile(copy, bytes);
  auto recovered = OpenOrFail(copy);
  CheckMatches(*recovered, model);
  CheckMatches(*store, model);
}

// ------------------------------------------------------------------ overwrite in place

TEST_CASE("an overwrite that keeps the record size is done in place: the file does not grow, nothing turns dead",
          "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  Model model;
  std::uintmax_t size_after_inserts = 0;
  {
    auto store = OpenOrFail(path, kSmallFixed);
    for (int i = 0; i < 20; ++i) {
      REQUIRE(store->put(Numbered("k", i), std::string(96, 'a')).ok());
      model[Numbered("k", i)] = std::string(96, 'a');
    }
    size_after_inserts = std::filesystem::file_size(path);
    // 20 x 10,000 overwrites: appended, they would need about 25 MB.
    for (int round = 0; round < 10'000; ++round) {
      for (int i = 0; i < 20; ++i) {
        // 96 to 98 bytes: with keys of 2 or 3 bytes, the same 8-byte-rounded record size.
        std::string value(96 + static_cast<std::size_t>(round % 3), static_cast<char>('a' + round % 26));
        REQUIRE(store->put(Numbered("k", i), value).ok());
        model[Numbered("k", i)] = std::move(value);
      }
    }
    CHECK(std::filesystem::file_size(path) == size_after_inserts);
    CHECK(store->fragmentation() == 0.0);
    CheckMatches(*store, model);
    // A value of another record size is appended as before.
    REQUIRE(store->put("k0", std::string(200, 'z')).ok());
    model["k0"] = std::string(200, 'z');
    CHECK(store->fragmentation() > 0.0);
  }
  CheckMatches(*OpenOrFail(path), model);
}

TEST_CASE("an overwrite in place given a view of the value it replaces stores the right bytes", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->put("key", "0123456789abcdef").ok());
  const std::uint64_t size_before = std::filesystem::file_size(dir.file("state.mmap"));
  // 15 bytes instead of 16: the same 8-byte-rounded record, so rewritten in
  // place while `own` points into that very record.
  const std::string_view own = *store->get("key");
  REQUIRE(store->put("key", own.substr(1)).ok());
  CHECK(store->get("key") == std::optional<std::string_view>("123456789abcdef"));
  CHECK(store->size_bytes() == 3 + 15);
  CHECK(store->fragmentation() == 0.0);
  CHECK(std::filesystem::file_size(dir.file("state.mmap")) == size_before);
}

// Header offsets of the overwrite journal (core/doc/mmap_format.md).
constexpr std::size_t kJournalWord = 256;
constexpr std::size_t kJournalImage = 1024;
constexpr std::size_t kCleanCheck = 224;

// MakeSmallFile's store after `alpha` was overwritten in place with "FIRST VALUE"
// (same length), as a file killed in the middle of that overwrite would leave it:
// the journal image written and named by the journal word, the first `copied`
// bytes of alpha's record (data offset 0, 32 bytes) already rewritten, the file
// dirty. Returns the file's bytes.
std::string InterruptedOverwrite(const TempDir& dir, std::size_t copied) {
  const std::string path = MakeSmallFile(dir);
  const std::string before = ReadFile(path);
  REQUIRE(OpenOrFail(path)->put("alpha", "FIRST VALUE").ok());
  std::string bytes = ReadFile(path);
  REQUIRE(bytes.compare(kJournalImage + 16, 16, "alphaFIRST VALUE") == 0);  // the image stays after the put
  REQUIRE(bytes.compare(4096, 32, bytes, kJournalImage, 32) == 0);          // and equals the record
  bytes.replace(4096 + copied, 32 - copied, before, 4096 + copied, 32 - copied);
  const std::uint64_t word = mmap_internal::EncodeCheckedWord(0 / 8 + 1);
  std::memcpy(bytes.data() + kJournalWord, &word, 8);
  std::memset(bytes.data() + kCleanCheck, 0, 8);
  return bytes;
}

TEST_CASE("an overwrite interrupted after its journal was published is completed at the next open", "[mmap]") {
  for (std::size_t copied : {0, 7, 16, 21, 27, 32}) {
    INFO("bytes of the record rewritten before the crash: " << copied);
    TempDir dir("mmap_store_test");
    const std::string path = dir.file("small.mmap");
    WriteFile(path, InterruptedOverwrite(dir, copied));
    {
      auto store = OpenOrFail(path);
      CheckMatches(*store, {{"alpha", "FIRST VALUE"}, {"beta", "second value"}, {"gamma", "third value"}});
    }
    const std::string after = ReadFile(path);
    CHECK(after.compare(kJournalWord, 8, std::string(8, '\0')) == 0);  // the journal is cleared
    CheckMatches(*OpenOrFail(path), {{"alpha", "FIRST VALUE"}, {"beta", "second value"}, {"gamma", "third value"}});
  }
}

TEST_CASE("a pending overwrite whose journal does not check out gives Corruption naming the problem",
          "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("small.mmap");
  const std::string interrupted = InterruptedOverwrite(dir, 10);
  const auto with_word = [&](std::uint64_t word) {
    std::string bytes = interrupted;
    std::memcpy(bytes.data() + kJournalWord, &word, 8);
    return bytes;
  };
  std::string flipped_image = interrupted;
  flipped_image[kJournalImage + 20] ^= 0x01;
  std::string bad_type = interrupted;
  bad_type[kJournalImage + 4] = 2;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with_word(mmap_internal::EncodeCheckedWord(1) ^ (std::uint64_t{1} << 60)),
       "header overwrite-journal word is corrupted"},
      {with_word(mmap_internal::EncodeCheckedWord(0)), "header overwrite-journal word is corrupted"},
      {flipped_image, "overwrite journal checksum mismatch"},
      {bad_type, "the overwrite journal holds no valid record"},
      {with_word(mmap_internal::EncodeCheckedWord(32 / 8 + 1)),
       "the overwrite journal names data offset 32, which does not hold the journal's key"},
      {with_word(mmap_internal::EncodeCheckedWord(96 / 8 + 1)),
       "the overwrite journal names data offset 96, past the committed end"},
  };
  for (const auto& [bytes, problem] : cases) {
    WriteFile(path, bytes);
    const Status s = OpenStatus(path);
    INFO(problem);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": " + problem);
    CHECK(ReadFile(path) == bytes);  // a refused file is left as it was
  }
}

// ------------------------------------------------------------------ edge cases

TEST_CASE("binary keys with 0x00 and 0xFF bytes are stored and ordered as unsigned bytes", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  const std::vector<std::string> keys = {Bytes({}),
                                         Bytes({0x00}),
                                         Bytes({0x00, 0x00}),
                                         Bytes({0x00, 0xFF}),
                                         Bytes({0x01}),
                                         Bytes({0x7F}),
                                         Bytes({0x80}),
                                         Bytes({0xFF}),
                                         Bytes({0xFF, 0x00}),
                                         Bytes({0xFF, 0xFF}),
                                         Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})};
  for (std::size_t i = 0; i < keys.size(); ++i) REQUIRE(store->put(keys[i], Numbered("v", i)).ok());
  std::vector<std::string> seen;
  store->range(Bytes({}), Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}),
               [&](std::string_view k, std::string_view) {
                 seen.emplace_back(k);
                 return true;
               });
  CHECK(seen == keys);
  for (std::size_t i = 0; i < keys.size(); ++i) CHECK(store->get(keys[i]) == Numbered("v", i));
}

TEST_CASE("keys sharing their first 8 bytes are ordered by the remaining bytes", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  const std::vector<std::string> keys = {
      "abcdefgh", std::string("abcdefgh\0", 9), "abcdefgh0", "abcdefghz", "abcdefghzz", "abcdefgi"};
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) REQUIRE(store->put(*it, *it).ok());
  std::vector<std::string> seen;
  store->prefix_scan("abcdefg", [&](std::string_view k, std::string_view v) {
    CHECK(k == v);
    seen.emplace_back(k);
    return true;
  });
  CHECK(seen == keys);
}

TEST_CASE("an empty range and a range with start after end visit nothing", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  for (const char* k : {"a", "b", "c", "d"}) REQUIRE(store->put(k, k).ok());
  int visits = 0;
  const auto count = [&](std::string_view, std::string_view) {
    ++visits;
    return true;
  };
  store->range("b", "b", count);
  store->range("d", "a", count);
  store->range("e", "z", count);
  CHECK(visits == 0);
  std::string seen;
  store->range("b", "d", [&](std::string_view k, std::string_view) {
    seen += k;
    return true;
  });
  CHECK(seen == "bc");
}

TEST_CASE("range and prefix_scan on an empty store visit nothing", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  int visits = 0;
  store->range("", "zzz", [&](std::string_view, std::string_view) { return ++visits, true; });
  store->prefix_scan("", [&](std::string_view, std::string_view) { return ++visits, true; });
  CHECK(visits == 0);
}

TEST_CASE("a visitor returning false stops the scan", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  for (const char* k : {"p1", "p2", "p3", "p4"}) REQUIRE(store->put(k, k).ok());
  std::string seen;
  store->prefix_scan("p", [&](std::string_view k, std::string_view) {
    seen += k;
    return seen.size() < 4;
  });
  CHECK(seen == "p1p2");
  seen.clear();
  store->for_each_in_range("p2", "p9", [&](std::string_view k, std::string_view) {
    seen += k;
    return false;
  });
  CHECK(seen == "p2");
}

TEST_CASE("prefix_scan with a prefix of 0xFF bytes finds exactly the keys that start with it", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  const std::string ff = Bytes({0xFF, 0xFF});
  REQUIRE(store->put(Bytes({0xFF}), "one").ok());
  REQUIRE(store->put(ff, "two").ok());
  REQUIRE(store->put(ff + Bytes({0x00}), "three").ok());
  REQUIRE(store->put(ff + Bytes({0xFF, 0xFF}), "four").ok());
  REQUIRE(store->put(Bytes({0xFE, 0xFF, 0xFF}), "other").ok());
  std::vector<std::string> values;
  store->prefix_scan(ff, [&](std::string_view, std::string_view v) {
    values.emplace_back(v);
    return true;
  });
  CHECK(values == std::vector<std::string>{"two", "three", "four"});
  values.clear();
  store->prefix_scan("", [&](std::string_view, std::string_view v) {
    values.emplace_back(v);
    return true;
  });
  CHECK(values.size() == 5);
}

TEST_CASE("an empty value is present and distinct from an absent key", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path);
    REQUIRE(store->put("empty", "").ok());
    REQUIRE(store->put("", "empty key").ok());
    CHECK(store->contains("empty"));
    CHECK(store->get("empty") == std::optional<std::string_view>(""));
    CHECK_FALSE(store->contains("absent"));
  }
  auto store = OpenOrFail(path);
  CHECK(store->get("empty") == std::optional<std::string_view>(""));
  CHECK(store->get("") == std::optional<std::string_view>("empty key"));
  CHECK(store->size() == 2);
  CHECK(store->size_bytes() == 5 + 9);
  // Null views (data() == nullptr) are empty strings too.
  CHECK(Contents(*store).size() == 2);  // builds the ordered index
  REQUIRE(store->put(std::string_view{}, std::string_view{}).ok());
  CHECK(store->get(std::string_view{}) == std::optional<std::string_view>(""));
  CHECK(store->get("") == std::optional<std::string_view>(""));
  REQUIRE(store->del(std::string_view{}).ok());
  CHECK_FALSE(store->contains(""));
  CHECK(Contents(*store) == Model{{"empty", ""}});
}

TEST_CASE("overwriting with a longer and then a shorter value keeps only the latest", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->put("k", "medium").ok());
  REQUIRE(store->put("k", std::string(5000, 'L')).ok());
  CHECK(store->get("k") == std::string(5000, 'L'));
  REQUIRE(store->put("k", "s").ok());
  CHECK(store->get("k") == std::optional<std::string_view>("s"));
  CHECK(store->size() == 1);
  CHECK(store->size_bytes() == 2);
  CHECK(store->fragmentation() > 0.9);
}

TEST_CASE("deleting a key and reinserting it makes it visible again, and deleting an absent key is fine", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path);
    REQUIRE(store->put("k", "v1").ok());
    REQUIRE(store->del("k").ok());
    CHECK_FALSE(store->get("k").has_value());
    CHECK(store->del("k").ok());
    CHECK(store->del("never").ok());
    CHECK(store->size() == 0);
    REQUIRE(store->put("k", "v2").ok());
    CHECK(store->get("k") == std::optional<std::string_view>("v2"));
  }
  auto store = OpenOrFail(path);
  CHECK(store->get("k") == std::optional<std::string_view>("v2"));
  CHECK(store->size() == 1);
}

TEST_CASE("an oversize key or value is rejected with a message and the store is unchanged", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->put("keep", "me").ok());
  const std::string big_key(kMaxKeySize + 1, 'k');
  Status s = store->put(big_key, "v");
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "key too long: 65537 bytes exceeds kMaxKeySize (65536 bytes)");
  CHECK(store->put(std::string(kMaxKeySize, 'k'), "max key is fine").ok());
  CHECK(store->del(big_key).ok());

  // A view longer than the limit; its bytes are never read.
  const std::string small = "x";
  const std::string_view huge_value(small.data(), kMaxValueSize + 1);
  s = store->put("k", huge_value);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "value too long: 268435457 bytes exceeds kMaxValueSize (268435456 bytes)");
  CHECK(store->size() == 2);
  CHECK_FALSE(store->contains("k"));
  CHECK(store->get("keep") == std::optional<std::string_view>("me"));
}

TEST_CASE("clear removes everything, also after reopen, and the store stays usable", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path, Tiny());
    for (int i = 0; i < 100; ++i) REQUIRE(store->put(Numbered("k", i), "v").ok());
    REQUIRE(store->clear().ok());
    CHECK(store->size() == 0);
    CHECK(store->size_bytes() == 0);
    CHECK_FALSE(store->contains("k1"));
    CHECK(Contents(*store).empty());
    CHECK(store->fragmentation() == 0.0);
    REQUIRE(store->put("fresh", "start").ok());
  }
  auto store = OpenOrFail(path);
  CHECK(Contents(*store) == Model{{"fresh", "start"}});
}

TEST_CASE("a view returned by get points into the mapping and stays valid until the next mutation", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->put("a", "apple").ok());
  REQUIRE(store->put("b", "banana").ok());
  const auto a = store->get("a");
  const auto b = store->get("b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(*a == "apple");
  CHECK(*b == "banana");
}

TEST_CASE("put and del accept views returned by get even when the file grows under them", "[mmap]") {
  TempDir dir("mmap_store_test");
  auto store = OpenOrFail(dir.file("state.mmap"), Tiny());
  Model model;
  REQUIRE(store->put("seed", std::string(100, 's')).ok());
  model["seed"] = std::string(100, 's');
  for (int i = 0; i < 200; ++i) {
    // Copy an existing key's value (a view into the mapping) to a new key.
    const std::string from = i == 0 ? "seed" : Numbered("copy", i - 1);
    const auto view = store->get(from);
    REQUIRE(view.has_value());
    const std::string expected(*view);
    REQUIRE(store->put(Numbered("copy", i), *view).ok());
    model[Numbered("copy", i)] = expected;
  }
  // Keys passed as views into the mapping as well.
  std::string key_in_file;
  store->prefix_scan("copy1", [&](std::string_view k, std::string_view) {
    key_in_file = k;
    return false;
  });
  std::optional<std::string_view> key_view;
  store->prefix_scan("copy1", [&](std::string_view k, std::string_view) {
    key_view = k;
    return false;
  });
  REQUIRE(store->put(*key_view, "overwritten through a view").ok());
  model[key_in_file] = "overwritten through a view";
  CheckMatches(*store, model);
}

TEST_CASE("flush and prefault succeed and change nothing", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  auto store = OpenOrFail(path);
  REQUIRE(store->put("a", "1").ok());
  CHECK(store->flush().ok());
  store->prefault();
  REQUIRE(store->compact().ok());
  CHECK(store->flush().ok());
  CHECK(Contents(*store) == Model{{"a", "1"}});
}

// ------------------------------------------------------------------ snapshots

TEST_CASE("a snapshot restores into another mmap store with identical contents", "[mmap][snapshot]") {
  TempDir dir("mmap_store_test");
  auto source = OpenOrFail(dir.file("source.mmap"));
  Model model;
  for (int i = 0; i < 300; ++i) {
    const std::string key = Bytes({i % 256, 0x00, 0xFF}) + std::to_string(i);
    const std::string value(static_cast<std::size_t>(i % 40), static_cast<char>(255 - i % 256));
    REQUIRE(source->put(key, value).ok());
    model[key] = value;
  }
  const std::string blob = source->snapshot();
  SnapshotInfo info;
  REQUIRE(ValidateSnapshot(blob, info).ok());
  CHECK(info.entry_count == model.size());

  const std::string target_path = dir.file("target.mmap");
  {
    auto target = OpenOrFail(target_path, Tiny());
    REQUIRE(target->put("old", "contents").ok());
    REQUIRE(target->restore(blob).ok());
    CheckMatches(*target, model);
    CHECK(target->snapshot() == blob);
    CHECK_FALSE(std::filesystem::exists(target_path + ".rewrite"));
  }
  auto reopened = OpenOrFail(target_path);
  CheckMatches(*reopened, model);
}

TEST_CASE("restoring an empty snapshot empties the store", "[mmap][snapshot]") {
  TempDir dir("mmap_store_test");
  auto empty = OpenOrFail(dir.file("empty.mmap"));
  auto store = OpenOrFail(dir.file("state.mmap"));
  REQUIRE(store->put("a", "b").ok());
  REQUIRE(store->restore(empty->snapshot()).ok());
  CHECK(store->size() == 0);
  CHECK(Contents(*store).empty());
}

TEST_CASE("restore rejects every single flipped byte and truncation and leaves the store unchanged",
          "[mmap][snapshot]") {
  TempDir dir("mmap_store_test");
  auto source = OpenOrFail(dir.file("source.mmap"));
  REQUIRE(source->put("k1", "v1").ok());
  REQUIRE(source->put(Bytes({0x00, 0xFF}), "binary").ok());
  const std::string blob = source->snapshot();

  const std::string path = dir.file("state.mmap");
  auto store = OpenOrFail(path);
  const Model model = {{"keep", "this"}, {"and", "that"}};
  for (const auto& [k, v] : model) REQUIRE(store->put(k, v).ok());
  const std::string file_before = ReadFile(path);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    const Status s = store->restore(bad);
    INFO("flipped byte " << i);
    REQUIRE_FALSE(s.ok());
    CHECK((s.IsCorruption() || s.IsInvalidArgument()));
  }
  for (std::size_t cut = 0; cut < blob.size(); ++cut) {
    const Status s = store->restore(std::string_view(blob).substr(0, cut));
    INFO("truncated to " << cut << " bytes");
    REQUIRE(s.IsCorruption());
  }
  const Status checksum = store->restore(blob.substr(0, blob.size() - 1) + static_cast<char>(blob.back() ^ 1));
  CHECK(checksum.message() == "snapshot checksum mismatch: the blob was altered or torn");
  CheckMatches(*store, model);
  CHECK(ReadFile(path) == file_before);
  CHECK_FALSE(std::filesystem::exists(path + ".rewrite"));
}

// ------------------------------------------------------------------ errors

TEST_CASE("opening an empty path gives IOError", "[mmap][errors]") {
  const Status s = OpenStatus("");
  CHECK(s.IsIOError());
  CHECK(s.message() == "cannot open an mmap store: the path is empty");
}

TEST_CASE("opening a directory gives IOError naming it with the errno text", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const Status s = OpenStatus(dir.path());
  CHECK(s.IsIOError());
  CHECK(s.message() == dir.path() + ": cannot open: Is a directory");
}

TEST_CASE("opening a path in a missing directory gives IOError naming the path", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("missing/state.mmap");
  const Status s = OpenStatus(path);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot create: No such file or directory");
}

TEST_CASE("opening a path below a regular file gives IOError with the errno text", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  WriteFile(dir.file("plain"), "text");
  const std::string path = dir.file("plain/state.mmap");
  const Status s = OpenStatus(path);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot open: Not a directory");
}

TEST_CASE("opening a dangling symbolic link gives IOError saying so", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("link.mmap");
  REQUIRE(::symlink(dir.file("nowhere/target").c_str(), path.c_str()) == 0);
  const Status s = OpenStatus(path);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot create: a dangling symbolic link is in the way");
}

TEST_CASE("opening a symbolic link to a store opens the store", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string link = dir.file("link.mmap");
  REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
  auto store = OpenOrFail(link);
  CHECK(store->get("alpha") == std::optional<std::string_view>("first value"));
  CHECK(OpenStatus(path).IsBusy());
  // Compaction replaces the target file and keeps the link a link.
  REQUIRE(store->put("delta", "fourth value").ok());
  REQUIRE(store->compact().ok());
  CHECK(std::filesystem::is_symlink(link));
  CHECK(OpenStatus(path).IsBusy());
  store.reset();
  auto direct = OpenOrFail(path);
  CHECK(direct->get("delta") == std::optional<std::string_view>("fourth value"));
  CHECK(direct->size() == 4);
}

TEST_CASE("opening an unreadable file gives IOError with the errno text", "[mmap][errors]") {
  if (::geteuid() == 0) {
    WARN("running as root: permission bits are not enforced, skipping");
    return;
  }
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  REQUIRE(::chmod(path.c_str(), 0) == 0);
  const Status s = OpenStatus(path);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot open: Permission denied");
}

TEST_CASE("invalid options are rejected with a message", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  MmapOptions options;
  options.initial_index_slots = 1000;
  const Status s = OpenStatus(dir.file("state.mmap"), options);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() ==
        dir.file("state.mmap") + ": initial_index_slots must be a power of two between 8 and 268435456, got 1000");
  options.initial_index_slots = 8;
  options.initial_data_bytes = std::size_t{1} << 62;
  const Status big = OpenStatus(dir.file("state.mmap"), options);
  CHECK(big.IsInvalidArgument());
  CHECK_THAT(big.message(), Contains("initial_data_bytes exceeds the limit of"));
  CHECK_FALSE(std::filesystem::exists(dir.file("state.mmap")));
}

TEST_CASE("a put that cannot grow the file returns IOError and leaves the store unchanged", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  auto store = OpenOrFail(path, Tiny());
  REQUIRE(store->put("small", "fits").ok());
  // Cap the file size this process may write (SIGXFSZ ignored, so the
  // system call fails with EFBIG instead of killing us), then restore it.
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto* previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = saved;
  capped.rlim_cur = static_cast<rlim_t>(std::filesystem::file_size(path) + 4096);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);
  const Status s = store->put("big", std::string(100000, 'x'));
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  ::signal(SIGXFSZ, previous_handler);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot grow the file: File too large");
  CheckMatches(*store, Model{{"small", "fits"}});
  // Once there is room again the same put succeeds.
  REQUIRE(store->put("big", std::string(100000, 'x')).ok());
  CHECK(store->get("big") == std::string(100000, 'x'));
  store.reset();
  CheckMatches(*OpenOrFail(path), Model{{"small", "fits"}, {"big", std::string(100000, 'x')}});
}

TEST_CASE("a second open of an open file gives Busy, in this process and in another", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  {
    auto store = OpenOrFail(path);
    REQUIRE(store->put("a", "b").ok());
    const Status s = OpenStatus(path);
    CHECK(s.IsBusy());
    CHECK(s.message() == path + ": already open (locked by another handle in this or another process)");

    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      std::unique_ptr<MmapStateStore> other;
      const Status busy = MmapStateStore::Open(path, other);
      ::_exit(busy.IsBusy() ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    // Still busy after a compaction replaced the file.
    REQUIRE(store->compact().ok());
    CHECK(OpenStatus(path).IsBusy());
  }
  auto store = OpenOrFail(path);
  CHECK(store->get("a") == std::optional<std::string_view>("b"));
}

TEST_CASE("a foreign file gives Corruption naming the file: bad magic", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("foreign.bin");
  std::mt19937_64 rng(7);
  std::string random_bytes(20000, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  WriteFile(path, random_bytes);
  Status s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": not a statestore mmap file (bad magic)");
  CHECK(ReadFile(path) == random_bytes);

  // Another format: a snapshot blob padded past the header size.
  auto store = OpenOrFail(dir.file("store.mmap"));
  REQUIRE(store->put("k", "v").ok());
  WriteFile(path, store->snapshot() + std::string(5000, '\0'));
  s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": not a statestore mmap file (bad magic)");
}

TEST_CASE("a truncated file gives Corruption naming the file and the sizes", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string full = ReadFile(path);
  REQUIRE(full.size() == 4096 + 4096 + 64 * 8);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{4095}}) {
    WriteFile(path, full.substr(0, cut));
    const Status s = OpenStatus(path);
    INFO("cut at " << cut);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": file too short for a header: " + std::to_string(cut) +
                             " bytes, need at least 4096 (truncated or not a store)");
  }
  for (std::size_t cut : {std::size_t{4096}, std::size_t{5000}, full.size() - 1}) {
    WriteFile(path, full.substr(0, cut));
    const Status s = OpenStatus(path);
    INFO("cut at " << cut);
    CHECK(s.IsCorruption());
    CHECK(s.message() ==
          path + ": file truncated: the header describes 8704 bytes but the file has " + std::to_string(cut));
  }
  WriteFile(path, full);
  auto store = OpenOrFail(path);
  CHECK(store->size() == 3);
}

TEST_CASE("a file of another boot shorter than its geometry is recovered within its own size", "[mmap][errors]") {
  // After a power cut a file may be shorter than the geometry its header
  // page kept (a growth whose new size was lost). Found by the structured
  // mutation suite (mmap_fuzz_test): a crash-left file of 8.5 KiB whose
  // geometry said 512 GiB and 2^22 index slots, with another boot's tag,
  // was extended to 512 GiB and had its 32 MiB index zeroed (written) by
  // Open. Now the file keeps the data region it holds and an index that fits.
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  std::string bytes;
  {
    auto store = OpenOrFail(path, kSmallFixed);
    REQUIRE(store->put("alpha", "first value").ok());
    REQUIRE(store->put("beta", "second value").ok());
    REQUIRE(store->put("gamma", "third value").ok());
    bytes = ReadFile(path);  // as a crash would leave it: dirty
  }
  const std::uint64_t geometry =
      mmap_internal::EncodeCheckedWord(((std::uint64_t{1} << 36) - 2) | (std::uint64_t{22} << 40));
  std::memcpy(bytes.data() + 64, &geometry, 8);
  bytes[448] = static_cast<char>(bytes[448] ^ 0x5A);  // the boot tag: another boot's
  WriteFile(path, bytes);
  {
    auto store = OpenOrFail(path);
    CheckMatches(*store, {{"alpha", "first value"}, {"beta", "second value"}, {"gamma", "third value"}});
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_size <= 64 * 1024);
    CHECK(st.st_blocks * 512 <= 64 * 1024);
    REQUIRE(store->put("delta", "fourth value").ok());
  }
  CheckMatches(
      *OpenOrFail(path),
      {{"alpha", "first value"}, {"beta", "second value"}, {"gamma", "third value"}, {"delta", "fourth value"}});
}

TEST_CASE("a corrupted header byte gives a clear error naming the file", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  const std::vector<std::pair<std::size_t, std::string>> cases = {
      {0, "not a statestore mmap file (bad magic)"},
      {7, "not a statestore mmap file (bad magic)"},
      {12, "header checksum mismatch"},
      {20, "header checksum mismatch"},
      {24, "header checksum mismatch"},
      {40, "header reserved byte 40 is not zero"},
      {64, "header geometry word is corrupted"},
      {70, "header geometry word is corrupted"},
      {128, "header committed-end word is corrupted"},
      {133, "header committed-end word is corrupted"},
      {192, "clean-close record checksum mismatch"},
      {216, "clean-close record checksum mismatch"},
      {226, "clean-close record checksum mismatch"},
      {255, "header reserved byte 255 is not zero"},
      {256, "header overwrite-journal word is corrupted"},
      {263, "header overwrite-journal word is corrupted"},
      {300, "header reserved byte 300 is not zero"},
      {320, "header durable-end word is corrupted"},
      {327, "header durable-end word is corrupted"},
      {384, "header log-epoch word is corrupted"},
      {391, "header log-epoch word is corrupted"},
      {456, "header reserved byte 456 is not zero"},
      {1023, "header reserved byte 1023 is not zero"},
  };
  for (const auto& [offset, problem] : cases) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x10);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    INFO("flipped header byte " << offset);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": " + problem);
  }
  // A version from the future is refused as such, not as corruption.
  std::string future = good;
  future[8] = 4;
  WriteFile(path, future);
  const Status s = OpenStatus(path);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == path + ": unsupported format version 4 (this build reads version 3)");
  std::string before_durability = good;
  before_durability[8] = 2;
  WriteFile(path, before_durability);
  CHECK(OpenStatus(path).message() == path + ": unsupported format version 2 (this build reads version 3)");
  // A version-1 file (the old key hash) is refused with what to do about it.
  std::string old_hash = good;
  old_hash[8] = 1;
  WriteFile(path, old_hash);
  const Status old_status = OpenStatus(path);
  CHECK(old_status.IsInvalidArgument());
  CHECK(old_status.message() ==
        path +
            ": unsupported format version 1 (written before the key hash became keyed XXH3; this build reads "
            "version 3: snapshot the store with the build that wrote it and restore the snapshot into a new file)");
  // The journal image area is read only while the journal word is set.
  for (std::size_t offset : {std::size_t{1024}, std::size_t{3000}, std::size_t{4095}}) {
    std::string scribbled = good;
    scribbled[offset] = static_cast<char>(scribbled[offset] ^ 0x10);
    WriteFile(path, scribbled);
    INFO("flipped journal image byte " << offset);
    CHECK(OpenOrFail(path)->get("alpha") == std::optional<std::string_view>("first value"));
  }
  WriteFile(path, good);
  CHECK(OpenOrFail(path)->size() == 3);
}

TEST_CASE("a corrupted record byte gives Corruption naming the file and the record", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  // Records: "alpha"/"first value" at data offset 0 (16 + 5 + 11 -> 32 bytes),
  // "beta"/"second value" at 32.
  const std::vector<std::pair<std::size_t, std::string>> cases = {
      {4096 + 0, "record at data offset 0: checksum mismatch"},
      {4096 + 17, "record at data offset 0: checksum mismatch"},
      {4096 + 31 - 1, "record at data offset 0: checksum mismatch"},
      {4096 + 32 + 4, "record at data offset 32: unknown record type 17"},
      {4096 + 32 + 11, "record at data offset 32: length fields out of range"},
      {4096 + 32 + 9, "record at data offset 32: runs past the committed end"},
      {4096 + 32 + 20, "record at data offset 32: checksum mismatch"},
  };
  for (const auto& [offset, problem] : cases) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x10);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    INFO("flipped data byte " << offset);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": " + problem);
  }
}

TEST_CASE("a corrupted index byte gives Corruption naming the file", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  const std::size_t index_start = 4096 + 4096;
  for (std::size_t offset : {index_start, index_start + 77, good.size() - 1}) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x04);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    INFO("flipped index byte " << offset);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": index checksum mismatch (the hash index is corrupted)");
  }
}

TEST_CASE("flipping any byte of a small store file never crashes and never yields wrong contents", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  const Model model = {{"alpha", "first value"}, {"beta", "second value"}, {"gamma", "third value"}};
  // Every byte of the header's used fields, the records and the index; the
  // file is restored before each flip.
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < 264; ++i) offsets.push_back(i);
  for (std::size_t i = 4096; i < 4096 + 112; ++i) offsets.push_back(i);
  for (std::size_t i = 8192; i < good.size(); i += 3) offsets.push_back(i);
  for (std::size_t offset : offsets) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x20);
    WriteFile(path, bad);
    std::unique_ptr<MmapStateStore> store;
    const Status s = MmapStateStore::Open(path, store);
    INFO("flipped byte " << offset << ": " << s.ToString());
    if (s.ok()) {
      CheckMatches(*store, model);  // only bytes nobody reads (padding) may pass
    } else {
      CHECK((s.IsCorruption() || s.IsInvalidArgument()));
      CHECK_THAT(s.message(), Contains(path));
    }
  }
}

// Header and clean-close offsets of MakeSmallFile's file (core/doc/mmap_format.md):
// data region of 4096 bytes at file offset 4096 holding alpha, beta and gamma
// (32 bytes each, committed end 96), 64 index slots at file offset 8192.
constexpr std::size_t kGeometryWord = 64;
constexpr std::size_t kCommittedWord = 128;
constexpr std::size_t kCleanLiveCount = 192;
constexpr std::size_t kCleanLiveBytes = 200;
constexpr std::size_t kCleanDeadBytes = 208;
constexpr std::size_t kCleanIndexChecksum = 216;
constexpr std::size_t kSmallIndexStart = 8192;

std::uint64_t GetU64(const std::string& bytes, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}
void SetU64(std::string& bytes, std::size_t at, std::uint64_t v) { std::memcpy(bytes.data() + at, &v, 8); }

// Recomputes the index checksum and the clean check of a cleanly closed
// file that a test edited, so that the check under test is what refuses it.
void ResealClean(std::string& bytes) {
  SetU64(bytes, kCleanIndexChecksum, XXH3_64bits(bytes.data() + kSmallIndexStart, 64 * 8));
  SetU64(bytes, kCleanCheck, mmap_internal::CleanCloseCheck(bytes.data()));
}

TEST_CASE("a geometry or committed end out of range gives Corruption naming the file", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  REQUIRE(mmap_internal::CleanCloseCheck(good.data()) == GetU64(good, kCleanCheck));  // the helper is the format's
  const auto refused = [&](std::size_t offset, std::uint64_t payload) {
    std::string bad = good;
    SetU64(bad, offset, mmap_internal::EncodeCheckedWord(payload));
    WriteFile(path, bad);
    return OpenStatus(path);
  };
  // Geometry payload: data_capacity / 8 in bits 0..35, log2(index_slots) in bits 40..44.
  Status s = refused(kGeometryWord, (4096 / 8) | (std::uint64_t{2} << 40));  // 4 index slots
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": header geometry is out of range");
  s = refused(kGeometryWord, 0 | (std::uint64_t{6} << 40));  // an empty data region
  CHECK(s.message() == path + ": header geometry is out of range");
  s = refused(kGeometryWord, (4096 / 8) | (std::uint64_t{29} << 40));  // 2^29 index slots
  CHECK(s.message() == path + ": header geometry is out of range");
  s = refused(kCommittedWord, 8192 / 8);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": committed end 8192 lies beyond the data region of 4096 bytes");
}

TEST_CASE("a committed end that cuts a record header gives Corruption naming the record", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  std::string bad = ReadFile(path);
  REQUIRE(GetU64(bad, kCommittedWord) == mmap_internal::EncodeCheckedWord(96 / 8));
  // Eight bytes more than the three records: too few for another record header.
  SetU64(bad, kCommittedWord, mmap_internal::EncodeCheckedWord(104 / 8));
  SetU64(bad, kCleanCheck, 0);  // dirty, as after a crash: the index is rebuilt from the records
  WriteFile(path, bad);
  const Status s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": record at data offset 96: header runs past the committed end");
}

TEST_CASE("a cleanly closed file whose index disagrees with its records gives Corruption naming the file",
          "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = MakeSmallFile(dir);
  const std::string good = ReadFile(path);
  std::size_t occupied_slot = 0;
  while (GetU64(good, kSmallIndexStart + 8 * occupied_slot) == 0) ++occupied_slot;
  REQUIRE(occupied_slot < 64);
  {
    // The resealed original opens: the checksums are recomputed correctly.
    std::string resealed = good;
    ResealClean(resealed);
    REQUIRE(resealed == good);
  }

  SECTION("a slot pointing into the middle of a record") {
    std::string bad = good;
    const std::size_t at = kSmallIndexStart + 8 * occupied_slot;
    // Keep the hash tag, point at data offset 8 (slot offset field = 8 / 8 + 1).
    SetU64(bad, at, (GetU64(bad, at) & ~mmap_internal::kOffsetMask) | 2);
    ResealClean(bad);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": index slot " + std::to_string(occupied_slot) + " does not point at a record");
  }
  SECTION("a slot pointing past the committed end") {
    std::string bad = good;
    const std::size_t at = kSmallIndexStart + 8 * occupied_slot;
    SetU64(bad, at, (GetU64(bad, at) & ~mmap_internal::kOffsetMask) | (96 / 8 + 1));
    ResealClean(bad);
    WriteFile(path, bad);
    CHECK(OpenStatus(path).message() ==
          path + ": index slot " + std::to_string(occupied_slot) + " does not point at a record");
  }
  // Found by the structured mutation suite (mmap_fuzz_test): slots whose
  // pointers and tags all check out, with counts to match, yet a lookup
  // finds another slot or none. Such a store served a key from range() that
  // get() did not find, or counted a key twice.
  const auto record_kv = [&](std::uint64_t slot_value) {
    const std::size_t at = 4096 + ((slot_value & mmap_internal::kOffsetMask) - 1) * 8;
    std::uint32_t lengths[2];
    std::memcpy(lengths, good.data() + at + 8, 8);
    return std::uint64_t{lengths[0]} + lengths[1];
  };
  SECTION("a slot repeated further along its key's probe path") {
    std::string bad = good;
    const std::uint64_t v = GetU64(good, kSmallIndexStart + 8 * occupied_slot);
    std::size_t repeat = occupied_slot;
    while (GetU64(bad, kSmallIndexStart + 8 * repeat) != 0) repeat = (repeat + 1) % 64;
    SetU64(bad, kSmallIndexStart + 8 * repeat, v);
    SetU64(bad, kCleanLiveCount, 4);
    SetU64(bad, kCleanLiveBytes, 48 + record_kv(v));
    SetU64(bad, kCleanDeadBytes, std::uint64_t{96} - 4 * 32);  // the 96 committed bytes less the four slots' records
    ResealClean(bad);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": index slot " + std::to_string(repeat) + " holds the key that slot " +
                             std::to_string(occupied_slot) + " holds");
    CHECK(ReadFile(path) == bad);
  }
  SECTION("a slot beyond an empty slot on its key's probe path") {
    std::size_t slot = 0;
    while (GetU64(good, kSmallIndexStart + 8 * slot) == 0 ||
           GetU64(good, kSmallIndexStart + 8 * ((slot + 1) % 64)) != 0 ||
           GetU64(good, kSmallIndexStart + 8 * ((slot + 2) % 64)) != 0) {
      ++slot;
      REQUIRE(slot < 64);
    }
    std::string bad = good;
    const std::size_t moved = (slot + 2) % 64;
    SetU64(bad, kSmallIndexStart + 8 * moved, GetU64(good, kSmallIndexStart + 8 * slot));
    SetU64(bad, kSmallIndexStart + 8 * slot, 0);
    ResealClean(bad);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    CHECK(s.IsCorruption());
    CHECK(s.message() ==
          path + ": index slot " + std::to_string(moved) + " lies beyond an empty slot on its key's probe path");
    CHECK(ReadFile(path) == bad);
  }
  SECTION("a live count that differs from the occupied slots") {
    std::string bad = good;
    REQUIRE(GetU64(bad, kCleanLiveCount) == 3);
    SetU64(bad, kCleanLiveCount, 4);
    ResealClean(bad);
    WriteFile(path, bad);
    const Status s = OpenStatus(path);
    CHECK(s.IsCorruption());
    CHECK(s.message() == path + ": index holds 3 keys but the header records 4");
  }
  SECTION("live or dead byte counts that the records do not bear out") {
    REQUIRE(GetU64(good, kCleanLiveBytes) == 5 + 11 + 4 + 12 + 5 + 11);
    REQUIRE(GetU64(good, kCleanDeadBytes) == 0);
    // Understated live bytes made snapshot() write past its buffer; overstated
    // ones made snapshots that restore() rejects; any dead count but the
    // true one skews fragmentation().
    const std::vector<std::tuple<std::size_t, std::uint64_t, std::string>> cases = {
        {kCleanLiveBytes, 1000, "live 1000, dead 0"},
        {kCleanLiveBytes, 10, "live 10, dead 0"},
        {kCleanLiveBytes, 47, "live 47, dead 0"},
        {kCleanDeadBytes, 8, "live 48, dead 8"},
        {kCleanDeadBytes, ~std::uint64_t{0}, "live 48, dead 18446744073709551615"},
    };
    for (const auto& [offset, value, recorded] : cases) {
      std::string bad = good;
      SetU64(bad, offset, value);
      ResealClean(bad);
      WriteFile(path, bad);
      const Status s = OpenStatus(path);
      INFO(recorded);
      CHECK(s.IsCorruption());
      CHECK(s.message() == path + ": the clean-close record's byte counts (" + recorded +
                               ") do not match the records (live 48, dead 0)");
      CHECK(ReadFile(path) == bad);
    }
  }
}

TEST_CASE("a cleanly closed index with more than 70% of its slots occupied gives Corruption naming the file",
          "[mmap][errors]") {
  // Found by the structured mutation suite (mmap_fuzz_test): every slot
  // occupied, counts to match. A lookup of an absent key never met an empty
  // slot: get() looped for ever.
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("eight.mmap");
  MmapOptions eight = kSmallFixed;
  eight.initial_index_slots = 8;
  {
    auto store = OpenOrFail(path, eight);
    for (int i = 0; i < 5; ++i) REQUIRE(store->put(Numbered("key", i), "v").ok());  // 5 of 8: the most it allows
  }
  std::string bad = ReadFile(path);
  constexpr std::size_t kEightIndexStart = 4096 + 4096;
  std::uint64_t first_occupied = 0;
  for (std::size_t i = 0; i < 8 && first_occupied == 0; ++i) first_occupied = GetU64(bad, kEightIndexStart + 8 * i);
  for (std::size_t i = 0; i < 8; ++i) {
    if (GetU64(bad, kEightIndexStart + 8 * i) == 0) SetU64(bad, kEightIndexStart + 8 * i, first_occupied);
  }
  // The counts the eight slots imply (records of 24 bytes, "keyN" + "v").
  SetU64(bad, kCleanLiveCount, 8);
  SetU64(bad, kCleanLiveBytes, 8 * 5);
  SetU64(bad, kCleanDeadBytes, GetU64(bad, kCommittedWord) % (std::uint64_t{1} << 48) * 8 - 8 * 24);
  SetU64(bad, kCleanIndexChecksum, XXH3_64bits(bad.data() + kEightIndexStart, 8 * 8));
  SetU64(bad, kCleanCheck, mmap_internal::CleanCloseCheck(bad.data()));
  WriteFile(path, bad);
  const Status s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path + ": index holds 8 keys in 8 slots, more than the 70% the store allows");
  CHECK(ReadFile(path) == bad);
}

TEST_CASE("a pending overwrite larger than its target gives Corruption and leaves the file as it was",
          "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("small.mmap");
  std::string bytes = InterruptedOverwrite(dir, 0);
  // Rewrite the journal image as a record of "alpha" 16 bytes longer than the
  // 32-byte target, which would run over "beta" when copied.
  const std::string value(27, 'X');
  std::string image(16 + 5 + value.size() + 4, '\0');
  const std::uint32_t header[4] = {0, 1, 5, static_cast<std::uint32_t>(value.size())};
  std::memcpy(image.data(), header, 16);
  std::memcpy(image.data() + 16, "alpha", 5);
  std::memcpy(image.data() + 21, value.data(), value.size());
  const std::uint32_t checksum = static_cast<std::uint32_t>(XXH3_64bits(image.data() + 4, 12 + 5 + value.size()));
  std::memcpy(image.data(), &checksum, 4);
  bytes.replace(kJournalImage, image.size(), image);
  WriteFile(path, bytes);
  const Status s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK(s.message() == path +
                           ": the overwrite journal names data offset 0, a record of another size than the "
                           "journal's image");
  CHECK(ReadFile(path) == bytes);
}

TEST_CASE("a crash-left file that fails validation is not modified by the failed open", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  std::string dirty;
  {
    auto store = OpenOrFail(path, kSmallFixed);
    for (int i = 0; i < 30; ++i) REQUIRE(store->put(Numbered("key", i), Numbered("value", i)).ok());
    dirty = ReadFile(path);  // as a SIGKILL would leave it: not closed cleanly
  }
  REQUIRE(GetU64(dirty, kCleanCheck) == 0);
  // Damage the last record: the open replays 29 records before it finds out.
  std::size_t last = dirty.find("key29");
  REQUIRE(last != std::string::npos);
  dirty[last + 6] ^= 0x40;
  WriteFile(path, dirty);
  const Status s = OpenStatus(path);
  CHECK(s.IsCorruption());
  CHECK_THAT(s.message(), Contains("checksum mismatch"));
  CHECK(ReadFile(path) == dirty);  // neither the index nor the header was rewritten
}

TEST_CASE("open removes abandoned creation files and keeps those still being written", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  WriteFile(path + ".creating.4000001", std::string(4096, 'x'));  // its creator is gone: no lock
  WriteFile(path + ".creating.4000002", std::string(4096, 'y'));
  WriteFile(path + ".creating.notapid", "kept: not a name the store makes");
  WriteFile(dir.file("other.mmap.creating.4000003"), "kept: another store's");
  const int busy = ::open((path + ".creating.4000002").c_str(), O_RDWR);  // a creator still at work
  REQUIRE(busy >= 0);
  REQUIRE(::flock(busy, LOCK_EX | LOCK_NB) == 0);
  auto store = OpenOrFail(path);
  CHECK_FALSE(std::filesystem::exists(path + ".creating.4000001"));
  CHECK(std::filesystem::exists(path + ".creating.4000002"));
  CHECK(std::filesystem::exists(path + ".creating.notapid"));
  CHECK(std::filesystem::exists(dir.file("other.mmap.creating.4000003")));
  ::close(busy);
  store.reset();
  // Opening an existing store cleans up too.
  auto again = OpenOrFail(path);
  CHECK_FALSE(std::filesystem::exists(path + ".creating.4000002"));
}

TEST_CASE("a process killed while creating a store leaves nothing but a complete store behind", "[mmap]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  std::mt19937_64 rng(5);
  int complete = 0, absent = 0;
  constexpr int kKills = 40;
  for (int trial = 0; trial < kKills; ++trial) {
    std::filesystem::remove(path);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      MmapOptions big;
      big.initial_data_bytes = 8 << 20;  // creation populates 8 MiB: long enough to be killed in
      std::unique_ptr<MmapStateStore> store;
      (void)MmapStateStore::Open(path, store, big);
      ::_exit(0);
    }
    ::usleep(static_cast<useconds_t>(rng() % 4000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      INFO("left behind: " << e.path());
      CHECK(e.path().string() == path);
    }
    if (std::filesystem::exists(path)) {
      ++complete;
      auto store = OpenOrFail(path);
      CHECK(store->size() == 0);
    } else {
      ++absent;
    }
  }
  std::printf("create kills: %d, store complete %d, absent %d, nothing else left\n", kKills, complete, absent);
}

TEST_CASE("opening something that is not a regular file gives IOError naming it", "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("fifo");
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const Status s = OpenStatus(path);
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": not a regular file");
}

TEST_CASE("a restore or compaction that cannot write its new file returns IOError and changes nothing",
          "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  auto source = OpenOrFail(dir.file("source.mmap"));
  for (int i = 0; i < 100; ++i) REQUIRE(source->put(Numbered("new", i), std::string(50, 'n')).ok());
  const std::string blob = source->snapshot();

  auto store = OpenOrFail(path, Tiny());
  Model model;
  for (int i = 0; i < 20; ++i) {
    REQUIRE(store->put(Numbered("old", i), Numbered("value", i)).ok());
    model[Numbered("old", i)] = Numbered("value", i);
  }
  REQUIRE(store->del("old3").ok());
  model.erase("old3");
  Contents(*store);  // the ordered index exists and must survive the failures
  const std::string file_before = ReadFile(path);
  const std::string rewrite_path = std::filesystem::canonical(path).string() + ".rewrite";

  // Every new file is at least 8 KiB (header page plus data region): a 4 KiB
  // cap on the file size makes creating the replacement fail (SIGXFSZ
  // ignored, so the system call returns EFBIG instead of killing us).
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto* previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = saved;
  capped.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);
  const Status restored = store->restore(blob);
  const Status compacted = store->compact();
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  ::signal(SIGXFSZ, previous_handler);

  CHECK(restored.IsIOError());
  CHECK(restored.message() == rewrite_path + ": cannot size the file: File too large");
  CHECK(compacted.IsIOError());
  CHECK(compacted.message() == rewrite_path + ": cannot size the file: File too large");
  CheckMatches(*store, model);
  CHECK(ReadFile(path) == file_before);
  CHECK_FALSE(std::filesystem::exists(rewrite_path));
  // With room again both succeed.
  REQUIRE(store->compact().ok());
  CheckMatches(*store, model);
  REQUIRE(store->restore(blob).ok());
  CHECK(store->size() == 100);
  CHECK(store->snapshot() == blob);
}

// Refuses to open directories while `refuse` is set (so only directory syncs fail).
class DirectoryRefusingFileSystem : public FileSystem {
 public:
  bool refuse = false;
  int Open(const char* path, int flags, mode_t mode) override {
    if (refuse && (flags & O_DIRECTORY) != 0 && (flags & O_TMPFILE) != O_TMPFILE) {
      errno = EACCES;
      return -1;
    }
    return FileSystem::Open(path, flags, mode);
  }
};

TEST_CASE(
    "a compaction whose directory sync fails keeps its result and the next flush reports it, naming the "
    "directory",
    "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  DirectoryRefusingFileSystem fs;
  MmapOptions options;
  options.file_system = &fs;
  auto store = OpenOrFail(path, options);
  REQUIRE(store->put("a", "1").ok());
  REQUIRE(store->put("a", "22").ok());
  fs.refuse = true;
  REQUIRE(store->compact().ok());  // renamed: the new contents are the store's now
  CHECK(store->fragmentation() == 0.0);
  const std::string directory = std::filesystem::canonical(dir.path()).string();
  const Status s = store->flush();
  CHECK(s.IsIOError());
  CHECK(s.message() == path + ": cannot open the directory " + directory + ": Permission denied");
  fs.refuse = false;
  CHECK(store->flush().ok());  // the pending directory sync now succeeds
  CHECK(store->get("a") == std::optional<std::string_view>("22"));
}

#if !defined(__SANITIZE_ADDRESS__)
// Caps this process's address space a little above its current size for the
// lifetime of the object, so that large mappings fail with ENOMEM.
// (AddressSanitizer reserves terabytes of shadow memory, so an address-space
// cap cannot be used under it.)
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(std::size_t headroom) {
    ::getrlimit(RLIMIT_AS, &saved_);
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    statm >> pages;
    struct rlimit capped = saved_;
    capped.rlim_cur = pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) + headroom;
    ok_ = ::setrlimit(RLIMIT_AS, &capped) == 0;
  }
  ~AddressSpaceCap() { ::setrlimit(RLIMIT_AS, &saved_); }
  bool ok() const { return ok_; }

 private:
  struct rlimit saved_ {};
  bool ok_ = false;
};

TEST_CASE("a mapping the address space cannot hold gives IOError naming the file and leaves the store unchanged",
          "[mmap][errors]") {
  TempDir dir("mmap_store_test");
  const std::string path = dir.file("state.mmap");
  const std::string too_big_path = dir.file("too-big.mmap");
  auto store = OpenOrFail(path, Tiny());
  REQUIRE(store->put("small", "fits").ok());
  const std::string big(64 << 20, 'b');
  MmapOptions huge;
  huge.initial_data_bytes = std::size_t{1} << 30;
  Status grow, create;
  std::unique_ptr<MmapStateStore> never;
  {
    AddressSpaceCap cap(32 << 20);
    REQUIRE(cap.ok());
    grow = store->put("big", big);  // the file grows, the remap cannot
    create = MmapStateStore::Open(too_big_path, never, huge);
  }
  CHECK(grow.IsIOError());
  CHECK(grow.message() == path + ": cannot remap the file: Cannot allocate memory");
  CheckMatches(*store, Model{{"small", "fits"}});
  CHECK(create.IsIOError());
  const std::string temp_path = too_big_path + ".creating." + std::to_string(::getpid());
  // Built in an unnamed file (O_TMPFILE): the message names the path.
  CHECK(create.message() == too_big_path + ": cannot create: " + too_big_path + ": cannot map " +
                                std::to_string(4096 + (std::size_t{1} << 30) + 1024 * 8) +
                                " bytes: Cannot allocate memory");
  CHECK(never == nullptr);
  CHECK_FALSE(std::filesystem::exists(too_big_path));
  CHECK_FALSE(std::filesystem::exists(temp_path));
  // With address space again the same put succeeds and survives a reopen.
  REQUIRE(store->put("big", big).ok());
  store.reset();
  CheckMatches(*OpenOrFail(path), Model{{"small", "fits"}, {"big", big}});
}
#endif

// ------------------------------------------------------------------ differential

std::string RandomKey(std::mt19937_64& rng) {
  static const char kAlphabet[] = {'\x00', 'a', 'b', '\xff'};
  std::string key(rng() % 5, '\0');
  for (char& c : key) c = kAlphabet[rng() % 4];
  return key;
}

std::string RandomValue(std::mt19937_64& rng) {
  const std::size_t size = rng() % 10 == 0 ? 200 + rng() % 5000 : rng() % 40;
  std::string value(size, '\0');
  for (char& c : value) c = static_cast<char>(rng());
  return value;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("random operation sequences agree with a std::map model", "[mmap][differential]") {
  for (std::uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    TempDir dir("mmap_store_test");
    const std::string path = dir.file("state.mmap");
    std::mt19937_64 rng(seed);
    Model model;
    auto store = OpenOrFail(path, Tiny());
    std::string saved_blob;
    Model saved_model;
    for (int step = 0; step < 4000; ++step) {
      INFO("seed " << seed << " step " << step);
      const unsigned op = static_cast<unsigned>(rng() % 100);
      if (op < 40) {
        const std::string key = RandomKey(rng);
        const std::string value = RandomValue(rng);
        REQUIRE(store->put(key, value).ok());
        model[key] = value;
      } else if (op < 58) {
        const std::string key = RandomKey(rng);
        REQUIRE(store->del(key).ok());
        model.erase(key);
      } else if (op < 75) {
        const std::string key = RandomKey(rng);
        const auto got = store->get(key);
        const auto it = model.find(key);
        REQUIRE(got.has_value() == (it != model.end()));
        if (got) REQUIRE(*got == it->second);
        REQUIRE(store->contains(key) == got.has_value());
      } else if (op < 83) {
        const std::string start = RandomKey(rng);
        const std::string end = RandomKey(rng);
        Pairs got;
        store->range(start, end, [&](std::string_view k, std::string_view v) {
          got.emplace_back(k, v);
          return true;
        });
        Pairs want;
        if (start < end) {
          for (auto it = model.lower_bound(start); it != model.end() && it->first < end; ++it) want.push_back(*it);
        }
        REQUIRE(got == want);
      } else if (op < 90) {
        const std::string prefix = RandomKey(rng).substr(0, 2);
        Pairs got;
        store->prefix_scan(prefix, [&](std::string_view k, std::string_view v) {
          got.emplace_back(k, v);
          return true;
        });
        Pairs want;
        for (const auto& kv : model) {
          if (std::string_view(kv.first).starts_with(prefix)) want.push_back(kv);
        }
        REQUIRE(got == want);
      } else if (op < 93) {
        saved_blob = store->snapshot();
        saved_model = model;
        SnapshotInfo info;
        REQUIRE(ValidateSnapshot(saved_blob, info).ok());
        REQUIRE(info.entry_count == model.size());
      } else if (op < 95) {
        if (!saved_blob.empty()) {
          REQUIRE(store->restore(saved_blob).ok());
          model = saved_model;
        }
      } else if (op < 98) {
        store.reset();
        store = OpenOrFail(path, Tiny());
      } else if (op < 99) {
        REQUIRE(store->compact().ok());
        REQUIRE(store->fragmentation() == 0.0);
      } else if (rng() % 4 == 0) {
        REQUIRE(store->clear().ok());
        model.clear();
      }
      REQUIRE(store->size() == model.size());
    }
    CheckMatches(*store, model);
    store.reset();
    CheckMatches(*OpenOrFail(path), model);
  }
}

}  // namespace
}  // namespace statestore
