#include "rules/rule.h"

#include <algorithm>
#include <cmath>

#include "common/median.h"
#include "fedguard/error.h"

namespace fedguard::rules {

Verdict Rule::select(const RoundContext&, const Candidates&) const {
  FEDGUARD_THROW(kInvalidInput, "rule '" << name() << "' cannot serve as a filter");
}
TransformResult Rule::transform(const RoundContext&, const Candidates&) const {
  FEDGUARD_THROW(kInvalidInput, "rule '" << name() << "' cannot serve as a transform");
}
AggregatePlan Rule::aggregate(const RoundContext&, const Candidates&) const {
  FEDGUARD_THROW(kInvalidInput, "rule '" << name() << "' cannot serve as the aggregator");
}

Params::Params(const RuleSpec& spec) : spec_(spec) {
  FEDGUARD_EXPECTS(spec.params.is_object(),
                   "parameters of rule '" << spec.rule << "' must be a JSON object");
}

std::optional<std::size_t> Params::optional_count(const std::string& key, std::uint64_t max) {
  static_assert(sizeof(std::size_t) == sizeof(std::uint64_t), "counts are 64-bit");
  known_.push_back(key);
  if (!spec_.params.contains(key)) return std::nullopt;
  const nlohmann::json& v = spec_.params.at(key);
  auto out_of_range = [&]() {
    FEDGUARD_THROW(kInvalidInput,
                   "rule '" << spec_.rule << "': parameter '" << key << "' = " << v.dump()
                            << " is out of range: it must be an integer in [0, " << max << "]");
  };
  std::uint64_t value = 0;
  if (v.is_number_unsigned()) {
    value = v.get<std::uint64_t>();
  } else if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < 0) out_of_range();
    value = static_cast<std::uint64_t>(v.get<std::int64_t>());
  } else if (v.is_number_float()) {
    // Integers written as floats (3.0, 1e3); beyond 2^53 a double is not an exact integer.
    const double x = v.get<double>();
    if (!(x >= 0 && x == std::floor(x) && x <= 9.0e15)) out_of_range();
    value = static_cast<std::uint64_t>(x);
  } else {
    FEDGUARD_THROW(kInvalidInput, "rule '" << spec_.rule << "': parameter '" << key
                                           << "' must be an integer in [0, " << max << "], got "
                                           << v.dump());
  }
  if (value > max) out_of_range();
  return static_cast<std::size_t>(value);
}

std::size_t Params::count(const std::string& key, std::optional<std::size_t> fallback,
                          std::uint64_t max) {
  const auto v = optional_count(key, max);
  if (v) return *v;
  FEDGUARD_EXPECTS(fallback.has_value(),
                   "rule '" << spec_.rule << "' needs parameter '" << key << "'");
  return *fallback;
}

std::optional<double> Params::optional_number(const std::string& key, double min) {
  known_.push_back(key);
  if (!spec_.params.contains(key)) return std::nullopt;
  const nlohmann::json& v = spec_.params.at(key);
  FEDGUARD_EXPECTS(v.is_number(), "rule '" << spec_.rule << "': parameter '" << key
                                           << "' must be a number, got " << v.dump());
  const double x = v.get<double>();
  FEDGUARD_EXPECTS(std::isfinite(x) && x >= min, "rule '" << spec_.rule << "': parameter '" << key
                                                          << "' must be finite and >= " << min
                                                          << ", got " << x);
  return x;
}

double Params::number(const std::string& key, std::optional<double> fallback, double min) {
  const auto v = optional_number(key, min);
  if (v) return *v;
  FEDGUARD_EXPECTS(fallback.has_value(),
                   "rule '" << spec_.rule << "' needs parameter '" << key << "'");
  return *fallback;
}

void Params::finish() const {
  for (const auto& item : spec_.params.items()) {
    if (std::find(known_.begin(), known_.end(), item.key()) != known_.end()) continue;
    std::string list;
    for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
    FEDGUARD_THROW(kInvalidInput, "rule '" << spec_.rule << "' has no parameter '" << item.key()
                                           << "' (it takes: " << (list.empty() ? "none" : list)
                                           << ")");
  }
}

Verdict keep_all(std::size_t m, std::string score_name) {
  Verdict v;
  v.score_name = std::move(score_name);
  v.score.assign(m, std::nan(""));
  v.keep.assign(m, 1);
  v.reason.assign(m, "");
  return v;
}

std::vector<double> uniform_over_kept(const std::vector<std::uint8_t>& keep) {
  std::size_t kept = 0;
  for (auto k : keep) kept += k;
  std::vector<double> w(keep.size(), 0.0);
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) w[i] = 1.0 / static_cast<double>(kept);
  return w;
}

double median_of(std::vector<double> v) { return median_in_place(v); }

std::vector<double> candidate_norms(const RoundContext& round, const Candidates& candidates) {
  std::vector<double> norms = candidates.norms_sq(round.space);
  for (double& x : norms) x = std::sqrt(x);
  return norms;
}

std::vector<double> candidate_weights(const RoundContext& round, const Candidates& candidates) {
  std::vector<double> w(candidates.size());
  double total = 0;
  for (std::size_t p = 0; p < w.size(); ++p)
    total += w[p] = round.sample_weight[candidates.owner[p]];
  for (double& x : w) x /= total;
  return w;
}

}  // namespace fedguard::rules
