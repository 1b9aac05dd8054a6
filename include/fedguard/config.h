// Engine configuration: the backend, the tiling, and the policy (filters, transforms, one
// aggregator). Built in code or parsed from JSON; the full schema is in docs/config.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fedguard/monitoring.h"

namespace fedguard {

enum class BackendKind { kAuto, kCpu, kCuda };

/// What to do with a round in which two updates carry the same client id.
enum class DuplicateIdPolicy {
  kReject,  ///< keep the first occurrence, reject the later ones with reason `duplicate_id`
  kError,   ///< fail the round
};

/// One rule of the policy: its name and its parameters (e.g. {"f": 4, "m": 12}).
struct RuleSpec {
  std::string rule;
  nlohmann::json params = nlohmann::json::object();

  RuleSpec() = default;
  RuleSpec(std::string name, nlohmann::json parameters = nlohmann::json::object())
      : rule(std::move(name)), params(std::move(parameters)) {}
};

/// How the filters' verdicts combine (docs/config.md, "combine").
struct CombineSpec {
  /// "intersect": filters run in order, each on the survivors of the previous ones; a client
  /// is rejected by the first filter that rejects it. "vote": every filter judges every
  /// client, and a client is rejected when the weight of the filters rejecting it reaches
  /// min_votes.
  std::string mode = "intersect";
  /// Vote mode: per filter (in order), default 1 each.
  std::vector<double> weights;
  /// Vote mode: the rejecting weight that rejects; 0 means a strict majority of the total weight.
  double min_votes = 0;
};

/// Per-client reputation kept across rounds, keyed by id (docs/detectors.md, "reputation").
/// Each round a client takes part in, r <- decay r + (1 - decay) o, where o is 1 when no
/// filter (other than `reputation` itself) and no input check rejected it, else 0. New clients
/// start at `initial`. Reported as the score `reputation` (after this round's update).
struct ReputationSpec {
  bool enabled = false;  ///< also turned on by a `reputation` filter in the policy
  double decay = 0.9;
  double initial = 1.0;
};

struct EngineConfig {
  BackendKind backend = BackendKind::kAuto;
  std::string precision = "fp32";  ///< Gram precision; "fp32" is the only CPU choice
  std::size_t tile_columns = 0;    ///< columns per tile; 0 picks from n and the cache size
  int threads = 0;                 ///< CPU threads; 0 uses every core
  DuplicateIdPolicy duplicate_ids = DuplicateIdPolicy::kReject;
  bool reject_all_zero = true;     ///< reject all-zero updates (reason `all_zero`)
  /// Random sketch kept per client id for history detectors (FoolsGold): its dimension and seed.
  std::size_t sketch_dim = 256;
  std::uint64_t sketch_seed = 0x5eed;

  std::vector<RuleSpec> filters;     ///< each may reject clients, in order
  std::vector<RuleSpec> transforms;  ///< linear maps of the accepted rows (clipping, mixing)
  RuleSpec aggregator{"mean"};       ///< produces the aggregate
  CombineSpec combine;               ///< how the filters combine
  ReputationSpec reputation;         ///< per-client reputation across rounds
  MonitoringConfig monitoring;       ///< per-round metrics and change-point detectors (on by default)

  /// The recommended policy for a federation in which up to `f` clients of a round may be
  /// malicious (docs/evaluation.md: the best worst-case accuracy over the attack matrix):
  /// reject updates more than 3x the median norm (norm_bound, max_ratio 3), mix each update with
  /// its n - f nearest neighbours (nnm, f) and take the coordinate-wise trimmed mean (trim f).
  /// Needs n > 2f clients left after the norm filter. A default-constructed EngineConfig is
  /// plain FedAvg (aggregator `mean`), as before: robustness needs f, which only the caller
  /// knows.
  static EngineConfig recommended(std::size_t f);

  /// Parses a JSON object (text). Unknown keys, rules and parameters are errors.
  static EngineConfig from_json(const std::string& text);
  static EngineConfig from_json_value(const nlohmann::json& value);
  nlohmann::json to_json() const;

  /// Checks every rule name and parameter; throws fedguard::Error naming the offender.
  void validate() const;
};

}  // namespace fedguard
