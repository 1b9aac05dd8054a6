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
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FEDGUARD_AVX512 __attribute__((target("avx512f"), always_inline)) inline

FEDGUARD_AVX512 __m512i key_of(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i negative = _mm512_srai_epi32(bits, 31);
  return _mm512_xor_si512(bits, _mm512_or_si512(negative, _mm512_set1_epi32(INT32_MIN)));
}

FEDGUARD_AVX512 __m512 value_of(__m512i u) {
  const __mmask16 positive = _mm512_cmplt_epi32_mask(u, _mm512_setzero_si512());
  const __m512i bits = _mm512_mask_xor_epi32(_mm512_xor_si512(u, _mm512_set1_epi32(-1)), positive,
                                             u, _mm512_set1_epi32(INT32_MIN));
  return _mm512_castsi512_ps(bits);
}

// The brackets of both ranks, per lane: [lo, hi) holds ranks k1 .. k2 (L <= k1, k2 < H).
struct Brackets {
  __m512i lo, hi, below_lo, below_hi;
};

// Narrows the brackets by a pivot p with count[l] = #(key < p): on lanes in `lanes` only.
FEDGUARD_AVX512 void narrow(Brackets& b, __m512i p, __m512i count, __m512i k1, __m512i k2,
                            __mmask16 lanes) {
  const __mmask16 raise =
      lanes & _mm512_cmple_epi32_mask(count, k1) & _mm512_cmpgt_epu32_mask(p, b.lo);
  b.lo = _mm512_mask_mov_epi32(b.lo, raise, p);
  b.below_lo = _mm512_mask_mov_epi32(b.below_lo, raise, count);
  const __mmask16 lower =
      lanes & _mm512_cmpgt_epi32_mask(count, k2) & _mm512_cmplt_epu32_mask(p, b.hi);
  b.hi = _mm512_mask_mov_epi32(b.hi, lower, p);
  b.below_hi = _mm512_mask_mov_epi32(b.below_hi, lower, count);
}

// One pass: count[i] = #(key < pivot[i]) per lane, for P pivots.
template <std::size_t P>
FEDGUARD_AVX512 void count_below(const std::uint32_t* keys, std::size_t m,
                                 const __m512i (&pivot)[P], __m512i (&count)[P]) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512i even[P], odd[P];  // two rows a step: two chains of dependent adds per pivot
  for (std::size_t i = 0; i < P; ++i) even[i] = odd[i] = _mm512_setzero_si512();
  std::size_t p = 0;
  for (; p + 2 <= m; p += 2) {
    const __m512i u = _mm512_load_si512(keys + p * 16);
    const __m512i v = _mm512_load_si512(keys + (p + 1) * 16);
    for (std::size_t i = 0; i < P; ++i) {
      even[i] = _mm512_mask_add_epi32(even[i], _mm512_cmplt_epu32_mask(u, pivot[i]), even[i], one);
      odd[i] = _mm512_mask_add_epi32(odd[i], _mm512_cmplt_epu32_mask(v, pivot[i]), odd[i], one);
    }
  }
  if (p < m) {
    const __m512i u = _mm512_load_si512(keys + p * 16);
    for (std::size_t i = 0; i < P; ++i)
      even[i] = _mm512_mask_add_epi32(even[i], _mm512_cmplt_epu32_mask(u, pivot[i]), even[i], one);
  }
  for (std::size_t i = 0; i < P; ++i) count[i] = _mm512_add_epi32(even[i], odd[i]);
}

