// The lane-block layout of a chunk of rows and the branch-free sorting networks over it: the
// coordinate-wise statistics of pass 2 (aggregate_coordinatewise_cpu.cc), and the same inside
// pass 1 where a round reads its updates once (scan_statistic_cpu.cc).
#include "backend/cpu/lane_blocks.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/lane_isa.h"
#include "backend/cpu/lane_select.h"
#include "backend/cpu/selection_network.h"
#include "fedguard/dtype.h"
#include "fedguard/error.h"
#include "kernels/scan_math.h"

namespace fedguard::backend::cpu {
namespace {

// Whether every value is finite. The partition network's classes are those of a sort for
// ordered values; a block with a NaN or an Inf (mixed rows can overflow) takes the full sort, as
// before the partition network existed. Integer tests on the exponent bits, so that it vectorises.
bool all_finite(const float* values, std::size_t count) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t u;
    std::memcpy(&u, values + i, sizeof u);
    bad |= static_cast<std::uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

void layout_generic(const float* const* segment, std::size_t m, std::size_t w, float* blocks,
                    std::uint32_t* bad) {
  const std::size_t nblocks = (w + kLanes - 1) / kLanes;
  for (std::size_t p = 0; p < m; ++p) {
    const float* src = segment[p];
    for (std::size_t jb = 0; jb < nblocks; ++jb) {
      float* dst = blocks + (jb * m + p) * kLanes;
      const std::size_t j0 = jb * kLanes;
      if (j0 + kLanes <= w) {
        std::memcpy(dst, src + j0, sizeof(float) * kLanes);
      } else {
        std::copy(src + j0, src + w, dst);
        std::fill(dst + (w - j0), dst + kLanes, 0.0f);
      }
    }
  }
  for (std::size_t jb = 0; jb < nblocks; ++jb)
    bad[jb] = !all_finite(blocks + jb * m * kLanes, m * kLanes);
}

// Sorts (or partitions) kLanes columns at once: block[i * kLanes + lane] is row i of column
// `lane`. Branch-free min/max on whole lane vectors, where a per-column selection mispredicts
// about every other branch. Written with intrinsics per instruction set: as per-float loops
// (and as GCC vector types) GCC's AVX2 code stayed scalar and stalled on store forwarding
// (perf, 2026-12-03: about 6,000 cycles per column at m = 100). min_ps(y, x) is y < x ? y : x
// = std::min(x, y), and max_ps(y, x) is y > x ? y : x = std::max(x, y), NaN included.
//
// Register blocking: a comparator on wires in memory costs two loads and two stores for two
// min/max, and the kernel ran at about 5 cycles per comparator and block at m = 100 (perf,
// 2026-12-04). Batcher's first stages sort aligned groups of wires; the leading full groups are
// loaded once, sorted by a network unrolled at compile time (every wire a named register), and
// stored once. AVX-512 has 32 registers: groups of 32 wires (3 x 191 of the median's 897
// comparators at m = 100; groups of 16 measured 125 against 118 ms). AVX2 has 16 and a wire is
// two of them: groups of 16 per half of the lanes, with a few spills (94 ms against 102 for
// groups of 8 and 102 for 32, median, 100 x 1e6, one thread;
// bench/results/order_stats_2026-12-04.md).
static_assert(kLanes == 16, "the lane kernels below handle 16 floats");

// Batcher's odd-even merge sort of G wires, at compile time (selection_network.cc's loop).
template <std::size_t G>
constexpr std::size_t batcher_size() {
  std::size_t c = 0;
  for (std::size_t p = 1; p < G; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < G; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, G - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) ++c;
  return c;
}
template <std::size_t G>
struct StaticBatcher {
  static constexpr std::size_t kSize = batcher_size<G>();
  std::uint8_t first[kSize] = {}, second[kSize] = {};
  constexpr StaticBatcher() {
    std::size_t c = 0;
    for (std::size_t p = 1; p < G; p <<= 1)
      for (std::size_t k = p; k >= 1; k >>= 1)
        for (std::size_t j = k % p; j + k < G; j += 2 * k)
          for (std::size_t i = 0; i < std::min(k, G - j - k); ++i)
            if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
              first[c] = static_cast<std::uint8_t>(i + j);
              second[c] = static_cast<std::uint8_t>(i + j + k);
              ++c;
            }
  }
};
template <std::size_t G>
constexpr StaticBatcher<G> kBatcher{};

#if defined(__x86_64__) && defined(__GNUC__)
constexpr std::size_t kGroupAvx512 = 32;
constexpr std::size_t kGroupAvx2 = 16;

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside _mm512_min_ps (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <std::size_t G, std::size_t... I>
__attribute__((target("avx512f"), always_inline)) inline void sort_registers_avx512(
    __m512* r, std::index_sequence<I...>) {
  auto cas = [](__m512 & x, __m512 & y) __attribute__((target("avx512f"), always_inline)) {
    const __m512 lo = _mm512_min_ps(y, x);
    y = _mm512_max_ps(y, x);
    x = lo;
  };
  (cas(r[kBatcher<G>.first[I]], r[kBatcher<G>.second[I]]), ...);
}

// Loads and stores unrolled at compile time: as loops, GCC turned them into copies of the whole
// group to and from the stack (rep movsq) and kept the group there.
template <std::size_t... I>
__attribute__((target("avx512f"), always_inline)) inline void load_registers_avx512(
    __m512* r, const float* base, std::index_sequence<I...>) {
  ((r[I] = _mm512_load_ps(base + I * kLanes)), ...);
}
template <std::size_t... I>
__attribute__((target("avx512f"), always_inline)) inline void store_registers_avx512(
    const __m512* r, float* base, std::index_sequence<I...>) {
  (_mm512_store_ps(base + I * kLanes, r[I]), ...);
}

__attribute__((target("avx512f"))) void sort_lanes_avx512(float* block, const BlockedNetwork& net) {
  constexpr std::size_t G = kGroupAvx512;
  for (std::size_t g = 0; g < net.groups; ++g) {
    float* base = block + g * G * kLanes;
    __m512 r[G];
    load_registers_avx512(r, base, std::make_index_sequence<G>{});
    sort_registers_avx512<G>(r, std::make_index_sequence<StaticBatcher<G>::kSize>{});
    store_registers_avx512(r, base, std::make_index_sequence<G>{});
  }
  for (const Comparator& c : net.rest) {
    float* px = block + c.first * kLanes;
    float* py = block + c.second * kLanes;
    const __m512 x = _mm512_loadu_ps(px), y = _mm512_loadu_ps(py);
    _mm512_storeu_ps(px, _mm512_min_ps(y, x));
    _mm512_storeu_ps(py, _mm512_max_ps(y, x));
  }
}
#pragma GCC diagnostic pop

template <std::size_t G, std::size_t... I>
__attribute__((target("avx2"), always_inline)) inline void sort_registers_avx2(
    __m256* r, std::index_sequence<I...>) {
  auto cas = [](__m256 & x, __m256 & y) __attribute__((target("avx2"), always_inline)) {
    const __m256 lo = _mm256_min_ps(y, x);
    y = _mm256_max_ps(y, x);
    x = lo;
  };
  (cas(r[kBatcher<G>.first[I]], r[kBatcher<G>.second[I]]), ...);
}

template <std::size_t... I>
__attribute__((target("avx2"), always_inline)) inline void load_registers_avx2(
    __m256* r, const float* base, std::index_sequence<I...>) {
  ((r[I] = _mm256_load_ps(base + I * kLanes)), ...);
}
template <std::size_t... I>
__attribute__((target("avx2"), always_inline)) inline void store_registers_avx2(
    const __m256* r, float* base, std::index_sequence<I...>) {
  (_mm256_store_ps(base + I * kLanes, r[I]), ...);
}

__attribute__((target("avx2"))) void sort_lanes_avx2(float* block, const BlockedNetwork& net) {
  constexpr std::size_t G = kGroupAvx2;
  for (std::size_t g = 0; g < net.groups; ++g) {
    for (std::size_t half = 0; half < kLanes; half += 8) {
      float* base = block + g * G * kLanes + half;
      __m256 r[G];
      load_registers_avx2(r, base, std::make_index_sequence<G>{});
      sort_registers_avx2<G>(r, std::make_index_sequence<StaticBatcher<G>::kSize>{});
      store_registers_avx2(r, base, std::make_index_sequence<G>{});
    }
  }
  for (const Comparator& c : net.rest) {
    float* px = block + c.first * kLanes;
    float* py = block + c.second * kLanes;
    const __m256 x0 = _mm256_loadu_ps(px), x1 = _mm256_loadu_ps(px + 8);
    const __m256 y0 = _mm256_loadu_ps(py), y1 = _mm256_loadu_ps(py + 8);
    _mm256_storeu_ps(px, _mm256_min_ps(y0, x0));
    _mm256_storeu_ps(px + 8, _mm256_min_ps(y1, x1));
    _mm256_storeu_ps(py, _mm256_max_ps(y0, x0));
    _mm256_storeu_ps(py + 8, _mm256_max_ps(y1, x1));
  }
}

void sort_lanes_sse2(float* block, const BlockedNetwork& net) {
  for (const Comparator& c : net.rest) {
    float* px = block + c.first * kLanes;
    float* py = block + c.second * kLanes;
    for (std::size_t q = 0; q < kLanes; q += 4) {
      const __m128 x = _mm_loadu_ps(px + q), y = _mm_loadu_ps(py + q);
      _mm_storeu_ps(px + q, _mm_min_ps(y, x));
      _mm_storeu_ps(py + q, _mm_max_ps(y, x));
    }
  }
}

// Lane-block layout of a chunk: row p's values [16 jb, 16 jb + 16) to blocks[(jb m + p) 16 ..],
// the last block padded with zeros, reading each row's run in order (taking 16 values from each
// of m rows in turn defeats the hardware prefetchers: perf, 2026-12-03). While the values are in
// registers, `bad[jb]` records whether block jb holds a NaN or an Inf (an all-ones exponent):
// a separate pass over the blocks for that cost about a tenth of pass 2 (perf, 2026-12-04).
// kLayoutRows rows are read side by side: one row at a time left the copy waiting on memory
// (median, 100 x 1e6, one thread: 77 ms with one row, 71 with two, 64 with four or eight).
constexpr std::size_t kLayoutRows = 4;

template <std::size_t R>
__attribute__((target("avx512f"), always_inline)) inline void layout_rows_avx512(
    const float* const* src, std::size_t m, std::size_t w, float* dst, std::uint32_t* bad) {
  const std::size_t full = w / kLanes;
  const __m512i exponent = _mm512_set1_epi32(0x7f800000);
  auto is_bad = [exponent](__m512 x) __attribute__((target("avx512f"), always_inline)) {
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(x), exponent), exponent);
  };
  for (std::size_t jb = 0; jb < full; ++jb) {
    __mmask16 any = 0;
    for (std::size_t q = 0; q < R; ++q) {
      const __m512 x = _mm512_loadu_ps(src[q] + jb * kLanes);
      _mm512_store_ps(dst + (jb * m + q) * kLanes, x);
      any |= is_bad(x);
    }
    bad[jb] |= any;
  }
  if (full * kLanes < w) {
    const auto tail = static_cast<__mmask16>((1u << (w - full * kLanes)) - 1);
    for (std::size_t q = 0; q < R; ++q) {
      const __m512 x = _mm512_maskz_loadu_ps(tail, src[q] + full * kLanes);
      _mm512_store_ps(dst + (full * m + q) * kLanes, x);
      bad[full] |= is_bad(x);
    }
  }
}

