// Power loss: a page-subset crash model. The FileSystem seam records, at
// every msync, what of the file reached the disk (the durable image). A
// power cut at a moment after the last flush() leaves that image plus any
// subset of the 4 KiB pages written since (each page either as flushed or
// as it is now; the file's size either as synced or as it is now). Every
// such image must open (as after a reboot) to a state the store actually
// held, no earlier than the last flush.
//
// Images per scenario: 1,000 (200 under ASan/UBSan, where each open costs
// several times more), over several cut points of each scenario.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "statestore/file_system.h"
#include "statestore/inmemory_state_store.h"
#include "statestore/mmap_state_store.h"
#include "statestore/snapshot_format.h"
#include "temp_dir.h"

namespace statestore {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kImagesPerScenario = 200;
#else
constexpr int kImagesPerScenario = 1000;
#endif
constexpr std::size_t kPage = 4096;

using Model = std::map<std::string, std::string>;

std::string ReadAll(int fd, std::size_t size) {
  std::string bytes(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

// Records, per inode, the bytes and size that msync made durable.
class RecordingFileSystem : public FileSystem {
 public:
  struct Durable {
    std::string bytes;  // as of the last msync of each range
    std::size_t size = 0;
  };

  explicit RecordingFileSystem(std::uint64_t boot) : boot_(boot) {}
  std::uint64_t BootId() override { return boot_; }

  void* MapShared(int fd, std::size_t size) override {
    void* p = FileSystem::MapShared(fd, size);
    if (p != MAP_FAILED) mappings_[p] = Mapping{fd, size};
    return p;
  }
  void* Remap(void* old_address, std::size_t old_size, std::size_t new_size) override {
    void* p = FileSystem::Remap(old_address, old_size, new_size);
    if (p != MAP_FAILED) {
      const Mapping m = mappings_[old_address];
      mappings_.erase(old_address);
      mappings_[p] = Mapping{m.fd, new_size};
    }
    return p;
  }
  int Unmap(void* address, std::size_t size) override {
    mappings_.erase(address);
    return FileSystem::Unmap(address, size);
  }
  int Msync(void* address, std::size_t size, int flags) override {
    const int rc = FileSystem::Msync(address, size, flags);
    if (rc != 0) return rc;
    for (const auto& [base, m] : mappings_) {
      char* start = static_cast<char*>(base);
      char* at = static_cast<char*>(address);
      if (at < start || at >= start + m.size) continue;
      struct stat st {};
      REQUIRE(::fstat(m.fd, &st) == 0);
      Durable& d = durable_[st.st_ino];
      const std::size_t file_size = static_cast<std::size_t>(st.st_size);
      d.size = file_size;
      if (d.bytes.size() < file_size) d.bytes.resize(file_size, '\0');
      const std::size_t offset = static_cast<std::size_t>(at - start);
      if (offset >= file_size) continue;
      const std::size_t length = std::min(size, file_size - std::min(offset, file_size));
      const std::string now = ReadAll(m.fd, file_size);
      d.bytes.replace(offset, length, now, offset, length);
    }
    return 0;
  }

  const Durable* durable(ino_t inode) const {
    auto it = durable_.find(inode);
    return it == durable_.end() ? nullptr : &it->second;
  }

 private:
  struct Mapping {
    int fd;
    std::size_t size;
  };
  std::uint64_t boot_;
  std::map<void*, Mapping> mappings_;
  std::map<ino_t, Durable> durable_;
};

Model Contents(const MmapStateStore& store) {
  Model m;
  store.for_each_with_prefix("", [&](std::string_view k, std::string_view v) {
    m.emplace(std::string(k), std::string(v));
    return true;
  });
  return m;
}

struct Tally {
  int images = 0;
  int refused = 0;       // did not open
  int inconsistent = 0;  // opened to a state that never existed (or predates the flush)
  int at_flush = 0;      // opened to the state of the last flush
  int latest = 0;        // opened to the state at the cut
};

// A store under test, its model, and the states it went through since the
// last flush (the legal outcomes of a power cut now).
class Scenario {
 public:
  explicit Scenario(const MmapOptions& base_options, std::uint64_t seed) : fs_(0xB007A), rng_(seed) {
    MmapOptions options = base_options;
    options.file_system = &fs_;
    path_ = dir_.file("store.mmap");
    REQUIRE(MmapStateStore::Open(path_, store_, options).ok());
    since_flush_.push_back(model_);
  }

  MmapStateStore& store() { return *store_; }
  const Model& model() const { return model_; }

  void Put(const std::string& key, const std::string& value) {
    REQUIRE(store_->put(key, value).ok());
    model_[key] = value;
    since_flush_.push_back(model_);
  }
  void Del(const std::string& key) {
    REQUIRE(store_->del(key).ok());
    model_.erase(key);
    since_flush_.push_back(model_);
  }
  void Flush() {
    REQUIRE(store_->flush().ok());
    since_flush_.assign(1, model_);
  }
  void Compact() {
    REQUIRE(store_->compact().ok());
    since_flush_.push_back(model_);
  }
  void Restore(const std::string& blob, const Model& restored) {
    REQUIRE(store_->restore(blob).ok());
    model_ = restored;
    since_flush_.push_back(model_);
  }
  void Clear() {
    REQUIRE(store_->clear().ok());
    model_.clear();
    since_flush_.push_back(model_);
  }
  void Close() { store_.reset(); }

  // A mix of writes: new keys, same-size overwrites (in place when the
  // record was written since the flush), resized overwrites and deletes.
  void RandomWrites(int count, int key_space) {
    for (int i = 0; i < count; ++i) {
      const std::string key = "key-" + std::to_string(rng_() % static_cast<unsigned>(key_space));
      const unsigned kind = rng_() % 10;
      if (kind < 2 && model_.count(key) != 0) {
        Del(key);
      } else if (kind < 6 && model_.count(key) != 0) {
        std::string value = model_[key];
        for (char& c : value) c = static_cast<char>('a' + rng_() % 26);
        Put(key, value);  // same length: same record size
      } else {
        Put(key, std::string(8 + rng_() % 60, static_cast<char>('A' + rng_() % 26)));
      }
    }
  }

  // Builds `images` power-cut images of the file as it is now and checks
  // each opens to a legal state.
  void CutPower(int images, Tally& tally) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    const std::string now = ReadAll(fd, static_cast<std::size_t>(st.st_size));
    ::close(fd);
    const RecordingFileSystem::Durable* durable = fs_.durable(st.st_ino);
    REQUIRE(durable != nullptr);  // creation, compaction and restore sync the file they make
    const std::size_t longest = std::max(now.size(), durable->size);
    std::vector<std::size_t> dirty;
    for (std::size_t page = 0; page * kPage < longest; ++page) {
      const std::size_t at = page * kPage;
      const auto slice = [&](const std::string& bytes, std::size_t size) {
        if (at >= size) return std::string();
        return bytes.substr(at, std::min(kPage, size - at));
      };
      if (slice(now, now.size()) != slice(durable->bytes, durable->size)) dirty.push_back(page);
    }
    RecordingFileSystem rebooted(0x2EB007);  // a different boot: the page cache was lost
    const std::string image_path = dir_.file("image.mmap");
    for (int i = 0; i < images; ++i) {
      const double keep = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
      std::string image = durable->bytes.substr(0, durable->size);
      const std::size_t size = (rng_() & 1) != 0 ? now.size() : durable->size;
      image.resize(longest, '\0');
      for (const std::size_t page : dirty) {
        if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) >= keep) continue;
        const std::size_t at = page * kPage;
        if (at < now.size())
          image.replace(at, std::min(kPage, now.size() - at), now, at, std::min(kPage, now.size() - at));
      }
      image.resize(size);
      {
        std::FILE* out = std::fopen(image_path.c_str(), "wb");
        REQUIRE(out != nullptr);
        REQUIRE(std::fwrite(image.data(), 1, image.size(), out) == image.size());
        std::fclose(out);
      }
      ++tally.images;
      std::unique_ptr<MmapStateStore> opened;
      MmapOptions options;
      options.file_system = &rebooted;
      const Status s = MmapStateStore::Open(image_path, opened, options);
      if (!s.ok()) {
        ++tally.refused;
        UNSCOPED_INFO("refused: " << s.ToString());
        continue;
      }
      const Model got = Contents(*opened);
      bool legal = false;
      for (const Model& state : since_flush_) legal = legal || got == state;
      if (!legal) {
        ++tally.inconsistent;
        continue;
      }
      tally.at_flush += got == since_flush_.front();
      tally.latest += got == since_flush_.back();
      // The recovered store is usable: a write and a clean reopen.
      REQUIRE(opened->put("after-recovery", "x").ok());
      opened.reset();
      REQUIRE(MmapStateStore::Open(image_path, opened, options).ok());
      CHECK(opened->get("after-recovery") == std::optional<std::string_view>("x"));
    }
    std::filesystem::remove(image_path);
  }

