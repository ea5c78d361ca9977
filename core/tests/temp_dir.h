// A scratch directory for the store tests, removed with everything in it at
// scope exit.
#ifndef STATESTORE_CORE_TESTS_TEMP_DIR_H_
#define STATESTORE_CORE_TESTS_TEMP_DIR_H_

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <string>
#include <system_error>

namespace statestore {

class TempDir {
 public:
  // Made as <parent>/<stem>.XXXXXX under the first of `parents` where mkdtemp
  // succeeds (e.g. /dev/shm before /tmp for a test that wants tmpfs).
  explicit TempDir(const std::string& stem, std::initializer_list<const char*> parents = {"/tmp"}) {
    for (const char* parent : parents) {
      std::string name = std::string(parent) + "/" + stem + ".XXXXXX";
      if (::mkdtemp(name.data()) != nullptr) {
        path_ = name;
        break;
      }
    }
    REQUIRE(!path_.empty());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // The names of what the directory holds now.
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) names.insert(e.path().filename().string());
    return names;
  }

 private:
  std::string path_;
};

}  // namespace statestore

#endif  // STATESTORE_CORE_TESTS_TEMP_DIR_H_
