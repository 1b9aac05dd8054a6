// HDBSCAN* on a precomputed distance matrix.
//
// Papers:
//  - R. J. G. B. Campello, D. Moulavi, J. Sander, "Density-Based Clustering Based on
//    Hierarchical Density Estimates", PAKDD 2013 (LNCS 7819, pp. 160-172): core distances,
//    mutual reachability, the hierarchy from its minimum spanning tree, cluster stability and
//    the excess-of-mass selection.
//  - R. J. G. B. Campello, D. Moulavi, A. Zimek, J. Sander, "Hierarchical Density Estimates
//    for Data Clustering, Visualization, and Outlier Detection", ACM TKDD 10(1), 2015: GLOSH.
//  - L. McInnes, J. Healy, "Accelerated Hierarchical Density Based Clustering", ICDMW 2017,
//    and the `hdbscan` Python package (McInnes, Healy, Astels, JOSS 2017), whose semantics
//    (condensed tree, allow_single_cluster, probabilities) this follows; version 0.8.44.
//  - Used by FLAME: T. D. Nguyen et al., "FLAME: Taming Backdoors in Federated Learning",
//    USENIX Security 2022: cosine distances, min_cluster_size = n/2 + 1, min_samples = 1,
//    allow_single_cluster (see flame_hdbscan_params).
//
// Conventions (d = the input distances, n points):
//  1. Core distance: k = min(min_samples, n - 1); core(i) = the k-th smallest d(i, j) over
//     j != i. This is the package's convention for precomputed matrices (it takes index
//     min_samples of the sorted column, whose index 0 is the zero self-distance), so
//     min_samples = 1 makes the mutual reachability equal to d itself. The paper's m_pts and
//     scikit-learn's HDBSCAN min_samples count the point itself: they equal our min_samples + 1.
//  2. Mutual reachability: mr(i, j) = max(d(i, j), core(i), core(j)) (the package's alpha = 1).
//  3. Minimum spanning tree of mr: Prim's algorithm on the dense matrix, O(n^2) time, computing
//     mr on the fly (no n x n mr matrix).
//  4. Hierarchy (single linkage on the tree edges). TIE RULE: edges of exactly equal weight
//     are merged simultaneously, as Campello et al. 2013 prescribe (Algorithm 1: edges of equal
//     weight are removed at once), so a merge may join three or more components into one node. The
//     components at every distance are then those of the graph of edges <= that distance, which
//     does not depend on which minimum spanning tree was found nor on the order of the points: the
//     result is invariant under permutation of the points, ties included.
//  5. Condensed tree, top down, lambda = 1 / distance (+inf at distance 0): at each node, the
//     parts with at least min_cluster_size points are "large". Two or more large parts: each
//     becomes a new cluster born at this lambda; one: it carries on as its parent's cluster;
//     none: the cluster ends. Points of parts that are not large fall out of the current
//     cluster at this lambda.
//  6. Stability(C) = sum over points and child clusters leaving C of (lambda - birth(C)) times
//     their size; the root is born at lambda 0. Each sum is taken in sorted order of its terms,
//     so it does not depend on the order of the points.
//  7. Excess of mass, bottom up: a cluster is replaced by its child clusters when the sum of
//     their (already propagated) stabilities is strictly greater than its own (ties keep the
//     parent); then every selected cluster's descendants are unselected. The root is a
//     candidate only with allow_single_cluster. Leaf selection takes the leaves of the
//     cluster tree, and nothing (all noise) when the root never splits, as the package does.
//  8. Labels: a point belongs to its nearest selected ancestor cluster, else it is noise.
//     When the selected cluster is the root (allow_single_cluster), a point is in it only if
//     it fell out at a lambda >= the largest lambda at which anything left the root (the
//     package's rule): for FLAME this is the densest group of at least n/2 + 1 points.
//     Clusters are numbered in the order of their smallest point index.
//  9. Probability of a clustered point: min(lambda_p, L) / L, L = the largest lambda at which
//     anything left its selected cluster directly; 1 when L = 0 or lambda_p = +inf; 0 for
//     noise. GLOSH outlier score: (L' - lambda_p) / L', L' = the largest lambda in the subtree
//     of the cluster the point fell out of; 0 when L' = 0 or lambda_p = +inf.
//
// Departures from the package (hdbscan 0.8.44, metric="precomputed"):
//  - Ties (rule 4): the package merges pairwise in the order of np.argsort of the edge weights
//    (not a stable sort beyond 16 edges), so where three or more components join at one
//    distance its labels can depend on that order; here they cannot.
//    HdbscanResult::simultaneous_merges counts such merges.
//  - Cluster numbering: the package numbers clusters by condensed-tree id; here by smallest
//    point index (labels agree up to a permutation of the cluster ids).
//  - Excess of mass compares in double; the package accumulates the children's stability sum
//    in a C float, so a parent and children equal to within ~1e-7 relative may go either way.
//  - n = 1: the package raises; here the single point is one cluster with
//    allow_single_cluster, noise without.
//  - GLOSH score when L' = +inf and lambda_p is finite (zero distances elsewhere in the
//    subtree): the package gives NaN, here 1.
//  - Input: the package accepts +inf as a missing distance and uses the matrix unchecked
//    (core distances from columns, Prim's from rows); here entries must be finite,
//    non-negative, with a zero diagonal and symmetric, all within params.tolerance.
//  - Not implemented: alpha, cluster_selection_epsilon(_max), cluster_selection_persistence,
//    max_cluster_size, match_reference_implementation, per-cluster stability scores.
//  As in the package, min_samples > n - 1 is clamped to n - 1, min_cluster_size > n is allowed
//  (with allow_single_cluster the root is then still selectable), min_cluster_size >= 2.
//
// Cost: O(n^2) time (input check, core distances, Prim's), O(n) memory beyond the input,
// plus one n x n copy only when the input is symmetric within tolerance but not exactly.
#include "cluster/hdbscan.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "fedguard/error.h"

