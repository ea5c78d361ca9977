// Crash safety of MmapStateStore: a child process applies a deterministic
// stream of puts, overwrites, deletes, compactions, clears and restores, reporting each
// completed operation through a pipe; the parent SIGKILLs it at a random
// moment, reopens the file and checks the store holds exactly the effect of
// every reported operation, plus possibly the one in flight, and nothing else.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "statestore/mmap_state_store.h"
#include "statestore/snapshot_format.h"

namespace statestore {
namespace {

using Model = std::map<std::string, std::string>;

constexpr std::uint32_t kMaxOperations = 5'000'000;

struct Operation {
  enum Kind { kPut, kDelete, kCompact, kClear, kRestore } kind;
  std::string key;
  std::string value;
};

// The state a kRestore operation `i` installs: a few keys derived from i.
Model RestoredState(std::uint32_t i) {
  Model state;
  for (std::uint32_t k = 0; k < 50; ++k) {
    state["key" + std::to_string((i + k * 13) % 700)] = "restored " + std::to_string(i) + std::string(k * 40, 'r');
  }
  return state;
}

std::string SnapshotOf(const Model& state) {
  std::size_t kv_bytes = 0;
  for (const auto& [k, v] : state) kv_bytes += k.size() + v.size();
  std::string blob;
  SnapshotWriter writer(blob, state.size(), kv_bytes);
  for (const auto& [k, v] : state) writer.add(k, v);
  writer.finish();
  return blob;
}

// Operation `i` of the stream: mostly puts over 700 keys (so overwrites are
// frequent) with sizes from 0 to ~9 KB (records straddle pages and the file
// remaps) and, every third operation, of exactly 120 bytes (so a key often
// gets a value of the size it had: an overwrite in place), every 7th a delete, every 4000th a compaction, every 3000th
// a clear and every 2500th a restore of RestoredState(i).
Operation OperationAt(std::uint32_t i) {
  if (i % 4000 == 3999) return {Operation::kCompact, {}, {}};
  if (i % 3000 == 2999) return {Operation::kClear, {}, {}};
  if (i % 2500 == 1249) return {Operation::kRestore, {}, {}};
  std::string key = "key" + std::to_string((i * 37u) % 700);
  if (i % 13 == 5) key += std::string(1, '\0') + "\xff";
  if (i % 7 == 3) return {Operation::kDelete, key, {}};
  std::string value = std::to_string(i) + "|";
  if (i % 3 == 1) {
    // 120 bytes: a key whose current value also has 120 bytes is overwritten
    // in place (through the overwrite journal), not appended.
    value.resize(120, static_cast<char>('a' + i % 26));
    return {Operation::kPut, std::move(key), std::move(value)};
  }
  const std::size_t filler = i % 11 == 0 ? 0 : (i * 7919u) % 9000;
  value.append(filler, static_cast<char>('a' + i % 26));
  return {Operation::kPut, std::move(key), std::move(value)};
}

void Apply(std::uint32_t i, const Operation& op, Model& model) {
  if (op.kind == Operation::kPut) model[op.key] = op.value;
  if (op.kind == Operation::kDelete) model.erase(op.key);
  if (op.kind == Operation::kClear) model.clear();
  if (op.kind == Operation::kRestore) model = RestoredState(i);
}

MmapOptions SmallStart() {
  MmapOptions options;
  options.initial_index_slots = 8;
  options.initial_data_bytes = 4096;
  return options;
}

[[noreturn]] void RunChild(const std::string& path, int report_fd) {
  std::unique_ptr<MmapStateStore> store;
  if (!MmapStateStore::Open(path, store, SmallStart()).ok()) ::_exit(2);
  for (std::uint32_t i = 0; i < kMaxOperations; ++i) {
    const Operation op = OperationAt(i);
    Status s;
    if (op.kind == Operation::kPut) s = store->put(op.key, op.value);
    if (op.kind == Operation::kDelete) s = store->del(op.key);
    if (op.kind == Operation::kCompact) s = store->compact();
    if (op.kind == Operation::kClear) s = store->clear();
    if (op.kind == Operation::kRestore) s = store->restore(SnapshotOf(RestoredState(i)));
    if (!s.ok()) ::_exit(3);
    if (::write(report_fd, &i, sizeof i) != sizeof i) ::_exit(4);
  }
  ::_exit(0);
}

// Forks the writer, reads its reports for `delay`, kills it and returns the
// number of operations it reported complete.
std::uint32_t RunAndKill(const std::string& path, std::chrono::milliseconds delay) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    RunChild(path, fds[1]);
  }
  ::close(fds[1]);
  std::uint32_t completed = 0;
  std::uint32_t buffer[1024];
  std::size_t carry = 0;  // bytes of a partial report left from the last read
  const auto consume = [&](ssize_t got) {
    const std::size_t bytes = carry + static_cast<std::size_t>(got);
    const std::size_t reports = bytes / sizeof(std::uint32_t);
    for (std::size_t r = 0; r < reports; ++r) {
      REQUIRE(buffer[r] == completed);  // reports arrive in order
      ++completed;
    }
    carry = bytes % sizeof(std::uint32_t);
    std::memmove(buffer, reinterpret_cast<char*>(buffer) + reports * sizeof(std::uint32_t), carry);
  };
  const auto deadline = std::chrono::steady_clock::now() + delay;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t got = ::read(fds[0], reinterpret_cast<char*>(buffer) + carry, sizeof buffer - carry);
    if (got <= 0) break;  // the child finished or died on its own
    consume(got);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  // Either we killed it, or it ran to the end of the stream.
  CHECK((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
  for (;;) {
    const ssize_t got = ::read(fds[0], reinterpret_cast<char*>(buffer) + carry, sizeof buffer - carry);
    if (got <= 0) break;
    consume(got);
  }
  ::close(fds[0]);
  return completed;
}

Model Contents(const MmapStateStore& store) {
  Model out;
  store.prefix_scan("", [&](std::string_view k, std::string_view v) {
    out.emplace(std::string(k), std::string(v));
    return true;
  });
  return out;
}

TEST_CASE("a writer killed with SIGKILL leaves a store holding every completed operation and no torn one",
          "[mmap][crash]") {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    char dir_template[] = "/tmp/mmap_crash_test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string path = dir + "/state.mmap";
    // Removes the directory however this iteration ends.
    const std::unique_ptr<const std::string, void (*)(const std::string*)> cleanup(&dir, [](const std::string* d) {
      std::error_code ignored;
      std::filesystem::remove_all(*d, ignored);
    });

    std::mt19937_64 rng(seed);
    const auto delay = std::chrono::milliseconds(3 + rng() % 198);
    const std::uint32_t completed = RunAndKill(path, delay);
    INFO("seed " << seed << ", killed after " << delay.count() << " ms, " << completed << " operations completed");

    Model before;  // effect of every reported operation
    for (std::uint32_t i = 0; i < completed; ++i) Apply(i, OperationAt(i), before);
    Model after = before;  // ... plus the one that may have been in flight
    if (completed < kMaxOperations) Apply(completed, OperationAt(completed), after);

    {
      std::unique_ptr<MmapStateStore> store;
      const Status s = MmapStateStore::Open(path, store);
      INFO(s.ToString());
      REQUIRE(s.ok());
      const Model got = Contents(*store);
      const bool matches = got == before || got == after;
      if (!matches) {
        for (const auto& [k, v] : before) {
          const auto it = got.find(k);
          if (it == got.end()) {
            UNSCOPED_INFO("missing key " << k);
          } else if (it->second != v) {
            UNSCOPED_INFO("key " << k << " holds " << it->second.substr(0, 12) << " want " << v.substr(0, 12));
          }
        }
      }
      REQUIRE(matches);
      REQUIRE(store->size() == got.size());
      for (const auto& [k, v] : got) REQUIRE(store->get(k) == std::optional<std::string_view>(v));
      CHECK_FALSE(std::filesystem::exists(path + ".rewrite"));
      // The recovered file keeps working and closes cleanly.
      REQUIRE(store->put("after-crash", "ok").ok());
    }
    {
      std::unique_ptr<MmapStateStore> store;
      REQUIRE(MmapStateStore::Open(path, store).ok());
      CHECK(store->get("after-crash") == std::optional<std::string_view>("ok"));
    }
  }
}

}  // namespace
}  // namespace statestore
