// Engine configuration: the backend, the tiling, and the policy (filters, transforms, one
// aggregator). Built in code or parsed from JSON; the full schema is in docs/config.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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

/// Precision of pass 1's Gram products (JSON "precision": "fp32", "tf32", "bf16"). tf32 and
/// bf16 are CUDA options; every sum across tiles is float64 whatever is chosen.
enum class Precision { kFp32, kTf32, kBf16 };

/// How the filters' verdicts combine (JSON "combine.mode": "intersect", "vote").
enum class CombineMode {
  /// Filters run in order, each on the survivors of the previous ones; a client is rejected
  /// by the first filter that rejects it.
  kIntersect,
  /// Every filter judges every client, and a client is rejected when the weight of the
  /// filters rejecting it reaches min_votes.
  kVote,
};

/// The JSON spellings: "fp32", "tf32", "bf16" / "intersect", "vote".
const char* to_string(Precision precision);
const char* to_string(CombineMode mode);
/// Inverses of to_string; any other text throws kInvalidInput with the message of an invalid
/// config value (`config "precision" must be fp32, tf32 or bf16, got "fp16"`).
Precision precision_from_string(const std::string& text);
CombineMode combine_mode_from_string(const std::string& text);

/// How the filters' verdicts combine (docs/config.md, "combine").
struct CombineSpec {
  CombineMode mode = CombineMode::kIntersect;
  /// Vote mode: per filter (in order), default 1 each.
  std::vector<double> weights;
  /// Vote mode: the rejecting weight that rejects; 0 means a strict majority of the total weight.
  double min_votes = 0;
};

/// Per-client reputation kept across rounds, keyed by id (docs/rules_spectral_trust.md,
/// "reputation"). Each round a client takes part in, r <- decay r + (1 - decay) o, where o is 1
/// when no filter (other than `reputation` itself) and no input check rejected it, else 0. New
/// clients start at `initial`. Reported as the score `reputation` (after this round's update).
struct ReputationSpec {
  bool enabled = false;  ///< also turned on by a `reputation` filter in the policy
  double decay = 0.9;
  double initial = 1.0;
};