namespace fedguard::cluster {
namespace detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_params(std::size_t n, const HdbscanParams& p) {
  FEDGUARD_EXPECTS(n >= 1, "hdbscan: needs at least one point, got n = 0");
  FEDGUARD_EXPECTS(p.min_cluster_size >= 2,
                   "hdbscan: min_cluster_size must be >= 2, got " << p.min_cluster_size);
  FEDGUARD_EXPECTS(p.min_samples >= 1, "hdbscan: min_samples must be >= 1, got " << p.min_samples);
  FEDGUARD_EXPECTS(std::isfinite(p.tolerance) && p.tolerance >= 0.0,
                   "hdbscan: tolerance must be finite and >= 0, got " << p.tolerance);
  FEDGUARD_EXPECTS(
      p.selection == ClusterSelection::kExcessOfMass || p.selection == ClusterSelection::kLeaf,
      "hdbscan: unknown cluster selection method " << static_cast<int>(p.selection));
}

// Checks every entry; returns the matrix to use: d itself when it is exactly symmetric,
// else `sym` filled with the averaged pairs (zero diagonal). Tiles keep both the (i, j) and
// the (j, i) reads cache friendly.
const double* check_matrix(const double* d, std::size_t n, double tol, std::vector<double>& sym) {
  constexpr std::size_t kTile = 64;
  bool exact = true;
  for (std::size_t ib = 0; ib < n; ib += kTile) {
    const std::size_t ie = std::min(ib + kTile, n);
    for (std::size_t jb = ib; jb < n; jb += kTile) {
      const std::size_t je = std::min(jb + kTile, n);
      for (std::size_t i = ib; i < ie; ++i) {
        for (std::size_t j = std::max(jb, i); j < je; ++j) {
          const double a = d[i * n + j];
          const double b = d[j * n + i];
          FEDGUARD_EXPECTS(std::isfinite(a), "hdbscan: distance (" << i << ", " << j << ") is " << a
                                                                   << "; must be finite");
          if (i == j) {
            FEDGUARD_EXPECTS(std::abs(a) <= tol, "hdbscan: diagonal entry ("
                                                     << i << ", " << i << ") is " << a
                                                     << ", not 0 within tolerance " << tol);
            continue;
          }
          FEDGUARD_EXPECTS(std::isfinite(b), "hdbscan: distance (" << j << ", " << i << ") is " << b
                                                                   << "; must be finite");
          FEDGUARD_EXPECTS(a >= -tol, "hdbscan: distance (" << i << ", " << j << ") is " << a
                                                            << ", negative beyond tolerance "
                                                            << tol);
          FEDGUARD_EXPECTS(b >= -tol, "hdbscan: distance (" << j << ", " << i << ") is " << b
                                                            << ", negative beyond tolerance "
                                                            << tol);
          if (a != b) {
            exact = false;
            const double scale = std::max({1.0, std::abs(a), std::abs(b)});
            FEDGUARD_EXPECTS(std::abs(a - b) <= tol * scale,
                             "hdbscan: distance matrix not symmetric: ("
                                 << i << ", " << j << ") is " << a << " but (" << j << ", " << i
                                 << ") is " << b << "; difference " << std::abs(a - b)
                                 << " exceeds tolerance " << tol << " x " << scale);
          }
        }
      }
    }
  }
  if (exact) return d;
  sym.assign(n * n, 0.0);
  for (std::size_t ib = 0; ib < n; ib += kTile) {
    const std::size_t ie = std::min(ib + kTile, n);
    for (std::size_t jb = ib; jb < n; jb += kTile) {
      const std::size_t je = std::min(jb + kTile, n);
      for (std::size_t i = ib; i < ie; ++i) {
        for (std::size_t j = std::max(jb, i + 1); j < je; ++j) {
          const double a = d[i * n + j];
          const double b = d[j * n + i];
          const double v = a == b ? a : 0.5 * a + 0.5 * b;
          sym[i * n + j] = v;
          sym[j * n + i] = v;
        }
      }
    }
  }
  return sym.data();
}

// core(i) = k-th smallest d(i, j), j != i, k = min(min_samples, n - 1); clamped at 0 (entries
// may be negative within tolerance).
std::vector<double> core_distances(const double* d, std::size_t n, std::size_t min_samples) {
  const std::size_t k = std::min(min_samples, n - 1);
  std::vector<double> core(n, 0.0);
  std::vector<double> row(n > 0 ? n - 1 : 0);
  for (std::size_t i = 0; i < n; ++i) {
    const double* r = d + i * n;
    double v;
    if (k == 1) {
      v = kInf;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) v = std::min(v, r[j]);
    } else {
      std::copy(r, r + i, row.begin());
      std::copy(r + i + 1, r + n, row.begin() + static_cast<std::ptrdiff_t>(i));
      std::nth_element(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k - 1), row.end());
      v = row[k - 1];
    }
    core[i] = std::max(0.0, v);
  }
  return core;
}

