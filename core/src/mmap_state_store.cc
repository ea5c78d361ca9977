// MmapStateStore. File format and the crash-safety argument:
// core/doc/mmap_format.md. Summary of the write order a put() follows:
//   1. grow (if needed): extend the file, remap, build the index at its new
//      place, then publish the new geometry word (one atomic store);
//   2. write the record (with its checksum) past the committed end;
//   3. publish it: one atomic release store of the committed-end word;
//   4. update the on-file hash index and the in-memory ordered index.
// The on-file index is trusted only after a clean close (its checksum is in
// the clean-close record); after a crash Open() rebuilds it from the log.
// An overwrite whose record keeps its size is instead done in place through
// the redo journal in the header page (see OverwriteInPlace), so the spec's
// overwrite-heavy put loop does not grow the file.

#include "statestore/mmap_state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "statestore/internal/mmap_format.h"
#include "statestore/snapshot_format.h"

namespace statestore {
namespace mmap_internal {
namespace {

using byte_io::StoreU32;
using byte_io::StoreU64;

// Stores a header word so that, in the file, it lands after every store the
// program made before it and before every store made after it. For SIGKILL
// only program order matters (a killed process loses no store it executed;
// the page cache outlives it), so the release store plus a compiler-only
// fence suffice: the fence stops the compiler hoisting later stores (say, a
// record written past an old capacity or over a cleared log) above the word.
void Publish(char* base, std::size_t offset, std::uint64_t value) {
  std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base + offset))
      .store(value, std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// Seeded by the log epoch (0 for a log never cleared: plain XXH3-64).
std::uint32_t RecordChecksum(const char* record, std::uint64_t key_len, std::uint64_t value_len, std::uint64_t epoch) {
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(record + 4, 12 + key_len + value_len, epoch));
}

// Writes a complete record (checksum last) at `record`.
void WriteRecordImage(char* record, std::uint32_t type, std::string_view key, std::string_view value,
                      std::uint64_t epoch) {
  StoreU32(record + 4, type);
  StoreU32(record + 8, static_cast<std::uint32_t>(key.size()));
  StoreU32(record + 12, static_cast<std::uint32_t>(value.size()));
  if (!key.empty()) std::memcpy(record + kRecordHeaderSize, key.data(), key.size());
  if (!value.empty()) std::memcpy(record + kRecordHeaderSize + key.size(), value.data(), value.size());
  StoreU32(record, RecordChecksum(record, key.size(), value.size(), epoch));
}

// Copies the record image at `image` over `record` (same RecordSize) and
// zeroes the padding, which may have held the tail of a longer old value.
void CopyRecordImage(char* record, const char* image) {
  const std::uint64_t used = kRecordHeaderSize + LoadU32(image + 8) + LoadU32(image + 12);
  std::memcpy(record, image, used);
  const std::uint64_t padding = LogRecordSize(LoadU32(image + 8), LoadU32(image + 12)) - used;
  if (padding != 0) std::memset(record + used, 0, padding);
}

std::string ErrnoText(int err) { return std::strerror(err); }

// The file behind `path` after following symbolic links, so compact() and
// restore() replace the file itself, not a link to it.
std::string ResolvedPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return path;
  std::string out(resolved);
  std::free(resolved);
  return out;
}

std::string DirectoryOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Removes `<path>.creating.<pid>` files whose creator is gone. A creator
// holds an exclusive flock on its file from open() to unlink(), so a file we
// can lock is abandoned (a dead pid, or a pid since reused, alike).
void RemoveAbandonedCreations(FileSystem* fs, const std::string& path) {
  const std::string directory = DirectoryOf(path);
  const std::size_t slash = path.rfind('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".creating.";
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (!name.starts_with(prefix) || name.size() == prefix.size()) continue;
    if (name.substr(prefix.size()).find_first_not_of("0123456789") != std::string_view::npos) continue;
    const std::string leftover = directory + "/" + std::string(name);
    const int fd = fs->Open(leftover.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) continue;
    if (fs->Flock(fd, LOCK_EX | LOCK_NB) == 0) fs->Unlink(leftover.c_str());
    fs->Close(fd);
  }
  ::closedir(dir);
}

}  // namespace

std::uint64_t CleanCloseCheck(const char* header_page) {
  const std::uint64_t seed = LoadU64(header_page + kGeometryOffset) ^ Mix64(LoadU64(header_page + kCommittedOffset));
  const std::uint64_t check = XXH3_64bits_withSeed(header_page + kCleanOffset, kCleanFieldsSize, seed);
  return check == 0 ? 1 : check;
}

MmapCore::MmapCore() : data_cell_(std::make_unique<const char*>(nullptr)), ordered_(OrderedLess{data_cell_.get()}) {}

MmapCore::~MmapCore() {
  DropSpare();
  if (base_ != nullptr && !discard_on_close_) MarkClean();
  CloseFile();
}

void MmapCore::CloseFile() {
  if (base_ != nullptr) fs_->Unmap(base_, mapped_size_);
  base_ = nullptr;
  if (fd_ >= 0) fs_->Close(fd_);  // releases the flock
  fd_ = -1;
}

Status MmapCore::Corrupt(std::string_view problem) const { return Status::Corruption(path_, problem); }

Status MmapCore::IoError(std::string_view what, int err) const {
  return Status::IOError(path_, std::string(what) + ": " + ErrnoText(err));
}

Status MmapCore::SyncDirectory(FileSystem* fs, const std::string& file_path, const std::string& path) {
  const std::string directory = DirectoryOf(file_path);
  const int dir_fd = fs->Open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir_fd < 0) return Status::IOError(path, "cannot open the directory " + directory + ": " + ErrnoText(errno));
  const int rc = fs->Fsync(dir_fd);
  const int err = errno;
  fs->Close(dir_fd);
  if (rc != 0) return Status::IOError(path, "cannot fsync the directory " + directory + ": " + ErrnoText(err));
  return Status::OK();
}

Status MmapCore::OpenLocked(FileSystem* fs, const std::string& path, int fd, std::unique_ptr<MmapStateStore>& out,
                            bool& replaced) {
  replaced = false;
  if (fs->Flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    fs->Close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(path, "already open (locked by another handle in this or another process)");
    }
    return Status::IOError(path, "cannot lock: " + ErrnoText(err));
  }
  struct stat by_fd {};
  struct stat by_path {};
  if (fs->Fstat(fd, &by_fd) != 0) {
    const int err = errno;
    fs->Close(fd);
    return Status::IOError(path, "cannot stat: " + ErrnoText(err));
  }
  if (!S_ISREG(by_fd.st_mode)) {
    fs->Close(fd);
    return Status::IOError(path, "not a regular file");
  }
  if (fs->Stat(path.c_str(), &by_path) != 0 || by_path.st_ino != by_fd.st_ino || by_path.st_dev != by_fd.st_dev) {
    fs->Close(fd);
    replaced = true;
    return Status::OK();
  }
  // We hold the lock, so nobody else is rewriting: a leftover is stale.
  const std::string file_path = ResolvedPath(path);
  fs->Unlink((file_path + ".rewrite").c_str());
  fs->Unlink((file_path + ".spare").c_str());
  fs->Unlink((file_path + ".spare.next").c_str());

  std::unique_ptr<MmapStateStore> store(new MmapStateStore());
  store->fs_ = fs;
  store->path_ = path;
  store->file_path_ = file_path;
  store->fd_ = fd;
  store->discard_on_close_ = true;  // until Load() succeeds
  Status s = store->Load(static_cast<std::uint64_t>(by_fd.st_size));
  if (!s.ok()) return s;
  store->discard_on_close_ = false;
  out = std::move(store);
  return Status::OK();
}

