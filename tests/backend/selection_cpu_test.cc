// Pass 2's selection networks and lane kernels (issue 19) against a plain float64 brute force
// on fresh random inputs: the partition network puts exactly the sorted middle values in the
// middle positions; median and trimmed mean through the backend equal sorting in float64 at
// every row count around the network's padding, with ties, signed zeros, infinities (mixed
// rows can overflow) and NaN (the full-sort path, as before). -0 and +0 compare equal, so which
// of them a middle position holds is the order's choice, in the sort as in the brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "backend/backend.h"
#include "backend/cpu/selection_network.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

// Applies a network to one column of values (scalar, std::min / std::max).
std::vector<float> run_network(std::vector<float> v,
                               const std::vector<backend::cpu::Comparator>& net) {
  for (const auto& [i, j] : net) {
    const float lo = std::min(v[i], v[j]), hi = std::max(v[i], v[j]);
    v[i] = lo;
    v[j] = hi;
  }
  return v;
}

TEST(PartitionNetwork, MiddleClassEqualsSortedMiddleOnRandomAndZeroOneInputs) {
  std::mt19937_64 rng(test_seed());
  std::uniform_int_distribution<int> small(-2, 2);
  std::normal_distribution<float> normal;
  for (std::size_t m : {1, 2, 3, 5, 8, 9, 16, 17, 31, 33, 64, 65, 100, 127, 129}) {
    std::vector<std::size_t> bs = {0, (m - 1) / 2, (m - 1) / 3, m / 10};
    for (std::size_t b : bs) {
      const auto net = backend::cpu::partition_network(m, b);
      EXPECT_LE(net.size(), backend::cpu::sorting_network(m).size());
      for (int trial = 0; trial < 60; ++trial) {
        std::vector<float> v(m);
        for (float& x : v)
          x = trial % 3 == 0   ? static_cast<float>(small(rng) > 0)  // 0-1 inputs
              : trial % 3 == 1 ? static_cast<float>(small(rng))      // many ties
                               : normal(rng);
        std::vector<float> sorted = v;
        std::sort(sorted.begin(), sorted.end());
        const std::vector<float> out = run_network(v, net);
        for (auto [lo, hi] : {std::pair<std::size_t, std::size_t>{0, b}, {b, m - b}, {m - b, m}}) {
          std::vector<float> got(out.begin() + lo, out.begin() + hi);
          std::sort(got.begin(), got.end());
          EXPECT_EQ(got, std::vector<float>(sorted.begin() + lo, sorted.begin() + hi))
              << "m=" << m << " b=" << b << " class [" << lo << ", " << hi << ")";
        }
      }
    }
  }
}

// The register-blocked form of a network (the lane kernels sort leading groups of wires in
// registers, then run the rest) holds the same comparators, reordered only between comparators
// on disjoint wires: bit-identical outputs, NaN, infinities and signed zeros included.
TEST(BlockedNetwork, SameComparatorsAndBitIdenticalOutputs) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> pick(0, 9);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            0.0f,
                            -0.0f,
                            1e38f};
  for (std::size_t m : {1, 7, 8, 9, 16, 31, 32, 33, 63, 64, 65, 100, 129, 200}) {
    for (std::size_t group : {0, 8, 16, 32}) {
      for (std::size_t b : {std::size_t{0}, (m - 1) / 2, m / 10}) {
        const auto net =
            b == 0 ? backend::cpu::sorting_network(m) : backend::cpu::partition_network(m, b);
        const backend::cpu::BlockedNetwork blocked = backend::cpu::block_network(net, m, group);
        const std::size_t small = group ? backend::cpu::sorting_network(group).size() : 0;
        EXPECT_EQ(blocked.groups * small + blocked.rest.size(), net.size());
        // Every full group is blocked, except where the pruning of a partition reaches into the
        // first stages (m <= 2 * group): the kernel's speed, not its correctness.
        if (group && (b == 0 || m > 2 * group)) {
          EXPECT_EQ(blocked.groups, m / group) << "m=" << m << " group=" << group << " b=" << b;
        }
        for (int trial = 0; trial < 20; ++trial) {
          std::vector<float> v(m);
          for (float& x : v) x = pick(rng) < 2 ? specials[pick(rng) % 6] : normal(rng);
          std::vector<float> got = v;
          for (std::size_t g = 0; g < blocked.groups; ++g) {
            std::vector<float> part(got.begin() + g * group, got.begin() + (g + 1) * group);
            part = run_network(part, backend::cpu::sorting_network(group));
            std::copy(part.begin(), part.end(), got.begin() + g * group);
          }
          got = run_network(got, blocked.rest);
          const std::vector<float> want = run_network(v, net);
          EXPECT_EQ(0, std::memcmp(got.data(), want.data(), m * sizeof(float)))
              << "m=" << m << " group=" << group << " b=" << b;
        }
      }
    }
  }
}

