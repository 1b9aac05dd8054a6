// Device helpers shared by the kernels: input conversion, order-preserving float keys,
// deterministic reductions.
// Every reduction here combines partial results in a fixed order (fixed block size, fixed
// shuffle tree), so the same input gives bit-identical output.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <cstdint>

#include "kernels/scan_math.h"

namespace fedguard::kernels::detail {

constexpr int kWarp = 32;
constexpr int kBlock =
    256;  // the block size of every per-row kernel (the reduction tree depends on it)
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

/// Order-preserving map of a float to uint32: a < b (as floats, -0 before +0, NaNs last by
/// bit pattern) iff key(a) < key(b).
__device__ __forceinline__ std::uint32_t float_key(float f) {
  const std::uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_float(std::uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// The row scale, the count sketch's hash and saturation are kernels/scan_math.h's (shared with
// the CPU backend).
using ::fedguard::kernels::apply_scale;
using ::fedguard::kernels::count_sketch_bucket;
using ::fedguard::kernels::count_sketch_fixed_scale;
using ::fedguard::kernels::count_sketch_hash;
using ::fedguard::kernels::count_sketch_negative;
using ::fedguard::kernels::kNoScaleHigh;
using ::fedguard::kernels::kNoScaleLow;
using ::fedguard::kernels::row_scale;
using ::fedguard::kernels::saturate;
using ::fedguard::kernels::unit_scale;

struct SumOp {
  template <class V>
  __device__ __forceinline__ V operator()(V a, V b) const {
    return a + b;
  }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ std::uint32_t operator()(std::uint32_t a, std::uint32_t b) const {
    return a > b ? a : b;
  }
};

/// Warp reduction by a fixed shuffle tree; every lane gets the result.
template <class V, class Op>
__device__ __forceinline__ V warp_reduce(V v, Op op) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) v = op(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

/// Block reduction for blockDim.x == kBlock: warps by shuffles, then warp 0 over the warp
/// results. `scratch` holds kBlock / kWarp values. Every thread gets the result.
template <class V, class Op>
__device__ __forceinline__ V block_reduce(V v, Op op, V* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_reduce(v, op);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  V r = scratch[0];
  for (int i = 1; i < kBlock / kWarp; ++i) r = op(r, scratch[i]);  // same order in every thread
  return r;
}

/// Radix selection by one warp: the key of 0-based rank `rank` among the m keys key_at(i).
/// Four passes over the keys (8 bits each); `hist` is 256 ints of this warp's shared memory.
/// Exact and deterministic (counts do not depend on the order of the atomics).
template <class KeyAt>
__device__ std::uint32_t warp_select(KeyAt key_at, int m, int rank, int* hist) {
  const int lane = threadIdx.x % kWarp;
  std::uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = lane; b < 256; b += kWarp) hist[b] = 0;
    __syncwarp();
#pragma unroll 4
    for (int i = lane; i < m; i += kWarp) {
      const std::uint32_t key = key_at(i);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
    }
    __syncwarp();
    int local[8];
    int sum = 0;
#pragma unroll
    for (int b = 0; b < 8; ++b) {
      local[b] = hist[lane * 8 + b];
      sum += local[b];
    }
    int incl = sum;
#pragma unroll
    for (int off = 1; off < kWarp; off *= 2) {
      const int v = __shfl_up_sync(kFullMask, incl, off);
      if (lane >= off) incl += v;
    }
    const int excl = incl - sum;
    const unsigned owners = __ballot_sync(kFullMask, rank >= excl && rank < incl);
    const int owner = owners ? __ffs(owners) - 1 : 0;
    int digit = 0, next_rank = rank;
    if (lane == owner) {
      int r = rank - excl, b = 0;
      while (b < 7 && r >= local[b]) r -= local[b++];
      digit = lane * 8 + b;
      next_rank = r;
    }
    digit = __shfl_sync(kFullMask, digit, owner);
    rank = __shfl_sync(kFullMask, next_rank, owner);
    prefix |= static_cast<std::uint32_t>(digit) << shift;
    mask |= 0xffu << shift;
    __syncwarp();
  }
  return prefix;
}

}  // namespace fedguard::kernels::detail
