// Spectral and trust detectors against d-space brute force: SVD of the centred update matrix
// (LAPACKE_dgesvd on the n x d matrix, independent of the engine's Gram eigen-solve), plain
// cosine loops for FLTrust.
#include <gtest/gtest.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "rules/rule.h"
#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

struct Svd {
  ref::Vec s;  // singular values, descending
  Matrix u;    // n x min(n, d): left singular vectors
  Matrix vt;   // rows: right singular vectors
};

Matrix centred(const Matrix& x, const std::vector<std::size_t>& cols = {}) {
  const std::size_t n = x.size();
  std::vector<std::size_t> c = cols;
  if (c.empty())
    for (std::size_t j = 0; j < x[0].size(); ++j) c.push_back(j);
  Matrix m(n, ref::Vec(c.size()));
  for (std::size_t q = 0; q < c.size(); ++q) {
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += x[i][c[q]] / static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) m[i][q] = x[i][c[q]] - mean;
  }
  return m;
}

Svd svd(const Matrix& m) {
  const auto n = static_cast<lapack_int>(m.size()), d = static_cast<lapack_int>(m[0].size());
  const lapack_int r = std::min(n, d);
  std::vector<double> a;
  for (const auto& row : m) a.insert(a.end(), row.begin(), row.end());
  std::vector<double> s(r), u(n * r), vt(r * d), superb(r);
  EXPECT_EQ(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', n, d, a.data(), d, s.data(), u.data(), r,
                           vt.data(), d, superb.data()),
            0);
  Svd out{s, Matrix(n, ref::Vec(r)), Matrix(r, ref::Vec(d))};
  for (lapack_int i = 0; i < n; ++i)
    for (lapack_int j = 0; j < r; ++j) out.u[i][j] = u[i * r + j];
  for (lapack_int i = 0; i < r; ++i)
    for (lapack_int j = 0; j < d; ++j) out.vt[i][j] = vt[i * d + j];
  return out;
}

// DnC scores: squared projection of each centred row on the top right singular vector.
ref::Vec dnc_scores(const Matrix& x, const std::vector<std::size_t>& cols = {}) {
  const Matrix m = centred(x, cols);
  const Svd s = svd(m);
  ref::Vec out;
  for (const auto& row : m) {
    double p = 0;
    for (std::size_t j = 0; j < row.size(); ++j) p += row[j] * s.vt[0][j];
    out.push_back(p * p);
  }
  return out;
}

std::vector<std::size_t> lowest(const ref::Vec& s, std::size_t keep) {
  std::vector<std::size_t> order(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

class DetectorTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(test_seed());
    x_ = random_round(RoundShape{GetParam(), 120, false, false, false, 0}, rng);
    // A planted direction shared by every fifth client, as a colluding group would send: the
    // top principal component then stands clear of the rest (eigenvectors are only as precise
    // as the spectral gap allows, for any solver).
    std::normal_distribution<double> normal;
    ref::Vec direction(x_[0].size());
    for (double& v : direction) v = 3.0 * normal(rng);
    for (std::size_t i = 1; i < x_.size(); i += 5)
      for (std::size_t j = 0; j < direction.size(); ++j)
        x_[i][j] = static_cast<float>(x_[i][j] + direction[j]);
    bytes_ = encode(x_, DType::kFloat32);
  }
  RoundResult run(const std::string& policy, const float* reference = nullptr) {
    Engine e = make_engine(policy, 64);
    RoundInput in;
    in.updates = UpdateView(bytes_.data(), x_.size(), x_[0].size(), DType::kFloat32);
    in.reference = reference;
    return e.process_round(in);
  }
  Matrix x_;
  std::vector<unsigned char> bytes_;
};

TEST_P(DetectorTest, DncExactMatchesSvd) {
  const std::size_t n = x_.size(), f = n / 5;
  const RoundResult r = run(R"({"aggregator": {"rule": "dnc", "f": )" + std::to_string(f) + "}}");
  const ref::Vec s = dnc_scores(x_);
  const double top = *std::max_element(s.begin(), s.end());
  for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(r.scores.at("dnc")[i], s[i], 1e-5 * top) << i;
  const auto kept = lowest(s, n - f);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::rows(x_, kept), {})), 1e-5);
  for (std::size_t i : kept) EXPECT_EQ(r.accepted[i], 1) << i;
}

