// Pass 2's mixing by constant rows (backend/cpu/row_mix.h) against a float64 brute force:
// NNM-like matrices (a row leaves f sources out), clipping's diagonal, plain supports, rows a
// hostile client makes 1e30 times larger than the others, chunk widths that are not whole
// blocks; and the matrices it must refuse. The CMake run capped at AVX2 and SSE2 covers the other
// kernels (tests/CMakeLists.txt).
#include "backend/cpu/row_mix.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "support/reference.h"

namespace fedguard::test {
namespace {

using backend::cpu::RowConstantMix;
using backend::cpu::RowMixScratch;

// y = mix * x in float64, then rounded to float32 once.
std::vector<float> brute_force(const std::vector<double>& mix, std::size_t m, std::size_t cols,
                               const std::vector<float>& x, std::size_t w) {
  std::vector<float> y(m * w);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t c = 0; c < w; ++c) {
      long double s = 0;  // wider than the code under test: its rounding is the tolerance
      for (std::size_t j = 0; j < cols; ++j)
        s += static_cast<long double>(mix[i * cols + j]) * static_cast<long double>(x[j * w + c]);
      y[i * w + c] = static_cast<float>(s);
    }
  return y;
}

// NNM's matrix on random neighbourhoods: row i averages n - f sources, itself among them.
std::vector<double> nnm_like(std::size_t n, std::size_t f, std::mt19937_64& rng) {
  std::vector<double> mix(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> order(n);
    for (std::size_t j = 0; j < n; ++j) order[j] = j;
    std::shuffle(order.begin(), order.end(), rng);
    std::iter_swap(std::find(order.begin(), order.end(), i), order.begin());
    for (std::size_t q = 0; q < n - f; ++q)
      mix[i * n + order[q]] = 1.0 / static_cast<double>(n - f);
  }
  return mix;
}

void expect_matches(const std::vector<double>& mix, std::size_t m, std::size_t cols,
                    const std::vector<float>& x, std::size_t w, const char* what) {
  const auto row_mix = RowConstantMix::from(mix, m, cols);
  ASSERT_TRUE(row_mix.has_value()) << what;
  std::vector<float> y(m * w, -7.0f);
  RowMixScratch scratch;
  row_mix->apply(x.data(), w, y.data(), scratch);
  const std::vector<float> want = brute_force(mix, m, cols, x, w);
  // Each value: the float64 sum rounded to float32 once, so within one float32 ulp of the exact
  // one (a sum a hair from a rounding boundary may round the other way), plus float64 rounding
  // of the sum of |terms| (the subtraction's cancellation).
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t c = 0; c < w; ++c) {
      double scale = 0;
      for (std::size_t j = 0; j < cols; ++j)
        if (mix[i * cols + j] != 0) scale += std::fabs(mix[i * cols + j] * x[j * w + c]);
      const double tol = 1.2e-7 * std::fabs(want[i * w + c]) + 1e-12 * scale + 1e-30;
      ASSERT_NEAR(y[i * w + c], want[i * w + c], tol) << what << " row " << i << " col " << c;
    }
}

std::vector<float> random_rows(std::size_t rows, std::size_t w, std::mt19937_64& rng) {
  std::normal_distribution<float> z(0.01f, 1.0f);
  std::lognormal_distribution<float> spread(0.0f, 1.0f);
  std::vector<float> x(rows * w);
  for (std::size_t j = 0; j < rows; ++j) {
    const float s = spread(rng);  // heterogeneous client scales
    for (std::size_t c = 0; c < w; ++c) x[j * w + c] = s * z(rng);
  }
  return x;
}

TEST(RowMix, NnmMatricesMatchTheBruteForce) {
  std::mt19937_64 rng(test_seed());
  for (std::size_t n : {3, 10, 33, 100}) {
    for (std::size_t f : {std::size_t{0}, std::size_t{1}, n / 5, (n - 1) / 2}) {
      for (std::size_t w : {1, 31, 32, 33, 256}) {
        const auto mix = nnm_like(n, f, rng);
        expect_matches(mix, n, n, random_rows(n, w, rng), w, "nnm");
      }
    }
  }
}