// Creates the store at `path` atomically: the empty store is built in an
// unnamed file (O_TMPFILE; a private `<path>.creating.<pid>` where the
// filesystem lacks it), synced, then linked into place, which fails if
// someone else created `path` first (`lost_race`). A crash at any point
// leaves either nothing or a complete file at `path`; with O_TMPFILE it
// leaves nothing else either (a named leftover is removed by a later Open).
Status MmapCore::CreateAtPath(FileSystem* fs, const std::string& path, const FileSpec& spec,
                              std::unique_ptr<MmapStateStore>& out, bool& lost_race) {
  lost_race = false;
  out.reset();
  const std::string directory = DirectoryOf(path);
  std::string temp_path;  // empty: unnamed
  int fd = fs->Open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
      return Status::IOError(path, "cannot create: " + ErrnoText(err));
    }
    temp_path = path + ".creating." + std::to_string(::getpid());
    fd = fs->Open(temp_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError(path, "cannot create: " + ErrnoText(errno));
  }
  std::unique_ptr<MmapStateStore> fresh;
  Status s = InitializeFile(fs, fd, temp_path.empty() ? path : temp_path, spec, fresh);
  // The new file must be complete on disk before a name points at it.
  if (s.ok()) s = fresh->SyncMapping();
  if (!s.ok()) s = Status::IOError(path, "cannot create: " + s.message());
  bool linked = false;
  if (s.ok()) {
    s = LinkCreated(fs, path, temp_path, *fresh, lost_race);
    linked = s.ok();
  }
  // The name itself must be on disk before the store is used.
  if (s.ok()) s = SyncDirectory(fs, path, path);
  if (!temp_path.empty()) fs->Unlink(temp_path.c_str());
  if (!s.ok()) {
    // Leave nothing behind: not the temporary name, nor a store linked at
    // `path` whose directory entry could not be synced.
    if (linked) fs->Unlink(path.c_str());
    if (fresh) fresh->discard_on_close_ = true;
    return s;
  }
  fresh->path_ = path;
  fresh->file_path_ = ResolvedPath(path);
  out = std::move(fresh);
  return Status::OK();
}

// Gives the new file of `fresh` (unnamed when `temp_path` is empty) the name
// `path`, which fails if someone else created `path` first (`lost_race`).
Status MmapCore::LinkCreated(FileSystem* fs, const std::string& path, const std::string& temp_path,
                             const MmapCore& fresh, bool& lost_race) {
  const std::string from = temp_path.empty() ? "/proc/self/fd/" + std::to_string(fresh.fd_) : temp_path;
  if (fs->Link(from.c_str(), path.c_str(), temp_path.empty() ? AT_SYMLINK_FOLLOW : 0) == 0) return Status::OK();
  const int err = errno;
  struct stat target {};
  if (err != EEXIST) return Status::IOError(path, "cannot create: " + ErrnoText(err));
  if (fs->Stat(path.c_str(), &target) != 0 && errno == ENOENT) {
    return Status::IOError(path, "cannot create: a dangling symbolic link is in the way");
  }
  lost_race = true;
  return Status::Busy(path, "created by someone else meanwhile");
}

