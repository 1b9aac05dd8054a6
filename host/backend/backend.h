// The primitives that touch d-sized data: pass 1 (scan) and pass 2 (aggregate). Everything
// else in fedguard reads the n x n summaries that scan returns and never sees a backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/column_statistic.h"
#include "backend/summaries.h"
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
  /// Count sketch S = X R (kernels/scan_math.h), R (d x sketch_dim) never stored: column j
  /// goes to one bucket h(j) in [0, sketch_dim) with a sign s(j) = +-1, both from a
  /// counter-based hash of (sketch_seed, j), so R_jb = s(j) if b == h(j), else 0, and
  /// E[<x R, y R>] = <x, y>. Accumulated in float64; O(d) per row. 0: no sketch; at most 2^32.
  std::size_t sketch_dim = 0;
  std::uint64_t sketch_seed = 0;
};

/// R_jb of the count sketch: s(j) when b == h(j), else 0 (exposed for tests and for other
/// backends, which must match it).
float sketch_entry(std::uint64_t seed, std::size_t column, std::size_t b, std::size_t sketch_dim);

struct LinearAggregateRequest {
  const UpdateView* updates = nullptr;
  std::vector<std::size_t> rows;         ///< rows with a non-zero coefficient
  std::vector<double> coefficients;      ///< one per row
  std::vector<const float*> references;  ///< host float32 vectors of length d
  std::vector<double> reference_coefficients;
  std::size_t tile_columns = 0;
};

struct CoordinateAggregateRequest {
  const UpdateView* updates = nullptr;
  std::vector<std::size_t> rows;  ///< source rows
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

/// What Backend::scan_with_statistic returns.
struct ScanWithStatistic {
  ScanSummaries summaries;  ///< what scan() returns for the request
  /// true: `out` holds the column statistic over every scanned row. false (a row holds a NaN or
  /// an Inf, there were no rows, or the backend does not read once): `out` is unspecified, and
  /// the caller runs aggregate_coordinatewise over the rows it keeps.
  bool statistic = false;
};

/// A backend's two passes. The public calls validate the request once, here for every backend
/// (validate() below), then run the backend's implementation (the protected run_* functions).
/// Capability queries say what a backend can do, so that callers never test its name or type.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  /// Whether this backend reads updates that live at `where` (the CPU: host memory; CUDA: host
  /// memory and its own device).
  virtual bool reads(const Location& where) const { return where.kind == MemoryKind::kHost; }
  /// The most rows a column statistic may run over (the CUDA kernels' shared-memory bound);
  /// beyond it the caller picks another backend. SIZE_MAX: no bound.
  virtual std::size_t max_statistic_rows(ColumnStatistic statistic) const;
  /// Placement and tile width of the last pass ("copied, 4096 columns"), for tests and logs;
  /// empty where a backend has no such choice.
  virtual std::string last_plan() const { return {}; }
  /// Host threads the last pass ran on (1 where a backend has no host team): a stage that runs
  /// right after a pass on a team can use the team without waking it.
  virtual int last_pass_threads() const { return 1; }

