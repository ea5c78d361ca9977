#include "mmap_mutation.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "statestore/file_system.h"
#include "statestore/inmemory_state_store.h"
#include "statestore/internal/key_hash.h"
#include "statestore/internal/mmap_format.h"
#include "statestore/mmap_state_store.h"
#include "statestore/snapshot_format.h"

namespace statestore::mmap_fuzz {
namespace {

// ------------------------------------------------------------ the format
// Offsets and fields of core/doc/mmap_format.md (version 3), restated here
// so that a change of the format breaks these tests instead of silently
// following it.
constexpr std::size_t kHeaderSize = 4096;
constexpr std::size_t kVersion = 8;
constexpr std::size_t kStaticReserved = 12;
constexpr std::size_t kSeed = 16;
constexpr std::size_t kStaticChecksum = 24;
constexpr std::size_t kGeometry = 64;
constexpr std::size_t kCommitted = 128;
constexpr std::size_t kLiveCount = 192;
constexpr std::size_t kLiveBytes = 200;
constexpr std::size_t kDeadBytes = 208;
constexpr std::size_t kIndexChecksum = 216;
constexpr std::size_t kCleanCheck = 224;
constexpr std::size_t kJournalWord = 256;
constexpr std::size_t kDurable = 320;
constexpr std::size_t kEpoch = 384;
constexpr std::size_t kBoot = 448;
constexpr std::size_t kJournalImage = 1024;
constexpr std::size_t kJournalCapacity = kHeaderSize - kJournalImage;
constexpr std::uint64_t kPayloadMask = (std::uint64_t{1} << 48) - 1;
constexpr std::uint64_t kOffsetMask = (std::uint64_t{1} << 36) - 1;
constexpr std::uint32_t kMaxKey = 64 * 1024;
constexpr std::uint32_t kMaxValue = 256 * 1024 * 1024;
// Mutants never grow a file past this (the store itself may, when a mutated
// geometry tells it to; that is part of what is checked).
constexpr std::size_t kMaxMutantSize = std::size_t{1} << 20;
// Slack over four times a mutant's size that Open may take (a rebuilt index
// grows for the keys the records hold, pages are allocated whole).
constexpr std::uint64_t kMaxOpenGrowth = 256 * 1024;

using Model = std::map<std::string, std::string>;

std::uint64_t Get64(const std::string& b, std::uint64_t at) {
  std::uint64_t v = 0;
  if (at <= b.size() && b.size() - at >= 8) std::memcpy(&v, b.data() + at, 8);
  return v;
}
std::uint32_t Get32(const std::string& b, std::uint64_t at) {
  std::uint32_t v = 0;
  if (at <= b.size() && b.size() - at >= 4) std::memcpy(&v, b.data() + at, 4);
  return v;
}
void Set64(std::string& b, std::uint64_t at, std::uint64_t v) {
  if (at <= b.size() && b.size() - at >= 8) std::memcpy(b.data() + at, &v, 8);
}
void Set32(std::string& b, std::uint64_t at, std::uint32_t v) {
  if (at <= b.size() && b.size() - at >= 4) std::memcpy(b.data() + at, &v, 4);
}

std::uint64_t Encode(std::uint64_t payload) { return mmap_internal::EncodeCheckedWord(payload & kPayloadMask); }

constexpr std::uint64_t RecordSize(std::uint64_t key_len, std::uint64_t value_len) {
  return (16 + key_len + value_len + 7) & ~std::uint64_t{7};
}

// What the header says, read without checking it, and the records that
// parse from the start of the data region.
struct Layout {
  bool has_header = false;
  std::uint64_t data_capacity = 0;
  unsigned index_log2 = 0;
  std::uint64_t index_slots = 0;
  std::uint64_t committed_end = 0;
  std::uint64_t durable_end = 0;
  std::uint64_t epoch = 0;
  std::uint64_t seed = 0;
  std::vector<std::uint64_t> records;  // data offsets
  bool index_in_image = false;

