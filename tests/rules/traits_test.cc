// The rules' declared traits (rules/registry.cc) against what the rules do, for every
// registered rule: the roles declared are exactly the role functions the rule overrides; each
// declared role runs on what the engine provides for the declared needs alone (a rule that
// declares no Gram runs on a pass 1 without Gram products; one that declares the Gram in a
// filter or aggregator role cannot do without it); the engine builds each rule once.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "fedguard/fedguard.h"
#include "policy/policy.h"
#include "rules/rule.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

// Parameters that make each rule valid for n = 12 clients (f = 2: bulyan needs n >= 4f + 3).
const std::map<std::string, nlohmann::json>& parameters() {
  static const std::map<std::string, nlohmann::json> table = {
      {"mean", nlohmann::json::object()},
      {"median", nlohmann::json::object()},
      {"trimmed_mean", {{"trim", 2}}},
      {"krum", {{"f", 2}}},
      {"multi_krum", {{"f", 2}}},
      {"bulyan", {{"f", 2}}},
      {"geometric_median", nlohmann::json::object()},
      {"centered_clipping", {{"tau", 0.05}}},
      {"norm_clip", {{"max_norm", 0.5}}},
      {"arc", {{"f", 2}}},
      {"nnm", {{"f", 2}}},
      {"norm_bound", {{"max_ratio", 3.0}}},
      {"fltrust", nlohmann::json::object()},
      {"dnc", {{"f", 2}}},
      {"pca_outlier", nlohmann::json::object()},
      {"flame", {{"seed", 5}}},
      {"signguard", nlohmann::json::object()},
      {"foolsgold", nlohmann::json::object()},
      {"fldetector", {{"window", 3}, {"min_pairs", 3}}},
      {"reputation", {{"min", 0.5}}},
  };
  return table;
}

RuleSpec spec_of(const std::string& name) { return RuleSpec(name, parameters().at(name)); }

constexpr rules::Role kRoles[] = {rules::kFilter, rules::kTransform, rules::kAggregator};

std::string refusal(const std::string& name, rules::Role role) {
  return "rule '" + name + "' cannot serve as " + (role == rules::kAggregator ? "the " : "a ") +
         rules::role_name(role);
}

// Pass 1's summaries of x (k x d) and one reference v, written out in float64 around the
// centre c = 0; with gram = false, only what a pass without Gram products returns.
backend::ScanSummaries summaries_of(const Matrix& x, const std::vector<double>& v, bool gram,
                                    const std::vector<std::vector<std::size_t>>& subsets,
                                    std::size_t sketch_dim) {
  const std::size_t k = x.size(), d = x[0].size();
  backend::ScanSummaries s;
  s.k = k;
  s.r = 1;
  auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
    double t = 0;
    for (std::size_t j = 0; j < d; ++j) t += a[j] * b[j];
    return t;
  };
  for (std::size_t i = 0; i < k; ++i) {
    s.norms_sq.push_back(dot(x[i], x[i]));
    std::int64_t pos = 0, neg = 0, zero = 0;
    for (double value : x[i]) (value > 0 ? pos : value < 0 ? neg : zero) += 1;
    s.positive.push_back(pos);
    s.negative.push_back(neg);
    s.zero.push_back(zero);
    s.finite.push_back(1);
    for (std::size_t q = 0; q < sketch_dim; ++q)
      s.sketch.push_back(x[i][q % d] * static_cast<double>(q + 1));
  }
  if (!gram) return s;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) s.gram.push_back(dot(x[i], x[j]));
  s.centre_proj.assign(k, 0.0);
  for (std::size_t i = 0; i < k; ++i) s.ref_proj.push_back(dot(x[i], v));
  s.centre_ref.assign(1, 0.0);
  s.ref_gram.assign(1, dot(v, v));
  for (const auto& cols : subsets) {
    std::vector<double> g(k * k, 0.0);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j)
        for (std::size_t col : cols) g[i * k + j] += x[i][col] * x[j][col];
    s.subset_grams.push_back(std::move(g));
  }
  return s;
}