TEST(RowMix, ClippingDiagonalsAndPlainSupportsMatchTheBruteForce) {
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<double> u(0.01, 2.0);
  const std::size_t n = 17, w = 70;
  std::vector<double> diagonal(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) diagonal[i * n + i] = u(rng);
  expect_matches(diagonal, n, n, random_rows(n, w, rng), w, "diagonal");
  // Fewer mixed rows than sources, each a small support, one row all zero; plus a reference
  // column (the source list holds rows and then references).
  const std::size_t m = 5, cols = n + 1;
  std::vector<double> sparse(m * cols, 0.0);
  for (std::size_t i = 0; i + 1 < m; ++i) {
    const double c = u(rng);
    for (std::size_t j = i; j < cols; j += 3) sparse[i * cols + j] = c;
  }
  expect_matches(sparse, m, cols, random_rows(cols, w, rng), w, "sparse");
}

TEST(RowMix, AnOutsizedRowLeftOutCancelsNothing) {
  // A client at 1e30 is in no one's neighbourhood: S - (1e30 + ...) in float64 would lose every
  // other value; it is kept out of S (row_mix.cc), so the rows that leave it out are exact, and
  // the rows that take it hold it.
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 40, f = 8, w = 100;
  auto x = random_rows(n, w, rng);
  for (std::size_t c = 0; c < w; ++c) x[7 * w + c] = (c % 2 ? 1e30f : -3e29f);
  for (std::size_t c = 0; c < w; ++c) x[8 * w + c] = 3e37f;  // near float32's top
  auto mix = nnm_like(n, f, rng);
  expect_matches(mix, n, n, x, w, "outsized");
  // Everyone takes row 7: its value dominates every mixed row, the others must not vanish
  // relative to it beyond rounding (checked by the tolerance), and nothing becomes NaN.
  for (std::size_t i = 0; i < n; ++i)
    if (mix[i * n + 7] == 0) {
      for (std::size_t j = 0; j < n; ++j)
        if (mix[i * n + j] != 0 && j != i) {
          std::swap(mix[i * n + j], mix[i * n + 7]);
          break;
        }
    }
  expect_matches(mix, n, n, x, w, "outsized taken");
  // Sparse rows: a median of zeros makes every non-zero row outsized; still exact.
  std::vector<float> sparse(n * w, 0.0f);
  for (std::size_t c = 0; c < w; ++c) sparse[3 * w + c] = 1.5f, sparse[4 * w + c] = -2.0f;
  expect_matches(nnm_like(n, f, rng), n, n, sparse, w, "mostly zero");
}

TEST(RowMix, SumsThatOverflowFloat32BecomeInfinityAsTheSgemmsDid) {
  const std::size_t n = 4, w = 3;
  std::vector<float> x(n * w, 3e38f);
  std::vector<double> mix(n * n, 1.0);  // plain sums, no averaging
  const auto row_mix = RowConstantMix::from(mix, n, n);
  ASSERT_TRUE(row_mix.has_value());
  std::vector<float> y(n * w);
  RowMixScratch scratch;
  row_mix->apply(x.data(), w, y.data(), scratch);
  for (float v : y) EXPECT_TRUE(std::isinf(v) && v > 0) << v;
}

TEST(RowMix, RowsWithTwoValuesOrNonFiniteEntriesAreRefused) {
  std::vector<double> two = {0.5, 0.25, 0.0, /**/ 0.0, 1.0, 1.0};
  EXPECT_FALSE(RowConstantMix::from(two, 2, 3).has_value());
  std::vector<double> nan = {std::nan(""), 0.0};
  EXPECT_FALSE(RowConstantMix::from(nan, 1, 2).has_value());
  std::vector<double> inf = {1.0, 0.0, 0.0, std::numeric_limits<double>::infinity()};
  EXPECT_FALSE(RowConstantMix::from(inf, 2, 2).has_value());
  // NNM's: n additions for S and f per row, against n^2 multiply-adds.
  std::mt19937_64 rng(test_seed());
  EXPECT_EQ(RowConstantMix::from(nnm_like(100, 20, rng), 100, 100)->terms_per_column(),
            100u + 100u * 20u);
}

}  // namespace
}  // namespace fedguard::test
