// -----------------------------------------------------------------------------
// File: state_instr.cc
// -----------------------------------------------------------------------------
//
// state_instr: instructions per operation of the small-working-set workloads,
// counted by valgrind's callgrind. Wall time on a shared 2-vCPU VM moves by
// up to 2-3x between runs minutes apart; the instruction count of a fixed
// operation count does not move at all, so it is what lets a *committed*
// baseline hold a tight (2%) line across runs and runners, for the same
// compiler and flags.
//
// It runs the very workloads of state_bench (workloads.h), under the same
// names, with a fixed operation count, and brackets each measured loop with
// callgrind client requests:
//
//   valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no
//            --callgrind-out-file=DIR/cg.out.%p state_instr --ops=20000
//
//   per workload: setup (uninstrumented: fast) -> START_INSTRUMENTATION ->
//   warm-up (instrumented, not collected) -> TOGGLE_COLLECT -> N x Op() ->
//   TOGGLE_COLLECT -> DUMP_STATS_AT(name) -> STOP_INSTRUMENTATION
//
// Each dump is a file whose `desc: Trigger: Client Request: <name>` line
// names the workload and whose totals line holds the instructions (Ir) of the
// N operations; `benchrun instr` parses them and divides by N. The delete
// workload's refills run with collection toggled off, so only del() counts.
//
// What it does not see: cache misses and page faults. The 10M-key workloads
// are bound by memory latency, not instructions, and are not run here; an
// instruction count says nothing about them.
//
// Hash tables are seeded with fixed seeds here (kInstrHashSeed), so probe
// sequences, hence counts, are identical run after run.
//
//   state_instr --list            the workload names, one per line
//   state_instr --context         key=value lines of the build context
//   state_instr [--ops=N] [--filter=REGEX]
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "build_info.h"
#include "context.h"
#include "slowdown.h"
#include "statestore/inmemory_state_store.h"
#include "statestore/mmap_state_store.h"
#include "workloads.h"

