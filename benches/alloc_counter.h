// -----------------------------------------------------------------------------
// File: alloc_counter.h
// -----------------------------------------------------------------------------
//
// Allocation counting for state_bench. alloc_counter.cc replaces every form
// of the global operator new/delete (plain, sized, aligned, nothrow, array)
// in the program that links it; each allocation bumps a thread-local counter
// (a plain increment: benchmarks are single-threaded and the counter is read
// by the same thread). Byte accounting (malloc_usable_size per new/delete)
// runs only while the MemoryManager is recording, so ordinary timed loops pay
// one increment per allocation and nothing per deallocation.
//
// Two consumers:
//  - CountingMemoryManager, registered with benchmark::RegisterMemoryManager:
//    Google Benchmark then adds `allocs_per_iter` and `max_bytes_used` to each
//    row (from its own extra run of the benchmark function).
//  - AllocWindow, read around a timed loop: `allocs_per_op` counts only the
//    allocations of the measured operations (setup, latency passes and paused
//    refills excluded).
//
// Only operator new is counted: a store calling malloc directly would escape
// the count (ours do not on their hot paths).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace statestore::bench {

// Allocations made by the calling thread since it started.
std::uint64_t ThreadAllocCount();

// Counts allocations between construction and Stop(), minus excluded spans.
class AllocWindow {
 public:
  AllocWindow() : start_(ThreadAllocCount()) {}
  // Brackets a span (e.g. a paused refill) whose allocations do not count.
  void BeginExcluded() { excluded_start_ = ThreadAllocCount(); }
  void EndExcluded() { excluded_ += ThreadAllocCount() - excluded_start_; }
  std::uint64_t Count() const { return ThreadAllocCount() - start_ - excluded_; }
  double PerOp(std::int64_t ops) const { return ops > 0 ? static_cast<double>(Count()) / ops : 0.0; }

 private:
  std::uint64_t start_;
  std::uint64_t excluded_start_ = 0;
  std::uint64_t excluded_ = 0;
};

class CountingMemoryManager final : public benchmark::MemoryManager {
 public:
  void Start() override;
  void Stop(benchmark::MemoryManager::Result& result) override;
  // Required by 1.7.1's interface (deprecated overload).
  void Stop(benchmark::MemoryManager::Result* result) override { Stop(*result); }

 private:
  std::uint64_t start_allocs_ = 0;
};

}  // namespace statestore::bench
