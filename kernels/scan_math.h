// Arithmetic that the CPU backend and the CUDA kernels must do identically, written once as
// __host__ __device__ functions (plain inline functions in a build without nvcc): the count
// sketch's hash (bucket and sign of a column), the power-of-two row scale, applying it, and
// saturating a float64 result to float32. Host code includes this header without any CUDA header.
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

/// The count sketch S = X R (Charikar, Chen & Farach-Colton, "Finding frequent items in data
/// streams", ICALP 2002; as feature hashing: Weinberger et al., ICML 2009): column j goes to one
/// bucket h(j) in [0, q) with a sign s(j) = +-1, so R_jb = s(j) if b == h(j), else 0, and
/// S_ib = sum over the j with h(j) = b of s(j) x_ij. E[<Sx, Sy>] = <x, y> (the same scale as a
/// dense +-1/sqrt(q) sketch, and the same variance, (|x|^2 |y|^2 + <x,y>^2 - 2 sum x_j^2 y_j^2)
/// / q), at O(d) per row instead of O(d q).
///
/// Both come from one splitmix64 finaliser of (seed, j): the seed is mixed once, column j is the
/// (j + 1)-th step of the Weyl sequence from there, and the 64-bit result's high 32 bits pick the
/// bucket (multiply-shift, q <= 2^32) and its lowest bit the sign.
FEDGUARD_HD std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

FEDGUARD_HD std::uint64_t count_sketch_hash(std::uint64_t seed, std::uint64_t column) {
  return mix64(mix64(seed) + 0x9E3779B97F4A7C15ull * (column + 1));
}

/// The bucket h(j) in [0, q) of a hash (q <= 2^32).
FEDGUARD_HD std::uint32_t count_sketch_bucket(std::uint64_t hash, std::uint64_t q) {
  return static_cast<std::uint32_t>(((hash >> 32) * q) >> 32);
}

/// Whether s(j) = -1.
FEDGUARD_HD bool count_sketch_negative(std::uint64_t hash) { return (hash & 1u) != 0; }

/// R_jb of the count sketch: s(j) where b == h(j), else 0.
FEDGUARD_HD float sketch_entry(std::uint64_t seed, std::uint64_t column, std::uint64_t b,
                               std::uint64_t sketch_dim) {
  const std::uint64_t hash = count_sketch_hash(seed, column);
  if (count_sketch_bucket(hash, sketch_dim) != b) return 0.0f;
  return count_sketch_negative(hash) ? -1.0f : 1.0f;
}

/// The CUDA count sketch adds a tile's values into its buckets as 64-bit integers (atomic adds
/// of integers give the same sum in any order: deterministic run to run). A row whose largest
/// |value| in a tile of w columns is max_abs is multiplied by this power of two, so that every
/// rounded value is below 2^(62 - ceil(log2 w)) and any sum of at most w of them below 2^62:
/// no overflow, and each value keeps about 62 - log2(w) bits relative to the row's largest.
/// 0 for a zero row (or NaN / Inf: nothing to add).
FEDGUARD_HD double count_sketch_fixed_scale(float max_abs, std::uint64_t w) {
  if (!(max_abs > 0.0f && max_abs <= FLT_MAX)) return 0.0;
  int bits = 0;  // ceil(log2(w))
  while (bits < 63 && (std::uint64_t{1} << bits) < w) ++bits;
  int e = 0;
  frexp(static_cast<double>(max_abs), &e);  // max_abs < 2^e
  return ldexp(1.0, 62 - bits - e);
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
