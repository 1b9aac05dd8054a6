// Pass 2, linear rules: out = sum_i a_i x_i + sum_j b_j v_j, one column chunk per task.
// Each column sums its rows in a fixed order in float64, so the result does not depend on the
// chunking or the thread count: bit-identical run to run.
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lane_isa.h"
#include "backend/cpu/tile_loader.h"
#include "kernels/scan_math.h"

namespace fedguard::backend::cpu {

namespace {
// +-FLT_MAX beyond float32's range, NaN kept: kernels/scan_math.h, shared with the CUDA kernels.
float to_float_saturated(double v) { return kernels::saturate(v); }

// acc[j] += a * x[j] in float64, a product then a sum (no FMA) for every j: the same result
// from every variant. The baseline build vectorises it two doubles wide, the AVX2 copy four:
// with the row two ahead prefetched, pass 2 of a mean at 100 x 1e6 went from 35-36 to 29 ms
// on both cores (2026-12-04; reading the rows alone takes about 18).
// Not inlined: inside the AVX-512 copies GCC would contract it into FMAs.
__attribute__((noinline)) void add_row_generic(double* acc, const float* x, double a,
                                               std::size_t w) {
  for (std::size_t j = 0; j < w; ++j) acc[j] += a * x[j];
}
#if defined(__x86_64__) && defined(__GNUC__)
// Intrinsics, not the loop above under a target attribute, and AVX2 also on AVX-512 machines:
// where the target has FMA, GCC contracts the product and the sum into one fused multiply-add
// (a different rounding), and the AVX-512 form that it does not contract (the _round builtins)
// measured slower than AVX2 (32-34 against 29-30 ms).
__attribute__((target("avx2"))) void add_row_avx2(double* acc, const float* x, double a,
                                                  std::size_t w) {
  const __m256d va = _mm256_set1_pd(a);
  std::size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
    _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), _mm256_mul_pd(va, xd)));
  }
  add_row_generic(acc + j, x + j, a, w - j);  // the tail, compiled without FMA
}

// out[j] = saturate(acc[j]) four at a time: max(-FLT_MAX, x) then min(FLT_MAX, .) return x
// itself when it is NaN (the second operand of an unordered maxpd / minpd), so this is
// kernels::saturate value for value. The scalar loop compiled to a compare and a branch per
// value: Krum's pass 2 at 10 x 1e6 (one row) took 2.4 ms with it, 0.7 without (2026-12-05).
__attribute__((target("avx2"))) void store_saturated_avx2(const double* acc, float* out,
                                                          std::size_t w) {
  const __m256d lo = _mm256_set1_pd(-static_cast<double>(FLT_MAX));
  const __m256d hi = _mm256_set1_pd(static_cast<double>(FLT_MAX));
  std::size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    const __m256d x = _mm256_loadu_pd(acc + j);
    _mm_storeu_ps(out + j, _mm256_cvtpd_ps(_mm256_min_pd(hi, _mm256_max_pd(lo, x))));
  }
  for (; j < w; ++j) out[j] = to_float_saturated(acc[j]);
}
#endif

void store_saturated_generic(const double* acc, float* out, std::size_t w) {
  for (std::size_t j = 0; j < w; ++j) out[j] = to_float_saturated(acc[j]);
}

using StoreSaturated = void (*)(const double*, float*, std::size_t);
StoreSaturated store_saturated() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() != LaneIsa::kSse2) return store_saturated_avx2;
#endif
  return store_saturated_generic;
}

using AddRow = void (*)(double*, const float*, double, std::size_t);
AddRow add_row() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() != LaneIsa::kSse2) return add_row_avx2;
#endif
  return add_row_generic;
}

constexpr std::size_t kMaxChunk = std::size_t{1} << 17;

// Columns per chunk when the caller leaves it automatic: each worker's share of d in equal
// chunks of at most kMaxChunk, so that the float64 accumulator (at most 1 MiB) stays in a
// core's caches while every row is read in runs of ~1e5 values, which the hardware prefetchers
// follow at the memory's speed. Chunks of 4,096 columns were 90 short runs of 16 KiB each at
// n = 90: pass 2 of a mean at 90 x 1e6 took 42 ms on one thread and 22 on two; with chunks of
// 131,072 columns 23 and 12, where a two-thread read of the matrix takes 11.6 (2026-12-05, AMD
// EPYC: L2 1 MiB a core, L3 32 MiB).
std::size_t auto_chunk(std::size_t d, int threads) {
  constexpr std::size_t kMinChunk = 4096, kQuantum = 64;
  const auto t = static_cast<std::size_t>(std::max(threads, 1));
  const std::size_t share = (d + t - 1) / t;
  const std::size_t pieces = (share + kMaxChunk - 1) / kMaxChunk;
  const std::size_t chunk = ((share + pieces - 1) / pieces + kQuantum - 1) / kQuantum * kQuantum;
  return std::max(chunk, kMinChunk);
}

// Runs up to this long get the row two ahead prefetched in software (the hardware prefetchers
// restart on every run); longer runs they follow, and a software prefetch of a whole run two
// rows ahead would only evict the accumulator.
constexpr std::size_t kPrefetchBytes = std::size_t{64} << 10;
}  // namespace

void aggregate_linear(const LinearAggregateRequest& request, float* out, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  const std::size_t k = request.rows.size();
  const std::size_t chunk =
      request.tile_columns ? std::min(request.tile_columns, kMaxChunk) : auto_chunk(d, threads);
  const auto chunks = static_cast<std::ptrdiff_t>((d + chunk - 1) / chunk);
  const AddRow add = add_row();
  const StoreSaturated store = store_saturated();

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
        if (p + 2 < k) {
          const ClientUpdate& next = view.client(request.rows[p + 2]);
          const std::size_t bytes = w * dtype_size(next.dtype);
          const auto* ahead = static_cast<const char*>(next.data) + col0 * dtype_size(next.dtype);
          if (bytes <= kPrefetchBytes)
            for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(ahead + b, 0, 3);
        }
        const float* x = row_segment(view, request.rows[p], col0, w, scratch.data());
        add(acc.data(), x, a, w);
      }
      for (std::size_t ri = 0; ri < request.references.size(); ++ri) {
        const double b = request.reference_coefficients[ri];
        if (b == 0) continue;
        add(acc.data(), request.references[ri] + col0, b, w);
      }
      store(acc.data(), out + col0, w);
    }
  }
}

}  // namespace fedguard::backend::cpu
