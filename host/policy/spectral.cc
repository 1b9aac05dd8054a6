#include "policy/spectral.h"

#include <algorithm>
#include <cmath>

#include <lapacke.h>

#include "fedguard/error.h"

namespace fedguard::policy {

std::vector<double> double_centred(const std::vector<double>& k, std::size_t m) {
  std::vector<double> row_mean(m, 0.0), out(m * m);
  double total = 0;
  for (std::size_t a = 0; a < m; ++a) {
    for (std::size_t b = 0; b < m; ++b) row_mean[a] += k[a * m + b];
    total += row_mean[a];
    row_mean[a] /= static_cast<double>(m);
  }
  total /= static_cast<double>(m) * static_cast<double>(m);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) out[a * m + b] = k[a * m + b] - row_mean[a] - row_mean[b] + total;
  return out;
}

EigenPairs top_eigenpairs(const std::vector<double>& symmetric, std::size_t m, std::size_t count) {
  FEDGUARD_EXPECTS(count >= 1 && count <= m, "asked for " << count << " eigenpairs of a " << m << " x " << m
                                                          << " matrix");
  std::vector<double> a = symmetric;  // dsyevr overwrites its input
  std::vector<double> w(m), z(m * count);
  std::vector<lapack_int> support(2 * count);
  lapack_int found = 0;
  const auto n = static_cast<lapack_int>(m);
  const lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', n, a.data(), n, 0.0, 0.0,
                                         n - static_cast<lapack_int>(count) + 1, n, 0.0, &found, w.data(),
                                         z.data(), static_cast<lapack_int>(count), support.data());
  if (info != 0 || found != static_cast<lapack_int>(count))
    FEDGUARD_THROW(kDeviceFailure, "LAPACKE_dsyevr failed (info " << info << ", found " << found << " of " << count
                                                                  << " eigenpairs of an " << m << " x " << m
                                                                  << " matrix)");
  // dsyevr returns ascending order; reverse to largest first.
  EigenPairs out;
  out.values.resize(count);
  out.vectors.resize(m * count);
  for (std::size_t j = 0; j < count; ++j) {
    const std::size_t src = count - 1 - j;
    out.values[j] = w[src];
    std::size_t big = 0;
    for (std::size_t i = 0; i < m; ++i)
      if (std::abs(z[i * count + src]) > std::abs(z[big * count + src])) big = i;
    const double sign = z[big * count + src] < 0 ? -1.0 : 1.0;
    for (std::size_t i = 0; i < m; ++i) out.vectors[i * count + j] = sign * z[i * count + src];
  }
  return out;
}

}  // namespace fedguard::policy
