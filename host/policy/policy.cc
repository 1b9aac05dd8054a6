#include "policy/policy.h"

#include <atomic>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "policy/composition.h"

namespace fedguard::policy {
namespace {

std::string describe_losses(std::size_t round_clients,
                            const std::map<std::string, std::size_t>& rejected) {
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

void record_scores(Decision& out, const std::string& name, const Candidates& c,
                   const std::vector<double>& score, std::size_t k) {
  if (name.empty()) return;
  auto& row = out.scores[name];
  if (row.empty()) row.assign(k, std::nan(""));
  for (std::size_t p = 0; p < c.size(); ++p) row[c.owner[p]] = score[p];
}

Decision::RuleRejection rule_rejection(ReasonCode code, const std::string& rule,
                                       const rules::Verdict& v, std::size_t p) {
  Decision::RuleRejection r{code, rule, v.reason[p], {}};
  if (!v.score_name.empty() && p < v.score.size() && std::isfinite(v.score[p]))
    r.values[v.score_name] = v.score[p];
  return r;
}

std::atomic<std::size_t> policies_built{0};

}  // namespace

std::size_t Policy::built() { return policies_built.load(); }

Policy::Policy(const EngineConfig& config) : combine_(config.combine) {
  ++policies_built;
  check_composition(config);
  for (const RuleSpec& spec : config.filters) filters_.push_back(rules::make_rule(spec));
  for (const RuleSpec& spec : config.transforms) transforms_.push_back(rules::make_rule(spec));
  aggregator_ = rules::make_rule(config.aggregator);
  for (const auto* r : all_rules()) needs_ |= r->traits().needs;
  if (!transforms_.empty()) needs_ |= rules::kGram;
}

std::vector<const rules::Rule*> Policy::all_rules() const {
  std::vector<const rules::Rule*> out;
  for (const auto& r : filters_) out.push_back(r.get());
  for (const auto& r : transforms_) out.push_back(r.get());
  out.push_back(aggregator_.get());
  return out;
}

std::optional<rules::Rule::StatisticForecast> Policy::forecast_statistic(
    std::size_t candidates) const {
  if (!filters_.empty() || !transforms_.empty() || needs_ != 0) return std::nullopt;
  return aggregator_->forecast_statistic(candidates);
}

std::string Policy::server_reference_users() const {
  std::string names;
  for (const auto* r : all_rules())
    if (r->traits().reads(rules::kServerReference))
      names += (names.empty() ? "" : ", ") + r->name();
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

Decision Policy::decide(const GramSpace& space, const std::vector<double>& sample_weight,
                        References references, const SubsetPlan& subsets, std::uint64_t round_index,
                        const std::vector<std::size_t>& alive,
                        std::map<std::string, std::size_t> rejected_before,
                        std::size_t round_clients) const {
  const std::size_t k = space.clients();
  Decision out;
  out.accepted.assign(k, 0);
  Candidates c;
  c.owner = alive;
  rules::RoundContext round{space,
                            sample_weight,
                            references.previous_aggregate,
                            references.server_reference,
                            round_index,
                            0,
                            references.history,
                            references.sketch_dim,
                            "",
                            references.memory,
                            references.threads};
  std::size_t rule_index = 0;
  auto enter = [&] {
    round.losses = describe_losses(round_clients, rejected_before);
    round.subset_offset = subsets.offsets.empty() ? 0 : subsets.offsets[rule_index];
    ++rule_index;
  };
  // Per scanned position: how many filters that are evidence for the reputation (those that do
  // not read it) judged the client, and whether one of them rejected it.
  std::vector<std::size_t> judged(k, 0);
  std::vector<std::uint8_t> rejected_by_evidence(k, 0);
  std::size_t evidence_filters = 0;
  auto remember = [&](const rules::Verdict& v, const Candidates& cand) {
    for (std::size_t p = 0; p < v.suspicion.size() && p < cand.size(); ++p)
      out.suspicion[cand.owner[p]] = v.suspicion[p];
  };

  if (combine_.mode == CombineMode::kVote) {
    // Every filter judges every candidate; the rejecting weight decides.
    std::vector<double> weights = combine_.weights;
    if (weights.empty()) weights.assign(filters_.size(), 1.0);
    double total = 0;
    for (double w : weights) total += w;
    const double threshold =
        combine_.min_votes > 0 ? combine_.min_votes : std::floor(total / 2) + 1;
    std::vector<double> against(c.size(), 0.0);
    std::vector<std::string> why(c.size());
    std::vector<std::string> voters(c.size());
    for (std::size_t f = 0; f < filters_.size(); ++f) {
      enter();
      const rules::Verdict v = filters_[f]->select(round, c);
      record_scores(out, v.score_name, c, v.score, k);
      remember(v, c);
      const bool evidence = !filters_[f]->traits().reads(rules::kReputation);
      evidence_filters += evidence;
      for (std::size_t p = 0; p < c.size(); ++p) {
        judged[c.owner[p]] += evidence;
        if (v.keep[p]) continue;
        if (evidence) rejected_by_evidence[c.owner[p]] = 1;
        against[p] += weights[f];
        why[p] += (why[p].empty() ? "" : "; ") + v.reason[p];
      }
    }
    std::vector<std::uint8_t> keep(c.size(), 1);
    for (std::size_t p = 0; p < c.size(); ++p) {
      if (filters_.empty() || against[p] < threshold) continue;
      keep[p] = 0;
      out.rejections[c.owner[p]] = {
          ReasonCode::kVote,
          "",
          "vote " + short_number(against[p]) + " of " + short_number(total) + " (needs " +
              short_number(threshold) + "): " + why[p],
          {{"against", against[p]}, {"threshold", threshold}, {"total", total}}};
    }
    std::size_t dropped = 0;
    for (auto x : keep) dropped += !x;
    if (dropped) rejected_before["vote"] += dropped;
    c = c.subset(keep);
  } else {
    for (const auto& filter : filters_) {
      enter();
      const rules::Verdict v = filter->select(round, c);
      record_scores(out, v.score_name, c, v.score, k);
      remember(v, c);
      const bool evidence = !filter->traits().reads(rules::kReputation);
      evidence_filters += evidence;
      std::size_t dropped = 0;
      for (std::size_t p = 0; p < c.size(); ++p) {
        judged[c.owner[p]] += evidence;
        if (v.keep[p]) continue;
        if (evidence) rejected_by_evidence[c.owner[p]] = 1;
        out.rejections[c.owner[p]] = rule_rejection(ReasonCode::kFilter, filter->name(), v, p);
        ++dropped;
      }
      rejected_before[filter->name()] += dropped;
      c = c.subset(v.keep);
    }
  }
  out.filter_outcome.assign(k, 2);
  for (std::size_t p : alive)
    out.filter_outcome[p] = rejected_by_evidence[p] ? 0 : judged[p] == evidence_filters ? 1 : 2;
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
      out.rejections[c.owner[p]] =
          rule_rejection(ReasonCode::kNotSelected, aggregator_->name(), plan.verdict, p);
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
      for (std::size_t j = 0; j < dim; ++j)
        out.coefficients[j] += plan.weights[p] * raw[p * dim + j];
    }
    for (std::size_t j = 0; j < plan.extra_raw.size(); ++j)
      out.coefficients[j] += plan.extra_raw[j];
  } else {
    out.final_candidates = c.subset(plan.verdict.keep);
    out.statistic = plan.statistic;
    out.param = plan.param;
  }
  return out;
}

}  // namespace fedguard::policy
