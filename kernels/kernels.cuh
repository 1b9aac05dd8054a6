// Launchers of fedguard's CUDA kernels (pass 1 tiles, pass 2 statistics and sums). Each
// launcher checks its launch (FEDGUARD_CUDA_CHECK_LAUNCH) and runs on the given stream.
// Row sources are device tables of row pointers: row p of a tile is rows[p] + col0 .. + w.
// Templates over the input type T (float, __half, __nv_bfloat16) are instantiated
// explicitly in the .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fedguard::kernels {

// ---- pass 1 (scan_kernels.cu) ------------------------------------------------------------

/// Per-stream pass-1 accumulators (float64 sums, counts, flags), all device pointers.
struct ScanAccumulators {
  double* gram = nullptr;          ///< k x k, row-major, upper triangle filled
  double* centre_proj = nullptr;   ///< k
  double* centre_sq = nullptr;     ///< 1
  double* ref_proj = nullptr;      ///< k x r
  double* centre_ref = nullptr;    ///< r
  double* ref_gram = nullptr;      ///< r x r
  double* norms_sq = nullptr;      ///< k
  double* sketch = nullptr;        ///< k x q
  double* subset_grams = nullptr;  ///< subsets x k x k
  std::int64_t* positive = nullptr;
  std::int64_t* negative = nullptr;
  std::int64_t* zero = nullptr;
  std::uint8_t* finite = nullptr;
};

/// Converts the tile to float32 (tile[p * w + j]) and adds each row's norm, sign counts and
/// finiteness; a row with a NaN or Inf is zeroed from here on and flagged; max_abs[p] gets the
/// row's largest |value| in this tile (0 for flagged rows).
template <class T>
void launch_load_row_stats(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                           float* tile, float* max_abs, const ScanAccumulators& acc,
                           cudaStream_t stream);

/// Robust centre limit: sane[p] = finite and max_abs[p] <= 4 x the median of the finite rows'
/// max_abs; sane_count[0] = how many. One warp.
void launch_robust_limit(const float* max_abs, const std::uint8_t* finite, std::size_t k,
                         std::uint8_t* sane, int* sane_count, cudaStream_t stream);

/// Reductions over a tile's w columns run in reduction_blocks(w) blocks per vector (about one per
/// kReductionColumnsPerBlock columns, at most kMaxReductionBlocks), whose partial sums are added
/// in block order: deterministic for a given w, and enough blocks to fill the device.
constexpr std::size_t kReductionColumnsPerBlock = 4096;
constexpr std::size_t kMaxReductionBlocks = 256;
std::size_t reduction_blocks(std::size_t w);
/// Row chunks of the centre's sum (kernels/scan_math.h's kCentreRowChunk): ceil(k / chunk), >= 1.
std::size_t centre_chunks(std::size_t k);

/// centre[j] = mean over sane rows of tile[p * w + j], summed in float64 in the CPU backend's
/// order (kCentreRowChunk); `partials` holds centre_chunks(k) x w doubles of scratch.
void launch_centre_columns(const float* tile, const std::uint8_t* sane, const int* sane_count,
                           std::size_t k, std::size_t w, double* partials, float* centre,
                           cudaStream_t stream);

/// acc[i * y_rows + j] += x_i . y_j over w columns (float64, fixed order) for x_rows rows of x
/// (stride ldx) and y_rows rows of y (stride ldy); `partials` holds x_rows * y_rows *
/// reduction_blocks(w) doubles of scratch.
void launch_dots(const float* x, std::size_t ldx, std::size_t x_rows, const float* y,
                 std::size_t ldy, std::size_t y_rows, std::size_t w, double* partials, double* acc,
                 cudaStream_t stream);

