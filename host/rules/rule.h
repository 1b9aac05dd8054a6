// The interface every rule implements (robust aggregators, clipping and mixing, the spectral,
// clustering, trust and history rules alike); the roles it can play and the summaries it
// needs are data (RuleTraits). Rules read the round's summaries (through GramSpace and
// Candidates) and never touch the updates themselves.
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
#include "geometry/candidates.h"
#include "geometry/gram_space.h"

namespace fedguard::rules {

using geometry::Candidates;
using geometry::GramSpace;

/// What the engine remembers about the clients of this round (history rules, reputation),
/// indexed by scanned-row position. Kept by client id across rounds (Engine::save_state).
struct ClientMemory {
  std::size_t sketch_dim = 0;
  /// This round's sketch of each scanned row (k x sketch_dim); empty without a sketch.
  const std::vector<double>* round_sketch = nullptr;
  /// The client's sketched update of the previous round, when it took part in it; else null.
  std::vector<const std::vector<double>*> previous_sketch;
  /// FLDetector's window of the client's normalised prediction errors, oldest first.
  std::vector<const std::vector<double>*> suspicion;
  /// Reputation before this round, and rounds the client took part in before this one.
  std::vector<double> reputation;
  std::vector<std::uint64_t> rounds_seen;
  /// Sketches of the aggregates of the engine's previous rounds, oldest first, consecutive
  /// up to the last round (at most kAggregateHistory).
  const std::vector<std::vector<double>>* aggregate_sketches = nullptr;
};

/// How many past aggregates' sketches the engine keeps (bounds FLDetector's window).
constexpr std::size_t kAggregateHistory = 33;

struct RoundContext {
  const GramSpace& space;
  /// Sample count (FedAvg weight) of each scanned row; 1 when the round gave none.
  const std::vector<double>& sample_weight;
  /// Reference index of the previous round's aggregate, when the engine holds one.
  std::optional<std::size_t> previous_aggregate;
  /// Reference index of the server's reference update (FLTrust), when the round has one.
  std::optional<std::size_t> server_reference;
  /// Rounds this engine completed before this one (seeds per-round randomness).
  std::uint64_t round_index = 0;
  /// Where this rule's column subsets (see Rule::column_subsets) start in space.subsets().
  std::size_t subset_offset = 0;
  /// Per scanned row, the client's cumulative sketched update including this round
  /// (k x sketch_dim), when a rule asked for it; empty otherwise.
  const std::vector<double>* history = nullptr;
  std::size_t sketch_dim = 0;
  /// Appended to "needs more clients" errors: "(N clients in the round, K rejected before ...)".
  std::string losses;
  /// The clients' memory; null when no rule asked for history.
  const ClientMemory* memory = nullptr;
  /// CPU threads for a rule's O(k^2) loops (0: every core); results must not depend on it.
  int threads = 1;
};

/// What a filter (or the aggregator's selection) decided about each candidate.
struct Verdict {
  std::string score_name;           ///< key in RoundResult::scores
  std::vector<double> score;        ///< per candidate
  std::vector<std::uint8_t> keep;   ///< per candidate
  std::vector<std::string> reason;  ///< per candidate; read for those not kept
  /// History rules: per candidate, the client's new FLDetector window to remember (empty
  /// outer vector: nothing to remember).
  std::vector<std::vector<double>> suspicion;
};

struct TransformResult {
  std::vector<double> matrix;  ///< m x m, new_i = sum_j matrix[i][j] old_j
  std::string score_name;
  std::vector<double> score;  ///< per candidate
};

struct AggregatePlan {
  Verdict verdict;  ///< keep = the candidates the aggregate uses
  bool linear = true;
  std::vector<double> weights;  ///< linear: per candidate (0 for those not kept)
  std::vector<double>
      extra_raw;  ///< linear: raw coefficients added to sum_i w_i y_i (may be empty)
  /// linear: coefficients of vectors other than this round's updates, by name (reported as
  /// RoundResult::reference_weights; e.g. centred clipping's start vector, zero at round 1).
  std::map<std::string, double> reference_weights;
  /// linear: Gaussian noise N(0, noise_sigma^2) added to every coordinate of the aggregate
  /// (FLAME's differential-privacy step), from a generator seeded with noise_seed.
  double noise_sigma = 0;
  std::uint64_t noise_seed = 0;
  backend::ColumnStatistic statistic = backend::ColumnStatistic::kMedian;  ///< coordinate-wise
  std::size_t param = 0;
};

/// The roles a rule can play in a policy (docs/rules.md, "Roles"); RuleTraits::roles is a set
/// of them. Each role is one of Rule's three role functions.
enum Role : unsigned {
  kFilter = 1u << 0,      ///< keeps or rejects candidates: Rule::select
  kTransform = 1u << 1,   ///< replaces candidates by a linear map of them: Rule::transform
  kAggregator = 1u << 2,  ///< produces the aggregate (and may reject): Rule::aggregate
};

/// What a rule reads besides the candidates' norms and sign counts; RuleTraits::needs is a set
/// of them. The engine computes and keeps only what the policy's rules need.
enum Need : unsigned {
  /// Pass 1's Gram products (distances, inner products, column subsets); without it pass 1
  /// computes only per-row norms and sign counts.
  kGram = 1u << 0,
  /// The clients' cumulative sketched updates (RoundContext::history).
  kSketch = 1u << 1,
  /// The sketches of past aggregates (ClientMemory::aggregate_sketches) and the clients'
  /// previous sketches: the engine then sketches every aggregate it produces.
  kAggregateSketches = 1u << 2,
  /// ClientMemory::reputation (the engine then tracks it). A filter that reads the reputation
  /// is no evidence for it: its verdicts never feed the reputation they come from.
  kReputation = 1u << 3,
  /// RoundInput::reference, the server's reference update (RoundContext::server_reference).
  kServerReference = 1u << 4,
  /// The previous round's aggregate (RoundContext::previous_aggregate).
  kPreviousAggregate = 1u << 5,
};

/// A rule's capabilities as data, declared once per rule in its registry entry
/// (rules/registry.cc, next to its factory): the policy and the config check ask these, never
/// the rule object. tests/rules/traits_test.cc checks every entry against what the rule does.
struct RuleTraits {
  unsigned roles = 0;  ///< Role bits
  unsigned needs = 0;  ///< Need bits
  /// In intersect mode this filter must be the last one (`reputation`: a client it drops is
  /// never judged by the filters after it, so its reputation could never recover).
  bool last_filter = false;