namespace statestore::bench {
namespace {

inline constexpr std::uint64_t kInstrHashSeed = 0x1D5'7A7E'5EED;
inline constexpr std::size_t kKeySize = 8;
inline constexpr std::size_t kValueSize = 128;
inline constexpr std::size_t kRangeStoreKeys = 100'000;
// Scans, snapshots and restores cost thousands of operations' worth each.
inline constexpr std::size_t kWholeStoreOpsDivisor = 200;

struct Options {
  std::size_t ops = 20'000;
  std::string filter = ".";
  bool list = false;
  bool context = false;
};

// One measured workload: `run(ops)` sets up, then calls Measure() once.
struct InstrWorkload {
  std::string name;
  std::function<void(const std::string& name, std::size_t ops)> run;
};

// Brackets `ops` calls of `op` with callgrind's collection toggles and dumps
// the counts under `name`. `between`, when given, runs uncollected every time
// `needs_between()` turns true (delete's refill).
void Measure(const std::string& name, std::size_t ops, const std::function<void()>& op,
             const std::function<bool()>& needs_between = {}, const std::function<void()>& between = {}) {
  slowdown::Prepare(name, op);
  CALLGRIND_START_INSTRUMENTATION;
  for (std::size_t i = 0; i < 1000; ++i) op();  // warm-up: translate the code, fill the caches
  if (between) between();
  CALLGRIND_TOGGLE_COLLECT;
  for (std::size_t i = 0; i < ops; ++i) {
    op();
    slowdown::after_op();
    if (needs_between && needs_between()) {
      CALLGRIND_TOGGLE_COLLECT;
      between();
      CALLGRIND_TOGGLE_COLLECT;
    }
  }
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT(name.c_str());
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("%s ops=%zu\n", name.c_str(), ops);
  std::fflush(stdout);
}

void Require(const Status& s, const std::string& what) {
  if (!s.ok()) {
    std::fprintf(stderr, "state_instr: %s: %s\n", what.c_str(), s.ToString().c_str());
    std::exit(1);
  }
}

std::string ScratchFile(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/state_instr.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "state_instr: cannot create a temporary directory %s: %s\n", pattern.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  return pattern + "/" + tag + ".mmap";
}

// A store of either backend with a fixed hash seed, removed when done.
template <typename Store>
struct Fixture;

template <>
struct Fixture<InMemoryStateStore> {
  static constexpr const char* kSuffix = "inmemory";
  InMemoryStateStore store{FixedHashSeed{kInstrHashSeed}};
  Fixture() = default;
};

template <>
struct Fixture<MmapStateStore> {
  static constexpr const char* kSuffix = "mmap";
  std::string path = ScratchFile("instr");
  std::unique_ptr<MmapStateStore> handle;
  MmapStateStore& store;
  Fixture() : store(Open(path, handle)) {}
  ~Fixture() {
    handle.reset();
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  }
  static MmapStateStore& Open(const std::string& path, std::unique_ptr<MmapStateStore>& handle) {
    MmapOptions options;
    options.hash_seed = kInstrHashSeed;
    Require(MmapStateStore::Open(path, handle, options), "open " + path);
    return *handle;
  }
};

template <typename Store>
void AddPointWorkloads(std::vector<InstrWorkload>& out, std::size_t count) {
  const std::string suffix = std::string(Fixture<Store>::kSuffix) + "/" + std::to_string(count);
  out.push_back({"state_get_" + suffix, [count](const std::string& name, std::size_t ops) {
                   Fixture<Store> f;
                   KeySet keys(count, kKeySize);
                   Require(PopulateStore(f.store, keys, kValueSize), "populate");
                   GetWorkload<Store> w(f.store, keys);
                   Measure(name, ops, [&w] { w.Op(); });
                 }});
  out.push_back({"state_put_" + suffix, [count](const std::string& name, std::size_t ops) {
                   Fixture<Store> f;
                   KeySet keys(2 * count, kKeySize);
                   ValueSet values(2 * count, kValueSize);
                   Require(PopulateStore(f.store, 0, count, kKeySize, kValueSize), "populate");
                   PutWorkload<Store> w(f.store, keys, values);
                   Measure(name, ops, [&w] { w.Op(); });
                   Require(w.status(), name);
                 }});
  out.push_back({"state_delete_" + suffix, [count](const std::string& name, std::size_t ops) {
                   Fixture<Store> f;
                   KeySet keys(count, kKeySize);
                   ValueSet values(count, kValueSize);
                   Require(PopulateStore(f.store, keys, kValueSize), "populate");
                   DeleteWorkload<Store> w(f.store, keys, values, DeleteWorkload<Store>::DefaultBatch(count));
                   Measure(
                       name, ops, [&w] { w.Op(); }, [&w] { return w.NeedsRefill(); }, [&w] { w.Refill(); });
                   Require(w.status(), name);
                 }});
}

template <typename Store>
void AddRangeWorkloads(std::vector<InstrWorkload>& out, const std::string& prefix) {
  for (std::size_t results : {10, 100, 1000}) {
    out.push_back({prefix + "/results/" + std::to_string(results), [results](const std::string& name, std::size_t ops) {
                     Fixture<Store> f;
                     KeySet keys(kRangeStoreKeys, kKeySize);
                     Require(PopulateStore(f.store, keys, kValueSize), "populate");
                     RangeWorkload<Store> w(f.store, results, kKeySize);
                     Measure(name, std::max<std::size_t>(1, ops / kWholeStoreOpsDivisor), [&w] { w.Op(); });
                   }});
  }
}

template <typename Store>
void AddSnapshotWorkloads(std::vector<InstrWorkload>& out) {
  const std::string suffix = std::string(Fixture<Store>::kSuffix) + "/1MB";
  constexpr std::size_t kEntries = 7'300;
  out.push_back({"state_snapshot/" + suffix, [](const std::string& name, std::size_t ops) {
                   Fixture<Store> f;
                   KeySet keys(kEntries, kKeySize);
                   Require(PopulateStore(f.store, keys, kValueSize), "populate");
                   std::string buffer;
                   SnapshotWorkload<Store> w(f.store, buffer);
                   Measure(name, std::max<std::size_t>(1, ops / kWholeStoreOpsDivisor), [&w] { w.Op(); });
                 }});
  out.push_back({"state_restore/" + suffix, [](const std::string& name, std::size_t ops) {
                   Fixture<Store> source;
                   KeySet keys(kEntries, kKeySize);
                   Require(PopulateStore(source.store, keys, kValueSize), "populate");
                   const std::string blob = source.store.snapshot();
                   Fixture<Store> f;
                   RestoreWorkload<Store> w(f.store, blob);
                   Measure(name, std::max<std::size_t>(1, ops / kWholeStoreOpsDivisor), [&w] { w.Op(); });
                 }});
}

std::vector<InstrWorkload> AllWorkloads() {
  std::vector<InstrWorkload> out;
  for (std::size_t count : {1'000, 100'000}) {
    AddPointWorkloads<InMemoryStateStore>(out, count);
    AddPointWorkloads<MmapStateStore>(out, count);
  }
  AddRangeWorkloads<InMemoryStateStore>(out, "state_range");
  AddRangeWorkloads<MmapStateStore>(out, "state_range_mmap");
  AddSnapshotWorkloads<InMemoryStateStore>(out);
  AddSnapshotWorkloads<MmapStateStore>(out);
  return out;
}

bool ParseArgs(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--list") {
      options.list = true;
    } else if (arg == "--context") {
      options.context = true;
    } else if (arg.rfind("--ops=", 0) == 0) {
      options.ops = std::strtoull(arg.c_str() + 6, nullptr, 10);
      if (options.ops == 0) {
        std::fprintf(stderr, "state_instr: --ops must be a positive number, got '%s'\n", arg.c_str() + 6);
        return false;
      }
    } else if (arg.rfind("--filter=", 0) == 0) {
      options.filter = arg.substr(9);
    } else {
      std::fprintf(stderr, "state_instr: unknown argument '%s' (expected --list, --context, --ops=N, --filter=REGEX)\n",
                   arg.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace statestore::bench

int main(int argc, char** argv) {
  using namespace statestore::bench;
  Options options;
  if (!ParseArgs(argc, argv, options)) return 2;
  std::string error;
  if (!slowdown::Validate(error)) {
    std::fprintf(stderr, "state_instr: %s\n", error.c_str());
    return 2;
  }
  if (options.context) {
    for (const auto& [key, value] : BuildContext("instructions")) std::printf("%s=%s\n", key.c_str(), value.c_str());
    return 0;
  }
  std::regex filter;
  try {
    filter = std::regex(options.filter);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "state_instr: bad --filter '%s': %s\n", options.filter.c_str(), e.what());
    return 2;
  }
  std::size_t matched = 0;
  for (const InstrWorkload& w : AllWorkloads()) {
    if (!std::regex_search(w.name, filter)) continue;
    ++matched;
    if (options.list) {
      std::printf("%s\n", w.name.c_str());
    } else {
      w.run(w.name, options.ops);
    }
  }
  if (matched == 0) {
    std::fprintf(stderr, "state_instr: no workload matches --filter '%s'\n", options.filter.c_str());
    return 2;
  }
  return 0;
}
