// Every aggregation rule against its float64 brute-force reference (tests/support/reference.cc)
// on fresh random inputs: odd and even n, ties, near-duplicate and duplicate rows, a large
// common offset, several tile widths, and float32 / float16 / bfloat16 inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

struct Case {
  std::size_t n, d, tile;
  DType dtype;
  RoundShape shape;
  std::string label;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

std::vector<Case> cases() {
  std::vector<Case> out;
  auto add = [&](std::size_t n, std::size_t d, std::size_t tile, DType t, bool ties, bool near,
                 bool dup, double offset, const char* what) {
    RoundShape s{n, d, ties, near, dup, offset};
    std::ostringstream label;
    label << what << "_n" << n << "_d" << d << "_tile" << tile << "_" << dtype_name(t);
    out.push_back({n, d, tile, t, s, label.str()});
  };
  add(11, 257, 64, DType::kFloat32, false, false, false, 0, "plain");
  add(12, 257, 0, DType::kFloat32, false, false, false, 0, "plain");
  add(23, 1000, 128, DType::kFloat32, false, false, false, 0, "plain");
  add(24, 999, 1000, DType::kFloat32, false, false, false, 0, "plain");
  add(15, 300, 100, DType::kFloat32, true, false, false, 0, "ties");
  add(16, 300, 0, DType::kFloat32, false, true, false, 0, "near_duplicates");
  add(19, 300, 64, DType::kFloat32, false, false, true, 0, "duplicates");
  add(14, 500, 64, DType::kFloat32, false, false, false, 1000.0, "offset");
  add(13, 300, 64, DType::kFloat16, false, false, false, 0, "half");
  add(12, 300, 0, DType::kBFloat16, false, false, false, 0, "bf16");
  add(7, 1, 0, DType::kFloat32, false, false, false, 0, "one_column");
  // Above 128 clients the rules' O(n^2) loops (Krum's scores, NNM's neighbours) run on a team.
  add(200, 64, 0, DType::kFloat32, false, false, false, 0, "plain");
  add(160, 64, 0, DType::kFloat32, false, false, true, 0, "duplicates");
  return out;
}

class RuleTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(test_seed());
    const Case& c = GetParam();
    x_ = random_round(c.shape, rng);
    bytes_ = encode(x_, c.dtype);  // x_ now holds exactly the values the engine reads
  }
  RoundResult run(const std::string& policy, const std::vector<double>& w = {}) {
    Engine e = make_engine(policy, GetParam().tile);
    return run_round(e, bytes_, GetParam().n, GetParam().d, GetParam().dtype, w);
  }
  std::size_t n() const { return GetParam().n; }
  // Exact duplicates make Krum-style ties whose winner is a matter of rounding; any winner is
  // the same vector, so those cases compare aggregates only.
  bool exact_selection() const {
    return !GetParam().shape.near_duplicates && !GetParam().shape.exact_duplicates;
  }

  Matrix x_;
  std::vector<unsigned char> bytes_;
};

constexpr double kTol = 1e-5;

TEST_P(RuleTest, MeanUniformAndWeighted) {
  RoundResult r = run(R"({"aggregator": {"rule": "mean"}})");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(x_, {})), kTol);
  EXPECT_TRUE(r.linear);
  std::vector<double> w(n());
  for (std::size_t i = 0; i < n(); ++i) w[i] = 1.0 + static_cast<double>(i % 5) * 7.0;
  r = run(R"({"aggregator": {"rule": "mean"}})", w);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(x_, w)), kTol);
  double total = 0;
  for (double v : w) total += v;
  for (std::size_t i = 0; i < n(); ++i) EXPECT_NEAR(r.weights[i], w[i] / total, 1e-12);
}

TEST_P(RuleTest, Median) {
  const RoundResult r = run(R"({"aggregator": {"rule": "median"}})");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::median(x_)), kTol);
  EXPECT_FALSE(r.linear);
  for (std::size_t i = 0; i < n(); ++i)
    EXPECT_DOUBLE_EQ(r.weights[i], 1.0 / static_cast<double>(n()));
}