  ScanSummaries scan(const ScanRequest& request);
  /// Pass 1 of a request that wants only the per-row summaries (no Gram, sketch, references or
  /// column subsets) and, in the same read of the updates, pass 2 of a rule that needs nothing
  /// else (median, trimmed mean): out (d floats) = the column statistic over every scanned row,
  /// bit for bit what aggregate_coordinatewise returns for those rows. The engine asks for it
  /// ahead of knowing whether every row will be kept (a speculation; stages.cc) and only where
  /// reads_once_for_statistic() says it pays.
  ScanWithStatistic scan_with_statistic(const ScanRequest& request, ColumnStatistic statistic,
                                        std::size_t param, float* out);
  /// Whether scan_with_statistic, for `rows` rows of `cols` values, reads the updates once and
  /// pays for it (the engine asks only then); the base class's reads them twice.
  virtual bool reads_once_for_statistic(std::size_t rows, std::size_t cols) const {
    (void)rows, (void)cols;
    return false;
  }
  /// out (d floats) = sum_i coefficients_i x_rows[i] + sum_j reference_coefficients_j v_j.
  void aggregate_linear(const LinearAggregateRequest& request, float* out);
  /// out (d floats) = the column statistic of each column.
  void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out);

 protected:
  virtual ScanSummaries run_scan(const ScanRequest& request) = 0;
  /// Default: run_scan, then the statistic by run_aggregate_coordinatewise when every row is
  /// finite (two reads).
  virtual ScanWithStatistic run_scan_with_statistic(const ScanRequest& request,
                                                    ColumnStatistic statistic, std::size_t param,
                                                    float* out);
  virtual void run_aggregate_linear(const LinearAggregateRequest& request, float* out) = 0;
  virtual void run_aggregate_coordinatewise(const CoordinateAggregateRequest& request,
                                            float* out) = 0;
};

/// Request checks common to every backend (kInvalidInput naming the field and the numbers):
/// updates present, rows in range, references present, coefficient counts, column subsets
/// sorted, distinct and < d, a statistic's parameter within the rows it runs over.
void validate(const ScanRequest& request);
void validate(const LinearAggregateRequest& request);
void validate(const CoordinateAggregateRequest& request);

/// Rows a column statistic runs over: the mixed rows when there is a mixing matrix, else the rows.
std::size_t statistic_rows(const CoordinateAggregateRequest& request);

/// The CPU backend: OpenBLAS for the tile products, OpenMP threads elsewhere.
/// @param threads 0 uses every core
/// @param team_for_any_size run every pass on the team, however small (tests of the parallel
///        paths); by default a pass estimated under ~4 ms on one thread stays on one
///        (cpu_backend.cc: waking an idle worker costs milliseconds on the VMs measured)
std::unique_ptr<Backend> make_cpu_backend(int threads, bool team_for_any_size = false);

/// How big a backend's automatic pass-1 tile is: about `floats` float32 values of tile, a multiple
/// of `quantum` columns, at most `max_columns`; and at least `min_columns` columns (BLAS calls
/// with fewer are slow) as long as that stays within `max_floats`.
struct TileTarget {
  std::size_t floats = std::size_t{1} << 19;
  std::size_t quantum = 64;
  std::size_t max_columns = 65536;
  std::size_t min_columns = 0;
  std::size_t max_floats = 0;  ///< 0: floats
};
/// The CPU's: 512 KiB, so that pass 1's tile and its transposed copy stay in a core's L2 cache
/// (n = 100, d = 1e6, one thread: 1,280 columns took pass 1 from 229 to 189 ms against 5,184);
/// at least 512 columns within the former 2 MiB (n = 1000, d = 1e5: 128 columns took 1.40 s
/// against 0.93 s at 512). bench/results/pass1_fusion_2026-12-04.md.
constexpr TileTarget kCpuTile{std::size_t{1} << 17, 64, 65536, 512, std::size_t{1} << 19};
/// The GPU's 64 MiB (wide tiles keep every SM busy and the GEMMs large).
constexpr TileTarget kCudaTile{std::size_t{1} << 24, 256, std::size_t{1} << 31};

/// Tile width for n rows when the caller leaves it automatic, for every backend: target.floats / n
/// columns (raised towards target.min_columns, up to target.max_floats / n), a multiple of
/// target.quantum, at least target.quantum, at most target.max_columns, at most 2^31 / n (BLAS
/// dimension products stay within int), at most d rounded up to the quantum.
/// (The count sketch keeps no per-tile matrix: its cost per column is one hash, not q floats.)
std::size_t auto_tile_columns(std::size_t n, std::size_t d, const TileTarget& target = kCpuTile);

}  // namespace fedguard::backend
