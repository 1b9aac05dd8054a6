#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "backend/cpu/row_stats.h"
using namespace fedguard::backend::cpu;
constexpr size_t kGroup = 8;
template <bool kPart>
__attribute__((target("avx2"), always_inline)) inline void load_step(RowStatsAvx2& s,
                                                                     const float* src, double* part,
                                                                     size_t j) {
  const __m256 x = _mm256_loadu_ps(src + j);
  row_stats_step(s, x);
  if (kPart) {
    const __m256d x_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    const __m256d x_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    _mm256_storeu_pd(part + j, _mm256_add_pd(_mm256_loadu_pd(part + j), x_lo));
    _mm256_storeu_pd(part + j + 4, _mm256_add_pd(_mm256_loadu_pd(part + j + 4), x_hi));
  }
}
template <bool kPart>
__attribute__((target("avx2"), noinline)) void load_rows_avx2(const float* const src[kGroup],
                                                              size_t m, size_t w, double* part,
                                                              RowStats out[kGroup]) {
  constexpr size_t kL = RowLanes::kL, kSpan = 64;
  RowStatsAvx2 s[kGroup];
  for (size_t i = 0; i < m; ++i) row_stats_zero(s[i]);
  size_t j0 = 0;
  for (; j0 + kSpan <= w; j0 += kSpan)
    for (size_t i = 0; i < m; ++i) {
      RowStatsAvx2 r = s[i];
      for (size_t j = j0; j < j0 + kSpan; j += kL) load_step<kPart>(r, src[i], part, j);
      s[i] = r;
    }
  for (size_t i = 0; i < m; ++i) out[i] = row_lanes(s[i]).finish(src[i], j0, w);
}
int main(int argc, char** argv) {
  const size_t n = 100, d = 1000000;
  size_t W = atoi(argv[1]);
  int part = atoi(argv[2]);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n * d; ++i) x[i] = (float)((int)(i % 97) - 48) * 0.01f;
  std::vector<double> parts(4 * W);
  double best = 1e9, sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t c0 = 0; c0 < d; c0 += W) {
      size_t w = std::min(W, d - c0);
      for (size_t p0 = 0; p0 < n; p0 += 8) {
        size_t m = std::min<size_t>(8, n - p0);
        const float* src[8];
        for (size_t i = 0; i < m; ++i) src[i] = x.data() + (p0 + i) * d + c0;
        RowStats st[8];
        if (part)
          load_rows_avx2<true>(src, m, w, parts.data() + p0 / 32 * W, st);
        else
          load_rows_avx2<false>(src, m, w, nullptr, st);
        for (size_t i = 0; i < m; ++i) sink += st[i].sq;
      }
    }
    double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (t < best) best = t;
  }
  printf("W=%zu part=%d: %.2f ms %g\n", W, part, best, sink);
}
