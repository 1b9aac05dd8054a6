// The rules' declared traits (rules/registry.cc) against what the rules do, for every
// registered rule: the roles declared are exactly the role functions the rule overrides; each
// declared role runs on what the engine provides for the declared needs alone (a rule that
// declares no Gram runs on a pass 1 without Gram products; one that declares the Gram in a
// filter or aggregator role cannot do without it); every other declared need is read (without
// it the rule fails or decides otherwise); the engine builds each rule once.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
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

constexpr unsigned kEverything = rules::kGram | rules::kSketch | rules::kAggregateSketches |
                                 rules::kReputation | rules::kServerReference |
                                 rules::kPreviousAggregate;
constexpr rules::Need kNeeds[] = {
    rules::kGram,       rules::kSketch,          rules::kAggregateSketches,
    rules::kReputation, rules::kServerReference, rules::kPreviousAggregate};

// One rule in one role, called directly on a round that holds what the engine would provide
// for the given needs (rules::Need bits) and nothing else: the Gram products; the per-client
// sketches and histories; the clients' memory (only with past aggregates' sketches or the
// reputation, as the engine's recall stage), with five past aggregates' sketches, every
// client's previous sketch and reputations below 0.5 for three clients; the server reference;
// the previous aggregate. Returns the rule's output written out (NaN as "nan"), so that two
// calls compare.
struct DirectRound {
  static constexpr std::size_t kN = 12, kD = 40, kSketch = 8;
  Matrix x;
  std::vector<double> v;
  DirectRound() {
    std::mt19937_64 rng(test_seed());
    x = random_round(RoundShape{kN, kD, false, false, false, 0.0}, rng);
    v = x[0];
  }

  std::string call(const rules::Rule& rule, rules::Role role, unsigned needs) const {
    auto has = [&](rules::Need n) { return (needs & n) != 0; };
    const std::size_t sketch_dim = has(rules::kSketch) ? kSketch : 0;
    const backend::ScanSummaries s =
        summaries_of(x, v, has(rules::kGram), rule.column_subsets(kD, 0), sketch_dim);
    const geometry::GramSpace space(s);
    const std::vector<double> weights(kN, 1.0);
    std::vector<std::vector<double>> past(has(rules::kAggregateSketches) && sketch_dim ? 5 : 0);
    for (std::size_t t = 0; t < past.size(); ++t)
      for (std::size_t q = 0; q < sketch_dim; ++q)
        past[t].push_back(std::sin(1.0 + t * 0.7 + q * 1.3) / (t + 1));
    std::vector<std::vector<double>> previous(kN);
    rules::ClientMemory memory;
    memory.sketch_dim = sketch_dim;
    memory.round_sketch = &s.sketch;
    for (std::size_t i = 0; i < kN; ++i) {
      for (std::size_t q = 0; q < sketch_dim; ++q)
        previous[i].push_back(s.sketch[i * sketch_dim + q] * 0.9);
      memory.previous_sketch.push_back(past.empty() ? nullptr : &previous[i]);
      memory.suspicion.push_back(nullptr);
      memory.reputation.push_back(i < 3 ? 0.25 : 1.0);
      memory.rounds_seen.push_back(5);
    }
    memory.aggregate_sketches = &past;
    const bool remembers = has(rules::kAggregateSketches) || has(rules::kReputation);
    const rules::RoundContext round{
        space,
        weights,
        has(rules::kPreviousAggregate) ? std::optional<std::size_t>(0) : std::nullopt,
        has(rules::kServerReference) ? std::optional<std::size_t>(0) : std::nullopt,
        0,
        0,
        sketch_dim ? &s.sketch : nullptr,
        sketch_dim,
        "",
        remembers ? &memory : nullptr};
    rules::Candidates c;
    for (std::size_t i = 0; i < kN; ++i) c.owner.push_back(i);
    std::ostringstream out;
    out.precision(17);
    auto write = [&](const char* what, const std::vector<double>& values) {
      out << what << ":";
      for (double value : values) out << " " << value;
      out << "\n";
    };
    if (role == rules::kFilter) {
      const rules::Verdict verdict = rule.select(round, c);
      EXPECT_EQ(verdict.keep.size(), kN);
      write("keep", std::vector<double>(verdict.keep.begin(), verdict.keep.end()));
      write("score", verdict.score);
    } else if (role == rules::kTransform) {
      const rules::TransformResult t = rule.transform(round, c);
      EXPECT_EQ(t.matrix.size(), kN * kN);
      write("matrix", t.matrix);
      write("score", t.score);
    } else {
      const rules::AggregatePlan plan = rule.aggregate(round, c);
      EXPECT_EQ(plan.verdict.keep.size(), kN);
      write("keep", std::vector<double>(plan.verdict.keep.begin(), plan.verdict.keep.end()));
      write("score", plan.verdict.score);
      write("weights", plan.weights);
      write("extra", plan.extra_raw);
      for (const auto& [name, w] : plan.reference_weights) out << name << " " << w << "\n";
    }
    return out.str();
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
        r.call(*rule, role, kEverything);
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
      EXPECT_NO_THROW(r.call(*rule, role, kEverything));
      if (!rule->traits().reads(rules::kGram)) {
        EXPECT_NO_THROW(r.call(*rule, role, kEverything & ~rules::kGram));
      } else if (role != rules::kTransform) {
        try {
          r.call(*rule, role, kEverything & ~rules::kGram);
          ADD_FAILURE() << "declares the Gram but runs without it";
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("without the Gram products"), std::string::npos)
              << e.what();
        }
      }
    }
  }
}

