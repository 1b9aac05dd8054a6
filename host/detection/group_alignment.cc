#include "detection/group_alignment.h"

#include <algorithm>
#include <cmath>

#include "detection/robust.h"
#include "fedguard/error.h"

namespace fedguard::detection {

std::vector<double> row_sums(const std::vector<double>& gram, std::size_t m) {
  FEDGUARD_EXPECTS(gram.size() == m * m,
                   "row sums: " << gram.size() << " values for a " << m << " x " << m << " matrix");
  std::vector<double> sums(m, 0.0);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) sums[a] += gram[a * m + b];
  return sums;
}

double group_alignment(const std::vector<double>& gram, std::size_t m,
                       const std::vector<std::uint8_t>& in_group,
                       const std::vector<double>& row_sums_given) {
  FEDGUARD_EXPECTS(gram.size() == m * m && in_group.size() == m &&
                       (row_sums_given.empty() || row_sums_given.size() == m),
                   "group alignment: a Gram of " << gram.size() << " values, " << in_group.size()
                                                 << " flags and " << row_sums_given.size()
                                                 << " row sums for " << m << " clients");
  std::vector<std::size_t> members;
  for (std::size_t a = 0; a < m; ++a)
    if (in_group[a]) members.push_back(a);
  const double g = static_cast<double>(members.size());
  const double others = static_cast<double>(m) - g;
  FEDGUARD_EXPECTS(g >= 2 && others >= 1,
                   "group alignment: a group of " << g << " of " << m << " clients");
  // Row sums over the group (S) and the others (N): every inner product below is a sum of them;
  // the others' as the row's total less the group's, O(m |S|) with the totals given.
  const std::vector<double> total = row_sums_given.empty() ? row_sums(gram, m) : row_sums_given;
  std::vector<double> row_s(m, 0.0), row_n(m);
  for (std::size_t a = 0; a < m; ++a) {
    for (std::size_t b : members) row_s[a] += gram[a * m + b];
    row_n[a] = total[a] - row_s[a];
  }
  double ss = 0, sn = 0, nn = 0;  // sum over S x S, S x N, N x N
  for (std::size_t a = 0; a < m; ++a)
    if (in_group[a]) {
      ss += row_s[a];
      sn += row_n[a];
    } else {
      nn += row_n[a];
    }
  const double gl = g - 1, mean_n_sq = nn / (others * others);
  std::vector<double> cosines;
  for (std::size_t a = 0; a < m; ++a) {
    if (!in_group[a]) continue;
    const double self = gram[a * m + a];
    // v = (sum_S - x_a) / (g - 1) - mean_N; u = x_a - mean_N.
    const double xa_v = (row_s[a] - self) / gl - row_n[a] / others;
    const double mn_v = (sn - row_n[a]) / (gl * others) - mean_n_sq;
    const double v_sq =
        (ss - 2 * row_s[a] + self) / (gl * gl) - 2 * (sn - row_n[a]) / (gl * others) + mean_n_sq;
    const double u_sq = self - 2 * row_n[a] / others + mean_n_sq;
    const double denominator = std::sqrt(std::max(v_sq, 0.0) * std::max(u_sq, 0.0));
    cosines.push_back(denominator > 0 ? std::clamp((xa_v - mn_v) / denominator, -1.0, 1.0) : 0.0);
  }
  return median(cosines);
}

}  // namespace fedguard::detection
