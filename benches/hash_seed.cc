#include "hash_seed.h"

#include <charconv>
#include <cstdlib>

namespace statestore::bench::hash_seed {
namespace {

std::uint64_t g_seed = 0;

}  // namespace

bool Parse(std::string_view text, std::uint64_t& seed, std::string& error) {
  seed = 0;
  if (text.empty()) return true;
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value == 0) {
    error = std::string(kEnvVar) + "='" + std::string(text) +
            "' must be a decimal integer from 1 to 18446744073709551615 (unset: a random seed per store)";
    return false;
  }
  seed = value;
  return true;
}

bool Validate(std::string& error) {
  const char* value = std::getenv(kEnvVar);
  return Parse(value == nullptr ? std::string_view() : std::string_view(value), g_seed, error);
}

std::uint64_t Get() { return g_seed; }

std::string Setting() { return g_seed == 0 ? "random" : std::to_string(g_seed); }

}  // namespace statestore::bench::hash_seed
