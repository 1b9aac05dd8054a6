// The group alignment (detection/group_alignment.h), which tells a cluster of clients with alike
// data from a coalition that adds one component to updates that otherwise differ, for the
// direction group (docs/detection.md, "Too central together"): against a plain float64 brute
// force over the vectors themselves (no Gram), written here from the definition; its
// independence of a vector subtracted from every update (the engine gives it the Gram centred
// on pass 1's centre); planted clusters and coalitions; refused inputs.
#include "detection/group_alignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "fedguard/error.h"
#include "support/group_alignment_reference.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

using Rows = std::vector<std::vector<double>>;

std::vector<double> gram_of(const Rows& x, const std::vector<double>& shift) {
  const std::size_t m = x.size();
  std::vector<double> g(m * m);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) {
      double s = 0;
      for (std::size_t j = 0; j < x[a].size(); ++j)
        s += (x[a][j] - shift[j]) * (x[b][j] - shift[j]);
      g[a * m + b] = s;
    }
  return g;
}

// Honest clients are their own direction plus noise; a cluster shares one direction (alike
// data), a coalition adds one shared component to updates of its own.
struct Planted {
  Rows x;
  std::vector<std::uint8_t> in_group;
};
Planted planted(std::mt19937_64& rng, std::size_t m, std::size_t g, std::size_t d, bool cluster,
                double shared_scale) {
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> shared(d);
  for (double& v : shared) v = z(rng);
  Planted p{Rows(m, std::vector<double>(d)), std::vector<std::uint8_t>(m, 0)};
  for (std::size_t a = 0; a < m; ++a) {
    p.in_group[a] = a % 3 == 1 && a / 3 < g;
    for (std::size_t j = 0; j < d; ++j) {
      const double own = z(rng);
      p.x[a][j] = !p.in_group[a] ? own
                  : cluster      ? shared[j] + 0.3 * own
                                 : own + shared_scale * shared[j];
    }
  }
  return p;
}

TEST(GroupAlignment, MatchesTheBruteForceOnAnyCentring) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_int_distribution<std::size_t> size(6, 40);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t m = size(rng), d = 16 + trial;
    std::uniform_int_distribution<std::size_t> group_size(2, m - 1);
    const std::size_t g = group_size(rng);
    Planted p = planted(rng, m, m, d, trial % 2 == 0, 0.3 + 0.05 * trial);
    // A random group of g (not only the planted members), and a common offset on every update.
    std::vector<std::size_t> order(m);
    for (std::size_t a = 0; a < m; ++a) order[a] = a;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::uint8_t> in_group(m, 0);
    for (std::size_t q = 0; q < g; ++q) in_group[order[q]] = 1;
    std::vector<double> offset(d), none(d, 0.0);
    for (double& v : offset) v = 3 * z(rng);
    for (auto& row : p.x)
      for (std::size_t j = 0; j < d; ++j) row[j] += offset[j];
    const double want = bf_alignment(p.x, in_group);
    EXPECT_NEAR(detection::group_alignment(gram_of(p.x, none), m, in_group), want, 1e-9)
        << "seed " << seed << " trial " << trial << " m " << m << " g " << g;
    const std::vector<double> centred = gram_of(p.x, offset);
    EXPECT_NEAR(detection::group_alignment(centred, m, in_group), want, 1e-9)
        << "seed " << seed << " trial " << trial;
    // With the row sums given (the engine sums them once a round): the same.
    EXPECT_NEAR(detection::group_alignment(centred, m, in_group, detection::row_sums(centred, m)),
                want, 1e-9)
        << "seed " << seed << " trial " << trial;
  }
}

// A cluster (every member the shared direction plus noise of 0.3 its size) aligns near 1; a
// coalition whose shared component is as large as each member's own update stays near
// cos 45 degrees; a group of unrelated clients near 0.
TEST(GroupAlignment, ClustersAlignCoalitionsAndStrangersDoNot) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const std::size_t m = 50, g = 10, d = 2000;
  const Planted cluster = planted(rng, m, g, d, true, 0);
  const Planted coalition = planted(rng, m, g, d, false, 1.0);
  const Planted strangers = planted(rng, m, g, d, false, 0.0);
  const std::vector<double> none(d, 0.0);
  const double a_cluster =
      detection::group_alignment(gram_of(cluster.x, none), m, cluster.in_group);
  const double a_coalition =
      detection::group_alignment(gram_of(coalition.x, none), m, coalition.in_group);
  const double a_strangers =
      detection::group_alignment(gram_of(strangers.x, none), m, strangers.in_group);
  EXPECT_GT(a_cluster, 0.9) << "seed " << seed;
  EXPECT_GT(a_coalition, 0.55) << "seed " << seed;
  EXPECT_LT(a_coalition, 0.8) << "seed " << seed;
  EXPECT_LT(std::fabs(a_strangers), 0.15) << "seed " << seed;
}

TEST(GroupAlignment, RefusesAGroupItCannotJudge) {
  const std::vector<double> gram(9, 1.0);
  EXPECT_THROW(detection::group_alignment(gram, 3, {1, 0, 0}), Error);     // one member
  EXPECT_THROW(detection::group_alignment(gram, 3, {1, 1, 1}), Error);     // no other client
  EXPECT_THROW(detection::group_alignment(gram, 4, {1, 1, 0, 0}), Error);  // wrong size
  EXPECT_THROW(detection::group_alignment(gram, 3, {1, 1, 0}, {1.0, 2.0}), Error);  // row sums
  // Identical vectors: every deviation zero, counted as 0.
  EXPECT_EQ(detection::group_alignment(gram, 3, {1, 1, 0}), 0.0);
}

}  // namespace
}  // namespace fedguard::test
