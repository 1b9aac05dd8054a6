// Pass 2: per-column order statistics (median, trimmed mean, Bulyan's mean around the median)
// over m rows, for m from 1 to the shared-memory bound (about 56,000 rows on an H100 for the
// median and the trimmed mean, 32,768 for Bulyan's mean).
//
// One block takes C adjacent columns, C in 1 .. 32 chosen to keep the most columns resident per
// SM (stat_shape), with one warp per column up to 8 warps (no idle warps: at m = 10,000 a block
// holds 1-5 columns, and the SM holds as many such blocks as its shared memory allows). Each value
// is read once from device memory: the block loads its C columns of every row (C contiguous values
// per row, coalesced) into shared memory as order-preserving uint32 keys, one column per
// stride-(m|1) run so the transposing writes are free of bank conflicts. Then each warp owns whole
// columns:
//  - median and trimmed mean: radix selection (four 8-bit histogram passes over the column's
//    keys in shared memory, warp-private histogram) of the one or two order statistics
//    needed, and one more pass for the counts and the sum of the values strictly between
//    them (float64, lane-strided then a fixed shuffle tree);
//  - Bulyan's mean: a bitonic sort of the column (padded to a power of two with +max keys),
//    then the CPU backend's greedy walk outwards from the median, so the result is the CPU's
//    bit for bit (the same values summed in the same order in float64).
// Ties and signed zeros: keys order -0 before +0; either way the values summed are equal.
// Everything is deterministic: counts are order-free and every sum has a fixed order.
#include <algorithm>
#include <mutex>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/device_common.cuh"
#include "kernels/kernels.cuh"