struct Edge {
  double weight;
  std::size_t a, b;  // a < b
};

// Prim's algorithm on the mutual-reachability graph, mr computed on the fly. Returns n - 1
// edges sorted by (weight, a, b). Which of several minimum spanning trees is found does not
// matter to the result (rule 4).
std::vector<Edge> minimum_spanning_tree(const double* d, std::size_t n,
                                        const std::vector<double>& core) {
  std::vector<Edge> edges;
  edges.reserve(n - 1);
  std::vector<double> best(n, kInf);
  std::vector<std::size_t> source(n, 0);
  std::vector<std::size_t> remaining;  // points not yet in the tree
  remaining.reserve(n - 1);
  for (std::size_t j = 1; j < n; ++j) remaining.push_back(j);
  std::size_t current = 0;
  while (!remaining.empty()) {
    const double* row = d + current * n;
    const double core_current = core[current];
    std::size_t best_pos = 0;
    double best_weight = kInf;
    for (std::size_t pos = 0; pos < remaining.size(); ++pos) {
      const std::size_t j = remaining[pos];
      const double w = std::max(std::max(row[j], core_current), core[j]);
      if (w < best[j]) {
        best[j] = w;
        source[j] = current;
      }
      if (best[j] < best_weight) {
        best_weight = best[j];
        best_pos = pos;
      }
    }
    const std::size_t next = remaining[best_pos];
    edges.push_back({best[next], std::min(next, source[next]), std::max(next, source[next])});
    remaining[best_pos] = remaining.back();
    remaining.pop_back();
    current = next;
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    if (x.weight != y.weight) return x.weight < y.weight;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
  });
  return edges;
}

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

