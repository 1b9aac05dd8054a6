// Arithmetic that the CPU backend and the CUDA kernels must do identically, written once as
// __host__ __device__ functions (plain inline functions in a build without nvcc): the sketch's
// random signs, the power-of-two row scale, applying it, and saturating a float64 result to
// float32. Host code includes this header without any CUDA header.
#pragma once

#include <math.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define FEDGUARD_HD __host__ __device__ __forceinline__
#else
#define FEDGUARD_HD inline
#endif

namespace fedguard::kernels {

/// Rows whose largest |value| lies here need no scaling: float32 products of up to 65536 terms
/// stay far from overflow and from the subnormal range.
constexpr float kNoScaleLow = 1e-15f, kNoScaleHigh = 1e15f;

/// The per-tile centre's summation order, the same on every backend (so the centres are equal
/// bit for bit): each column's float64 sum over the sane rows runs over chunks of this many
/// consecutive rows, in row order within a chunk (from 0.0), and the chunk sums are added in chunk
/// order (from 0.0). The chunks let the GPU sum a column's rows in parallel.
constexpr std::size_t kCentreRowChunk = 32;

/// R_jq of the random sketch S = X R: +-1/sqrt(sketch_dim), the sign bit q % 64 of splitmix64 of
/// (seed, column, q / 64).
/// The 64 sign bits of R_jq for q in [64 group, 64 group + 64): bit q % 64 set means +.
FEDGUARD_HD std::uint64_t sketch_sign_bits(std::uint64_t seed, std::uint64_t column,
                                           std::uint64_t group) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (column * 0x100000001B3ull + group + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z;
}

FEDGUARD_HD float sketch_entry(std::uint64_t seed, std::uint64_t column, std::uint64_t q,
                               std::uint64_t sketch_dim) {
  const float magnitude = 1.0f / sqrtf(static_cast<float>(sketch_dim));
  return (sketch_sign_bits(seed, column, q / 64) >> (q % 64)) & 1u ? magnitude : -magnitude;
}

/// Power of two s with max_abs * s in [0.5, 1), or 1 for zero (and for NaN). A float64: for a row
/// of subnormal values s reaches 2^149, beyond float32's range.
FEDGUARD_HD double unit_scale(float max_abs) {
  if (!(max_abs > 0)) return 1.0;
  int e = 0;
  frexp(static_cast<double>(max_abs), &e);  // max_abs = m 2^e, m in [0.5, 1)
  return ldexp(1.0, -e);
}

/// The scale of a row whose largest |value| is max_abs: 1 inside [kNoScaleLow, kNoScaleHigh] (or
/// for a zero row), else unit_scale.
FEDGUARD_HD double row_scale(float max_abs) {
  return max_abs == 0.0f || (max_abs >= kNoScaleLow && max_abs <= kNoScaleHigh)
             ? 1.0
             : unit_scale(max_abs);
}

/// x * s rounded once to float32, with s applied in float64: s may exceed float32's range (a
/// subnormal-only row), where float(s) would be inf and x * inf inf or NaN. For s a power of two
/// inside float32's range this equals x * float(s) bit for bit.
FEDGUARD_HD float apply_scale(float x, double s) {
  return static_cast<float>(static_cast<double>(x) * s);
}

/// A float64 result as float32: clamped to +-FLT_MAX, NaN kept (the caller decides about NaN;
/// fmin/fmax would turn it into a finite number).
FEDGUARD_HD float saturate(double v) {
  if (v != v) return static_cast<float>(v);
  return static_cast<float>(v < -static_cast<double>(FLT_MAX)  ? -static_cast<double>(FLT_MAX)
                            : v > static_cast<double>(FLT_MAX) ? static_cast<double>(FLT_MAX)
                                                               : v);
}

}  // namespace fedguard::kernels
