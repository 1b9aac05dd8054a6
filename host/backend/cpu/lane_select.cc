// Order statistics of a lane block by counting (lane_select.h).
//
// Every float is mapped to an unsigned key in the same order (the sign bit set for positives,
// every bit flipped for negatives), so that "x < p" is one integer compare and a bracket
// [lo, hi) of keys with L = #(key < lo) and H = #(key < hi) holds the rank k exactly when
// L <= k < H. One pass over the block counts, per lane, the keys below two pivots and narrows
// the bracket of both ranks; the first pass also takes each lane's minimum and maximum. Pivots:
// the sample's order statistics around the ranks, then linear interpolation in value between
// the bracket's ends (the values near a rank are nearly uniform in a narrow bracket), and the
// quarter points of the key interval for a lane whose last pass did not halve its bracket (ties:
// interpolation cannot split equal values, halving the keys isolates them). Once every lane's
// bracket holds a few values (or one repeated value), the values in it are gathered and selected
// with std::nth_element. Every step keeps the bracket valid, so the result is exact for any
// finite input, ties and signed zeros included; only the time depends on the data.
//
// The kernels are written once (lane_select_kernel.inc) over a vector of sixteen lanes and
// compiled twice: one AVX-512 register, and two AVX2 registers (whose unsigned compares are
// signed ones of the keys with their top bit flipped). Measured on the Zen 5 VM capped at AVX2,
// one thread, pass 2 alone: the median of 4096 x 24,414 1,043 -> 103 ms against per-column
// nth_element, of 1000 x 1e5 168 -> 121 against the network; the trimmed mean 1,386 -> 189 at
// 4096 rows, but 175 -> 211 at 1000 (so AVX2 counts the trimmed mean from 1500 rows).
#include "backend/cpu/lane_select.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/lane_isa.h"