/// Per row: subtract the centre, add c . (x - c) to centre_proj, scale the row by a power of two
/// when its largest |value| is outside [1e-15, 1e15] (scale[p], 1 otherwise).
void launch_centre_rows(float* tile, const float* centre, const std::uint8_t* finite, std::size_t k,
                        std::size_t w, double* centre_proj, double* scale, cudaStream_t stream);

/// acc[p * k + q] (p <= q) += prod[p + q * ldp] / (scale[p] * scale[q]).
void launch_accumulate_gram(const float* prod, std::size_t ldp, const double* scale, std::size_t k,
                            double* acc, cudaStream_t stream);

/// out[p * nc + c] = tile[p * w + cols[c] - col0] (a column subset's part of the tile).
void launch_gather_columns(const float* tile, std::size_t k, std::size_t w, std::size_t col0,
                           const std::uint64_t* cols, std::size_t nc, float* out,
                           cudaStream_t stream);

/// Count sketch of the tile (kernels/scan_math.h): acc[p * q + h(j)] += s(j) tile[p * w + j]
/// for the columns col0 + j, via partial (k x q 64-bit integers, zero on entry and on return;
/// fixed point at count_sketch_fixed_scale(max_abs[p], w): deterministic in any order). Rows
/// with max_abs 0 (zero or flagged) add nothing.
void launch_count_sketch(const float* tile, const float* max_abs, std::size_t k, std::size_t w,
                         std::size_t col0, std::uint64_t seed, std::size_t q,
                         unsigned long long* partial, double* acc, cudaStream_t stream);

/// References (r rows of w floats, row stride ld): centre_ref[a] += c . v_a, ref_gram[a, b] +=
/// v_a . v_b (float64), ref_scale[a] = unit scale of max |v_a|, scaled[a * w + j] = v_a[j] *
/// ref_scale[a]. Scratch: dot_scratch r * r * reduction_blocks(w) doubles (at least
/// reduction_blocks(w)), max_scratch r * reduction_blocks(w) floats.
void launch_reference_stats(const float* refs, std::size_t ld, std::size_t r, std::size_t w,
                            const float* centre, double* centre_ref, double* ref_scale,
                            float* scaled, double* ref_gram, double* dot_scratch,
                            float* max_scratch, cudaStream_t stream);
/// ref_proj[p * r + a] += prod[a + p * r] / (scale[p] * ref_scale[a]).
void launch_accumulate_ref_proj(const float* prod, const double* scale, const double* ref_scale,
                                std::size_t k, std::size_t r, double* ref_proj,
                                cudaStream_t stream);

/// out[i] = bfloat16(in[i]) (the bf16 Gram's input).
void launch_to_bf16(const float* in, std::size_t count, void* out, cudaStream_t stream);

// ---- pass 2 (aggregate_kernels.cu, order_stats.cu) ---------------------------------------

/// out[j] = saturate(sum_p coef[p] x_p[col0 + j] + sum_a ref_coef[a] refs[a * ld + j]), each
/// column summed in float64 in row order with no fused multiply-add (bit-identical to the CPU).
template <class T>
void launch_linear_combination(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                               const double* coef, const float* refs, std::size_t ld, std::size_t r,
                               const double* ref_coef, float* out, cudaStream_t stream);

/// dst[p * ld + j] = float(rows[p][col0 + j]) for p < k, j < w.
template <class T>
void launch_convert_rows(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                         float* dst, std::size_t ld, cudaStream_t stream);

enum class Statistic : int { kMedian = 0, kTrimmedMean = 1, kBulyanMean = 2 };

/// The largest m the column-statistic kernel supports on this device (shared memory bound).
std::size_t column_statistic_max_rows(Statistic statistic, int device);

/// out[j] = the statistic of column col0 + j over the m rows (rows[p][col0 + j]).
template <class T>
void launch_column_statistic(const T* const* rows, std::size_t col0, std::size_t w, std::size_t m,
                             Statistic statistic, std::size_t param, float* out, int device,
                             cudaStream_t stream);

}  // namespace fedguard::kernels
