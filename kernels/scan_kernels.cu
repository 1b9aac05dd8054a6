// Pass-1 tile kernels: the device side of host/backend/cpu/scan_cpu.cc, step for step (robust
// per-tile centre, power-of-two row scaling, float64 accumulation, sign counts, finiteness,
// sketch, column subsets, references). The Gram products themselves are cuBLAS calls made by
// the driver (host/backend/cuda/cuda_backend.cu).
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/device_common.cuh"
#include "kernels/kernels.cuh"

namespace fedguard::cuda {
namespace {

using namespace detail;

unsigned grid_for(std::size_t count, unsigned block) {
  const std::size_t g = (count + block - 1) / block;
  return static_cast<unsigned>(std::min<std::size_t>(std::max<std::size_t>(g, 1), 1u << 20));
}

template <class T>
__global__ void __launch_bounds__(kBlock) load_row_stats_kernel(const T* const* rows, std::size_t col0, std::size_t w,
                                                                 float* tile, float* max_abs, ScanAccumulators acc) {
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

__global__ void robust_limit_kernel(const float* max_abs, const std::uint8_t* finite, int k, std::uint8_t* sane,
                                    int* sane_count) {
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

__global__ void centre_columns_kernel(const float* tile, const std::uint8_t* sane, const int* sane_count,
                                      std::size_t k, std::size_t w, float* centre) {
  const std::size_t j = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (j >= w) return;
  double sum = 0;
  for (std::size_t p = 0; p < k; ++p)
    if (sane[p]) sum += tile[p * w + j];
  const int n = *sane_count;
  const double inv = n ? 1.0 / static_cast<double>(n) : 0.0;
  centre[j] = static_cast<float>(sum * inv);
}

__global__ void __launch_bounds__(kBlock) dot_accumulate_kernel(const float* a, const float* b, std::size_t w,
                                                                double* acc) {
  __shared__ double s_d[kBlock / kWarp];
  double s = 0;
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) s += static_cast<double>(a[j]) * static_cast<double>(b[j]);
  s = block_reduce(s, SumOp{}, s_d);
  if (threadIdx.x == 0) *acc += s;
}

__global__ void __launch_bounds__(kBlock) centre_rows_kernel(float* tile, const float* centre,
                                                             const std::uint8_t* finite, std::size_t w,
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
  const bool keep = mx == 0.0f || (mx >= kNoScaleLow && mx <= kNoScaleHigh);
  const double sc = keep ? 1.0 : unit_scale(mx);
  if (threadIdx.x == 0) {
    centre_proj[p] += proj;
    scale[p] = sc;
  }
  if (keep) return;
  const float f = static_cast<float>(sc);
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) row[j] *= f;
}

__global__ void accumulate_gram_kernel(const float* prod, std::size_t ldp, const double* scale, std::size_t k,
                                       double* acc) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= k * k) return;
  const std::size_t p = idx / k, q = idx % k;  // acc is row-major; q fastest
  if (q < p) return;
  acc[idx] += static_cast<double>(prod[p + q * ldp]) / (scale[p] * scale[q]);
}

__global__ void gather_columns_kernel(const float* tile, std::size_t k, std::size_t w, std::size_t col0,
                                      const std::uint64_t* cols, std::size_t nc, float* out) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= k * nc) return;
  const std::size_t p = idx / nc, c = idx % nc;
  out[idx] = tile[p * w + (cols[c] - col0)];
}

__global__ void sketch_matrix_kernel(std::uint64_t seed, std::size_t col0, std::size_t w, std::size_t q, float* r) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= w * q) return;
  r[idx] = sketch_entry(seed, col0 + idx / q, idx % q, q);
}

__global__ void sketch_rows_kernel(const float* tile, const float* max_abs, std::size_t k, std::size_t w, float* out,
                                   double* scale) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= k * w) return;
  const std::size_t p = idx / w;
  const float mx = max_abs[p];
  const double sc = mx >= kNoScaleLow && mx <= kNoScaleHigh ? 1.0 : unit_scale(mx);
  out[idx] = tile[idx] * static_cast<float>(sc);
  if (idx % w == 0) scale[p] = sc;
}

__global__ void accumulate_scaled_rows_kernel(const float* prod, const double* scale, std::size_t k, std::size_t q,
                                              double* acc) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= k * q) return;
  acc[idx] += static_cast<double>(prod[idx]) / scale[idx / q];
}

