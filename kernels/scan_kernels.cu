// Pass-1 tile kernels: the device side of host/backend/cpu/scan_cpu.cc, step for step (robust
// per-tile centre, power-of-two row scaling, float64 accumulation, sign counts, finiteness,
// count sketch, column subsets, references). The Gram products themselves are cuBLAS calls made by
// the driver (host/backend/cuda/scan_cuda.cu).
#include <algorithm>
#include <climits>

#include "kernels/cuda_check.cuh"
#include "kernels/device_common.cuh"
#include "kernels/kernels.cuh"

namespace fedguard::kernels {
namespace {

using namespace detail;

// Launch shapes. Element kernels are grid-stride loops over at most 2^20 blocks, so no launch
// has an element cap; reductions over a tile's columns use reduction_blocks(w) blocks per vector,
// a function of w alone, so their partial sums (added in block order) are deterministic.
constexpr unsigned kThreads = 256;
unsigned grid_for(std::size_t count, unsigned block) {
  const std::size_t g = (count + block - 1) / block;
  return static_cast<unsigned>(std::min<std::size_t>(std::max<std::size_t>(g, 1), 1u << 20));
}
__device__ __forceinline__ std::size_t global_index() {
  return blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
}
__device__ __forceinline__ std::size_t grid_stride() {
  return static_cast<std::size_t>(gridDim.x) * blockDim.x;
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    load_row_stats_kernel(const T* const* rows, std::size_t col0, std::size_t w, float* tile,
                          float* max_abs, ScanAccumulators acc) {
  __shared__ double s_d[kBlock / kWarp];
  __shared__ float s_f[kBlock / kWarp];
  __shared__ long long s_i[kBlock / kWarp];
  const std::size_t p = blockIdx.x;
  float* dst = tile + p * w;
  const bool was_finite = acc.finite[p] != 0;  // read by every thread before anyone writes it
  if (!was_finite) {
    for (std::size_t j = threadIdx.x; j < w; j += kBlock) dst[j] = 0.0f;
    if (threadIdx.x == 0) max_abs[p] = 0.0f;
    return;
  }
  const T* src = rows[p] + col0;
  double sq = 0;
  float mx = 0;
  long long pos = 0, neg = 0, bad = 0;
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) {
    const float x = to_float(src[j]);
    dst[j] = x;
    const float a = fabsf(x);
    bad += !(a <= FLT_MAX);
    mx = fmaxf(mx, a);
    sq += static_cast<double>(x) * static_cast<double>(x);
    pos += x > 0.0f;
    neg += x < 0.0f;
  }
  sq = block_reduce(sq, SumOp{}, s_d);
  mx = block_reduce(mx, MaxOp{}, s_f);
  bad = block_reduce(bad, SumOp{}, s_i);
  pos = block_reduce(pos, SumOp{}, s_i);
  neg = block_reduce(neg, SumOp{}, s_i);
  if (bad > 0) {
    for (std::size_t j = threadIdx.x; j < w; j += kBlock) dst[j] = 0.0f;
    if (threadIdx.x == 0) {
      acc.finite[p] = 0;
      max_abs[p] = 0.0f;
    }
    return;
  }
  if (threadIdx.x == 0) {
    max_abs[p] = mx;
    acc.norms_sq[p] += sq;
    acc.positive[p] += pos;
    acc.negative[p] += neg;
    acc.zero[p] += static_cast<long long>(w) - pos - neg;
  }
}

__global__ void robust_limit_kernel(const float* max_abs, const std::uint8_t* finite, int k,
                                    std::uint8_t* sane, int* sane_count) {
  __shared__ int hist[256];
  const int lane = threadIdx.x;
  int finite_rows = 0;
  for (int p = lane; p < k; p += kWarp) finite_rows += finite[p] != 0;
  finite_rows = warp_reduce(finite_rows, SumOp{});
  float limit = 0.0f;
  if (finite_rows > 0) {
    // Flagged rows sort last (key 0xffffffff), so rank (finite_rows - 1) / 2 among all rows is
    // the lower median of the finite ones, as the CPU backend's nth_element.
    auto key_at = [&](int p) { return finite[p] ? float_key(max_abs[p]) : 0xffffffffu; };
    const std::uint32_t key = warp_select(key_at, k, (finite_rows - 1) / 2, hist);
    limit = key_float(key) * 4.0f;
  }
  int count = 0;
  for (int p = lane; p < k; p += kWarp) {
    const bool s = finite[p] && max_abs[p] <= limit;
    sane[p] = s;
    count += s;
  }
  count = warp_reduce(count, SumOp{});
  if (lane == 0) *sane_count = count;
}

// The centre in kCentreRowChunk order (kernels/scan_math.h, as the CPU): grid (column blocks,
// row chunks); thread (j, chunk) sums its chunk's sane rows of column j in row order, then
// centre_columns_finish adds the chunk sums of each column in chunk order. At n = 10,000 and a
// 1,536-column tile that is 6 x 313 blocks, where one thread per column walking every row gave 6.
__global__ void centre_columns_kernel(const float* tile, const std::uint8_t* sane, std::size_t k,
                                      std::size_t w, double* partials) {
  const std::size_t j = global_index();
  if (j >= w) return;
  const std::size_t p0 = blockIdx.y * kCentreRowChunk, p1 = min(k, p0 + kCentreRowChunk);
  double sum = 0;
  for (std::size_t p = p0; p < p1; ++p)
    if (sane[p]) sum += tile[p * w + j];
  partials[blockIdx.y * w + j] = sum;
}

__global__ void centre_columns_finish_kernel(const double* partials, std::size_t chunks,
                                             const int* sane_count, std::size_t w, float* centre) {
  const int n = *sane_count;
  const double inv = n ? 1.0 / static_cast<double>(n) : 0.0;
  for (std::size_t j = global_index(); j < w; j += grid_stride()) {
    double sum = 0;
    for (std::size_t c = 0; c < chunks; ++c) sum += partials[c * w + j];
    centre[j] = static_cast<float>(sum * inv);
  }
}

// Dot products of rows of x with rows of y over w columns: pair t = (i, jy) = (t / y_rows,
// t % y_rows) gets blocks [0, gridDim.x) (blockIdx.y = t), each a fixed column set; the block
// sums go to partials[t * gridDim.x + b] and dots_finish adds them in block order.
__global__ void __launch_bounds__(kBlock)
    dot_partials_kernel(const float* x, std::size_t ldx, const float* y, std::size_t ldy,
                        std::size_t y_rows, std::size_t w, double* partials) {
  __shared__ double s_d[kBlock / kWarp];
  const std::size_t t = blockIdx.y, i = t / y_rows, jy = t % y_rows;
  const float* a = x + i * ldx;
  const float* b = y + jy * ldy;
  double s = 0;
  for (std::size_t j = global_index(); j < w; j += grid_stride())
    s += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  s = block_reduce(s, SumOp{}, s_d);
  if (threadIdx.x == 0) partials[t * gridDim.x + blockIdx.x] = s;
}

__global__ void dots_finish_kernel(const double* partials, std::size_t pairs, std::size_t blocks,
                                   double* acc) {
  for (std::size_t t = global_index(); t < pairs; t += grid_stride()) {
    double s = 0;
    for (std::size_t b = 0; b < blocks; ++b) s += partials[t * blocks + b];
    acc[t] += s;
  }
}

// Largest |value| of each of `rows` rows (stride ld) over w columns, in blocks as dot_partials.
__global__ void __launch_bounds__(kBlock)
    max_abs_partials_kernel(const float* x, std::size_t ld, std::size_t w, float* partials) {
  __shared__ float s_f[kBlock / kWarp];
  const float* a = x + blockIdx.y * ld;
  float m = 0;
  for (std::size_t j = global_index(); j < w; j += grid_stride()) m = fmaxf(m, fabsf(a[j]));
  m = block_reduce(m, MaxOp{}, s_f);
  if (threadIdx.x == 0) partials[blockIdx.y * gridDim.x + blockIdx.x] = m;
}

__global__ void unit_scales_kernel(const float* partials, std::size_t rows, std::size_t blocks,
                                   double* scale) {
  for (std::size_t a = global_index(); a < rows; a += grid_stride()) {
    float m = 0;
    for (std::size_t b = 0; b < blocks; ++b) m = fmaxf(m, partials[a * blocks + b]);
    scale[a] = unit_scale(m);
  }
}

// out[a * w + j] = v_a[j] * scale[a] (rows of stride ld in, stride w out).
__global__ void scale_rows_kernel(const float* x, std::size_t ld, std::size_t rows, std::size_t w,
                                  const double* scale, float* out) {
  for (std::size_t idx = global_index(); idx < rows * w; idx += grid_stride()) {
    const std::size_t a = idx / w, j = idx % w;
    out[idx] = apply_scale(x[a * ld + j], scale[a]);
  }
}

__global__ void __launch_bounds__(kBlock)
    centre_rows_kernel(float* tile, const float* centre, const std::uint8_t* finite, std::size_t w,
                       double* centre_proj, double* scale) {
  __shared__ double s_d[kBlock / kWarp];
  __shared__ float s_f[kBlock / kWarp];
  const std::size_t p = blockIdx.x;
  if (!finite[p]) {  // the row is all zeros already
    if (threadIdx.x == 0) scale[p] = 1.0;
    return;
  }
  float* row = tile + p * w;
  double proj = 0;
  float mx = 0;
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) {
    const float c = centre[j];
    const float v = row[j] - c;
    row[j] = v;
    proj += static_cast<double>(c) * static_cast<double>(v);
    mx = fmaxf(mx, fabsf(v));
  }
  proj = block_reduce(proj, SumOp{}, s_d);
  mx = block_reduce(mx, MaxOp{}, s_f);
  const double sc = row_scale(mx);
  if (threadIdx.x == 0) {
    centre_proj[p] += proj;
    scale[p] = sc;
  }
  if (sc == 1.0) return;
  // In float64: a subnormal-only row's scale (up to 2^149) is inf as a float32.
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) row[j] = apply_scale(row[j], sc);
}

