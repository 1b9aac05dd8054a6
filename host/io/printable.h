// Text from untrusted files (names, header fragments) shown in error messages.
#pragma once

#include <cstddef>
#include <string>

namespace fedguard::io {

/// `s` with every byte outside printable ASCII (and the backslash) written as \xHH, cut to
/// `max_shown` bytes with "..." after: a crafted file cannot put control sequences or
/// megabytes into a message.
std::string printable(const std::string& s, std::size_t max_shown = 60);

}  // namespace fedguard::io
