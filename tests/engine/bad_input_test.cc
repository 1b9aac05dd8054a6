// Bad input is input: malformed clients are rejected with a named reason and the rest are
// aggregated; rounds that cannot satisfy their rule fail with the numbers and change no state.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(test_seed());
    x_ = random_round(RoundShape{n_, d_, false, false, false, 0}, rng);
    data_ = to_floats(x_);
  }
  RoundResult run(const std::string& policy, const std::vector<float>& data,
                  RoundInput extra = {}) {
    Engine e = make_engine(policy, 64);
    extra.updates = UpdateView(data.data(), n_, d_, DType::kFloat32);
    return e.process_round(extra);
  }
  const std::size_t n_ = 15, d_ = 200;
  Matrix x_;
  std::vector<float> data_;
};

TEST_F(BadInput, NonFiniteRowsNeverReachTheAggregateOfAnyRule) {
  auto data = data_;
  data[3 * d_ + 17] = kNaN;
  data[8 * d_ + 199] = kInf;
  data[11 * d_ + 0] = -kInf;
  const std::vector<std::size_t> good = {0, 1, 2, 4, 5, 6, 7, 9, 10, 12, 13, 14};
  const Matrix y = ref::rows(x_, good);
  const std::vector<std::pair<std::string, ref::Vec>> rules = {
      {R"({"aggregator": {"rule": "mean"}})", ref::weighted_mean(y, {})},
      {R"({"aggregator": {"rule": "median"}})", ref::median(y)},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 2}})", ref::trimmed_mean(y, 2)},
      {R"({"aggregator": {"rule": "krum", "f": 2}})", y[ref::krum(y, 2)]},
      {R"({"aggregator": {"rule": "bulyan", "f": 2}})", ref::bulyan(y, 2)},
      {R"({"aggregator": {"rule": "geometric_median", "nu": 1e-12}})",
       ref::geometric_median(y, {}, 1e-12, 5000)},
      {R"({"aggregator": {"rule": "centered_clipping"}})",
       ref::centered_clipping(y, ref::Vec(d_, 0.0), 10, 3)},
  };
  for (const auto& [policy, want] : rules) {
    const RoundResult r = run(policy, data);
    EXPECT_LT(ref::max_rel_diff(r.aggregate, want), 1e-5) << policy;
    for (float v : r.aggregate) ASSERT_TRUE(std::isfinite(v)) << policy;
    for (std::size_t bad : {3, 8, 11}) {
      EXPECT_EQ(r.accepted[bad], 0);
      EXPECT_EQ(r.weights[bad], 0.0);
      EXPECT_EQ(r.reasons.at(bad), "non_finite");
      EXPECT_TRUE(std::isnan(r.scores.at("norm")[bad]));
    }
  }
}

TEST_F(BadInput, EnormousFiniteRowsKeepTheAggregateFinite) {
  auto data = data_;
  for (std::size_t j = 0; j < d_; ++j) data[2 * d_ + j] = 3.0e38f;
  for (std::size_t j = 0; j < d_; ++j) data[9 * d_ + j] = -3.0e38f;
  for (
      const char* policy :
      {R"({"aggregator": {"rule": "mean"}})", R"({"aggregator": {"rule": "krum", "f": 3}})",
       R"({"aggregator": {"rule": "median"}})", R"({"aggregator": {"rule": "geometric_median"}})",
       R"({"filters": [{"rule": "norm_bound", "max_ratio": 3}], "aggregator": {"rule": "mean"}})"}) {
    const RoundResult r = run(policy, data);
    for (float v : r.aggregate) ASSERT_TRUE(std::isfinite(v)) << policy;
  }
  // Krum must still pick a benign row: the enormous rows are far from everyone.
  const RoundResult r = run(R"({"aggregator": {"rule": "krum", "f": 3}})", data);
  EXPECT_EQ(r.accepted[2], 0);
  EXPECT_EQ(r.accepted[9], 0);
}

