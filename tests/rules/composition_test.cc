// Policy composition (intersect / vote) and the per-client reputation across rounds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

constexpr std::size_t kD = 64;

// Row i: all values equal to norms[i] / sqrt(d), so ||x_i|| = norms[i] exactly enough.
RoundResult run(Engine& e, const std::vector<double>& norms, const std::vector<std::string>& ids,
                std::size_t nan_row = SIZE_MAX) {
  std::vector<float> data(norms.size() * kD);
  for (std::size_t i = 0; i < norms.size(); ++i)
    for (std::size_t j = 0; j < kD; ++j)
      data[i * kD + j] = i == nan_row && j == 3
                             ? std::numeric_limits<float>::quiet_NaN()
                             : static_cast<float>(norms[i] / 8.0 * (j % 2 ? 1 : 1));
  RoundInput in;
  in.updates = UpdateView(data.data(), norms.size(), kD, DType::kFloat32);
  in.client_ids = ids;
  return e.process_round(in);
}

// Three norm filters that disagree: client a fails 1, b fails 2, c fails 3, d none.
const char* kFilters = R"([{"rule": "norm_bound", "max_norm": 10},
                            {"rule": "norm_bound", "max_norm": 20},
                            {"rule": "norm_bound", "max_norm": 30}])";
const std::vector<std::string> kIds{"a", "b", "c", "d"};
const std::vector<double> kNorms{15, 25, 35, 5};

TEST(Composition, IntersectRejectsAtTheFirstFilter) {
  Engine e = make_engine(std::string(R"({"filters": )") + kFilters +
                         R"(, "aggregator": {"rule": "mean"}})");
  const RoundResult r = run(e, kNorms, kIds);
  EXPECT_EQ(r.accepted, (std::vector<std::uint8_t>{0, 0, 0, 1}));
  EXPECT_NE(r.reasons.at(0).find("norm_bound"), std::string::npos);
}

TEST(Composition, MajorityVoteKeepsClientsOneFilterRejects) {
  Engine e = make_engine(std::string(R"({"filters": )") + kFilters +
                         R"(, "combine": "vote", "aggregator": {"rule": "mean"}})");
  const RoundResult r = run(e, kNorms, kIds);
  // a: 1 of 3 votes (kept); b: 2 of 3 (rejected); c: 3 of 3 (rejected); d: 0.
  EXPECT_EQ(r.accepted, (std::vector<std::uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(r.reasons.at(1).rfind("vote 2 of 3 (needs 2): norm_bound", 0), 0u) << r.reasons.at(1);
  // Every rejecting detector is named, with its score.
  const std::string& why = r.reasons.at(2);
  std::size_t count = 0;
  for (std::size_t at = why.find("norm_bound"); at != std::string::npos;
       at = why.find("norm_bound", at + 1))
    ++count;
  EXPECT_EQ(count, 3u) << why;
  EXPECT_NEAR(r.weights[0], 0.5, 1e-12);
}

TEST(Composition, WeightedVote) {
  // The first filter alone outweighs the other two.
  Engine e = make_engine(std::string(R"({"filters": )") + kFilters +
                         R"(, "combine": {"mode": "vote", "weights": [3, 1, 1], "min_votes": 3},
                            "aggregator": {"rule": "mean"}})");
  const RoundResult r = run(e, kNorms, kIds);
  EXPECT_EQ(r.accepted, (std::vector<std::uint8_t>{0, 0, 0, 1}));
  Engine e2 = make_engine(std::string(R"({"filters": )") + kFilters +
                          R"(, "combine": {"mode": "vote", "weights": [1, 1, 3], "min_votes": 3},
                             "aggregator": {"rule": "mean"}})");
  EXPECT_EQ(run(e2, kNorms, kIds).accepted, (std::vector<std::uint8_t>{1, 1, 0, 1}));
}

