#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cpu/row_stats.h"
using namespace fedguard::backend::cpu;
static int PF = 0, PFN = 0;
template <int R, bool kPart>
__attribute__((target("avx512f,avx512dq"), noinline)) void lock_rows(const float* const* src,
                                                                     size_t w, double* part,
                                                                     RowStats* out,
                                                                     const float* const* next,
                                                                     size_t nnext) {
  RowStatsAvx512 s[R];
  for (int i = 0; i < R; ++i) row_stats_zero(s[i]);
  size_t j = 0;
  const size_t lines = (w * 4 + 63) / 64, steps = w / 16;
  size_t nl = 0;
  const size_t per = nnext ? (nnext * lines + steps - 1) / (steps ? steps : 1) : 0;
  for (; j + 16 <= w; j += 16) {
    if (PF)
      for (int i = 0; i < R; ++i) _mm_prefetch((const char*)(src[i] + j) + PF, _MM_HINT_T0);
    if (PFN)
      for (size_t q = 0; q < per && nl < nnext * lines; ++q, ++nl)
        _mm_prefetch((const char*)next[nl / lines] + (nl % lines) * 64, _MM_HINT_T1);
    __m512d p_lo, p_hi;
    if (kPart) {
      p_lo = _mm512_loadu_pd(part + j);
      p_hi = _mm512_loadu_pd(part + j + 8);
    }
    for (int i = 0; i < R; ++i) {
      const __m512 x = _mm512_loadu_ps(src[i] + j);
      row_stats_step(s[i], x);
      if (kPart) {
        p_lo = _mm512_add_pd(p_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
        p_hi = _mm512_add_pd(
            p_hi,
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
      }
    }
    if (kPart) {
      _mm512_storeu_pd(part + j, p_lo);
      _mm512_storeu_pd(part + j + 8, p_hi);
    }
  }
  for (int i = 0; i < R; ++i) {
    RowStatsState st;
    row_stats_store(s[i], st);
    if (kPart)
      for (size_t t = j; t < w; ++t) part[t] += src[i][t];
    out[i] = finish_row_stats(st, src[i] + j, w - j);
  }
}
int main(int argc, char** argv) {
  const size_t n = 100, d = 1000000;
  size_t W = atoi(argv[1]);
  int part = atoi(argv[2]);
  PF = atoi(argv[3]);
  PFN = atoi(argv[4]);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n * d; ++i) x[i] = (float)((int)(i % 97) - 48) * 0.01f;
  std::vector<double> parts(4 * W);
  double best = 1e9, sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t c0 = 0; c0 < d; c0 += W) {
      size_t w = std::min(W, d - c0);
      for (size_t p0 = 0; p0 < n; p0 += 4) {
        const float* src[4];
        for (size_t i = 0; i < 4; ++i) src[i] = x.data() + (p0 + i) * d + c0;
        const float* nx[4];
        size_t nn = 0;
        for (size_t i = 0; i < 4 && p0 + 4 + i < n; ++i)
          nx[nn++] = x.data() + (p0 + 4 + i) * d + c0;
        if (p0 + 4 >= n && c0 + W < d)
          for (size_t i = 0; i < 4; ++i) nx[nn++] = x.data() + i * d + c0 + W;
        RowStats st[4];
        if (part)
          lock_rows<4, true>(src, w, parts.data() + p0 / 32 * W, st, nx, nn);
        else
          lock_rows<4, false>(src, w, nullptr, st, nx, nn);
        for (size_t i = 0; i < 4; ++i) sink += st[i].sq;
      }
    }
    double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (t < best) best = t;
  }
  printf("W=%zu part=%d pf=%d pfn=%d: %.2f ms %g\n", W, part, PF, PFN, best, sink);
}
