#include "statestore/internal/store_common.h"

#include <string>

namespace statestore::internal {

Status EntryTooLargeError(std::size_t key_size, std::size_t value_size) {
  if (key_size > kMaxKeySize) {
    return Status::InvalidArgument("key too long", std::to_string(key_size) + " bytes exceeds kMaxKeySize (" +
                                                       std::to_string(kMaxKeySize) + " bytes)");
  }
  return Status::InvalidArgument("value too long", std::to_string(value_size) + " bytes exceeds kMaxValueSize (" +
                                                       std::to_string(kMaxValueSize) + " bytes)");
}

}  // namespace statestore::internal