/// The calibrated detection stage (docs/detection.md): independent signals computed from pass
/// 1's summaries, each turned into a robust z against the round's own clients and cut at the
/// z that its per-client false-alarm budget allows at this round's size. A client is rejected
/// when any signal fires; its rejection carries every signal's z and cut-off.
struct DetectionSpec {
  bool enabled = false;
  /// Per-client false-alarm budget of each signal (probability that a benign client's z passes
  /// the cut-off); 0 turns the signal off. The union of five signals stays under their sum.
  double norm = 0.002;
  double direction = 0.002;
  double sign = 0.002;
  /// Off by default: benign label-skewed clusters lie apart along the top direction exactly
  /// as a colluding group does (docs/detection.md); for federations of IID clients.
  double spectral = 0;
  /// The spectral group signal's gap ratio (not a budget; 0: off): a group of at least three
  /// clients past a per-client cut on one side of the top principal direction (cross-fitted),
  /// whose last member's z is this many times the next client's (or 1), is rejected; rounds of
  /// at least 50 clients (docs/detection.md). At 2.0 and 2.5 a benign group fired in attack-free
  /// MLP rounds at Dirichlet 0.1; at 3.0 none did, and it still named the backdoored clients at
  /// Dirichlet 0.5.
  double spectral_group = 3.0;
  /// The chance per round that the direction signal rejects a *group* of benign clients in its
  /// upper tail: the g clients closest in direction to the federation's centre (3 <= g), each
  /// inside the per-client spread, are rejected together when their g-th z passes the cut that
  /// g clients reach with this probability (and +2): a coalition that pushes one objective
  /// (a backdoor) sets the core's centre and sits closer to it than label-skewed honest clients
  /// can (docs/detection.md, "Too central together"); only groups not nearly all one
  /// direction (direction_group_max_alignment). 1e-7 by default; 0 turns it off.
  double direction_group = 1e-7;
  /// A direction group fires only when its members' alignment (the median cosine of each to the
  /// group's shared direction, group_alignment.h) is below this: clients with alike data (the
  /// same labels at Dirichlet 0.1) are nearly all their shared direction, a coalition that adds
  /// one component (a backdoor) to updates that otherwise differ is not. In (0, 1]; 1: every
  /// group fires.
  double direction_group_max_alignment = 0.7;
  double collusion = 0.002;
  /// Collusion over the clients' cumulative sketched histories (FoolsGold's H), for clients
  /// seen in at least two rounds of this engine's state: Sybils that add fresh noise to each
  /// round's copy converge there. Needs the per-client sketch (EngineConfig::sketch_dim).
  double history = 0.002;
  /// The direction signal over the same cumulative histories: a client that pushes against
  /// the federation every round (sign flip, label flip) leaves the honest spread there even
  /// when one round's cosine stays inside it.
  double history_direction = 0.002;
  /// A coalition in the same cumulative histories (docs/detection.md, "The history group"):
  /// the g clients closest to their (g - 1)-th nearest other client fire together when that
  /// closeness stands apart from the rest by a gap, scored as `spectral_group`'s (the gap ratio
  /// of the g-th z over the next, its excess counted g / 3 times for a tight group); fires at
  /// this score (3; 0 = off, else >= 1.5). Data poisoners who push one objective every round
  /// (a backdoor scaled to the honest norms) without being near-duplicates in any one round.
  double history_group = 3.0;
  /// The chance per round that `history_direction` rejects a *group* of benign clients: the g
  /// clients lowest in its tail (3 <= g), each perhaps short of the per-client cut, are rejected
  /// together when their g-th z passes the cut that g clients reach with this probability
  /// (and -2); e.g. 1e-5. Off (0) by default: at 200 label-skewed clients (Dirichlet 0.1) the
  /// honest histories' tail was heavier than calibrated and it rejected 117-382 benign
  /// client-rounds per run (docs/detection.md, "Groups in a tail").
  double history_direction_group = 0;
  /// How a client's update answers the model's movement (FLDetector's consistency check without
  /// the Hessian; docs/detection.md, `history_response`): per round the cosine between the
  /// change of its sketched update since its previous round and the model's movement in between
  /// (the other accepted clients' mean sketches), z'd over the round's clients and averaged over
  /// its rounds (at least 3); an honest update shrinks along the model change, a negated one
  /// grows. Per-client budget of the mean's robust z (upper tail); 1e-5 by default: one benign
  /// client in 50 answered like this in an attack-free MLP run (z up to 3.9).
  double history_response = 1e-5;
  /// The chance per round that `history_response` rejects a group of benign clients (as
  /// `history_direction_group`: g >= 3, the g-th at least 2 and past the order statistic's cut);
  /// on by default: sign flippers stand out together at z 2-9.
  double history_response_group = 1e-5;
  /// The sign signal's second feature, the zero fraction (SignGuard's): off by default. In a
  /// non-IID federation it says which inputs a client's data activates (pixels, embedding
  /// rows), not whether it attacks: at Dirichlet 0.1 it made 5% of the benign clients outliers
  /// while no attack of the evaluation moved it (docs/detection.md).
  bool sign_zero_fraction = false;
  /// The norm signal also fires above this multiple of the median norm, whatever the z
  /// (an absolute cap: the previous default's norm_bound); 0: no cap.
  double max_norm_ratio = 3.0;
  /// A loner's size alone (docs/detection.md, "A loner's size alone"): a client whose norm
  /// fires on its upper side by its z but stays under its cap (`max_norm_ratio`, widened by its
  /// baseline where `baseline_norm_cap` widens it), that no other stage-A signal names, and whose
  /// collusion z is inside that signal's cut, is not rejected for its norm but judged by stage
  /// B's signals (direction, sign, the history signals) as a kept client; it stays out of the
  /// spectral group's fit. Honest update norms have heavy upper tails on non-IID data (4.5% of
  /// the client-rounds past the z cut in an attack-free run at Dirichlet 0.5, 94% of them
  /// loners), while the coalitions that boost their norms (backdoors, label flippers) lie closer
  /// to each other than the round's pairs do. Needs the collusion signal and a cap.
  bool loner_norm_cap = true;
  /// Collusion needs the nearest neighbour closer than this normalised distance
  /// ||x_i - x_j|| / sqrt((||x_i||^2 + ||x_j||^2) / 2) (0.25: cosine about 0.97 at equal
  /// norms), besides its z: near-duplicates, not merely similar clients.
  double collusion_max_distance = 0.25;
  /// At most this fraction of the round's clients is rejected by detection (the most extreme
  /// first); the rest is left to the robust aggregator.
  double max_reject_fraction = 0.5;
  /// Each client's own baseline for the norm and sign signals (docs/detection.md, "own
  /// baseline"): the exponentially weighted mean of its z in the rounds it was accepted, at
  /// this rate per round (0: off). Once a client has `baseline_min_rounds` such rounds, its cut
  /// on the side it usually lies is widened by that mean, at most `baseline_cap`: a client that
  /// is always at the edge of the honest spread (a small or one-class data set) is judged
  /// against itself, one that departs from its own habit as before. Never narrows a cut. Needs
  /// state across rounds (one Engine, or --state).
  /// ... and only while the client was accepted in at least this share of its rounds (the
  /// same rate): a client caught in most rounds (a data poisoner whose norm rose while it was
  /// still accepted) is not judged against a habit it built in its first rounds.
  /// The cap applies to the norm's upper side, the one that buys influence on any averaging
  /// rule. The norm's lower side and both sides of the sign balance give a client no more
  /// weight in the aggregate, and honest one-class clients drift there to z 5-10 over their
  /// first rounds (docs/detection.md, "Caps by side"): their caps are wider.
  double baseline_rate = 0.1;
  double baseline_cap = 2.0;
  double baseline_cap_norm_low = 6.0;
  double baseline_cap_sign = 6.0;
  /// A round in which the norm's lower tail alone rejected a client builds its own baselines as
  /// an accepted round (docs/detection.md, "Small from the start"): a client whose data makes
  /// its updates small from its first round is then judged against itself too.
  bool baseline_small_norm = true;
  /// The same for a round in which the sign balance alone rejected the client: honest one-class
  /// clients stand out in sign balance from their first rounds too (docs/detection.md, "Small
  /// from the start"; measured in closed loop before it became the default).
  bool baseline_sign_only = true;
  /// A client's norm baseline widens `max_norm_ratio`'s cap too, by the factor it widens the
  /// norm's z cut (exp(b x the round's log-norm scale)), when its collusion z is inside that
  /// signal's cut: honest one-class clients habitually 2.5-4x the median norm were rejected by
  /// the cap alone in every round they crossed 3; label flippers, whose norms grow there while
  /// they are accepted, lie closer to each other than the round's pairs do and keep the plain
  /// cap (docs/detection.md, "The cap widened by the baseline"; needs the collusion signal).
  bool baseline_norm_cap = true;
  double baseline_min_rounds = 5;
  double baseline_min_accepted = 0.5;
};