Status MmapCore::CreateFile(FileSystem* fs, const std::string& file_path, const FileSpec& spec,
                            std::unique_ptr<MmapStateStore>& out) {
  out.reset();
  const int fd = fs->Open(file_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(file_path, ErrnoText(errno));
  return InitializeFile(fs, fd, file_path, spec, out);
}

// Takes ownership of `fd` (closed on error), locks it and writes an empty
// store of the given geometry into it.
Status MmapCore::InitializeFile(FileSystem* fs, int fd, const std::string& name, const FileSpec& spec,
                                std::unique_ptr<MmapStateStore>& out) {
  out.reset();
  std::unique_ptr<MmapStateStore> store(new MmapStateStore());
  store->fs_ = fs;
  store->path_ = name;
  store->fd_ = fd;
  store->discard_on_close_ = true;
  if (fs->Flock(fd, LOCK_EX | LOCK_NB) != 0) return store->IoError("cannot lock", errno);
  const std::uint64_t size = kHeaderSize + spec.data_capacity + spec.index_slots * 8;
  if (fs->Ftruncate(fd, static_cast<off_t>(size)) != 0) return store->IoError("cannot size the file", errno);
  Status s = store->MapFile(size);
  if (!s.ok()) return s;
  // Creation populates at most kMaxCreatePopulateBytes, so a large initial
  // size does not stall Open(); the rest faults in on demand.
  constexpr std::uint64_t kMaxCreatePopulateBytes = std::uint64_t{256} << 20;
  s = store->PopulateFrom(0, kMaxCreatePopulateBytes);
  if (!s.ok()) return s;

  // 0 means "draw one"; a drawn seed is never 0.
  const std::uint64_t seed = spec.hash_seed != 0 ? spec.hash_seed : internal::RandomHashSeed();
  char* base = store->base_;
  std::memcpy(base, kMagic, sizeof kMagic);
  StoreU32(base + kVersionOffset, kFormatVersion);
  StoreU32(base + kStaticReservedOffset, 0);
  StoreU64(base + kSeedOffset, seed);
  StoreU64(base + kStaticChecksumOffset, XXH3_64bits(base, kStaticChecksumOffset));
  store->hash_seed_ = seed;
  store->hash_secret_ = internal::HashSecretFromSeed(seed);
  store->SetGeometry(spec.data_capacity, spec.index_slots);
  store->WriteGeometry();
  store->PublishCommittedEnd(0);
  store->PublishDurableEnd(0);
  Publish(base, kEpochOffset, EncodeCheckedWord(0));
  StoreU64(base + kBootOffset, fs->BootId());
  store->discard_on_close_ = false;
  out = std::move(store);
  return Status::OK();
}

Status MmapCore::MapFile(std::uint64_t size) {
  void* p = fs_->MapShared(fd_, size);
  if (p == MAP_FAILED) return IoError("cannot map " + std::to_string(size) + " bytes", errno);
  base_ = static_cast<char*>(p);
  mapped_size_ = size;
  data_ = base_ + kHeaderSize;
  *data_cell_ = data_;
  AdviseHugePages();
  return Status::OK();
}

// Random gets over a large file spend much of their time in TLB misses;
// huge folios in the page cache (ext4 on recent kernels, tmpfs with
// huge=advise) cut that (10M entries: get about 310 -> 250 ns here).
// Best effort: filesystems without large folios ignore it.
void MmapCore::AdviseHugePages() { fs_->Madvise(base_, mapped_size_, MADV_HUGEPAGE); }

Status MmapCore::SyncMapping() {
  if (fs_->Msync(base_, mapped_size_, MS_SYNC) != 0) return IoError("msync failed", errno);
  return Status::OK();
}

Status MmapCore::PopulateFrom(std::uint64_t file_offset, std::uint64_t max_bytes) {
  // Faulting in a batch of fresh pages costs a fraction of taking one page
  // fault per page as appends reach them, and it makes the filesystem
  // reserve space for them now: a full disk is reported here instead of as
  // SIGBUS on a later store through the mapping.
  static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t start = file_offset & ~(page - 1);
  if (start >= mapped_size_) return Status::OK();
  if (fs_->Madvise(base_ + start, std::min(mapped_size_ - start, max_bytes), MADV_POPULATE_WRITE) == 0) {
    return Status::OK();
  }
  const int err = errno;
  if (err == EINVAL) return Status::OK();  // kernel without MADV_POPULATE_WRITE: pages fault in on demand
  if (err == EFAULT) return Status::IOError(path_, "cannot grow the file: no space for its new pages");
  return IoError("cannot grow the file", err);
}

void MmapCore::SetGeometry(std::uint64_t data_capacity, std::uint64_t index_slots) {
  data_capacity_ = data_capacity;
  index_slots_ = index_slots;
  index_mask_ = index_slots - 1;
  index_shift_ = kTagBits - static_cast<unsigned>(std::countr_zero(index_slots));
  index_ = reinterpret_cast<std::uint64_t*>(data_ + data_capacity);
}

void MmapCore::WriteGeometry() {
  const std::uint64_t payload =
      (data_capacity_ / 8) | (static_cast<std::uint64_t>(std::countr_zero(index_slots_)) << 40);
  Publish(base_, kGeometryOffset, EncodeCheckedWord(payload));
}

void MmapCore::PublishDurableEnd(std::uint64_t end) {
  durable_end_ = end;
  Publish(base_, kDurableOffset, EncodeCheckedWord(end / 8));
}

void MmapCore::PublishCommittedEnd(std::uint64_t end) {
  committed_end_ = end;
  Publish(base_, kCommittedOffset, EncodeCheckedWord(end / 8));
}

void MmapCore::MarkClean() {
  StoreU64(base_ + kCleanLiveCountOffset, live_count_);
  StoreU64(base_ + kCleanLiveBytesOffset, live_kv_bytes_);
  StoreU64(base_ + kCleanDeadBytesOffset, dead_bytes_);
  StoreU64(base_ + kCleanIndexChecksumOffset, XXH3_64bits(index_, index_slots_ * 8));
  // The check word goes last: a crash before it leaves the file dirty.
  Publish(base_, kCleanCheckOffset, CleanCloseCheck(base_));
}

Status MmapCore::Load(std::uint64_t file_size) {
  if (file_size < kHeaderSize) {
    return Corrupt("file too short for a header: " + std::to_string(file_size) + " bytes, need at least " +
                   std::to_string(kHeaderSize) + " (truncated or not a store)");
  }
  Status s = MapFile(file_size);
  if (!s.ok()) return s;
  s = CheckStaticHeader();
  if (!s.ok()) return s;
  LoadPlan plan;
  plan.file_size = file_size;
  s = ReadHeaderWords(plan);
  if (!s.ok()) return s;
  hash_seed_ = LoadU64(base_ + kSeedOffset);
  hash_secret_ = internal::HashSecretFromSeed(hash_seed_);
  epoch_ = plan.epoch;
  SetGeometry(plan.data_capacity, plan.index_slots);
  // Validation reads only: nothing in the file changes until every check
  // has passed, so a file Open refuses is left exactly as it was.
  s = CheckDataRegion(plan);
  if (!s.ok()) return s;
  return Recover(plan);
}

// The static part of the header: magic, version, checksum, reserved bytes.
Status MmapCore::CheckStaticHeader() const {
  const char* base = base_;
  if (std::memcmp(base, kMagic, sizeof kMagic) != 0) return Corrupt("not a statestore mmap file (bad magic)");
  const std::uint32_t version = LoadU32(base + kVersionOffset);
  if (version == 1) {
    return Status::InvalidArgument(path_,
                                   "unsupported format version 1 (written before the key hash became "
                                   "keyed XXH3; this build reads version 3: snapshot the store with the "
                                   "build that wrote it and restore the snapshot into a new file)");
  }
  if (version != kFormatVersion) {
    return Status::InvalidArgument(path_, "unsupported format version " + std::to_string(version) +
                                              " (this build reads version " + std::to_string(kFormatVersion) + ")");
  }
  if (LoadU64(base + kStaticChecksumOffset) != XXH3_64bits(base, kStaticChecksumOffset)) {
    return Corrupt("header checksum mismatch");
  }
  for (std::size_t i = kStaticChecksumOffset + 8; i < kHeaderSize; ++i) {
    const bool used =
        (i >= kGeometryOffset && i < kGeometryOffset + 8) || (i >= kCommittedOffset && i < kCommittedOffset + 8) ||
        (i >= kCleanOffset && i < kCleanCheckOffset + 8) || (i >= kJournalWordOffset && i < kJournalWordOffset + 8) ||
        (i >= kDurableOffset && i < kDurableOffset + 8) || (i >= kEpochOffset && i < kEpochOffset + 8) ||
        (i >= kBootOffset && i < kBootOffset + 8) || i >= kJournalImageOffset;
    if (!used && base[i] != 0) return Corrupt("header reserved byte " + std::to_string(i) + " is not zero");
  }
  return Status::OK();
}

// The checked words (geometry, committed and durable ends, epoch), the boot
// tag and the clean check, against each other and the file's size.
Status MmapCore::ReadHeaderWords(LoadPlan& plan) const {
  const char* base = base_;
  std::uint64_t geometry;
  if (!DecodeCheckedWord(LoadU64(base + kGeometryOffset), geometry))
    return Corrupt("header geometry word is corrupted");
  plan.data_capacity = (geometry & kOffsetMask) * 8;
  const unsigned index_log2 = static_cast<unsigned>(geometry >> 40);
  if (index_log2 < kMinIndexLog2 || index_log2 > kMaxIndexLog2 || (geometry >> 45) != 0 ||
      ((geometry >> kOffsetBits) & 0xF) != 0 || plan.data_capacity == 0 || plan.data_capacity > kMaxDataCapacity) {
    return Corrupt("header geometry is out of range");
  }
  plan.index_slots = std::uint64_t{1} << index_log2;
  // Written by this boot (the page cache was never lost since): every byte
  // the store wrote is in the file, so any damage is corruption. Otherwise
  // (a power cut or OS crash since, or an unknown boot), what was written
  // after the last flush() may be partly lost: see CheckDataRegion.
  plan.boot = fs_->BootId();
  plan.same_boot = plan.boot != 0 && LoadU64(base + kBootOffset) == plan.boot;
  std::uint64_t committed_words;
  if (!DecodeCheckedWord(LoadU64(base + kCommittedOffset), committed_words)) {
    return Corrupt("header committed-end word is corrupted");
  }
  std::uint64_t durable_words;
  if (!DecodeCheckedWord(LoadU64(base + kDurableOffset), durable_words)) {
    return Corrupt("header durable-end word is corrupted");
  }
  if (!DecodeCheckedWord(LoadU64(base + kEpochOffset), plan.epoch))
    return Corrupt("header log-epoch word is corrupted");
  plan.committed_end = committed_words * 8;
  plan.durable_end = std::min(durable_words * 8, plan.committed_end);
  plan.end = plan.committed_end;
  if (plan.committed_end > plan.data_capacity) {
    return Corrupt("committed end " + std::to_string(plan.committed_end) + " lies beyond the data region of " +
                   std::to_string(plan.data_capacity) + " bytes");
  }
  plan.data_in_file = std::min(plan.data_capacity, plan.file_size - kHeaderSize);
  const std::uint64_t required = kHeaderSize + plan.data_capacity + plan.index_slots * 8;
  if (plan.file_size < required) {
    // Growth extends the file before it publishes the new geometry, but a
    // power cut may keep the header page and lose the new size.
    if (plan.same_boot || plan.durable_end > plan.data_in_file) {
      return Corrupt("file truncated: the header describes " + std::to_string(required) + " bytes but the file has " +
                     std::to_string(plan.file_size));
    }
    plan.short_file = true;
  }
  plan.clean_check = LoadU64(base + kCleanCheckOffset);
  plan.clean = plan.clean_check != 0 && !plan.short_file;
  if (plan.clean && plan.clean_check != CleanCloseCheck(base)) {
    if (plan.same_boot) return Corrupt("clean-close record checksum mismatch");
    plan.clean = false;
  }
  return Status::OK();
}

// The overwrite journal, the records and, for a clean file, the index and
// the clean-close counts (adopted when they check out). Decides the end
// kept (plan.end) and whether the index must be rebuilt (!plan.clean).
Status MmapCore::CheckDataRegion(LoadPlan& plan) {
  PendingOverwrite& pending = plan.pending;
  Status s = CheckPendingOverwrite(std::min(plan.committed_end, plan.data_in_file), pending);
  if (!s.ok() && (plan.same_boot || pending.target < plan.durable_end)) return s;
  if (!s.ok()) pending = PendingOverwrite{};  // its target is in a tail that will be dropped
  if (plan.clean && pending.active) return Corrupt("a cleanly closed file has an overwrite pending");

  // Every record below the committed end was complete before the end was
  // published, so after a process crash any damage there is corruption. The
  // record an interrupted overwrite was rewriting may be torn: its journal
  // image (checked above) stands in for it. After a power cut only the
  // records below the durable end are sure to be whole; the tail after it
  // is kept only if every record in it checks out.
  put_starts_.clear();
  if (plan.clean) put_starts_.assign(plan.committed_end / 8 / 64 + 1, 0);
  s = ScanRecords(0, plan.same_boot ? plan.committed_end : plan.durable_end, plan.data_in_file, pending);
  if (!s.ok()) return s;
  if (!plan.same_boot && !ScanRecords(plan.durable_end, plan.committed_end, plan.data_in_file, pending).ok()) {
    plan.end = plan.durable_end;  // drop the whole tail: the state as of the last flush
    plan.clean = false;
  }
  if (pending.active && pending.target >= plan.end) pending = PendingOverwrite{};

  if (plan.clean) {
    s = CheckCleanRecord(plan.committed_end);
    if (!s.ok()) {
      if (plan.same_boot) return s;
      plan.clean = false;  // the index or the counts did not reach the disk: rebuild
    }
  }
  put_starts_ = {};
  return Status::OK();
}

// Validated: from here on the file changes. Mark it dirty first, finish an
// interrupted overwrite, drop a lost tail, then (unless the index was
// checked) rebuild the index, and only then claim the file for this boot:
// should a step fail (a full disk, a failed sync), the next Open recovers it
// again under the rules of another boot.
Status MmapCore::Recover(const LoadPlan& plan) {
  if (plan.clean_check != 0) Publish(base_, kCleanCheckOffset, 0);
  if (plan.pending.active) {
    CopyRecordImage(data_ + plan.pending.target, base_ + kJournalImageOffset);
    Publish(base_, kJournalWordOffset, 0);
  } else if (LoadU64(base_ + kJournalWordOffset) != 0) {
    Publish(base_, kJournalWordOffset, 0);
  }
  committed_end_ = plan.end;
  durable_end_ = plan.durable_end;
  if (plan.end != plan.committed_end) {
    // The lost tail's bytes must never come back as records: zero them and
    // make that, and the shorter log, durable before anything is appended.
    PublishCommittedEnd(plan.end);
    std::memset(data_ + plan.end, 0, std::min(plan.committed_end, plan.data_in_file) - plan.end);
    Status s = SyncMapping();
    if (!s.ok()) return s;
  }
  if (plan.short_file) {
    Status s = FitGeometryToFile(plan);
    if (!s.ok()) return s;
  }
  if (!plan.clean) {
    Status s = RebuildIndex(plan.end);
    if (!s.ok()) return s;
  }
  StoreU64(base_ + kBootOffset, plan.boot);
  ordered_.clear();
  ordered_valid_ = false;  // built by the first ordered call
  return Status::OK();
}

// The header's geometry describes a longer file (a growth whose new size a
// power cut lost, or sizes nobody wrote). The index is rebuilt anyway, so
// instead of extending the file to a size read from the header, give it a
// geometry it holds: the data region it has (every record kept lies in it,
// the committed end too) and the largest index, 8 slots at least and the
// header's at most, that fits after it. The rebuild grows the index if the
// keys need more.
Status MmapCore::FitGeometryToFile(const LoadPlan& plan) {
  const std::uint64_t kept_capacity = std::max(kMinDataCapacity, plan.data_in_file & ~std::uint64_t{7});
  const std::uint64_t room = plan.file_size - std::min(plan.file_size, kHeaderSize + kept_capacity);
  std::uint64_t kept_slots = std::uint64_t{1} << kMinIndexLog2;
  while (kept_slots < plan.index_slots && kept_slots * 2 * 8 <= room) kept_slots *= 2;
  const std::uint64_t kept_size = kHeaderSize + kept_capacity + kept_slots * 8;
  if (kept_size > plan.file_size) {
    if (fs_->Ftruncate(fd_, static_cast<off_t>(kept_size)) != 0) return IoError("cannot size the file", errno);
    fs_->Unmap(base_, mapped_size_);
    base_ = nullptr;
    Status s = MapFile(kept_size);
    if (!s.ok()) return s;
  }
  SetGeometry(kept_capacity, kept_slots);
  WriteGeometry();
  return Status::OK();
}

// The hash index and the counts from the records in [0, end).
Status MmapCore::RebuildIndex(std::uint64_t end) {
  std::memset(index_, 0, index_slots_ * 8);
  live_count_ = live_kv_bytes_ = dead_bytes_ = 0;
  for (std::uint64_t offset = 0; offset < end;) {
    // Read before applying: growing the index may move the mapping.
    const char* record = data_ + offset;
    const std::uint64_t size = LogRecordSize(LoadU32(record + 8), LoadU32(record + 12));
    Status s = ApplyLoggedRecord(offset, LoadU32(record + 4), RecordKey(record));
    if (!s.ok()) return s;
    offset += size;
  }
  return Status::OK();
}

// Checks the records tiling [from, to) of the data region (to <= the
// committed end), reading nothing past `data_in_file`; the journal image
// stands in for the target of a pending overwrite. Collects put-record
// starts into put_starts_ when it is sized for them.
Status MmapCore::ScanRecords(std::uint64_t from, std::uint64_t to, std::uint64_t data_in_file,
                             const PendingOverwrite& pending) {
  std::uint64_t offset = from;
  while (offset < to) {
    const std::string where = "record at data offset " + std::to_string(offset);
    if (to - offset < kRecordHeaderSize) return Corrupt(where + ": header runs past the committed end");
    if (offset + kRecordHeaderSize > data_in_file) return Corrupt(where + ": lies past the end of the file");
    const char* record = pending.active && offset == pending.target ? base_ + kJournalImageOffset : data_ + offset;
    const std::uint32_t type = LoadU32(record + 4);
    const std::uint64_t key_len = LoadU32(record + 8);
    const std::uint64_t value_len = LoadU32(record + 12);
    if (type != kTypePut && type != kTypeDelete)
      return Corrupt(where + ": unknown record type " + std::to_string(type));
    if (key_len > kMaxKeySize || value_len > kMaxValueSize || (type == kTypeDelete && value_len != 0)) {
      return Corrupt(where + ": length fields out of range");
    }
    const std::uint64_t size = LogRecordSize(key_len, value_len);
    if (size > to - offset) return Corrupt(where + ": runs past the committed end");
    if (offset + size > data_in_file) return Corrupt(where + ": runs past the end of the file");
    if (LoadU32(record) != RecordChecksum(record, key_len, value_len, epoch_)) {
      return Corrupt(where + ": checksum mismatch");
    }
    if (type == kTypePut && offset / 8 / 64 < put_starts_.size()) {
      put_starts_[offset / 8 / 64] |= std::uint64_t{1} << ((offset / 8) % 64);
    }
    if (pending.active && offset < pending.target && pending.target < offset + size) {
      return Corrupt("the overwrite journal names data offset " + std::to_string(pending.target) +
                     ", inside the record at " + std::to_string(offset));
    }
    offset += size;
  }
  return Status::OK();
}

// For a cleanly closed file: checks the on-file index and every count of
// the clean-close record against the records (put_starts_ from the scan)
// and adopts the counts. Reads only.
Status MmapCore::CheckCleanRecord(std::uint64_t committed_end) {
  const char* base = base_;
  if (LoadU64(base + kCleanIndexChecksumOffset) != XXH3_64bits(index_, index_slots_ * 8)) {
    return Corrupt("index checksum mismatch (the hash index is corrupted)");
  }
  std::uint64_t occupied = 0;
  std::uint64_t kv_bytes = 0;
  std::uint64_t record_bytes = 0;
  for (std::uint64_t i = 0; i < index_slots_; ++i) {
    const std::uint64_t v = index_[i];
    if (v == 0) continue;
    const std::uint64_t words = v & kOffsetMask;
    const std::uint64_t at = (words - 1) * 8;
    if (words == 0 || at >= committed_end || ((put_starts_[at / 8 / 64] >> ((at / 8) % 64)) & 1) == 0) {
      return Corrupt("index slot " + std::to_string(i) + " does not point at a record");
    }
    const std::uint64_t key_len = LoadU32(data_ + at + 8);
    const std::uint64_t value_len = LoadU32(data_ + at + 12);
    if ((v >> kOffsetBits) != (Hash(RecordKey(data_ + at)) >> kOffsetBits)) {
      return Corrupt("index slot " + std::to_string(i) + " does not match its record's key hash");
    }
    ++occupied;
    kv_bytes += key_len + value_len;
    record_bytes += LogRecordSize(key_len, value_len);
  }
  Status s = CheckProbePaths(occupied);
  if (!s.ok()) return s;
  const std::uint64_t recorded_count = LoadU64(base + kCleanLiveCountOffset);
  const std::uint64_t recorded_kv = LoadU64(base + kCleanLiveBytesOffset);
  const std::uint64_t recorded_dead = LoadU64(base + kCleanDeadBytesOffset);
  if (occupied != recorded_count) {
    return Corrupt("index holds " + std::to_string(occupied) + " keys but the header records " +
                   std::to_string(recorded_count));
  }
  if (recorded_kv != kv_bytes || recorded_dead != committed_end - record_bytes) {
    return Corrupt("the clean-close record's byte counts (live " + std::to_string(recorded_kv) + ", dead " +
                   std::to_string(recorded_dead) + ") do not match the records (live " + std::to_string(kv_bytes) +
                   ", dead " + std::to_string(committed_end - record_bytes) + ")");
  }
  live_count_ = occupied;
  live_kv_bytes_ = kv_bytes;
  dead_bytes_ = committed_end - record_bytes;
  return Status::OK();
}

// The store never lets the index pass 70% occupancy (a lookup of an absent
// key stops at the first empty slot), and a lookup of each key must find its
// slot: not an earlier slot holding the same key, and not an empty slot
// before it. Every slot points at a checked record by now, and its tag is its
// key's, so the slot value serves as the hash.
Status MmapCore::CheckProbePaths(std::uint64_t occupied) const {
  if (IndexOverLoaded(occupied, index_slots_)) {
    return Corrupt("index holds " + std::to_string(occupied) + " keys in " + std::to_string(index_slots_) +
                   " slots, more than the 70% the store allows");
  }
  for (std::uint64_t i = 0; i < index_slots_; ++i) {
    const std::uint64_t v = index_[i];
    if (v == 0) continue;
    bool found;
    const std::uint64_t position = FindSlot(RecordKey(data_ + SlotOffset(v)), v, found);
    if (!found) {
      return Corrupt("index slot " + std::to_string(i) + " lies beyond an empty slot on its key's probe path");
    }
    if (position != i) {
      return Corrupt("index slot " + std::to_string(i) + " holds the key that slot " + std::to_string(position) +
                     " holds");
    }
  }
  return Status::OK();
}

// Reads the overwrite journal without changing anything: `pending.active`
// when an overwrite was interrupted, with its target checked to be a put
// record of the image's key and size below the committed end.
Status MmapCore::CheckPendingOverwrite(std::uint64_t committed_end, PendingOverwrite& pending) const {
  pending = PendingOverwrite{};
  const std::uint64_t word = LoadU64(base_ + kJournalWordOffset);
  if (word == 0) return Status::OK();
  std::uint64_t payload;
  if (!DecodeCheckedWord(word, payload) || payload == 0) return Corrupt("header overwrite-journal word is corrupted");
  const std::uint64_t target = (payload - 1) * 8;
  pending.target = target;  // known from here on, even when the checks below fail
  const char* image = base_ + kJournalImageOffset;
  const std::uint64_t key_len = LoadU32(image + 8);
  const std::uint64_t value_len = LoadU32(image + 12);
  if (LoadU32(image + 4) != kTypePut || key_len + value_len > kJournalCapacity ||
      LogRecordSize(key_len, value_len) > kJournalCapacity) {
    return Corrupt("the overwrite journal holds no valid record");
  }
  if (LoadU32(image) != RecordChecksum(image, key_len, value_len, epoch_)) {
    return Corrupt("overwrite journal checksum mismatch");
  }
  const std::string where = "the overwrite journal names data offset " + std::to_string(target);
  const std::uint64_t size = LogRecordSize(key_len, value_len);
  if (target >= committed_end || size > committed_end - target) return Corrupt(where + ", past the committed end");
  // The key and its length are the same in the old record, the new one and
  // any mix of the two, so they identify the record whatever the copy reached.
  const char* record = data_ + target;
  if (LoadU32(record + 4) != kTypePut || LoadU32(record + 8) != key_len ||
      std::memcmp(record + kRecordHeaderSize, image + kRecordHeaderSize, key_len) != 0) {
    return Corrupt(where + ", which does not hold the journal's key");
  }
  // Only same-size overwrites are journalled: whatever mix of old and new
  // header the record holds, its size is the image's.
  if (LogRecordSize(key_len, LoadU32(record + 12)) != size) {
    return Corrupt(where + ", a record of another size than the journal's image");
  }
  pending.active = true;
  return Status::OK();
}

Status MmapCore::ApplyLoggedRecord(std::uint64_t offset, std::uint32_t type, std::string_view key) {
  const std::uint64_t hash = Hash(key);
  bool found;
  std::uint64_t position = FindSlot(key, hash, found);
  const std::uint64_t record_size = LogRecordSize(key.size(), LoadU32(data_ + offset + 12));
  std::uint64_t old_size = 0;
  std::uint64_t old_kv = 0;
  if (found) {
    const char* old = data_ + SlotOffset(index_[position]);
    old_size = LogRecordSize(key.size(), LoadU32(old + 12));
    old_kv = key.size() + LoadU32(old + 12);
  }
  if (type == kTypePut) {
    if (!found && IndexOverLoaded(live_count_ + 1, index_slots_)) {
      Status s = Grow(0, true);
      if (!s.ok()) return s;
      key = RecordKey(data_ + offset);  // the mapping may have moved
      position = FindSlot(key, hash, found);
    }
    index_[position] = MakeSlot(hash, offset);
    if (!found) ++live_count_;
    live_kv_bytes_ += key.size() + LoadU32(data_ + offset + 12) - old_kv;
    dead_bytes_ += old_size;
  } else {
    if (found) {
      EraseSlot(position);
      --live_count_;
      live_kv_bytes_ -= old_kv;
    }
    dead_bytes_ += old_size + record_size;
  }
  return Status::OK();
}

void MmapCore::BuildOrderedIndex() const {
  ordered_.clear();
  std::vector<OrderedRef> entries;
  entries.reserve(live_count_);
  for (std::uint64_t i = 0; i < index_slots_; ++i) {
    const std::uint64_t v = index_[i];
    if (v == 0) continue;
    const std::uint64_t offset = SlotOffset(v);
    entries.push_back(MakeOrderedRef(RecordKey(data_ + offset), offset));
  }
  std::sort(entries.begin(), entries.end(), ordered_.key_comp());
  // Sorted input: each insert lands at the end, O(1) amortised.
  for (const OrderedRef& e : entries) ordered_.insert(ordered_.end(), e);
  ordered_valid_ = true;
}

internal::ProbeDistances MmapCore::TEST_probe_distances() const {
  internal::ProbeDistances distances;
  for (std::uint64_t i = 0; i < index_slots_; ++i) {
    if (index_[i] == 0) continue;
    const std::size_t distance = (i - HomeOf(index_[i])) & index_mask_;
    distances.longest = std::max(distances.longest, distance);
    distances.total += distance;
  }
  return distances;
}

std::uint64_t MmapCore::HomeOf(std::uint64_t slot_value) const { return (slot_value >> kOffsetBits) >> index_shift_; }

void MmapCore::InsertIntoIndex(std::uint64_t slot_value) {
  std::uint64_t position = HomeOf(slot_value);
  while (index_[position] != 0) position = (position + 1) & index_mask_;
  index_[position] = slot_value;
}

// Backward-shift deletion: no index tombstones, probe chains stay short.
void MmapCore::EraseSlot(std::uint64_t position) {
  std::uint64_t hole = position;
  std::uint64_t next = position;
  for (;;) {
    next = (next + 1) & index_mask_;
    const std::uint64_t v = index_[next];
    if (v == 0) break;
    const std::uint64_t home = HomeOf(v);
    // The entry at `next` may stay only if its home lies cyclically in (hole, next].
    const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (stays) continue;
    index_[hole] = v;
    hole = next;
  }
  index_[hole] = 0;
}

Status MmapCore::Grow(std::uint64_t record_bytes, bool new_key) {
  const bool grow_data = committed_end_ + record_bytes > data_capacity_;
  const bool grow_index = new_key && IndexOverLoaded(live_count_ + 1, index_slots_);
  if (!grow_data && !grow_index) return Status::OK();
  std::uint64_t data_capacity = data_capacity_;
  if (grow_data) {
    data_capacity = std::max(data_capacity_ + data_capacity_ / 2, committed_end_ + record_bytes);
    data_capacity = (data_capacity + 4095) & ~std::uint64_t{4095};
    if (data_capacity > kMaxDataCapacity) {
      return Status::ResourceExhausted(
          path_, "the data region would exceed its limit of " + std::to_string(kMaxDataCapacity) + " bytes");
    }
  }
  std::uint64_t index_slots = index_slots_;
  if (grow_index) {
    if (index_slots_ >= (std::uint64_t{1} << kMaxIndexLog2)) {
      return Status::ResourceExhausted(path_, "the hash index is full (2^28 slots)");
    }
    index_slots *= 2;
  }
  return RehashInto(data_capacity, index_slots);
}

Status MmapCore::RehashInto(std::uint64_t data_capacity, std::uint64_t index_slots) {
  const std::uint64_t new_size = kHeaderSize + data_capacity + index_slots * 8;
  if (new_size > mapped_size_) {
    // A failure from here on leaves the store as it was: the file may have
    // grown and the mapping moved, but every pointer follows the mapping and
    // the old geometry (still the published one) describes it.
    if (fs_->Ftruncate(fd_, static_cast<off_t>(new_size)) != 0) return IoError("cannot grow the file", errno);
    void* p = fs_->Remap(base_, mapped_size_, new_size);
    if (p == MAP_FAILED) return IoError("cannot remap the file", errno);
    base_ = static_cast<char*>(p);
    mapped_size_ = new_size;
    data_ = base_ + kHeaderSize;
    *data_cell_ = data_;
    index_ = reinterpret_cast<std::uint64_t*>(data_ + data_capacity_);
    AdviseHugePages();
  }
  std::uint64_t* old_index = reinterpret_cast<std::uint64_t*>(data_ + data_capacity_);
  const std::uint64_t old_slots = index_slots_;
  Status populated = PopulateFrom(kHeaderSize + data_capacity_, mapped_size_);
  if (!populated.ok()) return populated;
  if (index_slots == old_slots) {
    std::memmove(data_ + data_capacity, old_index, old_slots * 8);
    SetGeometry(data_capacity, index_slots);
  } else {
    // The new index may start where the old one does (only the index
    // grows): rebuild it from a copy.
    std::vector<std::uint64_t> saved;
    try {
      saved.assign(old_index, old_index + old_slots);
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted(path_, "out of memory while growing the hash index");
    }
    SetGeometry(data_capacity, index_slots);
    std::memset(index_, 0, index_slots * 8);
    for (const std::uint64_t v : saved) {
      if (v != 0) InsertIntoIndex(v);
    }
  }
  // The new index is complete before the geometry pointing at it is
  // published, and no record lands past the old capacity before that.
  WriteGeometry();
  return Status::OK();
}

std::uint64_t MmapCore::AppendRecord(std::uint32_t type, std::string_view key, std::string_view value) {
  const std::uint64_t offset = WriteRecord(type, key, value);
  PublishCommittedEnd(offset + LogRecordSize(key.size(), value.size()));
  return offset;
}

std::uint64_t MmapCore::WriteRecord(std::uint32_t type, std::string_view key, std::string_view value) {
  const std::uint64_t offset = committed_end_;
  WriteRecordImage(data_ + offset, type, key, value, epoch_);
  return offset;
}

// Rewrites the record at data offset `target`, which holds `key` and has the
// size LogRecordSize(key, value) already, so that it holds `value`. A record
// being rewritten is torn until the copy ends, so the new image goes to the
// journal first and is published there: a crash at any instruction leaves
// either the journal word 0 and the old record intact, or the journal word
// naming `target` and a complete image that Open() copies over the record
// (CheckPendingOverwrite, then Load). Costs two copies of the record and two word stores,
// and no growth: the file stays the size it is.
void MmapCore::OverwriteInPlace(std::uint64_t target, std::string_view key, std::string_view value) {
  char* image = base_ + kJournalImageOffset;
  WriteRecordImage(image, kTypePut, key, value, epoch_);
  Publish(base_, kJournalWordOffset, EncodeCheckedWord(target / 8 + 1));
  CopyRecordImage(data_ + target, image);
  Publish(base_, kJournalWordOffset, 0);
}

Status MmapCore::AppendInKeyOrder(std::string_view key, std::string_view value) {
  const std::uint64_t hash = Hash(key);
  const std::uint64_t record_size = LogRecordSize(key.size(), value.size());
  if (committed_end_ + record_size > data_capacity_ || IndexOverLoaded(live_count_ + 1, index_slots_)) {
    Status s = Grow(record_size, true);
    if (!s.ok()) return s;
  }
  const std::uint64_t offset = AppendRecord(kTypePut, key, value);
  InsertIntoIndex(MakeSlot(hash, offset));
  ++live_count_;
  live_kv_bytes_ += key.size() + value.size();
  if (ordered_valid_) ordered_.insert(ordered_.end(), MakeOrderedRef(key, offset));
  return Status::OK();
}

template <typename Fill>
Status MmapCore::RewriteFile(std::uint64_t entries, std::uint64_t kv_bytes, Fill&& fill) {
  const std::uint64_t slots = IndexSlotsFor(entries, std::uint64_t{1} << kMinIndexLog2);
  const std::uint64_t records = entries * (kRecordHeaderSize + 7) + kv_bytes;
  std::uint64_t data_capacity = records + records / 4;
  data_capacity = std::max<std::uint64_t>(4096, (data_capacity + 4095) & ~std::uint64_t{4095});
  if (data_capacity > kMaxDataCapacity) data_capacity = kMaxDataCapacity & ~std::uint64_t{4095};

  // The file the previous rewrite replaced, when it is kept (see
  // release_spare()), is emptied and written in place: its pages are mapped
  // already, so the rewrite faults in no fresh page and creates and deletes
  // no file. Otherwise, or when emptying it fails, a new file.
  const std::string spare_path = SpareFile();
  std::string temp_path = file_path_ + ".rewrite";
  std::unique_ptr<MmapStateStore> fresh;
  Status s;
  if (spare_ && spare_->ResetEmpty(slots, data_capacity).ok()) {
    fresh = std::move(spare_);
    temp_path = spare_path;
  } else {
    DropSpare();
    s = CreateFile(fs_, temp_path, FileSpec{slots, data_capacity, hash_seed_}, fresh);
  }
  if (s.ok()) s = fill(*fresh);
  // The new file is complete on disk before its name replaces the old one,
  // so a power cut shows either file whole.
  if (s.ok()) {
    fresh->PublishDurableEnd(fresh->committed_end_);
    s = fresh->SyncMapping();
  }
  // The file being replaced keeps a second name, so that it survives the
  // rename as the next spare (best effort: without it the rewrite goes on).
  const std::string next_spare = spare_path + ".next";
  fs_->Unlink(next_spare.c_str());
  const bool keep_replaced = s.ok() && fs_->Link(file_path_.c_str(), next_spare.c_str(), 0) == 0;
  if (s.ok() && fs_->Rename(temp_path.c_str(), file_path_.c_str()) != 0) {
    s = IoError("cannot rename " + temp_path + " over the store", errno);
  }
  if (!s.ok()) {
    if (fresh) fresh->discard_on_close_ = true;
    fresh.reset();
    fs_->Unlink(temp_path.c_str());
    if (keep_replaced) fs_->Unlink(next_spare.c_str());
    return s;
  }
  fresh->path_ = path_;
  fresh->file_path_ = file_path_;
  SwapContents(*fresh);
  fresh->discard_on_close_ = true;  // no longer the store: no clean-close record
  if (keep_replaced && fs_->Rename(next_spare.c_str(), spare_path.c_str()) == 0) {
    spare_ = std::move(fresh);
  } else {
    if (keep_replaced) fs_->Unlink(next_spare.c_str());
    fresh.reset();
  }
  // The rename is done, so the store now holds the new contents whatever
  // the directory sync says; a failed sync is retried (and reported) by the
  // next flush().
  renamed_since_flush_ = !SyncDirectory(fs_, file_path_, path_).ok();
  return Status::OK();
}

std::string MmapCore::SpareFile() const { return file_path_ + ".spare"; }

void MmapCore::DropSpare() {
  if (!spare_) return;
  spare_.reset();
  fs_->Unlink(SpareFile().c_str());
}

Status MmapCore::ResetEmpty(std::uint64_t index_slots, std::uint64_t data_capacity) {
  // The static header (magic, version, seed) stays: a spare has the seed of
  // the store it served, which is the seed a rewrite keeps.
  const std::uint64_t size = kHeaderSize + data_capacity + index_slots * 8;
  if (size != mapped_size_) {
    if (fs_->Ftruncate(fd_, static_cast<off_t>(size)) != 0) return IoError("cannot size the file", errno);
    void* p = fs_->Remap(base_, mapped_size_, size);
    if (p == MAP_FAILED) return IoError("cannot remap the file", errno);
    const std::uint64_t old_size = mapped_size_;
    base_ = static_cast<char*>(p);
    mapped_size_ = size;
    data_ = base_ + kHeaderSize;
    *data_cell_ = data_;
    AdviseHugePages();
    if (size > old_size) {
      Status populated = PopulateFrom(old_size, size - old_size);
      if (!populated.ok()) return populated;
    }
  }
  // Everything after the static fields as CreateFile leaves it, except the
  // epoch: the data region keeps the old records, so the new ones are
  // checksummed under an epoch none of them has (each reuse of a file steps
  // it, as clear() does), and no old record can pass for a new one, say in
  // the tail a power cut makes Open check.
  const std::uint64_t epoch = (epoch_ + 1) & kPayloadMask;
  std::memset(base_ + kStaticChecksumOffset + 8, 0, kHeaderSize - kStaticChecksumOffset - 8);
  SetGeometry(data_capacity, index_slots);
  std::memset(index_, 0, index_slots * 8);
  WriteGeometry();
  PublishCommittedEnd(0);
  PublishDurableEnd(0);
  Publish(base_, kEpochOffset, EncodeCheckedWord(epoch));
  epoch_ = epoch;
  StoreU64(base_ + kBootOffset, fs_->BootId());
  live_count_ = live_kv_bytes_ = dead_bytes_ = 0;
  ordered_.clear();
  ordered_valid_ = false;
  return Status::OK();
}

void MmapCore::SwapContents(MmapCore& other) {
  std::swap(fd_, other.fd_);
  std::swap(base_, other.base_);
  std::swap(mapped_size_, other.mapped_size_);
  std::swap(data_, other.data_);
  std::swap(index_, other.index_);
  std::swap(data_capacity_, other.data_capacity_);
  std::swap(index_slots_, other.index_slots_);
  std::swap(index_mask_, other.index_mask_);
  std::swap(index_shift_, other.index_shift_);
  std::swap(hash_seed_, other.hash_seed_);
  std::swap(hash_secret_, other.hash_secret_);
  std::swap(committed_end_, other.committed_end_);
  std::swap(durable_end_, other.durable_end_);
  std::swap(epoch_, other.epoch_);
  std::swap(live_count_, other.live_count_);
  std::swap(live_kv_bytes_, other.live_kv_bytes_);
  std::swap(dead_bytes_, other.dead_bytes_);
  // The comparator of each ordered index points at its own data cell, so the
  // two travel together.
  std::swap(data_cell_, other.data_cell_);
  ordered_.swap(other.ordered_);
  std::swap(ordered_valid_, other.ordered_valid_);
}

Status MmapCore::FillFromSnapshot(std::string_view blob) {
  // REQUIRES: this store is the empty, private file RewriteFile created for
  // `blob` (validated). Nobody can open it before RewriteFile renames it
  // over the path, so the records need not be published one by one: they are
  // written back to back and published with one store of the committed end
  // (an AppendInKeyOrder per entry spent a third of a restore publishing).
  // Index slots are inserted in batches whose home slots were prefetched.
  constexpr std::size_t kBatch = 16;
  std::uint64_t pending[kBatch];
  std::size_t pending_count = 0;
  auto insert_pending = [&] {
    for (std::size_t i = 0; i < pending_count; ++i) InsertIntoIndex(pending[i]);
    pending_count = 0;
  };
  std::uint64_t end = committed_end_;
  Status status;
  ForEachSnapshotEntry(blob, [&](std::string_view key, std::string_view value) {
    if (!status.ok()) return;
    const std::uint64_t record_size = LogRecordSize(key.size(), value.size());
    if (end + record_size > data_capacity_ || IndexOverLoaded(live_count_ + 1, index_slots_)) {
      // Beyond the geometry RewriteFile chose (it caps it at the format's
      // limits): the general path, which grows or reports the limit.
      insert_pending();
      PublishCommittedEnd(end);
      status = AppendInKeyOrder(key, value);
      end = committed_end_;
      return;
    }
    WriteRecordImage(data_ + end, kTypePut, key, value, epoch_);
    const std::uint64_t slot = MakeSlot(Hash(key), end);
    __builtin_prefetch(&index_[HomeOf(slot)], 1);
    pending[pending_count++] = slot;
    if (pending_count == kBatch) insert_pending();
    ++live_count_;
    live_kv_bytes_ += key.size() + value.size();
    end += record_size;
  });
  insert_pending();
  if (status.ok()) PublishCommittedEnd(end);
  return status;
}

}  // namespace mmap_internal

