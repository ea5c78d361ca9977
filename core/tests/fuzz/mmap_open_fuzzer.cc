// libFuzzer entry point for MmapStateStore::Open (issue 9, "never trust the
// file"). Each input is a whole store file; it must meet the contract of
// mmap_mutation.h (refused unchanged with a message naming the problem, or
// opened to a store on which every operation is consistent), and ASan and
// UBSan watch every access. Besides libFuzzer's byte-level mutations, half
// the mutations are the structured ones of the Catch2 suite
// (mmap_fuzz_test), which keep checksums and check bits valid so that the
// deeper checks are reached.
//
// Built only by `make fuzz` (CMake option STATESTORE_FUZZ, clang); the seed
// corpus comes from mmap_fuzz_corpus. Not part of `make test`.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mmap_mutation.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

// A scratch directory for the store files, on tmpfs when there is one.
const std::string& ScratchDir() {
  static const std::string dir = [] {
    for (const char* parent : {"/dev/shm", "/tmp"}) {
      std::string name = std::string(parent) + "/mmap_open_fuzzer.XXXXXX";
      if (::mkdtemp(name.data()) != nullptr) return name;
    }
    std::fprintf(stderr, "mmap_open_fuzzer: cannot create a scratch directory\n");
    std::abort();
  }();
  return dir;
}

std::uint64_t Fingerprint(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ULL;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  statestore::mmap_fuzz::StoreFiles files;
  files.name = "libFuzzer input";
  files.store.assign(reinterpret_cast<const char*>(data), size);
  statestore::mmap_fuzz::Outcome outcome;
  const std::string violation =
      statestore::mmap_fuzz::CheckMutant(ScratchDir(), files, Fingerprint(data, size), outcome);
  if (!violation.empty()) {
    std::fprintf(stderr, "mmap_open_fuzzer: contract violated (open: %s): %s\n", outcome.status.c_str(),
                 violation.c_str());
    std::abort();
  }
  return 0;
}

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  if (seed % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  statestore::mmap_fuzz::StoreFiles files;
  files.store.assign(reinterpret_cast<const char*>(data), size);
  statestore::mmap_fuzz::Mutator mutator(seed);
  if (seed % 4 == 1) {
    mutator.MutateOnce(files);
  } else {
    mutator.Mutate(files);
  }
  const std::size_t out = std::min(files.store.size(), max_size);
  std::memcpy(data, files.store.data(), out);
  return out;
}
