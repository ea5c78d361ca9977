#include "slowdown.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>

namespace statestore::bench::slowdown {

bool ParseSpec(std::string_view text, Spec& out, std::string& error) {
  const std::string quoted = "STATESTORE_BENCH_SLOWDOWN='" + std::string(text) + "'";
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    error = quoted + " must be REGEX:PCT, e.g. 'state_get_inmemory/.*:20'";
    return false;
  }
  const std::string pct(text.substr(colon + 1));
  char* end = nullptr;
  const double percent = std::strtod(pct.c_str(), &end);
  if (pct.empty() || end != pct.c_str() + pct.size() || !(percent > 0) || percent > 1000) {
    error = quoted + ": PCT must be a number in (0, 1000], got '" + pct + "'";
    return false;
  }
  try {
    std::regex check{std::string(text.substr(0, colon))};
  } catch (const std::regex_error& e) {
    error = quoted + ": bad regex: " + e.what();
    return false;
  }
  out.regex = std::string(text.substr(0, colon));
  out.percent = percent;
  return true;
}

#if defined(STATESTORE_BENCH_SLOWDOWN)

thread_local std::uint64_t t_spins = 0;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double NsPerSpin() {
  static const double ns = [] {
    constexpr std::uint64_t kSpins = 20'000'000;
    const auto t0 = Clock::now();
    for (std::uint64_t i = kSpins; i != 0; --i) asm volatile("");
    return Seconds(Clock::now() - t0) * 1e9 / kSpins;
  }();
  return ns;
}

}  // namespace

std::string Setting() { return STATESTORE_BENCH_SLOWDOWN; }

bool Validate(std::string& error) {
  Spec spec;
  return ParseSpec(STATESTORE_BENCH_SLOWDOWN, spec, error);
}

std::uint64_t Prepare(const std::string& name, const std::function<void()>& op) {
  static const Spec spec = [] {
    Spec s;
    std::string error;
    ParseSpec(STATESTORE_BENCH_SLOWDOWN, s, error);  // main() validated it already
    return s;
  }();
  static const std::regex pattern(spec.regex);
  static std::map<std::string, std::uint64_t> calibrated;
  t_spins = 0;
  if (!std::regex_search(name, pattern)) return 0;
  auto it = calibrated.find(name);
  if (it == calibrated.end()) {
    // Time the un-injected op until 20 ms have passed (at least one op).
    // Batches double (1, 2, 4, ... 65536 ops) so that a slow op (a 100 MB
    // snapshot) runs a few times and a fast one (a get) is not dominated by
    // the clock reads.
    std::uint64_t ops = 0;
    std::uint64_t batch = 1;
    const auto t0 = Clock::now();
    Clock::time_point t1;
    do {
      for (std::uint64_t i = 0; i < batch; ++i) op();
      ops += batch;
      if (batch < 65536) batch *= 2;
      t1 = Clock::now();
    } while (t1 - t0 < std::chrono::milliseconds(20));
    const double ns_per_op = Seconds(t1 - t0) * 1e9 / static_cast<double>(ops);
    const double spins = ns_per_op * spec.percent / 100.0 / NsPerSpin();
    it = calibrated.emplace(name, static_cast<std::uint64_t>(spins + 0.5)).first;
  }
  t_spins = it->second;
  return t_spins;
}

#else

std::string Setting() { return "none"; }
bool Validate(std::string&) { return true; }
std::uint64_t Prepare(const std::string&, const std::function<void()>&) { return 0; }

#endif

}  // namespace statestore::bench::slowdown
