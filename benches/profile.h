// -----------------------------------------------------------------------------
// File: profile.h
// -----------------------------------------------------------------------------
//
// state_bench's own command line: --profile=tiny|quick|full (default quick)
// and --list_profile, stripped from argv before Google Benchmark sees it.
// A profile chooses which benchmarks are registered and the Google Benchmark
// flags it implies (--benchmark_repetitions, --benchmark_min_time). Those are
// placed *before* the user's arguments, so a user's own
// --benchmark_repetitions=... (parsed later) wins.
//
//   tiny : a handful of 1K-key benchmarks, 2 repetitions, 0.01 s min time;
//          CI smoke runs and the integration test (seconds).
//   quick: every benchmark at <= 100K keys and <= 10MB, 5 repetitions,
//          0.1 s min time; pull requests (<= 4 minutes on 2 vCPUs).
//   full : everything, including 10M keys and 100MB; main/nightly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace statestore::bench {

// Profile membership bits for a benchmark.
enum ProfileBit : unsigned { kTiny = 1, kQuick = 2, kFull = 4 };

struct Profile {
  std::string name;
  ProfileBit bit;
  int repetitions;
  double min_time_seconds;
};

// The named profile, or nullopt.
std::optional<Profile> FindProfile(std::string_view name);

struct CommandLine {
  Profile profile;
  bool list_profile = false;
  // argv for benchmark::Initialize: program name, the profile's flags, then
  // the user's remaining arguments in order.
  std::vector<std::string> benchmark_args;
  // Non-empty when the command line is unusable (exit status 2), e.g.
  // "state_bench: unknown profile 'huge' (expected tiny, quick or full)".
  std::string error;
};

CommandLine ParseCommandLine(const std::vector<std::string>& args);

}  // namespace statestore::bench