__attribute__((target("avx512f"))) void layout_avx512(const float* const* segment, std::size_t m,
                                                      std::size_t w, float* blocks,
                                                      std::uint32_t* bad) {
  std::fill(bad, bad + (w + kLanes - 1) / kLanes, 0u);
  std::size_t p = 0;
  for (; p + kLayoutRows <= m; p += kLayoutRows)
    layout_rows_avx512<kLayoutRows>(segment + p, m, w, blocks + p * kLanes, bad);
  for (; p < m; ++p) layout_rows_avx512<1>(segment + p, m, w, blocks + p * kLanes, bad);
}

// Where the fused layout reads a row: float32 in place, or float16 / bfloat16 converted in
// registers (exact, as convert_to_float: F16C's conversion, a bfloat16 the high half of its
// float32), so that a narrow round is read once at its own width without a converted copy.
enum class Source { kFloat32, kFloat16, kBFloat16 };

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized inside some conversions (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <Source kSource>
__attribute__((target("avx512f"), always_inline)) inline __m512 load16(const void* row,
                                                                       std::size_t at) {
  if constexpr (kSource == Source::kFloat32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + at);
  } else {
    const __m256i h = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(row) + at));
    if constexpr (kSource == Source::kFloat16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// The last count (< 16) values of a row from `at`, zero-padded to sixteen.
template <Source kSource>
__attribute__((target("avx512f"), always_inline)) inline __m512 load_tail(const void* row,
                                                                          std::size_t at,
                                                                          std::size_t count) {
  const auto mask = static_cast<__mmask16>((1u << count) - 1);
  if constexpr (kSource == Source::kFloat32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(row) + at);
  } else {
    alignas(64) float values[kLanes] = {};
    convert_to_float(kSource == Source::kFloat16 ? DType::kFloat16 : DType::kBFloat16,
                     static_cast<const std::uint16_t*>(row) + at, values, count);
    return _mm512_load_ps(values);
  }
}

