// Extreme magnitudes (issue 17): rows at 1e30 and 3e38, rows of subnormals only, and both
// mixed with ordinary rows, through every rule and detector. Robust aggregators must stay
// within their breakdown guarantee, checked against the float64 brute force in d-space
// (tests/support/reference.cc); nothing may crash or put a NaN or Inf into an aggregate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

constexpr std::size_t kN = 30, kD = 24, kF = 3;

struct Round {
  Matrix x;
  std::vector<float> data;
  std::vector<std::size_t> benign;
};

// kN rows: ordinary N(0, 1) rows (plus a common offset), and the last `bad` rows at +-magnitude
// (signs alternate per coordinate and row, so no coordinate is benign-looking by accident).
Round make_round(std::mt19937_64& rng, std::size_t bad, double magnitude, double scale = 1.0) {
  std::normal_distribution<double> g(0.0, 1.0);
  Round r;
  r.x.assign(kN, ref::Vec(kD));
  for (std::size_t i = 0; i < kN; ++i) {
    const bool outlier = i >= kN - bad;
    if (!outlier) r.benign.push_back(i);
    for (std::size_t j = 0; j < kD; ++j) {
      const double v = outlier ? magnitude * (((i + j) % 2) ? 1.0 : -1.0) * (1 + 0.01 * g(rng))
                               : scale * (0.5 + g(rng));
      r.x[i][j] = static_cast<double>(static_cast<float>(v));
    }
  }
  r.data = to_floats(r.x);
  return r;
}

RoundResult run(const std::string& policy, const Round& r, const float* reference = nullptr) {
  Engine e = make_engine(policy);
  RoundInput in;
  in.updates = UpdateView(r.data.data(), kN, kD, DType::kFloat32);
  in.reference = reference;
  return e.process_round(in);
}

void expect_finite(const RoundResult& res, const std::string& what) {
  for (float v : res.aggregate) ASSERT_TRUE(std::isfinite(v)) << what << ": aggregate holds " << v;
}

// Per coordinate, the aggregate lies within the benign rows' range (widened by `slack` times
// the benign spread of that coordinate): what median, trimmed mean, Bulyan, Krum and every
// filter-then-median pipeline guarantee while fewer than their f rows are outliers.
void expect_within_benign_range(const RoundResult& res, const Round& r, double slack,
                                const std::string& what) {
  for (std::size_t j = 0; j < kD; ++j) {
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i : r.benign) lo = std::min(lo, r.x[i][j]), hi = std::max(hi, r.x[i][j]);
    const double pad = slack * (hi - lo) + 1e-6 * std::max(std::fabs(lo), std::fabs(hi));
    EXPECT_GE(res.aggregate[j], lo - pad) << what << " column " << j;
    EXPECT_LE(res.aggregate[j], hi + pad) << what << " column " << j;
  }
}

double max_abs_diff(const std::vector<float>& a, const ref::Vec& b) {
  double m = 0;
  for (std::size_t j = 0; j < b.size(); ++j)
    m = std::max(m, std::fabs(static_cast<double>(a[j]) - b[j]));
  return m;
}

class ExtremeMagnitudes : public ::testing::TestWithParam<double> {};

