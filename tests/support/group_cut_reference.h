// The detection tests' brute force of the order statistic's cut (detection/robust.h,
// calibrated_group_cut) and of the groups in a one-sided tail (detector.cc, fire_tail_group),
// shared by detection_test.cc and response_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
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
// group; again until none passes or `cap` are in groups. A group `admit` (when set) refuses,
// given its positions, is not one, and the search goes on after it. Returns each position's
// group size (0: none).
using AdmitGroup = std::function<bool(const std::vector<std::size_t>&)>;
inline std::vector<std::size_t> bf_tail_groups(const std::vector<double>& tail, std::size_t n,
                                               double alpha, std::size_t cap,
                                               const AdmitGroup& admit = {}) {
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
    std::vector<std::size_t> positions;
    for (std::size_t q = start; q < start + best_g; ++q) positions.push_back(q);
    if (!admit || admit(positions))
      for (std::size_t q = start; q < start + best_g; ++q) size[q] = best_g;
    start += best_g;
  }
}

// The brute force's groups over a signal's per-client z as the engine reports them (NaN: not a
// member), searched in the tail `side` turns up (+1 the upper, -1 the lower): each client's
// group size (0: in none), the grouped clients ascending, and the members counted (m). `admit`
// (when set) is asked about each group by its clients' indices into z.
struct TailGroups {
  std::vector<std::size_t> size_of;
  std::vector<std::size_t> grouped;
  std::size_t m = 0;
};
inline TailGroups bf_tail_groups_of(const std::vector<double>& z, double side, double alpha,
                                    const AdmitGroup& admit = {}) {
  TailGroups out;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < z.size(); ++i)
    if (!std::isnan(z[i])) order.push_back(i);
  out.m = order.size();
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return side * z[a] > side * z[b]; });
  std::vector<double> tail;
  for (std::size_t i : order) tail.push_back(side * z[i]);
  AdmitGroup admit_positions;
  if (admit)
    admit_positions = [&](const std::vector<std::size_t>& positions) {
      std::vector<std::size_t> clients;
      for (std::size_t q : positions) clients.push_back(order[q]);
      return admit(clients);
    };
  const std::vector<std::size_t> size_at =
      bf_tail_groups(tail, out.m, alpha, (out.m - 1) / 2, admit_positions);
  out.size_of.assign(z.size(), 0);
  for (std::size_t q = 0; q < out.m; ++q)
    if (size_at[q] > 0) out.grouped.push_back(order[q]), out.size_of[order[q]] = size_at[q];
  std::sort(out.grouped.begin(), out.grouped.end());
  return out;
}

}  // namespace fedguard::test
