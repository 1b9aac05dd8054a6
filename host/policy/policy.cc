#include "policy/policy.h"

#include <cmath>

#include "fedguard/error.h"

namespace fedguard::policy {
namespace {

std::string describe_losses(std::size_t round_clients, const std::map<std::string, std::size_t>& rejected) {
  std::size_t total = 0;
  std::string parts;
  for (const auto& [reason, count] : rejected) {
    if (count == 0) continue;
    total += count;
    parts += (parts.empty() ? "" : ", ") + reason + " " + std::to_string(count);
  }
  std::string s = "(" + std::to_string(round_clients) + " clients in the round";
  if (total > 0) s += ", " + std::to_string(total) + " rejected before this rule: " + parts;
  return s + ")";
}

void record_scores(Decision& out, const std::string& name, const Candidates& c, const std::vector<double>& score,
                   std::size_t k) {
  if (name.empty()) return;
  auto& row = out.scores[name];
  if (row.empty()) row.assign(k, std::nan(""));
  for (std::size_t p = 0; p < c.size(); ++p) row[c.owner[p]] = score[p];
}

}  // namespace

Policy::Policy(const EngineConfig& config) {
  for (const RuleSpec& spec : config.filters) {
    auto rule = rules::make_rule(spec);
    FEDGUARD_EXPECTS(rule->can_filter(), "rule '" << spec.rule << "' cannot serve as a filter");
    filters_.push_back(std::move(rule));
  }
  for (const RuleSpec& spec : config.transforms) {
    auto rule = rules::make_rule(spec);
    FEDGUARD_EXPECTS(rule->can_transform(), "rule '" << spec.rule << "' cannot serve as a transform");
    transforms_.push_back(std::move(rule));
  }
  aggregator_ = rules::make_rule(config.aggregator);
  FEDGUARD_EXPECTS(aggregator_->can_aggregate(),
                   "rule '" << config.aggregator.rule << "' cannot serve as the aggregator");
}

std::vector<const rules::Rule*> Policy::all_rules() const {
  std::vector<const rules::Rule*> out;
  for (const auto& r : filters_) out.push_back(r.get());
  for (const auto& r : transforms_) out.push_back(r.get());
  out.push_back(aggregator_.get());
  return out;
}

bool Policy::uses_server_reference() const {
  for (const auto* r : all_rules())
    if (r->uses_server_reference()) return true;
  return false;
}

bool Policy::needs_sketch() const {
  for (const auto* r : all_rules())
    if (r->needs_sketch()) return true;
  return false;
}

std::string Policy::server_reference_users() const {
  std::string names;
  for (const auto* r : all_rules())
    if (r->uses_server_reference()) names += (names.empty() ? "" : ", ") + r->name();
  return names;
}

Policy::SubsetPlan Policy::column_subsets(std::size_t d, std::uint64_t round_index) const {
  SubsetPlan plan;
  for (const auto* r : all_rules()) {
    plan.offsets.push_back(plan.subsets.size());
    for (auto& s : r->column_subsets(d, round_index)) plan.subsets.push_back(std::move(s));
  }
  return plan;
}

bool Policy::uses_previous_aggregate() const {
  for (const auto& r : filters_) if (r->uses_previous_aggregate()) return true;
  for (const auto& r : transforms_) if (r->uses_previous_aggregate()) return true;
  return aggregator_->uses_previous_aggregate();
}

bool Policy::needs_gram() const {
  if (!transforms_.empty() || aggregator_->needs_gram()) return true;
  for (const auto& r : filters_) if (r->needs_gram()) return true;
  return false;
}

Decision Policy::decide(const GramSpace& space, const std::vector<double>& sample_weight, References references,
                        const SubsetPlan& subsets, std::uint64_t round_index, const std::vector<std::size_t>& alive,
                        std::map<std::string, std::size_t> rejected_before, std::size_t round_clients) const {
  const std::size_t k = space.clients();
  Decision out;
  out.accepted.assign(k, 0);
  Candidates c;
  c.owner = alive;
  rules::RoundContext round{space, sample_weight, references.previous_aggregate, references.server_reference,
                            round_index, 0, references.history, references.sketch_dim, ""};
  std::size_t rule_index = 0;
  auto enter = [&] {
    round.losses = describe_losses(round_clients, rejected_before);
    round.subset_offset = subsets.offsets.empty() ? 0 : subsets.offsets[rule_index];
    ++rule_index;
  };

  for (const auto& filter : filters_) {
    enter();
    const rules::Verdict v = filter->select(round, c);
    record_scores(out, v.score_name, c, v.score, k);
    std::size_t dropped = 0;
    for (std::size_t p = 0; p < c.size(); ++p) {
      if (v.keep[p]) continue;
      out.reasons[c.owner[p]] = v.reason[p];
      ++dropped;
    }
    rejected_before[filter->name()] += dropped;
    c = c.subset(v.keep);
  }
  for (const auto& transform : transforms_) {
    enter();
    const rules::TransformResult t = transform->transform(round, c);
    record_scores(out, t.score_name, c, t.score, k);
    c = c.mixed(space, t.matrix);
  }

  enter();
  const rules::AggregatePlan plan = aggregator_->aggregate(round, c);
  record_scores(out, plan.verdict.score_name, c, plan.verdict.score, k);
  for (std::size_t p = 0; p < c.size(); ++p) {
    if (plan.verdict.keep[p]) {
      out.accepted[c.owner[p]] = 1;
    } else {
      out.reasons[c.owner[p]] = plan.verdict.reason[p];
    }
  }
  out.linear = plan.linear;
  out.reference_weights = plan.reference_weights;
  out.noise_sigma = plan.noise_sigma;
  out.noise_seed = plan.noise_seed;
  if (plan.linear) {
    const std::vector<double> raw = c.raw(space);
    const std::size_t dim = space.dim();
    out.coefficients.assign(dim, 0.0);
    for (std::size_t p = 0; p < c.size(); ++p) {
      if (plan.weights[p] == 0) continue;
      for (std::size_t j = 0; j < dim; ++j) out.coefficients[j] += plan.weights[p] * raw[p * dim + j];
    }
    for (std::size_t j = 0; j < plan.extra_raw.size(); ++j) out.coefficients[j] += plan.extra_raw[j];
  } else {
    out.final_candidates = c.subset(plan.verdict.keep);
    out.statistic = plan.statistic;
    out.param = plan.param;
  }
  return out;
}

}  // namespace fedguard::policy