// layout_rows_avx512, also summing each row's statistics (row_stats.h) over its full steps of
// sixteen into states carried from chunk to chunk: the values are in registers for the copy
// anyway, and the copy waits on memory. A tail of fewer than sixteen is the caller's
// (finish_row_stats over the tail block), as in row_stats_avx512.
template <std::size_t R, Source kSource>
__attribute__((target("avx512f"), always_inline)) inline void layout_rows_stats_avx512(
    const void* const* src, std::size_t m, std::size_t w, float* dst, std::uint32_t* bad,
    RowStatsState* state) {
  const std::size_t full = w / kLanes;
  const __m512i exponent = _mm512_set1_epi32(0x7f800000);
  auto is_bad = [exponent](__m512 x) __attribute__((target("avx512f"), always_inline)) {
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(x), exponent), exponent);
  };
  RowStatsAvx512 s[R];
  for (std::size_t q = 0; q < R; ++q) row_stats_load(s[q], state[q]);
  for (std::size_t jb = 0; jb < full; ++jb) {
    __mmask16 any = 0;
    for (std::size_t q = 0; q < R; ++q) {
      const __m512 x = load16<kSource>(src[q], jb * kLanes);
      _mm512_store_ps(dst + (jb * m + q) * kLanes, x);
      any |= is_bad(x);
      row_stats_step(s[q], x);
    }
    bad[jb] |= any;
  }
  for (std::size_t q = 0; q < R; ++q) row_stats_store(s[q], state[q]);
  if (full * kLanes < w) {
    for (std::size_t q = 0; q < R; ++q) {
      const __m512 x = load_tail<kSource>(src[q], full * kLanes, w - full * kLanes);
      _mm512_store_ps(dst + (full * m + q) * kLanes, x);
      bad[full] |= is_bad(x);
    }
  }
}

