#include "statestore/internal/key_hash.h"

#include <atomic>
#include <chrono>
#include <random>

namespace statestore::internal {
namespace {

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Drawn once per process from std::random_device.
std::uint64_t ProcessSeed() {
  static const std::uint64_t seed = [] {
    std::uint64_t s = 0;
    try {
      std::random_device device;
      s = (std::uint64_t{device()} << 32) ^ device();
    } catch (...) {
      // No entropy source: fall back to the clock and address-space randomisation.
      s = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    static int anchor;
    return s ^ reinterpret_cast<std::uintptr_t>(&anchor);
  }();
  return seed;
}

}  // namespace

HashSecret HashSecretFromSeed(std::uint64_t seed) {
  unsigned char seed_bytes[8];
  for (int i = 0; i < 8; ++i) seed_bytes[i] = static_cast<unsigned char>(seed >> (8 * i));
  static_assert(kHashSecretSize >= XXH3_SECRET_SIZE_MIN);
  HashSecret secret;
  // Fails only for a secret buffer below XXH3_SECRET_SIZE_MIN (ruled out above).
  (void)XXH3_generateSecret(secret.bytes, kHashSecretSize, seed_bytes, sizeof seed_bytes);
  return secret;
}

std::uint64_t RandomHashSeed() {
  std::uint64_t seed = 0;
  try {
    std::random_device device;
    seed = (std::uint64_t{device()} << 32) ^ device();
  } catch (...) {
    seed = InstanceHashSeed();
  }
  return seed == 0 ? 1 : seed;
}

std::uint64_t InstanceHashSeed() {
  static std::atomic<std::uint64_t> draws{0};
  std::uint64_t state = ProcessSeed() ^ (draws.fetch_add(1, std::memory_order_relaxed) * 0x2545f4914f6cdd1dULL);
  const std::uint64_t seed = SplitMix64(state);
  return seed == 0 ? 1 : seed;
}

}  // namespace statestore::internal
