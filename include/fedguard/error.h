// The one family of errors fedguard throws. A library never aborts: every failure becomes a
// fedguard::Error with a category, which the Python layer maps to a Python exception type.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fedguard {

enum class ErrorCategory {
  kInvalidInput,   // the caller's data or configuration is wrong (Python: ValueError)
  kUnsupported,    // a valid request this build cannot serve (Python: NotImplementedError)
  kOutOfMemory,    // host or device allocation failed after every fallback (Python: MemoryError)
  kDeviceFailure,  // a CUDA / cuBLAS / cuSOLVER call failed (Python: RuntimeError)
  kIo,             // a file could not be read or written, or is malformed (Python: OSError)
};

const char* category_name(ErrorCategory category);

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& message)
      : std::runtime_error(message), category_(category) {}
  ErrorCategory category() const { return category_; }

 private:
  ErrorCategory category_;
};

}  // namespace fedguard

// Throws fedguard::Error(category, <streamed message>). The message is built with operator<<,
// so it can state the numbers: FEDGUARD_THROW(kInvalidInput, "n=" << n << " but f=" << f).
#define FEDGUARD_THROW(category, message)                                              \
  do {                                                                                 \
    std::ostringstream fedguard_msg_;                                                  \
    fedguard_msg_ << message; /* NOLINT(bugprone-macro-parentheses) */                 \
    throw ::fedguard::Error(::fedguard::ErrorCategory::category, fedguard_msg_.str()); \
  } while (0)

// Input check: throws an invalid-input error with the streamed message when cond is false.
#define FEDGUARD_EXPECTS(cond, message)                  \
  do {                                                   \
    if (!(cond)) FEDGUARD_THROW(kInvalidInput, message); \
  } while (0)
