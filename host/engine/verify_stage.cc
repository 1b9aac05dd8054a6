#include "engine/verify_stage.h"

#include <algorithm>
#include <cmath>

#include "fedguard/error.h"

namespace fedguard::engine {
namespace {

ReasonCode code_of(identity::Verdict v) {
  switch (v) {
    case identity::Verdict::kUnknownClient:
      return ReasonCode::kUnknownClient;
    case identity::Verdict::kRevokedClient:
      return ReasonCode::kRevokedClient;
    case identity::Verdict::kBadSignature:
      return ReasonCode::kBadSignature;
    case identity::Verdict::kStaleRound:
      return ReasonCode::kStaleRound;
    case identity::Verdict::kReplayed:
      return ReasonCode::kReplayed;
    case identity::Verdict::kMissingSignature:
      return ReasonCode::kMissingSignature;
    case identity::Verdict::kEnrollmentCap:
      return ReasonCode::kEnrollmentCap;
    case identity::Verdict::kOk:
      break;
  }
  FEDGUARD_THROW(kInvalidInput,
                 "verification: no reason code for verdict " << identity::verdict_code(v));
}

}  // namespace

VerifyOutcome verify_rows(const identity::Registry& registry, const EngineState& state,
                          const RoundInput& in, const std::vector<std::size_t>& rows, int threads) {
  const UpdateView& u = in.updates;
  const std::size_t n = u.rows();
  FEDGUARD_EXPECTS(in.client_ids.size() == n,
                   "client verification needs one client id per update: got "
                       << in.client_ids.size() << " ids for n=" << n);
  FEDGUARD_EXPECTS(in.signatures.empty() || in.signatures.size() == n,
                   "got " << in.signatures.size() << " signatures for n=" << n << " updates");
  FEDGUARD_EXPECTS(
      in.update_digests.empty() || in.update_digests.size() == n,
      "got " << in.update_digests.size() << " update digests for n=" << n << " updates");
  bool zero = true;
  for (auto b : in.nonce) zero = zero && b == 0;
  FEDGUARD_EXPECTS(
      !zero, "the round's nonce is all zero: issue a fresh one per round (identity::new_nonce())");
  FEDGUARD_EXPECTS(!(state.has_verified_round && state.verified_nonce == in.nonce),
                   "the round's nonce is the one of the previous verified round "
                       << state.verified_round << ": a nonce is used for one round only");
  if (u.location().kind != MemoryKind::kHost)
    FEDGUARD_THROW(kUnsupported,
                   "client verification hashes the updates on the host: pass host memory");

  identity::RoundContext ctx;
  ctx.round = in.round;
  ctx.nonce = in.nonce;
  if (state.has_verified_round) ctx.previous = {{state.verified_round, state.verified_nonce}};
  // Records are copied out of the state so the lookup cannot race with anything.
  std::map<std::string, identity::ClientRecord> records;
  for (const auto& [id, h] : state.clients)
    if (h.verified) records[id] = {h.first_verified_round, h.last_verified_round};
  ctx.history = [&records](const std::string& id) -> const identity::ClientRecord* {
    const auto it = records.find(id);
    return it == records.end() ? nullptr : &it->second;
  };
  std::vector<identity::Submission> subs;
  subs.reserve(rows.size());
  for (std::size_t i : rows)
    subs.push_back({in.client_ids[i], u.row(i), u.cols(), dtype_name(u.dtype()),
                    in.signatures.empty() ? std::string() : in.signatures[i],
                    in.update_digests.empty() ? nullptr : &in.update_digests[i]});

  VerifyOutcome out;
  out.checked = rows;
  out.verdicts = identity::verify_round(registry, ctx, subs, threads);
  out.probation.assign(n, 0);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const identity::ClientVerdict& v = out.verdicts.clients[k];
    if (v.verdict != identity::Verdict::kOk) continue;
    out.passed.push_back(rows[k]);
    out.probation[rows[k]] = v.probation;
  }
  return out;
}