// One rule in one role, called directly on a round in which everything a rule could read is
// present (the reference, the history, the clients' memory) except, with gram = false, the
// Gram products.
struct DirectRound {
  static constexpr std::size_t kN = 12, kD = 40, kSketch = 8;
  Matrix x;
  std::vector<double> v;
  DirectRound() {
    std::mt19937_64 rng(test_seed());
    x = random_round(RoundShape{kN, kD, false, false, false, 0.0}, rng);
    v = x[0];
  }

  void call(const rules::Rule& rule, rules::Role role, bool gram) const {
    const auto subsets = rule.column_subsets(kD, 0);
    const backend::ScanSummaries s = summaries_of(x, v, gram, subsets, kSketch);
    const geometry::GramSpace space(s);
    const std::vector<double> weights(kN, 1.0);
    const std::vector<double> history = s.sketch;
    const std::vector<std::vector<double>> aggregate_sketches;
    rules::ClientMemory memory;
    memory.sketch_dim = kSketch;
    memory.round_sketch = &s.sketch;
    memory.previous_sketch.assign(kN, nullptr);
    memory.suspicion.assign(kN, nullptr);
    memory.reputation.assign(kN, 1.0);
    memory.rounds_seen.assign(kN, 0);
    memory.aggregate_sketches = &aggregate_sketches;
    const rules::RoundContext round{space,    weights, std::nullopt, std::size_t{0}, 0, 0,
                                    &history, kSketch, "",           &memory};
    rules::Candidates c;
    for (std::size_t i = 0; i < kN; ++i) c.owner.push_back(i);
    if (role == rules::kFilter) {
      EXPECT_EQ(rule.select(round, c).keep.size(), kN);
    } else if (role == rules::kTransform) {
      EXPECT_EQ(rule.transform(round, c).matrix.size(), kN * kN);
    } else {
      EXPECT_EQ(rule.aggregate(round, c).verdict.keep.size(), kN);
    }
  }
};

TEST(RuleTraits, EveryRegisteredRuleDeclaresARoleAndHasACase) {
  for (const std::string& name : rules::rule_names()) {
    EXPECT_TRUE(parameters().count(name)) << "rule '" << name << "' has no case in traits_test.cc";
    EXPECT_NE(rules::rule_traits(name).roles, 0u) << name;
    EXPECT_EQ(rules::make_rule(spec_of(name))->traits().roles, rules::rule_traits(name).roles)
        << name;
  }
  EXPECT_EQ(parameters().size(), rules::rule_names().size());
  try {
    rules::rule_traits("no_such_rule");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown rule 'no_such_rule' (known: arc, bulyan,"),
              std::string::npos)
        << e.what();
  }
}

// A role not declared is the base class's refusal, word for word: the rule does not override
// that role function. (A declared role is an override: it runs, below.)
TEST(RuleTraits, UndeclaredRolesAreNotOverridden) {
  const DirectRound r;
  for (const std::string& name : rules::rule_names()) {
    const auto rule = rules::make_rule(spec_of(name));
    for (rules::Role role : kRoles) {
      if (rule->traits().plays(role)) continue;
      try {
        r.call(*rule, role, true);
        ADD_FAILURE() << name << " runs as a " << rules::role_name(role)
                      << " but does not declare it";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), refusal(name, role));
      }
    }
  }
}

