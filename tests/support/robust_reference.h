// The detection tests' brute force of the robust location and the per-client cut
// (detection/robust.h), written from docs/detection.md ("Signals", "Calibration"); shared by
// detection_test.cc, response_test.cc and history_group_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "detection/robust.h"

namespace fedguard::test {

inline double bf_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median and 1.4826 MAD x n / (n - 0.8), floored; 1.4826... is 1 / Phi^-1(3/4), the MAD of a
// standard normal, n / (n - 0.8) Croux & Rousseeuw's small-sample factor.
inline std::pair<double, double> bf_location(const std::vector<double>& v, double floor) {
  const double med = bf_median(v);
  std::vector<double> dev;
  for (double x : v) dev.push_back(std::fabs(x - med));
  const double n = static_cast<double>(v.size());
  return {med, std::max(1.482602218505602 * bf_median(dev) * n / (n - 0.8), floor)};
}

// The one-sided per-client cut of budget alpha over m clients: Student's t at 1 - alpha with
// 0.55 (m - 1) degrees of freedom, at least 3 (the t quantile itself is checked against
// published tables in detection_test.cc).
inline double bf_cut(double alpha, std::size_t m) {
  return detection::t_quantile(1 - alpha, std::max(3.0, 0.55 * (double(m) - 1)));
}

}  // namespace fedguard::test
