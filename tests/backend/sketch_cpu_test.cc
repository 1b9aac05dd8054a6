// The count sketch of pass 1 (issue #19; Charikar, Chen & Farach-Colton, ICALP 2002) on the CPU:
// exact against a float64 brute force over backend::sketch_entry (dyadic values: every float64
// sum is exact, so tile widths, threads and rows may not change a bit), linear, unaffected by a
// row of 1e30s or a row that turns non-finite; inner products unbiased with the count sketch's
// variance; buckets of about d/q columns and balanced signs. The fixed-point arithmetic of the
// CUDA kernel (kernels::count_sketch_fixed_scale) is checked here on the host too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "kernels/scan_math.h"
#include "support/engine_runner.h"

namespace fedguard::test {
namespace {

backend::ScanSummaries sketch_rows(const std::vector<float>& data, std::size_t n, std::size_t d,
                                   std::size_t q, std::uint64_t seed, std::size_t tile = 0,
                                   int threads = 2, bool gram = true) {
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  req.tile_columns = tile;
  req.gram = gram;
  req.sketch_dim = q;
  req.sketch_seed = seed;
  return backend::make_cpu_backend(threads, /*team_for_any_size=*/true)->scan(req);
}

// S_ab = sum_j x_aj R_jb in float64, R from backend::sketch_entry (one call per entry: the
// definition, not the backend's per-column shortcut).
std::vector<double> brute_force(const std::vector<float>& data, std::size_t n, std::size_t d,
                                std::size_t q, std::uint64_t seed) {
  std::vector<double> s(n * q, 0.0);
  for (std::size_t j = 0; j < d; ++j)
    for (std::size_t b = 0; b < q; ++b) {
      const float r = backend::sketch_entry(seed, j, b, q);
      if (r == 0.0f) continue;
      for (std::size_t a = 0; a < n; ++a) s[a * q + b] += static_cast<double>(data[a * d + j]) * r;
    }
  return s;
}

// R has one non-zero per column, +-1.
TEST(CountSketch, EachColumnHasOneSignedEntry) {
  for (std::size_t q : {1, 3, 64, 256}) {
    for (std::size_t j = 0; j < 500; ++j) {
      int nonzero = 0;
      for (std::size_t b = 0; b < q; ++b) {
        const float r = backend::sketch_entry(9, j, b, q);
        ASSERT_TRUE(r == 0.0f || r == 1.0f || r == -1.0f) << r;
        nonzero += r != 0.0f;
      }
      ASSERT_EQ(nonzero, 1) << "q=" << q << " column " << j;
    }
  }
}

// Dyadic values (integers / 64, |x| < 2^10): every product and sum below is exact in float64, so
// the backend's sketch must equal the brute force bit for bit whatever the tile width (tiles
// that split the columns anywhere, including one column per tile), the thread count and whether
// a Gram is computed. Row 3 is all 1e30 (float32's 1e30, exactly summed: integer multiples of
// it); row 4 holds an Inf from column 777 on: it is flagged and the other rows are untouched.
TEST(CountSketch, ExactAgainstBruteForceAtAnyTiling) {
  std::mt19937_64 rng(test_seed());
  std::uniform_int_distribution<int> value(-65535, 65535);
  const std::size_t n = 6, d = 3001;
  std::vector<float> data(n * d);
  for (float& x : data) x = static_cast<float>(value(rng)) / 64.0f;
  for (std::size_t j = 0; j < d; ++j) data[3 * d + j] = 1e30f;
  data[4 * d + 777] = std::numeric_limits<float>::infinity();
  for (std::size_t q : {1, 7, 256}) {
    const std::uint64_t seed = 0xC0FFEEull + q;
    const std::vector<double> want = brute_force(data, n, d, q, seed);
    for (std::size_t tile : {0, 1, 64, 333, 1000, 3001}) {
      for (int threads : {1, 2}) {
        const backend::ScanSummaries s = sketch_rows(data, n, d, q, seed, tile, threads, q != 7);
        ASSERT_EQ(s.sketch.size(), n * q);
        EXPECT_EQ(s.finite[4], 0);
        for (std::size_t a = 0; a < n; ++a) {
          if (a == 4) continue;
          for (std::size_t b = 0; b < q; ++b)
            ASSERT_EQ(s.sketch[a * q + b], want[a * q + b])
                << "q=" << q << " tile " << tile << " threads " << threads << " row " << a
                << " bucket " << b;
        }
      }
    }
  }
}

// Values whose float64 sums round (normal values times 2^-40 .. 2^40, so that the order of the
// additions shows; a row of huge ones, one turning NaN): on one thread each (row, bucket) sum
// takes its columns in column order whatever the tiling, so the sketch must equal the brute
// force's float64 sums bit for bit; with the AVX-512 kernel too, which adds eight rows at once
// (13 rows: a last group of five and three padding rows).
TEST(CountSketch, EqualsTheColumnOrderSumsBitForBitOnOneThread) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-40, 40);
  const std::size_t n = 13, d = 3001, q = 256;
  std::vector<float> data(n * d);
  for (float& x : data) x = std::ldexp(value(rng), exponent(rng));
  for (std::size_t j = 0; j < d; ++j) data[5 * d + j] = std::ldexp(value(rng), 100);
  data[9 * d + 1500] = std::numeric_limits<float>::quiet_NaN();
  const std::uint64_t seed = 0xBADC0DEull;
  const std::vector<double> want = brute_force(data, n, d, q, seed);
  for (std::size_t tile : {0, 8, 333, 3001})
    for (bool gram : {false, true}) {
      const backend::ScanSummaries s = sketch_rows(data, n, d, q, seed, tile, 1, gram);
      ASSERT_EQ(s.sketch.size(), n * q);
      EXPECT_EQ(s.finite[9], 0);
      for (std::size_t a = 0; a < n; ++a) {
        if (a == 9) continue;
        for (std::size_t b = 0; b < q; ++b)
          ASSERT_EQ(s.sketch[a * q + b], want[a * q + b])
              << "tile " << tile << " gram " << gram << " row " << a << " bucket " << b;
      }
    }
}