namespace fedguard::backend::cpu {
namespace {

constexpr std::size_t kSample = 32;     // rows of the sample that sets the first pivots
constexpr std::int32_t kGather = 16;    // a lane's bracket this small is gathered and selected
constexpr int kMaxCountingPasses = 12;  // then whatever the brackets hold is gathered

float value_of_key(std::uint32_t u) {
  const std::uint32_t bits = (u & 0x80000000u) ? (u ^ 0x80000000u) : ~u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside its intrinsics (GCC PR 105593).
// Each kernel's instruction set is given to every function of its region: by GCC's target pragma,
// or by clang's attribute pragma (clang ignores the first).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The kernels (lane_select_kernel.inc) over sixteen lanes in one AVX-512 register.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
namespace avx512 {
struct V {
  using I = __m512i;
  using F = __m512;
  using M = __mmask16;
  struct Sums {
    __m512d lanes_0_7, lanes_8_15;
  };
  static I load(const std::uint32_t* p) { return _mm512_load_si512(p); }
  static void store(std::uint32_t* p, I v) { _mm512_store_si512(p, v); }
  static F load_f(const float* p) { return _mm512_load_ps(p); }
  static I zero() { return _mm512_setzero_si512(); }
  static I set1(std::int32_t v) { return _mm512_set1_epi32(v); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  template <int N>
  static I shift_right(I a) {
    return _mm512_srli_epi32(a, N);
  }
  static I min_u(I a, I b) { return _mm512_min_epu32(a, b); }
  static I max_u(I a, I b) { return _mm512_max_epu32(a, b); }
  static M lt_u(I a, I b) { return _mm512_cmplt_epu32_mask(a, b); }
  static M le_u(I a, I b) { return _mm512_cmple_epu32_mask(a, b); }
  static M gt_u(I a, I b) { return _mm512_cmpgt_epu32_mask(a, b); }
  static M ge_u(I a, I b) { return _mm512_cmpge_epu32_mask(a, b); }
  static M le_s(I a, I b) { return _mm512_cmple_epi32_mask(a, b); }
  static M gt_s(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }
  static M and_(M a, M b) { return static_cast<M>(a & b); }
  static M and_not(M a, M b) { return static_cast<M>(~a & b); }  // not a, and b
  static M all() { return 0xffff; }
  static M none() { return 0; }
  static bool any(M m) { return m != 0; }
  static unsigned bits(M m) { return m; }
  static I select(M m, I yes, I no) { return _mm512_mask_mov_epi32(no, m, yes); }
  static I count_where(I count, M m) {
    return _mm512_mask_add_epi32(count, m, count, _mm512_set1_epi32(1));
  }
  static I count_lt(I count, I u, I pivot) { return count_where(count, lt_u(u, pivot)); }
  // The order key of each float: the sign bit set for positives, every bit flipped for negatives.
  static I key_of(F v) {
    const I bits = _mm512_castps_si512(v);
    const I negative = _mm512_srai_epi32(bits, 31);
    return _mm512_xor_si512(bits, _mm512_or_si512(negative, _mm512_set1_epi32(INT32_MIN)));
  }
  static F value_of(I u) {
    const M positive = _mm512_cmplt_epi32_mask(u, _mm512_setzero_si512());
    const I bits = _mm512_mask_xor_epi32(_mm512_xor_si512(u, _mm512_set1_epi32(-1)), positive, u,
                                         _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(bits);
  }
  static F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F fadd(F a, F b) { return _mm512_add_ps(a, b); }
  static F fsub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F fmul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fdiv(F a, F b) { return _mm512_div_ps(a, b); }
  static F fmax(F a, F b) { return _mm512_max_ps(a, b); }
  static F fmin(F a, F b) { return _mm512_min_ps(a, b); }
  static F fsqrt(F a) { return _mm512_sqrt_ps(a); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static Sums sums_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  static void add_where(Sums& s, M m, F x) {
    s.lanes_0_7 = _mm512_mask_add_pd(s.lanes_0_7, static_cast<__mmask8>(m), s.lanes_0_7,
                                     _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    s.lanes_8_15 = _mm512_mask_add_pd(
        s.lanes_8_15, static_cast<__mmask8>(m >> 8), s.lanes_8_15,
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
  }
  static void store_sums(double* p, const Sums& s) {
    _mm512_store_pd(p, s.lanes_0_7);
    _mm512_store_pd(p + 8, s.lanes_8_15);
  }
};
#include "backend/cpu/lane_select_kernel.inc"
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// The same kernels over sixteen lanes in two AVX2 registers (lanes 0-7, 8-15); masks are
// registers of 0 / -1 lanes, and the unsigned compares are signed ones of the keys with their top
// bit flipped.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace avx2 {
struct V {
  struct I {
    __m256i a, b;
  };
  struct F {
    __m256 a, b;
  };
  using M = I;
  struct Sums {
    __m256d s[4];  // lanes 0-3, 4-7, 8-11, 12-15
  };
  static I load(const std::uint32_t* p) {
    return {_mm256_load_si256(reinterpret_cast<const __m256i*>(p)),
            _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 8))};
  }
  static void store(std::uint32_t* p, I v) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(p), v.a);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p + 8), v.b);
  }
  static F load_f(const float* p) { return {_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
  static I zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static I set1(std::int32_t v) { return {_mm256_set1_epi32(v), _mm256_set1_epi32(v)}; }
  static I add(I x, I y) { return {_mm256_add_epi32(x.a, y.a), _mm256_add_epi32(x.b, y.b)}; }
  static I sub(I x, I y) { return {_mm256_sub_epi32(x.a, y.a), _mm256_sub_epi32(x.b, y.b)}; }
  template <int N>
  static I shift_right(I x) {
    return {_mm256_srli_epi32(x.a, N), _mm256_srli_epi32(x.b, N)};
  }
  static I min_u(I x, I y) { return {_mm256_min_epu32(x.a, y.a), _mm256_min_epu32(x.b, y.b)}; }
  static I max_u(I x, I y) { return {_mm256_max_epu32(x.a, y.a), _mm256_max_epu32(x.b, y.b)}; }
  static __m256i flip(__m256i x) { return _mm256_xor_si256(x, _mm256_set1_epi32(INT32_MIN)); }
  static M gt_u(I x, I y) {
    return {_mm256_cmpgt_epi32(flip(x.a), flip(y.a)), _mm256_cmpgt_epi32(flip(x.b), flip(y.b))};
  }
  static M lt_u(I x, I y) { return gt_u(y, x); }
  static M le_u(I x, I y) { return not_(gt_u(x, y)); }
  static M ge_u(I x, I y) { return not_(gt_u(y, x)); }
  static M gt_s(I x, I y) { return {_mm256_cmpgt_epi32(x.a, y.a), _mm256_cmpgt_epi32(x.b, y.b)}; }
  static M le_s(I x, I y) { return not_(gt_s(x, y)); }
  static M not_(M m) {
    const __m256i ones = _mm256_set1_epi32(-1);
    return {_mm256_xor_si256(m.a, ones), _mm256_xor_si256(m.b, ones)};
  }
  static M and_(M x, M y) { return {_mm256_and_si256(x.a, y.a), _mm256_and_si256(x.b, y.b)}; }
  static M and_not(M x, M y) {  // not x, and y
    return {_mm256_andnot_si256(x.a, y.a), _mm256_andnot_si256(x.b, y.b)};
  }
  static M all() { return set1(-1); }
  static M none() { return zero(); }
  static unsigned bits(M m) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(m.a))) |
           static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(m.b))) << 8;
  }
  static bool any(M m) { return bits(m) != 0; }
  static I select(M m, I yes, I no) {
    return {_mm256_blendv_epi8(no.a, yes.a, m.a), _mm256_blendv_epi8(no.b, yes.b, m.b)};
  }
  static I count_where(I count, M m) { return sub(count, m); }  // a set lane is -1
  static I count_lt(I count, I u, I pivot) { return count_where(count, lt_u(u, pivot)); }
  static __m256i key_of(__m256 v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i negative = _mm256_srai_epi32(bits, 31);
    return _mm256_xor_si256(bits, _mm256_or_si256(negative, _mm256_set1_epi32(INT32_MIN)));
  }
  static I key_of(F v) { return {key_of(v.a), key_of(v.b)}; }
  static __m256 value_of(__m256i u) {
    // Keys with the top bit set are positives (flip it back); the others negatives (flip all).
    const __m256i positive = _mm256_srai_epi32(u, 31);
    const __m256i mask = _mm256_or_si256(_mm256_xor_si256(positive, _mm256_set1_epi32(-1)),
                                         _mm256_set1_epi32(INT32_MIN));
    return _mm256_castsi256_ps(_mm256_xor_si256(u, mask));
  }
  static F value_of(I u) { return {value_of(u.a), value_of(u.b)}; }
  static F to_float(I v) { return {_mm256_cvtepi32_ps(v.a), _mm256_cvtepi32_ps(v.b)}; }
  static F fset1(float v) { return {_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
  static F fadd(F x, F y) { return {_mm256_add_ps(x.a, y.a), _mm256_add_ps(x.b, y.b)}; }
  static F fsub(F x, F y) { return {_mm256_sub_ps(x.a, y.a), _mm256_sub_ps(x.b, y.b)}; }
  static F fmul(F x, F y) { return {_mm256_mul_ps(x.a, y.a), _mm256_mul_ps(x.b, y.b)}; }
  static F fdiv(F x, F y) { return {_mm256_div_ps(x.a, y.a), _mm256_div_ps(x.b, y.b)}; }
  static F fmax(F x, F y) { return {_mm256_max_ps(x.a, y.a), _mm256_max_ps(x.b, y.b)}; }
  static F fmin(F x, F y) { return {_mm256_min_ps(x.a, y.a), _mm256_min_ps(x.b, y.b)}; }
  static F fsqrt(F x) { return {_mm256_sqrt_ps(x.a), _mm256_sqrt_ps(x.b)}; }
  static F fmadd(F x, F y, F z) {
    return {_mm256_fmadd_ps(x.a, y.a, z.a), _mm256_fmadd_ps(x.b, y.b, z.b)};
  }
  static Sums sums_zero() {
    return {{_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()}};
  }
  static void add_where(Sums& s, M m, F x) {
    const __m256 half[2] = {x.a, x.b};
    const __m256i mask[2] = {m.a, m.b};
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q) {
        const __m256d v = _mm256_cvtps_pd(q ? _mm256_extractf128_ps(half[h], 1)
                                            : _mm256_castps256_ps128(half[h]));
        // Each 32-bit mask lane widened to 64 bits (0 or -1).
        const __m256i wide = _mm256_cvtepi32_epi64(q ? _mm256_extracti128_si256(mask[h], 1)
                                                     : _mm256_castsi256_si128(mask[h]));
        __m256d& acc = s.s[2 * h + q];
        acc = _mm256_add_pd(acc, _mm256_and_pd(v, _mm256_castsi256_pd(wide)));
      }
  }
  static void store_sums(double* p, const Sums& s) {
    for (int i = 0; i < 4; ++i) _mm256_store_pd(p + 4 * i, s.s[i]);
  }
};
#include "backend/cpu/lane_select_kernel.inc"
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#pragma GCC diagnostic pop
#endif

}  // namespace

