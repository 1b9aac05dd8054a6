// Eigen-decompositions of n x n summaries (LAPACKE), for the spectral detectors.
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::policy {

/// J K J with J = I - 11'/m: the Gram matrix of the rows re-centred on their own mean.
std::vector<double> double_centred(const std::vector<double>& gram, std::size_t m);

struct EigenPairs {
  std::vector<double> values;   ///< count values, largest first
  std::vector<double> vectors;  ///< m x count, column j is the eigenvector of values[j]
};

/// The `count` largest eigenpairs of a symmetric m x m matrix (LAPACKE_dsyevr). Each vector's
/// sign is fixed so that its entry of largest magnitude is positive (deterministic output).
EigenPairs top_eigenpairs(const std::vector<double>& symmetric, std::size_t m, std::size_t count);

}  // namespace fedguard::policy
