// CLI11 validators for numeric options. They see the text before CLI11 converts it: CLI11
// (the version Debian ships) turns "-1" into a huge unsigned value and saturates
// "18446744073709551616", and a range check lets "nan" through (every comparison with NaN is
// false). Found by the hostile probe (scripts/hostile_probe.py): `keys register --max-clients -1`
// and `monitor --max-rounds -1` ran as if valid, `monitor --poll nan` too.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <string>

namespace fedguard::cli {

/// Decimal digits only, a value within [0, 2^64 - 1].
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
          return "must be a non-negative integer, got '" + s + "'";
        const std::string digits = s.substr(std::min(s.find_first_not_of('0'), s.size() - 1));
        if (digits.size() > 20 || (digits.size() == 20 && digits > "18446744073709551615"))
          return "must be at most 18446744073709551615, got " + s;
        return "";
      },
      "UINT");
}

/// A finite number (no nan, inf).
inline CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v))
          return "must be a finite number, got '" + s + "'";
        return "";
      },
      "FLOAT");
}

}  // namespace fedguard::cli
