// Status: codes, messages and the "<Code name>: <message>" text users see.
#include "statestore/status.h"

#include <catch2/catch.hpp>

namespace statestore {
namespace {

TEST_CASE("an OK status has no message and prints as OK", "[status]") {
  const Status ok;
  CHECK(ok.ok());
  CHECK(ok.code() == Status::Code::kOk);
  CHECK(ok.message().empty());
  CHECK(ok.ToString() == "OK");
  CHECK(Status::OK().ToString() == "OK");
}

TEST_CASE("each error code prints its name before the message", "[status]") {
  CHECK(Status::InvalidArgument("bad").ToString() == "Invalid argument: bad");
  CHECK(Status::Corruption("bad").ToString() == "Corruption: bad");
  CHECK(Status::IOError("bad").ToString() == "IO error: bad");
  CHECK(Status::Busy("bad").ToString() == "Busy: bad");
  CHECK(Status::ResourceExhausted("bad").ToString() == "Resource exhausted: bad");
}

TEST_CASE("each error constructor sets its code and only that predicate", "[status]") {
  const Status invalid = Status::InvalidArgument("x");
  const Status corruption = Status::Corruption("x");
  const Status io = Status::IOError("x");
  const Status busy = Status::Busy("x");
  const Status exhausted = Status::ResourceExhausted("x");
  for (const Status* s : {&invalid, &corruption, &io, &busy, &exhausted}) CHECK_FALSE(s->ok());
  CHECK(invalid.IsInvalidArgument());
  CHECK(corruption.IsCorruption());
  CHECK(io.IsIOError());
  CHECK(busy.IsBusy());
  CHECK(exhausted.IsResourceExhausted());
  const int matches = invalid.IsCorruption() + invalid.IsIOError() + invalid.IsBusy() + invalid.IsResourceExhausted() +
                      corruption.IsInvalidArgument() + io.IsBusy() + busy.IsIOError() + exhausted.IsCorruption();
  CHECK(matches == 0);
}

TEST_CASE("a detail is appended to the message after a colon", "[status]") {
  const Status s = Status::Corruption("bad magic", "/var/lib/state.mmap");
  CHECK(s.message() == "bad magic: /var/lib/state.mmap");
  CHECK(s.ToString() == "Corruption: bad magic: /var/lib/state.mmap");
  CHECK(Status::IOError("no detail", "").message() == "no detail");
}

TEST_CASE("copies of a status keep the code and the message", "[status]") {
  const Status original = Status::Busy("locked", "file");
  Status copy = original;
  CHECK(copy.IsBusy());
  CHECK(copy.message() == "locked: file");
  copy = Status::OK();
  CHECK(copy.ok());
  CHECK(copy.message().empty());
  CHECK(original.message() == "locked: file");
}

}  // namespace
}  // namespace statestore
