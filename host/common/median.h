// The median of a sample, by selection: the one definition the rules, the detection stage,
// monitoring and forensics share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace fedguard {

/// The median of v (the mean of the two middle values for an even count); reorders v, which
/// must not be empty.
inline double median_in_place(std::vector<double>& v) {
  const std::size_t n = v.size(), h = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(h), v.end());
  const double upper = v[h];
  if (n % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(h));
  return 0.5 * lower + 0.5 * upper;  // halves first: no overflow for two values near 1e308
}

/// The median of v (a copy is reordered); v must not be empty.
inline double median(std::vector<double> v) { return median_in_place(v); }

}  // namespace fedguard
