// fedguard::median (selection) against a plain sort: odd and even counts, heavy ties, one far
// outlier, two far clusters, infinities, values near the largest double.
#include "common/median.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "support/random_round.h"

namespace fedguard::test {
namespace {

double sorted_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * v[n / 2 - 1] + 0.5 * v[n / 2];
}

TEST(Median, MatchesASortBitForBit) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> small(0, 20);
  for (std::size_t n : {1u, 2u, 3u, 1000u, 65535u, 65536u, 65537u, 200000u, 500001u}) {
    std::vector<double> normal(n), tied(n), outlier(n), lumpy(n);
    for (std::size_t i = 0; i < n; ++i) {
      normal[i] = g(rng);
      tied[i] = small(rng);                      // 21 distinct values: most bins empty
      outlier[i] = g(rng) * 1e-9;                // all but one value in one bin
      lumpy[i] = i % 3 ? g(rng) : 1e6 + g(rng);  // two far clusters
    }
    outlier[n / 2] = 1e300;
    for (const auto* v : {&normal, &tied, &outlier, &lumpy})
      EXPECT_EQ(median(*v), sorted_median(*v)) << "n " << n << " seed " << seed;
  }
}

TEST(Median, InfinitiesExtremesAndNoSpread) {
  const std::size_t n = 70000;
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 977);
  std::vector<double> inf = v;
  inf[5] = std::numeric_limits<double>::infinity();
  inf[6] = -std::numeric_limits<double>::infinity();
  EXPECT_EQ(median(inf), sorted_median(inf));
  std::vector<double> wide = v;
  wide[0] = -1.7e308;
  wide[1] = 1.7e308;
  EXPECT_EQ(median(wide), sorted_median(wide));
  std::vector<double> flat(n, 2.5);  // no spread
  EXPECT_EQ(median(flat), 2.5);
  std::vector<double> huge = {1.7e308, 1.7e308};  // the mean of two values near the largest
  EXPECT_EQ(median(huge), 1.7e308);
}

}  // namespace
}  // namespace fedguard::test