template <Source kSource>
__attribute__((target("avx512f"))) void layout_stats_avx512(const void* const* segment,
                                                            std::size_t m, std::size_t w,
                                                            float* blocks, std::uint32_t* bad,
                                                            RowStatsState* states) {
  std::fill(bad, bad + (w + kLanes - 1) / kLanes, 0u);
  std::size_t p = 0;
  for (; p + kLayoutRows <= m; p += kLayoutRows)
    layout_rows_stats_avx512<kLayoutRows, kSource>(segment + p, m, w, blocks + p * kLanes, bad,
                                                   states + p);
  for (; p < m; ++p)
    layout_rows_stats_avx512<1, kSource>(segment + p, m, w, blocks + p * kLanes, bad, states + p);
}

template <std::size_t R>
__attribute__((target("avx2"), always_inline)) inline void layout_rows_avx2(
    const float* const* src, std::size_t m, std::size_t w, float* dst, std::uint32_t* bad) {
  const std::size_t full = w / kLanes;
  const __m256i exponent = _mm256_set1_epi32(0x7f800000);
  for (std::size_t jb = 0; jb < full; ++jb) {
    __m256i any = _mm256_setzero_si256();
    for (std::size_t q = 0; q < R; ++q) {
      const __m256 x0 = _mm256_loadu_ps(src[q] + jb * kLanes);
      const __m256 x1 = _mm256_loadu_ps(src[q] + jb * kLanes + 8);
      _mm256_store_ps(dst + (jb * m + q) * kLanes, x0);
      _mm256_store_ps(dst + (jb * m + q) * kLanes + 8, x1);
      any = _mm256_or_si256(
          any,
          _mm256_or_si256(
              _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(x0), exponent), exponent),
              _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(x1), exponent), exponent)));
    }
    bad[jb] |= static_cast<std::uint32_t>(_mm256_movemask_epi8(any));
  }
  if (full * kLanes < w) {
    for (std::size_t q = 0; q < R; ++q) {
      float* d = dst + (full * m + q) * kLanes;
      std::copy(src[q] + full * kLanes, src[q] + w, d);
      std::fill(d + (w - full * kLanes), d + kLanes, 0.0f);
      bad[full] |= static_cast<std::uint32_t>(!all_finite(d, kLanes));
    }
  }
}
#pragma GCC diagnostic pop

