// -----------------------------------------------------------------------------
// File: hash_seed.h
// -----------------------------------------------------------------------------
//
// The hash seed of the stores the benchmarks build, from the environment:
//   STATESTORE_BENCH_HASH_SEED=<decimal integer in [1, 2^64)>
// gives every InMemoryStateStore (FixedHashSeed) and MmapStateStore
// (MmapOptions::hash_seed) that seed; unset or empty, each store draws a
// random one, as in production.
//
// Why: the hash seed decides which keys share a probe sequence, so two
// processes of the same binary, each with its own random seed, time a 1K-key
// get differently (measured here: per-round ratios of an A/A pair from 0.75 to
// 1.41 on state_get_zero_alloc). `benchrun ab` sets one seed per round for
// both base and head, so a pair compares the two builds on the same layout and
// the rounds still sample several layouts. An environment variable, not a
// flag: a base revision built before this existed ignores it instead of
// rejecting an unknown flag.
//
// The seed is reported in the context key `statestore_hash_seed` ("random" or
// the number). Peers (absl, std::unordered_map, LMDB) hash with their own
// seeds and are not affected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace statestore::bench::hash_seed {

inline constexpr const char* kEnvVar = "STATESTORE_BENCH_HASH_SEED";

// Parses the variable's value: empty -> 0 (random per store); otherwise a
// decimal integer in [1, 2^64). On failure returns false and sets `error`,
// e.g. "STATESTORE_BENCH_HASH_SEED='x' must be a decimal integer from 1 to 18446744073709551615".
bool Parse(std::string_view text, std::uint64_t& seed, std::string& error);

// Reads the environment once (before the first benchmark); false with `error`
// when the value does not parse.
bool Validate(std::string& error);

// 0 (a random seed per store) or the fixed seed. Requires Validate() to have
// returned true.
std::uint64_t Get();

// "random" or the decimal seed.
std::string Setting();

}  // namespace statestore::bench::hash_seed