TEST_F(BadInput, AllZeroRowsAreRejectedByDefault) {
  auto data = data_;
  std::fill(data.begin() + 4 * static_cast<std::ptrdiff_t>(d_),
            data.begin() + 5 * static_cast<std::ptrdiff_t>(d_), 0.0f);
  RoundResult r = run(R"({"aggregator": {"rule": "mean"}})", data);
  EXPECT_EQ(r.reasons.at(4), "all_zero");
  r = run(R"({"reject_all_zero": false, "aggregator": {"rule": "mean"}})", data);
  EXPECT_EQ(r.accepted[4], 1);
}

TEST_F(BadInput, EveryRowBadIsAnErrorWithTheNumbers) {
  std::vector<float> data(n_ * d_, kNaN);
  const std::string msg = error_of([&] { run(R"({"aggregator": {"rule": "median"}})", data); });
  EXPECT_NE(msg.find("all 15 were rejected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("non_finite 15"), std::string::npos) << msg;
}

TEST_F(BadInput, UnsatisfiableRuleStatesTheNumbers) {
  auto data = data_;
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 6}) data[i * d_] = kNaN;  // 8 left
  const std::string msg =
      error_of([&] { run(R"({"aggregator": {"rule": "krum", "f": 3}})", data); });
  EXPECT_NE(msg.find("needs n > 2f+2 = 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got n=8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("15 clients in the round"), std::string::npos) << msg;
  EXPECT_NE(msg.find("non_finite 7"), std::string::npos) << msg;
  const std::string bulyan =
      error_of([&] { run(R"({"aggregator": {"rule": "bulyan", "f": 2}})", data); });
  EXPECT_NE(bulyan.find("needs n >= 4f+3 = 11"), std::string::npos) << bulyan;
  const std::string trim =
      error_of([&] { run(R"({"aggregator": {"rule": "trimmed_mean", "trim": 4}})", data); });
  EXPECT_NE(trim.find("needs n > 2b = 8"), std::string::npos) << trim;
  // Losses to an earlier filter are counted too.
  const std::string chain = error_of([&] {
    run(R"({"filters": [{"rule": "multi_krum", "f": 2, "m": 5}], "aggregator": {"rule": "krum", "f": 2}})",
        data_);
  });
  EXPECT_NE(chain.find("multi_krum 10"), std::string::npos) << chain;
}

TEST_F(BadInput, FailedRoundLeavesStateUnchanged) {
  const std::string policy =
      R"({"filters": [{"rule": "krum", "f": 3}], "aggregator": {"rule": "centered_clipping"}})";
  Engine a = make_engine(policy, 64), b = make_engine(policy, 64);
  RoundInput in;
  in.updates = UpdateView(data_.data(), n_, d_, DType::kFloat32);
  a.process_round(in);
  b.process_round(in);
  auto bad = data_;
  for (std::size_t i = 0; i < 8; ++i) bad[i * d_] = kNaN;
  RoundInput broken;
  broken.updates = UpdateView(bad.data(), n_, d_, DType::kFloat32);
  EXPECT_THROW(a.process_round(broken), Error);
  EXPECT_EQ(a.rounds_processed(), 1u);
  const RoundResult ra = a.process_round(in), rb = b.process_round(in);
  EXPECT_EQ(ra.aggregate, rb.aggregate);
}

TEST_F(BadInput, ShapeErrors) {
  RoundInput in;
  EXPECT_NE(error_of([&] { make_engine(R"({})").process_round(in); }).find("n = 0"),
            std::string::npos);
  in.updates = UpdateView(data_.data(), n_, d_, DType::kFloat32);
  in.num_samples = {1, 2, 3};
  EXPECT_NE(
      error_of([&] { make_engine(R"({})").process_round(in); }).find("got 3 num_samples for n=15"),
      std::string::npos);
  in.num_samples.clear();
  in.client_ids = {"a"};
  EXPECT_NE(
      error_of([&] { make_engine(R"({})").process_round(in); }).find("got 1 client ids for n=15"),
      std::string::npos);
}

TEST_F(BadInput, DuplicateIdsRejectedOrFatal) {
  RoundInput in;
  for (std::size_t i = 0; i < n_; ++i) in.client_ids.push_back("client-" + std::to_string(i));
  in.client_ids[9] = "client-2";
  RoundResult r = run(R"({"aggregator": {"rule": "mean"}})", data_, in);
  EXPECT_EQ(r.accepted[2], 1);
  EXPECT_EQ(r.accepted[9], 0);
  EXPECT_EQ(r.reasons.at(9), "duplicate_id: same id 'client-2' as client 2");
  const std::string msg = error_of([&] { run(R"({"duplicate_ids": "error"})", data_, in); });
  EXPECT_NE(msg.find("duplicate client id 'client-2' at indices 2 and 9"), std::string::npos)
      << msg;
}

TEST_F(BadInput, InvalidSampleCountsRejectTheClient) {
  RoundInput in;
  in.num_samples.assign(n_, 10.0);
  in.num_samples[1] = -5;
  in.num_samples[6] = std::nan("");
  in.num_samples[7] = 0;
  const RoundResult r = run(R"({"aggregator": {"rule": "mean"}})", data_, in);
  for (std::size_t i : {1, 6, 7})
    EXPECT_EQ(r.reasons.at(i).rfind("invalid_num_samples", 0), 0u) << i;
  std::vector<std::size_t> good;
  for (std::size_t i = 0; i < n_; ++i)
    if (i != 1 && i != 6 && i != 7) good.push_back(i);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::weighted_mean(ref::rows(x_, good), {})), 1e-6);
}

