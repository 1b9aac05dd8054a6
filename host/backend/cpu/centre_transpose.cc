// Pass 1's step 3 (centre_transpose.h): the transposed tile is the layout step 4's register
// kernel reads as it is and OpenBLAS 0.3.21 packs fastest (116 ms against 139 for n = 100,
// d = 1e6 at one thread, against the row layout). The generic, AVX2 and AVX-512 kernels give the
// same bits: each row's two float64 sums take the same products in the same order.
#include "backend/cpu/centre_transpose.h"

#include <cmath>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace fedguard::backend::cpu {
namespace {

void centre_transpose_generic(const float* const rows[kCentreGroup],
                              const std::uint8_t keep[kCentreGroup], const float* centre,
                              std::size_t w, float* t, std::size_t ldt, double proj[kCentreGroup],
                              float mx[kCentreGroup]) {
  const std::size_t w8 = w / kCentreGroup * kCentreGroup;
  for (std::size_t i = 0; i < kCentreGroup; ++i) {
    double even = 0, odd = 0;
    float m = 0;
    for (std::size_t j = 0; j < w; ++j) {
      const float v = keep[i] ? rows[i][j] - centre[j] : 0.0f;
      t[j * ldt + i] = v;
      const double cv = static_cast<double>(centre[j]) * v;
      if (j < w8 && j % 2 == 1)
        odd += cv;
      else
        even += cv;
      const float a = std::fabs(v);
      m = a > m ? a : m;
    }
    proj[i] = even + odd;
    mx[i] = m;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The AVX2 kernel's 8 x 8 block: the eight rows' columns j .. j + 7 less the centre, transposed
// (o[q] = column j + q of the eight rows). Rows i and i + 4 share a register (inserted halves,
// which load ports take), so that two rounds of in-lane shuffles do it (16 shuffles, not 24:
// they all queue for one port on Intel cores).
__attribute__((target("avx2"), always_inline)) inline void centred_block(
    const float* const rows[kCentreGroup], const float* centre, std::size_t j,
    __m256 o[kCentreGroup]) {
  const __m128 c_lo = _mm_loadu_ps(centre + j), c_hi = _mm_loadu_ps(centre + j + 4);
  const __m256 c0 = _mm256_set_m128(c_lo, c_lo), c1 = _mm256_set_m128(c_hi, c_hi);
  __m256 a[kCentreGroup];
  for (std::size_t i = 0; i < 4; ++i) {
    a[i] = _mm256_sub_ps(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(rows[i] + j)),
                                              _mm_loadu_ps(rows[i + 4] + j), 1),
                         c0);
    a[i + 4] =
        _mm256_sub_ps(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(rows[i] + j + 4)),
                                           _mm_loadu_ps(rows[i + 4] + j + 4), 1),
                      c1);
  }
  for (std::size_t h = 0; h < 2; ++h) {
    const __m256* b = a + 4 * h;
    const __m256 t0 = _mm256_unpacklo_ps(b[0], b[1]), t1 = _mm256_unpackhi_ps(b[0], b[1]);
    const __m256 t2 = _mm256_unpacklo_ps(b[2], b[3]), t3 = _mm256_unpackhi_ps(b[2], b[3]);
    o[4 * h] = _mm256_shuffle_ps(t0, t2, 0x44);
    o[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
    o[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
    o[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
  }
}

// The columns past the last full group of eight, row by row (as the generic kernel: into the
// even sum), then even + odd.
void finish_rows(const float* const rows[kCentreGroup], const std::uint8_t keep[kCentreGroup],
                 const float* centre, std::size_t w8, std::size_t w, float* t, std::size_t ldt,
                 double even[kCentreGroup], const double odd[kCentreGroup],
                 double proj[kCentreGroup], float mx[kCentreGroup]) {
  for (std::size_t i = 0; i < kCentreGroup; ++i) {
    for (std::size_t j = w8; j < w; ++j) {
      const float v = keep[i] ? rows[i][j] - centre[j] : 0.0f;
      t[j * ldt + i] = v;
      even[i] += static_cast<double>(centre[j]) * v;
      const float a = std::fabs(v);
      mx[i] = a > mx[i] ? a : mx[i];
    }
    proj[i] = even[i] + odd[i];
  }
}

template <bool kMask>
__attribute__((target("avx2"))) void centre_transpose_avx2(
    const float* const rows[kCentreGroup], const std::uint8_t keep[kCentreGroup],
    const float* centre, const double* centre64, std::size_t w, float* t, std::size_t ldt,
    double proj[kCentreGroup], float mx[kCentreGroup]) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  alignas(32) std::int32_t mask_i[kCentreGroup];
  for (std::size_t i = 0; i < kCentreGroup; ++i) mask_i[i] = keep[i] ? -1 : 0;
  const __m256 mask = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<__m256i*>(mask_i)));
  __m256d even_lo = _mm256_setzero_pd(), even_hi = _mm256_setzero_pd();
  __m256d odd_lo = _mm256_setzero_pd(), odd_hi = _mm256_setzero_pd();
  __m256 m = _mm256_setzero_ps();
  const std::size_t w8 = w / kCentreGroup * kCentreGroup;
  for (std::size_t j = 0; j < w8; j += kCentreGroup) {
    __m256 o[kCentreGroup];
    centred_block(rows, centre, j, o);
    for (std::size_t q = 0; q < kCentreGroup; ++q) {
      if (kMask) o[q] = _mm256_and_ps(o[q], mask);
      _mm256_storeu_ps(t + (j + q) * ldt, o[q]);
      m = _mm256_max_ps(_mm256_and_ps(o[q], abs_mask), m);  // a > m ? a : m
      const __m256d cq = _mm256_broadcast_sd(centre64 + j + q);
      const __m256d lo = _mm256_mul_pd(cq, _mm256_cvtps_pd(_mm256_castps256_ps128(o[q])));
      const __m256d hi = _mm256_mul_pd(cq, _mm256_cvtps_pd(_mm256_extractf128_ps(o[q], 1)));
      if (q % 2 == 0) {
        even_lo = _mm256_add_pd(even_lo, lo);
        even_hi = _mm256_add_pd(even_hi, hi);
      } else {
        odd_lo = _mm256_add_pd(odd_lo, lo);
        odd_hi = _mm256_add_pd(odd_hi, hi);
      }
    }
  }
  double even[kCentreGroup], odd[kCentreGroup];
  _mm256_storeu_pd(even, even_lo);
  _mm256_storeu_pd(even + 4, even_hi);
  _mm256_storeu_pd(odd, odd_lo);
  _mm256_storeu_pd(odd + 4, odd_hi);
  _mm256_storeu_ps(mx, m);
  finish_rows(rows, keep, centre, w8, w, t, ldt, even, odd, proj, mx);
}

