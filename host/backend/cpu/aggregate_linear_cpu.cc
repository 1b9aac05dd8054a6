// Pass 2, linear rules: out = sum_i a_i x_i + sum_j b_j v_j, one column chunk per task.
// Each column sums its rows in a fixed order in float64, so the result does not depend on the
// chunking or the thread count: bit-identical run to run.
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/tile_loader.h"
#include "kernels/scan_math.h"

namespace fedguard::backend::cpu {

namespace {
// +-FLT_MAX beyond float32's range, NaN kept: kernels/scan_math.h, shared with the CUDA kernels.
float to_float_saturated(double v) { return kernels::saturate(v); }
}  // namespace

void aggregate_linear(const LinearAggregateRequest& request, float* out, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  const std::size_t k = request.rows.size();
  const std::size_t chunk =
      std::min<std::size_t>(request.tile_columns ? request.tile_columns : 4096, 8192);
  const auto chunks = static_cast<std::ptrdiff_t>((d + chunk - 1) / chunk);

#pragma omp parallel num_threads(threads)
  {
    std::vector<double> acc(chunk);
    std::vector<float> scratch(chunk);
#pragma omp for schedule(static)
    for (std::ptrdiff_t ci = 0; ci < chunks; ++ci) {
      const std::size_t col0 = static_cast<std::size_t>(ci) * chunk;
      const std::size_t w = std::min(chunk, d - col0);
      std::fill(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(w), 0.0);
      for (std::size_t p = 0; p < k; ++p) {
        const double a = request.coefficients[p];
        if (a == 0) continue;
        const float* x = row_segment(view, request.rows[p], col0, w, scratch.data());
        for (std::size_t j = 0; j < w; ++j) acc[j] += a * x[j];
      }
      for (std::size_t ri = 0; ri < request.references.size(); ++ri) {
        const double b = request.reference_coefficients[ri];
        if (b == 0) continue;
        const float* v = request.references[ri] + col0;
        for (std::size_t j = 0; j < w; ++j) acc[j] += b * v[j];
      }
      for (std::size_t j = 0; j < w; ++j) out[col0 + j] = to_float_saturated(acc[j]);
    }
  }
}

}  // namespace fedguard::backend::cpu
