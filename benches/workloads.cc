#include "workloads.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

namespace statestore::bench {

void FillKey(std::size_t index, std::size_t key_size, char* out) {
  std::memset(out, 0, key_size);
  const std::uint64_t v = static_cast<std::uint64_t>(index);
  const std::size_t n = key_size < 8 ? key_size : 8;
  for (std::size_t b = 0; b < n; ++b) {
    out[b] = static_cast<char>((v >> (56 - 8 * b)) & 0xFF);
  }
}

void FillValue(std::size_t index, std::size_t value_size, char* out) {
  // (index*7 + j*13) % 256 == ((index*7) % 256 + (j*13) % 256) % 256; keep
  // the arithmetic in size_t as the spec does (usize).
  const std::size_t base = index * 7;
  for (std::size_t j = 0; j < value_size; ++j) {
    out[j] = static_cast<char>(static_cast<unsigned char>((base + j * 13) % 256));
  }
}

std::vector<std::string> GenerateKeys(std::size_t count, std::size_t key_size) {
  std::vector<std::string> keys(count, std::string(key_size, '\0'));
  for (std::size_t i = 0; i < count; ++i) FillKey(i, key_size, keys[i].data());
  return keys;
}

std::vector<std::string> GenerateValues(std::size_t count, std::size_t value_size) {
  std::vector<std::string> values(count, std::string(value_size, '\0'));
  for (std::size_t i = 0; i < count; ++i) FillValue(i, value_size, values[i].data());
  return values;
}

KeySet::KeySet(std::size_t count, std::size_t key_size)
    : data_(new char[count * key_size + 1]), count_(count), key_size_(key_size) {
  for (std::size_t i = 0; i < count; ++i) FillKey(i, key_size, data_.get() + i * key_size);
}

ValueSet::ValueSet(std::size_t count, std::size_t value_size, std::size_t max_bytes) : value_size_(value_size) {
  pool_ = count;
  if (value_size > 0 && pool_ * value_size > max_bytes) pool_ = std::max<std::size_t>(1, max_bytes / value_size);
  if (pool_ == 0) pool_ = 1;
  data_.reset(new char[pool_ * value_size + 1]);
  for (std::size_t i = 0; i < pool_; ++i) FillValue(i, value_size, data_.get() + i * value_size);
}

std::vector<BenchConfig> StandardConfigs() {
  return {
      {8, 128, 1'000, "8B-key/128B-val/1K"},
      {8, 128, 100'000, "8B-key/128B-val/100K"},
      {32, 256, 100'000, "32B-key/256B-val/100K"},
      {8, 128, 10'000'000, "8B-key/128B-val/10M"},
  };
}

std::string ValidateConfig(const BenchConfig& config) {
  std::string problems;
  auto add = [&problems](const std::string& p) {
    if (!problems.empty()) problems += "; ";
    problems += p;
  };
  if (config.key_size < 8) add("key_size must be at least 8 bytes to hold a distinct index");
  if (config.key_size > 64 * 1024) add("key_size exceeds kMaxKeySize");
  if (config.value_size == 0) add("value_size must be positive");
  if (config.key_count == 0) add("key_count must be positive");
  if (config.key_count > 0xFFFF'FFFFull) add("key_count must fit in 32 bits (access orders are u32)");
  if (config.label.empty()) add("label must not be empty");
  return problems;
}

namespace {

double Zeta(std::uint64_t n, double theta) {
  double sum = 0;
  for (std::uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

}  // namespace

ZipfianGenerator::ZipfianGenerator(std::uint64_t n, double theta, std::uint64_t seed)
    : n_(n == 0 ? 1 : n), theta_(theta), rng_(seed) {
  alpha_ = 1.0 / (1.0 - theta_);
  zeta_n_ = Zeta(n_, theta_);
  const double zeta2 = Zeta(2, theta_);
  eta_ = n_ <= 2 ? 0.0 : (1.0 - std::pow(2.0 / static_cast<double>(n_), 1.0 - theta_)) / (1.0 - zeta2 / zeta_n_);
  half_pow_theta_ = 1.0 + std::pow(0.5, theta_);
}

std::uint64_t ZipfianGenerator::NextRank() {
  const double u = rng_.NextDouble();
  const double uz = u * zeta_n_;
  if (uz < 1.0 || n_ == 1) return 0;
  if (uz < half_pow_theta_ || n_ == 2) return 1;
  const auto rank = static_cast<std::uint64_t>(static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
  return rank < n_ ? rank : n_ - 1;
}

std::uint64_t ScrambleRank(std::uint64_t rank, std::uint64_t n) {
  // 2654435761 is prime and larger than any key count we use, hence coprime
  // with n, so this is a bijection of [0, n).
  constexpr std::uint64_t kPrime = 2654435761ull;
  if (n % kPrime == 0) return rank;
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(rank) * kPrime) % n);
}

std::vector<std::uint32_t> ZipfianOrder(std::uint64_t n, std::size_t length, double theta, std::uint64_t seed) {
  ZipfianGenerator gen(n, theta, seed);
  std::vector<std::uint32_t> order(length);
  for (auto& index : order) index = static_cast<std::uint32_t>(ScrambleRank(gen.NextRank(), n));
  return order;
}

namespace {

std::optional<std::size_t> MeminfoField(const char* field) {
  std::ifstream in("/proc/meminfo");
  if (!in) return std::nullopt;
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream fields(line.substr(prefix.size()));
    std::size_t kib = 0;
    if (fields >> kib) return kib * 1024;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::size_t> MemAvailableBytes() { return MeminfoField("MemAvailable"); }
std::optional<std::size_t> MemTotalBytes() { return MeminfoField("MemTotal"); }

std::optional<std::size_t> ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size_pages = 0;
  std::size_t resident_pages = 0;
  if (!(in >> size_pages >> resident_pages)) return std::nullopt;
  return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::string MemoryShortfall(std::size_t needed, std::size_t available) {
  if (needed <= available) return {};
  char buf[160];
  std::snprintf(buf, sizeof buf, "skipped: needs about %.1f GiB of memory, MemAvailable is %.1f GiB",
                static_cast<double>(needed) / (1ull << 30), static_cast<double>(available) / (1ull << 30));
  return buf;
}

std::size_t EstimateStoreBytes(std::size_t count, std::size_t key_size, std::size_t value_size) {
  // Record (header + key + value, 8-aligned) + ~16 B hash slot + ~24 B
  // ordered index + the KeySet, times 1.5 for growth slack, + 256 MiB.
  const std::size_t record = (16 + key_size + value_size + 7) / 8 * 8;
  const std::size_t per_entry = record + 16 + 24 + key_size;
  return count * per_entry * 3 / 2 + (256ull << 20);
}

}  // namespace statestore::bench
