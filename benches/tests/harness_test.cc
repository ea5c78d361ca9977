// The harness around the workloads: command line and profiles, the injected
// slowdown's setting, latency percentiles, and the run context.
#include <catch2/catch.hpp>
#include <map>

#include "context.h"
#include "hash_seed.h"
#include "latency.h"
#include "profile.h"
#include "slowdown.h"

namespace sb = statestore::bench;

TEST_CASE("the default profile is quick and its flags come before the user's") {
  const auto cl = sb::ParseCommandLine({"state_bench", "--benchmark_repetitions=3"});
  REQUIRE(cl.error.empty());
  CHECK(cl.profile.name == "quick");
  CHECK(cl.benchmark_args == std::vector<std::string>{"state_bench", "--benchmark_repetitions=5",
                                                      "--benchmark_min_time=0.1", "--benchmark_repetitions=3"});
}

TEST_CASE("the profile flag is stripped and selects the tiny and full settings") {
  const auto tiny = sb::ParseCommandLine({"state_bench", "--profile=tiny", "--benchmark_filter=get"});
  REQUIRE(tiny.error.empty());
  CHECK(tiny.profile.bit == sb::kTiny);
  CHECK(tiny.benchmark_args == std::vector<std::string>{"state_bench", "--benchmark_repetitions=2",
                                                        "--benchmark_min_time=0.01", "--benchmark_filter=get"});
  const auto full = sb::ParseCommandLine({"state_bench", "--profile", "full", "--list_profile"});
  REQUIRE(full.error.empty());
  CHECK(full.profile.name == "full");
  CHECK(full.list_profile);
  CHECK(full.benchmark_args.size() == 3);
}

TEST_CASE("an unknown profile is refused with the list of known ones") {
  CHECK(sb::ParseCommandLine({"state_bench", "--profile=huge"}).error ==
        "state_bench: unknown profile 'huge' (expected tiny, quick or full)");
  CHECK(sb::ParseCommandLine({"state_bench", "--profile"}).error ==
        "state_bench: --profile needs a value (tiny, quick or full)");
}

TEST_CASE("quick runs enough repetitions for a rank test") {
  CHECK(sb::FindProfile("quick")->repetitions >= 5);
  CHECK(sb::FindProfile("full")->repetitions >= 5);
  CHECK(!sb::FindProfile("Quick").has_value());
}

TEST_CASE("a slowdown setting parses as REGEX:PCT split at the last colon") {
  sb::slowdown::Spec spec;
  std::string error;
  REQUIRE(sb::slowdown::ParseSpec("state_put_mmap_flush/every:1000:20", spec, error));
  CHECK(spec.regex == "state_put_mmap_flush/every:1000");
  CHECK(spec.percent == 20);
}

TEST_CASE("a malformed slowdown setting is refused with a message naming it") {
  sb::slowdown::Spec spec;
  std::string error;
  CHECK(!sb::slowdown::ParseSpec("state_get", spec, error));
  CHECK(error == "STATESTORE_BENCH_SLOWDOWN='state_get' must be REGEX:PCT, e.g. 'state_get_inmemory/.*:20'");
  CHECK(!sb::slowdown::ParseSpec("state_get:lots", spec, error));
  CHECK(error == "STATESTORE_BENCH_SLOWDOWN='state_get:lots': PCT must be a number in (0, 1000], got 'lots'");
  CHECK(!sb::slowdown::ParseSpec("state_get:0", spec, error));
  CHECK(error == "STATESTORE_BENCH_SLOWDOWN='state_get:0': PCT must be a number in (0, 1000], got '0'");
  CHECK(!sb::slowdown::ParseSpec("state_(get:20", spec, error));
  CHECK(error.rfind("STATESTORE_BENCH_SLOWDOWN='state_(get:20': bad regex: ", 0) == 0);
}

TEST_CASE("without the CMake option the slowdown hook is off and reported as none") {
  if (sb::slowdown::kEnabled) {
    SUCCEED("built with STATESTORE_BENCH_SLOWDOWN; the hook is on by design");
    return;
  }
  CHECK(sb::slowdown::Setting() == "none");
  int calls = 0;
  CHECK(sb::slowdown::Prepare("state_get_inmemory/1000", [&calls] { ++calls; }) == 0);
  CHECK(calls == 0);
}