__global__ void accumulate_gram_kernel(const float* prod, std::size_t ldp, const double* scale,
                                       std::size_t k, double* acc) {
  for (std::size_t idx = global_index(); idx < k * k; idx += grid_stride()) {
    const std::size_t p = idx / k, q = idx % k;  // acc is row-major; q fastest
    if (q < p) continue;
    acc[idx] += static_cast<double>(prod[p + q * ldp]) / (scale[p] * scale[q]);
  }
}

__global__ void gather_columns_kernel(const float* tile, std::size_t k, std::size_t w,
                                      std::size_t col0, const std::uint64_t* cols, std::size_t nc,
                                      float* out) {
  for (std::size_t idx = global_index(); idx < k * nc; idx += grid_stride()) {
    const std::size_t p = idx / nc, c = idx % nc;
    out[idx] = tile[p * w + (cols[c] - col0)];
  }
}

// Count sketch of one tile (kernels/scan_math.h): grid (k rows, column chunks). Each block adds
// its row's values in its columns, as 64-bit integers at the row's count_sketch_fixed_scale, into
// q buckets in shared memory (q <= kSharedSketchBuckets, else straight into the partials), then
// into the tile's k x q integer partials. Integer additions give the same sums in any order:
// atomics, and still bit-identical results run to run. Flagged rows (max_abs 0, their tile row
// zeroed) and zero rows add nothing.
constexpr std::size_t kSharedSketchBuckets = 4096;  // 32 KiB of shared memory
constexpr std::size_t kSketchColumnsPerThread = 8;

