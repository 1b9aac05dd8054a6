// Transforms (norm_clip, arc, nnm) composed with later rules, and rules used as filters,
// against brute force in d-space.
#include <gtest/gtest.h>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

constexpr double kTol = 1e-5;

// Full precision in the policy text: std::to_string would round the threshold to 6 digits.
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class TransformTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(test_seed());
    x_ = random_round(RoundShape{GetParam(), 300, false, false, false, 0.0}, rng);
    bytes_ = encode(x_, DType::kFloat32);
  }
  RoundResult run(const std::string& policy, std::size_t tile = 64) {
    Engine e = make_engine(policy, tile);
    return run_round(e, bytes_, x_.size(), x_[0].size(), DType::kFloat32);
  }
  Matrix x_;
  std::vector<unsigned char> bytes_;
};

TEST_P(TransformTest, NormClipThenMean) {
  std::vector<double> norms;
  for (const auto& row : x_) norms.push_back(ref::norm(row));
  std::sort(norms.begin(), norms.end());
  const double bound = norms[norms.size() / 2];
  const RoundResult r = run(R"({"transforms": [{"rule": "norm_clip", "max_norm": )" + num(bound) +
                            R"(}], "aggregator": {"rule": "mean"}})");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::norm_clip(x_, bound), {})),
            kTol);
  // Weights are the exact coefficients: mean of clipped rows = sum_i (s_i / n) x_i.
  for (std::size_t i = 0; i < x_.size(); ++i) {
    const double s = std::min(1.0, bound / ref::norm(x_[i]));
    EXPECT_NEAR(r.weights[i], s / static_cast<double>(x_.size()), 1e-9);
  }
}

TEST_P(TransformTest, ArcThenMedian) {
  const std::size_t f = x_.size() / 4;
  const RoundResult r = run(R"({"transforms": [{"rule": "arc", "f": )" + std::to_string(f) +
                            R"(}], "aggregator": {"rule": "median"}})");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::median(ref::arc(x_, f))), kTol);
}

TEST_P(TransformTest, NnmThenTrimmedMean) {
  const std::size_t f = x_.size() / 4;
  const RoundResult r =
      run(R"({"transforms": [{"rule": "nnm", "f": )" + std::to_string(f) +
          R"(}], "aggregator": {"rule": "trimmed_mean", "trim": )" + std::to_string(f) + "}}");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::trimmed_mean(ref::nnm(x_, f), f)), kTol);
}

TEST_P(TransformTest, NnmThenKrum) {
  const std::size_t f = (x_.size() - 3) / 2;
  const RoundResult r =
      run(R"({"transforms": [{"rule": "nnm", "f": )" + std::to_string(f) +
          R"(}], "aggregator": {"rule": "krum", "f": )" + std::to_string(f) + "}}");
  const Matrix y = ref::nnm(x_, f);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, y[ref::krum(y, f)]), kTol);
}

// Bulyan after NNM is not tested value for value: NNM's overlapping means make exact ties in
// "distance to the median" (y_l + y_r = y_mid1 + y_mid2) that rounding breaks either way.
TEST_P(TransformTest, ClipThenBulyan) {
  if (x_.size() < 11) GTEST_SKIP();
  const std::size_t f = (x_.size() - 3) / 4;
  const RoundResult r = run(
      R"({"transforms": [{"rule": "norm_clip", "max_norm": 20}], "aggregator": {"rule": "bulyan", "f": )" +
      std::to_string(f) + "}}");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::bulyan(ref::norm_clip(x_, 20), f)), kTol);
}

TEST_P(TransformTest, MultiKrumFilterThenMedian) {
  const std::size_t f = x_.size() / 5;
  const RoundResult r = run(R"({"filters": [{"rule": "multi_krum", "f": )" + std::to_string(f) +
                            R"(}], "aggregator": {"rule": "median"}})");
  const auto sel = ref::multi_krum(x_, f, x_.size() - f);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::median(ref::rows(x_, sel))), kTol);
  for (std::size_t i = 0; i < x_.size(); ++i) {
    const bool kept = std::find(sel.begin(), sel.end(), i) != sel.end();
    EXPECT_EQ(r.accepted[i], kept ? 1 : 0);
    EXPECT_EQ(r.reasons.count(i), kept ? 0u : 1u);
  }
}

