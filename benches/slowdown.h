// -----------------------------------------------------------------------------
// File: slowdown.h
// -----------------------------------------------------------------------------
//
// A calibrated, injected slowdown for the perf gate's self-test: build with
//   cmake -DSTATESTORE_BENCH_SLOWDOWN='state_get_inmemory/.*:20' ...
// and every benchmark whose name matches the regex (std::regex search, like
// --benchmark_filter) costs about 20% more per operation.
//
// Every timed loop calls slowdown::after_op() once per operation. Without the
// CMake option the hook is an empty inline function and compiles to nothing.
// With it, the hook spins `t_spins` iterations of an empty asm statement.
// slowdown::Prepare(name, op), called before each benchmark's timed loop,
// sets t_spins: 0 when the name does not match; otherwise, once per name,
// it calibrates:
//   1. times op() in a loop for >= 20 ms (no injection) -> ns per op;
//   2. times the spin loop (once per process) -> ns per spin;
//   3. spins = ns_per_op * PCT / 100 / ns_per_spin.
// The count is reported in the counter `slowdown_spins` and the setting in
// the context key `statestore_slowdown` ("none" when not compiled in).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace statestore::bench::slowdown {

struct Spec {
  std::string regex;
  double percent = 0;
};

// Parses "REGEX:PCT" (split at the last ':'; PCT a number > 0 and <= 1000).
// On failure returns false and sets `error`, e.g.
// "STATESTORE_BENCH_SLOWDOWN='x' must be REGEX:PCT".
bool ParseSpec(std::string_view text, Spec& out, std::string& error);

#if defined(STATESTORE_BENCH_SLOWDOWN)
inline constexpr bool kEnabled = true;
extern thread_local std::uint64_t t_spins;
inline void after_op() {
  for (std::uint64_t i = t_spins; i != 0; --i) asm volatile("");
}
#else
inline constexpr bool kEnabled = false;
inline void after_op() {}
#endif

// The compiled-in setting, or "none".
std::string Setting();

// Checks the compiled-in setting; false with `error` when it does not parse.
bool Validate(std::string& error);

// Arms after_op() for benchmark `name` (see the file comment); returns the
// spin count (0 when disabled or not matching).
std::uint64_t Prepare(const std::string& name, const std::function<void()>& op);

}  // namespace statestore::bench::slowdown
