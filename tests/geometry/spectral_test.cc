// The top-k eigen-solvers of the spectral detectors: block Krylov against the direct solver.
#include "geometry/spectral.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "geometry/gram_space.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

// A = sum_i lambda_i u_i u_i^T + noise (PSD, like a centred Gram matrix).
std::vector<double> spiked(std::size_t m, const std::vector<double>& lambdas, double noise,
                           std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> a(m * m, 0.0);
  for (double lam : lambdas) {
    std::vector<double> u(m);
    double nn = 0;
    for (double& x : u) x = normal(rng), nn += x * x;
    for (double& x : u) x /= std::sqrt(nn);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < m; ++j) a[i * m + j] += lam * u[i] * u[j];
  }
  if (noise > 0) {
    const std::size_t r = 20;
    std::vector<double> g(m * r);
    for (double& x : g) x = normal(rng) * std::sqrt(noise / r);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t t = 0; t < r; ++t) a[i * m + j] += g[i * r + t] * g[j * r + t];
  }
  return a;
}

void expect_same(const geometry::EigenPairs& got, const geometry::EigenPairs& want, std::size_t m,
                 std::size_t count) {
  ASSERT_EQ(got.values.size(), count);
  for (std::size_t j = 0; j < count; ++j) {
    EXPECT_NEAR(got.values[j], want.values[j], 1e-9 * std::abs(want.values[0])) << j;
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(got.vectors[i * count + j], want.vectors[i * count + j], 1e-7) << i << "," << j;
  }
}

TEST(Spectral, KrylovMatchesDirectOnSpikedMatrices) {
  std::mt19937_64 rng(test_seed());
  for (std::size_t m : {37, 300}) {
    const auto a = spiked(m, {100, 50, 25, 12, 6}, 1.0, rng);
    for (std::size_t count : {1, 2, 5}) {
      const auto got = geometry::top_eigenpairs_krylov(a, m, count);
      expect_same(got, geometry::top_eigenpairs_direct(a, m, count), m, count);
    }
  }
}

TEST(Spectral, KrylovHandlesExactlyLowRankMatrices) {
  std::mt19937_64 rng(test_seed());
  const std::size_t m = 200;
  const auto a = spiked(m, {9, 4, 1}, 0.0, rng);  // rank 3: the Krylov space becomes invariant
  const auto got = geometry::top_eigenpairs_krylov(a, m, 2);
  expect_same(got, geometry::top_eigenpairs_direct(a, m, 2), m, 2);
  const auto zero = geometry::top_eigenpairs_krylov(std::vector<double>(m * m, 0.0), m, 2);
  EXPECT_EQ(zero.values, (std::vector<double>{0.0, 0.0}));
}

TEST(Spectral, LargeMatricesTakeTheIterativePathWithTheSameAnswer) {
  std::mt19937_64 rng(test_seed());
  const std::size_t m = geometry::kIterativeFrom + 13;
  const auto a = spiked(m, {400, 90, 30}, 2.0, rng);
  expect_same(geometry::top_eigenpairs(a, m, 3), geometry::top_eigenpairs_direct(a, m, 3), m, 3);
}

// Squared distances from a Gram matrix, computed in place by tiles: the same bits as the plain
// formula on every entry, both triangles, zero diagonal, at sizes that leave partial tiles.
TEST(GramDistances, InPlaceTilesEqualThePlainFormula) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (std::size_t m : {1u, 2u, 63u, 64u, 65u, 200u}) {
    std::vector<double> x(m * 7);
    for (double& v : x) v = g(rng);
    std::vector<double> gram(m * m);
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = 0; b < m; ++b) {
        double s = 0;
        for (std::size_t q = 0; q < 7; ++q) s += x[a * 7 + q] * x[b * 7 + q];
        gram[a * m + b] = s;
      }
    std::vector<double> d = gram;
    geometry::squared_distances_in_place(d, m);
    EXPECT_EQ(geometry::squared_distances(gram, m), d);
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = 0; b < m; ++b) {
        const std::size_t lo = std::min(a, b), hi = std::max(a, b);
        const double want =
            a == b ? 0.0
                   : std::max(0.0, gram[lo * m + lo] + gram[hi * m + hi] - 2.0 * gram[lo * m + hi]);
        ASSERT_EQ(d[a * m + b], want) << "m " << m << " a " << a << " b " << b;
      }
  }
}

}  // namespace
}  // namespace fedguard::test
