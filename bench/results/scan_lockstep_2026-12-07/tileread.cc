#include <immintrin.h>
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  const size_t n = 100, d = 1000000;
  size_t W = atoi(argv[1]);
  int mode = atoi(argv[2]);
  size_t bytes = n * d * 4;
  float* x = (float*)aligned_alloc(1 << 21, (bytes + (1 << 21)) / (1 << 21) * (1 << 21));
  if (getenv("HUGE")) madvise(x, (bytes + (1 << 21)) / (1 << 21) * (1 << 21), MADV_HUGEPAGE);
  for (size_t i = 0; i < n * d; ++i) x[i] = (float)(i % 97) * 0.01f;
  double best = 1e9;
  float sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    if (mode == 0) {
      for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < d; j += 8)
          acc[0] = _mm256_max_ps(acc[0], _mm256_loadu_ps(x + i * d + j));
    } else {
      for (size_t c0 = 0; c0 < d; c0 += W) {
        size_t w = std::min(W, d - c0);
        for (size_t p0 = 0; p0 < n; p0 += 8) {
          size_t m = std::min<size_t>(8, n - p0);
          if (mode == 1) {
            for (size_t s = 0; s + 64 <= w; s += 64)
              for (size_t i = 0; i < m; ++i)
                for (size_t j = s; j < s + 64; j += 8)
                  acc[i] = _mm256_max_ps(acc[i], _mm256_loadu_ps(x + (p0 + i) * d + c0 + j));
          } else {
            for (size_t i = 0; i < m; ++i)
              for (size_t j = 0; j + 8 <= w; j += 8)
                acc[i] = _mm256_max_ps(acc[i], _mm256_loadu_ps(x + (p0 + i) * d + c0 + j));
          }
        }
      }
    }
    for (auto& a : acc) sink += _mm256_cvtss_f32(a);
    double t =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (t < best) best = t;
  }
  printf("W=%zu mode=%d: %.2f ms (%.1f GB/s) %g\n", W, mode, best, bytes / best / 1e6, sink);
}