TEST_P(RuleTest, TrimmedMean) {
  for (std::size_t b : {std::size_t{0}, std::size_t{1}, (n() - 1) / 2}) {
    const RoundResult r =
        run(R"({"aggregator": {"rule": "trimmed_mean", "trim": )" + std::to_string(b) + "}}");
    EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::trimmed_mean(x_, b)), kTol) << "trim " << b;
  }
}

TEST_P(RuleTest, Krum) {
  const std::size_t f = (n() - 3) / 2;  // the largest f with n > 2f + 2
  const RoundResult r = run(R"({"aggregator": {"rule": "krum", "f": )" + std::to_string(f) + "}}");
  const std::size_t want = ref::krum(x_, f);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, x_[want]), kTol);
  if (exact_selection()) {
    EXPECT_EQ(r.accepted[want], 1);
    EXPECT_DOUBLE_EQ(r.weights[want], 1.0);
  }
  std::vector<std::size_t> all(n());
  for (std::size_t i = 0; i < n(); ++i) all[i] = i;
  const ref::Vec scores = ref::krum_scores(x_, all, f);
  for (std::size_t i = 0; i < n(); ++i)
    EXPECT_NEAR(r.scores.at("krum")[i], scores[i], 1e-4 * (1.0 + scores[i])) << "client " << i;
}

TEST_P(RuleTest, MultiKrum) {
  const std::size_t f = std::max<std::size_t>(1, n() / 5), m = n() - f - 1;
  const RoundResult r = run(R"({"aggregator": {"rule": "multi_krum", "f": )" + std::to_string(f) +
                            R"(, "m": )" + std::to_string(m) + "}}");
  const auto sel = ref::multi_krum(x_, f, m);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::rows(x_, sel), {})), kTol);
  if (exact_selection()) {
    for (std::size_t i : sel) EXPECT_EQ(r.accepted[i], 1) << "client " << i;
  }
  std::size_t accepted = 0;
  for (auto a : r.accepted) accepted += a;
  EXPECT_EQ(accepted, m);
  EXPECT_EQ(r.reasons.size(), n() - m);
}

TEST_P(RuleTest, Bulyan) {
  if (n() < 7) GTEST_SKIP() << "Bulyan needs n >= 4f+3 with f >= 1";
  const std::size_t f = (n() - 3) / 4;
  const RoundResult r =
      run(R"({"aggregator": {"rule": "bulyan", "f": )" + std::to_string(f) + "}}");
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::bulyan(x_, f)), kTol);
  if (exact_selection()) {
    for (std::size_t i : ref::bulyan_selection(x_, f))
      EXPECT_EQ(r.accepted[i], 1) << "client " << i;
  }
}

TEST_P(RuleTest, GeometricMedianConverges) {
  std::vector<double> w(n());
  for (std::size_t i = 0; i < n(); ++i) w[i] = 1.0 + static_cast<double>(i % 3);
  const RoundResult r = run(R"({"aggregator": {"rule": "geometric_median", "nu": 1e-12}})", w);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::geometric_median(x_, w, 1e-12, 5000)), kTol);
  double total = 0;
  for (double v : r.weights) total += v;
  EXPECT_NEAR(total, 1.0, 1e-12);
}

TEST_P(RuleTest, CenteredClippingKeepsStateAcrossRounds) {
  Engine e =
      make_engine(R"({"aggregator": {"rule": "centered_clipping", "tau": 3.0, "iterations": 3}})",
                  GetParam().tile);
  const auto& c = GetParam();
  const RoundResult r1 = run_round(e, bytes_, c.n, c.d, c.dtype);
  const ref::Vec v1 = ref::centered_clipping(x_, ref::Vec(c.d, 0.0), 3.0, 3);
  EXPECT_LT(ref::max_rel_diff(r1.aggregate, v1), kTol);
  // Round 2 starts from round 1's aggregate (as the engine stored it, in float32).
  ref::Vec v0(r1.aggregate.begin(), r1.aggregate.end());
  const RoundResult r2 = run_round(e, bytes_, c.n, c.d, c.dtype);
  EXPECT_LT(ref::max_rel_diff(r2.aggregate, ref::centered_clipping(x_, v0, 3.0, 3)), kTol);
  double total = r2.reference_weights.at("previous_aggregate");
  for (double v : r2.weights) total += v;
  EXPECT_NEAR(total, 1.0, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RuleTest, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.label; });

}  // namespace
}  // namespace fedguard::test