  std::uint64_t index_at() const { return kHeaderSize + data_capacity; }
  std::uint64_t required() const { return kHeaderSize + data_capacity + index_slots * 8; }
};

Layout Parse(const std::string& b) {
  Layout l;
  if (b.size() < kHeaderSize) return l;
  l.has_header = true;
  const std::uint64_t geometry = Get64(b, kGeometry) & kPayloadMask;
  l.data_capacity = (geometry & kOffsetMask) * 8;
  l.index_log2 = static_cast<unsigned>((geometry >> 40) & 31);
  l.index_slots = std::uint64_t{1} << l.index_log2;
  l.committed_end = (Get64(b, kCommitted) & kPayloadMask) * 8;
  l.durable_end = (Get64(b, kDurable) & kPayloadMask) * 8;
  l.epoch = Get64(b, kEpoch) & kPayloadMask;
  l.seed = Get64(b, kSeed);
  const std::uint64_t data_in_image = std::min<std::uint64_t>(l.data_capacity, b.size() - kHeaderSize);
  const std::uint64_t end = std::min(l.committed_end, data_in_image);
  for (std::uint64_t offset = 0; offset + 16 <= end && l.records.size() < 100000;) {
    const std::uint64_t key_len = Get32(b, kHeaderSize + offset + 8);
    const std::uint64_t value_len = Get32(b, kHeaderSize + offset + 12);
    if (key_len > kMaxKey || value_len > kMaxValue) break;
    const std::uint64_t size = RecordSize(key_len, value_len);
    if (size > end - offset) break;
    l.records.push_back(offset);
    offset += size;
  }
  l.index_in_image = l.index_log2 <= 20 && l.data_capacity <= b.size() && l.required() <= b.size();
  return l;
}

// The record at data offset `offset`, when its bytes lie inside the image.
struct RecordView {
  std::uint64_t at = 0;  // file offset
  std::uint32_t type = 0;
  std::uint32_t key_len = 0;
  std::uint32_t value_len = 0;
  std::uint64_t size() const { return RecordSize(key_len, value_len); }
};

std::optional<RecordView> RecordAt(const std::string& b, std::uint64_t file_at) {
  if (file_at > b.size() || b.size() - file_at < 16) return std::nullopt;
  RecordView r{file_at, Get32(b, file_at + 4), Get32(b, file_at + 8), Get32(b, file_at + 12)};
  if (std::uint64_t{16} + r.key_len + r.value_len > b.size() - file_at) return std::nullopt;
  return r;
}

// Recomputes the checksum of the record at file offset `file_at` (a data
// record or the journal image), when it lies inside the image.
void ResealRecordAt(std::string& b, std::uint64_t file_at, std::uint64_t epoch) {
  const std::optional<RecordView> r = RecordAt(b, file_at);
  if (!r) return;
  Set32(
      b, file_at,
      static_cast<std::uint32_t>(XXH3_64bits_withSeed(b.data() + file_at + 4, 12 + r->key_len + r->value_len, epoch)));
}

void ResealStatic(std::string& b) {
  if (b.size() >= 32) Set64(b, kStaticChecksum, XXH3_64bits(b.data(), kStaticChecksum));
}

// Recomputes the clean-close record: with `recount`, the live count and
// byte counts the index implies (what Open compares them with), then the
// index checksum and the clean check.
void ResealClean(std::string& b, bool recount) {
  const Layout l = Parse(b);
  if (!l.has_header || !l.index_in_image) return;
  if (recount) {
    std::uint64_t occupied = 0;
    std::uint64_t kv_bytes = 0;
    std::uint64_t record_bytes = 0;
    for (std::uint64_t i = 0; i < l.index_slots; ++i) {
      const std::uint64_t v = Get64(b, l.index_at() + 8 * i);
      if ((v & kOffsetMask) == 0) continue;
      const std::optional<RecordView> r = RecordAt(b, kHeaderSize + ((v & kOffsetMask) - 1) * 8);
      if (!r) continue;
      ++occupied;
      kv_bytes += r->key_len + r->value_len;
      record_bytes += r->size();
    }
    Set64(b, kLiveCount, occupied);
    Set64(b, kLiveBytes, kv_bytes);
    Set64(b, kDeadBytes, l.committed_end - record_bytes);
  }
  Set64(b, kIndexChecksum, XXH3_64bits(b.data() + l.index_at(), l.index_slots * 8));
  Set64(b, kCleanCheck, mmap_internal::CleanCloseCheck(b.data()));
}

std::uint64_t TagOf(std::string_view key, std::uint64_t seed) {
  const internal::HashSecret secret = internal::HashSecretFromSeed(seed);
  return internal::HashKey(key, secret) >> 36;
}

std::string KeyAt(const std::string& b, const RecordView& r) { return b.substr(r.at + 16, r.key_len); }

std::string Hex(std::uint64_t v) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

// ------------------------------------------------------------ files

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

void Empty(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::error_code ignored;
    std::filesystem::remove_all(e.path(), ignored);
  }
}

// ------------------------------------------------------------ seeds

MmapOptions SeedOptions(std::size_t slots, std::size_t data_bytes) {
  MmapOptions options;
  options.initial_index_slots = slots;
  options.initial_data_bytes = data_bytes;
  options.hash_seed = 0x5EED5EEDULL;
  return options;
}

std::unique_ptr<MmapStateStore> OpenSeed(const std::string& path, const MmapOptions& options) {
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, options);
  if (!s.ok()) throw std::runtime_error("seed: " + s.ToString());
  return store;
}

void Must(const Status& s) {
  if (!s.ok()) throw std::runtime_error("seed: " + s.ToString());
}

std::string Numbered(std::string_view prefix, int n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

// A few keys of every shape: empty key, empty value, binary bytes, the 8- and
// 16-byte boundaries of the key compare, a value past one cache line.
void PutVariety(MmapStateStore& store) {
  Must(store.put("alpha", "first value"));
  Must(store.put("beta", "second value"));
  Must(store.put("", "the empty key"));
  Must(store.put(std::string("\x00\xff\x01", 3), std::string("\xff\x00", 2)));
  Must(store.put("empty-value", ""));
  Must(store.put("eight-b!", "8"));
  Must(store.put("sixteen-bytes-k!", "16"));
  Must(store.put("long-value", std::string(300, 'L')));
}

// The data offset of the last put record of `key` in `bytes`.
std::uint64_t LastPutOf(const std::string& bytes, std::string_view key) {
  const Layout l = Parse(bytes);
  std::optional<std::uint64_t> found;
  for (const std::uint64_t offset : l.records) {
    const std::optional<RecordView> r = RecordAt(bytes, kHeaderSize + offset);
    if (r && r->type == 1 && KeyAt(bytes, *r) == key) found = offset;
  }
  if (!found) throw std::runtime_error("seed: no record of the overwritten key");
  return *found;
}

}  // namespace

