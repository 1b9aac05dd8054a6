#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "fedguard/fedguard.h"
#include "policy/policy.h"
#include "rules/rule.h"

namespace fedguard {
namespace {

TEST(Config, JsonRoundTrip) {
  const EngineConfig c = EngineConfig::from_json(
      R"({"backend": "cpu", "tile_columns": 256, "threads": 2, "duplicate_ids": "error",
          "filters": [{"rule": "multi_krum", "f": 4, "m": 12}],
          "transforms": [{"rule": "norm_clip", "max_norm": 5.5}],
          "aggregator": {"rule": "trimmed_mean", "trim": 2}})");
  EXPECT_EQ(c.backend, BackendKind::kCpu);
  EXPECT_EQ(c.tile_columns, 256u);
  EXPECT_EQ(c.duplicate_ids, DuplicateIdPolicy::kError);
  ASSERT_EQ(c.filters.size(), 1u);
  EXPECT_EQ(c.filters[0].params.at("m"), 12);
  EXPECT_EQ(c.aggregator.rule, "trimmed_mean");
  const EngineConfig back = EngineConfig::from_json_value(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(Config, DefaultsAreFedAvgOnAutoBackend) {
  const EngineConfig c = EngineConfig::from_json("{}");
  EXPECT_EQ(c.backend, BackendKind::kAuto);
  EXPECT_EQ(c.aggregator.rule, "mean");
  Engine e(c);
  EXPECT_EQ(e.backend_name(), "cpu");  // no device on this machine: auto falls back to the CPU
}

TEST(Config, CudaBackendRequestIsAClearError) {
  try {
    Engine e(EngineConfig::from_json(R"({"backend": "cuda"})"));
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.category(), ErrorCategory::kUnsupported);
    EXPECT_NE(std::string(err.what()).find("cuda"), std::string::npos);
  }
}

TEST(Config, NumbersBeyondDoubleRangeAreAnInputError) {
  try {
    EngineConfig::from_json(R"({"tile_columns": 1e400})");
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.category(), ErrorCategory::kInvalidInput);
    EXPECT_NE(std::string(err.what()).find("number overflow"), std::string::npos) << err.what();
  }
}

// The recommended preset (docs/detection.md): the detection stage (whose norm signal rejects
// updates above 3x the median norm), NNM, trimmed mean, with the caller's f; against a
// brute-force float64 evaluation of the same steps.
TEST(Config, RecommendedPolicyIsDetectionNnmTrimmedMean) {
  const std::size_t f = 2, n = 9, d = 7;
  const EngineConfig c = EngineConfig::recommended(f);
  EXPECT_EQ(c.to_json(), EngineConfig::from_json(R"({"preset": "recommended", "f": 2})").to_json());
  EXPECT_TRUE(c.detection.enabled);
  ASSERT_EQ(c.transforms.size(), 1u);
  EXPECT_EQ(c.transforms[0].rule, "nnm");
  EXPECT_EQ(c.aggregator.rule, "trimmed_mean");
  c.validate();
  std::vector<float> x(n * d);
  std::uint64_t state = 12345;
  auto uniform = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (auto& v : x) v = static_cast<float>(uniform() - 0.5);
  for (std::size_t j = 0; j < d; ++j) x[(n - 1) * d + j] = 100.0f;  // far above 3x the median norm
  Engine engine(c);
  RoundInput in;
  in.updates = UpdateView(x.data(), n, d, DType::kFloat32);
  const RoundResult r = engine.process_round(in);
  ASSERT_EQ(r.accepted.size(), n);
  for (std::size_t i = 0; i + 1 < n; ++i) EXPECT_EQ(r.accepted[i], 1) << i;
  EXPECT_EQ(r.accepted[n - 1], 0);
  // Detection rejected one of the f = 2 assumed attackers: the aggregator withstands the other
  // one (EngineConfig::for_round), and a note says so.
  bool noted = false;
  for (const auto& note : r.notes)
    noted |= note.find("f lowered from 2 to 1 (detection rejected 1)") != std::string::npos;
  EXPECT_TRUE(noted);
  // Brute force on the m = n - 1 kept rows with the round's f = 1: y_i = mean of the m - f
  // nearest rows of x_i (itself included, by squared distance, ties to the lower index), then
  // per coordinate the mean of the sorted values without the f lowest and f highest.
  const std::size_t m = n - 1, fr = f - 1;
  std::vector<std::vector<double>> y(m, std::vector<double>(d, 0.0));
  for (std::size_t i = 0; i < m; ++i) {
    std::vector<std::pair<double, std::size_t>> dist;
    for (std::size_t k = 0; k < m; ++k) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j)
        s += (double(x[i * d + j]) - x[k * d + j]) * (double(x[i * d + j]) - x[k * d + j]);
      dist.emplace_back(s, k);
    }
    std::sort(dist.begin(), dist.end());
    for (std::size_t q = 0; q < m - fr; ++q)
      for (std::size_t j = 0; j < d; ++j)
        y[i][j] += double(x[dist[q].second * d + j]) / double(m - fr);
  }
  for (std::size_t j = 0; j < d; ++j) {
    std::vector<double> col;
    for (std::size_t i = 0; i < m; ++i) col.push_back(y[i][j]);
    std::sort(col.begin(), col.end());
    double s = 0;
    for (std::size_t q = fr; q < m - fr; ++q) s += col[q];
    EXPECT_NEAR(r.aggregate[j], s / double(m - 2 * fr), 1e-5) << j;
  }
}