std::pair<double, double> cap_probation_share(std::vector<double>& coefficients,
                                              const std::vector<std::uint8_t>& probation,
                                              double max_share) {
  double on = 0, off = 0;
  for (std::size_t p = 0; p < probation.size(); ++p) (probation[p] ? on : off) += coefficients[p];
  const double total = on + off;
  if (!(on > 0) || !(total > 0)) return {0.0, 0.0};
  const double before = on / total;
  if (before <= max_share) return {before, before};
  if (off > 0) {  // shift weight to the established clients; the sum is unchanged
    const double a = max_share * total / on, b = (1 - max_share) * total / off;
    for (std::size_t p = 0; p < probation.size(); ++p) coefficients[p] *= probation[p] ? a : b;
    return {before, max_share};
  }
  bool established = false;
  for (auto flag : probation) established = established || !flag;
  // Established clients were there but the rule gave them nothing (Krum chose a newcomer): the
  // newcomers' weight shrinks to max_share of what the rule gave, and the aggregate with it
  // (like clipping: the coefficients then sum to less than before).
  if (established) {
    for (std::size_t p = 0; p < probation.size(); ++p)
      if (probation[p]) coefficients[p] *= max_share;
    return {before, max_share};
  }
  // Nobody established in the round (the first rounds of a federation): nothing to cap against;
  // the report says so (after = before).
  return {before, before};
}

VerifyOutcome verify_stage(const EngineView& e, const identity::Registry& registry, RoundWork& w) {
  VerifyOutcome v = verify_rows(registry, e.state, w.in, w.rows, e.config.threads);
  for (std::size_t k = 0; k < v.checked.size(); ++k) {
    const identity::ClientVerdict& c = v.verdicts.clients[k];
    if (c.verdict != identity::Verdict::kOk) w.reject(v.checked[k], code_of(c.verdict), c.detail);
  }
  w.rows = v.passed;
  RoundResult& result = w.result;
  result.verification_ran = true;
  VerificationReport& report = result.verification;
  report.round = w.in.round;
  report.nonce = identity::hex_encode(w.in.nonce.data(), w.in.nonce.size());
  report.verified = v.passed.size();
  report.new_clients = v.verdicts.new_clients;
  report.burst = v.verdicts.burst;
  std::vector<double> flag(w.n, std::nan(""));
  for (std::size_t i : v.passed) {
    flag[i] = v.probation[i];
    report.on_probation += v.probation[i];
  }
  result.scores["probation"] = std::move(flag);
  if (w.rows.empty()) {
    std::string counts;
    for (const auto& [code, count] : w.rejected_counts)
      if (count) counts += (counts.empty() ? "" : ", ") + code + " " + std::to_string(count);
    FEDGUARD_THROW(kInvalidInput, "no client left to aggregate: all " << w.n << " were rejected ("
                                                                      << counts << ")");
  }
  return v;
}

void probation_stage(const identity::Registry& registry, const VerifyOutcome& outcome,
                     RoundWork& w) {
  // Hook: a Sybil-group signal from the detection stage (near-identical updates, `collusion`)
  // could mark a group's rows here the same way, as rows whose joint share is capped.
  if (!w.decision.linear || registry.probation.rounds == 0) return;
  const std::size_t m = w.rows.size();
  std::vector<double> coefficients(w.decision.coefficients.begin(),
                                   w.decision.coefficients.begin() + m);
  std::vector<std::uint8_t> on(m);
  for (std::size_t p = 0; p < m; ++p) on[p] = outcome.probation[w.rows[p]];
  const auto [before, after] = cap_probation_share(coefficients, on, registry.probation.max_share);
  std::copy(coefficients.begin(), coefficients.end(), w.decision.coefficients.begin());
  w.result.verification.probation_share_before = before;
  w.result.verification.probation_share_after = after;
}

void commit_verification(EngineState& state, const RoundInput& in, const VerifyOutcome& outcome) {
  for (std::size_t i : outcome.passed) {
    ClientHistory& h = state.clients[in.client_ids[i]];
    if (!h.verified) h.first_verified_round = in.round;
    h.verified = true;
    h.last_verified_round = in.round;
  }
  state.has_verified_round = true;
  state.verified_round = in.round;
  state.verified_nonce = in.nonce;
}

}  // namespace fedguard::engine