std::vector<StoreFiles> BuildSeeds(const std::string& scratch_dir) {
  std::vector<StoreFiles> seeds;
  const std::string path = scratch_dir + "/seed.mmap";
  const auto reset = [&] { Empty(scratch_dir); };
  const MmapOptions small = SeedOptions(16, 2048);
  const MmapOptions tiny = SeedOptions(8, 64);

  reset();
  {
    auto store = OpenSeed(path, small);
    PutVariety(*store);
  }
  seeds.push_back({"clean close", ReadBytes(path), std::nullopt});

  reset();
  {
    // A crash in the middle of an overwrite in place: the journal word names
    // the target, the image is complete, the target wholly old or torn.
    auto store = OpenSeed(path, small);
    PutVariety(*store);
    const std::string before = ReadBytes(path);  // as a SIGKILL now would leave it
    Must(store->put("beta", "SECOND VALUE"));    // same size: in place
    std::string pending = ReadBytes(path);
    const std::uint64_t target = LastPutOf(pending, "beta");
    Set64(pending, kJournalWord, Encode(target / 8 + 1));
    std::string untouched = pending;
    untouched.replace(kHeaderSize + target, 32, before, kHeaderSize + target, 32);
    seeds.push_back({"crash-left, overwrite pending, target not yet copied", untouched, std::nullopt});
    std::string torn = pending;
    torn.replace(kHeaderSize + target + 21, 11, before, kHeaderSize + target + 21, 11);
    seeds.push_back({"crash-left, overwrite pending, target torn", torn, std::nullopt});
  }

  reset();
  {
    auto store = OpenSeed(path, tiny);
    for (int i = 0; i < 45; ++i)
      Must(store->put(Numbered("key-", i), std::string(static_cast<std::size_t>(i % 37), 'v')));
    seeds.push_back({"crash-left after growth", ReadBytes(path), std::nullopt});
    for (int i = 0; i < 45; i += 4) Must(store->put(Numbered("key-", i), std::string(50, 'w')));
  }
  seeds.push_back({"clean close after growth and resized overwrites", ReadBytes(path), std::nullopt});

  reset();
  {
    auto store = OpenSeed(path, small);
    for (int i = 0; i < 40; ++i) Must(store->put(Numbered("c", i), Numbered("value ", i * 7)));
    for (int i = 0; i < 40; i += 3) Must(store->del(Numbered("c", i)));
    for (int i = 1; i < 40; i += 4) Must(store->put(Numbered("c", i), std::string(20, 'r')));
    Must(store->compact());
    for (int i = 0; i < 5; ++i) Must(store->put(Numbered("after-", i), "x"));
    Must(store->put("after-1", "y"));  // in place
    Must(store->del("c1"));
    store->release_spare();
  }
  seeds.push_back({"clean close after compaction", ReadBytes(path), std::nullopt});

  reset();
  {
    auto store = OpenSeed(path, small);
    for (int i = 0; i < 30; ++i) Must(store->put(Numbered("d", i), Numbered("v", i)));
    for (int i = 0; i < 30; i += 3) Must(store->del(Numbered("d", i)));
    for (int i = 0; i < 30; i += 6) Must(store->put(Numbered("d", i), "back again"));
  }
  seeds.push_back({"clean close with deletes", ReadBytes(path), std::nullopt});

  reset();
  {
    auto store = OpenSeed(path, small);
    for (int i = 0; i < 20; ++i) Must(store->put(Numbered("f", i), Numbered("flushed ", i)));
    Must(store->flush());
    Must(store->put("f1", "FLUSHED 1"));  // a flushed record: appended, not in place
    Must(store->put("f1", "flushed 1"));  // written since the flush: in place
    Must(store->del("f2"));
    for (int i = 20; i < 26; ++i) Must(store->put(Numbered("f", i), "after the flush"));
    seeds.push_back({"crash-left after a flush and later writes", ReadBytes(path), std::nullopt});
  }

  reset();
  {
    auto store = OpenSeed(path, small);
    for (int i = 0; i < 10; ++i) Must(store->put(Numbered("old", i), "before the clear"));
    Must(store->flush());
    Must(store->clear());
    for (int i = 0; i < 5; ++i) Must(store->put(Numbered("new", i), "after the clear"));
  }
  seeds.push_back({"clean close after a flushed clear", ReadBytes(path), std::nullopt});

  reset();
  {
    InMemoryStateStore source;
    for (int i = 0; i < 15; ++i)
      Must(source.put(Numbered("restored-", i), std::string(static_cast<std::size_t>(i), 'r')));
    const std::string blob = source.snapshot();
    auto store = OpenSeed(path, small);
    for (int i = 0; i < 20; ++i) Must(store->put(Numbered("s", i), "replaced by the restore"));
    Must(store->restore(blob));
    for (int i = 0; i < 5; ++i) Must(store->put(Numbered("after-restore-", i), "x"));
    seeds.push_back({"crash-left after a restore, with its .spare", ReadBytes(path), ReadBytes(path + ".spare")});
    Must(store->compact());  // rewrites the spare in place
    Must(store->del("restored-3"));
    seeds.push_back(
        {"crash-left after a compaction into the spare, with its .spare", ReadBytes(path), ReadBytes(path + ".spare")});
  }
  reset();
  return seeds;
}

// ------------------------------------------------------------ mutations

namespace {

// Picks one of `values`.
template <typename T>
T Pick(std::mt19937_64& rng, std::initializer_list<T> values) {
  return *(values.begin() + rng() % values.size());
}

// Boundary values around `current` for a field of `bits` bits.
std::uint64_t Boundary(std::mt19937_64& rng, std::uint64_t current, unsigned bits) {
  const std::uint64_t max = bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  const std::uint64_t v =
      Pick<std::uint64_t>(rng, {0, 1, 2, current - 1, current + 1, current * 2, current / 2, max, max - 1,
                                std::uint64_t{1} << (bits - 1), current ^ (std::uint64_t{1} << (rng() % bits)), rng()});
  return v & max;
}

}  // namespace

std::string Mutator::MutateHeaderWord(std::string& b) {
  const Layout l = Parse(b);
  if (!l.has_header) return FlipBytes(b);
  const std::uint64_t record = l.records.empty() ? 0 : l.records[Below(l.records.size())];
  const std::uint64_t file_data = (b.size() - kHeaderSize) / 8;
  const bool encoded = Below(4) != 0;
  std::uint64_t payload = 0;
  std::string field;
  std::size_t offset = 0;
  switch (Below(11)) {
    case 0: {
      field = "geometry";
      offset = kGeometry;
      std::uint64_t capacity = l.data_capacity / 8;
      std::uint64_t log2 = l.index_log2;
      const std::uint64_t fits =
          b.size() >= l.index_slots * 8 + kHeaderSize ? (b.size() - kHeaderSize - l.index_slots * 8) / 8 : 0;
      if (Below(3) != 0) {
        capacity = Pick<std::uint64_t>(
                       rng_, {0, 1, 7, 8, capacity - 1, capacity + 1, capacity * 2, capacity / 2, fits, fits + 1,
                              l.committed_end / 8, kOffsetMask, kOffsetMask - 1, Boundary(rng_, capacity, 36)}) &
                   kOffsetMask;
      }
      if (Below(3) == 0) log2 = Pick<std::uint64_t>(rng_, {0, 2, 3, log2 - 1, log2 + 1, 20, 28, 29, 31});
      payload = capacity | ((log2 & 31) << 40);
      if (Below(8) == 0) payload |= std::uint64_t{1} << (36 + Below(4));  // the unused bits between the fields
      break;
    }
    case 1:
      field = "committed end";
      offset = kCommitted;
      payload = Pick<std::uint64_t>(rng_, {0, 1, l.committed_end / 8 - 1, l.committed_end / 8 + 1, record / 8,
                                           record / 8 + 1, l.data_capacity / 8, l.data_capacity / 8 + 1, file_data,
                                           kPayloadMask, kOffsetMask, Boundary(rng_, l.committed_end / 8, 48)});
      break;
    case 2:
      field = "durable end";
      offset = kDurable;
      payload = Pick<std::uint64_t>(rng_, {0, 1, l.committed_end / 8, l.committed_end / 8 - 1, l.committed_end / 8 + 1,
                                           record / 8, kPayloadMask});
      break;
    case 3:
      field = "log epoch";
      offset = kEpoch;
      payload = Boundary(rng_, l.epoch, 48);
      break;
    case 4:
      field = "journal word";
      offset = kJournalWord;
      payload =
          Pick<std::uint64_t>(rng_, {0, 1, record / 8 + 1, record / 8 + 2, l.committed_end / 8, l.committed_end / 8 + 1,
                                     l.data_capacity / 8 + 1, kPayloadMask, kOffsetMask + 1});
      break;
    default: {
      static constexpr std::pair<std::size_t, const char*> kRaw[] = {
          {kBoot, "boot tag"},        {kLiveCount, "live count"},         {kLiveBytes, "live bytes"},
          {kDeadBytes, "dead bytes"}, {kIndexChecksum, "index checksum"}, {kCleanCheck, "clean check"}};
      const auto& [at, name] = kRaw[Below(std::size(kRaw))];
      const std::uint64_t v =
          at == kBoot ? Pick<std::uint64_t>(rng_, {0, Get64(b, kBoot) ^ 1, rng_()}) : Boundary(rng_, Get64(b, at), 64);
      Set64(b, at, v);
      return std::string(name) + " = " + Hex(v);
    }
  }
  if (!encoded) {
    const std::uint64_t raw = Below(2) == 0 ? payload : (Encode(payload) ^ (std::uint64_t{1} << Below(64)));
    Set64(b, offset, raw);
    return field + " word = " + Hex(raw) + " (raw)";
  }
  Set64(b, offset, Encode(payload));
  return field + " payload = " + Hex(payload & kPayloadMask) + " (encoded)";
}

