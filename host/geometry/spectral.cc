#include "geometry/spectral.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "fedguard/error.h"

namespace fedguard::geometry {

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
    for (std::size_t b = 0; b < m; ++b)
      out[a * m + b] = k[a * m + b] - row_mean[a] - row_mean[b] + total;
  return out;
}

namespace {

// Largest-magnitude entry positive: the same vector whichever solver found it.
void fix_signs(EigenPairs& e, std::size_t m) {
  const std::size_t count = e.values.size();
  for (std::size_t j = 0; j < count; ++j) {
    std::size_t big = 0;
    for (std::size_t i = 0; i < m; ++i)
      if (std::abs(e.vectors[i * count + j]) > std::abs(e.vectors[big * count + j])) big = i;
    if (e.vectors[big * count + j] < 0)
      for (std::size_t i = 0; i < m; ++i) e.vectors[i * count + j] = -e.vectors[i * count + j];
  }
}

// Orthonormalises the columns of w (m x p, row-major) against the first `used` columns of
// basis (m x cap, row-major) and among themselves: (project out the basis twice, Householder
// QR) twice. The second round matters when the Krylov space is (nearly) invariant: a column
// that vanished in the projection comes out of the first QR as rounding noise, which the
// second round turns into a clean direction of the complement.
void orthonormalise_block(const std::vector<double>& basis, std::size_t m, std::size_t cap,
                          std::size_t used, std::vector<double>& w, std::size_t p) {
  std::vector<double> coef(std::max<std::size_t>(used, 1) * p), tau(p);
  for (int round = 0; round < 2; ++round) {
    for (int pass = 0; pass < 2 && used > 0; ++pass) {
      // coef = basis[:, :used]^T w ; w -= basis[:, :used] coef
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(used),
                  static_cast<int>(p), static_cast<int>(m), 1.0, basis.data(),
                  static_cast<int>(cap), w.data(), static_cast<int>(p), 0.0, coef.data(),
                  static_cast<int>(p));
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                  static_cast<int>(p), static_cast<int>(used), -1.0, basis.data(),
                  static_cast<int>(cap), coef.data(), static_cast<int>(p), 1.0, w.data(),
                  static_cast<int>(p));
    }
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(p),
                   w.data(), static_cast<lapack_int>(p), tau.data());
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(p),
                   static_cast<lapack_int>(p), w.data(), static_cast<lapack_int>(p), tau.data());
  }
}

}  // namespace

EigenPairs top_eigenpairs(const std::vector<double>& symmetric, std::size_t m, std::size_t count) {
  FEDGUARD_EXPECTS(count >= 1 && count <= m,
                   "asked for " << count << " eigenpairs of a " << m << " x " << m << " matrix");
  if (m >= kIterativeFrom && count * 8 <= m) {
    EigenPairs e = top_eigenpairs_krylov(symmetric, m, count);
    if (!e.values.empty()) return e;
  }
  return top_eigenpairs_direct(symmetric, m, count);
}