// Gram: a rule that declares no Gram runs in each of its roles on a pass 1 without Gram
// products; one that declares it (as a filter or aggregator: a transform's policy always has
// the Gram) fails there, so that the declaration is not a stale one costing k^2 d work.
TEST(RuleTraits, GramDeclarationsMatchWhatTheRulesRead) {
  const DirectRound r;
  for (const std::string& name : rules::rule_names()) {
    const auto rule = rules::make_rule(spec_of(name));
    for (rules::Role role : kRoles) {
      if (!rule->traits().plays(role)) continue;
      SCOPED_TRACE(name + " as " + rules::role_name(role));
      EXPECT_NO_THROW(r.call(*rule, role, true));
      if (!rule->traits().reads(rules::kGram)) {
        EXPECT_NO_THROW(r.call(*rule, role, false));
      } else if (role != rules::kTransform) {
        try {
          r.call(*rule, role, false);
          ADD_FAILURE() << "declares the Gram but runs without it";
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("without the Gram products"), std::string::npos)
              << e.what();
        }
      }
    }
  }
}

std::string policy_for(const std::string& name, rules::Role role) {
  nlohmann::json rule = parameters().at(name);
  rule["rule"] = name;
  nlohmann::json j{{"backend", "cpu"}, {"sketch_dim", 16}, {"aggregator", {{"rule", "mean"}}}};
  if (role == rules::kFilter) j["filters"] = nlohmann::json::array({rule});
  if (role == rules::kTransform) j["transforms"] = nlohmann::json::array({rule});
  if (role == rules::kAggregator) j["aggregator"] = rule;
  return j.dump();
}

// Every declared role through the engine, which computes and keeps only what the policy's
// traits ask for (here: this rule's, with `mean`, which needs nothing): five rounds, so that
// the history rules see histories. The server reference is given only to a rule that declares
// it. The engine builds each rule of its policy once (validation builds none twice).
TEST(RuleTraits, DeclaredRolesRunOnWhatTheEngineProvidesForTheirNeeds) {
  std::mt19937_64 rng(test_seed());
  constexpr std::size_t n = 12, d = 300;
  for (const std::string& name : rules::rule_names()) {
    const rules::RuleTraits& traits = rules::rule_traits(name);
    for (rules::Role role : kRoles) {
      if (!traits.plays(role)) continue;
      SCOPED_TRACE(name + " as " + rules::role_name(role));
      const EngineConfig config = EngineConfig::from_json(policy_for(name, role));
      const std::size_t rules_before = rules::rules_built(),
                        policies_before = policy::Policy::built();
      Engine engine(config);
      EXPECT_EQ(rules::rules_built() - rules_before, role == rules::kAggregator ? 1u : 2u);
      EXPECT_EQ(policy::Policy::built() - policies_before, 1u);
      for (int t = 0; t < 5; ++t) {
        const std::vector<float> x =
            to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng));
        RoundInput in;
        in.updates = UpdateView(x.data(), n, d, DType::kFloat32);
        if (traits.reads(rules::kServerReference)) in.reference = x.data();
        RoundResult result;
        ASSERT_NO_THROW(result = engine.process_round(in)) << "round " << t;
        ASSERT_EQ(result.aggregate.size(), d);
        for (float a : result.aggregate) ASSERT_TRUE(std::isfinite(a));
      }
    }
  }
}

// Placement is data too: a last_filter rule (reputation) must be the last filter in intersect
// mode, anywhere in vote mode; no other rule is constrained.
TEST(RuleTraits, LastFilterPlacementComesFromTheTraits) {
  for (const std::string& name : rules::rule_names()) {
    const rules::RuleTraits& traits = rules::rule_traits(name);
    if (!traits.plays(rules::kFilter)) continue;
    nlohmann::json rule = parameters().at(name);
    rule["rule"] = name;
    const nlohmann::json other{{"rule", "norm_bound"}, {"max_ratio", 3.0}};
    nlohmann::json j{{"filters", {rule, other}}, {"aggregator", {{"rule", "mean"}}}};
    if (traits.last_filter) {
      try {
        EngineConfig::from_json(j.dump());
        ADD_FAILURE() << name << " accepted before another filter";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "the '" + name + "' filter must be the last filter (it is filter 1 of 2)");
      }
      j["combine"] = "vote";
    }
    EXPECT_NO_THROW(EngineConfig::from_json(j.dump())) << name;
  }
}

}  // namespace
}  // namespace fedguard::test
