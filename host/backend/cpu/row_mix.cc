// Mixing by constant rows (row_mix.h). Measured against the SGEMM it replaces in
// bench/results/row_mix_2026-12-06.md.
//
// Why the subtraction is safe: S - sum_{j left out} x_j in float64 loses about
// 2^-53 sum_j |x_j| per value, where the float32 SGEMM lost about 2^-24 sum_{j kept} |x_j|: the
// same or better unless a left-out row is ~2^29 times larger than the kept ones, which is what
// a Byzantine client sending 1e30 does (NNM leaves it out of every neighbourhood). So a source
// row whose largest |value| in the chunk exceeds 2^16 times the median row's is *outsized*: it is
// kept out of S and added explicitly to the rows that take it. What S then holds is at most
// 2^16 x (the median row's scale) per row, and its rounding stays under 2^-53 * cols * 2^16 of
// that scale: below a float32 ulp of the result for any cols < 2^13.
#include "backend/cpu/row_mix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "backend/cpu/lane_isa.h"

namespace fedguard::backend::cpu {
namespace {

constexpr double kOutsized = 65536.0;
constexpr std::size_t kBlock = 32;

// One block's running sum in a local array of fixed width (kept in registers: through memory,
// each term's addition waited on the previous one's store, 2.2x the SGEMM's time).
struct Block {
  double v[kBlock];
};
__attribute__((always_inline)) inline Block load_block(const double* from) {
  Block b;
  for (std::size_t c = 0; c < kBlock; ++c) b.v[c] = from[c];
  return b;
}
__attribute__((always_inline)) inline void add_block(Block& acc, const double* src) {
  for (std::size_t c = 0; c < kBlock; ++c) acc.v[c] += src[c];
}
__attribute__((always_inline)) inline void subtract_block(Block& acc, const double* src) {
  for (std::size_t c = 0; c < kBlock; ++c) acc.v[c] -= src[c];
}

// acc (kBlock doubles) = start (or 0) + sign * sum of the listed source blocks, kept in
// registers; written with intrinsics because GCC's vectoriser, left to itself, turned the loop
// over the terms into gathers (3x the SGEMM's time).
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) void sum_terms_avx512(const double* start, const double* src,
                                                         const std::uint32_t* terms,
                                                         std::size_t count, bool subtract,
                                                         double* acc) {
  __m512d a0 = start ? _mm512_loadu_pd(start) : _mm512_setzero_pd();
  __m512d a1 = start ? _mm512_loadu_pd(start + 8) : _mm512_setzero_pd();
  __m512d a2 = start ? _mm512_loadu_pd(start + 16) : _mm512_setzero_pd();
  __m512d a3 = start ? _mm512_loadu_pd(start + 24) : _mm512_setzero_pd();
  if (subtract) {
    for (std::size_t q = 0; q < count; ++q) {
      const double* sr = src + std::size_t{terms[q]} * kBlock;
      a0 = _mm512_sub_pd(a0, _mm512_loadu_pd(sr));
      a1 = _mm512_sub_pd(a1, _mm512_loadu_pd(sr + 8));
      a2 = _mm512_sub_pd(a2, _mm512_loadu_pd(sr + 16));
      a3 = _mm512_sub_pd(a3, _mm512_loadu_pd(sr + 24));
    }
  } else {
    for (std::size_t q = 0; q < count; ++q) {
      const double* sr = src + std::size_t{terms[q]} * kBlock;
      a0 = _mm512_add_pd(a0, _mm512_loadu_pd(sr));
      a1 = _mm512_add_pd(a1, _mm512_loadu_pd(sr + 8));
      a2 = _mm512_add_pd(a2, _mm512_loadu_pd(sr + 16));
      a3 = _mm512_add_pd(a3, _mm512_loadu_pd(sr + 24));
    }
  }
  _mm512_storeu_pd(acc, a0);
  _mm512_storeu_pd(acc + 8, a1);
  _mm512_storeu_pd(acc + 16, a2);
  _mm512_storeu_pd(acc + 24, a3);
}
__attribute__((target("avx2"))) void sum_terms_avx2(const double* start, const double* src,
                                                    const std::uint32_t* terms, std::size_t count,
                                                    bool subtract, double* acc) {
  __m256d a[8];
  for (int v = 0; v < 8; ++v) a[v] = start ? _mm256_loadu_pd(start + 4 * v) : _mm256_setzero_pd();
  for (std::size_t q = 0; q < count; ++q) {
    const double* sr = src + std::size_t{terms[q]} * kBlock;
    if (subtract) {
      for (int v = 0; v < 8; ++v) a[v] = _mm256_sub_pd(a[v], _mm256_loadu_pd(sr + 4 * v));
    } else {
      for (int v = 0; v < 8; ++v) a[v] = _mm256_add_pd(a[v], _mm256_loadu_pd(sr + 4 * v));
    }
  }
  for (int v = 0; v < 8; ++v) _mm256_storeu_pd(acc + 4 * v, a[v]);
}
#endif
void sum_terms_plain(const double* start, const double* src, const std::uint32_t* terms,
                     std::size_t count, bool subtract, double* acc) {
  for (std::size_t c = 0; c < kBlock; ++c) acc[c] = start ? start[c] : 0.0;
  for (std::size_t q = 0; q < count; ++q) {
    const double* sr = src + std::size_t{terms[q]} * kBlock;
    for (std::size_t c = 0; c < kBlock; ++c) acc[c] = subtract ? acc[c] - sr[c] : acc[c] + sr[c];
  }
}

// The loops of apply, inlined into one copy per instruction set (the additions are per column
// and in the same order in every copy, so every copy gives the same bits).
__attribute__((always_inline)) inline void apply_body(
    const float* x, std::size_t w, float* y, RowMixScratch& s, std::size_t m, std::size_t cols,
    const std::vector<double>& scale, const std::vector<std::vector<std::uint32_t>>& terms,
    const std::vector<std::uint8_t>& complement, bool any_complement,
    void (*sum_terms)(const double*, const double*, const std::uint32_t*, std::size_t, bool,
                      double*)) {
  // Blocks of kBlock columns: the block's source rows in float64 (cols x kBlock) stay in the
  // first-level cache while every mixed row is summed from them.
  double* src = s.source.data();
  double* sum = s.sum.data();
  // Which source rows are outsized, once per chunk: |x| as its bits (for non-negative floats the
  // integer order is the numeric one, a NaN above every number), an integer maximum that
  // vectorises where a floating one may not.
  bool any_outsized = false;
  if (any_complement) {
    for (std::size_t p = 0; p < cols; ++p) {
      const float* xr = x + p * w;
      std::uint32_t top = 0;
      for (std::size_t c = 0; c < w; ++c) {
        std::uint32_t bits;
        std::memcpy(&bits, xr + c, sizeof bits);
        top = std::max(top, bits & 0x7fffffffu);
      }
      float a;
      std::memcpy(&a, &top, sizeof a);
      s.amax[p] = static_cast<double>(a);
    }
    std::copy(s.amax.begin(), s.amax.begin() + static_cast<std::ptrdiff_t>(cols), s.order.begin());
    const auto mid = s.order.begin() + static_cast<std::ptrdiff_t>(cols / 2);
    std::nth_element(s.order.begin(), mid, s.order.begin() + static_cast<std::ptrdiff_t>(cols));
    const double limit = kOutsized * *mid;
    for (std::size_t p = 0; p < cols; ++p) {
      // Not `amax > limit`: a NaN (none reach pass 2) would then count as small.
      s.outsized[p] = !(s.amax[p] <= limit);
      any_outsized |= s.outsized[p] != 0;
    }
  }
  for (std::size_t c0 = 0; c0 < w; c0 += kBlock) {
    const std::size_t b = std::min(kBlock, w - c0);
    for (std::size_t p = 0; p < cols; ++p) {
      const float* xr = x + p * w + c0;
      double* sr = src + p * kBlock;
      for (std::size_t c = 0; c < b; ++c) sr[c] = static_cast<double>(xr[c]);
      std::fill(sr + b, sr + kBlock, 0.0);  // the last block padded: every sum runs kBlock wide
    }
    if (any_complement) {
      Block total{};
      for (std::size_t p = 0; p < cols; ++p)
        if (!s.outsized[p]) add_block(total, src + p * kBlock);
      std::copy(total.v, total.v + kBlock, sum);
    }
    for (std::size_t i = 0; i < m; ++i) {
      const std::vector<std::uint32_t>& t = terms[i];
      Block acc;
      if (!any_outsized || !complement[i]) {
        // The common case: no outsized row in the chunk (or a row that sums its support).
        sum_terms(complement[i] ? sum : nullptr, src, t.data(), t.size(), complement[i] != 0,
                  acc.v);
      } else {
        acc = load_block(sum);
        {
          for (std::uint32_t p : t)
            if (!s.outsized[p]) subtract_block(acc, src + std::size_t{p} * kBlock);
          for (std::size_t p = 0; p < cols; ++p) {
            if (!s.outsized[p] || std::binary_search(t.begin(), t.end(), p)) continue;
            add_block(acc, src + p * kBlock);
          }
        }
      }
      float* yr = y + i * w + c0;
      const double ci = scale[i];
      for (std::size_t c = 0; c < b; ++c) yr[c] = static_cast<float>(ci * acc.v[c]);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) void apply_avx512(
    const float* x, std::size_t w, float* y, RowMixScratch& s, std::size_t m, std::size_t cols,
    const std::vector<double>& scale, const std::vector<std::vector<std::uint32_t>>& terms,
    const std::vector<std::uint8_t>& complement, bool any_complement) {
  apply_body(x, w, y, s, m, cols, scale, terms, complement, any_complement, sum_terms_avx512);
}
__attribute__((target("avx2"))) void apply_avx2(
    const float* x, std::size_t w, float* y, RowMixScratch& s, std::size_t m, std::size_t cols,
    const std::vector<double>& scale, const std::vector<std::vector<std::uint32_t>>& terms,
    const std::vector<std::uint8_t>& complement, bool any_complement) {
  apply_body(x, w, y, s, m, cols, scale, terms, complement, any_complement, sum_terms_avx2);
}
#endif
void apply_sse2(const float* x, std::size_t w, float* y, RowMixScratch& s, std::size_t m,
                std::size_t cols, const std::vector<double>& scale,
                const std::vector<std::vector<std::uint32_t>>& terms,
                const std::vector<std::uint8_t>& complement, bool any_complement) {
  apply_body(x, w, y, s, m, cols, scale, terms, complement, any_complement, sum_terms_plain);
}

}  // namespace

std::optional<RowConstantMix> RowConstantMix::from(const std::vector<double>& mix, std::size_t m,
                                                   std::size_t cols) {
  RowConstantMix r;
  r.m_ = m;
  r.cols_ = cols;
  r.scale_.assign(m, 0.0);
  r.terms_.resize(m);
  r.complement_.assign(m, 0);
  for (std::size_t i = 0; i < m; ++i) {
    const double* row = mix.data() + i * cols;
    std::vector<std::uint32_t> support, zeros;
    for (std::size_t j = 0; j < cols; ++j) {
      if (row[j] == 0) {
        zeros.push_back(static_cast<std::uint32_t>(j));
        continue;
      }
      if (!std::isfinite(row[j])) return std::nullopt;
      if (support.empty()) {
        r.scale_[i] = row[j];
      } else if (row[j] != r.scale_[i]) {
        return std::nullopt;
      }
      support.push_back(static_cast<std::uint32_t>(j));
    }
    // Leaving rows out pays for S only once over all rows; from half the rows on it is cheaper.
    if (support.size() > zeros.size() + 1) {
      r.terms_[i] = std::move(zeros);
      r.complement_[i] = 1;
      r.any_complement_ = true;
    } else {
      r.terms_[i] = std::move(support);
    }
  }
  return r;
}

std::size_t RowConstantMix::terms_per_column() const {
  std::size_t n = any_complement_ ? cols_ : 0;
  for (const auto& t : terms_) n += t.size();
  return n;
}

void RowConstantMix::apply(const float* x, std::size_t w, float* y, RowMixScratch& s) const {
  s.source.resize(cols_ * kBlock);
  s.sum.resize(kBlock);
  s.amax.resize(cols_);
  s.order.resize(cols_);
  s.outsized.assign(cols_, 0);
#if defined(__x86_64__) && defined(__GNUC__)
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      apply_avx512(x, w, y, s, m_, cols_, scale_, terms_, complement_, any_complement_);
      return;
    case LaneIsa::kAvx2:
      apply_avx2(x, w, y, s, m_, cols_, scale_, terms_, complement_, any_complement_);
      return;
    case LaneIsa::kSse2:
      break;
  }
#endif
  apply_sse2(x, w, y, s, m_, cols_, scale_, terms_, complement_, any_complement_);
}

}  // namespace fedguard::backend::cpu