// The other needs: a rule reads what it declares. Without one declared need (the round then
// lacks it, as the engine's would), each of its roles either fails or decides otherwise.
TEST(RuleTraits, EveryDeclaredNeedIsRead) {
  const DirectRound r;
  for (const std::string& name : rules::rule_names()) {
    const auto rule = rules::make_rule(spec_of(name));
    const rules::RuleTraits& traits = rule->traits();
    for (rules::Role role : kRoles) {
      if (!traits.plays(role)) continue;
      const std::string full = r.call(*rule, role, traits.needs | rules::kGram);
      for (rules::Need need : kNeeds) {
        if (need == rules::kGram || !traits.reads(need)) continue;
        SCOPED_TRACE(name + " as " + rules::role_name(role) + " without need " +
                     std::to_string(need));
        std::string without;
        try {
          without = r.call(*rule, role, (traits.needs | rules::kGram) & ~need);
        } catch (const Error&) {
          continue;  // fails without it
        }
        EXPECT_NE(without, full) << "declares the need but decides the same without it";
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

// docs/config.md's "Rules by slot" table says which slots each rule fills: the same as its
// declared roles, for every registered rule.
TEST(RuleTraits, TheDocumentedSlotsAreTheDeclaredRoles) {
  std::ifstream doc(std::string(FEDGUARD_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(doc.good());
  std::map<std::string, unsigned> documented;
  bool in_table = false;
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("| rule | filter | transform | aggregator |", 0) == 0) in_table = true;
    if (!in_table) continue;
    if (line.empty()) break;
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    ASSERT_GE(cells.size(), 4u) << line;
    const std::string name =
        cells[0].substr(cells[0].find('`') + 1, cells[0].rfind('`') - cells[0].find('`') - 1);
    unsigned roles = 0;
    for (std::size_t k = 0; k < 3; ++k)
      if (cells[k + 1].find("yes") != std::string::npos) roles |= kRoles[k];
    documented[name] = roles;
  }
  EXPECT_EQ(documented.size(), rules::rule_names().size());
  for (const std::string& name : rules::rule_names()) {
    ASSERT_TRUE(documented.count(name)) << name << " is missing from docs/config.md's table";
    EXPECT_EQ(documented[name], rules::rule_traits(name).roles) << name;
  }
}

}  // namespace
}  // namespace fedguard::test
