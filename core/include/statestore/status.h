// Status: the result of a store operation that can fail.
//
// Modelled on LevelDB's Status: a code plus a human-readable message. An OK
// status carries no message and constructing, copying or testing it never
// allocates, so it is safe to return from hot-path operations such as put().
//
//   statestore::Status s = store.put(key, value);
//   if (!s.ok()) std::cerr << s.ToString() << "\n";
#pragma once

#include <string>
#include <string_view>

namespace statestore {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,   // caller passed something out of contract (e.g. key too long)
    kCorruption,        // bytes on disk or in a snapshot failed validation
    kIOError,           // the operating system refused (open, mmap, msync, ...)
    kBusy,              // the resource is in use elsewhere (file locked by another open)
    kResourceExhausted  // a documented size limit would be exceeded
  };

  // An OK status. Never allocates.
  Status() noexcept = default;
  static Status OK() noexcept { return Status(); }

  // Error constructors. `detail`, when given, is appended as ": detail"
  // (LevelDB style: Status::Corruption("bad magic", path)).
  static Status InvalidArgument(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kInvalidArgument, msg, detail);
  }
  static Status Corruption(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kCorruption, msg, detail);
  }
  static Status IOError(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kIOError, msg, detail);
  }
  static Status Busy(std::string_view msg, std::string_view detail = {}) { return Status(Code::kBusy, msg, detail); }
  static Status ResourceExhausted(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kResourceExhausted, msg, detail);
  }

  bool ok() const noexcept { return code_ == Code::kOk; }
  Code code() const noexcept { return code_; }
  bool IsInvalidArgument() const noexcept { return code_ == Code::kInvalidArgument; }
  bool IsCorruption() const noexcept { return code_ == Code::kCorruption; }
  bool IsIOError() const noexcept { return code_ == Code::kIOError; }
  bool IsBusy() const noexcept { return code_ == Code::kBusy; }
  bool IsResourceExhausted() const noexcept { return code_ == Code::kResourceExhausted; }

  // The message alone (empty for OK).
  const std::string& message() const noexcept { return message_; }
  // "OK", or "<Code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string_view msg, std::string_view detail);

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace statestore