namespace {

using mmap_internal::EncodeCheckedWord;
using mmap_internal::ErrnoText;
using mmap_internal::IndexOverLoaded;
using mmap_internal::kEpochOffset;
using mmap_internal::kHeaderSize;
using mmap_internal::kJournalCapacity;
using mmap_internal::kMaxDataCapacity;
using mmap_internal::kMaxIndexLog2;
using mmap_internal::kMinDataCapacity;
using mmap_internal::kMinIndexLog2;
using mmap_internal::kPayloadMask;
using mmap_internal::kTypeDelete;
using mmap_internal::kTypePut;
using mmap_internal::LoadU32;
using mmap_internal::LogRecordSize;
using mmap_internal::MakeOrderedRef;
using mmap_internal::MakeSlot;
using mmap_internal::OrderedRef;
using mmap_internal::Publish;
using mmap_internal::RecordKey;
using mmap_internal::RecordValue;
using mmap_internal::RemoveAbandonedCreations;
using mmap_internal::ResolvedPath;
using mmap_internal::SlotOffset;

}  // namespace

MmapStateStore::~MmapStateStore() = default;

namespace {

// The geometry of a file Open creates, from `options`.
Status SpecFromOptions(const std::string& path, const MmapOptions& options, mmap_internal::FileSpec& spec) {
  const std::uint64_t slots = options.initial_index_slots;
  if (!std::has_single_bit(slots) || slots < (std::uint64_t{1} << kMinIndexLog2) ||
      slots > (std::uint64_t{1} << kMaxIndexLog2)) {
    return Status::InvalidArgument(
        path, "initial_index_slots must be a power of two between 8 and 268435456, got " + std::to_string(slots));
  }
  if (options.initial_data_bytes > kMaxDataCapacity) {
    return Status::InvalidArgument(path, "initial_data_bytes exceeds the limit of " + std::to_string(kMaxDataCapacity));
  }
  spec.index_slots = slots;
  spec.data_capacity = std::max<std::uint64_t>(kMinDataCapacity, (options.initial_data_bytes + 7) & ~std::uint64_t{7});
  spec.hash_seed = options.hash_seed;
  return Status::OK();
}

}  // namespace