// S(a x + b y) = a S(x) + b S(y): exact for dyadic rows and coefficients (the row a x + b y is
// exact in float32 here, and so are the float64 sums).
TEST(CountSketch, IsLinear) {
  std::mt19937_64 rng(test_seed() + 1);
  std::uniform_int_distribution<int> value(-1024, 1024);
  const std::size_t d = 5000, q = 100;
  std::vector<float> data(3 * d);
  for (std::size_t j = 0; j < d; ++j) {
    data[j] = static_cast<float>(value(rng)) / 8.0f;
    data[d + j] = static_cast<float>(value(rng)) / 16.0f;
    data[2 * d + j] = 3.0f * data[j] - 0.5f * data[d + j];
  }
  const backend::ScanSummaries s = sketch_rows(data, 3, d, q, 42, 512);
  for (std::size_t b = 0; b < q; ++b)
    EXPECT_EQ(s.sketch[2 * q + b], 3.0 * s.sketch[b] - 0.5 * s.sketch[q + b]) << b;
}

// E[<Sx, Sy>] = <x, y> and Var = (|x|^2 |y|^2 + <x,y>^2 - 2 sum x_j^2 y_j^2) / q for a random
// hash (the dense +-1/sqrt(q) sketch's variance too, so downstream thresholds keep their scale).
// Over T = 600 seeds the mean must be within 5 standard errors of <x, y> (a normal tail of
// 6e-7; the mean of 600 such products is close to normal) and the sample variance within
// [0.75, 1.3] of Var (its relative standard error is about sqrt((2 + kurtosis excess) / T) ~ 0.06
// to 0.08 here: both bounds are more than 3.5 of them away).
TEST(CountSketch, InnerProductsAreUnbiasedWithTheCountSketchVariance) {
  std::mt19937_64 rng(test_seed() + 2);
  std::normal_distribution<double> normal;
  const std::size_t d = 2000, q = 32, T = 600;
  std::vector<float> data(2 * d);
  for (std::size_t j = 0; j < d; ++j) {
    const double x = normal(rng), z = normal(rng);
    data[j] = static_cast<float>(x);
    data[d + j] = static_cast<float>(0.6 * x + 0.8 * z);
  }
  double xx = 0, yy = 0, xy = 0, x2y2 = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const double x = data[j], y = data[d + j];
    xx += x * x;
    yy += y * y;
    xy += x * y;
    x2y2 += x * x * y * y;
  }
  const double var = (xx * yy + xy * xy - 2 * x2y2) / static_cast<double>(q);
  double sum = 0, sum_sq = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const backend::ScanSummaries s = sketch_rows(data, 2, d, q, 1000 + t, 0, 1, false);
    double ip = 0;
    for (std::size_t b = 0; b < q; ++b) ip += s.sketch[b] * s.sketch[q + b];
    sum += ip;
    sum_sq += ip * ip;
  }
  const double mean = sum / T;
  const double sample_var = (sum_sq - T * mean * mean) / (T - 1);
  EXPECT_NEAR(mean, xy, 5 * std::sqrt(var / T)) << "<x,y> = " << xy << ", sd " << std::sqrt(var);
  EXPECT_GT(sample_var, 0.75 * var);
  EXPECT_LT(sample_var, 1.3 * var);
}

