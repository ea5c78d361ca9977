// FileSystem: the operating-system calls MmapStateStore makes, behind one
// seam (LevelDB's Env), so tests can fail any of them in turn or record what
// reaches the disk. The default forwards each call to POSIX.
//
// Every method returns what its POSIX namesake returns and sets errno the
// same way on failure (-1, or MAP_FAILED for the mappings). Implementations
// must be usable from one thread at a time per store; the store never
// retains a FileSystem beyond the lifetime its owner guarantees (MmapOptions).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace statestore {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The process-wide POSIX implementation (never null, never destroyed).
  static FileSystem* Default();

  virtual int Open(const char* path, int flags, mode_t mode);
  virtual int Close(int fd);
  virtual int Flock(int fd, int operation);
  virtual int Fstat(int fd, struct stat* out);
  virtual int Stat(const char* path, struct stat* out);
  virtual int Ftruncate(int fd, off_t size);
  virtual int Fsync(int fd);
  // mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0).
  virtual void* MapShared(int fd, std::size_t size);
  // mremap(old_address, old_size, new_size, MREMAP_MAYMOVE).
  virtual void* Remap(void* old_address, std::size_t old_size, std::size_t new_size);
  virtual int Unmap(void* address, std::size_t size);
  virtual int Madvise(void* address, std::size_t size, int advice);
  virtual int Msync(void* address, std::size_t size, int flags);
  virtual int Rename(const char* from, const char* to);
  // linkat(AT_FDCWD, from, AT_FDCWD, to, flags).
  virtual int Link(const char* from, const char* to, int flags);
  virtual int Unlink(const char* path);
  // A tag of the running boot (XXH3-64 of /proc/sys/kernel/random/boot_id),
  // 0 when unknown. A file last opened under another boot may have lost
  // writes that were not flushed (a power cut or an OS crash since).
  virtual std::uint64_t BootId();
};

}  // namespace statestore
