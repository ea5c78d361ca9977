// Structured mutation of MmapStateStore files, shared by the fuzz suite
// (mmap_fuzz_test.cc) and the libFuzzer entry point (fuzz/mmap_open_fuzzer.cc):
// seed files the store itself wrote, mutators that know the file format
// (core/doc/mmap_format.md) well enough to get past its checksums, and the
// contract every mutant must meet.
//
// The contract (issue 9, "never trust the file"): Open either fails with a
// Status naming the file and the problem, leaving the file byte for byte as
// it was, or it opens a store on which every operation is consistent: the
// scan, get, size and size_bytes agree, range and prefix_scan give the
// model's slices, the snapshot validates and holds the contents, restoring
// it gives them back, put/del/compact do what they say, and a clean close
// and reopen give the same contents. Out-of-bounds accesses are left to
// ASan/UBSan to catch.
//
// No Catch2 here: the libFuzzer build links this without it.
#ifndef STATESTORE_CORE_TESTS_MMAP_MUTATION_H_
#define STATESTORE_CORE_TESTS_MMAP_MUTATION_H_

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace statestore::mmap_fuzz {

// A store's files as bytes: the store, and the spare a restore or compact
// keeps beside it while the store is open (<path>.spare), when there is one.
struct StoreFiles {
  std::string name;  // the seed it came from
  std::string store;
  std::optional<std::string> spare;
};

// Files the store wrote, each small (a few pages): cleanly closed; left by a
// crash with a pending redo-journal entry (whole, and with its target torn);
// after growth (clean and crash-left); after compaction; with deletes and
// resized overwrites; after a flush with later writes (crash-left); after a
// flushed clear; and crash-left with a .spare file beside it. Built in
// `scratch_dir`, which is left empty.
std::vector<StoreFiles> BuildSeeds(const std::string& scratch_dir);

// Structural mutations of a store file, drawn from a fixed-seed PRNG.
class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  // One mutation of `files`; returns what it did, e.g. "committed end payload = 13 (encoded)".
  std::string MutateOnce(StoreFiles& files);
  // One to four mutations, then (often) recomputing the checks an attacker
  // can recompute (the static checksum, the clean-close record, the index
  // checksum, record checksums), so the deeper checks are what must refuse.
  std::string Mutate(StoreFiles& files);

  std::mt19937_64& rng() { return rng_; }

 private:
  std::uint64_t Below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  std::string MutateHeaderWord(std::string& bytes);
  std::string MutateStaticField(std::string& bytes);
  std::string MutateJournal(std::string& bytes);
  std::string MutateRecord(std::string& bytes);
  std::string MoveRecords(std::string& bytes);
  std::string MutateIndex(std::string& bytes);
  std::string MutateSize(std::string& bytes);
  std::string FlipBytes(std::string& bytes);
  std::string MutateSpare(StoreFiles& files);

  std::mt19937_64 rng_;
};

// What became of one mutant.
struct Outcome {
  bool opened = false;
  std::string status;  // Open's status, as text
};

// Writes `files` into the empty directory `dir` (store.mmap, store.mmap.spare),
// opens the store and checks the contract (above); `ops_seed` picks the
// operations run on an opened store. Returns the first violation found, ""
// when there is none. Leaves `dir` empty.
std::string CheckMutant(const std::string& dir, const StoreFiles& files, std::uint64_t ops_seed, Outcome& outcome);

// Re-seals every check of `bytes` an attacker can recompute without a
// secret: the static checksum, each record's checksum (under the file's log
// epoch), the clean-close counts and index checksum (as the index says), and
// the clean check. Used to make seed files for the libFuzzer corpus that
// reach past the checksums.
void ResealAll(std::string& bytes);

}  // namespace statestore::mmap_fuzz

#endif  // STATESTORE_CORE_TESTS_MMAP_MUTATION_H_
