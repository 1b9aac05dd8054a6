// The engine's verification stage (docs/verification.md): after the input checks, before
// pass 1. Rows that fail are rejected with their reason code and never scanned; the verdicts
// feed replay protection and new-client probation, committed to the state only when the round
// succeeds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/round_work.h"
#include "engine/stages.h"
#include "engine/state_file.h"
#include "fedguard/registry.h"
#include "fedguard/round.h"
#include "identity/verify.h"

namespace fedguard::engine {

struct VerifyOutcome {
  std::vector<std::size_t> passed;      ///< input rows that verified, in order
  std::vector<std::uint8_t> probation;  ///< per input row: 1 when verified and on probation
  identity::RoundVerdicts verdicts;     ///< per checked row (index into `checked`)
  std::vector<std::size_t> checked;     ///< the rows verified (those that passed the input checks)
};

/// Round-level checks (ids given, one signature per row or none, a non-zero nonce that is not
/// the previous verified round's, host memory), then the verdict of every row in rows.
/// Throws kInvalidInput / kUnsupported for a round that cannot be verified at all.
VerifyOutcome verify_rows(const identity::Registry& registry, const EngineState& state,
                          const RoundInput& in, const std::vector<std::size_t>& rows, int threads);

/// New-client probation on a linear aggregate: when the rows on probation hold more than
/// max_share of the client coefficients' sum, (a) if established rows hold weight, scales the
/// probation rows down to max_share of the sum and the established rows up so the sum is
/// unchanged; (b) if established rows are present but hold no weight (a selection rule chose a
/// newcomer), scales the probation rows by max_share (the aggregate shrinks); (c) with no
/// established row at all, changes nothing. coefficients[p] belongs to probation[p]; returns
/// the probation share of the sum before and after.
std::pair<double, double> cap_probation_share(std::vector<double>& coefficients,
                                              const std::vector<std::uint8_t>& probation,
                                              double max_share);

/// The verify stage (after validate, before scan): verifies w.rows, rejects the rows that fail
/// with their code (stage verify), keeps the others in w.rows, and reports in
/// w.result.verification and scores["probation"]. Throws when no row is left.
VerifyOutcome verify_stage(const EngineView& e, const identity::Registry& registry, RoundWork& w);

/// New-client probation on the decision (after decide, before aggregate): caps the share of
/// the clients on probation in a linear aggregate (cap_probation_share).
void probation_stage(const identity::Registry& registry, const VerifyOutcome& outcome,
                     RoundWork& w);

/// Records a successful round's verified clients and the round's nonce in the state.
void commit_verification(EngineState& state, const RoundInput& in, const VerifyOutcome& outcome);

}  // namespace fedguard::engine