TEST(PartitionNetwork, RejectsImpossibleTrim) {
  EXPECT_ANY_THROW(backend::cpu::partition_network(4, 2));
}

// Float64 brute force of one column statistic (sorting), the definitions of rules/median.cc and
// rules/trimmed_mean.cc; `abs_mean` receives the mean of the |values| summed, for the error
// bound of a float64 sum in another order (m * 2^-52 * that, relative to the count).
double brute(std::vector<double> c, backend::ColumnStatistic statistic, std::size_t b,
             double* abs_mean) {
  std::sort(c.begin(), c.end());
  const std::size_t m = c.size();
  if (statistic == backend::ColumnStatistic::kMedian) {
    *abs_mean = 0;
    return m % 2 ? c[m / 2] : (c[m / 2 - 1] + c[m / 2]) / 2;
  }
  double s = 0, a = 0;
  for (std::size_t i = b; i < m - b; ++i) {
    s += c[i];
    a += std::fabs(c[i]);
  }
  *abs_mean = a / static_cast<double>(m - 2 * b);
  return s / static_cast<double>(m - 2 * b);
}

TEST(SelectionCpu, MedianAndTrimmedMeanMatchFloat64Sorting) {
  std::mt19937_64 rng(test_seed());
  auto backend = backend::make_cpu_backend(2, /*team_for_any_size=*/true);
  for (std::size_t m : {1, 2, 3, 10, 16, 17, 63, 64, 65, 100, 101, 128, 129, 200}) {
    const std::size_t d = 53;  // three lane blocks and a partial one
    for (int kind = 0; kind < 3; ++kind) {
      std::vector<float> data(m * d);
      std::uniform_int_distribution<int> grid(-3, 3);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (float& x : data) {
        if (kind == 0) x = normal(rng);
        if (kind == 1)
          x = grid(rng) == 0 ? (grid(rng) > 0 ? 0.0f : -0.0f)
                             : 0.5f * static_cast<float>(grid(rng));
        if (kind == 2)
          x = grid(rng) == 3 ? 1e38f * static_cast<float>(grid(rng))
                             : normal(rng) * 1e-3f;  // finite, huge
      }
      const UpdateView view(data.data(), m, d, DType::kFloat32);
      backend::CoordinateAggregateRequest req;
      req.updates = &view;
      for (std::size_t i = 0; i < m; ++i) req.rows.push_back(i);
      for (std::size_t b : {std::size_t{0}, m / 10, (m - 1) / 3, (m - 1) / 2}) {
        for (auto stat :
             {backend::ColumnStatistic::kMedian, backend::ColumnStatistic::kTrimmedMean}) {
          req.statistic = stat;
          req.param = stat == backend::ColumnStatistic::kMedian ? 0 : b;
          std::vector<float> out(d);
          backend->aggregate_coordinatewise(req, out.data());
          for (std::size_t j = 0; j < d; ++j) {
            std::vector<double> c(m);
            for (std::size_t i = 0; i < m; ++i) c[i] = data[i * d + j];
            double abs_mean = 0;
            const double want = brute(c, stat, req.param, &abs_mean);
            const float want_f =
                static_cast<float>(std::clamp(want, -3.4028234663852886e38, 3.4028234663852886e38));
            // float64 sums in another order: equal up to float32 rounding of the result and the
            // float64 rounding of either sum (huge values of both signs cancel in kind 2).
            EXPECT_NEAR(
                out[j], want_f,
                1e-6 * std::max(1.0, std::fabs(want)) + 4.0 * m * 0x1p-52 * abs_mean + 1e-30)
                << "m=" << m << " kind=" << kind << " b=" << req.param << " col=" << j;
          }
        }
      }
    }
  }
}