TEST_P(DetectorTest, DncSubsetVariantMatchesSvdOnTheSameCoordinates) {
  const std::size_t n = x_.size(), f = n / 4;
  const std::string policy =
      R"({"filters": [{"rule": "dnc", "f": )" + std::to_string(f) +
      R"(, "subset_size": 40, "niters": 3, "seed": 7}], "aggregator": {"rule": "mean"}})";
  const RoundResult r = run(policy);
  // The same subsets the engine drew (round 0), scored in d-space.
  const auto rule = rules::make_rule(
      RuleSpec("dnc", {{"f", f}, {"subset_size", 40}, {"niters", 3}, {"seed", 7}}));
  const auto subsets = rule->column_subsets(x_[0].size(), 0);
  ASSERT_EQ(subsets.size(), 3u);
  std::vector<std::uint8_t> keep(n, 1);
  ref::Vec mean_score(n, 0.0);
  for (const auto& cols : subsets) {
    EXPECT_EQ(cols.size(), 40u);
    const ref::Vec s = dnc_scores(x_, cols);
    std::vector<std::size_t> order = lowest(s, n);  // all, ascending by score
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
    for (std::size_t rank = n - f; rank < n; ++rank) keep[order[rank]] = 0;
    for (std::size_t i = 0; i < n; ++i) mean_score[i] += s[i] / 3;
  }
  const double top = *std::max_element(mean_score.begin(), mean_score.end());
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(r.accepted[i], keep[i]) << i;
    EXPECT_NEAR(r.scores.at("dnc")[i], mean_score[i], 1e-4 * top) << i;
  }
  // Another round draws other coordinates; the same round index and seed the same ones.
  EXPECT_NE(rule->column_subsets(x_[0].size(), 1)[0], subsets[0]);
  EXPECT_EQ(rule->column_subsets(x_[0].size(), 0)[0], subsets[0]);
}

TEST_P(DetectorTest, PcaOutlierMatchesSvd) {
  const std::size_t n = x_.size(), k = 2;
  const RoundResult r = run(
      R"({"filters": [{"rule": "pca_outlier", "k": 2, "z": 2.0}], "aggregator": {"rule": "mean"}})");
  const Matrix m = centred(x_);
  const Svd s = svd(m);
  ref::Vec resid(n), mahal(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double total = 0, explained = 0;
    for (double v : m[i]) total += v * v;
    for (std::size_t j = 0; j < k; ++j) {
      explained += s.s[j] * s.s[j] * s.u[i][j] * s.u[i][j];
      mahal[i] += static_cast<double>(n - 1) * s.u[i][j] * s.u[i][j];
    }
    resid[i] = total - explained;
  }
  auto z = [](ref::Vec v) {
    ref::Vec sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t h = v.size() / 2;
    const double med = v.size() % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    ref::Vec dev;
    for (double x : v) dev.push_back(std::abs(x - med));
    std::sort(dev.begin(), dev.end());
    const double mad = v.size() % 2 ? dev[h] : (dev[h - 1] + dev[h]) / 2;
    for (double& x : v) x = (x - med) / (1.4826 * mad);
    return v;
  };
  const ref::Vec zr = z(resid), zm = z(mahal);
  for (std::size_t i = 0; i < n; ++i) {
    const double want = std::max(zr[i], zm[i]);
    EXPECT_NEAR(r.scores.at("pca_outlier")[i], want, 1e-4 * (1 + std::abs(want))) << i;
    if (std::abs(zr[i] - 2.0) > 1e-3 && std::abs(zm[i] - 2.0) > 1e-3) {
      EXPECT_EQ(r.accepted[i], (zr[i] > 2.0 || zm[i] > 2.0) ? 0 : 1) << i;
    }
  }
}

TEST_P(DetectorTest, FlTrustMatchesCosineLoops) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = x_.size(), d = x_[0].size();
  ref::Vec g0(d);
  std::vector<float> g0f(d);
  // The reference points along the benign mean, plus noise: some clients get negative cosine.
  const ref::Vec mean = ref::weighted_mean(x_, {});
  std::normal_distribution<double> normal;
  for (std::size_t j = 0; j < d; ++j) g0f[j] = static_cast<float>(mean[j] + 0.5 * normal(rng));
  for (std::size_t j = 0; j < d; ++j) g0[j] = g0f[j];
  const RoundResult r = run(R"({"aggregator": {"rule": "fltrust"}})", g0f.data());
  ref::Vec want(d, 0.0);
  double total = 0;
  const double g0n = ref::norm(g0);
  for (std::size_t i = 0; i < n; ++i) {
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) dot += x_[i][j] * g0[j];
    const double cosine = dot / (ref::norm(x_[i]) * g0n);
    EXPECT_NEAR(r.scores.at("fltrust")[i], cosine, 1e-6) << i;
    const double ts = std::max(0.0, cosine);
    total += ts;
    for (std::size_t j = 0; j < d; ++j) want[j] += ts * g0n / ref::norm(x_[i]) * x_[i][j];
    EXPECT_EQ(r.accepted[i], cosine > 0 ? 1 : 0);
  }
  for (double& v : want) v /= total;
  EXPECT_LT(ref::max_rel_diff(r.aggregate, want), 1e-5);
}

TEST(FlTrust, MissingReferenceIsAnError) {
  Matrix x = {{1, 2}, {3, 4}, {5, 6}};
  const auto bytes = encode(x, DType::kFloat32);
  Engine e = make_engine(R"({"aggregator": {"rule": "fltrust"}})");
  try {
    run_round(e, bytes, 3, 2, DType::kFloat32);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("needs the server's reference update"),
              std::string::npos)
        << err.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, DetectorTest, ::testing::Values(8, 13, 24, 41));

}  // namespace
}  // namespace fedguard::test