// layout_rows_avx2, also summing each row's statistics as row_stats_avx2 does (two steps of
// eight per block), into states carried from chunk to chunk (layout_rows_stats_avx512's twin).
template <std::size_t R>
__attribute__((target("avx2"), always_inline)) inline void layout_rows_stats_avx2(
    const float* const* src, std::size_t m, std::size_t w, float* dst, std::uint32_t* bad,
    RowStatsState* state) {
  const std::size_t full = w / kLanes;
  const __m256i exponent = _mm256_set1_epi32(0x7f800000);
  RowStatsAvx2 s[R];
  for (std::size_t q = 0; q < R; ++q) row_stats_load(s[q], state[q]);
  for (std::size_t jb = 0; jb < full; ++jb) {
    __m256i any = _mm256_setzero_si256();
    for (std::size_t q = 0; q < R; ++q) {
      const __m256 x0 = _mm256_loadu_ps(src[q] + jb * kLanes);
      const __m256 x1 = _mm256_loadu_ps(src[q] + jb * kLanes + 8);
      _mm256_store_ps(dst + (jb * m + q) * kLanes, x0);
      _mm256_store_ps(dst + (jb * m + q) * kLanes + 8, x1);
      any = _mm256_or_si256(
          any,
          _mm256_or_si256(
              _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(x0), exponent), exponent),
              _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(x1), exponent), exponent)));
      row_stats_step(s[q], x0);
      row_stats_step(s[q], x1);
    }
    bad[jb] |= static_cast<std::uint32_t>(_mm256_movemask_epi8(any));
  }
  for (std::size_t q = 0; q < R; ++q) row_stats_store(s[q], state[q]);
  if (full * kLanes < w) {
    for (std::size_t q = 0; q < R; ++q) {
      float* d = dst + (full * m + q) * kLanes;
      std::copy(src[q] + full * kLanes, src[q] + w, d);
      std::fill(d + (w - full * kLanes), d + kLanes, 0.0f);
      bad[full] |= static_cast<std::uint32_t>(!all_finite(d, kLanes));
    }
  }
}

// Four rows side by side, as the plain layout, although their 24 registers of sums do not fit
// AVX2's sixteen: with two rows (no spills) the single read was 4% slower than two passes, with
// four (sums spilled to the stack, in L1) 6% faster (median, 100 x 1e6, one thread,
// FEDGUARD_CPU_LANES=avx2 on the Zen 5 VM, 2026-12-07): the rows' streams matter more.
constexpr std::size_t kLayoutStatsRowsAvx2 = 4;

__attribute__((target("avx2"))) void layout_stats_avx2(const float* const* segment, std::size_t m,
                                                       std::size_t w, float* blocks,
                                                       std::uint32_t* bad, RowStatsState* states) {
  std::fill(bad, bad + (w + kLanes - 1) / kLanes, 0u);
  std::size_t p = 0;
  for (; p + kLayoutStatsRowsAvx2 <= m; p += kLayoutStatsRowsAvx2)
    layout_rows_stats_avx2<kLayoutStatsRowsAvx2>(segment + p, m, w, blocks + p * kLanes, bad,
                                                 states + p);
  for (; p < m; ++p)
    layout_rows_stats_avx2<1>(segment + p, m, w, blocks + p * kLanes, bad, states + p);
}

__attribute__((target("avx2"))) void layout_avx2(const float* const* segment, std::size_t m,
                                                 std::size_t w, float* blocks, std::uint32_t* bad) {
  std::fill(bad, bad + (w + kLanes - 1) / kLanes, 0u);
  std::size_t p = 0;
  for (; p + kLayoutRows <= m; p += kLayoutRows)
    layout_rows_avx2<kLayoutRows>(segment + p, m, w, blocks + p * kLanes, bad);
  for (; p < m; ++p) layout_rows_avx2<1>(segment + p, m, w, blocks + p * kLanes, bad);
}

