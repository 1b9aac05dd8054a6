// The Gram of a tile on AVX-512 processors, in place of OpenBLAS's SSYRK.
//
// Pass 1's Gram is a skinny one (k rows, w ~ 1e3 columns per tile, k <= a few hundred), and
// pass 1 (scan_cpu.cc, step 3) writes each tile transposed, one column of k floats per row of
// `tt`: the layout a register kernel wants, so nothing is packed. Rows are taken 16 at a time (one
// register of a column's 16 values, masked at the end), and each block of up to kGramBlockColumns
// product columns keeps one accumulator per column: per tile column, one load and nc fused
// multiply-adds with the column's broadcast values (the product's row block times its column block,
// k registers for k <= 16: the rounds of a few clients of cross-silo federations). The blocks cover
// the upper triangle plus the diagonal blocks' lower part; with AVX-512VL the square on the
// diagonal of each 16-row block goes by two 8-row blocks (192 lane products per column step
// instead of 256, for the 136 wanted): at k = 100 the Gram in cache 107.3-108.3 -> 103.0-103.9
// ms, 6-17% at most row counts from 10 to 50 (bench/results/tile_gram_2026-12-05.md). In float32,
// every column added in order, as in the SSYRK it replaces (both accumulate a tile in float32; the
// tiles are added in float64). Measured (bench/results/tile_gram_2026-12-05.md: one thread, the
// tile in cache, AMD EPYC Zen 4, OpenBLAS 0.3.21 kernel Cooperlake): 1.31x the SSYRK at k = 100 (94
// GFLOP/s useful against the core's 117 peak), 1.5-2.4x at k = 10-50 (OpenBLAS runs 16-row panels
// and packs the tile first), 1.06-1.16x at k = 200-512, 1.03x at 1000: above kTileGramRows the
// SSYRK stays.
#include "backend/cpu/tile_gram.h"

#include <algorithm>
#include <string>
#include <utility>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/lane_isa.h"