// Single-linkage hierarchy with simultaneous merges of equal-weight edges. Nodes 0..n-1 are the
// points; internal nodes follow, children in first_child / next_sibling lists.
struct Hierarchy {
  std::vector<double> weight;  // per node; 0 for points
  std::vector<std::size_t> size;
  std::vector<std::size_t> first_child;
  std::vector<std::size_t> next_sibling;
  std::size_t root = 0;
  std::size_t simultaneous_merges = 0;

  std::size_t add_node(double w) {
    weight.push_back(w);
    size.push_back(0);
    first_child.push_back(kNone);
    next_sibling.push_back(kNone);
    return weight.size() - 1;
  }
};

class DisjointSets {
 public:
  explicit DisjointSets(std::size_t n) : parent_(n), size_(n, 1) {
    for (std::size_t i = 0; i < n; ++i) parent_[i] = i;
  }
  std::size_t find(std::size_t x) {
    std::size_t r = x;
    while (parent_[r] != r) r = parent_[r];
    while (parent_[x] != r) {
      const std::size_t next = parent_[x];
      parent_[x] = r;
      x = next;
    }
    return r;
  }
  void unite(std::size_t x, std::size_t y) {
    x = find(x);
    y = find(y);
    if (x == y) return;
    if (size_[x] < size_[y]) std::swap(x, y);
    parent_[y] = x;
    size_[x] += size_[y];
  }

 private:
  std::vector<std::size_t> parent_;
  std::vector<std::size_t> size_;
};

Hierarchy build_hierarchy(std::size_t n, const std::vector<Edge>& edges) {
  Hierarchy h;
  h.weight.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    h.add_node(0.0);
    h.size[i] = 1;
  }
  DisjointSets sets(n);
  std::vector<std::size_t> component_node(n);  // by set representative
  for (std::size_t i = 0; i < n; ++i) component_node[i] = i;

  std::vector<std::pair<std::size_t, std::size_t>> parts;  // (representative, node)
  for (std::size_t g = 0; g < edges.size();) {
    std::size_t e = g;
    while (e < edges.size() && edges[e].weight == edges[g].weight) ++e;
    // The components this group touches, taken before any of its merges...
    parts.clear();
    for (std::size_t k = g; k < e; ++k) {
      const std::size_t ra = sets.find(edges[k].a);
      const std::size_t rb = sets.find(edges[k].b);
      parts.emplace_back(ra, component_node[ra]);
      parts.emplace_back(rb, component_node[rb]);
    }
    for (std::size_t k = g; k < e; ++k) sets.unite(edges[k].a, edges[k].b);
    // ...grouped by the component they end up in: one new node per group of parts.
    for (auto& part : parts) part.first = sets.find(part.first);
    std::sort(parts.begin(), parts.end());
    parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
    for (std::size_t p = 0; p < parts.size();) {
      std::size_t q = p;
      const std::size_t node = h.add_node(edges[g].weight);
      std::size_t last = kNone;
      while (q < parts.size() && parts[q].first == parts[p].first) {
        const std::size_t child = parts[q].second;
        if (last == kNone) {
          h.first_child[node] = child;
        } else {
          h.next_sibling[last] = child;
        }
        last = child;
        h.size[node] += h.size[child];
        ++q;
      }
      if (q - p >= 3) ++h.simultaneous_merges;
      component_node[parts[p].first] = node;
      p = q;
    }
    g = e;
  }
  h.root = component_node[sets.find(0)];
  return h;
}

// The condensed tree. Cluster 0 is the root; a cluster's id is larger than its parent's.
struct CondensedTree {
  std::vector<std::size_t> parent;  // per cluster; kNone for the root
  std::vector<double> birth;        // lambda at which the cluster appeared
  std::vector<double> max_lambda;   // largest lambda of anything leaving it directly
  std::vector<double> stability;
  std::vector<std::size_t> point_cluster;  // cluster each point fell out of
  std::vector<double> point_lambda;        // lambda at which it fell out
};