// Robust aggregators against their float64 references, with kF outlying rows.
TEST_P(ExtremeMagnitudes, RobustAggregatorsMatchTheFloat64Reference) {
  std::mt19937_64 rng(test_seed());
  const double m = GetParam();
  const Round r = make_round(rng, kF, m);
  const Matrix& x = r.x;
  const ref::Vec gm = ref::geometric_median(x, {}, 1e-12, 5000);
  const std::vector<std::pair<std::string, ref::Vec>> cases = {
      {R"({"aggregator": {"rule": "median"}})", ref::median(x)},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 3}})", ref::trimmed_mean(x, kF)},
      {R"({"aggregator": {"rule": "krum", "f": 3}})", x[ref::krum(x, kF)]},
      {R"({"aggregator": {"rule": "multi_krum", "f": 3, "m": 20}})",
       ref::weighted_mean(ref::rows(x, ref::multi_krum(x, kF, 20)), {})},
      {R"({"aggregator": {"rule": "bulyan", "f": 3}})", ref::bulyan(x, kF)},
      {R"({"aggregator": {"rule": "geometric_median", "nu": 1e-12}})", gm},
      {R"({"aggregator": {"rule": "centered_clipping"}})",
       ref::centered_clipping(x, ref::Vec(kD, 0.0), 10, 3)},
  };
  for (const auto& [policy, want] : cases) {
    const RoundResult res = run(policy, r);
    expect_finite(res, policy);
    EXPECT_LT(max_abs_diff(res.aggregate, want), 1e-3) << policy << " at magnitude " << m;
    if (policy.find("centered_clipping") == std::string::npos)
      expect_within_benign_range(res, r, 0.5, policy);
  }
  // The exact geometric median itself is within O(1) of the benign rows (breakdown point 1/2).
  double norm = 0;
  for (double v : gm) norm = std::max(norm, std::fabs(v));
  EXPECT_LT(norm, 10.0);
}

// One row alone, among 29 (the probe's case): geometric_median used to return 2e17 for 1e30.
TEST_P(ExtremeMagnitudes, OneRowDoesNotMoveTheGeometricMedian) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(rng, 1, GetParam());
  const RoundResult res = run(R"({"aggregator": {"rule": "geometric_median"}})", r);
  expect_finite(res, "geometric_median");
  EXPECT_LT(max_abs_diff(res.aggregate, ref::geometric_median(r.x, {}, 1e-6, 5000)), 1e-3);
  expect_within_benign_range(res, r, 0.5, "geometric_median");
}

// Detectors and transforms: nothing crashes, the aggregate is finite, and a median behind any
// of them stays within the benign range (the outliers are a minority of what survives).
TEST_P(ExtremeMagnitudes, EveryDetectorAndTransformStaysFiniteAndBounded) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(rng, kF, GetParam());
  std::vector<float> reference(kD);
  for (std::size_t j = 0; j < kD; ++j) reference[j] = static_cast<float>(ref::median(r.x)[j]);
  const std::vector<std::string> stages = {
      R"("filters": [{"rule": "norm_bound", "max_ratio": 3}])",
      R"("filters": [{"rule": "dnc", "f": 3}])",
      R"("filters": [{"rule": "pca_outlier"}])",
      R"("filters": [{"rule": "flame"}])",
      R"("filters": [{"rule": "signguard"}])",
      R"("filters": [{"rule": "fldetector"}])",
      R"("filters": [{"rule": "reputation"}])",
      R"("filters": [{"rule": "bulyan", "f": 3}])",
      R"("filters": [{"rule": "krum", "f": 3}])",
      R"("filters": [{"rule": "multi_krum", "f": 3}])",
      R"("transforms": [{"rule": "nnm", "f": 3}])",
      R"("transforms": [{"rule": "arc", "f": 3}])",
      R"("transforms": [{"rule": "norm_clip", "max_norm": 5}])",
  };
  for (const std::string& stage : stages) {
    const std::string policy = "{" + stage + R"(, "aggregator": {"rule": "median"}})";
    SCOPED_TRACE(policy);
    RoundResult res;
    try {
      res = run(policy, r, reference.data());
    } catch (const Error& e) {
      ADD_FAILURE() << "threw: " << e.what();
      continue;
    }
    expect_finite(res, policy);
    for (const auto& [name, values] : res.scores)
      for (double v : values) EXPECT_FALSE(std::isinf(v)) << "score " << name;
    expect_within_benign_range(res, r, 0.5, policy);
  }
  // FLTrust (an aggregator: trust-weighted, clipped to the reference's norm): bounded by it.
  const RoundResult ft = run(R"({"aggregator": {"rule": "fltrust"}})", r, reference.data());
  expect_finite(ft, "fltrust");
  expect_within_benign_range(ft, r, 0.5, "fltrust");
  // FoolsGold (an aggregator: a reweighted mean against sybils, no magnitude guarantee): finite.
  const RoundResult fg = run(R"({"aggregator": {"rule": "foolsgold"}})", r);
  expect_finite(fg, "foolsgold");
  // The plain mean has breakdown point 0: it follows the outliers, but exactly and finitely.
  const RoundResult mean = run(R"({"aggregator": {"rule": "mean"}})", r);
  expect_finite(mean, "mean");
  const ref::Vec want = ref::weighted_mean(r.x, {});
  for (std::size_t j = 0; j < kD; ++j)
    EXPECT_NEAR(mean.aggregate[j], want[j], 1e-5 * std::fabs(want[j]) + 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Magnitudes, ExtremeMagnitudes, ::testing::Values(1e30, 3e38),
                         [](const auto& p) {
                           return p.param > 1e35 ? std::string("3e38") : std::string("1e30");
                         });