Status MmapStateStore::Open(const std::string& path, std::unique_ptr<MmapStateStore>& out, const MmapOptions& options) {
  out.reset();
  if (path.empty()) return Status::IOError("cannot open an mmap store", "the path is empty");
  mmap_internal::FileSpec spec;
  Status s = SpecFromOptions(path, options, spec);
  if (!s.ok()) return s;
  FileSystem* const fs = options.file_system != nullptr ? options.file_system : FileSystem::Default();
  RemoveAbandonedCreations(fs, path);

  // A file can be replaced by rename() (compact/restore in its owner) between
  // our open() and flock(); then the lock we got is on a dead inode: retry.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = fs->Open(path.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
      const int err = errno;
      if (err != ENOENT) return Status::IOError(path, "cannot open: " + ErrnoText(err));
      bool lost_race = false;
      s = CreateAtPath(fs, path, spec, out, lost_race);
      if (lost_race) continue;  // someone else created it first: open theirs
      return s;
    }
    bool replaced = false;
    s = OpenLocked(fs, path, fd, out, replaced);
    if (!replaced) return s;
  }
  return Status::Busy(path, "the file kept being replaced while opening it");
}

Status MmapStateStore::put(std::string_view key, std::string_view value) {
  if (internal::EntryTooLarge(key.size(), value.size())) [[unlikely]] {
    return internal::EntryTooLargeError(key.size(), value.size());
  }
  const std::uint64_t hash = Hash(key);
  const std::uint64_t record_size = LogRecordSize(key.size(), value.size());
  if (record_size <= kJournalCapacity) {
    // An overwrite whose record keeps its size is rewritten in place.
    bool found;
    const std::uint64_t position = FindSlot(key, hash, found);
    if (found) {
      const std::uint64_t old_offset = SlotOffset(index_[position]);
      const std::uint32_t old_value_len = LoadU32(data_ + old_offset + 12);
      // In place only for a record written since the last flush(): one
      // below the durable end must stay as flushed (a power cut could
      // otherwise keep the new bytes without the records before them).
      if (LogRecordSize(key.size(), old_value_len) == record_size && old_offset >= durable_end_) {
        OverwriteInPlace(old_offset, key, value);
        live_kv_bytes_ = live_kv_bytes_ - old_value_len + value.size();
        return Status::OK();
      }
    }
  }
  if (committed_end_ + record_size > data_capacity_ || IndexOverLoaded(live_count_ + 1, index_slots_)) {
    if (PointsIntoMapping(key) || PointsIntoMapping(value)) {
      // The caller passed views from get(): growth may move the mapping
      // under them, so take copies first.
      const std::string key_copy(key);
      const std::string value_copy(value);
      return put(key_copy, value_copy);
    }
    // Before knowing whether the key is new, so the index may grow one
    // overwrite early; that is harmless.
    Status s = Grow(record_size, true);
    if (!s.ok()) return s;
  }
  // Write the record past the committed end (invisible until published),
  // then find the key's slot, then publish, then point the slot at it.
  const std::uint64_t offset = WriteRecord(kTypePut, key, value);
  bool found;
  const std::uint64_t position = FindSlot(key, hash, found);
  const std::uint64_t old_slot = index_[position];
  PublishCommittedEnd(offset + record_size);
  index_[position] = MakeSlot(hash, offset);
  if (found) {
    const std::uint64_t old_offset = SlotOffset(old_slot);
    const std::uint32_t old_value_len = LoadU32(data_ + old_offset + 12);
    dead_bytes_ += LogRecordSize(key.size(), old_value_len);
    live_kv_bytes_ = live_kv_bytes_ - old_value_len + value.size();
    if (ordered_valid_) {
      auto it = ordered_.find(MakeOrderedRef(key, old_offset));
      it->packed = MakeOrderedRef(key, offset).packed;
    }
  } else {
    ++live_count_;
    live_kv_bytes_ += key.size() + value.size();
    if (ordered_valid_) ordered_.insert(MakeOrderedRef(key, offset));
  }
  return Status::OK();
}

