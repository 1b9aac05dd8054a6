// The verification rules of a round, in the order they are applied (docs/verification.md).
#include "identity/verify.h"

#include <omp.h>

#include <cstring>
#include <set>

namespace fedguard::identity {

const char* verdict_code(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kUnknownClient:
      return "unknown_client";
    case Verdict::kRevokedClient:
      return "revoked_client";
    case Verdict::kBadSignature:
      return "bad_signature";
    case Verdict::kStaleRound:
      return "stale_round";
    case Verdict::kReplayed:
      return "replayed";
    case Verdict::kMissingSignature:
      return "missing_signature";
    case Verdict::kEnrollmentCap:
      return "enrollment_cap";
  }
  return "?";
}

RoundVerdicts verify_round(const Registry& registry, const RoundContext& context,
                           const std::vector<Submission>& submissions, int threads) {
  const std::size_t n = submissions.size();
  RoundVerdicts out;
  out.clients.resize(n);
  std::vector<const RegisteredClient*> entry(n, nullptr);
  std::vector<std::string> signature(n);
  std::vector<std::size_t> to_check;

  // 1. Registry and signature form (cheap, serial).
  for (std::size_t i = 0; i < n; ++i) {
    const Submission& s = submissions[i];
    ClientVerdict& v = out.clients[i];
    auto fail = [&](Verdict code, std::string detail) {
      v.verdict = code;
      v.detail = std::move(detail);
    };
    entry[i] = registry.find(s.client_id);
    if (entry[i] == nullptr) {
      fail(Verdict::kUnknownClient, "id '" + s.client_id +
                                        "' is not in the registry of federation '" +
                                        registry.federation + "'");
      continue;
    }
    if (entry[i]->status != ClientStatus::kActive) {
      fail(Verdict::kRevokedClient, entry[i]->status == ClientStatus::kPending
                                        ? "status pending: not yet allowed to contribute"
                                        : "status revoked");
      continue;
    }
    if (s.signature.empty()) {
      fail(Verdict::kMissingSignature, "");
      continue;
    }
    const std::optional<std::string> raw = base64_decode(s.signature);
    if (!raw) {
      fail(Verdict::kBadSignature, "the signature is not canonical base64");
      continue;
    }
    if (raw->size() != kSignatureBytes) {
      fail(Verdict::kBadSignature,
           "the signature has " + std::to_string(raw->size()) + " bytes, Ed25519 has 64");
      continue;
    }
    if (s.data == nullptr) {
      fail(Verdict::kBadSignature, "no update data to verify");
      continue;
    }
    signature[i] = *raw;
    to_check.push_back(i);
  }

  // 2. Hash and verify, in parallel over clients (each SHA-256 is sequential over its bytes).
  const std::size_t m = to_check.size();
  std::vector<std::uint8_t> valid(m, 0), stale(m, 0);
  std::vector<std::string> error(m);
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(team) if (m > 1)
  for (std::size_t k = 0; k < m; ++k) {
    const std::size_t i = to_check[k];
    const Submission& s = submissions[i];
    try {
      const std::size_t elem = s.dtype == "float32" ? 4 : 2;
      const Digest h = s.digest ? *s.digest : sha256(s.data, static_cast<std::size_t>(s.d) * elem);
      const std::string msg = update_message(registry.federation, s.client_id, context.round,
                                             context.nonce, s.dtype, s.d, h);
      valid[k] = verify(entry[i]->public_key, msg, signature[i].data(), signature[i].size());
      if (!valid[k] && context.previous && context.previous->first != context.round) {
        const std::string old =
            update_message(registry.federation, s.client_id, context.previous->first,
                           context.previous->second, s.dtype, s.d, h);
        stale[k] = verify(entry[i]->public_key, old, signature[i].data(), signature[i].size());
      }
    } catch (const std::exception& e) {  // no exception may leave an OpenMP region
      error[k] = e.what();
    }
  }

  // 3. Replay, duplicates, enrollment cap: in submission order, so the outcome does not depend
  //    on thread timing. A forged copy under a client's id never blocks its genuine update:
  //    only a verified update marks the id as used for this round.
  std::set<std::string> used;
  for (std::size_t k = 0; k < m; ++k) {
    const std::size_t i = to_check[k];
    const Submission& s = submissions[i];
    ClientVerdict& v = out.clients[i];
    if (!error[k].empty()) {
      v.verdict = Verdict::kBadSignature;
      v.detail = error[k];
      continue;
    }
    if (!valid[k]) {
      if (stale[k]) {
        v.verdict = Verdict::kStaleRound;
        v.detail = "signed for round " + std::to_string(context.previous->first) +
                   ", this is round " + std::to_string(context.round);
      } else {
        v.verdict = Verdict::kBadSignature;
        v.detail = "not a valid signature of this round's message for this update";
      }
      continue;
    }
    const ClientRecord* record = context.history ? context.history(s.client_id) : nullptr;
    if (record && context.round <= record->last_round) {
      v.verdict = Verdict::kReplayed;
      v.detail = "this client already has a verified update for round " +
                 std::to_string(record->last_round);
      continue;
    }
    if (!used.insert(s.client_id).second) {
      v.verdict = Verdict::kReplayed;
      v.detail =
          "a second verified update from this client in round " + std::to_string(context.round);
      continue;
    }
    if (record == nullptr) {
      ++out.new_clients;
      if (registry.max_new_per_round > 0 && out.new_clients > registry.max_new_per_round) {
        v.verdict = Verdict::kEnrollmentCap;
        v.detail = "first contribution beyond max_new_per_round " +
                   std::to_string(registry.max_new_per_round) + " this round";
        continue;
      }
      v.first_time = true;
    }
    const std::uint64_t first = record ? record->first_round : context.round;
    v.probation =
        registry.probation.rounds > 0 && context.round - first < registry.probation.rounds;
  }
  out.burst = registry.max_new_per_round > 0 && out.new_clients > registry.max_new_per_round;
  return out;
}

}  // namespace fedguard::identity