  bool plays(Role role) const { return (roles & role) != 0; }
  bool reads(Need need) const { return (needs & need) != 0; }
};

/// "filter", "transform", "aggregator".
const char* role_name(Role role);

class Rule {
 public:
  virtual ~Rule() = default;
  virtual std::string name() const = 0;
  /// The traits of the rule's registry entry (set by make_rule; all empty for a rule built
  /// otherwise, e.g. one rule used inside another).
  const RuleTraits& traits() const { return traits_; }

  /// Column subsets whose Gram matrices this rule wants from pass 1 (sorted column indices).
  virtual std::vector<std::vector<std::size_t>> column_subsets(std::size_t d,
                                                               std::uint64_t round_index) const {
    return {};
  }

  /// The three roles: a rule overrides those its traits declare (the others throw).
  virtual Verdict select(const RoundContext& round, const Candidates& candidates) const;
  virtual TransformResult transform(const RoundContext& round, const Candidates& candidates) const;
  virtual AggregatePlan aggregate(const RoundContext& round, const Candidates& candidates) const;

  /// As the aggregator over `candidates` plain candidates: the coordinate-wise statistic
  /// aggregate() would ask for, when it depends on their count alone (median, trimmed mean), so
  /// that pass 1 can compute it in the same read (Backend::scan_with_statistic); nullopt where
  /// it reads anything else or could not aggregate that many.
  struct StatisticForecast {
    backend::ColumnStatistic statistic;
    std::size_t param;
  };
  virtual std::optional<StatisticForecast> forecast_statistic(std::size_t candidates) const {
    (void)candidates;
    return std::nullopt;
  }

 private:
  friend std::unique_ptr<Rule> make_rule(const RuleSpec& spec);
  RuleTraits traits_;
};

/// Builds the rule named by spec.rule with its parameters; unknown names or parameters and
/// out-of-range values throw fedguard::Error naming them.
std::unique_ptr<Rule> make_rule(const RuleSpec& spec);
std::vector<std::string> rule_names();
/// The declared traits of the rule called `name` (no rule is built); an unknown name throws
/// kInvalidInput naming the known rules, as make_rule does.
const RuleTraits& rule_traits(const std::string& name);
/// Checks spec's name and parameters as make_rule does, building only that rule and dropping
/// it: config validation without a Policy.
void check_rule_parameters(const RuleSpec& spec);
/// Rules make_rule built in this process (tests: the engine builds its rules once).
std::size_t rules_built();

/// Upper bounds of the integer rule parameters (docs/config.md, "Parameter ranges"). A value
/// above its bound is a configuration error naming the parameter, the value and the range,
/// never a wrapped integer or a loop that does not end; whether a round can satisfy a count
/// (f < n/2, ...) is still checked per round.
/// Counts of clients (f, trim, m, k, subset_size, min_cluster_size, references, ...): 2^20.
constexpr std::uint64_t kMaxClientCount = std::uint64_t{1} << 20;
/// Iteration counts (centered_clipping iterations, geometric_median max_iter, dnc niters).
constexpr std::uint64_t kMaxIterations = 10000;
/// Counts of rounds (reputation min_rounds): 2^32.
constexpr std::uint64_t kMaxRounds = std::uint64_t{1} << 32;
/// Seeds take any 64-bit value.
constexpr std::uint64_t kMaxSeed = ~std::uint64_t{0};

/// Reads a rule's parameters, rejecting unknown keys and out-of-range values.
class Params {
 public:
  explicit Params(const RuleSpec& spec);
  /// Integer in [0, max]; `fallback` when absent (nullopt: required). A JSON integer written
  /// as a float (3.0) is accepted; anything else, or a value above max, throws naming the
  /// parameter, the value and the range.
  std::size_t count(const std::string& key, std::optional<std::size_t> fallback, std::uint64_t max);
  std::optional<std::size_t> optional_count(const std::string& key, std::uint64_t max);
  /// Finite number >= min; `fallback` when absent (nullopt: required).
  double number(const std::string& key, std::optional<double> fallback, double min);
  std::optional<double> optional_number(const std::string& key, double min);
  /// Throws if the spec has a key no call above asked for.
  void finish() const;

 private:
  const RuleSpec& spec_;
  std::vector<std::string> known_;
};

/// A verdict that keeps every candidate, with no score.
Verdict keep_all(std::size_t m, std::string score_name);

/// 1 / (number kept) for each kept candidate, 0 for the others.
std::vector<double> uniform_over_kept(const std::vector<std::uint8_t>& keep);

/// The median (mean of the two middle values for an even count); v must not be empty.
double median_of(std::vector<double> v);

/// L2 norm of each candidate.
std::vector<double> candidate_norms(const RoundContext& round, const Candidates& candidates);

/// Sample weights of the candidates' owners, normalised to sum 1.
std::vector<double> candidate_weights(const RoundContext& round, const Candidates& candidates);

}  // namespace fedguard::rules