Status MmapStateStore::del(std::string_view key) {
  if (key.size() > kMaxKeySize) return Status::OK();  // never stored
  const std::uint64_t hash = Hash(key);
  bool found;
  std::uint64_t position = FindSlot(key, hash, found);
  if (!found) return Status::OK();
  const std::uint64_t tombstone_size = LogRecordSize(key.size(), 0);
  if (committed_end_ + tombstone_size > data_capacity_) {
    if (PointsIntoMapping(key)) return del(std::string(key));  // growth may move the mapping
    Status s = Grow(tombstone_size, false);
    if (!s.ok()) return s;
    position = FindSlot(key, hash, found);
  }
  const std::uint64_t old_offset = SlotOffset(index_[position]);
  const std::uint32_t old_value_len = LoadU32(data_ + old_offset + 12);
  AppendRecord(kTypeDelete, key, {});
  EraseSlot(position);
  --live_count_;
  live_kv_bytes_ -= key.size() + old_value_len;
  dead_bytes_ += LogRecordSize(key.size(), old_value_len) + tombstone_size;
  if (ordered_valid_) ordered_.erase(MakeOrderedRef(key, old_offset));
  return Status::OK();
}

Status MmapStateStore::clear() {
  // One atomic store empties the log; the index is rebuilt from the (empty)
  // log should we die before zeroing it. The new log has a new epoch, so
  // the old records it will overwrite never pass for new ones.
  const std::uint64_t old_end = committed_end_;
  const std::uint64_t old_durable = durable_end_;
  PublishCommittedEnd(0);
  Publish(base_, kEpochOffset, EncodeCheckedWord((epoch_ + 1) & kPayloadMask));
  if (old_durable != 0) {
    // Flushed records are about to be overwritten: the cleared header must
    // reach the disk first, or a power cut could pair the old header with
    // new records.
    PublishDurableEnd(0);
    if (fs_->Msync(base_, kHeaderSize, MS_SYNC) != 0) {
      const int err = errno;
      PublishDurableEnd(old_durable);
      Publish(base_, kEpochOffset, EncodeCheckedWord(epoch_));
      PublishCommittedEnd(old_end);
      return IoError("msync failed", err);
    }
  }
  epoch_ = (epoch_ + 1) & kPayloadMask;
  std::memset(index_, 0, index_slots_ * 8);
  ordered_.clear();
  ordered_valid_ = false;
  live_count_ = live_kv_bytes_ = dead_bytes_ = 0;
  return Status::OK();
}

