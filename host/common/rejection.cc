#include "fedguard/rejection.h"

#include <array>
#include <utility>

namespace fedguard {
namespace {

struct CodeInfo {
  ReasonCode code;
  const char* name;
  Stage stage;
};

// The one table of codes (docs/result.md lists the same rows with their meaning).
constexpr std::array<CodeInfo, 27> kCodes{{
    {ReasonCode::kWrongDtype, "wrong_dtype", Stage::kValidate},
    {ReasonCode::kWrongLength, "wrong_length", Stage::kValidate},
    {ReasonCode::kMissingData, "missing_data", Stage::kValidate},
    {ReasonCode::kInvalidNumSamples, "invalid_num_samples", Stage::kValidate},
    {ReasonCode::kDuplicateId, "duplicate_id", Stage::kValidate},
    {ReasonCode::kUnknownClient, "unknown_client", Stage::kVerify},
    {ReasonCode::kRevokedClient, "revoked_client", Stage::kVerify},
    {ReasonCode::kBadSignature, "bad_signature", Stage::kVerify},
    {ReasonCode::kStaleRound, "stale_round", Stage::kVerify},
    {ReasonCode::kReplayed, "replayed", Stage::kVerify},
    {ReasonCode::kMissingSignature, "missing_signature", Stage::kVerify},
    {ReasonCode::kEnrollmentCap, "enrollment_cap", Stage::kVerify},
    {ReasonCode::kNonFinite, "non_finite", Stage::kScan},
    {ReasonCode::kAllZero, "all_zero", Stage::kScan},
    {ReasonCode::kNormOutlier, "norm_outlier", Stage::kDetect},
    {ReasonCode::kDirectionOutlier, "direction_outlier", Stage::kDetect},
    {ReasonCode::kSignOutlier, "sign_outlier", Stage::kDetect},
    {ReasonCode::kSpectralOutlier, "spectral_outlier", Stage::kDetect},
    {ReasonCode::kSpectralGroup, "spectral_group", Stage::kDetect},
    {ReasonCode::kCollusion, "collusion", Stage::kDetect},
    {ReasonCode::kHistoryOutlier, "history_outlier", Stage::kDetect},
    {ReasonCode::kHistoryDirection, "history_direction", Stage::kDetect},
    {ReasonCode::kHistoryResponse, "history_response", Stage::kDetect},
    {ReasonCode::kHistoryGroup, "history_group", Stage::kDetect},
    {ReasonCode::kFilter, "filter", Stage::kDecide},
    {ReasonCode::kVote, "vote", Stage::kDecide},
    {ReasonCode::kNotSelected, "not_selected", Stage::kAggregate},
}};

const CodeInfo& info(ReasonCode code) {
  for (const auto& c : kCodes)
    if (c.code == code) return c;
  return kCodes.back();  // unreachable: every enumerator has a row (tested)
}

}  // namespace

const char* reason_code_name(ReasonCode code) { return info(code).name; }

Stage reason_code_stage(ReasonCode code) { return info(code).stage; }

std::optional<ReasonCode> reason_code_from_name(const std::string& name) {
  for (const auto& c : kCodes)
    if (name == c.name) return c.code;
  return std::nullopt;
}

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::kValidate:
      return "validate";
    case Stage::kVerify:
      return "verify";
    case Stage::kScan:
      return "scan";
    case Stage::kDetect:
      return "detect";
    case Stage::kDecide:
      return "decide";
    case Stage::kAggregate:
      return "aggregate";
    case Stage::kRecord:
      return "record";
  }
  return "?";
}

std::string Rejection::legacy_text() const {
  // Rules always wrote "<rule>: <why>" themselves; input checks wrote "<code>[: <detail>]".
  if (code == ReasonCode::kFilter || code == ReasonCode::kVote || code == ReasonCode::kNotSelected)
    return detail;
  const std::string name = reason_code_name(code);
  return detail.empty() ? name : name + ": " + detail;
}

}  // namespace fedguard
