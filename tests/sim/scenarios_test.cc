// The simulator's scenario logic without a simulation (host/sim/scenarios.{h,cc}): the attack
// ramp, the benign drift schedules, the monitoring summary, and fake clients signing through the
// engine's real verification path on a small synthetic round.
#include "sim/scenarios.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "fedguard/fedguard.h"

namespace fedguard::sim {
namespace {

TEST(Ramp, ZeroBeforeStartLinearThenFull) {
  EXPECT_EQ(ramp_strength(9, 10, 4), 0.0);
  EXPECT_DOUBLE_EQ(ramp_strength(10, 10, 4), 0.25);
  EXPECT_DOUBLE_EQ(ramp_strength(11, 10, 4), 0.5);
  EXPECT_DOUBLE_EQ(ramp_strength(13, 10, 4), 1.0);
  EXPECT_DOUBLE_EQ(ramp_strength(500, 10, 4), 1.0);
  // No ramp: a step (the sleeper).
  EXPECT_EQ(ramp_strength(9, 10, 0), 0.0);
  EXPECT_EQ(ramp_strength(10, 10, 0), 1.0);
  // Monotone, by brute force over a long ramp.
  double last = 0;
  for (std::size_t r = 0; r < 300; ++r) {
    const double s = ramp_strength(r, 100, 50);
    EXPECT_GE(s, last);
    EXPECT_NEAR(s, r < 100 ? 0.0 : std::min(1.0, (static_cast<double>(r) - 99.0) / 50.0), 1e-15);
    last = s;
  }
}

TEST(Drift, PositionWalksThroughSplits) {
  EXPECT_EQ(drift_position(0, 100).split, 0u);
  EXPECT_EQ(drift_position(0, 100).t, 0.0);
  EXPECT_EQ(drift_position(99, 100).split, 0u);
  EXPECT_DOUBLE_EQ(drift_position(99, 100).t, 0.99);
  EXPECT_EQ(drift_position(100, 100).split, 1u);
  EXPECT_EQ(drift_position(100, 100).t, 0.0);
  EXPECT_EQ(drift_position(250, 100).split, 2u);
  EXPECT_DOUBLE_EQ(drift_position(250, 100).t, 0.5);
  EXPECT_THROW(drift_position(1, 0), Error);
}

TEST(Drift, MixMovesFromOneSplitToTheNext) {
  std::vector<std::uint32_t> from, to;
  for (std::uint32_t i = 0; i < 40; ++i) from.push_back(i * 3);   // 0, 3, ..., 117
  for (std::uint32_t i = 0; i < 60; ++i) to.push_back(1000 + i);  // disjoint
  EXPECT_EQ(drift_mix(from, to, 0.0), from);
  const auto at1 = drift_mix(from, to, 1.0);
  EXPECT_EQ(at1, to);
  const auto half = drift_mix(from, to, 0.5);
  ASSERT_EQ(half.size(), 20u + 30u);
  EXPECT_TRUE(std::equal(from.begin(), from.begin() + 20, half.begin()));
  EXPECT_TRUE(std::equal(to.begin(), to.begin() + 30, half.begin() + 20));
  // Overlapping splits: no sample twice.
  std::vector<std::uint32_t> overlap(from.begin(), from.begin() + 10);
  const auto mixed = drift_mix(from, overlap, 0.5);
  EXPECT_EQ(std::set<std::uint32_t>(mixed.begin(), mixed.end()).size(), mixed.size());
  // Never empty, even where rounding takes nothing from either.
  EXPECT_EQ(drift_mix({7}, {}, 0.6), (std::vector<std::uint32_t>{7}));
  EXPECT_EQ(drift_mix({7}, {9}, 0.4), (std::vector<std::uint32_t>{7}));
  EXPECT_THROW(drift_mix(from, to, 1.5), Error);
}

TEST(Drift, LabelWeightRotatesThroughTheClasses) {
  const std::size_t classes = 10, period = 200;
  for (std::size_t r = 0; r < 400; r += 7)
    for (std::size_t c = 0; c < classes; ++c) {
      const double w = label_weight(c, classes, r, period, 0.2);
      const double brute = 0.2 + 0.8 * 0.5 * (1 + std::cos(2 * M_PI * (r / 200.0 - c / 10.0)));
      EXPECT_NEAR(w, brute, 1e-12);
      EXPECT_GE(w, 0.2 - 1e-12);
      EXPECT_LE(w, 1.0 + 1e-12);
      EXPECT_NEAR(w, label_weight(c, classes, r + period, period, 0.2), 1e-12);  // periodic
    }
  // Class c peaks when r / period = c / classes; the opposite class is at the floor.
  EXPECT_NEAR(label_weight(3, classes, 60, period, 0.2), 1.0, 1e-12);
  EXPECT_NEAR(label_weight(8, classes, 60, period, 0.2), 0.2, 1e-12);
  // Gradual: one round changes a weight by at most (1 - min) pi / period.
  for (std::size_t r = 0; r < 200; ++r)
    EXPECT_LE(std::abs(label_weight(5, classes, r + 1, period, 0.2) -
                       label_weight(5, classes, r, period, 0.2)),
              0.8 * M_PI / period + 1e-12);
}

TEST(Drift, LabelPriorSubsetKeepsByTheClassWeight) {
  std::mt19937_64 g(3);
  std::uniform_real_distribution<double> u;
  std::vector<std::uint8_t> labels(1000);
  std::vector<double> keep_u(1000);
  std::vector<std::uint32_t> part;
  for (std::uint32_t s = 0; s < 1000; ++s) {
    labels[s] = static_cast<std::uint8_t>(s % 10);
    keep_u[s] = u(g);
    if (s % 2 == 0) part.push_back(s);
  }
  const auto kept = label_prior_subset(part, labels, keep_u, 10, 37, 100, 0.3);
  std::vector<std::uint32_t> brute;
  for (const auto s : part)
    if (keep_u[s] < label_weight(labels[s], 10, 37, 100, 0.3)) brute.push_back(s);
  EXPECT_EQ(kept, brute);
  EXPECT_LT(kept.size(), part.size());
  // A client that would keep nothing keeps its part.
  std::vector<double> ones(1000, 0.999999);
  EXPECT_EQ(label_prior_subset({1, 3}, labels, ones, 10, 0, 100, 0.3),
            (std::vector<std::uint32_t>{1, 3}));
}

TEST(MonitoringSummary, DelaysAndFalseAlarms) {
  std::map<std::string, std::vector<std::uint64_t>> alerts{
      {"aggregate_cosine/ewma", {40, 103, 110}},
      {"rejected_fraction/cusum", {101, 104}},
      {"norm_q50/cusum", {}}};
  const auto s = monitoring_summary(alerts, 100);
  EXPECT_EQ(s["alerts"], 5);
  EXPECT_EQ(s["change_round"], 100);
  EXPECT_EQ(s["alerts_before_change"], 1);
  EXPECT_EQ(s["first_alert_round"], 40);
  EXPECT_EQ(s["detection_delay"], 1);
  EXPECT_EQ(s["by_detector"]["aggregate_cosine/ewma"]["delay"], 3);
  EXPECT_EQ(s["by_detector"]["aggregate_cosine/ewma"]["alerts_before_change"], 1);
  EXPECT_EQ(s["by_detector"]["rejected_fraction/cusum"]["delay"], 1);
  EXPECT_TRUE(s["by_detector"]["norm_q50/cusum"]["delay"].is_null());
  // No change (an attack-free run): every alert is a false alarm, no delay.
  const auto clean = monitoring_summary(alerts, -1);
  EXPECT_EQ(clean["alerts_before_change"], 5);
  EXPECT_TRUE(clean["detection_delay"].is_null());
  EXPECT_TRUE(clean["change_round"].is_null());
  EXPECT_EQ(monitoring_summary({}, -1)["alerts"], 0);
}

// A small synthetic federation: 6 benign clients and 3 fakes that join at round 2.
class FakeClients : public ::testing::Test {
 protected:
  static constexpr std::size_t kN = 6, kK = 3, kD = 64;
  std::vector<std::string> ids{"c0", "c1", "c2", "c3", "c4", "c5"};
  std::vector<float> rows;
  void SetUp() override {
    std::mt19937 g(5);
    std::normal_distribution<float> nd;
    rows.resize((kN + kK) * kD);
    for (auto& v : rows) v = nd(g);
  }
  // One round through the engine: the benign rows, plus the fakes when `with_fakes`.
  RoundResult round(Engine& engine, SignedFederation& fed, std::size_t r, bool with_fakes) {
    if (fed.begin_round(r)) engine.set_registry(fed.registry());
    std::vector<std::string> row_ids = ids;
    if (with_fakes) row_ids.insert(row_ids.end(), fed.fake_ids().begin(), fed.fake_ids().end());
    RoundInput in;
    in.updates = UpdateView(rows.data(), row_ids.size(), kD, DType::kFloat32);
    in.client_ids = row_ids;
    in.round = SignedFederation::federation_round(r);
    in.nonce = identity::new_nonce();
    in.signatures = fed.sign(rows.data(), row_ids.size(), kD, row_ids, r, in.nonce);
    return engine.process_round(in);
  }
};

TEST_F(FakeClients, WithoutKeysEveryFakeIsRejectedAsUnknown) {
  VerificationSpec spec;
  spec.enabled = true;
  SignedFederation fed(spec, ids, {kK, 2, "none"});
  EXPECT_EQ(fed.registry().clients.size(), kN);
  Engine engine(EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}})"));
  engine.set_registry(fed.registry());
  for (std::size_t r = 0; r < 4; ++r) {
    const RoundResult res = round(engine, fed, r, r >= 2);
    ASSERT_TRUE(res.verification_ran);
    for (std::size_t i = 0; i < kN; ++i)
      EXPECT_EQ(res.accepted[i], 1) << "round " << r << " row " << i;
    if (r < 2) {
      EXPECT_TRUE(res.rejections.empty());
      continue;
    }
    ASSERT_EQ(res.rejections.size(), kK);
    for (const auto& rej : res.rejections) {
      EXPECT_GE(rej.client, kN);
      EXPECT_TRUE(fed.is_fake(rej.id));
      EXPECT_EQ(rej.code, ReasonCode::kUnknownClient);
      EXPECT_EQ(rej.stage, Stage::kVerify);
    }
    EXPECT_EQ(res.verification.verified, kN);
    // The aggregate is the benign mean: the fakes carry no weight.
    for (std::size_t j = 0; j < kD; j += 13) {
      double mean = 0;
      for (std::size_t i = 0; i < kN; ++i) mean += rows[i * kD + j];
      EXPECT_NEAR(res.aggregate[j], mean / kN, 1e-5);
    }
  }
}