std::string Mutator::MutateStaticField(std::string& b) {
  if (b.size() < kHeaderSize) return FlipBytes(b);
  std::string what;
  switch (Below(5)) {
    case 0: {
      const std::uint64_t at = Below(8);
      b[at] = static_cast<char>(b[at] ^ (1 << Below(8)));
      what = "magic byte " + std::to_string(at) + " flipped";
      break;
    }
    case 1: {
      const std::uint32_t v =
          static_cast<std::uint32_t>(Pick<std::uint64_t>(rng_, {0, 1, 2, 4, 0xFFFFFFFF, 0x80000003}));
      Set32(b, kVersion, v);
      what = "version = " + std::to_string(v);
      break;
    }
    case 2:
      Set32(b, kStaticReserved, static_cast<std::uint32_t>(Boundary(rng_, 0, 32) | 1));
      what = "static reserved field non-zero";
      break;
    case 3: {
      const std::uint64_t v = Boundary(rng_, Get64(b, kSeed), 64);
      Set64(b, kSeed, v);
      what = "hash seed = " + Hex(v);
      break;
    }
    default: {
      // A byte of the header that must be zero.
      static constexpr std::pair<std::size_t, std::size_t> kZero[] = {{32, 64},   {72, 128},  {136, 192}, {232, 256},
                                                                      {264, 320}, {328, 384}, {392, 448}, {456, 1024}};
      const auto& [from, to] = kZero[Below(std::size(kZero))];
      const std::uint64_t at = from + Below(to - from);
      b[at] = static_cast<char>(1 + Below(255));
      return "reserved header byte " + std::to_string(at) + " non-zero";
    }
  }
  if (Below(4) != 0) {
    ResealStatic(b);
    what += ", static checksum resealed";
  }
  return what;
}

std::string Mutator::MutateJournal(std::string& b) {
  const Layout l = Parse(b);
  if (!l.has_header) return FlipBytes(b);
  const auto point_at = [&](std::uint64_t target) { Set64(b, kJournalWord, Encode(target / 8 + 1)); };
  const std::uint64_t target = l.records.empty() ? 0 : l.records[Below(l.records.size())];
  std::string what;
  switch (Below(5)) {
    case 0: {
      // A real record as the image, naming some record (its own, another, or
      // a place that is not a record start).
      if (l.records.empty()) return FlipBytes(b);
      const std::uint64_t source = l.records[Below(l.records.size())];
      const std::optional<RecordView> r = RecordAt(b, kHeaderSize + source);
      if (!r || r->size() > kJournalCapacity) return FlipBytes(b);
      b.replace(kJournalImage, r->size(), b, r->at, r->size());
      const std::uint64_t named = Pick<std::uint64_t>(
          rng_, {source, target, target + 8, l.committed_end, l.committed_end - 8, l.data_capacity});
      point_at(named);
      what = "journal image = the record at " + std::to_string(source) + ", naming " + std::to_string(named);
      break;
    }
    case 1: {
      // The image of the target's key with a value longer or shorter than
      // the target's: a pending overwrite of another size.
      const std::optional<RecordView> r = RecordAt(b, kHeaderSize + target);
      if (!r) return FlipBytes(b);
      const std::uint32_t value_len = static_cast<std::uint32_t>(
          Pick<std::uint64_t>(rng_, {0, r->value_len + 1u, r->value_len + 8u, r->value_len + 16u, r->value_len - 8u,
                                     3072u - 16u - r->key_len, 3072u}));
      if (std::uint64_t{16} + r->key_len + value_len > kJournalCapacity) {
        Set32(b, kJournalImage + 12, value_len);  // a length that does not fit the journal
      } else {
        std::string image(16 + r->key_len + value_len, 'J');
        Set32(image, 4, 1);
        Set32(image, 8, r->key_len);
        Set32(image, 12, value_len);
        image.replace(16, r->key_len, b, r->at + 16, r->key_len);
        b.replace(kJournalImage, image.size(), image);
      }
      point_at(target);
      what = "journal image: the key of the record at " + std::to_string(target) + " with a value of " +
             std::to_string(value_len) + " bytes";
      break;
    }
    case 2: {
      const std::size_t at = kJournalImage + 4 * (1 + Below(3));  // type, key_len, value_len
      const std::uint32_t v = static_cast<std::uint32_t>(Boundary(rng_, Get32(b, at), 32));
      Set32(b, at, v);
      if (Get64(b, kJournalWord) == 0) point_at(target);
      what = "journal image field at " + std::to_string(at) + " = " + std::to_string(v);
      break;
    }
    case 3: {
      const std::uint64_t at = kJournalImage + Below(kJournalCapacity);
      b[at] = static_cast<char>(b[at] ^ (1 << Below(8)));
      what = "journal image byte " + std::to_string(at) + " flipped";
      break;
    }
    default:
      Set64(b, kJournalWord, 0);
      return "journal word cleared";
  }
  if (Below(4) != 0) {
    ResealRecordAt(b, kJournalImage, l.epoch);
    what += ", image checksum resealed";
  }
  return what;
}

