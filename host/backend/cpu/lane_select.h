// Order statistics of the sixteen columns of a lane block by counting, not sorting: the median
// and the trimmed mean of pass 2 for many rows (issue 19, item 3: a selection that beats the
// partition network where the network's n log^2 n comparators outgrow a few passes over the
// block, and a trimmed mean that does not sort).
#pragma once

#include <cstddef>

namespace fedguard::backend::cpu {

/// Rows from which statistic_of_lane_blocks takes the median by select_lane_ranks rather than by
/// the partition network (measured on the AMD EPYC Zen 5 VM, 2026-12-07, with AVX-512 and capped
/// at AVX2: docs/performance.md, "Many rows: the median and the trimmed mean by counting").
constexpr std::size_t kSelectMinRows = 640;
/// The same for the trimmed mean (two ranks bracketed in the same passes, then a sum): with
/// AVX-512, and with AVX2 (whose network held out longer: 175 against 211 ms at 1000 rows).
constexpr std::size_t kSelectTrimmedMinRows = 1000;
constexpr std::size_t kSelectTrimmedMinRowsAvx2 = 1500;

/// The trimmed mean's line for this processor's kernel.
std::size_t select_trimmed_min_rows();

/// Whether this processor (with FEDGUARD_CPU_LANES's cap) runs the kernels below: AVX-512 or AVX2.
bool lane_select_available();

/// For each lane l < 16 of a lane block of m rows (block[p * 16 + l], every value finite, m >= 1,
/// 64-byte aligned): lower[l] and upper[l], the k1-th and k2-th smallest values of the lane
/// (0-based, k1 <= k2 < m), bit for bit values of the block. The block is left holding the
/// values' order keys (scratch, as the networks leave it reordered). Brackets each rank by counting
/// the values below pivots (a sample's order statistics, then interpolation in value, then halving
/// in the ordered integers of the floats where interpolation stalls on ties), then selects among
/// the few values left in the bracket. false, and nothing written, where !lane_select_available().
bool select_lane_ranks(float* block, std::size_t m, std::size_t k1, std::size_t k2, float* lower,
                       float* upper);

/// For each lane l < 16 of a lane block of m finite rows: sums[l], the float64 sum of the lane's
/// values at ranks [t, m - t) of its sorted order (2 t < m): the values strictly between ranks t
/// and m - 1 - t (select_lane_ranks) in row order, then those two values times the middle ranks
/// each fills. Equal to a sum of the sorted middle up to float64 rounding (another order). The
/// block is left holding keys, as above. false, and nothing written, where
/// !lane_select_available().
bool trimmed_sum_lanes(float* block, std::size_t m, std::size_t t, double* sums);

}  // namespace fedguard::backend::cpu
