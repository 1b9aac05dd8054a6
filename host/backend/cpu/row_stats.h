// Per-row statistics of a run of one row (finiteness, max |x|, the float64 sum of squares, sign
// counts): pass 1's, and the same numbers where pass 2 reads a row once for both
// (scan_statistic_cpu.cc). Every kernel sums in the same lanes and order, so that each returns
// the same bits as the others.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/summaries.h"

namespace fedguard::backend::cpu {

struct RowStats {
  double sq;
  float max_abs;
  std::int64_t positive, negative, bad;
};

// Eight independent lanes so that the loops vectorise without reordering any one sum: lane l
// takes the elements j = l (mod 8) in order; the elements past the last full group of eight go
// to lane 0; then the lanes are combined in lane order (deterministic).
struct RowLanes {
  static constexpr std::size_t kL = 8;
  double sq[kL] = {};
  float mx[kL] = {};
  std::int32_t pos[kL] = {}, neg[kL] = {}, bad[kL] = {};

  void add(std::size_t l, float x) {
    const float a = std::fabs(x);
    bad[l] += !(a <= std::numeric_limits<float>::max());  // NaN or Inf
    mx[l] = std::max(mx[l], a);
    sq[l] += static_cast<double>(x) * x;
    pos[l] += x > 0;
    neg[l] += x < 0;
  }
  RowStats finish(const float* v, std::size_t j, std::size_t w) {
    for (; j < w; ++j) add(0, v[j]);
    RowStats st{0, 0, 0, 0, 0};
    for (std::size_t l = 0; l < kL; ++l) {
      st.sq += sq[l];
      st.max_abs = std::max(st.max_abs, mx[l]);
      st.positive += pos[l];
      st.negative += neg[l];
      st.bad += bad[l];
    }
    return st;
  }
};

/// The statistics of v[0, w) with the best kernel this processor has (lane_isa.h).
RowStats row_stats(const float* v, std::size_t w);
/// The portable kernel (the others return its bits).
RowStats row_stats_generic(const float* v, std::size_t w);

/// One worker's per-row sums over the tiles it read: pass 1's norms, sign counts and finiteness
/// (scan_cpu.cc's accumulators; scan_statistic_cpu.cc's), added the same way by both.
struct RowTotals {
  std::vector<double> norms_sq;
  std::vector<std::int64_t> positive, negative, zero;
  std::vector<std::uint8_t> finite;

  explicit RowTotals(std::size_t k)
      : norms_sq(k, 0.0), positive(k, 0), negative(k, 0), zero(k, 0), finite(k, 1) {}
  /// Adds a tile's statistics of row p (w values); false, and nothing added, when the row was
  /// already found non-finite or this tile holds a NaN or an Inf of it (then flagged).
  bool add(std::size_t p, const RowStats& st, std::size_t w) {
    if (!finite[p]) return false;
    if (st.bad != 0) {
      finite[p] = 0;
      return false;
    }
    norms_sq[p] += st.sq;
    positive[p] += st.positive;
    negative[p] += st.negative;
    zero[p] += static_cast<std::int64_t>(w) - st.positive - st.negative;
    return true;
  }
  /// Another worker's sums added after these (workers are merged in worker order).
  void merge(const RowTotals& other) {
    for (std::size_t p = 0; p < norms_sq.size(); ++p) {
      norms_sq[p] += other.norms_sq[p];
      positive[p] += other.positive[p];
      negative[p] += other.negative[p];
      zero[p] += other.zero[p];
      finite[p] &= other.finite[p];
    }
  }
  /// Hands the sums to the round's summaries.
  void move_into(ScanSummaries& s) {
    s.norms_sq = std::move(norms_sq);
    s.positive = std::move(positive);
    s.negative = std::move(negative);
    s.zero = std::move(zero);
    s.finite = std::move(finite);
  }
};

/// The AVX-512 kernel's running sums of one row over its full steps of sixteen values, held in
/// memory between calls: sq lane l takes x[16 s + l]^2, then x[16 s + 8 + l]^2 (the AVX2
/// kernel's, x[8 s + l]^2 in steps of eight, the same order, in lanes 0-7 of each field).
struct alignas(64) RowStatsState {
  double sq[8];
  float max_abs[16];
  std::int32_t positive[16], negative[16], bad[16];
};
/// The statistics of a row whose full steps of sixteen are summed in `state` and whose last
/// `count` (< 16) values are tail[0, count): what row_stats returns for the whole row.
RowStats finish_row_stats(const RowStatsState& state, const float* tail, std::size_t count);

#if defined(__x86_64__) && defined(__GNUC__)
// The AVX-512 kernel's registers, for kernels that sum a row's statistics while they read it
// for something else (lane_blocks.cc). GCC 12 trips -Wmaybe-uninitialized inside some AVX-512
// intrinsics (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct RowStatsAvx512 {
  __m512d sq;
  __m512 mx;
  __m512i pos, neg, bad;
};

__attribute__((target("avx512f"), always_inline)) inline void row_stats_zero(RowStatsAvx512& s) {
  s.sq = _mm512_setzero_pd();
  s.mx = _mm512_setzero_ps();
  s.pos = s.neg = s.bad = _mm512_setzero_si512();
}

