// fedguard::cube_root against the exact root (long double cbrtl where long double is wider than
// double, else std::cbrt with glibc's own error allowed): within 1 ulp over the whole range it
// computes itself (fresh random values over 600 decades and the collusion signal's range, rho^2
// in [0, 4]); std::cbrt's outside that range and on the special values.
#include "common/cube_root.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "support/random_round.h"

namespace fedguard::test {
namespace {

constexpr bool kWideLongDouble = std::numeric_limits<long double>::digits > 53;

// Distance from the exact root in units in the last place of its double rounding.
double ulps(double got, double x) {
  const long double exact = kWideLongDouble ? cbrtl(static_cast<long double>(x)) : std::cbrt(x);
  const double rounded = static_cast<double>(exact);
  return static_cast<double>(std::fabs(static_cast<long double>(got) - exact) /
                             (std::nextafter(std::fabs(rounded), INFINITY) - std::fabs(rounded)));
}

TEST(CubeRoot, WithinOneUlpOfTheExactRoot) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> decade(-300, 300), squared(0, 4);
  const double bound = kWideLongDouble ? 1.0 : 4.0;
  for (int i = 0; i < 2000000; ++i) {
    const double x = i % 2 ? std::pow(10.0, decade(rng)) : squared(rng);
    ASSERT_LE(ulps(cube_root(x), x), bound) << "x " << x << " seed " << seed;
  }
  // Perfect cubes land within the same bound; a zero distance stays zero.
  for (double r : {1.0, 2.0, 3.0, 0.5, 1e-5, 1e5})
    EXPECT_LE(ulps(cube_root(r * r * r), r * r * r), bound) << r;
  EXPECT_EQ(cube_root(0.0), 0.0);
}

TEST(CubeRoot, TheLibraryOutsideItsRange) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double x : {-8.0, -1e-310, 1e-310, 1e-301, 1e301, std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::denorm_min(), inf, -inf})
    EXPECT_EQ(cube_root(x), std::cbrt(x)) << x;
  EXPECT_TRUE(std::isnan(cube_root(std::nan(""))));
  EXPECT_TRUE(std::signbit(cube_root(-0.0)));
}

}  // namespace
}  // namespace fedguard::test