// Per lane and per set s < S, a bracket [lo, hi) of keys holding ranks k1[s] .. k2[s], narrowed
// until it holds at most kGather values or one repeated value (or the passes run out). The sets
// share the passes: each pass counts two pivots per set still open. The first pass leaves the
// block holding the keys of its values, which the later passes read.
template <std::size_t S>
__attribute__((target("avx512f"))) void bracket_ranks(float* block, std::size_t m,
                                                      const std::size_t (&k1)[S],
                                                      const std::size_t (&k2)[S],
                                                      Brackets (&b)[S]) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512i vk1[S], vk2[S];
  for (std::size_t s = 0; s < S; ++s) {
    vk1[s] = _mm512_set1_epi32(static_cast<std::int32_t>(k1[s]));
    vk2[s] = _mm512_set1_epi32(static_cast<std::int32_t>(k2[s]));
  }

  // The first pivots: the sample's order statistics two ranks outside k1 and k2 (sorted by
  // odd-even transposition; the sample is a fraction of a pass).
  __m512i sample[kSample];
  for (std::size_t i = 0; i < kSample; ++i)
    sample[i] = key_of(_mm512_load_ps(block + ((2 * i + 1) * m / (2 * kSample)) * 16));
  for (std::size_t round = 0; round < kSample; ++round)
    for (std::size_t i = round & 1; i + 1 < kSample; i += 2) {
      const __m512i a = _mm512_min_epu32(sample[i], sample[i + 1]);
      sample[i + 1] = _mm512_max_epu32(sample[i], sample[i + 1]);
      sample[i] = a;
    }
  __m512i pivot[2 * S], count[2 * S];
  for (std::size_t s = 0; s < S; ++s) {
    const auto r1 = static_cast<std::ptrdiff_t>(k1[s] * kSample / m) - 2;
    const auto r2 = static_cast<std::ptrdiff_t>((k2[s] + 1) * kSample / m) + 2;
    pivot[2 * s] = r1 >= 0 ? sample[r1] : _mm512_setzero_si512();
    pivot[2 * s + 1] = r2 < static_cast<std::ptrdiff_t>(kSample) ? _mm512_add_epi32(sample[r2], one)
                                                                 : _mm512_set1_epi32(-1);
    count[2 * s] = count[2 * s + 1] = _mm512_setzero_si512();
  }

  // Pass 1: the counts below the sample's pivots, and each lane's extremes; the keys replace
  // the values.
  auto* keys = reinterpret_cast<std::uint32_t*>(block);
  __m512i smallest = _mm512_set1_epi32(-1), largest = _mm512_setzero_si512();
  for (std::size_t p = 0; p < m; ++p) {
    const __m512i u = key_of(_mm512_load_ps(block + p * 16));
    _mm512_store_si512(keys + p * 16, u);
    smallest = _mm512_min_epu32(smallest, u);
    largest = _mm512_max_epu32(largest, u);
    for (std::size_t i = 0; i < 2 * S; ++i)
      count[i] =
          _mm512_mask_add_epi32(count[i], _mm512_cmplt_epu32_mask(u, pivot[i]), count[i], one);
  }
  // A finite float's key is at most that of +Inf (0xff800000): largest + 1 does not wrap.
  for (std::size_t s = 0; s < S; ++s) {
    b[s] = Brackets{smallest, _mm512_add_epi32(largest, one), _mm512_setzero_si512(),
                    _mm512_set1_epi32(static_cast<std::int32_t>(m))};
    narrow(b[s], pivot[2 * s], count[2 * s], vk1[s], vk2[s], 0xffff);
    narrow(b[s], pivot[2 * s + 1], count[2 * s + 1], vk1[s], vk2[s], 0xffff);
  }

  __mmask16 stalled[S] = {}, open[S];
  __m512i width[S];
  for (int pass = 0; pass < kMaxCountingPasses; ++pass) {
    bool any = false;
    for (std::size_t s = 0; s < S; ++s) {
      width[s] = _mm512_sub_epi32(b[s].below_hi, b[s].below_lo);
      const __m512i key_span = _mm512_sub_epi32(b[s].hi, b[s].lo);
      open[s] = _mm512_cmpgt_epi32_mask(width[s], _mm512_set1_epi32(kGather)) &
                _mm512_cmpgt_epu32_mask(key_span, one);
      any = any || open[s];
      // Interpolated pivots: the values at ranks k1 - delta and k2 + 1 + delta of a bracket
      // whose values were uniform between its ends (delta ~ the spread of a rank among uniform
      // draws).
      const __m512 n = _mm512_cvtepi32_ps(width[s]);
      const __m512 from = value_of(b[s].lo);
      const __m512 span = _mm512_sub_ps(value_of(_mm512_sub_epi32(b[s].hi, one)), from);
      const __m512 delta = _mm512_max_ps(_mm512_set1_ps(2.0f),
                                         _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_sqrt_ps(n)));
      __m512 t1 = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(vk1[s], b[s].below_lo)), delta);
      __m512 t2 = _mm512_add_ps(
          _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(vk2[s], one), b[s].below_lo)),
          delta);
      t1 = _mm512_max_ps(t1, _mm512_setzero_ps());
      t2 = _mm512_min_ps(t2, n);
      __m512i q1 = key_of(_mm512_fmadd_ps(span, _mm512_div_ps(t1, n), from));
      __m512i q2 = key_of(_mm512_fmadd_ps(span, _mm512_div_ps(t2, n), from));
      // Lanes whose last pass did not halve the bracket: the quarter points of the keys.
      const __m512i quarter = _mm512_srli_epi32(key_span, 2);
      q1 = _mm512_mask_add_epi32(q1, stalled[s], b[s].lo, quarter);
      q2 = _mm512_mask_add_epi32(
          q2, stalled[s], _mm512_add_epi32(b[s].lo, _mm512_srli_epi32(key_span, 1)), quarter);
      // Inside the bracket whatever the arithmetic gave (an overflowed span, a rounded pivot).
      const __m512i top = _mm512_sub_epi32(b[s].hi, one);
      q1 = _mm512_min_epu32(_mm512_max_epu32(q1, _mm512_add_epi32(b[s].lo, one)), top);
      pivot[2 * s] = q1;
      pivot[2 * s + 1] = _mm512_min_epu32(_mm512_max_epu32(q2, q1), top);
    }
    if (!any) break;
    count_below(keys, m, pivot, count);
    for (std::size_t s = 0; s < S; ++s) {
      narrow(b[s], pivot[2 * s], count[2 * s], vk1[s], vk2[s], open[s]);
      narrow(b[s], pivot[2 * s + 1], count[2 * s + 1], vk1[s], vk2[s], open[s]);
      const __m512i narrowed = _mm512_sub_epi32(b[s].below_hi, b[s].below_lo);
      stalled[s] =
          open[s] & _mm512_cmpgt_epi32_mask(_mm512_add_epi32(narrowed, narrowed), width[s]);
    }
  }
}

