#include "fedguard/error.h"

namespace fedguard {

const char* category_name(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kInvalidInput:
      return "invalid input";
    case ErrorCategory::kUnsupported:
      return "unsupported";
    case ErrorCategory::kOutOfMemory:
      return "out of memory";
    case ErrorCategory::kDeviceFailure:
      return "device failure";
    case ErrorCategory::kIo:
      return "i/o";
  }
  return "unknown";
}

}  // namespace fedguard
