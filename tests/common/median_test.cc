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

// select_in_place against a sort at every rank class (ends, middle, random) on the shapes that
// break quickselects: sorted, reversed, organ pipe, all equal, two values, a median-of-three
// killer, sawtooth; the round bound must keep each to n log n (these finish in milliseconds).
TEST(Median, SelectionMatchesASortOnHardShapes) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (std::size_t n : {25u, 26u, 100u, 1001u, 40000u}) {
    std::vector<std::vector<double>> shapes;
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
    shapes.push_back(v);                        // sorted
    shapes.emplace_back(v.rbegin(), v.rend());  // reversed
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(std::min(i, n - i));
    shapes.push_back(v);          // organ pipe
    shapes.emplace_back(n, 3.0);  // all equal
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 2);
    shapes.push_back(v);  // two values
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 2 ? i : n + i);
    shapes.push_back(v);  // median-of-three killer-like
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 17);
    shapes.push_back(v);  // sawtooth
    for (const auto& shape : shapes) {
      std::vector<double> sorted = shape;
      std::sort(sorted.begin(), sorted.end());
      std::uniform_int_distribution<std::size_t> any(0, n - 1);
      for (std::size_t k : {std::size_t{0}, n / 2, n - 1, any(rng)}) {
        std::vector<double> w = shape;
        select_in_place(w.data(), n, k);
        ASSERT_EQ(w[k], sorted[k]) << "n " << n << " k " << k << " seed " << seed;
        for (std::size_t i = 0; i < k; ++i) ASSERT_LE(w[i], w[k]) << "n " << n << " i " << i;
        for (std::size_t i = k + 1; i < n; ++i) ASSERT_GE(w[i], w[k]) << "n " << n << " i " << i;
        std::sort(w.begin(), w.end());
        ASSERT_EQ(w, sorted) << "the values were not kept, n " << n;
      }
    }
  }
}

// sort_in_place against std::sort, bit for bit, on random values (the history group's use),
// heavy ties and the shapes that break quicksorts; sizes around the insertion-sort cut.
TEST(Median, SortMatchesTheLibrarySort) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> small(0, 5);
  for (std::size_t n : {0u, 1u, 2u, 16u, 17u, 18u, 100u, 497u, 999u, 40000u}) {
    std::vector<std::vector<double>> shapes(7, std::vector<double>(n));
    for (std::size_t i = 0; i < n; ++i) {
      shapes[0][i] = g(rng);
      shapes[1][i] = small(rng);
      shapes[2][i] = static_cast<double>(i);                   // sorted
      shapes[3][i] = static_cast<double>(n - i);               // reversed
      shapes[4][i] = static_cast<double>(std::min(i, n - i));  // organ pipe
      shapes[5][i] = static_cast<double>(i % 2 ? i : n + i);   // median-of-three killer-like
      shapes[6][i] = i % 3 ? g(rng) : -std::numeric_limits<double>::infinity();
    }
    for (const std::vector<double>& shape : shapes) {
      std::vector<double> want = shape, got = shape;
      std::sort(want.begin(), want.end());
      sort_in_place(got.data(), n);
      ASSERT_EQ(got, want) << "n " << n << " seed " << seed;
    }
  }
}

// A NaN (which the callers' inputs should never hold) may leave the rank's value unspecified,
// as std::nth_element does, but never loses a value, reads out of bounds or loops.
TEST(Median, SelectionWithNaNTerminatesAndKeepsTheValues) {
  for (std::size_t n : {30u, 1000u}) {
    for (std::size_t where : {std::size_t{0}, n / 2, n - 1}) {
      std::vector<double> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>((i * 7919) % n);
      v[where] = std::nan("");
      std::vector<double> w = v;
      select_in_place(w.data(), n, n / 2);
      EXPECT_EQ(std::count_if(w.begin(), w.end(), [](double x) { return std::isnan(x); }), 1);
      std::vector<double> a, b;
      for (double x : v)
        if (!std::isnan(x)) a.push_back(x);
      for (double x : w)
        if (!std::isnan(x)) b.push_back(x);
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      EXPECT_EQ(a, b);
    }
  }
}

}  // namespace
}  // namespace fedguard::test