// lower[l] and upper[l], the keys at ranks k1 and k2 of lane l, from those its bracket holds.
__attribute__((target("avx512f"))) void select_in_brackets(const std::uint32_t* keys, std::size_t m,
                                                           const Brackets& b, std::size_t k1,
                                                           std::size_t k2, std::uint32_t* lower,
                                                           std::uint32_t* upper) {
  const __m512i one = _mm512_set1_epi32(1);
  alignas(64) std::uint32_t lo[16], hi[16];
  alignas(64) std::int32_t below_lo[16];
  _mm512_store_si512(lo, b.lo);
  _mm512_store_si512(hi, b.hi);
  _mm512_store_si512(below_lo, b.below_lo);
  // Gather what the brackets hold (lanes whose bracket is one key hold one repeated value).
  const __mmask16 gather = _mm512_cmpgt_epu32_mask(_mm512_sub_epi32(b.hi, b.lo), one);
  thread_local std::vector<std::uint32_t> held;
  held.resize(16 * m);
  std::size_t count[16] = {};
  if (gather) {
    for (std::size_t p = 0; p < m; ++p) {
      const __m512i u = _mm512_load_si512(keys + p * 16);
      __mmask16 in = gather & _mm512_cmpge_epu32_mask(u, b.lo) & _mm512_cmplt_epu32_mask(u, b.hi);
      while (in) {
        const auto l = static_cast<std::size_t>(__builtin_ctz(in));
        in = static_cast<__mmask16>(in & (in - 1));
        held[l * m + count[l]++] = keys[p * 16 + l];
      }
    }
  }
  for (std::size_t l = 0; l < 16; ++l) {
    if (!((gather >> l) & 1)) {
      lower[l] = upper[l] = lo[l];
      continue;
    }
    std::uint32_t* v = held.data() + l * m;
    const std::size_t a = k1 - static_cast<std::size_t>(below_lo[l]);
    const std::size_t c = k2 - static_cast<std::size_t>(below_lo[l]);
    std::nth_element(v, v + a, v + count[l]);
    if (c != a) std::nth_element(v + a + 1, v + c, v + count[l]);
    lower[l] = v[a];
    upper[l] = v[c];
  }
}

__attribute__((target("avx512f"))) void select_avx512(float* block, std::size_t m, std::size_t k1,
                                                      std::size_t k2, float* lower, float* upper) {
  const std::size_t first[1] = {k1}, last[1] = {k2};
  Brackets b[1];
  bracket_ranks(block, m, first, last, b);
  std::uint32_t low[16], high[16];
  select_in_brackets(reinterpret_cast<const std::uint32_t*>(block), m, b[0], k1, k2, low, high);
  for (std::size_t l = 0; l < 16; ++l) {
    lower[l] = value_of_key(low[l]);
    upper[l] = value_of_key(high[l]);
  }
}

