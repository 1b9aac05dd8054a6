// FLAME against a d-space float64 reference: cosine distances computed plainly, clustered with
// fedguard's HDBSCAN (itself checked against the `hdbscan` package in tests/cluster), the
// majority cluster clipped to the median norm and averaged; and the noise step.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "cluster/hdbscan.h"
#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

Matrix planted_round(std::size_t n, std::size_t bad, std::size_t d, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  ref::Vec g(d), h(d);
  for (double& v : g) v = normal(rng);
  for (double& v : h) v = normal(rng);
  Matrix x(n, ref::Vec(d));
  for (std::size_t i = 0; i < n; ++i) {
    const bool attacker = i % (n / bad) == 1 && i / (n / bad) < bad;
    const double scale = 0.5 + 0.1 * static_cast<double>(i % 7);  // spread norms: clipping matters
    for (std::size_t j = 0; j < d; ++j)
      x[i][j] = static_cast<float>(scale * ((attacker ? h[j] : g[j]) + 0.3 * normal(rng)));
  }
  return x;
}

TEST(Flame, MatchesReferenceWithoutNoise) {
  std::mt19937_64 rng(test_seed());
  for (std::size_t n : {10, 21, 40}) {
    Matrix x = planted_round(n, n / 5, 300, rng);
    const auto bytes = encode(x, DType::kFloat32);
    Engine e = make_engine(R"({"aggregator": {"rule": "flame", "lambda": 0}})", 128);
    const RoundResult r = run_round(e, bytes, n, 300, DType::kFloat32);

    std::vector<double> dist(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b) {
        double dot = 0;
        for (std::size_t j = 0; j < 300; ++j) dot += x[a][j] * x[b][j];
        dist[a * n + b] = a == b ? 0.0 : 1.0 - dot / (ref::norm(x[a]) * ref::norm(x[b]));
      }
    const auto h = cluster::hdbscan(dist, n, cluster::flame_hdbscan_params(n));
    std::map<int, std::size_t> sizes;
    for (int l : h.labels)
      if (l >= 0) ++sizes[l];
    int majority = -1;
    std::size_t best = 0;
    for (const auto& [l, s] : sizes)
      if (s > best) best = s, majority = l;
    ASSERT_GE(majority, 0);
    ref::Vec norms;
    for (const auto& row : x) norms.push_back(ref::norm(row));
    ref::Vec sorted = norms;
    std::sort(sorted.begin(), sorted.end());
    const double med = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    Matrix kept;
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(r.accepted[i], h.labels[i] == majority ? 1 : 0) << "n=" << n << " client " << i;
      if (h.labels[i] != majority) continue;
      ref::Vec row = x[i];
      for (double& v : row) v *= std::min(1.0, med / norms[i]);
      kept.push_back(row);
    }
    EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(kept, {})), 1e-5) << "n=" << n;
    // The planted group is rejected.
    for (std::size_t i = 0; i < n; ++i)
      if (i % (n / (n / 5)) == 1 && i / (n / (n / 5)) < n / 5) {
        EXPECT_EQ(r.accepted[i], 0) << i;
      }
  }
}

TEST(Flame, NoiseHasTheConfiguredScaleAndIsSeeded) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 20, d = 50000;
  Matrix x = planted_round(n, 4, d, rng);
  const auto bytes = encode(x, DType::kFloat32);
  Engine quiet = make_engine(R"({"aggregator": {"rule": "flame", "lambda": 0}})");
  Engine noisy = make_engine(R"({"aggregator": {"rule": "flame", "lambda": 0.01, "seed": 3}})");
  Engine again = make_engine(R"({"aggregator": {"rule": "flame", "lambda": 0.01, "seed": 3}})");
  const RoundResult a = run_round(quiet, bytes, n, d, DType::kFloat32);
  const RoundResult b = run_round(noisy, bytes, n, d, DType::kFloat32);
  const RoundResult c = run_round(again, bytes, n, d, DType::kFloat32);
  EXPECT_EQ(b.aggregate, c.aggregate);  // same seed, same round: same noise
  ref::Vec norms;
  for (const auto& row : x) norms.push_back(ref::norm(row));
  std::sort(norms.begin(), norms.end());
  const double sigma = 0.01 * (norms[n / 2 - 1] + norms[n / 2]) / 2;
  EXPECT_NEAR(b.noise_sigma, sigma, 1e-6 * sigma);
  double sum = 0, sq = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const double z = static_cast<double>(b.aggregate[j]) - a.aggregate[j];
    sum += z;
    sq += z * z;
  }
  const double mean = sum / d, sd = std::sqrt(sq / d - mean * mean);
  EXPECT_NEAR(sd, sigma, 0.02 * sigma);
  EXPECT_NEAR(mean, 0.0, 5 * sigma / std::sqrt(static_cast<double>(d)));
}

}  // namespace
}  // namespace fedguard::test