namespace fedguard::kernels {
namespace {

using namespace detail;

constexpr int kStatThreads = 256;  // at most: one warp per column, up to 8 per block
constexpr int kStatWarps = kStatThreads / kWarp;
constexpr int kMaxColumns = 32;
constexpr std::size_t kWarpHistBytes = 256 * sizeof(int);
std::size_t hist_bytes(int warps) { return static_cast<std::size_t>(warps) * kWarpHistBytes; }

__device__ double median_of(const std::uint32_t* col, int m, int* hist) {
  const int lane = threadIdx.x % kWarp;
  const int h = m / 2;
  auto key_at = [col](int i) { return col[i]; };
  const std::uint32_t up = warp_select(key_at, m, h, hist);
  if (m % 2 == 1) return static_cast<double>(key_float(up));
  int less = 0;
  std::uint32_t best = 0;
  for (int i = lane; i < m; i += kWarp) {
    const std::uint32_t k = col[i];
    if (k < up) {
      ++less;
      best = k > best ? k : best;
    }
  }
  less = warp_reduce(less, SumOp{});
  best = warp_reduce(best, MaxOp{});
  const std::uint32_t lo = less <= h - 1 ? up : best;
  return 0.5 * (static_cast<double>(key_float(lo)) + static_cast<double>(key_float(up)));
}

__device__ double trimmed_mean_of(const std::uint32_t* col, int m, int b, int* hist) {
  const int lane = threadIdx.x % kWarp;
  if (b == 0) {
    double s = 0;
    for (int i = lane; i < m; i += kWarp) s += static_cast<double>(key_float(col[i]));
    return warp_reduce(s, SumOp{}) / static_cast<double>(m);
  }
  auto key_at = [col](int i) { return col[i]; };
  const std::uint32_t lo = warp_select(key_at, m, b, hist);
  const std::uint32_t hi = warp_select(key_at, m, m - 1 - b, hist);
  const double lo_f = key_float(lo), hi_f = key_float(hi);
  const int kept = m - 2 * b;
  if (lo == hi) return lo_f;  // every kept value is lo
  int le_lo = 0, lt_hi = 0;
  double between = 0;
  for (int i = lane; i < m; i += kWarp) {
    const std::uint32_t k = col[i];
    le_lo += k <= lo;
    lt_hi += k < hi;
    if (k > lo && k < hi) between += static_cast<double>(key_float(k));
  }
  le_lo = warp_reduce(le_lo, SumOp{});
  lt_hi = warp_reduce(lt_hi, SumOp{});
  between = warp_reduce(between, SumOp{});
  // Sorted positions [b, m - b) keep: lo at [b, le_lo), the values strictly between, and hi at
  // [lt_hi, m - b).
  const double total =
      between + lo_f * static_cast<double>(le_lo - b) + hi_f * static_cast<double>(m - b - lt_hi);
  return total / static_cast<double>(kept);
}

// Sorts col[0, mp) ascending (mp a power of two) by one warp.
__device__ void warp_bitonic_sort(std::uint32_t* col, int mp) {
  const int lane = threadIdx.x % kWarp;
  for (int size = 2; size <= mp; size <<= 1) {
    for (int j = size >> 1; j > 0; j >>= 1) {
      for (int t = lane; t < mp / 2; t += kWarp) {
        const int i = 2 * t - (t & (j - 1));
        const int l = i + j;
        const bool ascending = (i & size) == 0;
        const std::uint32_t a = col[i], b = col[l];
        if ((a > b) == ascending) {
          col[i] = b;
          col[l] = a;
        }
      }
      __syncwarp();
    }
  }
}

// The CPU backend's sorted_statistic for Bulyan's mean, on a sorted column (lane 0 only).
__device__ double bulyan_of_sorted(const std::uint32_t* col, int m, int beta) {
  auto at = [col](int i) { return static_cast<double>(key_float(col[i])); };
  const int h = m / 2;
  const double med = m % 2 ? at(h) : 0.5 * (at(h - 1) + at(h));
  int right = 0;
  while (right < m && at(right) < med) ++right;
  int left = right - 1;
  double sum = 0;
  for (int taken = 0; taken < beta; ++taken) {
    const bool take_left = left >= 0 && (right >= m || med - at(left) <= at(right) - med);
    sum += take_left ? at(left--) : at(right++);
  }
  return sum / static_cast<double>(beta);
}

template <class T>
__global__ void __launch_bounds__(kStatThreads)
    column_statistic_kernel(const T* const* rows, std::size_t col0, int w, int m, int columns,
                            int stride, int padded, Statistic statistic, int param, float* out) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int warps = blockDim.x / kWarp;  // min(columns, kStatWarps): no warp without a column
  int* hist_all = reinterpret_cast<int*>(smem);
  std::uint32_t* keys = reinterpret_cast<std::uint32_t*>(smem + warps * kWarpHistBytes);
  const int cb = blockIdx.x * columns;
  const int here = min(columns, w - cb);
  // Load: consecutive threads take consecutive columns of one row (coalesced reads), kLoadAhead
  // loads in flight per thread before their keys are stored: with one at a time the load phase
  // waited on memory for half the kernel's time (Nsight Compute on an H200, m = 1000,
  // 2026-12-04: 300 GB/s, 16 warps per SM, shared memory bounding the occupancy).
  constexpr int kLoadAhead = 8;
  const int total = padded * columns;
  for (int base = threadIdx.x; base < total; base += kLoadAhead * blockDim.x) {
    std::uint32_t key[kLoadAhead];
#pragma unroll
    for (int u = 0; u < kLoadAhead; ++u) {
      const int idx = base + u * blockDim.x;
      const int i = idx / columns, c = idx % columns;
      key[u] = 0xffffffffu;  // padding sorts last
      if (idx < total && i < m && c < here) key[u] = float_key(to_float(rows[i][col0 + cb + c]));
    }
#pragma unroll
    for (int u = 0; u < kLoadAhead; ++u) {
      const int idx = base + u * blockDim.x;
      if (idx < total) keys[(idx % columns) * stride + idx / columns] = key[u];
    }
  }
  __syncthreads();
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  int* hist = hist_all + warp * 256;
  for (int c = warp; c < here; c += warps) {
    std::uint32_t* col = keys + c * stride;
    double v = 0;
    if (statistic == Statistic::kMedian) {
      v = median_of(col, m, hist);
    } else if (statistic == Statistic::kTrimmedMean) {
      v = trimmed_mean_of(col, m, param, hist);
    } else {
      warp_bitonic_sort(col, padded);
      if (lane == 0) v = bulyan_of_sorted(col, m, param);
    }
    if (lane == 0) out[cb + c] = saturate(v);
    __syncwarp();
  }
}

int padded_rows(Statistic s, std::size_t m) {
  if (s != Statistic::kBulyanMean) return static_cast<int>(m);
  int p = 1;
  while (static_cast<std::size_t>(p) < m) p <<= 1;
  return p;
}

std::size_t device_attribute(cudaDeviceAttr attr, int device) {
  int v = 0;
  FEDGUARD_CUDA_TRY(cudaDeviceGetAttribute(&v, attr, device));
  return static_cast<std::size_t>(v);
}
std::size_t optin_smem(int device) {
  return device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
}

// Raises the kernel's dynamic shared memory limit on `device` to `bytes`. A per-(function,
// device) attribute: remembered per instantiation and device once it succeeded, retried after a
// failure (a failure is never cached).
template <class T>
void allow_smem(int device, std::size_t bytes) {
  static std::mutex mutex;
  static std::vector<std::size_t> raised;  // per device ordinal: the limit set, 0 = not yet
  std::lock_guard<std::mutex> lock(mutex);
  if (raised.size() <= static_cast<std::size_t>(device))
    raised.resize(static_cast<std::size_t>(device) + 1, 0);
  if (raised[static_cast<std::size_t>(device)] >= bytes) return;
  FEDGUARD_CUDA_TRY(cudaFuncSetAttribute(column_statistic_kernel<T>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
  raised[static_cast<std::size_t>(device)] = bytes;
}

// Columns per block: the count (1 .. 32) that keeps the most columns resident per SM (each
// column is one warp's work), the larger count on a tie. A block of c columns has min(c, 8)
// warps and needs hist_bytes(warps) + c * stride * 4 bytes; an SM holds
// floor(smem_per_sm / (that + 1 KiB reserved)) such blocks, at most 2048 / threads of them.
struct StatShape {
  int columns = 1, warps = 1;
  std::size_t smem = 0;
};
StatShape stat_shape(int stride, std::size_t cap_per_block, std::size_t smem_per_sm) {
  StatShape best;
  std::size_t best_resident = 0;
  for (int c = 1; c <= kMaxColumns; ++c) {
    const int warps = std::min(c, kStatWarps);
    const std::size_t bytes =
        hist_bytes(warps) + static_cast<std::size_t>(c) * stride * sizeof(std::uint32_t);
    if (bytes > cap_per_block) break;
    const std::size_t by_smem = smem_per_sm / (bytes + 1024);
    const std::size_t by_threads = 2048 / (static_cast<std::size_t>(warps) * kWarp);
    const std::size_t resident = std::min(by_smem, by_threads) * static_cast<std::size_t>(c);
    if (resident >= best_resident) {
      best_resident = resident;
      best = StatShape{c, warps, bytes};
    }
  }
  return best;
}

}  // namespace

std::size_t column_statistic_max_rows(Statistic statistic, int device) {
  const std::size_t cap = optin_smem(device);
  if (cap <= hist_bytes(1) + 8) return 0;
  const std::size_t words =
      (cap - hist_bytes(1)) / sizeof(std::uint32_t);  // one column, one warp: stride <= words
  if (statistic != Statistic::kBulyanMean) return words - 1;
  std::size_t p = 1;
  while (2 * p + 1 <= words) p <<= 1;
  return p;
}

template <class T>
void launch_column_statistic(const T* const* rows, std::size_t col0, std::size_t w, std::size_t m,
                             Statistic statistic, std::size_t param, float* out, int device,
                             cudaStream_t stream) {
  if (w == 0) return;
  FEDGUARD_EXPECTS(m >= 1, "column statistic over zero rows");
  const std::size_t max_rows = column_statistic_max_rows(statistic, device);
  if (m > max_rows)
    FEDGUARD_THROW(kUnsupported, "the CUDA column statistic supports at most "
                                     << max_rows << " rows on this device, got " << m);
  FEDGUARD_EXPECTS(w <= (std::size_t{1} << 30), "column tile of " << w << " columns is too wide");
  const int padded = padded_rows(statistic, m);
  const int stride = padded | 1;  // odd: the transposing writes hit 32 distinct banks
  const std::size_t cap = optin_smem(device);
  const StatShape shape = stat_shape(
      stride, cap, device_attribute(cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
  if (shape.smem == 0 || shape.smem > cap)
    FEDGUARD_THROW(kUnsupported, "column statistic over " << m << " rows needs more than " << cap
                                                          << " bytes of shared memory");
  allow_smem<T>(device, cap);
  const auto blocks = static_cast<unsigned>((w + shape.columns - 1) / shape.columns);
  column_statistic_kernel<T><<<blocks, shape.warps * kWarp, shape.smem, stream>>>(
      rows, col0, static_cast<int>(w), static_cast<int>(m), shape.columns, stride, padded,
      statistic, static_cast<int>(param), out);
  FEDGUARD_CUDA_CHECK_LAUNCH("column_statistic");
}

template void launch_column_statistic<float>(const float* const*, std::size_t, std::size_t,
                                             std::size_t, Statistic, std::size_t, float*, int,
                                             cudaStream_t);
template void launch_column_statistic<__half>(const __half* const*, std::size_t, std::size_t,
                                              std::size_t, Statistic, std::size_t, float*, int,
                                              cudaStream_t);
template void launch_column_statistic<__nv_bfloat16>(const __nv_bfloat16* const*, std::size_t,
                                                     std::size_t, std::size_t, Statistic,
                                                     std::size_t, float*, int, cudaStream_t);

}  // namespace fedguard::kernels