// The float64 sum of ranks [t, m - t) of each lane: the values strictly between the t-th and
// the (m - 1 - t)-th, added in row order, then each of those two values times the middle ranks
// it fills (a float times a count below 2^24 is exact in float64).
__attribute__((target("avx512f"))) void trimmed_sum_avx512(float* block, std::size_t m,
                                                           std::size_t t, double* sums) {
  // Both ranks bracketed in the same passes.
  const std::size_t ranks[2] = {t, m - 1 - t};
  Brackets b[2];
  bracket_ranks(block, m, ranks, ranks, b);
  const auto* keys = reinterpret_cast<const std::uint32_t*>(block);
  alignas(64) std::uint32_t low[16], high[16];
  select_in_brackets(keys, m, b[0], t, t, low, low);
  select_in_brackets(keys, m, b[1], m - 1 - t, m - 1 - t, high, high);
  const __m512i klow = _mm512_load_si512(low), khigh = _mm512_load_si512(high);
  const __m512i one = _mm512_set1_epi32(1);
  __m512d sum_a = _mm512_setzero_pd(), sum_b = sum_a;  // lanes 0-7, 8-15
  __m512i up_to_low = _mm512_setzero_si512(), below_high = up_to_low;
  for (std::size_t p = 0; p < m; ++p) {
    const __m512i u = _mm512_load_si512(keys + p * 16);
    const __m512 x = value_of(u);
    const __mmask16 le_low = _mm512_cmple_epu32_mask(u, klow);
    const __mmask16 lt_high = _mm512_cmplt_epu32_mask(u, khigh);
    up_to_low = _mm512_mask_add_epi32(up_to_low, le_low, up_to_low, one);
    below_high = _mm512_mask_add_epi32(below_high, lt_high, below_high, one);
    const __mmask16 inside = static_cast<__mmask16>(~le_low & lt_high);
    sum_a = _mm512_mask_add_pd(sum_a, static_cast<__mmask8>(inside), sum_a,
                               _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    sum_b = _mm512_mask_add_pd(
        sum_b, static_cast<__mmask8>(inside >> 8), sum_b,
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
  }
  alignas(64) double inner[16];
  alignas(64) std::int32_t le[16], lt[16];
  _mm512_store_pd(inner, sum_a);
  _mm512_store_pd(inner + 8, sum_b);
  _mm512_store_si512(le, up_to_low);
  _mm512_store_si512(lt, below_high);
  const auto first = static_cast<std::int64_t>(t), end = static_cast<std::int64_t>(m - t);
  for (std::size_t l = 0; l < 16; ++l) {
    const double low_value = value_of_key(low[l]), high_value = value_of_key(high[l]);
    if (low[l] == high[l]) {  // one value fills every middle rank
      sums[l] = static_cast<double>(end - first) * low_value;
      continue;
    }
    // Middle ranks held by the low value: [first, min(#(x <= low), end)); by the high one:
    // [max(#(x < high), first), end).
    const std::int64_t n_low = std::min<std::int64_t>(le[l], end) - first;
    const std::int64_t n_high = end - std::max<std::int64_t>(lt[l], first);
    sums[l] = inner[l] + static_cast<double>(n_low) * low_value +
              static_cast<double>(n_high) * high_value;
  }
}
#undef FEDGUARD_AVX512
#pragma GCC diagnostic pop
#endif

}  // namespace

bool select_lane_ranks(float* block, std::size_t m, std::size_t k1, std::size_t k2, float* lower,
                       float* upper) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() != LaneIsa::kAvx512) return false;
  select_avx512(block, m, k1, k2, lower, upper);
  return true;
#else
  (void)block, (void)m, (void)k1, (void)k2, (void)lower, (void)upper;
  return false;
#endif
}

bool trimmed_sum_lanes(float* block, std::size_t m, std::size_t t, double* sums) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() != LaneIsa::kAvx512) return false;
  trimmed_sum_avx512(block, m, t, sums);
  return true;
#else
  (void)block, (void)m, (void)t, (void)sums;
  return false;
#endif
}

}  // namespace fedguard::backend::cpu