void MmapStateStore::range(std::string_view start, std::string_view end, EntryVisitor visit) const {
  for_each_in_range(start, end, [&](std::string_view k, std::string_view v) { return visit(k, v); });
}

void MmapStateStore::prefix_scan(std::string_view prefix, EntryVisitor visit) const {
  for_each_with_prefix(prefix, [&](std::string_view k, std::string_view v) { return visit(k, v); });
}

void MmapStateStore::snapshot_to(std::string& out) const {
  EnsureOrdered();
  SnapshotWriter writer(out, live_count_, live_kv_bytes_);
  // Records are in log order, not key order: prefetch a few entries ahead
  // so the cache misses overlap.
  constexpr int kPrefetchDistance = 8;
  auto ahead = ordered_.begin();
  for (int i = 0; i < kPrefetchDistance && ahead != ordered_.end(); ++i, ++ahead) {
    __builtin_prefetch(data_ + ahead->offset());
  }
  for (const OrderedRef& e : ordered_) {
    if (ahead != ordered_.end()) {
      __builtin_prefetch(data_ + ahead->offset());
      ++ahead;
    }
    const char* record = data_ + e.offset();
    writer.add(RecordKey(record), RecordValue(record));
  }
  writer.finish();
}

void MmapStateStore::release_spare() { DropSpare(); }

