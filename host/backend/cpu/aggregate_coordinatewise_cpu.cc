// Pass 2, coordinate-wise rules (median, trimmed mean, Bulyan's mean around the median).
// Work is split into chunks of columns (each row contributes one contiguous run). For up to
// 2048 rows, 16 columns at a time are sorted by a branch-free sorting network on lane vectors
// and every statistic is read off the sorted columns; above that, each column is gathered and
// selected with std::nth_element. With a mixing matrix (transforms such as clipping or
// nearest-neighbour mixing), the chunk of mixed rows is first formed by one SGEMM.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/tile_loader.h"
#include "kernels/scan_math.h"
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

namespace {

constexpr std::size_t kLanes = 16;           // columns sorted side by side
constexpr std::size_t kNetworkMaxRows = 2048;  // above: per-column selection instead

// Batcher's odd-even merge sort for the next power of two >= m, keeping only comparators
// whose both ends are < m: positions >= m would hold +inf and never move, so every comparator
// touching them is a no-op. Built once per m and thread.
const std::vector<std::pair<std::uint32_t, std::uint32_t>>& sorting_network(std::size_t m) {
  thread_local std::size_t built_for = 0;
  thread_local std::vector<std::pair<std::uint32_t, std::uint32_t>> net;
  if (built_for == m) return net;
  net.clear();
  std::size_t n = 1;
  while (n < m) n <<= 1;
  for (std::size_t p = 1; p < n; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < n; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < m)
            net.emplace_back(static_cast<std::uint32_t>(i + j), static_cast<std::uint32_t>(i + j + k));
  built_for = m;
  return net;
}

// Sorts kLanes columns at once: block[i * kLanes + lane] is row i of column `lane`. Branch-free
// min/max on whole lane vectors, where a per-column selection mispredicts about every other
// branch. Compiled for AVX-512, AVX2 and baseline x86-64; the loader picks one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void sort_lanes(float* block, const std::pair<std::uint32_t, std::uint32_t>* net, std::size_t comparators) {
  for (std::size_t c = 0; c < comparators; ++c) {
    float* x = block + net[c].first * kLanes;
    float* y = block + net[c].second * kLanes;
    // Through locals: x and y point into the same block, and the compiler vectorises only
    // when it can see that the loads all happen before the stores.
    float lo[kLanes], hi[kLanes];
    for (std::size_t l = 0; l < kLanes; ++l) {
      lo[l] = std::min(x[l], y[l]);
      hi[l] = std::max(x[l], y[l]);
    }
    std::memcpy(x, lo, sizeof lo);
    std::memcpy(y, hi, sizeof hi);
  }
}

// The statistic of one sorted column (values[i * stride], i < m).
double sorted_statistic(const float* v, std::size_t stride, std::size_t m, ColumnStatistic statistic,
                        std::size_t param) {
  auto at = [&](std::size_t i) { return static_cast<double>(v[i * stride]); };
  const std::size_t h = m / 2;
  const double med = m % 2 ? at(h) : 0.5 * (at(h - 1) + at(h));
  switch (statistic) {
    case ColumnStatistic::kMedian:
      return med;
    case ColumnStatistic::kTrimmedMean: {
      double sum = 0;
      for (std::size_t i = param; i < m - param; ++i) sum += at(i);
      return sum / static_cast<double>(m - 2 * param);
    }
    case ColumnStatistic::kBulyanMean: {
      // The beta values nearest the median: a run grown outwards, the smaller value on ties.
      std::size_t right = 0;
      while (right < m && at(right) < med) ++right;
      std::ptrdiff_t left = static_cast<std::ptrdiff_t>(right) - 1;
      double sum = 0;
      for (std::size_t taken = 0; taken < param; ++taken) {
        const bool take_left =
            left >= 0 && (right >= m || med - at(static_cast<std::size_t>(left)) <= at(right) - med);
        sum += take_left ? at(static_cast<std::size_t>(left--)) : at(right++);
      }
      return sum / static_cast<double>(param);
    }
  }
  return 0;
}

// +-FLT_MAX beyond float32's range, NaN kept: kernels/scan_math.h, shared with the CUDA kernels.
using kernels::saturate;

}  // namespace

void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  const std::size_t k = request.rows.size();
  const std::size_t r = request.references.size();
  const bool mixed = !request.mix.empty();
  const std::size_t m = mixed ? request.mixed_rows : k;
  // The request was validated by Backend::aggregate_coordinatewise (host/backend/backend.cc).

  // Columns per chunk: each row contributes one contiguous run of `chunk` values.
  std::size_t chunk = mixed ? 256 : std::clamp<std::size_t>((std::size_t{1} << 18) / std::max<std::size_t>(m, 1), 64, 1024);
  if (request.tile_columns) chunk = std::min(chunk, request.tile_columns);
  chunk = std::max<std::size_t>(chunk, 1);
  const auto chunks = static_cast<std::ptrdiff_t>((d + chunk - 1) / chunk);
  const bool network = m <= kNetworkMaxRows;
  std::vector<float> mix_f(request.mix.begin(), request.mix.end());

#pragma omp parallel num_threads(threads)
  {
    std::vector<const float*> segment(m);
    std::vector<float> converted(!mixed && view.dtype() != DType::kFloat32 ? m * chunk : 0);
    std::vector<float> source(mixed ? (k + r) * chunk : 0);
    std::vector<float> mixed_rows(mixed ? m * chunk : 0);
    std::vector<float> block(network ? m * kLanes : 0);
    std::vector<float> column(network ? 0 : m);
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(w),
                    static_cast<int>(k + r), 1.0f, mix_f.data(), static_cast<int>(k + r), source.data(),
                    static_cast<int>(w), 0.0f, mixed_rows.data(), static_cast<int>(w));
        for (std::size_t p = 0; p < m; ++p) segment[p] = mixed_rows.data() + p * w;
      }
      if (network) {
        const auto& net = sorting_network(m);
        for (std::size_t j0 = 0; j0 < w; j0 += kLanes) {
          const std::size_t lanes = std::min(kLanes, w - j0);
          for (std::size_t p = 0; p < m; ++p) {
            float* dst = block.data() + p * kLanes;
            std::copy(segment[p] + j0, segment[p] + j0 + lanes, dst);
            std::fill(dst + lanes, dst + kLanes, 0.0f);
          }
          sort_lanes(block.data(), net.data(), net.size());
          for (std::size_t l = 0; l < lanes; ++l)
            out[col0 + j0 + l] =
                saturate(sorted_statistic(block.data() + l, kLanes, m, request.statistic, request.param));
        }
      } else {
        for (std::size_t j = 0; j < w; ++j) {
          for (std::size_t p = 0; p < m; ++p) column[p] = segment[p][j];
          out[col0 + j] = saturate(column_statistic(column.data(), m, request.statistic, request.param));
        }
      }
    }
  }
}

}  // namespace fedguard::backend::cpu