// A mixing matrix can turn finite rows into infinities and NaN; those blocks take the full
// sort exactly as before the partition network existed (NaN propagates, never a crash).
TEST(SelectionCpu, InfinityAndNanFromMixingTakeTheSortPath) {
  const std::size_t m = 9, d = 20;
  std::vector<float> data(m * d);
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  for (float& x : data) x = normal(rng);
  data[0 * d + 3] = 3e38f;  // doubled by the mix below: +inf
  data[1 * d + 5] = 3e38f;
  data[2 * d + 5] =
      -3e38f;  // row 1 + row 2 at column 5 is fine; 2 * (row 1) - 2 * (row 2) overflows
  const UpdateView view(data.data(), m, d, DType::kFloat32);
  auto backend = backend::make_cpu_backend(1);
  backend::CoordinateAggregateRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < m; ++i) req.rows.push_back(i);
  req.mixed_rows = m;
  req.mix.assign(m * m, 0.0);
  for (std::size_t i = 0; i < m; ++i) req.mix[i * m + i] = 1.0;
  req.mix[0] = 2.0;  // row 0 doubled: +inf at column 3
  req.statistic = backend::ColumnStatistic::kTrimmedMean;
  req.param = 1;
  std::vector<float> out(d);
  backend->aggregate_coordinatewise(req, out.data());
  for (std::size_t j = 0; j < d; ++j)
    EXPECT_TRUE(std::isfinite(out[j])) << j;  // the inf is trimmed
  req.statistic = backend::ColumnStatistic::kMedian;
  backend->aggregate_coordinatewise(req, out.data());
  for (std::size_t j = 0; j < d; ++j) EXPECT_TRUE(std::isfinite(out[j])) << j;
  // inf - inf = NaN in one mixed row: no crash, and that column's result is what the sort gives.
  req.mix[1 * m + 1] = 2.0;
  req.mix[1 * m + 2] = -2.0;
  req.mix[0] = 1.0;
  backend->aggregate_coordinatewise(req, out.data());
  for (std::size_t j = 0; j < d; ++j)
    if (j != 5) {
      EXPECT_TRUE(std::isfinite(out[j])) << j;
    }
}

}  // namespace
}  // namespace fedguard::test

namespace fedguard::test {
namespace {

// Pass 1 without a Gram reads the rows in place (issue 19): norms, signs and finiteness equal
// a float64 brute force, and a row with a NaN or an Inf anywhere (first tile, a later tile) is
// flagged, for float32 and float16 input alike.
TEST(ScanCpuNoGram, RowSummariesMatchBruteForceAndFlagNonFinite) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  const std::size_t n = 13, d = 1000;
  std::vector<float> data(n * d);
  for (float& x : data) x = normal(rng);
  for (std::size_t j = 0; j < d; j += 7) data[4 * d + j] = 0.0f;
  data[2 * d + 0] = std::numeric_limits<float>::quiet_NaN();
  data[5 * d + 999] = std::numeric_limits<float>::infinity();
  data[9 * d + 500] = -std::numeric_limits<float>::infinity();
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  for (int threads : {1, 2}) {
    auto backend = backend::make_cpu_backend(threads, /*team_for_any_size=*/true);
    for (std::size_t tile : {0, 64, 333}) {
      backend::ScanRequest req;
      req.updates = &view;
      for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
      req.gram = false;
      req.tile_columns = tile;
      const backend::ScanSummaries s = backend->scan(req);
      EXPECT_TRUE(s.gram.empty());
      for (std::size_t i = 0; i < n; ++i) {
        const bool bad = i == 2 || i == 5 || i == 9;
        EXPECT_EQ(s.finite[i], bad ? 0 : 1) << i;
        if (bad) continue;
        double sq = 0;
        std::int64_t pos = 0, neg = 0;
        for (std::size_t j = 0; j < d; ++j) {
          const double x = data[i * d + j];
          sq += x * x;
          pos += x > 0;
          neg += x < 0;
        }
        EXPECT_NEAR(s.norms_sq[i], sq, 1e-12 * sq) << i;
        EXPECT_EQ(s.positive[i], pos);
        EXPECT_EQ(s.negative[i], neg);
        EXPECT_EQ(s.zero[i], static_cast<std::int64_t>(d) - pos - neg);
      }
    }
  }
}

}  // namespace
}  // namespace fedguard::test

