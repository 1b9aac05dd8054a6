// Pass 2, coordinate-wise rules (median, trimmed mean, Bulyan's mean around the median).
// Work is split into chunks of columns (each row contributes one contiguous run). For up to
// 2048 rows, 16 columns at a time are sorted by a branch-free sorting network on lane vectors
// (lane_blocks.h: its first stages on groups of wires held in registers; median and trimmed mean
// only partition) and every statistic is read off the sorted columns, but for the median and the
// trimmed mean of many rows (from 640 and 1000), selected by counting (lane_select.h, with
// AVX-512 or AVX2; above 2048 rows too); Bulyan's mean above 2048 rows, or any statistic there
// without either, gathers each column and selects with std::nth_element. With a mixing matrix
// (transforms such as clipping or nearest-neighbour mixing), the chunk of mixed rows is first
// formed by one SGEMM.
#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lane_blocks.h"
#include "backend/cpu/lane_select.h"
#include "backend/cpu/tile_loader.h"
#include "fedguard/error.h"
#include "kernels/scan_math.h"

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
        std::nth_element(v, v + b, v + m);            // [0, b) the b smallest
        std::nth_element(v + b, v + (m - b), v + m);  // [m-b, m) the b largest
      }
      double sum = 0;
      for (std::size_t i = b; i < m - b; ++i) sum += v[i];
      return sum / static_cast<double>(m - 2 * b);
    }
    case ColumnStatistic::kBulyanMean: {
      std::sort(v, v + m);
      const std::size_t h = m / 2;
      const double med =
          m % 2 ? static_cast<double>(v[h]) : 0.5 * (static_cast<double>(v[h - 1]) + v[h]);
      // The beta values nearest the median are a contiguous run of the sorted values; grow it
      // from the median outwards, taking the smaller value on equal distance.
      std::size_t right = static_cast<std::size_t>(
          std::lower_bound(v, v + m, med,
                           [](float a, double b) { return static_cast<double>(a) < b; }) -
          v);
      std::ptrdiff_t left = static_cast<std::ptrdiff_t>(right) - 1;
      double sum = 0;
      for (std::size_t taken = 0; taken < param; ++taken) {
        const bool take_left = left >= 0 && (right >= m || med - static_cast<double>(v[left]) <=
                                                               static_cast<double>(v[right]) - med);
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
  // The request was validated by Backend::aggregate_coordinatewise (host/backend/backend.cc).

  // Columns per chunk: each row contributes one contiguous run of `chunk` values.
  std::size_t chunk = mixed ? 256
                            : std::clamp<std::size_t>(
                                  (std::size_t{1} << 18) / std::max<std::size_t>(m, 1), 64, 1024);
  if (request.tile_columns) chunk = std::min(chunk, request.tile_columns);
  chunk = std::max<std::size_t>(chunk, 1);
  const auto chunks = static_cast<std::ptrdiff_t>((d + chunk - 1) / chunk);
  // Lane blocks: the networks, up to kNetworkMaxRows rows; the median and the trimmed mean by
  // counting above, where the processor has its kernel (lane_select.h).
  const bool select_many = m > kNetworkMaxRows &&
                           (request.statistic == ColumnStatistic::kMedian ||
                            request.statistic == ColumnStatistic::kTrimmedMean) &&
                           lane_select_available();
  const bool network = m <= kNetworkMaxRows || select_many;
  std::vector<float> mix_f(request.mix.begin(), request.mix.end());

#pragma omp parallel num_threads(threads)
  {
    std::vector<const float*> segment(m);
    std::vector<float> converted(!mixed && view.dtype() != DType::kFloat32 ? m * chunk : 0);
    std::vector<float> source(mixed ? (k + r) * chunk : 0);
    std::vector<float> mixed_rows(mixed ? m * chunk : 0);
    // 64-byte aligned: a lane block's row is one cache line (the layout kernels' aligned stores).
    std::vector<float> blocks_storage(
        network ? m * ((chunk + kLanes - 1) / kLanes) * kLanes + kLanes : 0);
    float* const blocks = aligned_lines(blocks_storage.data());
    std::vector<std::uint32_t> bad((chunk + kLanes - 1) / kLanes);
    std::vector<float> column(network && !select_many ? 0 : m);
    std::vector<float> scratch(chunk);
#pragma omp for schedule(dynamic, 4)
    for (std::ptrdiff_t ci = 0; ci < chunks; ++ci) {
      const std::size_t col0 = static_cast<std::size_t>(ci) * chunk;
      const std::size_t w = std::min(chunk, d - col0);
      // Row-major view of this chunk: segment[i] points at w values of (mixed) row i.
      if (!mixed) {
        for (std::size_t p = 0; p < k; ++p) {
          float* dst = converted.empty() ? scratch.data() : converted.data() + p * chunk;
          segment[p] = row_segment(view, request.rows[p], col0, w, dst);
        }
      } else {
        for (std::size_t p = 0; p < k + r; ++p) {
          const float* x = p < k ? row_segment(view, request.rows[p], col0, w, scratch.data())
                                 : request.references[p - k] + col0;
          std::copy(x, x + w, source.begin() + static_cast<std::ptrdiff_t>(p * w));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                    static_cast<int>(w), static_cast<int>(k + r), 1.0f, mix_f.data(),
                    static_cast<int>(k + r), source.data(), static_cast<int>(w), 0.0f,
                    mixed_rows.data(), static_cast<int>(w));
        for (std::size_t p = 0; p < m; ++p) segment[p] = mixed_rows.data() + p * w;
      }
      bool done = false;
      if (network) {
        // The lane-block layout of the whole chunk first, reading each row's run in order:
        // taking 16 values from each of m rows in turn defeats the hardware prefetchers (m
        // streams) and left every load waiting on memory (perf, 2026-12-03).
        layout_lane_blocks(segment.data(), m, w, blocks, bad.data());
        // Above the networks' rows a block with a NaN or an Inf (mixed rows can overflow) sends
        // the chunk to the per-column selection below, as before the counting kernel.
        const std::size_t nblocks = (w + kLanes - 1) / kLanes;
        done = !select_many ||
               std::none_of(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(nblocks),
                            [](std::uint32_t b) { return b != 0; });
        if (done)
          statistic_of_lane_blocks(blocks, m, w, bad.data(), request.statistic, request.param,
                                   out + col0);
      }
      if (!done) {
        for (std::size_t j = 0; j < w; ++j) {
          for (std::size_t p = 0; p < m; ++p) column[p] = segment[p][j];
          out[col0 + j] = kernels::saturate(
              column_statistic(column.data(), m, request.statistic, request.param));
        }
      }
    }
  }
}

}  // namespace fedguard::backend::cpu
