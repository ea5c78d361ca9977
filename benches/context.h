// -----------------------------------------------------------------------------
// File: context.h
// -----------------------------------------------------------------------------
//
// The run's context (tools/perfgate/README.md, "File formats"): how state_bench was built,
// from which commit, on which machine, under which profile. main() passes
// every pair to benchmark::AddCustomContext.
//
// Git facts are read at run time (`git -C <source dir> ...` through popen),
// not frozen at configure time, so a rebuilt-without-reconfigure binary still
// names its commit; when git or the checkout is unavailable they are
// "unknown".
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace statestore::bench {

using ContextPairs = std::vector<std::pair<std::string, std::string>>;

// All statestore_* context keys for a run of `profile`.
ContextPairs BuildContext(const std::string& profile);

// The CPU model ("model name" of /proc/cpuinfo) or "unknown".
std::string CpuModel();

// "<cpu_model>|<num_cpus> cpus|<MemTotal GiB> GiB".
std::string MachineFingerprint();

// Empty for a Release build without sanitizers; otherwise the loud warning
// printed to stderr (the context then carries the real build type and
// statestore_sanitize=on, which the gate refuses).
std::string UntrustworthyBuildWarning();

}  // namespace statestore::bench