__global__ void __launch_bounds__(kThreads)
    count_sketch_kernel(const float* tile, const float* max_abs, std::size_t w, std::size_t col0,
                        std::uint64_t seed, std::size_t q, unsigned long long* partial) {
  extern __shared__ unsigned long long s_bucket[];
  const std::size_t p = blockIdx.x;
  const double scale = count_sketch_fixed_scale(max_abs[p], w);
  if (scale == 0.0) return;  // the whole block: p is the block's
  const bool in_shared = q <= kSharedSketchBuckets;
  unsigned long long* out = partial + p * q;
  unsigned long long* dst = in_shared ? s_bucket : out;
  if (in_shared) {
    for (std::size_t b = threadIdx.x; b < q; b += blockDim.x) s_bucket[b] = 0;
    __syncthreads();
  }
  const float* row = tile + p * w;
  const std::size_t stride = static_cast<std::size_t>(gridDim.y) * blockDim.x;
  for (std::size_t j = blockIdx.y * static_cast<std::size_t>(blockDim.x) + threadIdx.x; j < w;
       j += stride) {
    const float x = row[j];
    if (x == 0.0f) continue;
    const std::uint64_t hash = count_sketch_hash(seed, col0 + j);
    // |x| * scale < 2^(62 - ceil(log2 w)): exact in float64 (a power of two), rounded once.
    const long long v = __double2ll_rn(static_cast<double>(x) * scale);
    atomicAdd(dst + count_sketch_bucket(hash, q),
              static_cast<unsigned long long>(count_sketch_negative(hash) ? -v : v));
  }
  if (in_shared) {
    __syncthreads();
    for (std::size_t b = threadIdx.x; b < q; b += blockDim.x)
      if (s_bucket[b] != 0) atomicAdd(out + b, s_bucket[b]);
  }
}