/// A named policy that needs no tuning (docs/config.md, "preset"). "recommended": the detection
/// stage, then NNM and the coordinate-wise trimmed mean with f; f is the given `f` or
/// floor(f_fraction n) of the round's n, lowered by the clients detection rejected but not below
/// floor(f_floor f), and where the clients left after detection are too few (the result says so
/// in `notes`).
struct PresetSpec {
  std::string name;              ///< empty: no preset
  std::optional<std::size_t> f;  ///< malicious clients assumed per round
  double f_fraction = 0.2;       ///< used when f is not given
  /// The share of f the aggregator keeps however many clients detection rejected: a margin for
  /// the members of a mostly caught coalition that detection missed (docs/detection.md, "The
  /// preset and small rounds"). In [0, 1]; 0 (the default: measured, not adopted) lowers f by
  /// every rejection, at least 1 kept.
  double f_floor = 0;
};

struct EngineConfig {
  BackendKind backend = BackendKind::kAuto;
  Precision precision = Precision::kFp32;  ///< Gram precision; kFp32 is the only CPU choice
  std::size_t tile_columns = 0;            ///< columns per tile; 0 picks from n and the cache size
  int threads = 0;                         ///< CPU threads; 0 uses every core
  DuplicateIdPolicy duplicate_ids = DuplicateIdPolicy::kReject;
  bool reject_all_zero = true;  ///< reject all-zero updates (reason `all_zero`)
  /// Random sketch kept per client id for history rules (foolsgold, fldetector): its dimension and
  /// seed.
  std::size_t sketch_dim = 256;
  std::uint64_t sketch_seed = 0x5eed;

  std::vector<RuleSpec> filters;     ///< each may reject clients, in order
  std::vector<RuleSpec> transforms;  ///< linear maps of the accepted rows (clipping, mixing)
  RuleSpec aggregator{"mean"};       ///< produces the aggregate
  CombineSpec combine;               ///< how the filters combine
  ReputationSpec reputation;         ///< per-client reputation across rounds
  DetectionSpec detection;           ///< the calibrated detection stage (off unless asked)
  PresetSpec preset;                 ///< set by {"preset": ...}; fills the three above
  MonitoringConfig monitoring;  ///< per-round metrics and change-point detectors (on by default)

  /// The preset's policy for a round with n clients of which `left` remain after detection,
  /// which rejected `detected` of them: filters, transforms and aggregator with the round's f,
  /// and a note when f was lowered. The f attackers the aggregator must withstand are those
  /// detection let through: f - detected, but at least one (a margin for a false alarm among
  /// the detected, whose place an evader could hold) when f >= 1, and at least
  /// floor(preset.f_floor f) (a margin for the members of a mostly caught coalition that
  /// detection missed).
  EngineConfig for_round(std::size_t n, std::size_t left, std::string* note,
                         std::size_t detected = 0) const;

  /// The preset "recommended" (docs/detection.md, docs/evaluation.md) for a federation in
  /// which up to `f` clients of a round may be malicious: the calibrated detection stage (which
  /// also rejects updates above 3x the median norm), then each update mixed with its n - f
  /// nearest neighbours (nnm, f) and the coordinate-wise trimmed mean (trim f); f is lowered in
  /// rounds too small for it (see PresetSpec). nullopt: f = floor(0.2 n) per round. A
  /// default-constructed EngineConfig is plain FedAvg (aggregator `mean`).
  static EngineConfig recommended(std::optional<std::size_t> f = std::nullopt);
  /// The same with f = floor(f_fraction n) per round.
  static EngineConfig recommended_fraction(double f_fraction);

  /// Parses a JSON object (text). Unknown keys, rules and parameters are errors.
  static EngineConfig from_json(const std::string& text);
  static EngineConfig from_json_value(const nlohmann::json& value);
  nlohmann::json to_json() const;

  /// Checks every value, the policy's composition from the rules' declared traits (names,
  /// roles, placement) and each rule's parameters (by building that rule alone; no Policy is
  /// built); throws fedguard::Error naming the offender.
  void validate() const;
};

}  // namespace fedguard