CondensedTree condense(const Hierarchy& h, std::size_t n, std::size_t min_cluster_size) {
  CondensedTree t;
  t.point_cluster.assign(n, 0);
  t.point_lambda.assign(n, 0.0);
  t.parent.push_back(kNone);
  t.birth.push_back(0.0);
  t.max_lambda.push_back(0.0);

  // Stability terms (cluster, term), summed per cluster in sorted order at the end.
  std::vector<std::pair<std::size_t, double>> terms;
  terms.reserve(2 * n);
  auto leave = [&](std::size_t cluster, double lambda, std::size_t count) {
    terms.emplace_back(cluster, (lambda - t.birth[cluster]) * static_cast<double>(count));
    t.max_lambda[cluster] = std::max(t.max_lambda[cluster], lambda);
  };

  std::vector<std::size_t> stack;
  auto fall_out = [&](std::size_t node, std::size_t cluster, double lambda) {
    stack.assign(1, node);
    while (!stack.empty()) {
      const std::size_t x = stack.back();
      stack.pop_back();
      if (x < n) {
        t.point_cluster[x] = cluster;
        t.point_lambda[x] = lambda;
        leave(cluster, lambda, 1);
        continue;
      }
      for (std::size_t c = h.first_child[x]; c != kNone; c = h.next_sibling[c]) stack.push_back(c);
    }
  };

  if (n == 1) {
    t.point_cluster[0] = 0;
    t.point_lambda[0] = kInf;
    leave(0, kInf, 1);
  } else {
    std::vector<std::pair<std::size_t, std::size_t>> queue;  // (hierarchy node, cluster)
    queue.emplace_back(h.root, 0);
    for (std::size_t head = 0; head < queue.size(); ++head) {
      const auto [node, cluster] = queue[head];
      const double w = h.weight[node];
      const double lambda = w > 0.0 ? 1.0 / w : kInf;
      std::size_t large = 0;
      for (std::size_t c = h.first_child[node]; c != kNone; c = h.next_sibling[c])
        if (h.size[c] >= min_cluster_size) ++large;
      for (std::size_t c = h.first_child[node]; c != kNone; c = h.next_sibling[c]) {
        if (h.size[c] < min_cluster_size) {
          fall_out(c, cluster, lambda);
        } else if (large == 1) {
          queue.emplace_back(c, cluster);
        } else {
          const std::size_t id = t.parent.size();
          t.parent.push_back(cluster);
          t.birth.push_back(lambda);
          t.max_lambda.push_back(0.0);
          leave(cluster, lambda, h.size[c]);
          queue.emplace_back(c, id);
        }
      }
    }
  }

  std::sort(terms.begin(), terms.end());
  t.stability.assign(t.parent.size(), 0.0);
  for (const auto& [cluster, term] : terms) t.stability[cluster] += term;
  return t;
}

std::vector<bool> select_clusters(const CondensedTree& t, const HdbscanParams& p) {
  const std::size_t count = t.parent.size();
  std::vector<bool> selected(count, false);
  std::vector<bool> has_child(count, false);
  for (std::size_t c = 1; c < count; ++c) has_child[t.parent[c]] = true;

  if (p.selection == ClusterSelection::kLeaf) {
    if (count == 1) return selected;  // the root never splits: no leaves, all noise
    for (std::size_t c = 1; c < count; ++c) selected[c] = !has_child[c];
    return selected;
  }

  // Excess of mass, bottom up (children have larger ids), then top down to keep only the
  // highest selected cluster on every path.
  std::vector<double> stability = t.stability;
  std::vector<std::vector<double>> child_stabilities(count);
  std::vector<bool> tentative(count, false);
  for (std::size_t c = count; c-- > 0;) {
    if (c == 0 && !p.allow_single_cluster) break;
    auto& terms = child_stabilities[c];
    std::sort(terms.begin(), terms.end());
    double children = 0.0;
    for (double s : terms) children += s;
    if (children > stability[c]) {
      stability[c] = children;
    } else {
      tentative[c] = true;
    }
    if (c > 0) child_stabilities[t.parent[c]].push_back(stability[c]);
  }
  std::vector<bool> blocked(count, false);
  for (std::size_t c = 0; c < count; ++c) {
    if (c > 0) blocked[c] = blocked[t.parent[c]] || selected[t.parent[c]];
    selected[c] = tentative[c] && !blocked[c];
  }
  return selected;
}

}  // namespace
}  // namespace detail

