// Fault injection (LevelDB's fault_injection_test, through the FileSystem
// seam): every operating-system call that growth, compaction, restore (also
// when they rewrite the spare file the previous one kept), creation, flush
// and an open recovering another boot's file make is failed in turn. Each
// failure must surface as IOError (or be absorbed, for the best-effort
// calls), leave the store unchanged and usable, and a clean close and
// reopen must give the same contents. Remaps are forced to move the
// mapping, so a pointer left into the old one is caught (by ASan in the
// sanitizer build, by a wrong answer otherwise).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "statestore/file_system.h"
#include "statestore/inmemory_state_store.h"
#include "statestore/internal/mmap_format.h"
#include "statestore/mmap_state_store.h"
#include "statestore/snapshot_format.h"
#include "temp_dir.h"

namespace statestore {
namespace {

using Model = std::map<std::string, std::string>;

// Fails the call numbered `fail_at` (counted from Arm) with an errno fitting
// the call; forwards everything else to POSIX. Remap always moves.
class FaultInjectingFileSystem : public FileSystem {
 public:
  void Arm(long fail_at) {
    calls_ = 0;
    fail_at_ = fail_at;
    failed_call_.clear();
  }
  void Disarm() { fail_at_ = -1; }
  bool failed() const { return !failed_call_.empty(); }
  const std::string& failed_call() const { return failed_call_; }
  // Files created as `<path>.rewrite`: a restore or compact that reuses the
  // spare creates none.
  int rewrite_files_created() const { return rewrite_files_created_; }
  // The boot the store sees (0: the running one). Another boot's file is
  // recovered as after a power cut.
  void set_boot(std::uint64_t boot) { boot_ = boot; }

