// Pass 2, linear rules and the conversion feeding the mixing GEMM.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/device_common.cuh"
#include "kernels/kernels.cuh"

namespace fedguard::kernels {
namespace {

using namespace detail;

constexpr unsigned kThreads = 256;

// saturate(): kernels/scan_math.h (NaN kept, as on the CPU).

// One thread per column; rows in order; __dmul_rn / __dadd_rn keep nvcc from fusing into FMA,
// so every column is the CPU backend's float64 sum bit for bit.
template <class T>
__global__ void linear_combination_kernel(const T* const* rows, std::size_t col0, std::size_t w,
                                          std::size_t k, const double* coef, const float* refs,
                                          std::size_t ld, std::size_t r, const double* ref_coef,
                                          float* out) {
  const std::size_t j = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (j >= w) return;
  // Eight rows' loads are issued before their sums (one load in flight per thread reached 12%
  // of the copy bandwidth on an H200); the additions keep the row order.
  constexpr std::size_t kAhead = 8;
  double acc = 0;
  std::size_t p = 0;
  for (; p + kAhead <= k; p += kAhead) {
    float v[kAhead];
#pragma unroll
    for (std::size_t u = 0; u < kAhead; ++u) v[u] = to_float(rows[p + u][col0 + j]);
#pragma unroll
    for (std::size_t u = 0; u < kAhead; ++u)
      acc = __dadd_rn(acc, __dmul_rn(coef[p + u], static_cast<double>(v[u])));
  }
  for (; p < k; ++p)
    acc = __dadd_rn(acc, __dmul_rn(coef[p], static_cast<double>(to_float(rows[p][col0 + j]))));
  for (std::size_t a = 0; a < r; ++a)
    acc = __dadd_rn(acc, __dmul_rn(ref_coef[a], static_cast<double>(refs[a * ld + j])));
  out[j] = saturate(acc);
}

template <class T>
__global__ void convert_rows_kernel(const T* const* rows, std::size_t col0, std::size_t w,
                                    float* dst, std::size_t ld) {
  const std::size_t p = blockIdx.y;
  const T* src = rows[p] + col0;
  for (std::size_t j = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; j < w;
       j += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[p * ld + j] = to_float(src[j]);
}

}  // namespace

template <class T>
void launch_linear_combination(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                               const double* coef, const float* refs, std::size_t ld, std::size_t r,
                               const double* ref_coef, float* out, cudaStream_t stream) {
  if (w == 0) return;
  const auto blocks = static_cast<unsigned>((w + kThreads - 1) / kThreads);
  linear_combination_kernel<T>
      <<<blocks, kThreads, 0, stream>>>(rows, col0, w, k, coef, refs, ld, r, ref_coef, out);
  FEDGUARD_CUDA_CHECK_LAUNCH("linear_combination");
}

template <class T>
void launch_convert_rows(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k,
                         float* dst, std::size_t ld, cudaStream_t stream) {
  if (w == 0 || k == 0) return;
  FEDGUARD_EXPECTS(k <= 65535, "convert_rows over " << k << " rows (grid limit 65535)");
  const auto x = static_cast<unsigned>(std::min<std::size_t>((w + kThreads - 1) / kThreads, 1024));
  convert_rows_kernel<T>
      <<<dim3(x, static_cast<unsigned>(k)), kThreads, 0, stream>>>(rows, col0, w, dst, ld);
  FEDGUARD_CUDA_CHECK_LAUNCH("convert_rows");
}

#define FEDGUARD_INSTANTIATE(T)                                                                \
  template void launch_linear_combination<T>(                                                  \
      const T* const*, std::size_t, std::size_t, std::size_t, const double*, const float*,     \
      std::size_t, std::size_t, const double*, float*, cudaStream_t);                          \
  template void launch_convert_rows<T>(const T* const*, std::size_t, std::size_t, std::size_t, \
                                       float*, std::size_t, cudaStream_t);
FEDGUARD_INSTANTIATE(float)
FEDGUARD_INSTANTIATE(__half)
FEDGUARD_INSTANTIATE(__nv_bfloat16)
#undef FEDGUARD_INSTANTIATE

}  // namespace fedguard::kernels