Status MmapStateStore::restore(std::string_view blob) {
  SnapshotInfo info;
  Status s = ValidateSnapshot(blob, info);
  if (!s.ok()) return s;
  return RewriteFile(info.entry_count, info.kv_bytes,
                     [&](MmapStateStore& fresh) { return fresh.FillFromSnapshot(blob); });
}

Status MmapStateStore::compact() {
  // Records go out in key order, so later range scans read the new file
  // sequentially. The B-tree is kept afterwards only if it was being
  // maintained before (a store used for point operations does not pay for it).
  const bool keep_ordered = ordered_valid_;
  EnsureOrdered();
  Status s = RewriteFile(live_count_, live_kv_bytes_, [&](MmapStateStore& fresh) {
    fresh.ordered_valid_ = true;
    for (const OrderedRef& e : ordered_) {
      const char* record = data_ + e.offset();
      Status appended = fresh.AppendInKeyOrder(RecordKey(record), RecordValue(record));
      if (!appended.ok()) return appended;
    }
    return Status::OK();
  });
  if (!keep_ordered) {
    ordered_.clear();
    ordered_valid_ = false;
  }
  return s;
}

double MmapStateStore::fragmentation() const {
  if (committed_end_ == 0) return 0.0;
  return static_cast<double>(dead_bytes_) / static_cast<double>(committed_end_);
}

Status MmapStateStore::flush() {
  // Everything, then the header saying so: after a power cut, records below
  // the durable end are whole, and later ones are kept only all together.
  Status s = SyncMapping();
  if (!s.ok()) return s;
  if (durable_end_ != committed_end_) {
    PublishDurableEnd(committed_end_);
    if (fs_->Msync(base_, kHeaderSize, MS_SYNC) != 0) return IoError("msync failed", errno);
  }
  if (renamed_since_flush_) {
    s = SyncDirectory(fs_, file_path_, path_);
    if (!s.ok()) return s;
    renamed_since_flush_ = false;
  }
  return Status::OK();
}

void MmapStateStore::prefault() const {
  if (fs_->Madvise(base_, mapped_size_, MADV_POPULATE_WRITE) == 0) return;
  // Older kernels: touch each page by hand (rewriting a byte with itself).
  const long page = ::sysconf(_SC_PAGESIZE);
  for (std::uint64_t i = 0; i < mapped_size_; i += static_cast<std::uint64_t>(page)) {
    volatile char* p = base_ + i;
    *p = *p;
  }
}

}  // namespace statestore
