#include "statestore/status.h"

namespace statestore {

Status::Status(Code code, std::string_view msg, std::string_view detail) : code_(code) {
  message_.reserve(msg.size() + (detail.empty() ? 0 : detail.size() + 2));
  message_.append(msg);
  if (!detail.empty()) {
    message_.append(": ");
    message_.append(detail);
  }
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      name = "Invalid argument";
      break;
    case Code::kCorruption:
      name = "Corruption";
      break;
    case Code::kIOError:
      name = "IO error";
      break;
    case Code::kBusy:
      name = "Busy";
      break;
    case Code::kResourceExhausted:
      name = "Resource exhausted";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace statestore