namespace fedguard::test {
namespace {

// The count sketch S = X R of pass 1 (issue 19) equals the float64 brute force over
// backend::sketch_entry for sketch widths that are and are not multiples of 64, and keeps
// distances as a count sketch must: for u = x_a - x_b, ||S u||^2 / ||u||^2 has mean 1 and variance
// (2 / q) (1 - sum u_j^4 / ||u||^4) <= 2 / q (Charikar et al.; the dense +-1/sqrt(q) sketch's
// variance too). Each of the 45 pairs must lie within 8 of its standard deviations (0.7 at
// most, at q = 256). Chebyshev alone guarantees only 1/64 per pair; the ratio is a sum of 256
// bucket terms, close to a scaled chi-square with q degrees of freedom, whose tail there is below
// 1e-10. The bound comes from the variance, not from the observed values.
TEST(SketchCpu, EntriesMatchBruteForceAndDistancesStayWithinTheVariance) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  const std::size_t n = 10, d = 3000;
  std::vector<float> data(n * d);
  for (float& x : data) x = normal(rng);
  for (std::size_t j = 0; j < d; ++j)
    data[3 * d + j] = data[2 * d + j] + 0.01f * normal(rng);  // a near pair
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  for (std::size_t q : {1, 63, 100, 256}) {
    backend::ScanRequest req;
    req.updates = &view;
    for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
    req.gram = q % 2 == 0;
    req.sketch_dim = q;
    req.sketch_seed = 0x5EEDull + q;
    const backend::ScanSummaries s =
        backend::make_cpu_backend(2, /*team_for_any_size=*/true)->scan(req);
    ASSERT_EQ(s.sketch.size(), n * q);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t c = 0; c < q; ++c) {
        double ref = 0, bound = 0;
        for (std::size_t j = 0; j < d; ++j) {
          const double t = static_cast<double>(data[a * d + j]) *
                           backend::sketch_entry(req.sketch_seed, j, c, q);
          ref += t;
          bound += std::fabs(t);
        }
        ASSERT_NEAR(s.sketch[a * q + c], ref, 1e-6 * bound)
            << "q=" << q << " row " << a << " col " << c;
      }
    if (q != 256) continue;
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) {
        double dx = 0, u4 = 0, ds = 0;
        for (std::size_t j = 0; j < d; ++j) {
          const double t = static_cast<double>(data[a * d + j]) - data[b * d + j];
          dx += t * t;
          u4 += t * t * t * t;
        }
        for (std::size_t c = 0; c < q; ++c) {
          const double t = s.sketch[a * q + c] - s.sketch[b * q + c];
          ds += t * t;
        }
        const double sd = std::sqrt(2.0 / static_cast<double>(q) * (1 - u4 / (dx * dx)));
        EXPECT_NEAR(ds / dx, 1.0, 8 * sd) << a << "," << b;
      }
  }
}

}  // namespace
}  // namespace fedguard::test
