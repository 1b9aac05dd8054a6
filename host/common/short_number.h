// Short number formatting ("%.4g") for the details of rejections and errors.
#pragma once

#include <cstdio>
#include <string>

namespace fedguard {

inline std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace fedguard
