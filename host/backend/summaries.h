// What pass 1 returns: the data contract between a backend (which computes it from the
// d-sized updates) and the geometry floor (which reasons on it). Apart from backend.h so that
// geometry and everything above it see the summaries without the Backend interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard::backend {

/// Pass-1 summaries of the k scanned rows x_i and the r references v_j. Every tile subtracts a
/// per-column centre c (robust: see scan_cpu.cc); c is the concatenation over tiles. Distances
/// and inner products of any combination of rows, c and references follow exactly from these.
struct ScanSummaries {
  std::size_t k = 0;
  std::size_t r = 0;
  std::vector<double> gram;         ///< k x k, (x_i - c) . (x_j - c); empty when not requested
  std::vector<double> centre_proj;  ///< k, c . (x_i - c)
  double centre_sq = 0;             ///< c . c
  std::vector<double> ref_proj;     ///< k x r, (x_i - c) . v_j
  std::vector<double> centre_ref;   ///< r, c . v_j
  std::vector<double> ref_gram;     ///< r x r, v_i . v_j
  std::vector<double> norms_sq;     ///< k, ||x_i||^2 summed in float64 from the raw values
  std::vector<std::int64_t> positive, negative, zero;  ///< k, sign counts
  std::vector<std::uint8_t> finite;                    ///< k, 0 where the row holds a NaN or an Inf
  /// k x sketch_dim: x_i R (the random sketch of the raw rows), when requested.
  std::vector<double> sketch;
  /// Per requested column subset, k x k: (x_i - c) . (x_j - c) over the subset's columns.
  std::vector<std::vector<double>> subset_grams;
  std::size_t tile_columns = 0;  ///< the tile width used
};

}  // namespace fedguard::backend
