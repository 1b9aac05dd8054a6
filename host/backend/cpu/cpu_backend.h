// The CPU backend: a real engine (OpenBLAS tile products, OpenMP elsewhere), the default where
// no GPU is present and the reference the CUDA backend is tested against.
#pragma once

#include "backend/backend.h"

namespace fedguard::backend::cpu {

ScanSummaries scan(const ScanRequest& request, int threads);
/// How scan() splits d: tiles of `width` columns, worker t taking [t tiles / workers,
/// (t + 1) tiles / workers) where the request wants neither a Gram nor a sketch.
struct ScanTiles {
  std::size_t width = 0, tiles = 0;
  int workers = 1;
};
ScanTiles scan_tiles(const ScanRequest& request, int threads);
/// Backend::scan_with_statistic on the CPU (scan_statistic_cpu.cc).
ScanWithStatistic scan_with_statistic(const ScanRequest& request, ColumnStatistic statistic,
                                      std::size_t param, float* out, int threads);
void aggregate_linear(const LinearAggregateRequest& request, float* out, int threads);
void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out, int threads);

/// Per-column statistic over values[0..m) (reordered in place); exposed for the benchmark.
double column_statistic(float* values, std::size_t m, ColumnStatistic statistic, std::size_t param);

}  // namespace fedguard::backend::cpu