std::string Mutator::MutateRecord(std::string& b) {
  const Layout l = Parse(b);
  if (l.records.empty()) return FlipBytes(b);
  const std::uint64_t offset = l.records[Below(l.records.size())];
  const std::uint64_t at = kHeaderSize + offset;
  const std::uint32_t key_len = Get32(b, at + 8);
  const std::uint32_t value_len = Get32(b, at + 12);
  // Lengths that end the record exactly at the committed end (swallowing the
  // records after it), just past it, or past the end of the file.
  const std::uint64_t to_end = l.committed_end - offset - 16;
  const std::uint64_t to_file = b.size() - at - 16;
  std::string what;
  switch (Below(5)) {
    case 0: {
      const std::uint32_t type = static_cast<std::uint32_t>(Pick<std::uint64_t>(rng_, {0, 1, 2, 3, 0xFFFFFFFF}));
      Set32(b, at + 4, type);
      what = "record at " + std::to_string(offset) + ": type = " + std::to_string(type);
      break;
    }
    case 1: {
      const std::uint32_t v = static_cast<std::uint32_t>(Pick<std::uint64_t>(
          rng_, {0, 1, key_len - 1u, key_len + 1u, key_len + 8u, kMaxKey, kMaxKey + 1u, 0xFFFFFFFF,
                 0xFFFFFFFFu - value_len + 1u, to_end - value_len, to_end - value_len + 8, to_file - value_len + 8}));
      Set32(b, at + 8, v);
      what = "record at " + std::to_string(offset) + ": key_len = " + std::to_string(v);
      break;
    }
    case 2: {
      const std::uint32_t v = static_cast<std::uint32_t>(Pick<std::uint64_t>(
          rng_, {0, 1, value_len - 1u, value_len + 1u, value_len + 8u, kMaxValue, kMaxValue + 1u, 0xFFFFFFFF,
                 0xFFFFFFFFu - key_len + 1u, to_end - key_len, to_end - key_len + 8, to_file - key_len + 8}));
      Set32(b, at + 12, v);
      what = "record at " + std::to_string(offset) + ": value_len = " + std::to_string(v);
      break;
    }
    case 3:
      Set32(b, at, Get32(b, at) ^ (1u << Below(32)));
      return "record at " + std::to_string(offset) + ": checksum flipped";
    default: {
      const std::uint64_t byte = at + 16 + Below(key_len + value_len + 1);
      if (byte < b.size()) b[byte] = static_cast<char>(b[byte] ^ (1 << Below(8)));
      what = "record at " + std::to_string(offset) + ": key/value byte flipped";
      break;
    }
  }
  if (Below(4) != 0) {
    ResealRecordAt(b, at, l.epoch);
    what += ", checksum resealed";
  }
  return what;
}

std::string Mutator::MoveRecords(std::string& b) {
  const Layout l = Parse(b);
  if (l.records.size() < 2) return MutateRecord(b);
  const std::size_t i = Below(l.records.size() - 1);
  const std::uint64_t a = kHeaderSize + l.records[i];
  const std::uint64_t next = kHeaderSize + l.records[i + 1];
  const std::uint64_t after = i + 2 < l.records.size() ? kHeaderSize + l.records[i + 2] : kHeaderSize + l.committed_end;
  switch (Below(4)) {
    case 0: {
      // Adjacent records swapped: the log still tiles, in another order.
      const std::string first = b.substr(a, next - a);
      const std::string second = b.substr(next, after - next);
      b.replace(a, second.size(), second);
      b.replace(a + second.size(), first.size(), first);
      return "records at " + std::to_string(a - kHeaderSize) + " and " + std::to_string(next - kHeaderSize) +
             " swapped";
    }
    case 1: {
      // A record copied over a later record of the same size (a duplicate).
      for (std::size_t j = i + 1; j < l.records.size(); ++j) {
        const std::uint64_t other = kHeaderSize + l.records[j];
        const std::uint64_t end =
            j + 1 < l.records.size() ? kHeaderSize + l.records[j + 1] : kHeaderSize + l.committed_end;
        if (end - other == next - a) {
          b.replace(other, next - a, b, a, next - a);
          return "record at " + std::to_string(a - kHeaderSize) + " duplicated over the one at " +
                 std::to_string(other - kHeaderSize);
        }
      }
      [[fallthrough]];
    }
    case 2: {
      // A record repeated in place of the one after it (the log then holds
      // it twice and no longer tiles where the sizes differ).
      const std::uint64_t size = next - a;
      if (next + size > b.size()) return FlipBytes(b);
      b.replace(next, size, b, a, size);
      return "record at " + std::to_string(a - kHeaderSize) + " repeated after itself";
    }
    default: {
      // A record cut out of the log and the committed end moved back by its size.
      const std::uint64_t size = next - a;
      const std::string tail = b.substr(next, kHeaderSize + l.committed_end - next);
      b.replace(a, tail.size(), tail);
      Set64(b, kCommitted, Encode((l.committed_end - size) / 8));
      return "record at " + std::to_string(a - kHeaderSize) + " cut out, committed end moved back";
    }
  }
}

