// SignGuard: the norm filter, the sign-statistics clustering, and the clipped mean, against
// plain loops in float64.
#include <gtest/gtest.h>

#include <cmath>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

TEST(SignGuard, RejectsNormAndSignOutliersAndClipsToTheMedian) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<double> normal;
  const std::size_t n = 30, d = 4000;
  Matrix x(n, ref::Vec(d));
  for (std::size_t i = 0; i < n; ++i) {
    const double scale = 1.0 + 0.05 * static_cast<double>(i % 5);
    for (std::size_t j = 0; j < d; ++j) {
      double v = scale * normal(rng);
      if (i == 3 || i == 11 || i == 20)
        v = std::abs(v) * (j % 10 == 0 ? -1 : 1);  // 90% positive signs
      if (i == 7) v *= 10;                         // 10x the norm
      if (i == 25) v *= 0.01;                      // 1% of the norm
      x[i][j] = static_cast<float>(v);
    }
  }
  const auto bytes = encode(x, DType::kFloat32);
  Engine e = make_engine(R"({"aggregator": {"rule": "signguard"}})");
  const RoundResult r = run_round(e, bytes, n, d, DType::kFloat32);
  for (std::size_t i = 0; i < n; ++i) {
    const bool bad = i == 3 || i == 11 || i == 20 || i == 7 || i == 25;
    EXPECT_EQ(r.accepted[i], bad ? 0 : 1)
        << i << " " << (r.reasons.count(i) ? r.reasons.at(i) : "");
  }
  EXPECT_EQ(r.reasons.at(7).rfind("signguard: norm", 0), 0u) << r.reasons.at(7);
  EXPECT_EQ(r.reasons.at(3).rfind("signguard: sign statistics", 0), 0u) << r.reasons.at(3);

  ref::Vec norms;
  for (const auto& row : x) norms.push_back(ref::norm(row));
  ref::Vec sorted = norms;
  std::sort(sorted.begin(), sorted.end());
  const double med = (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  Matrix kept;
  for (std::size_t i = 0; i < n; ++i) {
    if (!r.accepted[i]) continue;
    ref::Vec row = x[i];
    for (double& v : row) v *= std::min(1.0, med / norms[i]);
    kept.push_back(row);
  }
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(kept, {})), 1e-5);
}

TEST(SignGuard, ABandwidthWiderThanTheFeaturesKeepsOneCluster) {
  std::mt19937_64 rng(test_seed());
  Matrix x = random_round(RoundShape{17, 3000, false, false, false, 0}, rng);
  const auto bytes = encode(x, DType::kFloat32);
  Engine e = make_engine(
      R"({"filters": [{"rule": "signguard", "upper": 100, "lower": 0, "bandwidth": 2.0}], "aggregator": {"rule": "mean"}})");
  const RoundResult r = run_round(e, bytes, 17, 3000, DType::kFloat32);
  for (std::size_t i = 0; i < 17; ++i) EXPECT_EQ(r.accepted[i], 1) << i;
  // The score is the distance to the mode: all below the bandwidth.
  for (std::size_t i = 0; i < 17; ++i) EXPECT_LT(r.scores.at("signguard")[i], 2.0);
}

}  // namespace
}  // namespace fedguard::test
