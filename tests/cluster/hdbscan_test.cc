// HDBSCAN*: hand-made cases, tie rule, input checks, and a comparison with the Python `hdbscan`
// package (0.8.44) on random point clouds through tests/cluster/hdbscan_reference.py.
#include "cluster/hdbscan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fedguard/error.h"
#include "io/npy.h"
#include "support/random_round.h"

namespace fedguard::cluster {
namespace {

using Labels = std::vector<int>;

// Euclidean distances of points on a line.
std::vector<double> line_distances(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<double> d(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) d[i * n + j] = std::abs(x[i] - x[j]);
  return d;
}

enum class Metric { kEuclidean, kCosine };

// Row-major points (n x dim) to an exactly symmetric distance matrix with a zero diagonal.
std::vector<double> distances(const std::vector<double>& pts, std::size_t n, std::size_t dim,
                              Metric metric) {
  std::vector<double> d(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double* a = &pts[i * dim];
      const double* b = &pts[j * dim];
      double v;
      if (metric == Metric::kEuclidean) {
        double s = 0.0;
        for (std::size_t k = 0; k < dim; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
        v = std::sqrt(s);
      } else {
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (std::size_t k = 0; k < dim; ++k) {
          ab += a[k] * b[k];
          aa += a[k] * a[k];
          bb += b[k] * b[k];
        }
        v = std::max(0.0, 1.0 - ab / std::sqrt(aa * bb));
      }
      d[i * n + j] = v;
      d[j * n + i] = v;
    }
  }
  return d;
}

// True when a and b are the same partition: noise (-1) identical, cluster ids a bijection.
bool same_partition(const Labels& a, const Labels& b) {
  if (a.size() != b.size()) return false;
  std::map<int, int> ab, ba;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] < 0) != (b[i] < 0)) return false;
    if (a[i] < 0) continue;
    auto [it1, new1] = ab.emplace(a[i], b[i]);
    auto [it2, new2] = ba.emplace(b[i], a[i]);
    if (it1->second != b[i] || it2->second != a[i]) return false;
  }
  return true;
}

std::string to_string(const Labels& l) {
  std::ostringstream s;
  for (std::size_t i = 0; i < l.size(); ++i) s << (i ? " " : "") << l[i];
  return s.str();
}