// acc += partial / scale (exact: a power of two), and the partials zeroed for the next tile.
__global__ void count_sketch_finish_kernel(unsigned long long* partial, const float* max_abs,
                                           std::size_t k, std::size_t w, std::size_t q,
                                           double* acc) {
  for (std::size_t idx = global_index(); idx < k * q; idx += grid_stride()) {
    const unsigned long long u = partial[idx];
    if (u == 0) continue;
    partial[idx] = 0;
    const double scale = count_sketch_fixed_scale(max_abs[idx / q], w);
    acc[idx] += static_cast<double>(static_cast<long long>(u)) / scale;
  }
}

__global__ void accumulate_ref_proj_kernel(const float* prod, const double* scale,
                                           const double* ref_scale, std::size_t k, std::size_t r,
                                           double* ref_proj) {
  for (std::size_t idx = global_index(); idx < k * r; idx += grid_stride()) {
    const std::size_t p = idx / r, a = idx % r;
    ref_proj[idx] += static_cast<double>(prod[a + p * r]) / (scale[p] * ref_scale[a]);
  }
}

__global__ void to_bf16_kernel(const float* in, std::size_t count, __nv_bfloat16* out) {
  for (std::size_t idx = global_index(); idx < count; idx += grid_stride())
    out[idx] = __float2bfloat16_rn(in[idx]);
}

unsigned grid_y(std::size_t v, const char* what) {
  FEDGUARD_EXPECTS(v >= 1 && v <= 65535,
                   what << ": " << v << " rows of blocks (grid y limit 65535)");
  return static_cast<unsigned>(v);
}

}  // namespace

std::size_t reduction_blocks(std::size_t w) {
  return std::min<std::size_t>(
      std::max<std::size_t>((w + kReductionColumnsPerBlock - 1) / kReductionColumnsPerBlock, 1),
      kMaxReductionBlocks);
}

std::size_t centre_chunks(std::size_t k) {
  return std::max<std::size_t>((k + kCentreRowChunk - 1) / kCentreRowChunk, 1);
}

