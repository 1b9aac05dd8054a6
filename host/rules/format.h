// Short number formatting for rejection reasons.
#pragma once

#include <cstdio>
#include <string>

namespace fedguard::rules {

inline std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace fedguard::rules
