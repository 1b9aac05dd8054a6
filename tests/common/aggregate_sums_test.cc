// The monitoring block sums (common/aggregate_sums.h): the documented lane order bit for bit
// (whichever instruction set runs them), the float64 brute force, and the copy.
#include "common/aggregate_sums.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace fedguard::common {
namespace {

// The order the header documents, written out plainly: lane l takes j = l (mod 4) in j order
// up to the last multiple of four, the rest goes to lane 0.
void reference_block(const float* a, const float* p, std::size_t w, double* out) {
  for (std::size_t i = 0; i < kAggregateSumWidth; ++i) out[i] = 0;
  const std::size_t w4 = w / 4 * 4;
  for (std::size_t j = 0; j < w; ++j) {
    const std::size_t l = j < w4 ? j % 4 : 0;
    const double x = a[j];
    out[l] += x * x;
    if (p) {
      const double y = p[j];
      out[4 + l] += y * y;
      out[8 + l] += x * y;
    }
  }
}

TEST(AggregateSums, BlockSumsFollowTheDocumentedOrderBitForBit) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g;
  for (std::size_t w : {0u, 1u, 3u, 4u, 7u, 8u, 9u, 4093u, 4096u}) {
    std::vector<float> a(w + 1), p(w + 1);
    for (float& x : a) x = g(rng) * 1e3f;
    for (float& x : p) x = g(rng);
    for (std::size_t offset : {0u, 1u})  // also from an address that is not 16-byte aligned
      for (const float* prev :
           {static_cast<const float*>(nullptr), static_cast<const float*>(p.data() + offset)}) {
        if (w == 0 && offset == 1) continue;
        const std::size_t len = w - (w > 0 ? offset : 0);
        double got[kAggregateSumWidth], want[kAggregateSumWidth];
        aggregate_block_sums(a.data() + offset, prev, len, nullptr, got);
        reference_block(a.data() + offset, prev, len, want);
        for (std::size_t i = 0; i < kAggregateSumWidth; ++i)
          EXPECT_EQ(got[i], want[i]) << "w " << len << " entry " << i;
      }
  }
}

TEST(AggregateSums, TotalsMatchFloat64BruteForce) {
  std::mt19937_64 rng(12);
  std::normal_distribution<float> g;
  const std::size_t d = 5 * kAggregateSumBlock + 3;
  std::vector<float> a(d), p(d);
  for (float& x : a) x = g(rng);
  for (std::size_t j = 0; j < d; ++j) p[j] = 0.3f * a[j] + g(rng);
  const std::size_t blocks = (d + kAggregateSumBlock - 1) / kAggregateSumBlock;
  std::vector<double> sums(blocks * kAggregateSumWidth);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t j0 = b * kAggregateSumBlock;
    aggregate_block_sums(a.data() + j0, p.data() + j0, std::min(kAggregateSumBlock, d - j0),
                         nullptr, sums.data() + b * kAggregateSumWidth);
  }
  const AggregateSums s = add_block_sums(sums.data(), blocks);
  long double aa = 0, pp = 0, ap = 0;
  for (std::size_t j = 0; j < d; ++j) {
    aa += static_cast<long double>(a[j]) * a[j];
    pp += static_cast<long double>(p[j]) * p[j];
    ap += static_cast<long double>(a[j]) * p[j];
  }
  EXPECT_NEAR(s.aa, static_cast<double>(aa), 1e-12 * static_cast<double>(aa));
  EXPECT_NEAR(s.pp, static_cast<double>(pp), 1e-12 * static_cast<double>(pp));
  EXPECT_NEAR(s.ap, static_cast<double>(ap), 1e-12 * std::sqrt(static_cast<double>(aa * pp)));
}

// The copy is the block's values bit for bit (NaN payloads, signed zeros, subnormals included),
// at every alignment of the destination, and nothing beyond the block is written.
TEST(AggregateSums, CopyIsExactAtAnyAlignment) {
  std::mt19937_64 rng(13);
  std::normal_distribution<float> g;
  std::vector<float> a(300);
  for (float& x : a) x = g(rng);
  a[5] = -0.0f;
  a[6] = 1e-42f;
  std::uint32_t payload = 0x7fc12345u;
  std::memcpy(&a[7], &payload, sizeof payload);
  for (std::size_t w : {0u, 1u, 7u, 8u, 17u, 250u})
    for (std::size_t offset = 0; offset < 9; ++offset) {
      std::vector<float> out(320, 42.0f);
      double sums[kAggregateSumWidth];
      aggregate_block_sums(a.data(), nullptr, w, out.data() + offset, sums);
      EXPECT_EQ(std::memcmp(out.data() + offset, a.data(), w * sizeof(float)), 0) << w;
      for (std::size_t j = 0; j < offset; ++j) EXPECT_EQ(out[j], 42.0f);
      for (std::size_t j = offset + w; j < out.size(); ++j) EXPECT_EQ(out[j], 42.0f);
    }
}

}  // namespace
}  // namespace fedguard::common