__global__ void __launch_bounds__(kBlock) reference_stats_kernel(const float* refs, std::size_t ld, std::size_t w,
                                                                 const float* centre, double* centre_ref,
                                                                 double* ref_scale, float* scaled) {
  __shared__ double s_d[kBlock / kWarp];
  __shared__ float s_f[kBlock / kWarp];
  const std::size_t a = blockIdx.x;
  const float* v = refs + a * ld;
  double cv = 0;
  float mx = 0;
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) {
    mx = fmaxf(mx, fabsf(v[j]));
    cv += static_cast<double>(centre[j]) * static_cast<double>(v[j]);
  }
  cv = block_reduce(cv, SumOp{}, s_d);
  mx = block_reduce(mx, MaxOp{}, s_f);
  const double sc = unit_scale(mx);
  if (threadIdx.x == 0) {
    centre_ref[a] += cv;
    ref_scale[a] = sc;
  }
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) scaled[a * w + j] = static_cast<float>(v[j] * sc);
}

__global__ void __launch_bounds__(kBlock) reference_gram_kernel(const float* refs, std::size_t ld, std::size_t r,
                                                                std::size_t w, double* ref_gram) {
  __shared__ double s_d[kBlock / kWarp];
  const std::size_t a = blockIdx.x / r, b = blockIdx.x % r;
  const float* u = refs + a * ld;
  const float* v = refs + b * ld;
  double s = 0;
  for (std::size_t j = threadIdx.x; j < w; j += kBlock) s += static_cast<double>(u[j]) * static_cast<double>(v[j]);
  s = block_reduce(s, SumOp{}, s_d);
  if (threadIdx.x == 0) ref_gram[a * r + b] += s;
}

__global__ void accumulate_ref_proj_kernel(const float* prod, const double* scale, const double* ref_scale,
                                           std::size_t k, std::size_t r, double* ref_proj) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= k * r) return;
  const std::size_t p = idx / r, a = idx % r;
  ref_proj[idx] += static_cast<double>(prod[a + p * r]) / (scale[p] * ref_scale[a]);
}

__global__ void to_bf16_kernel(const float* in, std::size_t count, __nv_bfloat16* out) {
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx < count) out[idx] = __float2bfloat16_rn(in[idx]);
}

// Grid-stride loops are not used: each element kernel gets ceil(count / 256) blocks, which
// caps count at 2^28 elements per launch; the driver's tiles stay far below that.
constexpr unsigned kThreads = 256;
void check_elements(std::size_t count, const char* what) {
  if (count > (std::size_t{1} << 20) * kThreads)
    FEDGUARD_THROW(kDeviceFailure, "kernel " << what << " asked for " << count << " elements in one launch");
}

}  // namespace