 private:
  // On tmpfs when there is one: the model, not the disk, decides what
  // survives, and recovery's msync then costs no disk write.
  TempDir dir_{"mmap_powercut_test", {"/dev/shm", "/tmp"}};
  RecordingFileSystem fs_;
  std::mt19937_64 rng_;
  std::string path_;
  std::unique_ptr<MmapStateStore> store_;
  Model model_;
  std::vector<Model> since_flush_;
};

MmapOptions Small() {
  MmapOptions options;
  options.initial_index_slots = 256;
  options.initial_data_bytes = 16 * 1024;
  options.hash_seed = 0x5EED;
  return options;
}

void Report(const char* scenario, const Tally& t) {
  std::printf("power cut: %-34s %4d images: %d refused, %d inconsistent; %d at the flush, %d latest, %d between\n",
              scenario, t.images, t.refused, t.inconsistent, t.at_flush, t.latest,
              t.images - t.refused - t.inconsistent - t.at_flush - t.latest);
  CHECK(t.images == kImagesPerScenario);
  CHECK(t.refused == 0);
  CHECK(t.inconsistent == 0);
}

TEST_CASE("a power cut after a flush with later writes opens to a state no earlier than the flush", "[powercut]") {
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    Scenario s(Small(), 100 + cut);
    s.RandomWrites(80, 60);
    s.Flush();
    s.RandomWrites(10 + 20 * cut, 60);
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("after flush, later writes", tally);
}

