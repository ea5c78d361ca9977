// The read path allocates nothing: get(), range(), prefix_scan() and the
// inlined for_each_* visitors, on both backends. This executable replaces the
// global operator new/delete with counting versions, so it lives alone (see
// CMakeLists.txt). Speed is not asserted here; benches/ measures it.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "statestore/inmemory_state_store.h"
#include "statestore/mmap_state_store.h"

namespace {

// Plain counter: the tests are single-threaded.
std::size_t g_allocations = 0;

void* CountedAlloc(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

void* CountedAlignedAlloc(std::size_t n, std::align_val_t align) {
  ++g_allocations;
  const std::size_t a = static_cast<std::size_t>(align);
  const std::size_t rounded = ((n == 0 ? 1 : n) + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n, std::align_val_t a) { return CountedAlignedAlloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return CountedAlignedAlloc(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using statestore::InMemoryStateStore;
using statestore::MmapStateStore;
using statestore::StateStore;

constexpr int kKeys = 5000;

// Fixed-width keys so lexicographic order equals numeric order.
std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "key:%08d", i);
  return buf;
}

void Fill(StateStore& store) {
  for (int i = 0; i < kKeys; ++i) {
    REQUIRE(store.put(Key(i), std::string(static_cast<std::size_t>(i % 97), 'v')).ok());
  }
}

class TempFile {
 public:
  TempFile() {
    path_ = (std::filesystem::temp_directory_path() / ("statestore_alloc_test_" + std::to_string(::getpid()) + ".mmap"))
                .string();
    std::filesystem::remove(path_);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs every read operation of the StateStore interface over `store` with
// the key strings built beforehand; returns the allocations they made and
// checks that they saw what was stored (so the loops are not dead code).
std::size_t CountInterfaceReads(const StateStore& store, const std::string& first, const std::string& last,
                                const std::string& absent, const std::string& prefix) {
  std::size_t found = 0, visited = 0, bytes = 0;
  const std::size_t before = g_allocations;
  for (int round = 0; round < 3; ++round) {
    if (auto v = store.get(first)) bytes += v->size();
    if (auto v = store.get(last)) bytes += v->size();
    if (store.get(absent)) ++found;
    if (store.contains(first)) ++found;
    store.range(first, last, [&](std::string_view k, std::string_view v) {
      bytes += k.size() + v.size();
      ++visited;
      return true;
    });
    store.prefix_scan(prefix, [&](std::string_view k, std::string_view) {
      bytes += k.size();
      ++visited;
      return true;
    });
  }
  const std::size_t made = g_allocations - before;
  CHECK(found == 3);         // contains(first) three times, absent never
  CHECK(visited > 3 * 100);  // the range and the prefix scan both yielded
  CHECK(bytes > 0);
  return made;
}

}  // namespace

TEST_CASE("the counting allocator sees allocations", "[alloc]") {
  // Guards the other cases: if operator new were not replaced, every count
  // below would be zero whatever the stores did.
  const std::size_t before = g_allocations;
  auto owned = std::make_unique<std::string>(100, 'x');
  REQUIRE(owned->size() == 100);
  CHECK(g_allocations - before >= 1);
  InMemoryStateStore store;
  const std::size_t before_put = g_allocations;
  REQUIRE(store.put("a key", "a value").ok());
  CHECK(g_allocations - before_put >= 1);  // the first put builds the table
}

TEST_CASE("InMemoryStateStore read path allocates nothing", "[alloc]") {
  InMemoryStateStore store;
  Fill(store);
  const std::string first = Key(10), last = Key(4000), absent = "no such key", prefix = "key:00001";
  CHECK(CountInterfaceReads(store, first, last, absent, prefix) == 0);

  std::size_t visited = 0;
  const std::size_t before = g_allocations;
  store.for_each_in_range(first, last, [&](std::string_view, std::string_view) { return ++visited != 0; });
  store.for_each_with_prefix(prefix, [&](std::string_view, std::string_view) { return ++visited != 0; });
  store.for_each([&](std::string_view, std::string_view) { return ++visited != 0; });
  CHECK(g_allocations - before == 0);
  CHECK(visited == (4000 - 10) + 1000 + kKeys);
}

TEST_CASE("InMemoryStateStore read path allocates nothing while deleted keys are still in its ordered index",
          "[alloc]") {
  InMemoryStateStore store;
  Fill(store);
  // Deletes mark their ordered-index elements; scans then skip them.
  for (int i = 20; i < 3000; i += 3) REQUIRE(store.del(Key(i)).ok());
  const std::string first = Key(10), last = Key(4000), absent = Key(20), prefix = "key:00001";
  CHECK(CountInterfaceReads(store, first, last, absent, prefix) == 0);

  std::size_t visited = 0;
  const std::size_t before = g_allocations;
  store.for_each_in_range(first, last, [&](std::string_view, std::string_view) { return ++visited != 0; });
  store.for_each_with_prefix(prefix, [&](std::string_view, std::string_view) { return ++visited != 0; });
  store.for_each([&](std::string_view, std::string_view) { return ++visited != 0; });
  CHECK(g_allocations - before == 0);
  const std::size_t deleted = (3000 - 20 + 2) / 3;
  const std::size_t deleted_with_prefix = (1999 - 1002) / 3 + 1;  // 1002, 1005, ..., 1998
  CHECK(visited == (4000 - 10 - deleted) + (1000 - deleted_with_prefix) + (kKeys - deleted));
}

TEST_CASE("MmapStateStore read path allocates nothing once the ordered index is built", "[alloc]") {
  TempFile file;
  std::unique_ptr<MmapStateStore> store;
  REQUIRE(MmapStateStore::Open(file.path(), store).ok());
  Fill(*store);
  const std::string first = Key(10), last = Key(4000), absent = "no such key", prefix = "key:00001";

  // get() never allocates, even before the first range.
  std::size_t before = g_allocations;
  REQUIRE(store->get(first).has_value());
  REQUIRE_FALSE(store->get(absent).has_value());
  CHECK(g_allocations - before == 0);

  // The ordered index is built lazily by the first ordered read after open
  // (documented in mmap_state_store.h); that call may allocate.
  store->range(first, first + "\x01", [](std::string_view, std::string_view) { return true; });
  CHECK(CountInterfaceReads(*store, first, last, absent, prefix) == 0);

  std::size_t visited = 0;
  before = g_allocations;
  store->for_each_in_range(first, last, [&](std::string_view, std::string_view) { return ++visited != 0; });
  store->for_each_with_prefix(prefix, [&](std::string_view, std::string_view) { return ++visited != 0; });
  CHECK(g_allocations - before == 0);
  CHECK(visited == (4000 - 10) + 1000);
}

TEST_CASE("MmapStateStore ranges allocate nothing after puts and deletes that maintain the ordered index", "[alloc]") {
  TempFile file;
  std::unique_ptr<MmapStateStore> store;
  REQUIRE(MmapStateStore::Open(file.path(), store).ok());
  Fill(*store);
  const std::string first = Key(10), last = Key(4000), absent = "no such key", prefix = "key:00001";
  store->range(first, first + "\x01", [](std::string_view, std::string_view) { return true; });  // builds it

  // Every kind of mutation, after the build: a new key, an appended
  // overwrite, an overwrite in place, a delete, and growth of the file.
  const std::string inserted = Key(1500) + "+";
  REQUIRE(store->put(inserted, "inserted").ok());
  REQUIRE(store->put(Key(1501), std::string(500, 'w')).ok());
  REQUIRE(store->put(Key(1502), std::string(1502 % 97, 'x')).ok());
  REQUIRE(store->del(Key(1503)).ok());
  for (int i = kKeys; i < 3 * kKeys; ++i) REQUIRE(store->put(Key(i), std::string(200, 'g')).ok());

  CHECK(CountInterfaceReads(*store, first, last, absent, prefix) == 0);
  // The scans see the mutations, so the index was maintained, not rebuilt.
  const std::string deleted = Key(1503), overwritten = Key(1501);
  bool saw_inserted = false, saw_deleted = false, saw_long = false;
  const std::size_t before = g_allocations;
  store->for_each_with_prefix(prefix, [&](std::string_view k, std::string_view v) {
    saw_inserted |= k == inserted && v == "inserted";
    saw_deleted |= k == deleted;
    saw_long |= k == overwritten && v.size() == 500;
    return true;
  });
  CHECK(g_allocations - before == 0);
  CHECK(saw_inserted);
  CHECK_FALSE(saw_deleted);
  CHECK(saw_long);
}
