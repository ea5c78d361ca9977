#include "context.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "build_info.h"
#include "hash_seed.h"
#include "slowdown.h"
#include "workloads.h"

namespace statestore::bench {

// The source tree of this build (generated source_dir.cc; see build_info.h.in for why it is
// not a macro).
extern const char kSourceDir[];

namespace {

// First line of `command`'s stdout, or nullopt when it fails.
std::optional<std::string> CommandOutput(const std::string& command, bool whole = false) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) return std::nullopt;
  if (!whole) {
    const std::size_t nl = out.find('\n');
    if (nl != std::string::npos) out.resize(nl);
  }
  return out;
}

std::string Git(const std::string& args, bool whole = false) {
  const std::string cmd = "git -C '" + std::string(kSourceDir) + "' " + args + " 2>/dev/null";
  auto out = CommandOutput(cmd, whole);
  return out ? *out : std::string("\x01");  // sentinel: failed
}

}  // namespace

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) break;
      std::size_t start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "unknown" : line.substr(start);
    }
  }
  return "unknown";
}

std::string MachineFingerprint() {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const auto total = MemTotalBytes();
  const std::string mem =
      total ? std::to_string(static_cast<long long>(std::llround(static_cast<double>(*total) / (1ull << 30))))
            : std::string("unknown");
  return CpuModel() + "|" + std::to_string(cpus) + " cpus|" + mem + " GiB";
}

std::string UntrustworthyBuildWarning() {
  const std::string build_type = STATESTORE_BUILD_TYPE;
  if (build_type == "Release" && !STATESTORE_SANITIZE_ON) return {};
  return "\n"
         "*****************************************************************************\n"
         "*** WARNING: state_bench was built with CMAKE_BUILD_TYPE='" +
         build_type + "'" + (STATESTORE_SANITIZE_ON ? " and sanitizers ON" : "") +
         ".\n"
         "*** Its timings say nothing about the store's speed; the perf gate refuses\n"
         "*** them (context statestore_build_type / statestore_sanitize).\n"
         "*** Configure with -DCMAKE_BUILD_TYPE=Release -DSTATESTORE_SANITIZE=OFF.\n"
         "*****************************************************************************\n";
}

ContextPairs BuildContext(const std::string& profile) {
  ContextPairs ctx;
  std::string commit = Git("rev-parse HEAD");
  std::string branch = Git("rev-parse --abbrev-ref HEAD");
  std::string status = Git("status --porcelain", /*whole=*/true);
  const bool git_ok = commit != "\x01";
  ctx.emplace_back("statestore_build_type", STATESTORE_BUILD_TYPE);
  ctx.emplace_back("statestore_git_commit", git_ok ? commit : "unknown");
  ctx.emplace_back("statestore_git_dirty",
                   !git_ok || status == "\x01" ? "unknown" : (status.empty() ? "false" : "true"));
  ctx.emplace_back("statestore_git_branch", git_ok && branch != "\x01" ? branch : "unknown");
  ctx.emplace_back("statestore_compiler", STATESTORE_COMPILER);
  ctx.emplace_back("statestore_cxx_flags", STATESTORE_CXX_FLAGS);
  ctx.emplace_back("statestore_sanitize", STATESTORE_SANITIZE_ON ? "on" : "off");
  ctx.emplace_back("statestore_profile", profile);
  ctx.emplace_back("statestore_cpu_model", CpuModel());
  ctx.emplace_back("statestore_peers", STATESTORE_PEERS_ON ? "on" : "off");
  ctx.emplace_back("statestore_machine", MachineFingerprint());
  ctx.emplace_back("statestore_slowdown", slowdown::Setting());
  ctx.emplace_back("statestore_hash_seed", hash_seed::Setting());
  return ctx;
}

}  // namespace statestore::bench