TEST_F(BadInput, PerClientViewsRejectWrongLengthDtypeAndNull) {
  std::vector<ClientUpdate> clients;
  for (std::size_t i = 0; i < n_; ++i)
    clients.push_back({data_.data() + i * d_, d_, DType::kFloat32});
  clients[3].length = d_ - 1;
  clients[5].dtype = DType::kFloat16;
  clients[12].data = nullptr;
  RoundInput in;
  in.updates = UpdateView::per_client(clients, d_, DType::kFloat32);
  Engine e = make_engine(R"({"aggregator": {"rule": "median"}})");
  const RoundResult r = e.process_round(in);
  EXPECT_EQ(r.reasons.at(3), "wrong_length: 199 elements, the round's d is 200");
  EXPECT_EQ(r.reasons.at(5), "wrong_dtype: float16, the round's dtype is float32");
  EXPECT_EQ(r.reasons.at(12), "missing_data");
  std::vector<std::size_t> good;
  for (std::size_t i = 0; i < n_; ++i)
    if (i != 3 && i != 5 && i != 12) good.push_back(i);
  EXPECT_LT(ref::max_rel_diff(r.aggregate, ref::median(ref::rows(x_, good))), 1e-6);
}

TEST_F(BadInput, ConfigErrorsNameTheOffender) {
  EXPECT_NE(error_of([] {
              make_engine(R"({"aggregator": {"rule": "krum"}})");
            }).find("needs parameter 'f'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_engine(R"({"aggregator": {"rule": "krum", "f": 2, "m": 3}})");
            }).find("has no parameter 'm'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_engine(R"({"aggregator": {"rule": "kurm", "f": 2}})");
            }).find("unknown rule 'kurm'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_engine(R"({"filters": [{"rule": "median"}]})");
            }).find("cannot serve as a filter"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_engine(R"({"aggregator": {"rule": "krum", "f": -1}})");
            }).find("out of range: it must be an integer in [0, 1048576]"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_engine(R"({"agregator": {}})");
            }).find("unknown config key \"agregator\""),
            std::string::npos);
  EXPECT_NE(error_of([] { make_engine("{not json"); }).find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace fedguard::test
