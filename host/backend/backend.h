// The primitives that touch d-sized data: pass 1 (scan) and pass 2 (aggregate). Everything
// else in fedguard reads the n x n summaries that scan returns and never sees a backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fedguard/update_view.h"

namespace fedguard::backend {

struct ScanRequest {
  const UpdateView* updates = nullptr;
  /// The rows to scan (well-formed clients), in this order; summaries are indexed by position.
  std::vector<std::size_t> rows;
  /// Reference vectors of length d in host float32 (e.g. the previous aggregate).
  std::vector<const float*> references;
  std::size_t tile_columns = 0;  ///< 0: automatic
  /// false: only the per-row summaries (norms, signs, finiteness); gram, centre and reference
  /// products stay zero. For policies whose rules read nothing else.
  bool gram = true;
  /// Column subsets (sorted, distinct column indices < d): a Gram matrix of the centred rows
  /// restricted to each subset is accumulated too (DnC's random-coordinate variant).
  std::vector<std::vector<std::size_t>> column_subsets;
  /// Random sketch S = X R with R (d x sketch_dim) never stored: R_jq = +-1/sqrt(sketch_dim),
  /// the sign drawn from a counter-based hash of (sketch_seed, j, q). 0: no sketch.
  std::size_t sketch_dim = 0;
  std::uint64_t sketch_seed = 0;
};

/// R_jq of the random sketch (exposed for tests and for other backends, which must match it).
float sketch_entry(std::uint64_t seed, std::size_t column, std::size_t q, std::size_t sketch_dim);

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
  std::vector<std::uint8_t> finite;  ///< k, 0 where the row holds a NaN or an Inf
  /// k x sketch_dim: x_i R (the random sketch of the raw rows), when requested.
  std::vector<double> sketch;
  /// Per requested column subset, k x k: (x_i - c) . (x_j - c) over the subset's columns.
  std::vector<std::vector<double>> subset_grams;
  std::size_t tile_columns = 0;      ///< the tile width used
};

/// Per-column statistic of pass 2's coordinate-wise rules.
enum class ColumnStatistic {
  kMedian,       ///< middle value; the mean of the two middle values for an even count
  kTrimmedMean,  ///< drop `param` smallest and `param` largest, average the rest
  kBulyanMean,   ///< average of the `param` values closest to the median (ties: smaller value)
};

struct LinearAggregateRequest {
  const UpdateView* updates = nullptr;
  std::vector<std::size_t> rows;          ///< rows with a non-zero coefficient
  std::vector<double> coefficients;       ///< one per row
  std::vector<const float*> references;   ///< host float32 vectors of length d
  std::vector<double> reference_coefficients;
  std::size_t tile_columns = 0;
};

struct CoordinateAggregateRequest {
  const UpdateView* updates = nullptr;
  std::vector<std::size_t> rows;          ///< source rows
  /// Optional linear map applied to every column first: the statistic runs over the m values
  /// y = mix * [x_rows; references] (mix is m x (rows + references), row-major). Empty: the
  /// statistic runs over the rows themselves.
  std::vector<double> mix;
  std::size_t mixed_rows = 0;
  std::vector<const float*> references;
  ColumnStatistic statistic = ColumnStatistic::kMedian;
  std::size_t param = 0;
  std::size_t tile_columns = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual ScanSummaries scan(const ScanRequest& request) = 0;
  /// out (d floats) = sum_i coefficients_i x_rows[i] + sum_j reference_coefficients_j v_j.
  virtual void aggregate_linear(const LinearAggregateRequest& request, float* out) = 0;
  /// out (d floats) = the column statistic of each column.
  virtual void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out) = 0;
};

/// The CPU backend: OpenBLAS for the tile products, OpenMP threads elsewhere.
/// @param threads 0 uses every core
std::unique_ptr<Backend> make_cpu_backend(int threads);

/// Tile width for n rows when the caller leaves it automatic: a tile of about 2 MiB of
/// float32, a multiple of 64 columns, between 64 and 65536, at most d (rounded up to 64).
std::size_t auto_tile_columns(std::size_t n, std::size_t d);

}  // namespace fedguard::backend