std::string Mutator::MutateIndex(std::string& b) {
  const Layout l = Parse(b);
  if (!l.index_in_image) return MutateHeaderWord(b);
  std::vector<std::uint64_t> occupied;
  std::vector<std::uint64_t> empty;
  for (std::uint64_t i = 0; i < l.index_slots; ++i)
    (Get64(b, l.index_at() + 8 * i) != 0 ? occupied : empty).push_back(i);
  const auto slot_at = [&](std::uint64_t i) { return l.index_at() + 8 * i; };
  if (occupied.empty() || empty.empty()) return FlipBytes(b);
  const std::uint64_t i = occupied[Below(occupied.size())];
  const std::uint64_t v = Get64(b, slot_at(i));
  std::string what;
  switch (Below(8)) {
    case 7: {
      // New records appended and indexed as the store would (their tags from
      // the seed in the header) until no slot is empty: a lookup of an absent
      // key then never meets an empty slot.
      std::uint64_t end = l.committed_end;
      std::uint64_t added = 0;
      for (std::uint64_t n = 0; n < empty.size(); ++n) {
        const std::string key = "fuzz-fill-" + std::to_string(n);
        const std::uint64_t size = RecordSize(key.size(), 1);
        if (end + size > l.data_capacity || kHeaderSize + end + size > b.size()) break;
        std::string record(size, '\0');
        Set32(record, 4, 1);
        Set32(record, 8, static_cast<std::uint32_t>(key.size()));
        Set32(record, 12, 1);
        record.replace(16, key.size(), key);
        record[16 + key.size()] = 'f';
        b.replace(kHeaderSize + end, size, record);
        ResealRecordAt(b, kHeaderSize + end, l.epoch);
        const std::uint64_t tag = TagOf(key, l.seed);
        std::uint64_t j = tag >> (28 - l.index_log2);
        while (Get64(b, slot_at(j)) != 0) j = (j + 1) & (l.index_slots - 1);
        Set64(b, slot_at(j), (tag << 36) | (end / 8 + 1));
        end += size;
        ++added;
      }
      Set64(b, kCommitted, Encode(end / 8));
      what = std::to_string(added) + " new keys appended and indexed, " + std::to_string(empty.size() - added) +
             " slots left empty";
      break;
    }
    case 0: {
      // The same slot value again where a probe from its home reaches it: two slots for one key.
      std::uint64_t j = i;
      while (Get64(b, slot_at(j)) != 0) j = (j + 1) & (l.index_slots - 1);
      Set64(b, slot_at(j), v);
      what = "index slot " + std::to_string(i) + " duplicated at " + std::to_string(j);
      break;
    }
    case 1: {
      const std::uint64_t j = empty[Below(empty.size())];
      Set64(b, slot_at(j), v);
      Set64(b, slot_at(i), 0);
      what = "index slot " + std::to_string(i) + " moved to " + std::to_string(j);
      break;
    }
    case 2:
      Set64(b, slot_at(i), 0);
      what = "index slot " + std::to_string(i) + " emptied";
      break;
    case 3: {
      // Pointed at another record, with that record's true tag (the seed is in the header).
      if (l.records.empty()) return FlipBytes(b);
      const std::uint64_t record = l.records[Below(l.records.size())];
      const std::optional<RecordView> r = RecordAt(b, kHeaderSize + record);
      if (!r) return FlipBytes(b);
      const std::uint64_t tag = Below(2) == 0 ? TagOf(KeyAt(b, *r), l.seed) : v >> 36;
      Set64(b, slot_at(i), (tag << 36) | (record / 8 + 1));
      what = "index slot " + std::to_string(i) + " pointed at the record at " + std::to_string(record);
      break;
    }
    case 4: {
      const std::uint64_t field = Pick<std::uint64_t>(
          rng_, {0, 1, l.committed_end / 8, l.committed_end / 8 + 1, (v & kOffsetMask) + 1, kOffsetMask});
      Set64(b, slot_at(i), (v & ~kOffsetMask) | (field & kOffsetMask));
      what = "index slot " + std::to_string(i) + " offset field = " + std::to_string(field & kOffsetMask);
      break;
    }
    case 5:
      // Every slot occupied: a probe for an absent key never meets an empty one.
      for (const std::uint64_t j : empty) Set64(b, slot_at(j), Get64(b, slot_at(occupied[Below(occupied.size())])));
      what = "every empty index slot filled with a copy of an occupied one";
      break;
    default:
      Set64(b, slot_at(i), v ^ (std::uint64_t{1} << (36 + Below(28))));
      what = "index slot " + std::to_string(i) + " tag bit flipped";
      break;
  }
  return what;
}

std::string Mutator::MutateSize(std::string& b) {
  const Layout l = Parse(b);
  const std::uint64_t record = l.records.empty() ? 0 : l.records[Below(l.records.size())];
  std::uint64_t size = Pick<std::uint64_t>(
      rng_, {0, 8, kHeaderSize - 1, kHeaderSize, kHeaderSize + 8, kHeaderSize + record, kHeaderSize + record + 8,
             kHeaderSize + l.committed_end, kHeaderSize + l.committed_end + 4, kHeaderSize + l.data_capacity,
             kHeaderSize + l.data_capacity + l.index_slots * 4, l.required() - 1, l.required() - 8, b.size() + 1,
             b.size() + 4096, b.size() + 3 * 4096 + 8});
  size = std::min<std::uint64_t>(size, kMaxMutantSize);
  b.resize(size, '\0');
  return "file size = " + std::to_string(size);
}

std::string Mutator::FlipBytes(std::string& b) {
  if (b.empty()) {
    b.assign(1 + Below(kHeaderSize + 64), '\0');
    return "an empty file replaced by " + std::to_string(b.size()) + " zero bytes";
  }
  const Layout l = Parse(b);
  const std::uint64_t count = 1 + Below(8);
  for (std::uint64_t n = 0; n < count; ++n) {
    std::uint64_t at;
    switch (Below(4)) {
      case 0:
        at = Below(std::min<std::size_t>(b.size(), 512));
        break;
      case 1:
        at = kHeaderSize + Below(l.committed_end + 16);
        break;
      case 2:
        at = l.index_at() + Below(l.index_slots * 8);
        break;
      default:
        at = Below(b.size());
        break;
    }
    if (at >= b.size()) at = Below(b.size());
    if (Below(2) == 0) {
      b[at] = static_cast<char>(b[at] ^ (1 << Below(8)));
    } else {
      b[at] = static_cast<char>(rng_());
    }
  }
  return std::to_string(count) + " bytes changed";
}

std::string Mutator::MutateSpare(StoreFiles& files) {
  if (!files.spare) return FlipBytes(files.store);
  switch (Below(3)) {
    case 0:
      std::swap(files.store, *files.spare);
      return "the store and its spare swapped";
    case 1:
      files.spare.reset();
      return "the spare removed";
    default:
      FlipBytes(*files.spare);
      return "spare bytes changed";
  }
}

std::string Mutator::MutateOnce(StoreFiles& files) {
  std::string& b = files.store;
  switch (Below(22)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      return MutateHeaderWord(b);
    case 5:
    case 6:
      return MutateStaticField(b);
    case 7:
    case 8:
    case 9:
      return MutateJournal(b);
    case 10:
    case 11:
    case 12:
      return MutateRecord(b);
    case 13:
    case 14:
      return MoveRecords(b);
    case 15:
    case 16:
    case 17:
      return MutateIndex(b);
    case 18:
      return MutateSize(b);
    case 19:
      return FlipBytes(b);
    case 20: {
      // The clean state itself: dirty (as after a crash), clean (an index and
      // counts anyone can seal), or last opened under another boot (as after a
      // power cut: the recovery rules apply).
      switch (Below(3)) {
        case 0:
          Set64(b, kCleanCheck, 0);
          return "made dirty";
        case 1:
          ResealClean(b, true);
          return "made clean (counts from the index)";
        default:
          Set64(b, kBoot, Get64(b, kBoot) ^ 0x5A5A);
          return "boot tag of another boot";
      }
    }
    default:
      return MutateSpare(files);
  }
}

