// Pass 1's Gram of one column tile on AVX-512 processors: a register kernel in place of the
// BLAS's SSYRK for the skinny Grams of federated rounds (tile_gram.cc says why and what it
// measured).
#pragma once

#include <cstddef>
#include <string>

namespace fedguard::backend::cpu {

/// Rows above which the BLAS's SSYRK stays (no measured gain to carry there).
constexpr std::size_t kTileGramRows = 512;

/// The Gram of the k x w tile stored transposed in `tt` (column j of the tile is tt[j * ldt ..
/// j * ldt + k), ldt >= k), in float32: writes product[q * k + p] = sum_j tt[j ldt + p] tt[j ldt
/// + q] for p <= q (the k x k product's lower triangle, row-major), every column added in order
/// with fused multiply-adds; entries above the diagonal may be written too and are not
/// meaningful. Returns false, writing nothing, where it does not apply (k == 0, k >
/// kTileGramRows, or the processor or FEDGUARD_CPU_LANES without AVX-512): the caller runs the
/// SSYRK instead.
bool tile_gram(const float* tt, std::size_t ldt, std::size_t k, std::size_t w, float* product);

/// What computes pass 1's Gram on this processor (for `fedguard info` and benchmark records):
/// the register kernel up to kTileGramRows rows and the BLAS's SSYRK above, or the SSYRK alone.
std::string tile_gram_description();

}  // namespace fedguard::backend::cpu
