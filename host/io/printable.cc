#include "io/printable.h"

#include <cstdio>

namespace fedguard::io {

std::string printable(const std::string& s, std::size_t max_shown) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max_shown) out += "...";
  return out;
}

}  // namespace fedguard::io
