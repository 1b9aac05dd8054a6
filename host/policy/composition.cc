#include "policy/composition.h"

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::policy {
namespace {

void check_role(const RuleSpec& spec, rules::Role role) {
  FEDGUARD_EXPECTS(rules::rule_traits(spec.rule).plays(role),
                   "rule '" << spec.rule << "' cannot serve as "
                            << (role == rules::kAggregator ? "the " : "a ")
                            << rules::role_name(role));
}

}  // namespace

void check_composition(const EngineConfig& config) {
  const std::size_t n = config.filters.size();
  for (const RuleSpec& spec : config.filters) check_role(spec, rules::kFilter);
  // In intersect mode a client the reputation filter drops is never judged by the filters
  // after it, so its reputation could never recover: such a filter goes last.
  for (std::size_t i = 0; i + 1 < n; ++i)
    FEDGUARD_EXPECTS(config.combine.mode == CombineMode::kVote ||
                         !rules::rule_traits(config.filters[i].rule).last_filter,
                     "the '" << config.filters[i].rule
                             << "' filter must be the last filter (it is filter " << i + 1 << " of "
                             << n << ")");
  for (const RuleSpec& spec : config.transforms) check_role(spec, rules::kTransform);
  check_role(config.aggregator, rules::kAggregator);
}

}  // namespace fedguard::policy
