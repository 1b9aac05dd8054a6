// The detection tests' brute force of the order statistic's cut (detection/robust.h,
// calibrated_group_cut), shared by detection_test.cc and response_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "detection/robust.h"

namespace fedguard::test {

// The z that k of n clients pass with probability alpha, brute force: the binomial tail as the
// sum of every term, solved for q by bisection, then the calibrated t quantile (tested against
// published tables in detection_test.cc).
inline double bf_group_cut(std::size_t k, std::size_t n, double alpha = 0.001) {
  auto tail = [&](double q) {
    double t = 0;
    for (std::size_t j = k; j <= n; ++j)
      t += std::exp(std::lgamma(n + 1.0) - std::lgamma(j + 1.0) - std::lgamma(n - j + 1.0) +
                    double(j) * std::log(q) + double(n - j) * std::log1p(-q));
    return t;
  };
  double lo = 1e-300, hi = 0.5;
  for (int it = 0; it < 200; ++it) {
    const double mid = std::sqrt(lo * hi);
    (tail(mid) <= alpha ? lo : hi) = mid;
  }
  return detection::t_quantile(1 - lo, std::max(3.0, 0.55 * (double(n) - 1)));
}

}  // namespace fedguard::test