template <class T>
void launch_load_row_stats(const T* const* rows, std::size_t col0, std::size_t w, std::size_t k, float* tile,
                           float* max_abs, const ScanAccumulators& acc, cudaStream_t stream) {
  if (k == 0 || w == 0) return;
  load_row_stats_kernel<T><<<static_cast<unsigned>(k), kBlock, 0, stream>>>(rows, col0, w, tile, max_abs, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("load_row_stats");
}
template void launch_load_row_stats<float>(const float* const*, std::size_t, std::size_t, std::size_t, float*, float*,
                                           const ScanAccumulators&, cudaStream_t);
template void launch_load_row_stats<__half>(const __half* const*, std::size_t, std::size_t, std::size_t, float*,
                                            float*, const ScanAccumulators&, cudaStream_t);
template void launch_load_row_stats<__nv_bfloat16>(const __nv_bfloat16* const*, std::size_t, std::size_t, std::size_t,
                                                   float*, float*, const ScanAccumulators&, cudaStream_t);

void launch_robust_limit(const float* max_abs, const std::uint8_t* finite, std::size_t k, std::uint8_t* sane,
                         int* sane_count, cudaStream_t stream) {
  robust_limit_kernel<<<1, kWarp, 0, stream>>>(max_abs, finite, static_cast<int>(k), sane, sane_count);
  FEDGUARD_CUDA_CHECK_LAUNCH("robust_limit");
}

void launch_centre_columns(const float* tile, const std::uint8_t* sane, const int* sane_count, std::size_t k,
                           std::size_t w, float* centre, cudaStream_t stream) {
  check_elements(w, "centre_columns");
  centre_columns_kernel<<<grid_for(w, kThreads), kThreads, 0, stream>>>(tile, sane, sane_count, k, w, centre);
  FEDGUARD_CUDA_CHECK_LAUNCH("centre_columns");
}

void launch_dot_accumulate(const float* a, const float* b, std::size_t w, double* acc, cudaStream_t stream) {
  dot_accumulate_kernel<<<1, kBlock, 0, stream>>>(a, b, w, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("dot_accumulate");
}

void launch_centre_rows(float* tile, const float* centre, const std::uint8_t* finite, std::size_t k, std::size_t w,
                        double* centre_proj, double* scale, cudaStream_t stream) {
  if (k == 0) return;
  centre_rows_kernel<<<static_cast<unsigned>(k), kBlock, 0, stream>>>(tile, centre, finite, w, centre_proj, scale);
  FEDGUARD_CUDA_CHECK_LAUNCH("centre_rows");
}

void launch_accumulate_gram(const float* prod, std::size_t ldp, const double* scale, std::size_t k, double* acc,
                            cudaStream_t stream) {
  check_elements(k * k, "accumulate_gram");
  accumulate_gram_kernel<<<grid_for(k * k, kThreads), kThreads, 0, stream>>>(prod, ldp, scale, k, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("accumulate_gram");
}

void launch_gather_columns(const float* tile, std::size_t k, std::size_t w, std::size_t col0,
                           const std::uint64_t* cols, std::size_t nc, float* out, cudaStream_t stream) {
  if (k * nc == 0) return;
  check_elements(k * nc, "gather_columns");
  gather_columns_kernel<<<grid_for(k * nc, kThreads), kThreads, 0, stream>>>(tile, k, w, col0, cols, nc, out);
  FEDGUARD_CUDA_CHECK_LAUNCH("gather_columns");
}

void launch_sketch_matrix(std::uint64_t seed, std::size_t col0, std::size_t w, std::size_t q, float* r,
                          cudaStream_t stream) {
  check_elements(w * q, "sketch_matrix");
  sketch_matrix_kernel<<<grid_for(w * q, kThreads), kThreads, 0, stream>>>(seed, col0, w, q, r);
  FEDGUARD_CUDA_CHECK_LAUNCH("sketch_matrix");
}

void launch_sketch_rows(const float* tile, const float* max_abs, std::size_t k, std::size_t w, float* out,
                        double* scale, cudaStream_t stream) {
  check_elements(k * w, "sketch_rows");
  sketch_rows_kernel<<<grid_for(k * w, kThreads), kThreads, 0, stream>>>(tile, max_abs, k, w, out, scale);
  FEDGUARD_CUDA_CHECK_LAUNCH("sketch_rows");
}

void launch_accumulate_scaled_rows(const float* prod, const double* scale, std::size_t k, std::size_t q, double* acc,
                                   cudaStream_t stream) {
  check_elements(k * q, "accumulate_scaled_rows");
  accumulate_scaled_rows_kernel<<<grid_for(k * q, kThreads), kThreads, 0, stream>>>(prod, scale, k, q, acc);
  FEDGUARD_CUDA_CHECK_LAUNCH("accumulate_scaled_rows");
}

void launch_reference_stats(const float* refs, std::size_t ld, std::size_t r, std::size_t w, const float* centre,
                            double* centre_ref, double* ref_scale, float* scaled, double* ref_gram,
                            cudaStream_t stream) {
  if (r == 0) return;
  reference_stats_kernel<<<static_cast<unsigned>(r), kBlock, 0, stream>>>(refs, ld, w, centre, centre_ref, ref_scale,
                                                                          scaled);
  FEDGUARD_CUDA_CHECK_LAUNCH("reference_stats");
  reference_gram_kernel<<<static_cast<unsigned>(r * r), kBlock, 0, stream>>>(refs, ld, r, w, ref_gram);
  FEDGUARD_CUDA_CHECK_LAUNCH("reference_gram");
}

void launch_accumulate_ref_proj(const float* prod, const double* scale, const double* ref_scale, std::size_t k,
                                std::size_t r, double* ref_proj, cudaStream_t stream) {
  if (k * r == 0) return;
  accumulate_ref_proj_kernel<<<grid_for(k * r, kThreads), kThreads, 0, stream>>>(prod, scale, ref_scale, k, r,
                                                                                  ref_proj);
  FEDGUARD_CUDA_CHECK_LAUNCH("accumulate_ref_proj");
}

void launch_to_bf16(const float* in, std::size_t count, void* out, cudaStream_t stream) {
  check_elements(count, "to_bf16");
  to_bf16_kernel<<<grid_for(count, kThreads), kThreads, 0, stream>>>(in, count, static_cast<__nv_bfloat16*>(out));
  FEDGUARD_CUDA_CHECK_LAUNCH("to_bf16");
}

}  // namespace fedguard::cuda