std::size_t lane_group() {
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      return kGroupAvx512;
    case LaneIsa::kAvx2:
      return kGroupAvx2;
    case LaneIsa::kSse2:
      break;
  }
  return 0;
}
void sort_lanes(float* block, const BlockedNetwork& net) {
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      return sort_lanes_avx512(block, net);
    case LaneIsa::kAvx2:
      return sort_lanes_avx2(block, net);
    case LaneIsa::kSse2:
      return sort_lanes_sse2(block, net);
  }
}
void layout_blocks(const float* const* segment, std::size_t m, std::size_t w, float* blocks,
                   std::uint32_t* bad) {
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      return layout_avx512(segment, m, w, blocks, bad);
    case LaneIsa::kAvx2:
      return layout_avx2(segment, m, w, blocks, bad);
    case LaneIsa::kSse2:
      break;
  }
  layout_generic(segment, m, w, blocks, bad);
}
#else
std::size_t lane_group() { return 0; }
void layout_blocks(const float* const* segment, std::size_t m, std::size_t w, float* blocks,
                   std::uint32_t* bad) {
  layout_generic(segment, m, w, blocks, bad);
}
void sort_lanes(float* block, const BlockedNetwork& net) {
  for (const Comparator& c : net.rest) {
    float* x = block + c.first * kLanes;
    float* y = block + c.second * kLanes;
    for (std::size_t l = 0; l < kLanes; ++l) {
      const float lo = std::min(x[l], y[l]), hi = std::max(x[l], y[l]);
      x[l] = lo;
      y[l] = hi;
    }
  }
}
#endif

// The networks of selection_network.h split for this processor's kernel, built once per shape
// and thread.
const BlockedNetwork& cached_sorting_network(std::size_t m) {
  thread_local std::size_t built_for = 0;
  thread_local BlockedNetwork net;
  if (built_for != m) {
    net = block_network(sorting_network(m), m, lane_group());
    built_for = m;
  }
  return net;
}
const BlockedNetwork& cached_partition_network(std::size_t m, std::size_t b) {
  thread_local std::pair<std::size_t, std::size_t> built_for{0, 0};
  thread_local BlockedNetwork net;
  if (built_for != std::make_pair(m, b)) {
    net = block_network(partition_network(m, b), m, lane_group());
    built_for = {m, b};
  }
  return net;
}

// Per lane, the float64 sum of rows [first, last) of the block, rows added in order.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void sum_rows(const float* block, std::size_t first, std::size_t last, double* sums) {
  double s[kLanes];
  std::fill(s, s + kLanes, -0.0);  // -0.0 + x == x for every x, signed zeros included
  for (std::size_t p = first; p < last; ++p)
    for (std::size_t l = 0; l < kLanes; ++l) s[l] += static_cast<double>(block[p * kLanes + l]);
  std::memcpy(sums, s, sizeof s);
}

// The statistic of one sorted column (values[i * stride], i < m).
double sorted_statistic(const float* v, std::size_t stride, std::size_t m,
                        ColumnStatistic statistic, std::size_t param) {
  auto at = [&](std::size_t i) { return static_cast<double>(v[i * stride]); };
  const std::size_t h = m / 2;
  const double med = m % 2 ? at(h) : 0.5 * (at(h - 1) + at(h));
  switch (statistic) {
    case ColumnStatistic::kMedian:
      return med;
    case ColumnStatistic::kTrimmedMean: {
      double sum = 0;
      for (std::size_t i = param; i < m - param; ++i) sum += at(i);
      return sum / static_cast<double>(m - 2 * param);
    }
    case ColumnStatistic::kBulyanMean: {
      // The beta values nearest the median: a run grown outwards, the smaller value on ties.
      std::size_t right = 0;
      while (right < m && at(right) < med) ++right;
      std::ptrdiff_t left = static_cast<std::ptrdiff_t>(right) - 1;
      double sum = 0;
      for (std::size_t taken = 0; taken < param; ++taken) {
        const bool take_left =
            left >= 0 &&
            (right >= m || med - at(static_cast<std::size_t>(left)) <= at(right) - med);
        sum += take_left ? at(static_cast<std::size_t>(left--)) : at(right++);
      }
      return sum / static_cast<double>(param);
    }
  }
  return 0;
}

// +-FLT_MAX beyond float32's range, NaN kept: kernels/scan_math.h, shared with the CUDA kernels.
using kernels::saturate;

}  // namespace

void layout_lane_blocks(const float* const* segment, std::size_t m, std::size_t w, float* blocks,
                        std::uint32_t* bad) {
  layout_blocks(segment, m, w, blocks, bad);
}