TEST(Composition, BadCombineConfigsNameTheProblem) {
  auto message = [](const std::string& json) {
    try {
      EngineConfig::from_json(json);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message(R"({"combine": "union"})").find("intersect"), std::string::npos);
  EXPECT_NE(message(std::string(R"({"filters": )") + kFilters +
                    R"(, "combine": {"mode": "vote", "weights": [1]}})")
                .find("1 weights for 3 filters"),
            std::string::npos);
  EXPECT_NE(message(R"({"combine": {"mode": "vote", "quorum": 2}})").find("unknown key \"quorum\""),
            std::string::npos);
  EXPECT_NE(message(R"({"reputation": {"decay": 1.5}})").find("decay"), std::string::npos);
  EXPECT_NE(
      message(R"({"filters": [{"rule": "reputation"}, {"rule": "norm_bound", "max_norm": 1}]})")
          .find("must be the last filter"),
      std::string::npos);
}

TEST(Reputation, DecaysWithRejectionsAndGatesOnceLow) {
  // "bad" fails the norm filter every round; the reputation filter (last) drops it once
  // its reputation 0.5^t falls below 0.3, while the norm filter keeps judging it.
  Engine e = make_engine(
      R"({"filters": [{"rule": "norm_bound", "max_norm": 10}, {"rule": "reputation", "min": 0.3}],
                             "reputation": {"decay": 0.5, "initial": 1.0}, "aggregator": {"rule": "mean"}})");
  const std::vector<std::string> ids{"good", "bad", "also_good"};
  double want_bad = 1.0;
  for (int t = 0; t < 4; ++t) {
    const RoundResult r = run(e, {1, 50, 2}, ids);
    want_bad *= 0.5;
    EXPECT_DOUBLE_EQ(r.scores.at("reputation")[0], 1.0);
    EXPECT_DOUBLE_EQ(r.scores.at("reputation")[1], want_bad);
    EXPECT_FALSE(r.accepted[1]);
    EXPECT_NE(r.reasons.at(1).find("norm_bound"), std::string::npos);  // the first filter's verdict
  }
  // Now "bad" behaves: the norm filter keeps it, but its reputation (0.0625) still gates it
  // until it has earned 0.3 back: 0.53, so one good round suffices here.
  const RoundResult r = run(e, {1, 1, 2}, ids);
  EXPECT_FALSE(r.accepted[1]);
  EXPECT_NE(r.reasons.at(1).find("reputation: 0.0625 below 0.3"), std::string::npos)
      << r.reasons.at(1);
  EXPECT_DOUBLE_EQ(r.scores.at("reputation")[1], 0.5 * 0.0625 + 0.5);
  const RoundResult r2 = run(e, {1, 1, 2}, ids);
  EXPECT_TRUE(r2.accepted[1]);
}

TEST(Reputation, InputCheckRejectionsCountAndNewClientsStartAtInitial) {
  Engine e = make_engine(
      R"({"reputation": {"decay": 0.8, "initial": 0.6}, "aggregator": {"rule": "mean"}})");
  RoundResult r = run(e, {1, 2, 3}, {"x", "y", "z"}, /*nan_row=*/1);
  EXPECT_EQ(r.reasons.at(1), "non_finite");
  EXPECT_NEAR(r.scores.at("reputation")[0], 0.8 * 0.6 + 0.2, 1e-12);
  EXPECT_NEAR(r.scores.at("reputation")[1], 0.8 * 0.6, 1e-12);
  r = run(e, {1, 2}, {"w", "y"});
  EXPECT_NEAR(r.scores.at("reputation")[0], 0.8 * 0.6 + 0.2, 1e-12);        // new client
  EXPECT_NEAR(r.scores.at("reputation")[1], 0.8 * 0.8 * 0.6 + 0.2, 1e-12);  // y recovers
  // Without a reputation setting, no score.
  Engine plain = make_engine(R"({"aggregator": {"rule": "mean"}})");
  EXPECT_EQ(run(plain, {1, 2}, {"a", "b"}).scores.count("reputation"), 0u);
}

TEST(Reputation, AFailedRoundChangesNoReputation) {
  Engine e = make_engine(
      R"({"reputation": {"decay": 0.5}, "filters": [{"rule": "norm_bound", "max_norm": 10}],
                             "aggregator": {"rule": "krum", "f": 1}})");
  const std::vector<std::string> ids{"a", "b", "c", "d", "e"};
  run(e, {1, 2, 3, 4, 5}, ids);
  // Krum with f=1 needs n >= 5 kept: two rejections make the round fail.
  EXPECT_THROW(run(e, {1, 50, 60, 4, 5}, ids), Error);
  const RoundResult r = run(e, {1, 2, 3, 4, 5}, ids);
  EXPECT_DOUBLE_EQ(r.scores.at("reputation")[1], 1.0);
}

}  // namespace
}  // namespace fedguard::test
