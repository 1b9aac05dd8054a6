// Why a client was rejected, as data: a code from one documented table (docs/result.md), the
// engine stage that decided, the rule or signal involved and the numbers behind the decision.
// Servers act on the code (exclude, investigate, report); `detail` is for people.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace fedguard {

/// Every reason a client can be rejected for. The names (reason_code_name) are the strings
/// the JSON result, Python and Flower carry; they are a contract: never rename one.
enum class ReasonCode {
  // validate: the update is not a well-formed row of this round
  kWrongDtype,
  kWrongLength,
  kMissingData,
  kInvalidNumSamples,
  kDuplicateId,
  // verify: the update cannot be tied to a legitimate participant of this round
  kUnknownClient,
  kRevokedClient,
  kBadSignature,
  kStaleRound,
  kReplayed,
  kMissingSignature,
  kEnrollmentCap,
  // scan: found while reading the bytes
  kNonFinite,
  kAllZero,
  // detect: the calibrated detection stage (docs/detection.md), one code per signal
  kNormOutlier,
  kDirectionOutlier,
  kSignOutlier,
  kSpectralOutlier,
  kSpectralGroup,
  kCollusion,
  kHistoryOutlier,
  kHistoryDirection,
  kHistoryResponse,
  kHistoryGroup,
  // decide: a policy filter, or the vote of the filters
  kFilter,
  kVote,
  // aggregate: the aggregator's own selection left the client out (Krum, Bulyan, FLTrust ...)
  kNotSelected,
};

/// The stages of a round, in order (docs/ARCHITECTURE.md, "The engine as stages").
enum class Stage { kValidate, kVerify, kScan, kDetect, kDecide, kAggregate, kRecord };

/// snake_case name of a code ("wrong_dtype", "collusion", ...).
const char* reason_code_name(ReasonCode code);
/// The code with that name, or nullopt.
std::optional<ReasonCode> reason_code_from_name(const std::string& name);
/// The stage a code belongs to.
Stage reason_code_stage(ReasonCode code);
/// "validate", "verify", "scan", "detect", "decide", "aggregate", "record".
const char* stage_name(Stage stage);

struct Rejection {
  std::size_t client = 0;  ///< row index in the round
  std::string id;          ///< the client's id ("0", "1", ... when the round gave none)
  ReasonCode code = ReasonCode::kFilter;
  Stage stage = Stage::kValidate;
  std::string rule;    ///< the rule or signal that decided; empty for input checks
  std::string detail;  ///< human-readable explanation with the numbers
  /// The numbers behind the decision by name (a rule's score, a signal's calibrated z
  /// and its threshold, ...).
  std::map<std::string, double> values;

  /// The pre-structured text of RoundResult::reasons ("<code>: <detail>" for input checks,
  /// the rule's own text for rules). Kept for one release, deprecated.
  std::string legacy_text() const;
};

}  // namespace fedguard