std::string Mutator::Mutate(StoreFiles& files) {
  std::string what;
  const std::uint64_t count = 1 + Below(4);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!what.empty()) what += "; ";
    what += MutateOnce(files);
  }
  std::string& b = files.store;
  if (Below(2) == 0) {
    ResealStatic(b);
    what += "; static checksum resealed";
  }
  if (Get64(b, kCleanCheck) != 0 && Below(3) != 0) {
    const bool recount = Below(2) == 0;
    ResealClean(b, recount);
    what += recount ? "; clean record resealed (counts from the index)" : "; clean record resealed";
  }
  return what;
}

void ResealAll(std::string& b) {
  const Layout l = Parse(b);
  if (!l.has_header) return;
  ResealStatic(b);
  for (const std::uint64_t offset : l.records) ResealRecordAt(b, kHeaderSize + offset, l.epoch);
  if (Get64(b, kJournalWord) != 0) ResealRecordAt(b, kJournalImage, l.epoch);
  if (Get64(b, kCleanCheck) != 0) ResealClean(b, true);
}

// ------------------------------------------------------------ the contract

namespace {

std::string Printable(std::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", static_cast<unsigned char>(c));
      out += esc;
    }
  }
  if (bytes.size() > 40) out += "...";
  return out + "\"";
}

// POSIX, except that every remap moves the mapping (and unmaps the old
// range), so a pointer kept into it across a remap is caught.
class MovingRemapFileSystem : public FileSystem {
 public:
  void* Remap(void* old_address, std::size_t old_size, std::size_t new_size) override {
    void* target = ::mmap(nullptr, new_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED) return MAP_FAILED;
    return ::mremap(old_address, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  }
};

MmapOptions Through(FileSystem* fs) {
  MmapOptions options;
  options.file_system = fs;
  return options;
}

// Runs the operations on an opened store and compares them with a model.
class Checker {
 public:
  Checker(std::string path, FileSystem* fs, std::uint64_t ops_seed) : path_(std::move(path)), fs_(fs), rng_(ops_seed) {}

  // "" when the store agrees with `model` in every way it can be asked.
  std::string Agrees(const MmapStateStore& store, const Model& model) {
    Model scanned;
    std::string error = Scan(store, scanned);
    if (!error.empty()) return error;
    if (scanned != model)
      return "the scan gives " + std::to_string(scanned.size()) + " entries, not the " + std::to_string(model.size()) +
             " expected" + FirstDifference(scanned, model);
    return Consistent(store, model);
  }

  // "" when get, contains, size, size_bytes, range and prefix_scan agree
  // with `model` (the store's own scan).
  std::string Consistent(const MmapStateStore& store, const Model& model) {
    if (store.size() != model.size()) {
      return "size() is " + std::to_string(store.size()) + ", the scan has " + std::to_string(model.size());
    }
    std::size_t bytes = 0;
    for (const auto& [k, v] : model) {
      bytes += k.size() + v.size();
      const std::optional<std::string_view> got = store.get(k);
      if (!got) return "get(" + Printable(k) + ") finds nothing, the scan has it";
      if (*got != v) return "get(" + Printable(k) + ") = " + Printable(*got) + ", the scan has " + Printable(v);
      if (!store.contains(k)) return "contains(" + Printable(k) + ") is false";
    }
    if (store.size_bytes() != bytes) {
      return "size_bytes() is " + std::to_string(store.size_bytes()) + ", the scan has " + std::to_string(bytes);
    }
    for (const std::string& absent : {std::string("fuzz-absent"), std::string(1, '\xff'), std::string("\x00\x00", 2)}) {
      if (model.count(absent) == 0 && store.get(absent)) return "get(" + Printable(absent) + ") finds an absent key";
    }
    std::vector<std::string> bounds = {"", "a", "m", "zzz", std::string(2, '\xff')};
    for (const auto& [k, v] : model) {
      if (bounds.size() > 12) break;
      if (rng_() % 3 == 0) bounds.push_back(k);
    }
    for (int n = 0; n < 3; ++n) {
      const std::string& start = bounds[rng_() % bounds.size()];
      const std::string& end = bounds[rng_() % bounds.size()];
      Model visited;
      store.range(start, end, [&](std::string_view k, std::string_view v) {
        visited.emplace(std::string(k), std::string(v));
        return true;
      });
      Model expected;
      if (start < end) expected.insert(model.lower_bound(start), model.lower_bound(end));
      if (visited != expected) return "range(" + Printable(start) + ", " + Printable(end) + ") differs from the scan";
      const std::string prefix = start.substr(0, rng_() % 3);
      Model with_prefix;
      store.prefix_scan(prefix, [&](std::string_view k, std::string_view v) {
        with_prefix.emplace(std::string(k), std::string(v));
        return true;
      });
      expected.clear();
      for (auto it = model.lower_bound(prefix); it != model.end() && it->first.starts_with(prefix); ++it) {
        expected.insert(*it);
      }
      if (with_prefix != expected) return "prefix_scan(" + Printable(prefix) + ") differs from the scan";
    }
    return {};
  }

