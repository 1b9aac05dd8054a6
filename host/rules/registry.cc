// Name -> rule. Adding a rule: one file with a make_<name> factory, one line here.
#include <functional>
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
const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> rules = {
      {"mean", make_mean},
      {"median", make_median},
      {"trimmed_mean", make_trimmed_mean},
      {"krum", make_krum},
      {"multi_krum", make_multi_krum},
      {"bulyan", make_bulyan},
      {"geometric_median", make_geometric_median},
      {"centered_clipping", make_centered_clipping},
      {"norm_clip", make_norm_clip},
      {"arc", make_arc},
      {"nnm", make_nnm},
      {"norm_bound", make_norm_bound},
      {"fltrust", make_fltrust},
      {"dnc", make_dnc},
      {"pca_outlier", make_pca_outlier},
      {"flame", make_flame},
      {"signguard", make_signguard},
      {"foolsgold", make_foolsgold},
      {"fldetector", make_fldetector},
      {"reputation", make_reputation},
  };
  return rules;
}
}  // namespace

std::unique_ptr<Rule> make_rule(const RuleSpec& spec) {
  const auto it = registry().find(spec.rule);
  if (it == registry().end()) {
    std::string list;
    for (const auto& [name, f] : registry()) list += (list.empty() ? "" : ", ") + name;
    FEDGUARD_THROW(kInvalidInput, "unknown rule '" << spec.rule << "' (known: " << list << ")");
  }
  return it->second(spec);
}

std::vector<std::string> rule_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : registry()) names.push_back(name);
  return names;
}

}  // namespace fedguard::rules
