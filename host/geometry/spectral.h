// Eigen-decompositions of n x n summaries (LAPACKE), for the spectral rules (dnc, pca_outlier).
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::geometry {

/// J K J with J = I - 11'/m: the Gram matrix of the rows re-centred on their own mean.
std::vector<double> double_centred(const std::vector<double>& gram, std::size_t m);

struct EigenPairs {
  std::vector<double> values;   ///< count values, largest first
  std::vector<double> vectors;  ///< m x count, column j is the eigenvector of values[j]
};

/// The `count` largest eigenpairs of a symmetric m x m matrix. Each vector's sign is fixed so
/// that its entry of largest magnitude is positive (deterministic output). Up to
/// kIterativeFrom rows (or for count > m / 8), the direct solver (LAPACKE_dsyevr, O(m^3));
/// above, block Krylov (top_eigenpairs_krylov, O(m^2 count) per step), falling back to the
/// direct solver when it does not converge.
EigenPairs top_eigenpairs(const std::vector<double>& symmetric, std::size_t m, std::size_t count);

constexpr std::size_t kIterativeFrom = 1500;

/// The direct solver (LAPACKE_dsyevr) whatever m.
EigenPairs top_eigenpairs_direct(const std::vector<double>& symmetric, std::size_t m,
                                 std::size_t count);

/// Block Krylov with Rayleigh-Ritz (blocks of count + 8 vectors from a fixed-seed start, each
/// new block orthogonalised twice against the basis): stops when every wanted Ritz pair has
/// ||A u - theta u|| <= tol * max(|theta_1|, tiny). Returns nullopt-like empty pairs (values
/// empty) when the basis reaches max_basis columns first.
EigenPairs top_eigenpairs_krylov(const std::vector<double>& symmetric, std::size_t m,
                                 std::size_t count, double tol = 1e-11, std::size_t max_basis = 0);

}  // namespace fedguard::geometry
