// The policy: filters in order, then transforms, then one aggregator, all on the summaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/column_statistic.h"
#include "fedguard/config.h"
#include "fedguard/rejection.h"
#include "geometry/candidates.h"
#include "geometry/gram_space.h"
#include "rules/rule.h"

namespace fedguard::policy {

using geometry::Candidates;
using geometry::GramSpace;

/// What the policy decided, indexed by scanned-row position.
struct Decision {
  std::vector<std::uint8_t> accepted;
  bool linear = true;
  /// Linear: raw coefficients of the aggregate over [rows, references] (length space.dim()).
  std::vector<double> coefficients;
  std::map<std::string, double> reference_weights;
  double noise_sigma = 0;
  std::uint64_t noise_seed = 0;
  /// Coordinate-wise: the candidates the statistic runs over, and the statistic.
  Candidates final_candidates;
  backend::ColumnStatistic statistic = backend::ColumnStatistic::kMedian;
  std::size_t param = 0;
  std::map<std::string, std::vector<double>> scores;  ///< per scanned position, NaN = not scored
  /// Why a rule rejected a client: the code (filter, vote, not_selected), the rule, its text
  /// and its score.
  struct RuleRejection {
    ReasonCode code = ReasonCode::kFilter;
    std::string rule;
    std::string detail;
    std::map<std::string, double> values;
  };
  std::map<std::size_t, RuleRejection> rejections;  ///< per scanned position
  /// Per scanned position: 0 a filter that does not read the reputation rejected the client,
  /// 1 every such filter judged it and kept it, 2 not judged by all of them (feeds the
  /// reputation).
  std::vector<std::uint8_t> filter_outcome;
  /// Per scanned position: the client's new FLDetector window, where a rule set one.
  std::map<std::size_t, std::vector<double>> suspicion;
};

class Policy {
 public:
  /// Checks the composition (policy/composition.h), then builds each rule once.
  explicit Policy(const EngineConfig& config);
  /// Whether a rule of the policy needs this (the union of the rules' declared traits; with a
  /// transform, also kGram: the mixed candidates' distances come from the Gram).
  bool needs(rules::Need need) const { return (needs_ & need) != 0; }
  /// Names of the rules that need the server reference (for the error when it is missing).
  std::string server_reference_users() const;
  /// The column statistic the policy's aggregator would ask pass 2 for when every one of
  /// `candidates` scanned clients is kept, where nothing but their count decides it: no filter,
  /// no transform, an aggregator that reads no summary (median, trimmed mean). nullopt
  /// otherwise. The engine then asks pass 1 for it in the same read, a speculation it checks
  /// against the plan the policy does return (engine/stages.cc).
  std::optional<rules::Rule::StatisticForecast> forecast_statistic(std::size_t candidates) const;
  /// Policies built in this process (tests: validating a config builds none).
  static std::size_t built();

  /// Column subsets every rule asks pass 1 for, concatenated, and where each rule's start
  /// (rules in order: filters, transforms, aggregator).
  struct SubsetPlan {
    std::vector<std::vector<std::size_t>> subsets;
    std::vector<std::size_t> offsets;
  };
  SubsetPlan column_subsets(std::size_t d, std::uint64_t round_index) const;

  /// Runs the rules over the candidates `alive` (scanned positions that passed the input
  /// checks). rejected_before counts rejections by reason before the policy (for messages);
  /// round_clients is the round's n.
  /// References the rules may read, by role.
  struct References {
    std::optional<std::size_t> previous_aggregate;
    std::optional<std::size_t> server_reference;
    const std::vector<double>* history = nullptr;  ///< see RoundContext::history
    std::size_t sketch_dim = 0;
    const rules::ClientMemory* memory = nullptr;
    int threads = 1;  ///< see RoundContext::threads
  };
  Decision decide(const GramSpace& space, const std::vector<double>& sample_weight,
                  References references, const SubsetPlan& subsets, std::uint64_t round_index,
                  const std::vector<std::size_t>& alive,
                  std::map<std::string, std::size_t> rejected_before,
                  std::size_t round_clients) const;

 private:
  std::vector<std::unique_ptr<rules::Rule>> filters_;
  std::vector<std::unique_ptr<rules::Rule>> transforms_;
  std::unique_ptr<rules::Rule> aggregator_;
  CombineSpec combine_;
  unsigned needs_ = 0;  ///< rules::Need bits
  std::vector<const rules::Rule*> all_rules() const;
};

}  // namespace fedguard::policy