EigenPairs top_eigenpairs_krylov(const std::vector<double>& a, std::size_t m, std::size_t count,
                                 double tol, std::size_t max_basis) {
  FEDGUARD_EXPECTS(count >= 1 && count <= m,
                   "asked for " << count << " eigenpairs of a " << m << " x " << m << " matrix");
  const std::size_t p = std::min(m, count + 8);
  const std::size_t cap = std::min(m, max_basis ? max_basis : std::max<std::size_t>(40 * p, 200));
  std::vector<double> basis(m * cap, 0.0), image(m * cap, 0.0);  // V and A V, column blocks
  std::mt19937_64 rng(0x5eedULL + m);
  std::normal_distribution<double> normal;
  std::vector<double> block(m * p);
  for (double& v : block) v = normal(rng);
  std::size_t used = 0;
  double scale = 0;
  for (std::size_t i = 0; i < m * m; ++i) scale = std::max(scale, std::abs(a[i]));
  if (scale == 0) {  // the zero matrix: any orthonormal vectors, eigenvalues 0
    EigenPairs e;
    e.values.assign(count, 0.0);
    e.vectors.assign(m * count, 0.0);
    for (std::size_t j = 0; j < count; ++j) e.vectors[j * count + j] = 1.0;
    return e;
  }
  std::vector<double> ab;
  while (used < cap) {
    // The last block may be narrower, so that the basis can grow to all of R^m.
    const std::size_t step = std::min(p, cap - used);
    if (step < p) {
      std::vector<double> narrow(m * step);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < step; ++j) narrow[i * step + j] = block[i * p + j];
      block.swap(narrow);
    }
    orthonormalise_block(basis, m, cap, used, block, step);
    ab.assign(m * step, 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                static_cast<int>(step), static_cast<int>(m), 1.0, a.data(), static_cast<int>(m),
                block.data(), static_cast<int>(step), 0.0, ab.data(), static_cast<int>(step));
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < step; ++j) {
        basis[i * cap + used + j] = block[i * step + j];
        image[i * cap + used + j] = ab[i * step + j];
      }
    used += step;
    block = ab;  // the next block extends the Krylov space

    // Rayleigh-Ritz on T = V^T A V (symmetrised).
    const std::size_t b = used;
    std::vector<double> t(b * b);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(b), static_cast<int>(b),
                static_cast<int>(m), 1.0, basis.data(), static_cast<int>(cap), image.data(),
                static_cast<int>(cap), 0.0, t.data(), static_cast<int>(b));
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t j = i + 1; j < b; ++j)
        t[i * b + j] = t[j * b + i] = 0.5 * (t[i * b + j] + t[j * b + i]);
    const EigenPairs small = top_eigenpairs_direct(t, b, count);
    // Ritz vectors U = V Y and residuals (A V) Y - U diag(theta).
    std::vector<double> u(m * count), au(m * count);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                static_cast<int>(count), static_cast<int>(b), 1.0, basis.data(),
                static_cast<int>(cap), small.vectors.data(), static_cast<int>(count), 0.0, u.data(),
                static_cast<int>(count));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                static_cast<int>(count), static_cast<int>(b), 1.0, image.data(),
                static_cast<int>(cap), small.vectors.data(), static_cast<int>(count), 0.0,
                au.data(), static_cast<int>(count));
    const double top = std::max(std::abs(small.values[0]), scale * 1e-300);
    bool converged = true;
    for (std::size_t j = 0; j < count && converged; ++j) {
      double r = 0;
      for (std::size_t i = 0; i < m; ++i) {
        const double e = au[i * count + j] - small.values[j] * u[i * count + j];
        r += e * e;
      }
      converged = std::sqrt(r) <= tol * top;
    }
    if (converged || used == m) {
      EigenPairs e{small.values, u};
      fix_signs(e, m);
      return e;
    }
  }
  return {};
}

EigenPairs top_eigenpairs_direct(const std::vector<double>& symmetric, std::size_t m,
                                 std::size_t count) {
  FEDGUARD_EXPECTS(count >= 1 && count <= m,
                   "asked for " << count << " eigenpairs of a " << m << " x " << m << " matrix");
  std::vector<double> a = symmetric;  // dsyevr overwrites its input
  std::vector<double> w(m), z(m * count);
  std::vector<lapack_int> support(2 * count);
  lapack_int found = 0;
  const auto n = static_cast<lapack_int>(m);
  const lapack_int info =
      LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', n, a.data(), n, 0.0, 0.0,
                     n - static_cast<lapack_int>(count) + 1, n, 0.0, &found, w.data(), z.data(),
                     static_cast<lapack_int>(count), support.data());
  if (info != 0 || found != static_cast<lapack_int>(count))
    FEDGUARD_THROW(kDeviceFailure, "LAPACKE_dsyevr failed (info "
                                       << info << ", found " << found << " of " << count
                                       << " eigenpairs of an " << m << " x " << m << " matrix)");
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

}  // namespace fedguard::geometry
