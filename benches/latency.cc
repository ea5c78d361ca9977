#include "latency.h"

#include <algorithm>
#include <cmath>

namespace statestore::bench {

OpTimer::OpTimer() {
#if defined(__x86_64__)
  using Clock = std::chrono::steady_clock;
  const auto c0 = Clock::now();
  const std::uint64_t t0 = Now();
  Clock::time_point c1;
  do {
    c1 = Clock::now();
  } while (c1 - c0 < std::chrono::milliseconds(20));
  const std::uint64_t t1 = Now();
  const double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(c1 - c0).count());
  ns_per_tick_ = t1 > t0 ? ns / static_cast<double>(t1 - t0) : 1.0;
#else
  ns_per_tick_ = 1.0;  // steady_clock ticks are nanoseconds on Linux
#endif
  constexpr std::size_t kPairs = 10'001;
  std::vector<std::uint64_t> pairs(kPairs);
  for (auto& d : pairs) {
    const std::uint64_t a = Now();
    const std::uint64_t b = Now();
    d = b - a;
  }
  std::nth_element(pairs.begin(), pairs.begin() + kPairs / 2, pairs.end());
  overhead_ticks_ = static_cast<double>(pairs[kPairs / 2]);
}

const OpTimer& OpTimer::Get() {
  static const OpTimer timer;
  return timer;
}

LatencySummary SummarizeLatency(std::vector<std::uint64_t>& ticks, double overhead_ticks, double ns_per_tick) {
  LatencySummary s;
  s.timer_overhead_ns = overhead_ticks * ns_per_tick;
  s.samples = ticks.size();
  if (ticks.empty()) return s;
  auto at = [&](double p) {
    // Nearest rank: the ceil(p * n)-th smallest sample (1-based).
    std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(ticks.size())));
    if (rank < 1) rank = 1;
    if (rank > ticks.size()) rank = ticks.size();
    std::nth_element(ticks.begin(), ticks.begin() + (rank - 1), ticks.end());
    const double v = static_cast<double>(ticks[rank - 1]) - overhead_ticks;
    return (v > 0 ? v : 0.0) * ns_per_tick;
  };
  s.p50_ns = at(0.50);
  s.p99_ns = at(0.99);
  s.p999_ns = at(0.999);
  return s;
}

std::size_t LatencySampleCount(std::int64_t iterations) {
  constexpr std::int64_t kMin = 1'000;
  constexpr std::int64_t kMax = 100'000;
  return static_cast<std::size_t>(std::clamp(iterations, kMin, kMax));
}

}  // namespace statestore::bench
