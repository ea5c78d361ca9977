#include "statestore/file_system.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>

namespace statestore {

FileSystem* FileSystem::Default() {
  static FileSystem* const posix = new FileSystem();  // never destroyed: usable from static destructors
  return posix;
}

int FileSystem::Open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }
int FileSystem::Close(int fd) { return ::close(fd); }
int FileSystem::Flock(int fd, int operation) { return ::flock(fd, operation); }
int FileSystem::Fstat(int fd, struct stat* out) { return ::fstat(fd, out); }
int FileSystem::Stat(const char* path, struct stat* out) { return ::stat(path, out); }
int FileSystem::Ftruncate(int fd, off_t size) { return ::ftruncate(fd, size); }
int FileSystem::Fsync(int fd) { return ::fsync(fd); }
void* FileSystem::MapShared(int fd, std::size_t size) {
  return ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}
void* FileSystem::Remap(void* old_address, std::size_t old_size, std::size_t new_size) {
  return ::mremap(old_address, old_size, new_size, MREMAP_MAYMOVE);
}
int FileSystem::Unmap(void* address, std::size_t size) { return ::munmap(address, size); }
int FileSystem::Madvise(void* address, std::size_t size, int advice) { return ::madvise(address, size, advice); }
int FileSystem::Msync(void* address, std::size_t size, int flags) { return ::msync(address, size, flags); }
int FileSystem::Rename(const char* from, const char* to) { return ::rename(from, to); }
int FileSystem::Link(const char* from, const char* to, int flags) {
  return ::linkat(AT_FDCWD, from, AT_FDCWD, to, flags);
}
int FileSystem::Unlink(const char* path) { return ::unlink(path); }

std::uint64_t FileSystem::BootId() {
  static const std::uint64_t boot = [] {
    char text[64] = {};
    const int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::uint64_t{0};
    const ssize_t n = ::read(fd, text, sizeof text);
    ::close(fd);
    if (n <= 0) return std::uint64_t{0};
    const std::uint64_t tag = XXH3_64bits(text, static_cast<std::size_t>(n));
    return tag == 0 ? std::uint64_t{1} : tag;
  }();
  return boot;
}

}  // namespace statestore