  int Open(const char* path, int flags, mode_t mode) override {
    if (Fail("open", EACCES)) return -1;
    const std::string_view name(path);
    if ((flags & O_CREAT) != 0 && name.ends_with(".rewrite")) ++rewrite_files_created_;
    return FileSystem::Open(path, flags, mode);
  }
  std::uint64_t BootId() override { return boot_ != 0 ? boot_ : FileSystem::BootId(); }
  int Flock(int fd, int operation) override { return Fail("flock", ENOLCK) ? -1 : FileSystem::Flock(fd, operation); }
  int Fstat(int fd, struct stat* out) override { return Fail("fstat", EIO) ? -1 : FileSystem::Fstat(fd, out); }
  int Ftruncate(int fd, off_t size) override { return Fail("ftruncate", EFBIG) ? -1 : FileSystem::Ftruncate(fd, size); }
  int Fsync(int fd) override { return Fail("fsync", EIO) ? -1 : FileSystem::Fsync(fd); }
  void* MapShared(int fd, std::size_t size) override {
    return Fail("mmap", ENOMEM) ? MAP_FAILED : FileSystem::MapShared(fd, size);
  }
  void* Remap(void* old_address, std::size_t old_size, std::size_t new_size) override {
    if (Fail("mremap", ENOMEM)) return MAP_FAILED;
    // Move the mapping every time: reserve a fresh range, then remap onto it.
    void* target = ::mmap(nullptr, new_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED) return MAP_FAILED;
    return ::mremap(old_address, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  }
  int Madvise(void* address, std::size_t size, int advice) override {
    return Fail(advice == MADV_HUGEPAGE ? "madvise(HUGEPAGE)" : "madvise(POPULATE_WRITE)", ENOSPC)
               ? -1
               : FileSystem::Madvise(address, size, advice);
  }
  int Msync(void* address, std::size_t size, int flags) override {
    return Fail("msync", EIO) ? -1 : FileSystem::Msync(address, size, flags);
  }
  int Rename(const char* from, const char* to) override {
    return Fail("rename", ENOSPC) ? -1 : FileSystem::Rename(from, to);
  }
  int Link(const char* from, const char* to, int flags) override {
    return Fail("link", ENOSPC) ? -1 : FileSystem::Link(from, to, flags);
  }

 private:
  bool Fail(const char* call, int err) {
    if (fail_at_ < 0 || calls_++ != fail_at_) return false;
    failed_call_ = call;
    errno = err;
    return true;
  }

  long calls_ = 0;
  long fail_at_ = -1;
  std::string failed_call_;
  int rewrite_files_created_ = 0;
  std::uint64_t boot_ = 0;
};

Model Contents(const MmapStateStore& store) {
  Model m;
  store.for_each_with_prefix("", [&](std::string_view k, std::string_view v) {
    m.emplace(std::string(k), std::string(v));
    return true;
  });
  REQUIRE(m.size() == store.size());
  return m;
}

MmapOptions Tiny(FileSystem* fs) {
  MmapOptions options;
  options.initial_index_slots = 8;
  options.initial_data_bytes = 64;
  options.hash_seed = 0x5EED;
  options.file_system = fs;
  return options;
}

// A store holding `model`, with dead records behind it (overwrites of other
// sizes and deletes), built through `fs` (unarmed).
std::unique_ptr<MmapStateStore> Build(const std::string& path, FileSystem* fs, Model& model) {
  std::unique_ptr<MmapStateStore> store;
  REQUIRE(MmapStateStore::Open(path, store, Tiny(fs)).ok());
  for (int i = 0; i < 5; ++i) {
    const std::string key = std::string("key-").append(1, static_cast<char>('0' + i));
    const std::string value = std::string("v").append(1, static_cast<char>('0' + i));
    REQUIRE(store->put(key, std::string(20 + i, 'a')).ok());
    REQUIRE(store->put(key, value).ok());  // another size: a dead record
    model[key] = value;
  }
  REQUIRE(store->del("key-4").ok());
  model.erase("key-4");
  return store;
}

struct Trials {
  int failed_calls = 0;
  int absorbed = 0;  // best-effort calls whose failure the store tolerates
};

// What a FailEachCall run prepares before failing calls of its operation.
struct Preparation {
  // Run on the built store before the calls are counted (say, a compaction
  // that leaves a spare for the operation to reuse).
  std::function<Status(MmapStateStore&)> step;
  // Calls whose failure the operation may absorb besides the best-effort
  // ones every operation may (a failed reuse of the spare falls back to a
  // new file).
  std::set<std::string> absorbable;
  // The operation, when no call fails, reuses the spare instead of creating
  // a `.rewrite` file.
  bool reuses_spare = false;
};

// Fails each call of `op` in turn on a freshly built store. `expected_after`
// is the contents once `op` succeeded.
Trials FailEachCall(const std::function<Status(MmapStateStore&)>& op, const std::function<void(Model&)>& apply_to_model,
                    const Preparation& preparation = {}) {
  Trials trials;
  for (long fail_at = 0;; ++fail_at) {
    REQUIRE(fail_at < 200);
    TempDir dir("mmap_fault_test");
    const std::string path = dir.file("store.mmap");
    FaultInjectingFileSystem fs;
    Model model;
    std::unique_ptr<MmapStateStore> store = Build(path, &fs, model);
    if (preparation.step) {
      REQUIRE(preparation.step(*store).ok());
      REQUIRE(Contents(*store) == model);
    }
    Model after = model;
    apply_to_model(after);

    const int rewrite_files_before = fs.rewrite_files_created();
    fs.Arm(fail_at);
    const Status s = op(*store);
    fs.Disarm();
    if (!fs.failed()) {
      REQUIRE(s.ok());
      CHECK(Contents(*store) == after);
      if (preparation.reuses_spare) CHECK(fs.rewrite_files_created() == rewrite_files_before);
      break;  // every call has been failed once
    }
    INFO("failing call " << fail_at << " (" << fs.failed_call() << "): " << s.ToString());
    ++trials.failed_calls;
    if (s.ok()) {
      // Only a best-effort call may fail without an error: the huge-page
      // advice, the directory sync after a rename that already happened
      // (the store holds the new contents; the next flush() retries it), or
      // keeping the replaced file as the spare (link, rename; the reopen
      // below shows the new contents are the file's).
      INFO("absorbed");
      CHECK((fs.failed_call() == "madvise(HUGEPAGE)" || fs.failed_call() == "open" || fs.failed_call() == "fsync" ||
             fs.failed_call() == "link" || fs.failed_call() == "rename" ||
             preparation.absorbable.count(fs.failed_call()) != 0));
      ++trials.absorbed;
      model = after;
      CHECK(store->flush().ok());
    } else {
      CHECK(s.IsIOError());
      CHECK(s.message().find(path) == 0);
    }
    // Unchanged (or, for an absorbed failure, done) and usable.
    CHECK(Contents(*store) == model);
    REQUIRE(store->put("probe", "after the failure").ok());
    CHECK(store->get("probe") == std::optional<std::string_view>("after the failure"));
    REQUIRE(store->del("probe").ok());
    CHECK(Contents(*store) == model);
    // Besides the store, at most the spare a restore or compact keeps.
    std::set<std::string> entries = dir.entries();
    entries.erase("store.mmap.spare");
    CHECK(entries == std::set<std::string>{"store.mmap"});
    // A clean close (which deletes the spare) and reopen (plain POSIX) give
    // the same contents.
    store.reset();
    CHECK(dir.entries() == std::set<std::string>{"store.mmap"});
    REQUIRE(MmapStateStore::Open(path, store).ok());
    CHECK(Contents(*store) == model);
  }
  return trials;
}

TEST_CASE("every failing call during growth leaves the store unchanged and usable", "[fault]") {
  // Enough new keys that both the data region and the index grow, moving
  // the mapping each time.
  std::vector<std::pair<std::string, std::string>> puts;
  for (int i = 0; i < 40; ++i) puts.emplace_back("grow-" + std::to_string(i), std::string(100, 'g'));
  const Trials trials = FailEachCall(
      [&](MmapStateStore& store) {
        for (const auto& [k, v] : puts) {
          Status s = store.put(k, v);
          if (!s.ok()) {
            // Undo the puts that went through, so "unchanged" means the
            // state before the batch; each put is its own unit.
            for (const auto& [done, unused] : puts) {
              if (done == k) break;
              REQUIRE(store.del(done).ok());
            }
            return s;
          }
        }
        return Status::OK();
      },
      [&](Model& m) {
        for (const auto& [k, v] : puts) m[k] = v;
      });
  std::printf("fault: growth: %d calls failed in turn, %d absorbed (best effort)\n", trials.failed_calls,
              trials.absorbed);
  CHECK(trials.failed_calls >= 10);
}

TEST_CASE("every failing call during compaction leaves the store unchanged and usable", "[fault]") {
  const Trials trials = FailEachCall([](MmapStateStore& store) { return store.compact(); }, [](Model&) {});
  std::printf("fault: compact: %d calls failed in turn, %d absorbed\n", trials.failed_calls, trials.absorbed);
  CHECK(trials.failed_calls >= 8);
}

TEST_CASE("every failing call during restore leaves the store unchanged and usable", "[fault]") {
  InMemoryStateStore source;
  Model restored;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "restored-" + std::to_string(1000 + i);
    REQUIRE(source.put(key, std::string(i, 'r')).ok());
    restored[key] = std::string(i, 'r');
  }
  const std::string blob = source.snapshot();
  const Trials trials =
      FailEachCall([&](MmapStateStore& store) { return store.restore(blob); }, [&](Model& m) { m = restored; });
  std::printf("fault: restore: %d calls failed in turn, %d absorbed\n", trials.failed_calls, trials.absorbed);
  CHECK(trials.failed_calls >= 8);
}

// restore() and compact() keep the file they replace as `<path>.spare` and
// rewrite it in place the next time: empty it (resized when the new store
// needs another size), fill it, sync it, rename it over the path.
// After one compaction the spare is the built store's file, of another
// size than the compacted one (the reuse resizes it); after two it has the
// compacted store's size.
const Preparation kAfterCompaction = {
    [](MmapStateStore& store) { return store.compact(); },
    // Emptying the spare (resize, remap, prefault) failed: a new file instead.
    {"ftruncate", "mremap", "madvise(POPULATE_WRITE)"},
    true,
};
const Preparation kAfterTwoCompactions = {
    [](MmapStateStore& store) {
      Status s = store.compact();
      return s.ok() ? store.compact() : s;
    },
    {"ftruncate", "mremap", "madvise(POPULATE_WRITE)"},
    true,
};

TEST_CASE("every failing call during a compaction that reuses the spare leaves the store unchanged and usable",
          "[fault]") {
  const auto compact = [](MmapStateStore& store) { return store.compact(); };
  const Trials resized = FailEachCall(
      compact, [](Model&) {}, kAfterCompaction);
  const Trials same_size = FailEachCall(
      compact, [](Model&) {}, kAfterTwoCompactions);
  std::printf("fault: compact into the spare: %d calls failed in turn (%d absorbed) resizing it, %d (%d) at its size\n",
              resized.failed_calls, resized.absorbed, same_size.failed_calls, same_size.absorbed);
  // Resizing: ftruncate, mremap and the huge-page advice more than at its size.
  CHECK(resized.failed_calls >= same_size.failed_calls + 3);
  CHECK(same_size.failed_calls >= 5);
}

TEST_CASE(
    "every failing call during a restore that reuses and resizes the spare leaves the store unchanged and "
    "usable",
    "[fault]") {
  InMemoryStateStore source;
  Model restored;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "restored-" + std::to_string(1000 + i);
    REQUIRE(source.put(key, std::string(i % 50, 'r')).ok());
    restored[key] = std::string(i % 50, 'r');
  }
  const std::string blob = source.snapshot();
  const Trials trials = FailEachCall([&](MmapStateStore& store) { return store.restore(blob); },
                                     [&](Model& m) { m = restored; }, kAfterCompaction);
  std::printf("fault: restore into the resized spare: %d calls failed in turn, %d absorbed\n", trials.failed_calls,
              trials.absorbed);
  CHECK(trials.failed_calls >= 8);
}

TEST_CASE("every failing call during flush returns IOError and leaves the store unchanged", "[fault]") {
  const Trials trials = FailEachCall([](MmapStateStore& store) { return store.flush(); }, [](Model&) {});
  CHECK(trials.failed_calls >= 1);
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

TEST_CASE("an open whose index rebuild grows the index past the mapping reads the records at their new place",
          "[fault]") {
  // A crash-left file whose geometry puts a small index at the very end of
  // the file (the data region taking the rest): rebuilding the index for
  // the keys the records hold grows it past the file, and the remap moves
  // the mapping. Found by the structured mutation suite (mmap_fuzz_test):
  // the rebuild kept reading the record it was at through the old mapping.
  TempDir dir("mmap_fault_test");
  const std::string path = dir.file("store.mmap");
  FaultInjectingFileSystem fs;
  Model model;
  std::string image;
  {
    std::unique_ptr<MmapStateStore> store = Build(path, &fs, model);
    for (int i = 0; i < 6; ++i) {
      const std::string key = "more-" + std::to_string(i);
      REQUIRE(store->put(key, "m").ok());
      model[key] = "m";
    }
    image = ReadFile(path);  // as a SIGKILL now would leave it: dirty
  }
  constexpr std::uint64_t kSlots = 8;
  const std::uint64_t data_capacity = image.size() - 4096 - kSlots * 8;
  const std::uint64_t geometry = mmap_internal::EncodeCheckedWord((data_capacity / 8) | (std::uint64_t{3} << 40));
  std::memcpy(image.data() + 64, &geometry, 8);
  REQUIRE(model.size() * 10 > kSlots * 7);  // more keys than 8 slots may hold: the rebuild grows the index
  WriteFile(path, image);
  std::unique_ptr<MmapStateStore> store;
  const Status s = MmapStateStore::Open(path, store, Tiny(&fs));
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(Contents(*store) == model);
  store.reset();
  REQUIRE(MmapStateStore::Open(path, store, Tiny(&fs)).ok());
  CHECK(Contents(*store) == model);
}

TEST_CASE(
    "every failing call while open recovers a file from another boot returns IOError, and a later open "
    "recovers it",
    "[fault]") {
  // A power cut while the file grew: the header page (the new geometry, the
  // committed end past the flush) reached the disk, the file's new size did
  // not. Open must drop the lost tail, give the file a geometry it holds and
  // rebuild the index; whichever call of that fails, a later open must still
  // recover the flushed state.
  TempDir dir("mmap_fault_test");
  const std::string path = dir.file("store.mmap");
  Model flushed;
  std::string image;
  {
    std::unique_ptr<MmapStateStore> store;
    REQUIRE(MmapStateStore::Open(path, store, Tiny(nullptr)).ok());
    for (int i = 0; i < 10; ++i) {
      const std::string key = "flushed-" + std::to_string(i);
      REQUIRE(store->put(key, "v").ok());
      flushed[key] = "v";
    }
    REQUIRE(store->flush().ok());
    const std::size_t size_at_flush = std::filesystem::file_size(path);
    for (int i = 0; i < 100; ++i) REQUIRE(store->put("grown-" + std::to_string(i), std::string(40, 'g')).ok());
    image = ReadFile(path);  // as the page cache holds it, not closed
    REQUIRE(image.size() > size_at_flush + 4096);
    image.resize(size_at_flush);
  }
  int failed_calls = 0;
  for (long fail_at = 0;; ++fail_at) {
    REQUIRE(fail_at < 200);
    WriteFile(path, image);
    FaultInjectingFileSystem fs;
    fs.set_boot(0xB007ED);  // the file's boot tag is the running boot's: this is another
    std::unique_ptr<MmapStateStore> store;
    fs.Arm(fail_at);
    const Status s = MmapStateStore::Open(path, store, Tiny(&fs));
    fs.Disarm();
    if (!fs.failed()) {
      REQUIRE(s.ok());
      CHECK(Contents(*store) == flushed);
      break;
    }
    ++failed_calls;
    INFO("failing call " << fail_at << " (" << fs.failed_call() << "): " << s.ToString());
    if (s.ok()) {
      CHECK(fs.failed_call() == "madvise(HUGEPAGE)");
    } else {
      CHECK(s.IsIOError());
      CHECK(s.message().rfind(path + ": ", 0) == 0);
      CHECK(store == nullptr);
      // A later open, in the same boot with nothing failing, recovers it.
      const Status again = MmapStateStore::Open(path, store, Tiny(&fs));
      INFO("the later open: " << again.ToString());
      REQUIRE(again.ok());
    }
    CHECK(Contents(*store) == flushed);
    REQUIRE(store->put("probe", "after the failure").ok());
    store.reset();
    REQUIRE(MmapStateStore::Open(path, store, Tiny(&fs)).ok());
    Model with_probe = flushed;
    with_probe["probe"] = "after the failure";
    CHECK(Contents(*store) == with_probe);
  }
  std::printf("fault: recovering open: %d calls failed in turn\n", failed_calls);
  CHECK(failed_calls >= 6);
}

TEST_CASE("every failing call during creation returns IOError and leaves nothing behind", "[fault]") {
  int failed_calls = 0;
  for (long fail_at = 0;; ++fail_at) {
    REQUIRE(fail_at < 200);
    TempDir dir("mmap_fault_test");
    const std::string path = dir.file("new.mmap");
    FaultInjectingFileSystem fs;
    std::unique_ptr<MmapStateStore> store;
    fs.Arm(fail_at);
    const Status s = MmapStateStore::Open(path, store, Tiny(&fs));
    fs.Disarm();
    if (!fs.failed()) {
      REQUIRE(s.ok());
      break;
    }
    ++failed_calls;
    INFO("failing call " << fail_at << " (" << fs.failed_call() << "): " << s.ToString());
    if (s.ok()) {
      CHECK(fs.failed_call() == "madvise(HUGEPAGE)");
      CHECK(dir.entries() == std::set<std::string>{"new.mmap"});
      continue;
    }
    CHECK(s.IsIOError());
    CHECK(s.message().rfind(path + ": ", 0) == 0);
    CHECK(store == nullptr);
    CHECK(dir.entries().empty());
    // The path is free for a later, successful creation.
    REQUIRE(MmapStateStore::Open(path, store, Tiny(&fs)).ok());
    REQUIRE(store->put("k", "v").ok());
  }
  std::printf("fault: create: %d calls failed in turn\n", failed_calls);
  CHECK(failed_calls >= 6);
}

}  // namespace
}  // namespace statestore