// One step of sixteen values.
__attribute__((target("avx512f"), always_inline)) inline void row_stats_step(RowStatsAvx512& s,
                                                                             __m512 x) {
  const __m512 fmax = _mm512_set1_ps(std::numeric_limits<float>::max());
  const __m512 zero = _mm512_setzero_ps();
  const __m512i one = _mm512_set1_epi32(1);
  const __m512 a = _mm512_abs_ps(x);
  s.bad = _mm512_mask_add_epi32(s.bad, _mm512_cmp_ps_mask(a, fmax, _CMP_NLE_UQ), s.bad, one);
  s.mx = _mm512_max_ps(a, s.mx);  // a > mx ? a : mx, as std::max(mx, a)
  const __m512d x_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
  const __m512d x_hi =
      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  s.sq = _mm512_add_pd(s.sq, _mm512_mul_pd(x_lo, x_lo));
  s.sq = _mm512_add_pd(s.sq, _mm512_mul_pd(x_hi, x_hi));
  s.pos = _mm512_mask_add_epi32(s.pos, _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), s.pos, one);
  s.neg = _mm512_mask_add_epi32(s.neg, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), s.neg, one);
}

__attribute__((target("avx512f"), always_inline)) inline void row_stats_load(
    RowStatsAvx512& s, const RowStatsState& from) {
  s.sq = _mm512_load_pd(from.sq);
  s.mx = _mm512_load_ps(from.max_abs);
  s.pos = _mm512_load_si512(from.positive);
  s.neg = _mm512_load_si512(from.negative);
  s.bad = _mm512_load_si512(from.bad);
}

__attribute__((target("avx512f"), always_inline)) inline void row_stats_store(
    const RowStatsAvx512& s, RowStatsState& to) {
  _mm512_store_pd(to.sq, s.sq);
  _mm512_store_ps(to.max_abs, s.mx);
  _mm512_store_si512(to.positive, s.pos);
  _mm512_store_si512(to.negative, s.neg);
  _mm512_store_si512(to.bad, s.bad);
}
#pragma GCC diagnostic pop

// The AVX2 kernel's registers (row_stats_avx2's sums, eight values a step), held in a
// RowStatsState's first eight lanes (the others zero, so that finish_row_stats folds them away).
struct RowStatsAvx2 {
  __m256d sq_lo, sq_hi;
  __m256 mx;
  __m256i pos, neg, bad;
};

__attribute__((target("avx2"), always_inline)) inline void row_stats_load(
    RowStatsAvx2& s, const RowStatsState& from) {
  s.sq_lo = _mm256_load_pd(from.sq);
  s.sq_hi = _mm256_load_pd(from.sq + 4);
  s.mx = _mm256_load_ps(from.max_abs);
  s.pos = _mm256_load_si256(reinterpret_cast<const __m256i*>(from.positive));
  s.neg = _mm256_load_si256(reinterpret_cast<const __m256i*>(from.negative));
  s.bad = _mm256_load_si256(reinterpret_cast<const __m256i*>(from.bad));
}

__attribute__((target("avx2"), always_inline)) inline void row_stats_store(const RowStatsAvx2& s,
                                                                           RowStatsState& to) {
  _mm256_store_pd(to.sq, s.sq_lo);
  _mm256_store_pd(to.sq + 4, s.sq_hi);
  _mm256_store_ps(to.max_abs, s.mx);
  _mm256_store_si256(reinterpret_cast<__m256i*>(to.positive), s.pos);
  _mm256_store_si256(reinterpret_cast<__m256i*>(to.negative), s.neg);
  _mm256_store_si256(reinterpret_cast<__m256i*>(to.bad), s.bad);
}

__attribute__((target("avx2"), always_inline)) inline void row_stats_zero(RowStatsAvx2& s) {
  s.sq_lo = s.sq_hi = _mm256_setzero_pd();
  s.mx = _mm256_setzero_ps();
  s.pos = s.neg = s.bad = _mm256_setzero_si256();
}

// The eight lanes of RowLanes, for its tail and combination (row_stats_avx2, pass 1's sweep).
__attribute__((target("avx2"), always_inline)) inline RowLanes row_lanes(const RowStatsAvx2& s) {
  RowLanes lanes;
  _mm256_storeu_pd(lanes.sq, s.sq_lo);
  _mm256_storeu_pd(lanes.sq + 4, s.sq_hi);
  _mm256_storeu_ps(lanes.mx, s.mx);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes.pos), s.pos);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes.neg), s.neg);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes.bad), s.bad);
  return lanes;
}

// One step of eight values: lane l takes x[l] (products and sums apart, no fused multiply-add,
// like the portable kernel). The AVX2 kernels' only copy of these sums.
__attribute__((target("avx2"), always_inline)) inline void row_stats_step(RowStatsAvx2& s,
                                                                          __m256 x) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 fmax = _mm256_set1_ps(std::numeric_limits<float>::max());
  const __m256 zero = _mm256_setzero_ps();
  const __m256 a = _mm256_and_ps(x, abs_mask);
  s.bad = _mm256_sub_epi32(s.bad, _mm256_castps_si256(_mm256_cmp_ps(a, fmax, _CMP_NLE_UQ)));
  s.mx = _mm256_max_ps(a, s.mx);
  const __m256d x_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
  const __m256d x_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
  s.sq_lo = _mm256_add_pd(s.sq_lo, _mm256_mul_pd(x_lo, x_lo));
  s.sq_hi = _mm256_add_pd(s.sq_hi, _mm256_mul_pd(x_hi, x_hi));
  s.pos = _mm256_sub_epi32(s.pos, _mm256_castps_si256(_mm256_cmp_ps(x, zero, _CMP_GT_OQ)));
  s.neg = _mm256_sub_epi32(s.neg, _mm256_castps_si256(_mm256_cmp_ps(x, zero, _CMP_LT_OQ)));
}
#endif

}  // namespace fedguard::backend::cpu