template <class T>
void launch_load_row_stats(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                           float* tile, float* max_abs, const ScanAccumulators& acc,
                           cudaStream_t stream) {
  if (k == 0 || w == 0) return;
  load_row_stats_kernel<T>
      <<<static_cast<unsigned>(k), kBlock, 0, stream>>>(rows, col0, w, tile, max_abs, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("load_row_stats");
}
template void launch_load_row_stats<float>(const float* const*, std::size_t, std::size_t,
                                           std::size_t, float*, float*, const ScanAccumulators&,
                                           cudaStream_t);
template void launch_load_row_stats<__half>(const __half* const*, std::size_t, std::size_t,
                                            std::size_t, float*, float*, const ScanAccumulators&,
                                            cudaStream_t);
template void launch_load_row_stats<__nv_bfloat16>(const __nv_bfloat16* const*, std::size_t,
                                                   std::size_t, std::size_t, float*, float*,
                                                   const ScanAccumulators&, cudaStream_t);

void launch_robust_limit(const float* max_abs, const std::uint8_t* finite, std::size_t k,
                         std::uint8_t* sane, int* sane_count, cudaStream_t stream) {
  FEDGUARD_EXPECTS(k <= static_cast<std::size_t>(INT_MAX), "robust_limit over " << k << " rows");
  robust_limit_kernel<<<1, kWarp, 0, stream>>>(max_abs, finite, static_cast<int>(k), sane,
                                               sane_count);
  FEDGUARD_CUDA_CHECK_LAUNCH("robust_limit");
}

void launch_centre_columns(const float* tile, const std::uint8_t* sane, const int* sane_count,
                           std::size_t k, std::size_t w, double* partials, float* centre,
                           cudaStream_t stream) {
  if (w == 0) return;
  const std::size_t chunks = centre_chunks(k);
  const dim3 grid(grid_for(w, kThreads), grid_y(chunks, "centre_columns"));
  FEDGUARD_EXPECTS(w <= std::size_t{grid.x} * kThreads, "centre_columns over " << w << " columns");
  if (k > 0) {
    centre_columns_kernel<<<grid, kThreads, 0, stream>>>(tile, sane, k, w, partials);
    FEDGUARD_CUDA_CHECK_LAUNCH("centre_columns");
  } else {
    FEDGUARD_CUDA_TRY(cudaMemsetAsync(partials, 0, w * sizeof(double), stream));
  }
  centre_columns_finish_kernel<<<grid_for(w, kThreads), kThreads, 0, stream>>>(
      partials, k > 0 ? chunks : 1, sane_count, w, centre);
  FEDGUARD_CUDA_CHECK_LAUNCH("centre_columns_finish");
}

void launch_dots(const float* x, std::size_t ldx, std::size_t x_rows, const float* y,
                 std::size_t ldy, std::size_t y_rows, std::size_t w, double* partials, double* acc,
                 cudaStream_t stream) {
  const std::size_t pairs = x_rows * y_rows;
  if (pairs == 0) return;
  const std::size_t blocks = reduction_blocks(w);
  if (w > 0) {
    dot_partials_kernel<<<dim3(static_cast<unsigned>(blocks), grid_y(pairs, "dot_partials")),
                          kBlock, 0, stream>>>(x, ldx, y, ldy, y_rows, w, partials);
    FEDGUARD_CUDA_CHECK_LAUNCH("dot_partials");
  } else {
    FEDGUARD_CUDA_TRY(cudaMemsetAsync(partials, 0, pairs * blocks * sizeof(double), stream));
  }
  dots_finish_kernel<<<grid_for(pairs, kThreads), kThreads, 0, stream>>>(partials, pairs, blocks,
                                                                         acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("dots_finish");
}

void launch_centre_rows(float* tile, const float* centre, const std::uint8_t* finite, std::size_t k,
                        std::size_t w, double* centre_proj, double* scale, cudaStream_t stream) {
  if (k == 0) return;
  centre_rows_kernel<<<static_cast<unsigned>(k), kBlock, 0, stream>>>(tile, centre, finite, w,
                                                                      centre_proj, scale);
  FEDGUARD_CUDA_CHECK_LAUNCH("centre_rows");
}

void launch_accumulate_gram(const float* prod, std::size_t ldp, const double* scale, std::size_t k,
                            double* acc, cudaStream_t stream) {
  if (k == 0) return;
  accumulate_gram_kernel<<<grid_for(k * k, kThreads), kThreads, 0, stream>>>(prod, ldp, scale, k,
                                                                             acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("accumulate_gram");
}

void launch_gather_columns(const float* tile, std::size_t k, std::size_t w, std::size_t col0,
                           const std::uint64_t* cols, std::size_t nc, float* out,
                           cudaStream_t stream) {
  if (k * nc == 0) return;
  gather_columns_kernel<<<grid_for(k * nc, kThreads), kThreads, 0, stream>>>(tile, k, w, col0, cols,
                                                                             nc, out);
  FEDGUARD_CUDA_CHECK_LAUNCH("gather_columns");
}

void launch_count_sketch(const float* tile, const float* max_abs, std::size_t k, std::size_t w,
                         std::size_t col0, std::uint64_t seed, std::size_t q,
                         unsigned long long* partial, double* acc, cudaStream_t stream) {
  if (k * w * q == 0) return;
  FEDGUARD_EXPECTS(k <= 0x7fffffffu, "count_sketch over " << k << " rows");
  const std::size_t per_block = kThreads * kSketchColumnsPerThread;
  const unsigned chunks =
      static_cast<unsigned>(std::min<std::size_t>((w + per_block - 1) / per_block, 65535));
  const std::size_t shared = q <= kSharedSketchBuckets ? q * sizeof(unsigned long long) : 0;
  count_sketch_kernel<<<dim3(static_cast<unsigned>(k), chunks), kThreads, shared, stream>>>(
      tile, max_abs, w, col0, seed, q, partial);
  FEDGUARD_CUDA_CHECK_LAUNCH("count_sketch");
  count_sketch_finish_kernel<<<grid_for(k * q, kThreads), kThreads, 0, stream>>>(partial, max_abs,
                                                                                 k, w, q, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("count_sketch_finish");
}

void launch_reference_stats(const float* refs, std::size_t ld, std::size_t r, std::size_t w,
                            const float* centre, double* centre_ref, double* ref_scale,
                            float* scaled, double* ref_gram, double* dot_scratch,
                            float* max_scratch, cudaStream_t stream) {
  if (r == 0) return;
  // c . v_a and v_a . v_b (float64), then the unit scale of each reference and its scaled copy.
  launch_dots(refs, ld, r, centre, 0, 1, w, dot_scratch, centre_ref, stream);
  launch_dots(refs, ld, r, refs, ld, r, w, dot_scratch, ref_gram, stream);
  const std::size_t blocks = reduction_blocks(w);
  if (w > 0) {
    max_abs_partials_kernel<<<dim3(static_cast<unsigned>(blocks), grid_y(r, "max_abs_partials")),
                              kBlock, 0, stream>>>(refs, ld, w, max_scratch);
    FEDGUARD_CUDA_CHECK_LAUNCH("max_abs_partials");
  } else {
    FEDGUARD_CUDA_TRY(cudaMemsetAsync(max_scratch, 0, r * blocks * sizeof(float), stream));
  }
  unit_scales_kernel<<<grid_for(r, kThreads), kThreads, 0, stream>>>(max_scratch, r, blocks,
                                                                     ref_scale);
  FEDGUARD_CUDA_CHECK_LAUNCH("unit_scales");
  if (w == 0) return;
  scale_rows_kernel<<<grid_for(r * w, kThreads), kThreads, 0, stream>>>(refs, ld, r, w, ref_scale,
                                                                        scaled);
  FEDGUARD_CUDA_CHECK_LAUNCH("scale_rows");
}

void launch_accumulate_ref_proj(const float* prod, const double* scale, const double* ref_scale,
                                std::size_t k, std::size_t r, double* ref_proj,
                                cudaStream_t stream) {
  if (k * r == 0) return;
  accumulate_ref_proj_kernel<<<grid_for(k * r, kThreads), kThreads, 0, stream>>>(
      prod, scale, ref_scale, k, r, ref_proj);
  FEDGUARD_CUDA_CHECK_LAUNCH("accumulate_ref_proj");
}

void launch_to_bf16(const float* in, std::size_t count, void* out, cudaStream_t stream) {
  if (count == 0) return;
  to_bf16_kernel<<<grid_for(count, kThreads), kThreads, 0, stream>>>(
      in, count, static_cast<__nv_bfloat16*>(out));
  FEDGUARD_CUDA_CHECK_LAUNCH("to_bf16");
}

}  // namespace fedguard::kernels