TEST_P(TransformTest, NormBoundFilterThenMean) {
  std::vector<double> norms;
  for (const auto& row : x_) norms.push_back(ref::norm(row));
  std::vector<double> sorted = norms;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const RoundResult r = run(
      R"({"filters": [{"rule": "norm_bound", "max_ratio": 1.5}], "aggregator": {"rule": "mean"}})");
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < n; ++i)
    if (norms[i] <= 1.5 * median) kept.push_back(i);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::rows(x_, kept), {})), kTol);
  for (std::size_t i = 0; i < n; ++i) {
    if (norms[i] > 1.5 * median) {
      EXPECT_EQ(r.accepted[i], 0);
      EXPECT_EQ(r.reasons.at(i).rfind("norm_bound:", 0), 0u) << r.reasons.at(i);
    }
  }
}

TEST_P(TransformTest, BulyanAsFilterKeepsTheta) {
  if (x_.size() < 11) GTEST_SKIP();
  const std::size_t f = (x_.size() - 3) / 4;
  const RoundResult r = run(R"({"filters": [{"rule": "bulyan", "f": )" + std::to_string(f) +
                            R"(}], "aggregator": {"rule": "mean"}})");
  const auto sel = ref::bulyan_selection(x_, f);
  EXPECT_EQ(sel.size(), x_.size() - 2 * f);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::rows(x_, sel), {})), kTol);
}

INSTANTIATE_TEST_SUITE_P(Sizes, TransformTest, ::testing::Values(9, 12, 17, 30));

// NNM selects each client's neighbours in parallel above 128 clients: with groups of exact
// copies (ties in distance, broken towards the lower index) the weights must be the brute
// force's (NNM then the mean: each client's weight is the number of mixtures it is in over
// keep n), and the same bit for bit on one thread and on several.
TEST(TransformLarge, NnmWithTiesMatchesBruteForceOnAnyTeam) {
  std::mt19937_64 rng(test_seed());
  Matrix x = random_round(RoundShape{200, 40, false, false, false, 0.0}, rng);
  for (std::size_t i = 1; i < 12; ++i) x[i] = x[0];    // a group of copies
  for (std::size_t i = 50; i < 54; ++i) x[i] = x[49];  // another
  const std::vector<unsigned char> bytes = encode(x, DType::kFloat32);
  const std::size_t f = 60;
  const std::string policy = R"({"transforms": [{"rule": "nnm", "f": )" + std::to_string(f) +
                             R"(}], "aggregator": {"rule": "mean"}, "threads": )";
  Engine one = make_engine(policy + "1}");
  Engine team = make_engine(policy + "2}");
  const RoundResult a = run_round(one, bytes, x.size(), x[0].size(), DType::kFloat32);
  const RoundResult b = run_round(team, bytes, x.size(), x[0].size(), DType::kFloat32);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.aggregate, b.aggregate);
  EXPECT_EQ(a.scores.at("nnm"), b.scores.at("nnm"));
  EXPECT_LT(ref::max_rel_diff(a.aggregate, ref::weighted_mean(ref::nnm(x, f), {})), kTol);
  // Weights from the brute force's neighbour sets (stable sort: ties to the lower index).
  const Matrix y = ref::nnm(x, f);
  std::vector<double> expected(x.size(), 0.0);
  const std::size_t keep = x.size() - f;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<std::size_t> others;
    for (std::size_t j = 0; j < x.size(); ++j)
      if (j != i) others.push_back(j);
    std::stable_sort(others.begin(), others.end(), [&](std::size_t p, std::size_t q) {
      return ref::sq_dist(x[i], x[p]) < ref::sq_dist(x[i], x[q]);
    });
    expected[i] += 1.0 / static_cast<double>(keep * x.size());
    for (std::size_t q = 0; q + 1 < keep; ++q)
      expected[others[q]] += 1.0 / static_cast<double>(keep * x.size());
  }
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(a.weights[i], expected[i], 1e-12) << i;
}

}  // namespace
}  // namespace fedguard::test
