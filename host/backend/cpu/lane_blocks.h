// The lane-block layout of a chunk of columns (16 columns side by side, each row's 16 values one
// cache line) and the coordinate-wise statistics over it by branch-free networks: pass 2's
// median, trimmed mean and Bulyan mean for up to kNetworkMaxRows rows, and the same statistics
// inside pass 1 where a round reads its updates once (scan_statistic_cpu.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/column_statistic.h"
#include "backend/cpu/row_stats.h"
#include "fedguard/dtype.h"

namespace fedguard::backend::cpu {

constexpr std::size_t kLanes = 16;             ///< columns sorted side by side
constexpr std::size_t kNetworkMaxRows = 2048;  ///< above: per-column selection instead

/// The first 64-byte boundary at or after p (a buffer allocated kLanes floats longer).
inline float* aligned_lines(float* p) {
  const std::size_t misalign = reinterpret_cast<std::uintptr_t>(p) % 64;  // a multiple of 4
  return misalign ? p + (64 - misalign) / sizeof(float) : p;
}

/// Lays out w columns of m rows (segment[p]: row p's w values) as lane blocks: row p's values
/// [16 jb, 16 jb + 16) go to blocks[(jb m + p) 16 ..], 64-byte aligned, the last block padded
/// with zeros; bad[jb] is non-zero where block jb holds a NaN or an Inf.
void layout_lane_blocks(const float* const* segment, std::size_t m, std::size_t w, float* blocks,
                        std::uint32_t* bad);
/// layout_lane_blocks, also adding each row's full steps of sixteen values into states[p] as
/// row_stats's AVX-512 or AVX2 kernel does (finish_row_stats adds the row's tail). false, and
/// nothing done, on a processor without AVX2 (or with the lanes capped at SSE2).
bool layout_lane_blocks_with_stats(const float* const* segment, std::size_t m, std::size_t w,
                                   float* blocks, std::uint32_t* bad, RowStatsState* states);
/// layout_lane_blocks_with_stats for rows of float16 or bfloat16 (segment[p]: w values of that
/// type, where they are), converted exactly in the layout's registers: the same blocks and sums
/// as converting the rows first. false, and nothing done, without AVX-512 or for float32.
bool layout_narrow_lane_blocks_with_stats(const std::uint16_t* const* segment, DType dtype,
                                          std::size_t m, std::size_t w, float* blocks,
                                          std::uint32_t* bad, RowStatsState* states);
/// out[j] (j < w) = the statistic of column j of the laid-out blocks (reordered in place); a
/// block flagged bad takes the full sort instead of the partition network. The median and the
/// trimmed mean of at least kSelectMinRows / select_trimmed_min_rows() rows are selected by
/// counting (lane_select.h) where the processor has AVX-512 or AVX2; more than kNetworkMaxRows
/// rows only so (the caller checks lane_select_available() and the statistic, and sends no block
/// flagged bad).
void statistic_of_lane_blocks(float* blocks, std::size_t m, std::size_t w, const std::uint32_t* bad,
                              ColumnStatistic statistic, std::size_t param, float* out);

}  // namespace fedguard::backend::cpu
