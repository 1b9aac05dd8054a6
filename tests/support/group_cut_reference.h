// The detection tests' brute force of the order statistic's cut (detection/robust.h,
// calibrated_group_cut) and of the groups in a one-sided tail (detector.cc, fire_tail_group),
// shared by detection_test.cc and response_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

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

// Groups in a tail, brute force: `tail` holds the members' z turned so that the tail is up,
// sorted from the furthest; over the clients not yet in a group, the g (>= 3) next ones whose
// g-th is >= 2 and past bf_group_cut(g, n, alpha) with the largest ratio z_(g) / cut form a
// group; again until none passes or `cap` are in groups. Returns each position's group size
// (0: none).
inline std::vector<std::size_t> bf_tail_groups(const std::vector<double>& tail, std::size_t n,
                                               double alpha, std::size_t cap) {
  std::vector<std::size_t> size(tail.size(), 0);
  const std::size_t limit = std::min(cap, tail.size() - 1);
  std::size_t start = 0;
  while (true) {
    double best = 1;
    std::size_t best_g = 0;
    for (std::size_t g = 3; start + g <= limit && tail[start + g - 1] >= 2.0; ++g) {
      const double ratio = tail[start + g - 1] / bf_group_cut(g, n, alpha);
      if (ratio > best) best = ratio, best_g = g;
    }
    if (best_g == 0) return size;
    for (std::size_t q = start; q < start + best_g; ++q) size[q] = best_g;
    start += best_g;
  }
}

}  // namespace fedguard::test