// The AVX2 kernel with the float64 products taken eight rows at a time: one conversion of a
// column's eight values to doubles (instead of an extract and two conversions, all on the
// shuffle port that the transpose already keeps busy on Intel cores), one product, one sum.
// Lane i of the even and odd registers is row i's sum, in the AVX2 kernel's order.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside some intrinsics (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <bool kMask>
__attribute__((target("avx2,avx512f"))) void centre_transpose_avx512(
    const float* const rows[kCentreGroup], const std::uint8_t keep[kCentreGroup],
    const float* centre, const double* centre64, std::size_t w, float* t, std::size_t ldt,
    double proj[kCentreGroup], float mx[kCentreGroup]) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  alignas(32) std::int32_t mask_i[kCentreGroup];
  for (std::size_t i = 0; i < kCentreGroup; ++i) mask_i[i] = keep[i] ? -1 : 0;
  const __m256 mask = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<__m256i*>(mask_i)));
  __m512d even = _mm512_setzero_pd(), odd = _mm512_setzero_pd();
  __m256 m = _mm256_setzero_ps();
  const std::size_t w8 = w / kCentreGroup * kCentreGroup;
  for (std::size_t j = 0; j < w8; j += kCentreGroup) {
    __m256 o[kCentreGroup];
    centred_block(rows, centre, j, o);
    for (std::size_t q = 0; q < kCentreGroup; ++q) {
      if (kMask) o[q] = _mm256_and_ps(o[q], mask);
      _mm256_storeu_ps(t + (j + q) * ldt, o[q]);
      m = _mm256_max_ps(_mm256_and_ps(o[q], abs_mask), m);  // a > m ? a : m
      const __m512d p = _mm512_mul_pd(_mm512_set1_pd(centre64[j + q]), _mm512_cvtps_pd(o[q]));
      if (q % 2 == 0)
        even = _mm512_add_pd(even, p);
      else
        odd = _mm512_add_pd(odd, p);
    }
  }
  double even_s[kCentreGroup], odd_s[kCentreGroup];
  _mm512_storeu_pd(even_s, even);
  _mm512_storeu_pd(odd_s, odd);
  _mm256_storeu_ps(mx, m);
  finish_rows(rows, keep, centre, w8, w, t, ldt, even_s, odd_s, proj, mx);
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void centre_transpose(LaneIsa isa, const float* const rows[kCentreGroup],
                      const std::uint8_t keep[kCentreGroup], const float* centre,
                      const double* centre64, std::size_t w, float* t, std::size_t ldt,
                      double proj[kCentreGroup], float mx[kCentreGroup]) {
#if defined(__x86_64__) && defined(__GNUC__)
  bool all = true;
  for (std::size_t i = 0; i < kCentreGroup; ++i) all &= keep[i] != 0;
  switch (isa) {
    case LaneIsa::kAvx512:
      (all ? centre_transpose_avx512<false>
           : centre_transpose_avx512<true>)(rows, keep, centre, centre64, w, t, ldt, proj, mx);
      return;
    case LaneIsa::kAvx2:
      (all ? centre_transpose_avx2<false>
           : centre_transpose_avx2<true>)(rows, keep, centre, centre64, w, t, ldt, proj, mx);
      return;
    case LaneIsa::kSse2:
      break;
  }
#else
  (void)isa, (void)centre64;
#endif
  centre_transpose_generic(rows, keep, centre, w, t, ldt, proj, mx);
}

}  // namespace fedguard::backend::cpu
