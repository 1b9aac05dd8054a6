// Name -> rule: its factory and its traits (the roles it can play, the summaries it needs).
// Adding a rule: one file with a make_<name> factory, one line here.
#include <atomic>
#include <map>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {

std::unique_ptr<Rule> make_mean(const RuleSpec&);
std::unique_ptr<Rule> make_median(const RuleSpec&);
std::unique_ptr<Rule> make_trimmed_mean(const RuleSpec&);
std::unique_ptr<Rule> make_krum(const RuleSpec&);
std::unique_ptr<Rule> make_multi_krum(const RuleSpec&);
std::unique_ptr<Rule> make_bulyan(const RuleSpec&);
std::unique_ptr<Rule> make_geometric_median(const RuleSpec&);
std::unique_ptr<Rule> make_centered_clipping(const RuleSpec&);
std::unique_ptr<Rule> make_norm_clip(const RuleSpec&);
std::unique_ptr<Rule> make_arc(const RuleSpec&);
std::unique_ptr<Rule> make_nnm(const RuleSpec&);
std::unique_ptr<Rule> make_norm_bound(const RuleSpec&);
std::unique_ptr<Rule> make_fltrust(const RuleSpec&);
std::unique_ptr<Rule> make_dnc(const RuleSpec&);
std::unique_ptr<Rule> make_pca_outlier(const RuleSpec&);
std::unique_ptr<Rule> make_flame(const RuleSpec&);
std::unique_ptr<Rule> make_signguard(const RuleSpec&);
std::unique_ptr<Rule> make_foolsgold(const RuleSpec&);
std::unique_ptr<Rule> make_fldetector(const RuleSpec&);
std::unique_ptr<Rule> make_reputation(const RuleSpec&);

namespace {

using Factory = std::unique_ptr<Rule> (*)(const RuleSpec&);
struct Entry {
  Factory make;
  RuleTraits traits;
};

// One line per rule: its factory and its traits {roles, needs, last filter}. A rule whose
// roles skip kGram gets a pass 1 without Gram products (when every rule of the policy skips it).
const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> rules = {
      {"mean", {make_mean, {kAggregator, 0}}},
      {"median", {make_median, {kAggregator, 0}}},
      {"trimmed_mean", {make_trimmed_mean, {kAggregator, 0}}},
      {"krum", {make_krum, {kFilter | kAggregator, kGram}}},
      {"multi_krum", {make_multi_krum, {kFilter | kAggregator, kGram}}},
      {"bulyan", {make_bulyan, {kFilter | kAggregator, kGram}}},
      {"geometric_median", {make_geometric_median, {kAggregator, kGram}}},
      {"centered_clipping", {make_centered_clipping, {kAggregator, kGram | kPreviousAggregate}}},
      {"norm_clip", {make_norm_clip, {kTransform, kGram}}},
      {"arc", {make_arc, {kTransform, kGram}}},
      {"nnm", {make_nnm, {kTransform, kGram}}},
      {"norm_bound", {make_norm_bound, {kFilter, 0}}},
      {"fltrust", {make_fltrust, {kAggregator, kGram | kServerReference}}},
      {"dnc", {make_dnc, {kFilter | kAggregator, kGram}}},
      {"pca_outlier", {make_pca_outlier, {kFilter, kGram}}},
      {"flame", {make_flame, {kFilter | kAggregator, kGram}}},
      {"signguard", {make_signguard, {kFilter | kAggregator, 0}}},
      {"foolsgold", {make_foolsgold, {kAggregator, kSketch}}},
      {"fldetector", {make_fldetector, {kFilter, kSketch | kAggregateSketches}}},
      {"reputation", {make_reputation, {kFilter, kReputation, /*last_filter=*/true}}},
  };
  return rules;
}

const Entry& entry(const std::string& name) {
  const auto it = registry().find(name);
  if (it == registry().end()) {
    std::string list;
    for (const auto& [known, e] : registry()) list += (list.empty() ? "" : ", ") + known;
    FEDGUARD_THROW(kInvalidInput, "unknown rule '" << name << "' (known: " << list << ")");
  }
  return it->second;
}

std::atomic<std::size_t> built{0};

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case kFilter:
      return "filter";
    case kTransform:
      return "transform";
    case kAggregator:
      return "aggregator";
  }
  return "?";
}

std::unique_ptr<Rule> make_rule(const RuleSpec& spec) {
  const Entry& e = entry(spec.rule);
  std::unique_ptr<Rule> rule = e.make(spec);
  rule->traits_ = e.traits;
  ++built;
  return rule;
}

const RuleTraits& rule_traits(const std::string& name) { return entry(name).traits; }

void check_rule_parameters(const RuleSpec& spec) { make_rule(spec); }

std::size_t rules_built() { return built.load(); }

std::vector<std::string> rule_names() {
  std::vector<std::string> names;
  for (const auto& [name, e] : registry()) names.push_back(name);
  return names;
}

}  // namespace fedguard::rules