HdbscanParams params(std::size_t mcs, std::size_t ms, bool single,
                     ClusterSelection sel = ClusterSelection::kExcessOfMass) {
  HdbscanParams p;
  p.min_cluster_size = mcs;
  p.min_samples = ms;
  p.allow_single_cluster = single;
  p.selection = sel;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Hand-made cases

TEST(Hdbscan, FlameLineWorkedByHand) {
  // Points 0, 1, 3, 7, 15; FLAME with n = 5: min_cluster_size 3, min_samples 1, so mutual
  // reachability = distance and the spanning tree is the chain 1, 2, 4, 8. Top down: 15 leaves
  // at 1/8, 7 at 1/4, then {0, 1, 3} splits into parts of 2 and 1 < 3: all three leave at 1/2,
  // the largest lambda of the root, so they are the cluster.
  const auto r = hdbscan(line_distances({0, 1, 3, 7, 15}), 5, flame_hdbscan_params(5));
  EXPECT_EQ(r.labels, (Labels{0, 0, 0, -1, -1}));
  EXPECT_EQ(r.probabilities, (std::vector<double>{1, 1, 1, 0, 0}));
  EXPECT_EQ(r.outlier_scores, (std::vector<double>{0, 0, 0, 0.5, 0.75}));
  EXPECT_EQ(r.num_clusters, 1u);
  EXPECT_EQ(r.simultaneous_merges, 0u);
}

TEST(Hdbscan, TwoFarGroupsWorkedByHand) {
  // {0, 1, 2.5} and {100, 101.5, 103}, min_samples 1 (mutual reachability = distance). The
  // root splits at 97.5 into two parts of 3.
  const std::vector<double> x = {0, 1, 2.5, 100, 101.5, 103};
  // min_cluster_size 3: two clusters born at 1/97.5. Left: at 1.5 it splits into {0, 1} and
  // {2.5}, both below 3, so all three leave at 1/1.5. Right: both edges are exactly 1.5, a
  // three-way merge, so all three leave at 1/1.5 too.
  auto r = hdbscan(line_distances(x), 6, params(3, 1, false));
  EXPECT_EQ(r.labels, (Labels{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(r.probabilities, std::vector<double>(6, 1.0));
  EXPECT_EQ(r.num_clusters, 2u);
  EXPECT_EQ(r.simultaneous_merges, 1u);
  // allow_single_cluster: the root's stability 6 / 97.5 is below its children's: same answer.
  EXPECT_EQ(hdbscan(line_distances(x), 6, params(3, 1, true)).labels, r.labels);
  // min_cluster_size 2: on the left {0, 1} carries on after 2.5 leaves at 1/1.5, then 0 and 1
  // leave at 1/1, the cluster's largest lambda: probabilities 1, 1, (1/1.5) / 1.
  r = hdbscan(line_distances(x), 6, params(2, 1, false));
  EXPECT_EQ(r.labels, (Labels{0, 0, 0, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(r.probabilities[0], 1.0);
  EXPECT_DOUBLE_EQ(r.probabilities[1], 1.0);
  EXPECT_DOUBLE_EQ(r.probabilities[2], 1.0 / 1.5);
  for (std::size_t i = 3; i < 6; ++i) EXPECT_DOUBLE_EQ(r.probabilities[i], 1.0);
  // FLAME (min_cluster_size 4): no group is a majority; the root ends when it splits into two
  // parts of 3, everyone leaving at the same lambda: one cluster of all six (package rule).
  EXPECT_EQ(hdbscan(line_distances(x), 6, flame_hdbscan_params(6)).labels, (Labels(6, 0)));
}

TEST(Hdbscan, FlameMajorityGroupAndFarAttackers) {
  // Five benign clients close together, two attackers together but far away: the attackers
  // are noise.
  const std::vector<double> x = {0.0, 0.3, 0.7, 1.2, 1.6, 40.0, 40.5};
  const auto r = hdbscan(line_distances(x), 7, flame_hdbscan_params(7));
  EXPECT_EQ(r.labels, (Labels{0, 0, 0, 0, 0, -1, -1}));
  EXPECT_EQ(r.num_clusters, 1u);
}

TEST(Hdbscan, SinglePoint) {
  const std::vector<double> d = {0.0};
  auto r = hdbscan(d, 1, flame_hdbscan_params(1));
  EXPECT_EQ(r.labels, (Labels{0}));
  EXPECT_EQ(r.probabilities, (std::vector<double>{1.0}));
  EXPECT_EQ(r.outlier_scores, (std::vector<double>{0.0}));
  r = hdbscan(d, 1, params(2, 1, false));
  EXPECT_EQ(r.labels, (Labels{-1}));
  EXPECT_EQ(r.probabilities, (std::vector<double>{0.0}));
  EXPECT_EQ(hdbscan(d, 1, params(2, 1, true, ClusterSelection::kLeaf)).labels, (Labels{-1}));
}

TEST(Hdbscan, TwoPoints) {
  const std::vector<double> d = {0, 2, 2, 0};
  EXPECT_EQ(hdbscan(d, 2, flame_hdbscan_params(2)).labels, (Labels{0, 0}));
  EXPECT_EQ(hdbscan(d, 2, params(2, 1, false)).labels, (Labels{-1, -1}));
  EXPECT_EQ(hdbscan(d, 2, params(2, 5, true)).labels, (Labels{0, 0}));  // min_samples clamped
}

TEST(Hdbscan, AllIdenticalPoints) {
  for (std::size_t n : {2u, 3u, 6u, 31u}) {
    const std::vector<double> d(n * n, 0.0);
    auto r = hdbscan(d, n, flame_hdbscan_params(n));
    EXPECT_EQ(r.labels, Labels(n, 0)) << n;
    EXPECT_EQ(r.probabilities, std::vector<double>(n, 1.0)) << n;
    EXPECT_EQ(r.outlier_scores, std::vector<double>(n, 0.0)) << n;
    EXPECT_EQ(r.simultaneous_merges, n >= 3 ? 1u : 0u) << n;
    r = hdbscan(d, n, params(2, 1, false));
    EXPECT_EQ(r.labels, Labels(n, -1)) << n;
    EXPECT_EQ(r.num_clusters, 0u);
  }
}

TEST(Hdbscan, SmallerThanMinClusterSize) {
  // As in the package: with allow_single_cluster the root is selectable even when n is below
  // min_cluster_size; without it nothing is a cluster.
  const auto d = line_distances({0, 1, 3});
  EXPECT_EQ(hdbscan(d, 3, params(5, 1, true)).labels, (Labels{0, 0, 0}));
  EXPECT_EQ(hdbscan(d, 3, params(5, 1, false)).labels, (Labels{-1, -1, -1}));
}

TEST(Hdbscan, LeafSelection) {
  // Two nearby groups and a far one: leaf gives the three groups; excess of mass as well here.
  const std::vector<double> x = {0, 0.1, 0.25, 5, 5.12, 5.3, 100, 100.2, 100.35};
  const auto leaf = hdbscan(line_distances(x), 9, params(3, 1, false, ClusterSelection::kLeaf));
  EXPECT_EQ(leaf.labels, (Labels{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  // A root that never splits gives no leaves: all noise, with or without allow_single_cluster.
  const auto none = hdbscan(line_distances(x), 9, params(6, 1, true, ClusterSelection::kLeaf));
  EXPECT_EQ(none.labels, Labels(9, -1));
}

TEST(Hdbscan, ClustersNumberedBySmallestMember) {
  const std::vector<double> x = {100, 0, 100.3, 0.4, 100.7, 0.9};
  const auto r = hdbscan(line_distances(x), 6, params(3, 1, false));
  EXPECT_EQ(r.labels, (Labels{0, 1, 0, 1, 0, 1}));
}

// ---------------------------------------------------------------------------------------------
// Tie rule: equal mutual-reachability distances merge simultaneously.

TEST(HdbscanTies, EquidistantPointsNeverSplit) {
  // Four points at pairwise distance 1: one four-way merge, no part of 2 ever forms, so no
  // cluster below the root (a pairwise merge order could make {a, b} and {c, d} clusters).
  std::vector<double> d(16, 1.0);
  for (int i = 0; i < 4; ++i) d[i * 5] = 0.0;
  auto r = hdbscan(d, 4, params(2, 1, false));
  EXPECT_EQ(r.labels, Labels(4, -1));
  EXPECT_EQ(r.simultaneous_merges, 1u);
  r = hdbscan(d, 4, params(2, 1, true));
  EXPECT_EQ(r.labels, Labels(4, 0));
  EXPECT_EQ(r.probabilities, std::vector<double>(4, 1.0));
}

TEST(HdbscanTies, BridgePointBetweenTwoClustersIsNoise) {
  // Groups {0, 0.1, 0.2} and {2.2, 2.3, 2.4} with a point at 1.2, equidistant (1.0) from both.
  // Both edges of the bridge have weight 1: three components merge at once, the two groups
  // become clusters and the bridge falls out of the root: noise. (Pairwise merging would put
  // it into whichever group its first edge reached.)
  const std::vector<double> x = {0, 0.1, 0.2, 1.2, 2.2, 2.3, 2.4};
  // Exact decimal distances so that both bridge edges are exactly 1.0.
  auto d = line_distances(x);
  d[3 * 7 + 2] = d[2 * 7 + 3] = 1.0;
  d[3 * 7 + 4] = d[4 * 7 + 3] = 1.0;
  const auto r = hdbscan(d, 7, params(3, 1, false));
  EXPECT_EQ(r.labels, (Labels{0, 0, 0, -1, 1, 1, 1}));
  EXPECT_GE(r.simultaneous_merges, 1u);
}

TEST(HdbscanTies, DuplicatedAttackersAndPermutationInvariance) {
  // FLAME-like: six benign clients, four attackers sending the same update (distance 0),
  // coarse distances so that many ties exist. Every permutation gives the permuted answer,
  // bit for bit (labels up to numbering).
  std::mt19937_64 rng(fedguard::test::test_seed());
  const std::size_t n = 10;
  std::vector<double> pts = {0, 0, 1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 9, 9, 9, 9, 9, 9, 9, 9};
  const auto d = distances(pts, n, 2, Metric::kEuclidean);
  for (const auto& p : {flame_hdbscan_params(n), params(2, 1, false), params(3, 2, false),
                        params(2, 3, true, ClusterSelection::kLeaf)}) {
    const auto base = hdbscan(d, n, p);
    std::vector<std::size_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    for (int trial = 0; trial < 20; ++trial) {
      std::shuffle(perm.begin(), perm.end(), rng);
      std::vector<double> dp(n * n);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) dp[i * n + j] = d[perm[i] * n + perm[j]];
      const auto r = hdbscan(dp, n, p);
      Labels mapped(n);
      for (std::size_t i = 0; i < n; ++i) {
        mapped[i] = base.labels[perm[i]];
        EXPECT_EQ(r.probabilities[i], base.probabilities[perm[i]]);
        EXPECT_EQ(r.outlier_scores[i], base.outlier_scores[perm[i]]);
      }
      EXPECT_TRUE(same_partition(r.labels, mapped))
          << to_string(r.labels) << " vs " << to_string(mapped);
      EXPECT_EQ(r.simultaneous_merges, base.simultaneous_merges);
    }
  }
  // The attackers (indices 6..9) are outside the FLAME cluster.
  const auto flame = hdbscan(d, n, flame_hdbscan_params(n));
  for (std::size_t i = 6; i < n; ++i) EXPECT_EQ(flame.labels[i], -1) << i;
}

TEST(HdbscanTies, DeterministicBitForBit) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  const std::size_t n = 150, dim = 5;
  std::vector<double> pts(n * dim);
  for (auto& v : pts) v = std::round(normal(rng) * 4) / 4;  // coarse grid: many ties
  const auto d = distances(pts, n, dim, Metric::kEuclidean);
  const auto a = hdbscan(d, n, params(5, 5, false));
  const auto b = hdbscan(d, n, params(5, 5, false));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.probabilities, b.probabilities);
  EXPECT_EQ(a.outlier_scores, b.outlier_scores);
}

// Brute force of the documented rules, straight from the definitions, O(n^3): the components
// at each level are recomputed from the mutual-reachability graph itself (no spanning tree of
// the whole set, no union-find), so ties are handled by construction as rule 4 says. Checks the
// simultaneous-merge hierarchy on tie-heavy data, where the package cannot be the reference.
struct BruteForce {
  BruteForce(const std::vector<double>& mr_in, std::size_t n_in, const HdbscanParams& p_in)
      : mr(mr_in), n(n_in), p(p_in) {}
  const std::vector<double>& mr;
  std::size_t n;
  HdbscanParams p;
  std::vector<std::size_t> parent{static_cast<std::size_t>(-1)};
  std::vector<double> birth{0.0}, max_lambda{0.0};
  std::vector<std::vector<double>> terms{{}};
  std::vector<std::size_t> point_cluster;
  std::vector<double> point_lambda;

  // Largest edge of a minimum spanning tree of S: the level at which S falls apart.
  double split_level(const std::vector<std::size_t>& s) const {
    std::vector<double> best(s.size(), std::numeric_limits<double>::infinity());
    std::vector<bool> in(s.size(), false);
    std::size_t cur = 0;
    double level = 0.0;
    for (std::size_t step = 1; step < s.size(); ++step) {
      in[cur] = true;
      std::size_t next = 0;
      double nb = std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < s.size(); ++j) {
        if (in[j]) continue;
        best[j] = std::min(best[j], mr[s[cur] * n + s[j]]);
        if (best[j] < nb) nb = best[j], next = j;
      }
      level = std::max(level, nb);
      cur = next;
    }
    return level;
  }

  // Connected components of S using only edges strictly below `level`.
  std::vector<std::vector<std::size_t>> parts_below(const std::vector<std::size_t>& s,
                                                    double level) const {
    std::vector<int> comp(s.size(), -1);
    std::vector<std::vector<std::size_t>> parts;
    for (std::size_t a = 0; a < s.size(); ++a) {
      if (comp[a] >= 0) continue;
      comp[a] = static_cast<int>(parts.size());
      parts.push_back({s[a]});
      std::vector<std::size_t> todo = {a};
      while (!todo.empty()) {
        const std::size_t x = todo.back();
        todo.pop_back();
        for (std::size_t b = 0; b < s.size(); ++b) {
          if (comp[b] < 0 && mr[s[x] * n + s[b]] < level) {
            comp[b] = comp[a];
            parts.back().push_back(s[b]);
            todo.push_back(b);
          }
        }
      }
    }
    return parts;
  }

  void leave(std::size_t c, double lambda, std::size_t count) {
    terms[c].push_back((lambda - birth[c]) * static_cast<double>(count));
    max_lambda[c] = std::max(max_lambda[c], lambda);
  }
  void fall_out(const std::vector<std::size_t>& part, std::size_t c, double lambda) {
    for (std::size_t x : part) {
      point_cluster[x] = c;
      point_lambda[x] = lambda;
      leave(c, lambda, 1);
    }
  }

  HdbscanResult run() {
    point_cluster.assign(n, 0);
    point_lambda.assign(n, std::numeric_limits<double>::infinity());
    std::vector<std::pair<std::size_t, std::vector<std::size_t>>> work;
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    if (n == 1)
      leave(0, std::numeric_limits<double>::infinity(), 1);
    else
      work.emplace_back(0, all);
    while (!work.empty()) {
      auto [c, s] = work.back();
      work.pop_back();
      const double level = split_level(s);
      const double lambda = level > 0 ? 1.0 / level : std::numeric_limits<double>::infinity();
      const auto parts = parts_below(s, level);
      std::size_t large = 0;
      for (const auto& part : parts) large += part.size() >= p.min_cluster_size;
      for (const auto& part : parts) {
        if (part.size() < p.min_cluster_size) {
          fall_out(part, c, lambda);
        } else if (large == 1) {
          work.emplace_back(c, part);
        } else {
          parent.push_back(c);
          birth.push_back(lambda);
          max_lambda.push_back(0.0);
          terms.emplace_back();
          leave(c, lambda, part.size());
          work.emplace_back(parent.size() - 1, part);
        }
      }
    }
    const std::size_t count = parent.size();
    auto sorted_sum = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      double s = 0.0;
      for (double x : v) s += x;
      return s;
    };
    std::vector<std::vector<std::size_t>> children(count);
    for (std::size_t c = 1; c < count; ++c) children[parent[c]].push_back(c);
    std::vector<double> stability(count);
    for (std::size_t c = 0; c < count; ++c) stability[c] = sorted_sum(terms[c]);
    // Selection, recursively from the root.
    std::vector<bool> selected(count, false);
    if (p.selection == ClusterSelection::kLeaf) {
      for (std::size_t c = 1; c < count; ++c) selected[c] = children[c].empty();
    } else {
      // Returns the best achievable stability of c's subtree and marks the choice.
      std::function<double(std::size_t, bool)> eom = [&](std::size_t c, bool candidate) {
        std::vector<double> sub;
        for (std::size_t ch : children[c]) sub.push_back(eom(ch, true));
        const double below = sorted_sum(sub);
        if (candidate && !(below > stability[c])) {
          std::function<void(std::size_t)> clear = [&](std::size_t x) {
            selected[x] = false;
            for (std::size_t y : children[x]) clear(y);
          };
          clear(c);
          selected[c] = true;
          return stability[c];
        }
        return below;
      };
      eom(0, p.allow_single_cluster);
    }
    HdbscanResult r;
    r.labels.assign(n, -1);
    r.probabilities.assign(n, 0.0);
    std::vector<int> number(count, -1);
    int next = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t c = point_cluster[i];
      while (!selected[c] && c != 0) c = parent[c];
      if (!selected[c]) continue;
      if (c == 0 && point_lambda[i] < max_lambda[0]) continue;
      if (number[c] < 0) number[c] = next++;
      r.labels[i] = number[c];
      const double l = point_lambda[i], m = max_lambda[c];
      r.probabilities[i] = (m == 0.0 || !std::isfinite(l)) ? 1.0 : std::min(l, m) / m;
    }
    r.num_clusters = static_cast<std::size_t>(next);
    return r;
  }
};

HdbscanResult brute_force(const std::vector<double>& d, std::size_t n, const HdbscanParams& p) {
  const std::size_t k = std::min(p.min_samples, n - 1);
  std::vector<double> core(n, 0.0);
  for (std::size_t i = 0; i < n && n > 1; ++i) {
    std::vector<double> row;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) row.push_back(d[i * n + j]);
    std::sort(row.begin(), row.end());
    core[i] = row[k - 1];
  }
  std::vector<double> mr(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      if (i != j) mr[i * n + j] = std::max({d[i * n + j], core[i], core[j]});
  return BruteForce(mr, n, p).run();
}

TEST(HdbscanTies, MatchesBruteForceOnTieHeavyData) {
  // Points on a coarse grid, Manhattan or euclidean distances: many exactly equal distances and
  // core distances, duplicates included.
  const std::uint64_t seed = fedguard::test::test_seed();
  std::size_t cases = 0, with_ties = 0;
  for (std::uint64_t k = 0; k < 60; ++k) {
    std::mt19937_64 rng(seed + k);
    const std::size_t n = 1 + rng() % 60, dim = 1 + rng() % 3, grid = 2 + rng() % 6;
    const bool manhattan = rng() % 2 == 0;
    std::vector<double> pts(n * dim);
    for (auto& v : pts) v = static_cast<double>(rng() % grid);
    for (std::size_t i = 0; i < n / 4; ++i)  // a few far-away points
      pts[(rng() % n) * dim] += static_cast<double>(10 + rng() % 10);
    std::vector<double> d(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (std::size_t t = 0; t < dim; ++t) {
          const double diff = pts[i * dim + t] - pts[j * dim + t];
          s += manhattan ? std::abs(diff) : diff * diff;
        }
        d[i * n + j] = manhattan ? s : std::sqrt(s);
      }
    const std::size_t r_mcs = 2 + rng() % std::max<std::size_t>(1, n / 2);
    const std::size_t r_ms = 1 + rng() % 6;
    for (const auto& p :
         {flame_hdbscan_params(n), params(2, 1, false), params(3, 2, true), params(5, 5, false),
          params(r_mcs, r_ms, false), params(r_mcs, r_ms, true, ClusterSelection::kLeaf)}) {
      const auto got = hdbscan(d, n, p);
      const auto want = brute_force(d, n, p);
      ++cases;
      with_ties += got.simultaneous_merges > 0;
      EXPECT_EQ(got.labels, want.labels)
          << "seed " << seed + k << ", n " << n << ", mcs " << p.min_cluster_size << ", ms "
          << p.min_samples << ", single " << p.allow_single_cluster;
      EXPECT_EQ(got.probabilities, want.probabilities) << "seed " << seed + k;
    }
  }
  std::cout << "[ hdbscan ] brute force: " << cases << " cases, " << with_ties
            << " with simultaneous merges\n";
  EXPECT_GE(with_ties, cases / 2);
}

// ---------------------------------------------------------------------------------------------
// Input checks

std::string error_of(const std::vector<double>& d, std::size_t n, const HdbscanParams& p) {
  try {
    hdbscan(d, n, p);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kInvalidInput);
    return e.what();
  }
  return "no error";
}

TEST(HdbscanInput, RejectsBadInputWithNumbers) {
  const auto ok = line_distances({0, 1, 3});
  const auto p = params(2, 1, false);
  EXPECT_NE(error_of({}, 0, p).find("n = 0"), std::string::npos);
  EXPECT_NE(error_of(ok, 2, p).find("9 entries, expected n x n = 2 x 2"), std::string::npos);
  auto bad = ok;
  bad[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(error_of(bad, 3, p).find("(0, 1) is nan"), std::string::npos) << error_of(bad, 3, p);
  bad = ok;
  bad[5] = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of(bad, 3, p).find("(1, 2) is inf"), std::string::npos) << error_of(bad, 3, p);
  bad = ok;
  bad[1] = bad[3] = -0.5;
  EXPECT_NE(error_of(bad, 3, p).find("(0, 1) is -0.5, negative"), std::string::npos);
  bad = ok;
  bad[4] = 0.25;
  EXPECT_NE(error_of(bad, 3, p).find("diagonal entry (1, 1) is 0.25"), std::string::npos);
  bad = ok;
  bad[2] = 3.5;
  EXPECT_NE(error_of(bad, 3, p).find("(0, 2) is 3.5 but (2, 0) is 3"), std::string::npos)
      << error_of(bad, 3, p);
  EXPECT_NE(error_of(ok, 3, params(1, 1, false)).find("min_cluster_size must be >= 2, got 1"),
            std::string::npos);
  EXPECT_NE(error_of(ok, 3, params(2, 0, false)).find("min_samples must be >= 1, got 0"),
            std::string::npos);
  auto neg_tol = p;
  neg_tol.tolerance = -1;
  EXPECT_NE(error_of(ok, 3, neg_tol).find("tolerance"), std::string::npos);
  EXPECT_THROW(hdbscan(nullptr, 3, p), Error);
}

TEST(HdbscanInput, ToleranceAveragesAndClamps) {
  // Rounding noise below the tolerance is accepted: asymmetric pairs averaged, tiny negatives
  // and a tiny diagonal read as 0.
  auto d = line_distances({0, 1, 3, 7, 15, 15.5});
  const auto want = hdbscan(d, 6, params(2, 1, false));
  auto noisy = d;
  noisy[0 * 6 + 1] += 1e-12;
  noisy[2 * 6 + 2] = 1e-12;
  noisy[4 * 6 + 5] += 3e-13;
  EXPECT_EQ(hdbscan(noisy, 6, params(2, 1, false)).labels, want.labels);
  // A tiny negative entry instead of a zero (duplicates through 1 - cos):
  auto dup = line_distances({0, 0, 3, 7, 15});
  dup[1] = -1e-16;
  dup[5] = -1e-16;
  EXPECT_EQ(hdbscan(dup, 5, params(2, 1, false)).labels,
            hdbscan(line_distances({0, 0, 3, 7, 15}), 5, params(2, 1, false)).labels);
  auto strict = params(2, 1, false);
  strict.tolerance = 0.0;
  EXPECT_THROW(hdbscan(noisy, 6, strict), Error);
}

TEST(HdbscanInput, MinSamplesClampedToNMinusOne) {
  const auto d = line_distances({0, 1, 3, 7, 15, 15.5, 40});
  const auto a = hdbscan(d, 7, params(2, 6, false));
  const auto b = hdbscan(d, 7, params(2, 100, false));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.probabilities, b.probabilities);
}

// ---------------------------------------------------------------------------------------------
// Random point clouds

struct Cloud {
  std::vector<double> dist;
  std::size_t n = 0;
  Metric metric = Metric::kEuclidean;
  std::string describe;
};

// 2-10 Gaussian blobs (random centres, spreads and sizes) plus a few uniform noise points.
Cloud random_cloud(std::uint64_t seed, std::size_t n_min, std::size_t n_max, Metric metric) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> n_dist(n_min, n_max);
  std::uniform_int_distribution<std::size_t> blobs_dist(2, 10), dim_dist(2, 8);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::size_t n = n_dist(rng), blobs = blobs_dist(rng), dim = dim_dist(rng);
  const double box = 10.0;
  std::vector<std::vector<double>> centre(blobs, std::vector<double>(dim));
  std::vector<double> spread(blobs);
  for (std::size_t b = 0; b < blobs; ++b) {
    for (auto& v : centre[b]) v = (unit(rng) * 2 - 1) * box;
    spread[b] = 0.2 + 2.0 * unit(rng);
  }
  std::vector<double> weight(blobs);
  for (auto& w : weight) w = 0.2 + unit(rng);
  std::discrete_distribution<std::size_t> pick(weight.begin(), weight.end());
  const std::size_t noise = static_cast<std::size_t>(unit(rng) * 0.1 * static_cast<double>(n));
  std::vector<double> pts(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    if (i < noise) {
      for (std::size_t k = 0; k < dim; ++k) pts[i * dim + k] = (unit(rng) * 2 - 1) * box * 1.5;
    } else {
      const std::size_t b = pick(rng);
      for (std::size_t k = 0; k < dim; ++k)
        pts[i * dim + k] = centre[b][k] + spread[b] * normal(rng);
    }
  }
  Cloud c;
  c.n = n;
  c.metric = metric;
  c.dist = distances(pts, n, dim, metric);
  std::ostringstream s;
  s << "seed " << seed << ", n " << n << ", " << blobs << " blobs, dim " << dim << ", "
    << (metric == Metric::kCosine ? "cosine" : "euclidean");
  c.describe = s.str();
  return c;
}

TEST(Hdbscan, RandomCloudsInvariants) {
  const std::uint64_t seed = fedguard::test::test_seed();
  for (std::uint64_t k = 0; k < 40; ++k) {
    const Cloud c = random_cloud(seed + k, 5, 200, k % 2 ? Metric::kCosine : Metric::kEuclidean);
    for (const auto& p : {flame_hdbscan_params(c.n), params(5, 5, false)}) {
      const auto r = hdbscan(c.dist, c.n, p);
      ASSERT_EQ(r.labels.size(), c.n) << c.describe;
      std::vector<std::size_t> sizes(r.num_clusters, 0);
      for (std::size_t i = 0; i < c.n; ++i) {
        ASSERT_GE(r.labels[i], -1) << c.describe;
        ASSERT_LT(r.labels[i], static_cast<int>(r.num_clusters)) << c.describe;
        EXPECT_GE(r.probabilities[i], 0.0) << c.describe;
        EXPECT_LE(r.probabilities[i], 1.0) << c.describe;
        EXPECT_GE(r.outlier_scores[i], 0.0) << c.describe;
        EXPECT_LE(r.outlier_scores[i], 1.0) << c.describe;
        if (r.labels[i] < 0) {
          EXPECT_EQ(r.probabilities[i], 0.0) << c.describe;
        } else {
          ++sizes[static_cast<std::size_t>(r.labels[i])];
        }
      }
      for (std::size_t s : sizes) EXPECT_GT(s, 0u) << c.describe;
      if (p.allow_single_cluster) {
        EXPECT_EQ(r.num_clusters, 1u) << c.describe;  // FLAME: no two majorities
        EXPECT_GE(sizes.at(0), 1u) << c.describe;
      } else {
        for (std::size_t s : sizes) EXPECT_GE(s, p.min_cluster_size) << c.describe;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison with the Python hdbscan package

std::string reference_script() {
  if (const char* env = std::getenv("FEDGUARD_HDBSCAN_REFERENCE")) return env;
  return (std::filesystem::path(__FILE__).parent_path() / "hdbscan_reference.py").string();
}

std::string python() {
  const char* env = std::getenv("FEDGUARD_PYTHON");
  return env ? env : "python3";
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

struct Case {
  std::size_t cloud = 0;
  HdbscanParams p;
};

std::vector<double> parse_doubles(const std::string& line) {
  std::istringstream in(line.substr(2));
  std::vector<double> v;
  std::string tok;
  while (in >> tok) v.push_back(std::strtod(tok.c_str(), nullptr));  // also reads "nan"
  return v;
}

TEST(HdbscanPackage, MatchesPythonHdbscanOnRandomClouds) {
  const std::string check = python() + " -c 'import numpy, hdbscan' >/dev/null 2>&1";
  if (std::system(check.c_str()) != 0) {
    GTEST_SKIP() << python() << " with numpy and hdbscan not found; to run this comparison: "
                 << "python3 -m pip install numpy hdbscan==0.8.44";
  }
  const std::string script = reference_script();
  if (!std::filesystem::exists(script)) GTEST_SKIP() << "reference script not found: " << script;

  const std::uint64_t seed = fedguard::test::test_seed();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("fedguard_hdbscan_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  // Clouds: n from 5 to 200, euclidean and cosine; per cloud the FLAME parameters, FLAME
  // without a single cluster, the package's defaults (5, 5), and random parameters.
  constexpr std::size_t kClouds = 150;
  std::vector<Cloud> clouds;
  std::vector<Case> cases;
  std::ofstream manifest(dir / "manifest.txt");
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (std::size_t k = 0; k < kClouds; ++k) {
    clouds.push_back(random_cloud(seed + k, 5, 200, k % 2 ? Metric::kCosine : Metric::kEuclidean));
    const Cloud& c = clouds.back();
    const std::string path = (dir / ("cloud_" + std::to_string(k) + ".npy")).string();
    io::write_npy(path, io::NpyType::kFloat64, {c.n, c.n}, c.dist.data());
    std::vector<HdbscanParams> ps = {flame_hdbscan_params(c.n), params(c.n / 2 + 1, 1, false),
                                     params(5, 5, false)};
    std::uniform_int_distribution<std::size_t> mcs(2, std::max<std::size_t>(2, c.n / 3));
    std::uniform_int_distribution<std::size_t> ms(1, 12);
    ps.push_back(
        params(mcs(rng), ms(rng), rng() % 2 == 0,
               rng() % 3 == 0 ? ClusterSelection::kLeaf : ClusterSelection::kExcessOfMass));
    for (const auto& p : ps) {
      cases.push_back({k, p});
      manifest << path << ' ' << p.min_cluster_size << ' ' << p.min_samples << ' '
               << (p.allow_single_cluster ? 1 : 0) << ' '
               << (p.selection == ClusterSelection::kLeaf ? "leaf" : "eom") << '\n';
    }
  }
  manifest.close();

  const std::string out_path = (dir / "reference.txt").string();
  const std::string cmd = python() + " " + quoted(script) + " " +
                          quoted((dir / "manifest.txt").string()) + " " + quoted(out_path);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream ref(out_path);
  std::size_t compared = 0, tie_cases = 0, tie_agree = 0, flame_compared = 0;
  for (const Case& cs : cases) {
    std::string l_line, p_line, o_line;
    ASSERT_TRUE(std::getline(ref, l_line) && std::getline(ref, p_line) &&
                std::getline(ref, o_line));
    Labels want;
    for (double v : parse_doubles(l_line)) want.push_back(static_cast<int>(v));
    const auto want_prob = parse_doubles(p_line);
    const auto want_outlier = parse_doubles(o_line);
    const Cloud& c = clouds[cs.cloud];
    const auto& p = cs.p;
    const auto got = hdbscan(c.dist, c.n, p);
    std::ostringstream what;
    what << c.describe << "; min_cluster_size " << p.min_cluster_size << ", min_samples "
         << p.min_samples << ", allow_single_cluster " << p.allow_single_cluster << ", "
         << (p.selection == ClusterSelection::kLeaf ? "leaf" : "eom")
         << " (replay: FEDGUARD_TEST_SEED=" << seed << ")\n  ours:    " << to_string(got.labels)
         << "\n  package: " << to_string(want);
    if (got.simultaneous_merges > 0) {
      // Three or more components merged at one distance: the package's pairwise order may
      // differ from our simultaneous rule. Counted, not compared.
      ++tie_cases;
      tie_agree += same_partition(got.labels, want);
      continue;
    }
    ++compared;
    flame_compared +=
        p.allow_single_cluster && p.min_samples == 1 && p.min_cluster_size == c.n / 2 + 1;
    ASSERT_EQ(want.size(), c.n) << what.str();
    EXPECT_TRUE(same_partition(got.labels, want)) << what.str();
    for (std::size_t i = 0; i < c.n; ++i) {
      EXPECT_NEAR(got.probabilities[i], want_prob[i], 1e-12) << i << ": " << what.str();
      EXPECT_NEAR(got.outlier_scores[i], want_outlier[i], 1e-12) << i << ": " << what.str();
    }
  }
  std::cout << "[ hdbscan ] " << cases.size() << " cases: " << compared
            << " compared with the package (" << flame_compared << " with FLAME's parameters), "
            << tie_cases << " with simultaneous merges skipped (" << tie_agree
            << " of them agree anyway)\n";
  // min_samples = 1 makes the mutual reachability the distance itself: no ties in random data,
  // so both min_samples = 1 cases of every cloud are compared. With min_samples > 1 the core
  // distances tie often (a point whose core distance is the weight of two tree edges).
  EXPECT_EQ(flame_compared, kClouds);
  EXPECT_GE(compared, 2 * kClouds);
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Timing (prints; n = 5000 is disabled by default: run with --gtest_also_run_disabled_tests).

void time_n(std::size_t n) {
  const Cloud c = random_cloud(12345, n, n, Metric::kCosine);
  const auto start = std::chrono::steady_clock::now();
  const auto r = hdbscan(c.dist, c.n, flame_hdbscan_params(n));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ hdbscan ] n = " << n << ": " << ms << " ms, " << r.num_clusters
            << " cluster(s)\n";
  EXPECT_EQ(r.labels.size(), n);
}

TEST(HdbscanTiming, N1000) { time_n(1000); }
TEST(HdbscanTiming, DISABLED_N5000) { time_n(5000); }

}  // namespace
}  // namespace fedguard::cluster
