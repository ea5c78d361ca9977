// Writes the seed corpus of mmap_open_fuzzer: the seed files of the
// structured mutation suite (files the store wrote), each also resealed,
// and a few structured mutants of each, one file per input.
//
//   mmap_fuzz_corpus <directory>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmap_mutation.h"

namespace {

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: mmap_fuzz_corpus <directory>\n");
    return 2;
  }
  const std::string out = argv[1];
  try {
    char scratch[] = "/tmp/mmap_fuzz_corpus.XXXXXX";
    if (::mkdtemp(scratch) == nullptr) throw std::runtime_error("cannot create a scratch directory");
    const std::vector<statestore::mmap_fuzz::StoreFiles> seeds = statestore::mmap_fuzz::BuildSeeds(scratch);
    ::rmdir(scratch);
    int written = 0;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      const std::string stem = out + "/seed-" + std::to_string(i);
      Write(stem, seeds[i].store);
      std::string resealed = seeds[i].store;
      statestore::mmap_fuzz::ResealAll(resealed);
      Write(stem + "-resealed", resealed);
      written += 2;
      for (int m = 0; m < 8; ++m) {
        statestore::mmap_fuzz::StoreFiles mutant = seeds[i];
        statestore::mmap_fuzz::Mutator mutator(i * 100 + static_cast<std::size_t>(m));
        mutator.Mutate(mutant);
        Write(stem + "-mutant-" + std::to_string(m), mutant.store);
        ++written;
      }
    }
    std::printf("mmap_fuzz_corpus: %d inputs from %zu seed files in %s\n", written, seeds.size(), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmap_fuzz_corpus: %s: %s\n", out.c_str(), e.what());
    return 2;
  }
  return 0;
}