HdbscanParams flame_hdbscan_params(std::size_t n) {
  HdbscanParams p;
  p.min_cluster_size = std::max<std::size_t>(2, n / 2 + 1);
  p.min_samples = 1;
  p.allow_single_cluster = true;
  p.selection = ClusterSelection::kExcessOfMass;
  return p;
}

HdbscanResult hdbscan(const std::vector<double>& dist, std::size_t n, const HdbscanParams& params) {
  FEDGUARD_EXPECTS(n >= 1, "hdbscan: needs at least one point, got n = 0");
  FEDGUARD_EXPECTS(n <= (std::size_t{1} << 31) && dist.size() == n * n,
                   "hdbscan: distance matrix has "
                       << dist.size() << " entries, expected n x n = " << n << " x " << n);
  return hdbscan(dist.data(), n, params);
}

HdbscanResult hdbscan(const double* dist, std::size_t n, const HdbscanParams& params) {
  using namespace detail;
  check_params(n, params);
  FEDGUARD_EXPECTS(dist != nullptr, "hdbscan: distance matrix pointer is null (n = " << n << ")");
  FEDGUARD_EXPECTS(n <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
                   "hdbscan: n = " << n << " is too large");

  std::vector<double> symmetrized;
  const double* d = check_matrix(dist, n, params.tolerance, symmetrized);

  HdbscanResult result;
  Hierarchy hierarchy;
  if (n >= 2) {
    const std::vector<double> core = core_distances(d, n, params.min_samples);
    hierarchy = build_hierarchy(n, minimum_spanning_tree(d, n, core));
    result.simultaneous_merges = hierarchy.simultaneous_merges;
  }
  const CondensedTree tree = condense(hierarchy, n, params.min_cluster_size);
  const std::vector<bool> selected = select_clusters(tree, params);
  const std::size_t count = tree.parent.size();

  // Nearest selected ancestor (or itself) of each cluster; kNone when there is none.
  std::vector<std::size_t> owner(count, kNone);
  for (std::size_t c = 0; c < count; ++c) {
    if (selected[c]) {
      owner[c] = c;
    } else if (c > 0) {
      owner[c] = owner[tree.parent[c]];
    }
  }

  // Largest lambda in each cluster's subtree (GLOSH).
  std::vector<double> subtree_max = tree.max_lambda;
  for (std::size_t c = count; c-- > 1;)
    subtree_max[tree.parent[c]] = std::max(subtree_max[tree.parent[c]], subtree_max[c]);

  result.labels.assign(n, -1);
  result.probabilities.assign(n, 0.0);
  result.outlier_scores.assign(n, 0.0);
  std::vector<int> number(count, -1);
  int next_label = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double lambda = tree.point_lambda[i];
    const double glosh_max = subtree_max[tree.point_cluster[i]];
    if (glosh_max == 0.0 || !std::isfinite(lambda)) {
      result.outlier_scores[i] = 0.0;
    } else if (!std::isfinite(glosh_max)) {
      result.outlier_scores[i] = 1.0;
    } else {
      result.outlier_scores[i] = (glosh_max - lambda) / glosh_max;
    }

    const std::size_t c = owner[tree.point_cluster[i]];
    if (c == kNone) continue;
    if (c == 0 && !(lambda >= tree.max_lambda[0])) continue;  // single-cluster rule
    if (number[c] < 0) number[c] = next_label++;
    result.labels[i] = number[c];
    const double max_lambda = tree.max_lambda[c];
    result.probabilities[i] = max_lambda == 0.0 || !std::isfinite(lambda)
                                  ? 1.0
                                  : std::min(lambda, max_lambda) / max_lambda;
  }
  result.num_clusters = static_cast<std::size_t>(next_label);
  return result;
}

}  // namespace fedguard::cluster