TEST_F(FakeClients, TamperedFakeSignatureIsBadSignature) {
  VerificationSpec spec;
  spec.enabled = true;
  SignedFederation fed(spec, ids, {kK, 0, "enrolled"});
  Engine engine(EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}})"));
  ASSERT_TRUE(fed.begin_round(0));
  engine.set_registry(fed.registry());
  std::vector<std::string> row_ids = ids;
  row_ids.insert(row_ids.end(), fed.fake_ids().begin(), fed.fake_ids().end());
  RoundInput in;
  in.updates = UpdateView(rows.data(), row_ids.size(), kD, DType::kFloat32);
  in.client_ids = row_ids;
  in.round = 1;
  in.nonce = identity::new_nonce();
  in.signatures = fed.sign(rows.data(), row_ids.size(), kD, row_ids, 0, in.nonce);
  rows[(kN + 1) * kD + 7] += 1.0f;  // fake1's update changed after signing
  const RoundResult res = engine.process_round(in);
  ASSERT_EQ(res.rejections.size(), 1u);
  EXPECT_EQ(res.rejections[0].id, "fake1");
  EXPECT_EQ(res.rejections[0].code, ReasonCode::kBadSignature);
}

TEST_F(FakeClients, EnrolledFakesVerifyAtTheJoinRoundAndAreOnProbation) {
  VerificationSpec spec;
  spec.enabled = true;
  spec.probation = {5, 0.2};
  // The benign clients' own probation (first verified at federation round 1) ends after
  // federation round 5; the fakes join at simulator round 6 (federation round 7).
  SignedFederation fed(spec, ids, {kK, 6, "enrolled"});
  Engine engine(EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}})"));
  engine.set_registry(fed.registry());
  for (std::size_t r = 0; r < 6; ++r) {
    const RoundResult res = round(engine, fed, r, false);
    EXPECT_TRUE(res.rejections.empty());
  }
  EXPECT_EQ(fed.registry().clients.size(), kN);  // not yet registered
  const RoundResult res = round(engine, fed, 6, true);
  ASSERT_EQ(fed.registry().clients.size(), kN + kK);
  for (const auto& id : fed.fake_ids()) {
    const auto* c = fed.registry().find(id);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status, identity::ClientStatus::kActive);
    EXPECT_EQ(c->enrolled_round, 7u);
  }
  EXPECT_TRUE(res.rejections.empty());
  EXPECT_EQ(res.verification.verified, kN + kK);
  EXPECT_EQ(res.verification.new_clients, kK);
  EXPECT_EQ(res.verification.on_probation, kK);
  // Equal sample counts: the fakes would hold 3/9 of the mean; probation caps them at 0.2.
  EXPECT_NEAR(res.verification.probation_share_before, 1.0 / 3.0, 1e-9);
  EXPECT_NEAR(res.verification.probation_share_after, 0.2, 1e-9);
  double fake_weight = 0;
  for (std::size_t i = kN; i < kN + kK; ++i) fake_weight += res.weights[i];
  EXPECT_NEAR(fake_weight, 0.2, 1e-9);
  EXPECT_FALSE(fed.begin_round(7));  // enrolled once
}

TEST_F(FakeClients, ConfigErrors) {
  VerificationSpec spec;
  spec.enabled = true;
  EXPECT_THROW(SignedFederation(spec, ids, {kK, 0, "stolen"}), Error);
  EXPECT_THROW(SignedFederation(spec, {"c0", "fake0"}, {1, 0, "none"}), Error);
  SignedFederation fed(spec, ids, {kK, 0, "none"});
  std::vector<std::string> unknown{"nobody"};
  EXPECT_THROW(fed.sign(rows.data(), 1, kD, unknown, 0, identity::new_nonce()), Error);
}

}  // namespace
}  // namespace fedguard::sim