bool lane_select_available() {
#if defined(__x86_64__) && defined(__GNUC__)
  return lane_isa() != LaneIsa::kSse2;
#else
  return false;
#endif
}

std::size_t select_trimmed_min_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() == LaneIsa::kAvx2) return kSelectTrimmedMinRowsAvx2;
#endif
  return kSelectTrimmedMinRows;
}

bool select_lane_ranks(float* block, std::size_t m, std::size_t k1, std::size_t k2, float* lower,
                       float* upper) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      avx512::select_ranks(block, m, k1, k2, lower, upper);
      return true;
    case LaneIsa::kAvx2:
      avx2::select_ranks(block, m, k1, k2, lower, upper);
      return true;
    case LaneIsa::kSse2:
      break;
  }
  return false;
#else
  (void)block, (void)m, (void)k1, (void)k2, (void)lower, (void)upper;
  return false;
#endif
}

bool trimmed_sum_lanes(float* block, std::size_t m, std::size_t t, double* sums) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      avx512::trimmed_sum(block, m, t, sums);
      return true;
    case LaneIsa::kAvx2:
      avx2::trimmed_sum(block, m, t, sums);
      return true;
    case LaneIsa::kSse2:
      break;
  }
  return false;
#else
  (void)block, (void)m, (void)t, (void)sums;
  return false;
#endif
}

}  // namespace fedguard::backend::cpu
