// The detection tests' brute force of the group alignment (detection/group_alignment.h) over
// the vectors themselves, shared by group_alignment_test.cc and detection_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard::test {

inline double alignment_dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0;
  for (std::size_t j = 0; j < x.size(); ++j) s += x[j] * y[j];
  return s;
}

// The median over the members i of cos(x_i - mean of the others, mean of the members but i -
// mean of the others), from the vectors; a zero vector's cosine counts as 0.
inline double bf_alignment(const std::vector<std::vector<double>>& x,
                           const std::vector<std::uint8_t>& in_group) {
  const std::size_t m = x.size(), d = x[0].size();
  std::vector<double> mean_n(d, 0.0);
  double others = 0;
  for (std::size_t a = 0; a < m; ++a)
    if (!in_group[a]) {
      others += 1;
      for (std::size_t j = 0; j < d; ++j) mean_n[j] += x[a][j];
    }
  for (double& v : mean_n) v /= others;
  std::vector<double> cosines;
  for (std::size_t i = 0; i < m; ++i) {
    if (!in_group[i]) continue;
    std::vector<double> v(d, 0.0), u(d);
    double rest = 0;
    for (std::size_t b = 0; b < m; ++b)
      if (in_group[b] && b != i) {
        rest += 1;
        for (std::size_t j = 0; j < d; ++j) v[j] += x[b][j];
      }
    for (std::size_t j = 0; j < d; ++j) {
      v[j] = v[j] / rest - mean_n[j];
      u[j] = x[i][j] - mean_n[j];
    }
    const double den = std::sqrt(alignment_dot(u, u) * alignment_dot(v, v));
    cosines.push_back(den > 0 ? alignment_dot(u, v) / den : 0.0);
  }
  std::sort(cosines.begin(), cosines.end());
  const std::size_t k = cosines.size();
  return k % 2 ? cosines[k / 2] : 0.5 * (cosines[k / 2 - 1] + cosines[k / 2]);
}

}  // namespace fedguard::test
