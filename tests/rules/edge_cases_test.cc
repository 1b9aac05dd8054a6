// Edge cases found in review, each pinned by a test.
#include <gtest/gtest.h>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

RoundResult run_on(const Matrix& x, const std::string& policy) {
  Matrix copy = x;
  const auto bytes = encode(copy, DType::kFloat32);
  Engine e = make_engine(policy);
  return run_round(e, bytes, x.size(), x[0].size(), DType::kFloat32);
}

TEST(ArcEdge, ClipCountUsesIntegerFloor) {
  // 2 f (n - f) / n = 57 exactly for n = 242, f = 33; floating point gives 56.999...
  const std::size_t n = 242, f = 33;
  Matrix x(n, ref::Vec(3, 0.0));
  for (std::size_t i = 0; i < n; ++i) x[i] = {1.0 + static_cast<double>(i), 0.5, -0.25};
  const RoundResult r =
      run_on(x, R"({"transforms": [{"rule": "arc", "f": 33}], "aggregator": {"rule": "mean"}})");
  std::size_t clipped = 0;
  for (double s : r.scores.at("arc")) clipped += s < 1.0;
  EXPECT_EQ(clipped, 2 * f * (n - f) / n);
  EXPECT_EQ(clipped, 57u);
}

TEST(BulyanEdge, LateSelectionStepsStayDistanceBased) {
  // f = 1, n = 7: the last selection step has |R| - f - 2 = 0 neighbours. A far outlier at
  // index 0 must not be selected by index order.
  Matrix x = {{1000, 1000}, {0.01, 0}, {0.1, 0}, {0, 0.1}, {0.1, 0.1}, {0.05, 0.02}, {0.02, 0.07}};
  const RoundResult r =
      run_on(x, R"({"filters": [{"rule": "bulyan", "f": 1}], "aggregator": {"rule": "mean"}})");
  EXPECT_EQ(r.accepted[0], 0);
  std::size_t kept = 0;
  for (auto a : r.accepted) kept += a;
  EXPECT_EQ(kept, 5u);  // theta = n - 2f
}

TEST(CenteredClippingEdge, FirstRoundWeightsIncludeTheZeroStart) {
  std::mt19937_64 rng(test_seed());
  const Matrix x = random_round(RoundShape{9, 50, false, false, false, 0}, rng);
  const RoundResult r = run_on(x, R"({"aggregator": {"rule": "centered_clipping", "tau": 1.0}})");
  double total = r.reference_weights.at("previous_aggregate");
  for (double w : r.weights) total += w;
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_GT(r.reference_weights.at("previous_aggregate"),
            0.0);  // tau = 1 clips: the start keeps weight
}

TEST(ConfigEdge, RejectedAtConstruction) {
  EXPECT_THROW(make_engine(R"({"aggregator": {"rule": "geometric_median", "nu": 0}})"), Error);
  EXPECT_THROW(make_engine(R"({"threads": 100000})"), Error);
  try {
    make_engine(R"({"backend": "cpu", "precision": "tf32"})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kUnsupported);
  }
  EngineConfig c = EngineConfig::from_json(R"({"precision": "bf16"})");  // auto falls back to fp32
  EXPECT_NO_THROW(Engine{c});
}

TEST(MeanEdge, NoClientLeftAfterFiltersIsAnError) {
  Matrix x = {{1, 1}, {2, 2}, {3, 3}};
  try {
    run_on(
        x,
        R"({"filters": [{"rule": "norm_bound", "max_norm": 0.5}], "aggregator": {"rule": "mean"}})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("norm_bound 3"), std::string::npos) << e.what();
  }
}

TEST(PassOneEdge, GramFreePoliciesMatchGramPolicies) {
  // median skips the Gram products in pass 1; filters that need them switch them back on.
  std::mt19937_64 rng(test_seed());
  const Matrix x = random_round(RoundShape{13, 400, false, false, false, 0}, rng);
  const RoundResult a = run_on(x, R"({"aggregator": {"rule": "median"}})");
  EXPECT_LT(ref::max_rel_diff(a.aggregate, ref::median(x)), 1e-6);
  const RoundResult b = run_on(
      x,
      R"({"filters": [{"rule": "norm_bound", "max_ratio": 100}], "aggregator": {"rule": "median"}})");
  EXPECT_EQ(a.aggregate, b.aggregate);
}

TEST(TileEdge, HugeTileWidthIsCappedAtD) {
  std::mt19937_64 rng(test_seed());
  const Matrix x = random_round(RoundShape{5, 100, false, false, false, 0}, rng);
  Matrix copy = x;
  const auto bytes = encode(copy, DType::kFloat32);
  Engine e = make_engine(R"({"aggregator": {"rule": "krum", "f": 1}})", std::size_t{1} << 40);
  const RoundResult r = run_round(e, bytes, 5, 100, DType::kFloat32);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, x[ref::krum(x, 1)]), 1e-6);
}

}  // namespace
}  // namespace fedguard::test