  // The whole contract for a store that opened.
  std::string Run(std::unique_ptr<MmapStateStore>& store) {
    Model model;
    std::string error = Scan(*store, model);
    if (!error.empty()) return "after open: " + error;
    error = Consistent(*store, model);
    if (!error.empty()) return "after open: " + error;

    const std::string snapshot = store->snapshot();
    error = SnapshotHolds(snapshot, model);
    if (!error.empty()) return "snapshot after open: " + error;

    // Writes to the opened file itself: a new key, a same-size overwrite (in
    // place where the record allows), a resized one, a put of a view into
    // the mapping, deletes of a present and an absent key.
    Model written = model;
    const auto some_key = [&]() -> std::optional<std::string> {
      if (written.empty()) return std::nullopt;
      auto it = written.begin();
      std::advance(it, static_cast<long>(rng_() % written.size()));
      return it->first;
    };
    const auto put = [&](const std::string& k, const std::string& v) -> std::string {
      const Status s = store->put(k, v);
      if (!s.ok()) return "put(" + Printable(k) + ") failed: " + s.ToString();
      written[k] = v;
      return {};
    };
    std::string step = put("fuzz-new-" + std::to_string(rng_() % 1000), std::string(rng_() % 40, 'n'));
    if (step.empty()) {
      if (const auto k = some_key()) {
        std::string v = written[*k];
        for (char& c : v) c = static_cast<char>(c ^ 0x20);
        step = put(*k, v);
      }
    }
    if (step.empty()) {
      if (const auto k = some_key()) step = put(*k, written[*k] + "resized!");
    }
    if (step.empty()) {
      if (const auto k = some_key()) {
        const std::optional<std::string_view> view = store->get(*k);
        if (!view) return "get(" + Printable(*k) + ") lost the key it just wrote";
        const Status s = store->put(*k, *view);
        if (!s.ok()) step = "put of a view failed: " + s.ToString();
      }
    }
    if (step.empty()) {
      if (const auto k = some_key()) {
        const Status s = store->del(*k);
        if (!s.ok()) step = "del(" + Printable(*k) + ") failed: " + s.ToString();
        written.erase(*k);
      }
    }
    if (step.empty()) {
      const Status s = store->del("fuzz-absent");
      if (!s.ok()) step = "del of an absent key failed: " + s.ToString();
    }
    if (!step.empty()) return step;
    error = Agrees(*store, written);
    if (!error.empty()) return "after put/del: " + error;

    // The store's own snapshot restores (its contents as opened), and
    // compaction keeps whatever it holds; in either order, or neither.
    Model expected = written;
    const std::uint64_t plan = rng_() % 4;
    if (plan == 0 || plan == 1) {
      const Status s = store->restore(snapshot);
      if (!s.ok()) return "restore of the store's own snapshot failed: " + s.ToString();
      expected = model;
      error = Agrees(*store, expected);
      if (!error.empty()) return "after restore: " + error;
    }
    if (plan == 0 || plan == 2) {
      const Status s = store->compact();
      if (!s.ok()) return "compact failed: " + s.ToString();
      error = Agrees(*store, expected);
      if (!error.empty()) return "after compact: " + error;
    }
    if (rng_() % 2 == 0) {
      const Status s = store->flush();
      if (!s.ok()) return "flush failed: " + s.ToString();
    }

    // A clean close (which deletes the spare) and a reopen give the same contents.
    store.reset();
    const std::string dir = path_.substr(0, path_.rfind('/'));
    if (Entries(dir) != std::set<std::string>{"store.mmap"}) return "closing left files besides the store";
    const Status s = MmapStateStore::Open(path_, store, Through(fs_));
    if (!s.ok()) return "reopen after a clean close failed: " + s.ToString();
    error = Agrees(*store, expected);
    if (!error.empty()) return "after reopen: " + error;
    store.reset();
    return {};
  }

 private:
  static std::string Scan(const MmapStateStore& store, Model& out) {
    out.clear();
    std::string error;
    std::optional<std::string> previous;
    store.prefix_scan("", [&](std::string_view k, std::string_view v) {
      if (previous && !(*previous < k)) {
        error = "the scan is not strictly ascending at " + Printable(k);
        return false;
      }
      previous = std::string(k);
      out.emplace(std::string(k), std::string(v));
      return true;
    });
    return error;
  }

  static std::string SnapshotHolds(const std::string& blob, const Model& model) {
    SnapshotInfo info;
    const Status s = ValidateSnapshot(blob, info);
    if (!s.ok()) return "does not validate: " + s.ToString();
    Model held;
    ForEachSnapshotEntry(blob, [&](std::string_view k, std::string_view v) { held.emplace(k, v); });
    if (held != model)
      return "holds " + std::to_string(held.size()) + " entries, the scan " + std::to_string(model.size());
    return {};
  }

  static std::string FirstDifference(const Model& got, const Model& want) {
    for (const auto& [k, v] : want) {
      auto it = got.find(k);
      if (it == got.end()) return "; missing " + Printable(k);
      if (it->second != v) return "; " + Printable(k) + " = " + Printable(it->second) + ", expected " + Printable(v);
    }
    for (const auto& [k, v] : got) {
      if (want.count(k) == 0) return "; unexpected " + Printable(k);
    }
    return {};
  }

  std::string path_;
  FileSystem* fs_;
  std::mt19937_64 rng_;
};

std::string CheckOpen(const std::string& dir, const StoreFiles& files, std::uint64_t ops_seed, Outcome& outcome) {
  const std::string path = dir + "/store.mmap";
  WriteBytes(path, files.store);
  if (files.spare) WriteBytes(path + ".spare", *files.spare);
  MovingRemapFileSystem fs;
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, Through(&fs));
  outcome.opened = s.ok();
  outcome.status = s.ToString();
  if (!s.ok()) {
    if (store != nullptr) return "a failed open left a store: " + s.ToString();
    if (!s.IsCorruption() && !s.IsInvalidArgument()) return "open failed with an unexpected code: " + s.ToString();
    const std::string prefix = path + ": ";
    if (s.message().rfind(prefix, 0) != 0 || s.message().size() <= prefix.size()) {
      return "the error does not name the file and the problem: " + s.ToString();
    }
    if (ReadBytes(path) != files.store) return "the failed open changed the file: " + s.ToString();
    if (Entries(dir) != std::set<std::string>{"store.mmap"}) return "the failed open left files besides the store";
    return {};
  }
  if (Entries(dir) != std::set<std::string>{"store.mmap"}) return "open left files besides the store";
  // What Open may make of the file is bounded by what the file holds (a
  // rebuilt index may need to grow for the keys it finds), not by sizes
  // read from its header.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "the store file is gone after open";
  const std::uint64_t limit = 4 * files.store.size() + kMaxOpenGrowth;
  if (static_cast<std::uint64_t>(st.st_size) > limit || static_cast<std::uint64_t>(st.st_blocks) * 512 > limit) {
    return "open made the file of " + std::to_string(files.store.size()) + " bytes " + std::to_string(st.st_size) +
           " bytes long, " + std::to_string(st.st_blocks * 512) + " allocated";
  }
  Checker checker(path, &fs, ops_seed);
  return checker.Run(store);
}

}  // namespace

std::string CheckMutant(const std::string& dir, const StoreFiles& files, std::uint64_t ops_seed, Outcome& outcome) {
  outcome = Outcome{};
  Empty(dir);
  std::string violation;
  try {
    violation = CheckOpen(dir, files, ops_seed, outcome);
  } catch (const std::exception& e) {
    violation = std::string("exception: ") + e.what();
  }
  Empty(dir);
  return violation;
}

}  // namespace statestore::mmap_fuzz