// Every bucket gets about d/q columns: Binomial(d, 1/q), here 3906 +- 62; each within 6 standard
// deviations (a false failure about 5e-7 over the 256 buckets). The signs are balanced within 6
// standard deviations of d/2, and two seeds (including seeds one Weyl step apart, which a hash of
// seed + j without mixing the seed would shift by one column) put a column in the same bucket
// for about 1/q of the columns.
TEST(CountSketch, BucketsAreBalancedAndSeedsIndependent) {
  const std::size_t d = 1000000, q = 256;
  std::vector<std::size_t> count(q, 0);
  std::size_t negative = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const std::uint64_t h = kernels::count_sketch_hash(17, j);
    const std::uint32_t b = kernels::count_sketch_bucket(h, q);
    ASSERT_LT(b, q);
    ++count[b];
    negative += kernels::count_sketch_negative(h);
  }
  const double p = 1.0 / q, mean = d * p, sd = std::sqrt(d * p * (1 - p));
  for (std::size_t b = 0; b < q; ++b)
    EXPECT_NEAR(static_cast<double>(count[b]), mean, 6 * sd) << "bucket " << b;
  EXPECT_NEAR(static_cast<double>(negative), d / 2.0, 6 * std::sqrt(d / 4.0));
  for (std::uint64_t other : {18ull, 17ull + 0x9E3779B97F4A7C15ull}) {
    std::size_t same = 0;
    for (std::size_t j = 0; j < d; ++j)
      same += kernels::count_sketch_bucket(kernels::count_sketch_hash(17, j), q) ==
              kernels::count_sketch_bucket(kernels::count_sketch_hash(other, j), q);
    EXPECT_NEAR(static_cast<double>(same), mean, 6 * sd) << "seed " << other;
  }
}

// The CUDA kernel's arithmetic, emulated on the host: each value times
// count_sketch_fixed_scale(max |row|, w), rounded to a 64-bit integer, summed as integers (any
// order gives the same sum), divided back. The worst case for overflow (w values of the row's
// largest magnitude, one sign, one bucket) stays below 2^62, and the result matches the float64
// sum to 2^(ceil(log2 w) - 62) of the row's largest value per value added (the rounding of one
// value: half of 1 / scale <= 2 max |x| 2^(ceil(log2 w) - 63)), for magnitudes from subnormal to
// float32's largest.
TEST(CountSketch, CudaFixedPointStaysExactEnoughAndNeverOverflows) {
  std::mt19937_64 rng(test_seed() + 3);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (std::size_t w : {1, 1000, 65536, 1 << 24}) {
    int bits = 0;
    while ((std::size_t{1} << bits) < w) ++bits;
    for (float top : {1e-42f, 1e-20f, 1.0f, 3e30f, std::numeric_limits<float>::max()}) {
      const double scale = kernels::count_sketch_fixed_scale(top, w);
      ASSERT_GT(scale, 0.0);
      const long long one = std::llrint(static_cast<double>(top) * scale);
      EXPECT_LE(static_cast<double>(one) * static_cast<double>(w), std::ldexp(1.0, 62))
          << "w " << w << " top " << top;
      if (w > 65536) continue;  // the sum below, at the tile widths a GPU tile has at n >= 256
      long long fixed = 0;
      double exact = 0, bound = 0;
      for (std::size_t j = 0; j < w; ++j) {
        const float x = j == 0 ? top : static_cast<float>(unit(rng) * top);
        fixed += std::llrint(static_cast<double>(x) * scale);
        exact += static_cast<double>(x);
        bound += std::ldexp(static_cast<double>(top), bits - 62);
      }
      EXPECT_NEAR(static_cast<double>(fixed) / scale, exact, bound + 1e-15 * std::fabs(exact))
          << "w " << w << " top " << top;
    }
  }
  EXPECT_EQ(kernels::count_sketch_fixed_scale(0.0f, 100), 0.0);
  EXPECT_EQ(kernels::count_sketch_fixed_scale(std::numeric_limits<float>::infinity(), 100), 0.0);
  EXPECT_EQ(kernels::count_sketch_fixed_scale(std::nanf(""), 100), 0.0);
}

}  // namespace
}  // namespace fedguard::test
