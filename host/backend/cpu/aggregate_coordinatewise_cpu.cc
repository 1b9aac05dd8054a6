// Pass 2, coordinate-wise rules (median, trimmed mean, Bulyan's mean around the median).
// Work is split into chunks of columns (each row contributes one contiguous run). For up to
// 2048 rows, 16 columns at a time are sorted by a branch-free sorting network on lane vectors
// and every statistic is read off the sorted columns; above that, each column is gathered and
// selected with std::nth_element. With a mixing matrix (transforms such as clipping or
// nearest-neighbour mixing), the chunk of mixed rows is first formed by one SGEMM.
#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/selection_network.h"
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

namespace {

constexpr std::size_t kLanes = 16;             // columns sorted side by side
constexpr std::size_t kNetworkMaxRows = 2048;  // above: per-column selection instead

// The comparator networks of selection_network.h, built once per shape and thread.
const std::vector<Comparator>& cached_sorting_network(std::size_t m) {
  thread_local std::size_t built_for = 0;
  thread_local std::vector<Comparator> net;
  if (built_for != m) {
    net = sorting_network(m);
    built_for = m;
  }
  return net;
}
const std::vector<Comparator>& cached_partition_network(std::size_t m, std::size_t b) {
  thread_local std::pair<std::size_t, std::size_t> built_for{0, 0};
  thread_local std::vector<Comparator> net;
  if (built_for != std::make_pair(m, b)) {
    net = partition_network(m, b);
    built_for = {m, b};
  }
  return net;
}

// Sorts (or partitions) kLanes columns at once: block[i * kLanes + lane] is row i of column
// `lane`. Branch-free min/max on whole lane vectors, where a per-column selection mispredicts
// about every other branch. Written with intrinsics per instruction set: as per-float loops
// (and as GCC vector types) GCC's AVX2 code stayed scalar and stalled on store forwarding
// (perf, 2026-12-03: about 6,000 cycles per column at m = 100). min_ps(y, x) is y < x ? y : x
// = std::min(x, y), and max_ps(y, x) is y > x ? y : x = std::max(x, y), NaN included.
static_assert(kLanes == 16, "the lane kernels below handle 16 floats");

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside _mm512_min_ps (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void sort_lanes_avx512(float* block, const Comparator* net,
                                                          std::size_t comparators) {
  for (std::size_t c = 0; c < comparators; ++c) {
    float* px = block + net[c].first * kLanes;
    float* py = block + net[c].second * kLanes;
    const __m512 x = _mm512_loadu_ps(px), y = _mm512_loadu_ps(py);
    _mm512_storeu_ps(px, _mm512_min_ps(y, x));
    _mm512_storeu_ps(py, _mm512_max_ps(y, x));
  }
}
#pragma GCC diagnostic pop

__attribute__((target("avx2"))) void sort_lanes_avx2(float* block, const Comparator* net,
                                                     std::size_t comparators) {
  for (std::size_t c = 0; c < comparators; ++c) {
    float* px = block + net[c].first * kLanes;
    float* py = block + net[c].second * kLanes;
    const __m256 x0 = _mm256_loadu_ps(px), x1 = _mm256_loadu_ps(px + 8);
    const __m256 y0 = _mm256_loadu_ps(py), y1 = _mm256_loadu_ps(py + 8);
    _mm256_storeu_ps(px, _mm256_min_ps(y0, x0));
    _mm256_storeu_ps(px + 8, _mm256_min_ps(y1, x1));
    _mm256_storeu_ps(py, _mm256_max_ps(y0, x0));
    _mm256_storeu_ps(py + 8, _mm256_max_ps(y1, x1));
  }
}

void sort_lanes_sse2(float* block, const Comparator* net, std::size_t comparators) {
  for (std::size_t c = 0; c < comparators; ++c) {
    float* px = block + net[c].first * kLanes;
    float* py = block + net[c].second * kLanes;
    for (std::size_t q = 0; q < kLanes; q += 4) {
      const __m128 x = _mm_loadu_ps(px + q), y = _mm_loadu_ps(py + q);
      _mm_storeu_ps(px + q, _mm_min_ps(y, x));
      _mm_storeu_ps(py + q, _mm_max_ps(y, x));
    }
  }
}

void sort_lanes(float* block, const Comparator* net, std::size_t comparators) {
  static const auto kernel = __builtin_cpu_supports("avx512f") ? sort_lanes_avx512
                             : __builtin_cpu_supports("avx2")  ? sort_lanes_avx2
                                                               : sort_lanes_sse2;
  kernel(block, net, comparators);
}
#else
void sort_lanes(float* block, const Comparator* net, std::size_t comparators) {
  for (std::size_t c = 0; c < comparators; ++c) {
    float* x = block + net[c].first * kLanes;
    float* y = block + net[c].second * kLanes;
    for (std::size_t l = 0; l < kLanes; ++l) {
      const float lo = std::min(x[l], y[l]), hi = std::max(x[l], y[l]);
      x[l] = lo;
      y[l] = hi;
    }
  }
}
#endif

// Per lane, the float64 sum of rows [first, last) of the block, rows added in order.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void sum_rows(const float* block, std::size_t first, std::size_t last, double* sums) {
  double s[kLanes];
  std::fill(s, s + kLanes, -0.0);  // -0.0 + x == x for every x, signed zeros included
  for (std::size_t p = first; p < last; ++p)
    for (std::size_t l = 0; l < kLanes; ++l) s[l] += static_cast<double>(block[p * kLanes + l]);
  std::memcpy(sums, s, sizeof s);
}

// Whether every value is finite. The partition network's classes are those of a sort for
// ordered values; a block with a NaN or an Inf (mixed rows can overflow) takes the full sort, as
// before the partition network existed. Integer tests on the exponent bits, so that it vectorises.
bool all_finite(const float* values, std::size_t count) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t u;
    std::memcpy(&u, values + i, sizeof u);
    bad |= static_cast<std::uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// The statistic of one sorted column (values[i * stride], i < m).
double sorted_statistic(const float* v, std::size_t stride, std::size_t m,
                        ColumnStatistic statistic, std::size_t param) {
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
            left >= 0 &&
            (right >= m || med - at(static_cast<std::size_t>(left)) <= at(right) - med);
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
  std::size_t chunk = mixed ? 256
                            : std::clamp<std::size_t>(
                                  (std::size_t{1} << 18) / std::max<std::size_t>(m, 1), 64, 1024);
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
    std::vector<float> blocks(network ? m * ((chunk + kLanes - 1) / kLanes) * kLanes : 0);
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                    static_cast<int>(w), static_cast<int>(k + r), 1.0f, mix_f.data(),
                    static_cast<int>(k + r), source.data(), static_cast<int>(w), 0.0f,
                    mixed_rows.data(), static_cast<int>(w));
        for (std::size_t p = 0; p < m; ++p) segment[p] = mixed_rows.data() + p * w;
      }
      if (network) {
        // Median and trimmed mean read only the sum of the middle class: the partition network.
        // Bulyan reads the sorted order around the median: the full sort.
        const bool partition = request.statistic != ColumnStatistic::kBulyanMean;
        const std::size_t b =
            request.statistic == ColumnStatistic::kMedian ? (m - 1) / 2 : request.param;
        // Lane-block layout of the whole chunk first, reading each row's run in order: taking
        // 16 values from each of m rows in turn defeats the hardware prefetchers (m streams)
        // and left every load waiting on memory (perf, 2026-12-03).
        const std::size_t nblocks = (w + kLanes - 1) / kLanes;
        for (std::size_t p = 0; p < m; ++p) {
          const float* src = segment[p];
          for (std::size_t jb = 0; jb < nblocks; ++jb) {
            float* dst = blocks.data() + (jb * m + p) * kLanes;
            const std::size_t j0 = jb * kLanes;
            if (j0 + kLanes <= w) {
              std::memcpy(dst, src + j0, sizeof(float) * kLanes);
            } else {
              std::copy(src + j0, src + w, dst);
              std::fill(dst + (w - j0), dst + kLanes, 0.0f);
            }
          }
        }
        for (std::size_t jb = 0; jb < nblocks; ++jb) {
          float* block = blocks.data() + jb * m * kLanes;
          const std::size_t j0 = jb * kLanes;
          const std::size_t lanes = std::min(kLanes, w - j0);
          if (partition && all_finite(block, m * kLanes)) {
            const auto& net = cached_partition_network(m, b);
            sort_lanes(block, net.data(), net.size());
            double sums[kLanes];
            sum_rows(block, b, m - b, sums);
            // m - 2b is 1 or 2 for the median: the middle value, or the mean of the two.
            const double count = static_cast<double>(m - 2 * b);
            for (std::size_t l = 0; l < lanes; ++l) out[col0 + j0 + l] = saturate(sums[l] / count);
            continue;
          }
          const auto& net = cached_sorting_network(m);
          sort_lanes(block, net.data(), net.size());
          for (std::size_t l = 0; l < lanes; ++l)
            out[col0 + j0 + l] =
                saturate(sorted_statistic(block + l, kLanes, m, request.statistic, request.param));
        }
      } else {
        for (std::size_t j = 0; j < w; ++j) {
          for (std::size_t p = 0; p < m; ++p) column[p] = segment[p][j];
          out[col0 + j] =
              saturate(column_statistic(column.data(), m, request.statistic, request.param));
        }
      }
    }
  }
}

}  // namespace fedguard::backend::cpu