namespace fedguard::backend::cpu {
namespace {

constexpr std::size_t kGramBlockColumns = 24;

#if defined(__x86_64__) && defined(__GNUC__)
// Unrolled at compile time over the nc accumulators: with a loop over them GCC stored every
// accumulator to the stack after each column (2 cycles per multiply-add instead of one).
template <std::size_t NC, std::size_t... C>
__attribute__((target("avx512f"))) void tile_gram_block(const float* tt, std::size_t ldt,
                                                        std::size_t w, __mmask16 rows,
                                                        std::size_t i0, std::size_t j0,
                                                        float* product, std::size_t k,
                                                        std::index_sequence<C...>) {
  __m512 acc[NC] = {((void)C, _mm512_setzero_ps())...};
  // One pointer for the broadcasts, so that each is a constant displacement from it (indexed
  // from the column's start, GCC kept one register per broadcast and spilled them: 1.20x the
  // SSYRK at k = 100 instead of 1.34x).
  const float* x_at = tt + i0;
  const float* b_at = tt + j0;
  for (std::size_t j = 0; j < w; ++j, x_at += ldt, b_at += ldt) {
    const __m512 x = _mm512_maskz_loadu_ps(rows, x_at);
    ((acc[C] = _mm512_fmadd_ps(_mm512_set1_ps(b_at[C]), x, acc[C])), ...);
  }
  (_mm512_mask_storeu_ps(product + (j0 + C) * k + i0, rows, acc[C]), ...);
}

// The same with 8 rows per register (AVX-512VL's masked 256-bit loads), for the square on the
// diagonal of each row block: only its entries p <= q are wanted, and a 16-row register there
// computes 256 lane products per column step for 136 wanted; two 8-row blocks compute 192 (on
// Zen 4 a 256-bit fused multiply-add costs half a 512-bit one).
template <std::size_t NC, std::size_t... C>
__attribute__((target("avx512f,avx512vl,fma"))) void tile_gram_block8(
    const float* tt, std::size_t ldt, std::size_t w, __mmask8 rows, std::size_t i0, std::size_t j0,
    float* product, std::size_t k, std::index_sequence<C...>) {
  __m256 acc[NC] = {((void)C, _mm256_setzero_ps())...};
  const float* x_at = tt + i0;
  const float* b_at = tt + j0;
  for (std::size_t j = 0; j < w; ++j, x_at += ldt, b_at += ldt) {
    const __m256 x = _mm256_maskz_loadu_ps(rows, x_at);
    ((acc[C] = _mm256_fmadd_ps(_mm256_set1_ps(b_at[C]), x, acc[C])), ...);
  }
  (_mm256_mask_storeu_ps(product + (j0 + C) * k + i0, rows, acc[C]), ...);
}

template <std::size_t... N>
void tile_gram_block8_dispatch(std::size_t nc, const float* tt, std::size_t ldt, std::size_t w,
                               __mmask8 rows, std::size_t i0, std::size_t j0, float* product,
                               std::size_t k, std::index_sequence<N...>) {
  (void)((nc == N + 1 ? (tile_gram_block8<N + 1>(tt, ldt, w, rows, i0, j0, product, k,
                                                 std::make_index_sequence<N + 1>{}),
                         true)
                      : false) ||
         ...);
}

template <std::size_t... N>
void tile_gram_block_dispatch(std::size_t nc, const float* tt, std::size_t ldt, std::size_t w,
                              __mmask16 rows, std::size_t i0, std::size_t j0, float* product,
                              std::size_t k, std::index_sequence<N...>) {
  (void)((nc == N + 1 ? (tile_gram_block<N + 1>(tt, ldt, w, rows, i0, j0, product, k,
                                                std::make_index_sequence<N + 1>{}),
                         true)
                      : false) ||
         ...);
}
#endif

}  // namespace

bool tile_gram(const float* tt, std::size_t ldt, std::size_t k, std::size_t w, float* product) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (k == 0 || k > kTileGramRows || lane_isa() != LaneIsa::kAvx512) return false;
  static const bool vl = __builtin_cpu_supports("avx512vl");
  for (std::size_t i0 = 0; i0 < k; i0 += 16) {
    const std::size_t r16 = std::min<std::size_t>(16, k - i0);
    const auto rows = static_cast<__mmask16>((1u << r16) - 1);
    std::size_t j0 = i0;
    if (vl) {  // the diagonal square [i0, i0 + r16)^2 by 8-row blocks: rows i0.. with every column
               // of the square, then rows i0 + 8.. with the columns from i0 + 8
      const std::size_t ra = std::min<std::size_t>(8, r16);
      tile_gram_block8_dispatch(r16, tt, ldt, w, static_cast<__mmask8>((1u << ra) - 1), i0, i0,
                                product, k, std::make_index_sequence<16>{});
      if (r16 > 8)
        tile_gram_block8_dispatch(r16 - 8, tt, ldt, w, static_cast<__mmask8>((1u << (r16 - 8)) - 1),
                                  i0 + 8, i0 + 8, product, k, std::make_index_sequence<8>{});
      j0 = i0 + r16;
    }
    for (; j0 < k; j0 += kGramBlockColumns)
      tile_gram_block_dispatch(std::min(kGramBlockColumns, k - j0), tt, ldt, w, rows, i0, j0,
                               product, k, std::make_index_sequence<kGramBlockColumns>{});
  }
  return true;
#else
  (void)tt, (void)ldt, (void)k, (void)w, (void)product;
  return false;
#endif
}

std::string tile_gram_description() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() == LaneIsa::kAvx512)
    return "fedguard's AVX-512 register kernel up to " + std::to_string(kTileGramRows) +
           " rows, the BLAS's SSYRK above";
#endif
  return "the BLAS's SSYRK (no AVX-512 lanes)";
}

}  // namespace fedguard::backend::cpu
