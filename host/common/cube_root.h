// The real cube root, for the collusion signal's Wilson-Hilferty transform (rho^(2/3) of every
// pair: 500,000 per signal at n = 1000).
//
// A first guess from the bit pattern (the whole pattern divided by three plus the bias of
// fdlibm's cbrt, Kahan's 715094163, in the high word: a few percent off) and three of Halley's
// steps y <- y (y^3 + 2x) / (2 y^3 + x), each of which cubes the relative error, taken as a
// correction y + y (x - y^3) / (2 y^3 + x) so that the last one's rounding does not count: within
// 1 ulp of the exact root (0.95 at most over 4 million values against long double cbrtl, where
// glibc's cbrt reached 3.4; tests/common/cube_root_test.cc), 2-2.5x faster than glibc's
// (2026-12-06, Xeon, g++ 12 -O2, 500,000 values). Outside [1e-300, 1e300] (where y^3 could
// leave the normal range) and for zero, negative, infinite and NaN arguments: std::cbrt.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace fedguard {

inline double cube_root(double x) {
  if (!(x >= 1e-300 && x <= 1e300)) return std::cbrt(x);
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits = bits / 3 + 0x2A9F7893782DA1CEull;
  double y;
  std::memcpy(&y, &bits, sizeof y);
  for (int step = 0; step < 3; ++step) {  // as a correction: its own rounding error vanishes
    const double y3 = y * y * y;
    y += y * ((x - y3) / (2 * y3 + x));
  }
  return y;
}

}  // namespace fedguard