TEST_CASE("a power cut after a clean close without flush opens to a state no earlier than the flush", "[powercut]") {
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    Scenario s(Small(), 200 + cut);
    s.RandomWrites(80, 60);
    s.Flush();
    s.RandomWrites(30, 60);
    s.Close();
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("clean close without flush", tally);
}

TEST_CASE("a power cut while the file grows opens to a state no earlier than the flush", "[powercut]") {
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    MmapOptions tiny = Small();
    tiny.initial_index_slots = 8;
    tiny.initial_data_bytes = 64;
    Scenario s(tiny, 300 + cut);
    s.RandomWrites(30, 30);
    s.Flush();
    // New keys: the data region and the index grow several times.
    for (int i = 0; i < 100 + 60 * cut; ++i) s.Put("grown-" + std::to_string(i), std::string(40, 'g'));
    s.RandomWrites(20, 30);
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("growth", tally);
}

TEST_CASE("a power cut around a compaction opens to a state no earlier than the flush", "[powercut]") {
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    Scenario s(Small(), 400 + cut);
    s.RandomWrites(100, 50);
    s.Flush();
    s.RandomWrites(30, 50);
    s.Compact();
    s.RandomWrites(10 * cut, 50);
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("compaction", tally);
}

TEST_CASE("a power cut around a restore opens to a state no earlier than the flush", "[powercut]") {
  InMemoryStateStore source;
  Model restored;
  for (int i = 0; i < 70; ++i) {
    const std::string key = "key-" + std::to_string(i * 3);
    REQUIRE(source.put(key, std::string(10 + i % 30, 'r')).ok());
    restored[key] = std::string(10 + i % 30, 'r');
  }
  const std::string blob = source.snapshot();
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    Scenario s(Small(), 500 + cut);
    s.RandomWrites(60, 50);
    s.Flush();
    s.RandomWrites(20, 50);
    s.Restore(blob, restored);
    s.RandomWrites(10 * cut, 220);
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("restore", tally);
}

TEST_CASE("a power cut after a flushed store is cleared opens to a state no earlier than the flush", "[powercut]") {
  Tally tally;
  for (int cut = 0; cut < 4; ++cut) {
    Scenario s(Small(), 600 + cut);
    s.RandomWrites(80, 60);
    s.Flush();
    s.RandomWrites(10, 60);
    s.Clear();
    s.RandomWrites(10 + 10 * cut, 60);
    s.CutPower(kImagesPerScenario / 4, tally);
  }
  Report("clear after flush", tally);
}

}  // namespace
}  // namespace statestore
