#include "profile.h"

#include <cstdio>

namespace statestore::bench {

std::optional<Profile> FindProfile(std::string_view name) {
  if (name == "tiny") return Profile{"tiny", kTiny, 2, 0.01};
  if (name == "quick") return Profile{"quick", kQuick, 5, 0.1};
  if (name == "full") return Profile{"full", kFull, 10, 0.2};
  return std::nullopt;
}

CommandLine ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  cl.profile = *FindProfile("quick");
  std::vector<std::string> rest;
  std::string profile_name = "quick";
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--list_profile") {
      cl.list_profile = true;
    } else if (a.rfind("--profile=", 0) == 0) {
      profile_name = a.substr(10);
    } else if (a == "--profile") {
      if (i + 1 >= args.size()) {
        cl.error = "state_bench: --profile needs a value (tiny, quick or full)";
        return cl;
      }
      profile_name = args[++i];
    } else {
      rest.push_back(a);
    }
  }
  std::optional<Profile> profile = FindProfile(profile_name);
  if (!profile) {
    cl.error = "state_bench: unknown profile '" + profile_name + "' (expected tiny, quick or full)";
    return cl;
  }
  cl.profile = *profile;
  cl.benchmark_args.push_back(args.empty() ? "state_bench" : args[0]);
  cl.benchmark_args.push_back("--benchmark_repetitions=" + std::to_string(profile->repetitions));
  char min_time[64];
  std::snprintf(min_time, sizeof min_time, "--benchmark_min_time=%g", profile->min_time_seconds);
  cl.benchmark_args.push_back(min_time);
  for (auto& a : rest) cl.benchmark_args.push_back(std::move(a));
  return cl;
}

}  // namespace statestore::bench
