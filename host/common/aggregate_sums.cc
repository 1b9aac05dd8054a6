#include "common/aggregate_sums.h"

#include <cstdint>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace fedguard::common {
namespace {

// The four lanes' sums over j < w rounded down to a multiple of 4; returns where they stopped.
// The AVX2 copy holds the four lanes in one register and gives the same bits. The scalar loop
// on one thread took 2 ms of a 60 ms round at 100 x 1e6 (issue #15's budget for monitoring is
// 1%).
std::size_t pair_sums_generic(const float* a, const float* p, std::size_t w, double* aa, double* pp,
                              double* ap) {
  std::size_t j = 0;
  for (; j + 4 <= w; j += 4)
    for (int l = 0; l < 4; ++l) {
      const double x = a[j + l], y = p[j + l];
      aa[l] += x * x;
      pp[l] += y * y;
      ap[l] += x * y;
    }
  return j;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) std::size_t pair_sums_avx2(const float* a, const float* p,
                                                           std::size_t w, double* aa, double* pp,
                                                           double* ap) {
  __m256d saa = _mm256_loadu_pd(aa), spp = _mm256_loadu_pd(pp), sap = _mm256_loadu_pd(ap);
  std::size_t j = 0;
  for (; j + 4 <= w; j += 4) {
    const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(a + j));
    const __m256d y = _mm256_cvtps_pd(_mm_loadu_ps(p + j));
    saa = _mm256_add_pd(saa, _mm256_mul_pd(x, x));
    spp = _mm256_add_pd(spp, _mm256_mul_pd(y, y));
    sap = _mm256_add_pd(sap, _mm256_mul_pd(x, y));
  }
  _mm256_storeu_pd(aa, saa);
  _mm256_storeu_pd(pp, spp);
  _mm256_storeu_pd(ap, sap);
  return j;
}

// Streaming stores: the copy is read again only in the next round, so writing it around the
// caches saves reading its lines first and leaves the caches to the round.
__attribute__((target("avx2"))) void copy_streaming_avx2(const float* a, std::size_t w,
                                                         float* copy) {
  std::size_t j = 0;
  for (; j < w && reinterpret_cast<std::uintptr_t>(copy + j) % 32 != 0; ++j) copy[j] = a[j];
  for (; j + 8 <= w; j += 8) _mm256_stream_ps(copy + j, _mm256_loadu_ps(a + j));
  for (; j < w; ++j) copy[j] = a[j];
  _mm_sfence();  // ordered before whatever reads the copy (another thread, after the barrier)
}
#endif

bool has_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

std::size_t pair_sums(const float* a, const float* p, std::size_t w, double* aa, double* pp,
                      double* ap) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (has_avx2()) return pair_sums_avx2(a, p, w, aa, pp, ap);
#endif
  return pair_sums_generic(a, p, w, aa, pp, ap);
}

void copy_values(const float* a, std::size_t w, float* copy) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (has_avx2()) return copy_streaming_avx2(a, w, copy);
#endif
  for (std::size_t j = 0; j < w; ++j) copy[j] = a[j];
}

}  // namespace

void aggregate_block_sums(const float* a, const float* p, std::size_t w, float* copy, double* out) {
  for (std::size_t i = 0; i < kAggregateSumWidth; ++i) out[i] = 0;
  double *aa = out, *pp = out + 4, *ap = out + 8;
  std::size_t j = 0;
  if (p) {
    j = pair_sums(a, p, w, aa, pp, ap);
    for (; j < w; ++j) {
      aa[0] += static_cast<double>(a[j]) * a[j];
      pp[0] += static_cast<double>(p[j]) * p[j];
      ap[0] += static_cast<double>(a[j]) * p[j];
    }
  } else {
    for (; j + 4 <= w; j += 4)
      for (int l = 0; l < 4; ++l) aa[l] += static_cast<double>(a[j + l]) * a[j + l];
    for (; j < w; ++j) aa[0] += static_cast<double>(a[j]) * a[j];
  }
  if (copy) copy_values(a, w, copy);
}

AggregateSums add_block_sums(const double* blocks, std::size_t count) {
  double aa[4] = {0, 0, 0, 0}, pp[4] = {0, 0, 0, 0}, ap[4] = {0, 0, 0, 0};
  for (std::size_t b = 0; b < count; ++b)
    for (std::size_t l = 0; l < 4; ++l) {
      aa[l] += blocks[b * kAggregateSumWidth + l];
      pp[l] += blocks[b * kAggregateSumWidth + 4 + l];
      ap[l] += blocks[b * kAggregateSumWidth + 8 + l];
    }
  AggregateSums s;
  s.aa = (aa[0] + aa[1]) + (aa[2] + aa[3]);
  s.pp = (pp[0] + pp[1]) + (pp[2] + pp[3]);
  s.ap = (ap[0] + ap[1]) + (ap[2] + ap[3]);
  return s;
}

}  // namespace fedguard::common
