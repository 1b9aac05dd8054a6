// Per-row statistics: the portable, AVX2 and AVX-512 kernels (row_stats.h).
#include "backend/cpu/row_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/lane_isa.h"

namespace fedguard::backend::cpu {

RowStats finish_row_stats(const RowStatsState& state, const float* tail, std::size_t count) {
  constexpr std::size_t kL = RowLanes::kL;
  RowLanes lanes;
  std::copy(state.sq, state.sq + kL, lanes.sq);
  for (std::size_t l = 0; l < kL; ++l) {
    lanes.mx[l] = std::max(state.max_abs[l], state.max_abs[l + kL]);
    lanes.pos[l] = state.positive[l] + state.positive[l + kL];
    lanes.neg[l] = state.negative[l] + state.negative[l + kL];
    lanes.bad[l] = state.bad[l] + state.bad[l + kL];
  }
  std::size_t j = 0;
  if (j + kL <= count) {  // a last full group of eight, lane by lane
    for (std::size_t l = 0; l < kL; ++l) lanes.add(l, tail[l]);
    j = kL;
  }
  return lanes.finish(tail, j, count);
}

RowStats row_stats_generic(const float* v, std::size_t w) {
  constexpr std::size_t kL = RowLanes::kL;
  RowLanes lanes;
  std::size_t j = 0;
  for (; j + kL <= w; j += kL)
    for (std::size_t l = 0; l < kL; ++l) lanes.add(l, v[j + l]);
  return lanes.finish(v, j, w);
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same sums with AVX2 intrinsics: GCC's AVX2 clone of the loop above stayed scalar (perf,
// 2026-12-03), which made pass 1 without a Gram 4x slower than a copy of the matrix. Lane l
// accumulates exactly the elements j = l (mod 8) in order, as above, and the lanes are combined
// in the same order; products and sums are separate (no FMA), like the baseline build.
__attribute__((target("avx2"))) RowStats row_stats_avx2(const float* v, std::size_t w) {
  RowStatsAvx2 s;
  row_stats_zero(s);
  std::size_t j = 0;
  for (; j + RowLanes::kL <= w; j += RowLanes::kL) row_stats_step(s, _mm256_loadu_ps(v + j));
  return row_lanes(s).finish(v, j, w);
}

// The same sums with AVX-512, 16 values a step: lane l of one register of eight doubles takes
// x[j + l]^2 and then x[j + 8 + l]^2, which is lane l's order in the loops above (elements
// l (mod 8) in order), so the norms are equal to theirs bit for bit; the sixteen lanes of the
// counts and maxima fold onto eight (sums of integers and maxima: exact in any order). Half the
// instructions of the AVX2 loop: pass 1 without a Gram at 100 x 1e6 on both cores 26.5 -> 23.5
// ms (a plain two-thread read of the matrix: 18 ms; 2026-12-04).
__attribute__((target("avx512f"))) RowStats row_stats_avx512(const float* v, std::size_t w) {
  RowStatsAvx512 s;
  row_stats_zero(s);
  std::size_t j = 0;
  for (; j + 16 <= w; j += 16) row_stats_step(s, _mm512_loadu_ps(v + j));
  RowStatsState state;
  row_stats_store(s, state);
  return finish_row_stats(state, v + j, w - j);
}

RowStats row_stats(const float* v, std::size_t w) {
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      return row_stats_avx512(v, w);
    case LaneIsa::kAvx2:
      return row_stats_avx2(v, w);
    case LaneIsa::kSse2:
      break;
  }
  return row_stats_generic(v, w);
}
#else
RowStats row_stats(const float* v, std::size_t w) { return row_stats_generic(v, w); }
#endif

}  // namespace fedguard::backend::cpu