// Rows of subnormals only: the scan's row scaling used to reach 2^149, inf in float32.
TEST(ExtremeMagnitudesSubnormal, SubnormalOnlyRowsAggregateExactly) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(rng, 0, 0.0, 1e-41);
  for (float v : r.data) ASSERT_LT(std::fabs(v), std::numeric_limits<float>::min());
  const double scale = 1e-41;
  const std::vector<std::pair<std::string, ref::Vec>> cases = {
      {R"({"aggregator": {"rule": "mean"}})", ref::weighted_mean(r.x, {})},
      {R"({"aggregator": {"rule": "median"}})", ref::median(r.x)},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 3}})", ref::trimmed_mean(r.x, kF)},
      {R"({"aggregator": {"rule": "krum", "f": 3}})", r.x[ref::krum(r.x, kF)]},
      {R"({"aggregator": {"rule": "bulyan", "f": 3}})", ref::bulyan(r.x, kF)},
      {R"({"aggregator": {"rule": "geometric_median", "nu": 1e-60}})",
       ref::geometric_median(r.x, {}, 1e-60, 5000)},
  };
  for (const auto& [policy, want] : cases) {
    const RoundResult res = run(policy, r);
    expect_finite(res, policy);
    for (const auto& [name, values] : res.scores)
      for (double v : values) EXPECT_FALSE(std::isinf(v)) << policy << " score " << name;
    // float32 subnormals carry fewer bits: compare to 1% of the rows' scale.
    EXPECT_LT(max_abs_diff(res.aggregate, want), 1e-2 * scale) << policy;
  }
}

// Subnormal rows mixed with ordinary rows and one huge row: every rule finite, the robust ones
// within the ordinary rows' range.
TEST(ExtremeMagnitudesSubnormal, MixedWithOrdinaryAndHugeRows) {
  std::mt19937_64 rng(test_seed());
  Round r = make_round(rng, 1, 3e38);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < kD; ++j)
      r.x[i][j] = static_cast<double>(static_cast<float>(1e-42 * (1.0 + j)));
  r.data = to_floats(r.x);
  for (const char* policy :
       {R"({"aggregator": {"rule": "median"}})", R"({"aggregator": {"rule": "geometric_median"}})",
        R"({"aggregator": {"rule": "bulyan", "f": 3}})",
        R"({"aggregator": {"rule": "krum", "f": 3}})",
        R"({"aggregator": {"rule": "trimmed_mean", "trim": 3}})",
        R"({"filters": [{"rule": "flame"}], "aggregator": {"rule": "median"}})",
        R"({"transforms": [{"rule": "nnm", "f": 3}], "aggregator": {"rule": "median"}})"}) {
    const RoundResult res = run(policy, r);
    expect_finite(res, policy);
    expect_within_benign_range(res, r, 0.5, policy);
  }
}

}  // namespace
}  // namespace fedguard::test