bool layout_lane_blocks_with_stats(const float* const* segment, std::size_t m, std::size_t w,
                                   float* blocks, std::uint32_t* bad, RowStatsState* states) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      layout_stats_avx512<Source::kFloat32>(reinterpret_cast<const void* const*>(segment), m, w,
                                            blocks, bad, states);
      return true;
    case LaneIsa::kAvx2:
      layout_stats_avx2(segment, m, w, blocks, bad, states);
      return true;
    case LaneIsa::kSse2:
      break;
  }
#else
  (void)segment, (void)m, (void)w, (void)blocks, (void)bad, (void)states;
#endif
  return false;
}

bool layout_narrow_lane_blocks_with_stats(const std::uint16_t* const* segment, DType dtype,
                                          std::size_t m, std::size_t w, float* blocks,
                                          std::uint32_t* bad, RowStatsState* states) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() != LaneIsa::kAvx512) return false;
  const auto* rows = reinterpret_cast<const void* const*>(segment);
  switch (dtype) {
    case DType::kFloat16:
      layout_stats_avx512<Source::kFloat16>(rows, m, w, blocks, bad, states);
      return true;
    case DType::kBFloat16:
      layout_stats_avx512<Source::kBFloat16>(rows, m, w, blocks, bad, states);
      return true;
    case DType::kFloat32:
      break;
  }
#else
  (void)segment, (void)dtype, (void)m, (void)w, (void)blocks, (void)bad, (void)states;
#endif
  return false;
}

void statistic_of_lane_blocks(float* blocks, std::size_t m, std::size_t w, const std::uint32_t* bad,
                              ColumnStatistic statistic, std::size_t param, float* out) {
  // Median and trimmed mean read only the sum of the middle class: the partition network.
  // Bulyan reads the sorted order around the median: the full sort.
  const bool partition = statistic != ColumnStatistic::kBulyanMean;
  const std::size_t b = statistic == ColumnStatistic::kMedian ? (m - 1) / 2 : param;
  const std::size_t nblocks = (w + kLanes - 1) / kLanes;
  // The median and the trimmed mean of many rows by counting (lane_select.h), where the
  // processor has its kernel.
  const bool select = statistic == ColumnStatistic::kMedian && m >= kSelectMinRows;
  const bool select_trimmed =
      statistic == ColumnStatistic::kTrimmedMean && m >= select_trimmed_min_rows();
  for (std::size_t jb = 0; jb < nblocks; ++jb) {
    float* block = blocks + jb * m * kLanes;
    const std::size_t j0 = jb * kLanes;
    const std::size_t lanes = std::min(kLanes, w - j0);
    float lower[kLanes], upper[kLanes];
    if (select && !bad[jb] && select_lane_ranks(block, m, (m - 1) / 2, m / 2, lower, upper)) {
      // The same value as the network's: the middle one, or the mean of the two in float64.
      for (std::size_t l = 0; l < lanes; ++l)
        out[j0 + l] = saturate(m % 2 ? static_cast<double>(lower[l])
                                     : 0.5 * (static_cast<double>(lower[l]) + upper[l]));
      continue;
    }
    double middle[kLanes];
    if (select_trimmed && !bad[jb] && trimmed_sum_lanes(block, m, param, middle)) {
      const double count = static_cast<double>(m - 2 * param);
      for (std::size_t l = 0; l < lanes; ++l) out[j0 + l] = saturate(middle[l] / count);
      continue;
    }
    FEDGUARD_EXPECTS(m <= kNetworkMaxRows,
                     "statistic_of_lane_blocks: " << m << " rows take the networks only up to "
                                                  << kNetworkMaxRows);
    if (partition && !bad[jb]) {
      sort_lanes(block, cached_partition_network(m, b));
      double sums[kLanes];
      sum_rows(block, b, m - b, sums);
      // m - 2b is 1 or 2 for the median: the middle value, or the mean of the two.
      const double count = static_cast<double>(m - 2 * b);
      for (std::size_t l = 0; l < lanes; ++l) out[j0 + l] = saturate(sums[l] / count);
      continue;
    }
    sort_lanes(block, cached_sorting_network(m));
    for (std::size_t l = 0; l < lanes; ++l)
      out[j0 + l] = saturate(sorted_statistic(block + l, kLanes, m, statistic, param));
  }
}

}  // namespace fedguard::backend::cpu