// precision and combine.mode are enums in C++ and the same strings in JSON, both ways.
TEST(Config, PrecisionAndCombineModeRoundTripTheirStrings) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    EXPECT_EQ(precision_from_string(to_string(p)), p);
    EngineConfig c;
    c.precision = p;
    const nlohmann::json j = c.to_json();
    EXPECT_EQ(j.at("precision"), to_string(p));
    EXPECT_EQ(EngineConfig::from_json_value(j).precision, p);
  }
  EXPECT_STREQ(to_string(Precision::kFp32), "fp32");
  EXPECT_STREQ(to_string(Precision::kTf32), "tf32");
  EXPECT_STREQ(to_string(Precision::kBf16), "bf16");
  for (CombineMode m : {CombineMode::kIntersect, CombineMode::kVote}) {
    EXPECT_EQ(combine_mode_from_string(to_string(m)), m);
    EngineConfig c;
    c.combine.mode = m;
    const nlohmann::json j = c.to_json();
    EXPECT_EQ(j.at("combine").at("mode"), to_string(m));
    EXPECT_EQ(EngineConfig::from_json_value(j).combine.mode, m);
  }
  EXPECT_STREQ(to_string(CombineMode::kIntersect), "intersect");
  EXPECT_STREQ(to_string(CombineMode::kVote), "vote");
  EXPECT_EQ(EngineConfig{}.precision, Precision::kFp32);
  EXPECT_EQ(EngineConfig{}.combine.mode, CombineMode::kIntersect);
  EXPECT_EQ(EngineConfig::from_json(R"({"precision": "tf32"})").precision, Precision::kTf32);
  EXPECT_EQ(EngineConfig::from_json(R"({"combine": "vote"})").combine.mode, CombineMode::kVote);
  EXPECT_EQ(EngineConfig::from_json(R"({"combine": {"mode": "vote"}})").combine.mode,
            CombineMode::kVote);
}

TEST(Config, UnknownPrecisionOrCombineModeKeepsItsMessage) {
  auto message = [](const std::string& json) {
    try {
      EngineConfig::from_json(json);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kInvalidInput);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(R"({"precision": "fp16"})"),
            R"(config "precision" must be fp32, tf32 or bf16, got "fp16")");
  EXPECT_EQ(message(R"({"precision": 32})"), R"(config "precision" must be a string)");
  EXPECT_EQ(message(R"({"combine": "union"})"),
            R"(config "combine.mode" must be "intersect" or "vote", got "union")");
  EXPECT_EQ(message(R"({"combine": {"mode": "Vote"}})"),
            R"(config "combine.mode" must be "intersect" or "vote", got "Vote")");
  EXPECT_THROW(precision_from_string("FP32"), Error);
  EXPECT_THROW(combine_mode_from_string(""), Error);
  EngineConfig c;
  c.precision = static_cast<Precision>(7);  // an integer cast to the enum names no precision
  EXPECT_THROW(c.validate(), Error);
}

// validate() checks the composition from the rules' declared traits and each rule's
// parameters by building that rule alone: no Policy. The Engine builds each rule once.
TEST(Config, ValidateBuildsNoPolicyAndTheEngineBuildsEachRuleOnce) {
  const EngineConfig c = EngineConfig::from_json(
      R"({"filters": [{"rule": "norm_bound", "max_ratio": 3}, {"rule": "krum", "f": 1}],
          "transforms": [{"rule": "norm_clip", "max_norm": 2}], "aggregator": {"rule": "median"}})");
  const std::size_t policies = policy::Policy::built(), rules_before = rules::rules_built();
  c.validate();
  EXPECT_EQ(policy::Policy::built(), policies);
  EXPECT_EQ(rules::rules_built() - rules_before, 4u);  // each rule's parameters, once
  Engine engine(c);
  EXPECT_EQ(policy::Policy::built() - policies, 1u);
  EXPECT_EQ(rules::rules_built() - rules_before, 8u);  // the engine's own four, once
  // The composition errors without a Policy, as the Policy gave them.
  auto message = [](const std::string& json) {
    try {
      EngineConfig::from_json(json);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::size_t before = policy::Policy::built();
  EXPECT_EQ(message(R"({"filters": [{"rule": "median"}]})"),
            "rule 'median' cannot serve as a filter");
  EXPECT_EQ(message(R"({"transforms": [{"rule": "krum", "f": 1}]})"),
            "rule 'krum' cannot serve as a transform");
  EXPECT_EQ(message(R"({"aggregator": {"rule": "norm_bound"}})"),
            "rule 'norm_bound' cannot serve as the aggregator");
  EXPECT_EQ(message(R"({"filters": [{"rule": "reputation"}, {"rule": "norm_bound"}]})"),
            "the 'reputation' filter must be the last filter (it is filter 1 of 2)");
  EXPECT_EQ(message(R"({"aggregator": {"rule": "krum", "f": 1, "g": 2}})"),
            "rule 'krum' has no parameter 'g' (it takes: f)");
  EXPECT_EQ(message(R"({"aggregator": {"rule": "kurm"}})").rfind("unknown rule 'kurm' (known: ", 0),
            0u);
  EXPECT_EQ(policy::Policy::built(), before);
}

}  // namespace
}  // namespace fedguard