TEST_CASE("latency percentiles are nearest-rank after subtracting the timer's cost") {
  std::vector<std::uint64_t> ticks;
  for (std::uint64_t i = 1000; i >= 1; --i) ticks.push_back(i + 10);
  const auto s = sb::SummarizeLatency(ticks, 10, 2.0);
  CHECK(s.p50_ns == 1000.0);
  CHECK(s.p99_ns == 1980.0);
  CHECK(s.p999_ns == 1998.0);
  CHECK(s.timer_overhead_ns == 20.0);
  CHECK(s.samples == 1000);
}

TEST_CASE("a sample faster than the timer's own cost counts as zero") {
  std::vector<std::uint64_t> ticks{1, 2, 3};
  const auto s = sb::SummarizeLatency(ticks, 5, 1.0);
  CHECK(s.p50_ns == 0.0);
  CHECK(s.p999_ns == 0.0);
}

TEST_CASE("the latency pass times each operation and runs the untimed step between") {
  int ops = 0, between = 0;
  const auto s = sb::MeasureLatency(
      2000, [&ops] { ++ops; }, [&between] { ++between; });
  CHECK(ops == 2000);
  CHECK(between == 2000);
  CHECK(s.samples == 2000);
  CHECK(s.p50_ns <= s.p99_ns);
  CHECK(s.p99_ns <= s.p999_ns);
  CHECK(s.timer_overhead_ns > 0);
  CHECK(sb::LatencySampleCount(5) == 1000);
  CHECK(sb::LatencySampleCount(50'000) == 50'000);
  CHECK(sb::LatencySampleCount(9'000'000) == 100'000);
}

TEST_CASE("the context carries every key the gate reads") {
  const auto ctx = sb::BuildContext("tiny");
  std::map<std::string, std::string> m(ctx.begin(), ctx.end());
  for (const char* key : {"statestore_build_type", "statestore_git_commit", "statestore_git_dirty",
                          "statestore_git_branch", "statestore_compiler", "statestore_cxx_flags", "statestore_sanitize",
                          "statestore_profile", "statestore_cpu_model", "statestore_peers", "statestore_machine",
                          "statestore_slowdown", "statestore_hash_seed"}) {
    INFO(key);
    CHECK(m.count(key) == 1);
  }
  CHECK(m["statestore_profile"] == "tiny");
  CHECK((m["statestore_git_dirty"] == "true" || m["statestore_git_dirty"] == "false" ||
         m["statestore_git_dirty"] == "unknown"));
  CHECK(m["statestore_machine"] == sb::MachineFingerprint());
  CHECK(sb::MachineFingerprint().find(" cpus|") != std::string::npos);
}

TEST_CASE("a non-Release or sanitized build is flagged loudly") {
  const auto ctx = sb::BuildContext("quick");
  std::map<std::string, std::string> m(ctx.begin(), ctx.end());
  const bool trustworthy = m["statestore_build_type"] == "Release" && m["statestore_sanitize"] == "off";
  CHECK(sb::UntrustworthyBuildWarning().empty() == trustworthy);
  if (!trustworthy)
    CHECK(sb::UntrustworthyBuildWarning().find("WARNING: state_bench was built with") != std::string::npos);
}

TEST_CASE("the benchmarks' hash seed: unset is random per store, else a positive decimal integer") {
  namespace hs = statestore::bench::hash_seed;
  std::uint64_t seed = 99;
  std::string error;
  CHECK(hs::Parse("", seed, error));
  CHECK(seed == 0);
  CHECK(hs::Parse("12345", seed, error));
  CHECK(seed == 12345);
  CHECK(hs::Parse("18446744073709551615", seed, error));
  CHECK(seed == 18446744073709551615ULL);
  CHECK(error.empty());
  for (const char* bad : {"0", "-1", "+1", " 1", "1 ", "12x", "0x10", "seed", "18446744073709551616"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(hs::Parse(bad, seed, error));
    CHECK(error == std::string("STATESTORE_BENCH_HASH_SEED='") + bad +
                       "' must be a decimal integer from 1 to 18446744073709551615 (unset: a random seed per store)");
  }
}
