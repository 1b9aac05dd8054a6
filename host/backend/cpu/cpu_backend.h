// The CPU backend: a real engine (OpenBLAS tile products, OpenMP elsewhere), the default where
// no GPU is present and the reference the CUDA backend is tested against.
#pragma once

#include "backend/backend.h"

namespace fedguard::backend::cpu {

ScanSummaries scan(const ScanRequest& request, int threads);
void aggregate_linear(const LinearAggregateRequest& request, float* out, int threads);
void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out, int threads);

/// Per-column statistic over values[0..m) (reordered in place); exposed for the benchmark.
double column_statistic(float* values, std::size_t m, ColumnStatistic statistic, std::size_t param);

}  // namespace fedguard::backend::cpu
