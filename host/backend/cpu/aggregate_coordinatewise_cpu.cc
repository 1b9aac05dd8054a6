// Pass 2, coordinate-wise rules (median, trimmed mean, Bulyan's mean around the median).
// Work is split into chunks of columns; a chunk's values are gathered column-major into a
// per-thread buffer (each row contributes a contiguous run, so reads stay sequential), then
// each column's statistic is a selection (std::nth_element, O(m)) or, for Bulyan, a sort.
// With a mixing matrix (transforms such as clipping or nearest-neighbour mixing), the chunk of
// mixed rows is first formed by one SGEMM.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/tile_loader.h"
#include "fedguard/error.h"

namespace fedguard::backend::cpu {

double column_statistic(float* v, std::size_t m, ColumnStatistic statistic, std::size_t param) {
  switch (statistic) {
    case ColumnStatistic::kMedian: {
      const std::size_t h = m / 2;
      std::nth_element(v, v + h, v + m);
      const double upper = v[h];
      if (m % 2 == 1) return upper;
      const double lower = *std::max_element(v, v + h);
      return 0.5 * (lower + upper);
    }
    case ColumnStatistic::kTrimmedMean: {
      const std::size_t b = param;
      if (b > 0) {
        std::nth_element(v, v + b, v + m);              // [0, b) the b smallest
        std::nth_element(v + b, v + (m - b), v + m);    // [m-b, m) the b largest
      }
      double sum = 0;
      for (std::size_t i = b; i < m - b; ++i) sum += v[i];
      return sum / static_cast<double>(m - 2 * b);
    }
    case ColumnStatistic::kBulyanMean: {
      std::sort(v, v + m);
      const std::size_t h = m / 2;
      const double med = m % 2 ? static_cast<double>(v[h]) : 0.5 * (static_cast<double>(v[h - 1]) + v[h]);
      // The beta values nearest the median are a contiguous run of the sorted values; grow it
      // from the median outwards, taking the smaller value on equal distance.
      std::size_t right = static_cast<std::size_t>(std::lower_bound(v, v + m, med,
          [](float a, double b) { return static_cast<double>(a) < b; }) - v);
      std::ptrdiff_t left = static_cast<std::ptrdiff_t>(right) - 1;
      double sum = 0;
      for (std::size_t taken = 0; taken < param; ++taken) {
        const bool take_left = left >= 0 &&
            (right >= m || med - static_cast<double>(v[left]) <= static_cast<double>(v[right]) - med);
        if (take_left) {
          sum += v[left--];
        } else {
          sum += v[right++];
        }
      }
      return sum / static_cast<double>(param);
    }
  }
  return 0;
}

void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  const std::size_t k = request.rows.size();
  const std::size_t r = request.references.size();
  const bool mixed = !request.mix.empty();
  const std::size_t m = mixed ? request.mixed_rows : k;
  FEDGUARD_EXPECTS(m > 0, "coordinate-wise aggregation over zero rows");
  FEDGUARD_EXPECTS(!mixed || request.mix.size() == m * (k + r),
                   "mixing matrix has " << request.mix.size() << " entries, expected " << m * (k + r));
  if (request.statistic == ColumnStatistic::kTrimmedMean)
    FEDGUARD_EXPECTS(2 * request.param < m, "trimmed mean of " << m << " values with trim " << request.param);
  if (request.statistic == ColumnStatistic::kBulyanMean)
    FEDGUARD_EXPECTS(request.param >= 1 && request.param <= m,
                     "Bulyan mean of " << request.param << " of " << m << " values");

  // Columns per chunk: keep the gathered block (m x chunk floats) near 256 KiB.
  std::size_t chunk = std::clamp<std::size_t>((std::size_t{1} << 16) / std::max<std::size_t>(m, 1), 16, 1024);
  if (mixed) chunk = std::max<std::size_t>(chunk, 256);  // amortise the SGEMM call
  if (request.tile_columns) chunk = std::min(chunk, request.tile_columns);
  chunk = std::max<std::size_t>(chunk, 1);
  const auto chunks = static_cast<std::ptrdiff_t>((d + chunk - 1) / chunk);

  std::vector<float> mix_f(request.mix.begin(), request.mix.end());

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> columns(m * chunk);  // column-major: columns[j * m + i]
    std::vector<float> scratch(chunk);
    std::vector<float> source(mixed ? (k + r) * chunk : 0);
    std::vector<float> mixed_rows(mixed ? m * chunk : 0);
#pragma omp for schedule(dynamic, 4)
    for (std::ptrdiff_t ci = 0; ci < chunks; ++ci) {
      const std::size_t col0 = static_cast<std::size_t>(ci) * chunk;
      const std::size_t w = std::min(chunk, d - col0);
      if (!mixed) {
        for (std::size_t p = 0; p < k; ++p) {
          const float* x = row_segment(view, request.rows[p], col0, w, scratch.data());
          for (std::size_t j = 0; j < w; ++j) columns[j * m + p] = x[j];
        }
      } else {
        for (std::size_t p = 0; p < k + r; ++p) {
          const float* x = p < k ? row_segment(view, request.rows[p], col0, w, scratch.data())
                                 : request.references[p - k] + col0;
          std::copy(x, x + w, source.begin() + static_cast<std::ptrdiff_t>(p * w));
        }
        // Inside a parallel region: OpenBLAS serialises nested calls, which is what we want.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(w),
                    static_cast<int>(k + r), 1.0f, mix_f.data(), static_cast<int>(k + r), source.data(),
                    static_cast<int>(w), 0.0f, mixed_rows.data(), static_cast<int>(w));
        for (std::size_t p = 0; p < m; ++p)
          for (std::size_t j = 0; j < w; ++j) columns[j * m + p] = mixed_rows[p * w + j];
      }
      for (std::size_t j = 0; j < w; ++j) {
        const double value = column_statistic(columns.data() + j * m, m, request.statistic, request.param);
        out[col0 + j] = static_cast<float>(std::clamp(value, -static_cast<double>(FLT_MAX),
                                                      static_cast<double>(FLT_MAX)));
      }
    }
  }
}

}  // namespace fedguard::backend::cpu
