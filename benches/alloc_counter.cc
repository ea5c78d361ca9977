#include "alloc_counter.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace statestore::bench {
namespace {

// Plain thread-locals: one increment per allocation, no atomics.
thread_local std::uint64_t t_allocs = 0;
thread_local std::int64_t t_bytes = 0;
thread_local std::int64_t t_peak_bytes = 0;
thread_local std::int64_t t_total_bytes = 0;
// Set while the MemoryManager records; relaxed, read once per new/delete.
std::atomic<bool> g_track_bytes{false};

inline void OnAlloc(void* p) {
  ++t_allocs;
  if (g_track_bytes.load(std::memory_order_relaxed) && p != nullptr) {
    const auto n = static_cast<std::int64_t>(malloc_usable_size(p));
    t_bytes += n;
    t_total_bytes += n;
    if (t_bytes > t_peak_bytes) t_peak_bytes = t_bytes;
  }
}

inline void OnFree(void* p) {
  if (g_track_bytes.load(std::memory_order_relaxed) && p != nullptr) {
    t_bytes -= static_cast<std::int64_t>(malloc_usable_size(p));
  }
}

void* Allocate(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  OnAlloc(p);
  return p;
}

void* AllocateAligned(std::size_t size, std::align_val_t align) {
  const std::size_t a =
      static_cast<std::size_t>(align) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(align);
  void* p = nullptr;
  if (posix_memalign(&p, a, size == 0 ? 1 : size) != 0) p = nullptr;
  OnAlloc(p);
  return p;
}

void Free(void* p) {
  OnFree(p);
  std::free(p);
}

}  // namespace

std::uint64_t ThreadAllocCount() { return t_allocs; }

void CountingMemoryManager::Start() {
  start_allocs_ = t_allocs;
  t_bytes = 0;
  t_peak_bytes = 0;
  t_total_bytes = 0;
  g_track_bytes.store(true, std::memory_order_relaxed);
}

void CountingMemoryManager::Stop(benchmark::MemoryManager::Result& result) {
  g_track_bytes.store(false, std::memory_order_relaxed);
  result.num_allocs = static_cast<std::int64_t>(t_allocs - start_allocs_);
  result.max_bytes_used = t_peak_bytes;
  result.total_allocated_bytes = t_total_bytes;
  result.net_heap_growth = t_bytes;
}

}  // namespace statestore::bench

using statestore::bench::Allocate;
using statestore::bench::AllocateAligned;
using statestore::bench::Free;

void* operator new(std::size_t size) {
  void* p = Allocate(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size) {
  void* p = Allocate(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  void* p = AllocateAligned(size, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size, std::align_val_t align) {
  void* p = AllocateAligned(size, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return AllocateAligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return AllocateAligned(size, align);
}

void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, std::size_t) noexcept { Free(p); }
void operator delete[](void* p, std::size_t) noexcept { Free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { Free(p); }
