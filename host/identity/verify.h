// Verification of one round's submissions against the registry (docs/verification.md): a
// verdict per client, computed before any detection. Pure: reads the registry and the
// per-client history it is given, changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fedguard/identity.h"
#include "fedguard/registry.h"

namespace fedguard::identity {

enum class Verdict : std::uint8_t {
  kOk,
  kUnknownClient,  ///< id not in the registry
  kRevokedClient,  ///< status revoked, or pending (not yet allowed to contribute)
  kBadSignature,   ///< not a valid signature of this round's message (incl. bad base64, wrong
                   ///< length)
  kStaleRound,     ///< a valid signature of the same update for the previous verified round
  kReplayed,  ///< valid, but the client already has an accepted update for this round or a later
              ///< one
  kMissingSignature,  ///< no signature at all
  kEnrollmentCap,     ///< valid first contribution beyond the registry's max_new_per_round
};

/// The reason code: "unknown_client", "revoked_client", ... ("ok" for kOk).
const char* verdict_code(Verdict v);

struct Submission {
  std::string client_id;
  const void* data = nullptr;  ///< the update's bytes as sent (row-major, little-endian)
  std::uint64_t d = 0;         ///< element count
  std::string dtype;           ///< "float32", "float16" or "bfloat16"
  std::string signature;       ///< base64 of the 64-byte signature; empty: missing
  /// SHA-256 of the bytes at data, computed by the server as they arrived (RoundInput::
  /// update_digests); null: verify_round hashes them.
  const Digest* digest = nullptr;
};

/// What the engine remembers of a client's verified contributions (its state file).
struct ClientRecord {
  std::uint64_t first_round = 0;  ///< federation round of its first accepted verified update
  std::uint64_t last_round = 0;   ///< ... and of its last
};

struct RoundContext {
  std::uint64_t round = 0;
  Nonce nonce{};
  /// The last verified round this engine completed, if any: a signature failing for this
  /// round but valid for that one is stale_round, not bad_signature.
  std::optional<std::pair<std::uint64_t, Nonce>> previous;
  /// The record of a client id, or null when it never contributed.
  std::function<const ClientRecord*(const std::string&)> history;
};

struct ClientVerdict {
  Verdict verdict = Verdict::kOk;
  std::string detail;       ///< human-readable, empty for kOk
  bool first_time = false;  ///< kOk and no earlier accepted verified update
  bool probation = false;   ///< kOk and on probation (Registry::probation)
};

struct RoundVerdicts {
  std::vector<ClientVerdict> clients;  ///< one per submission, in order
  std::size_t new_clients = 0;         ///< first-time contributors that verified (before the cap)
  bool burst = false;                  ///< new_clients > registry.max_new_per_round (when capped)
};

/// Verifies every submission: hashes the updates that have a registered, allowed id and a
/// well-formed signature in parallel (OpenMP, one update per thread at a time), verifies the
/// signatures, then applies the replay, duplicate and enrollment rules in submission order.
/// Submissions with data == null are skipped (verdict kOk is never given to them: the caller
/// rejects them earlier). threads: 0 = OpenMP's default.
RoundVerdicts verify_round(const Registry& registry, const RoundContext& context,
                           const std::vector<Submission>& submissions, int threads = 0);

}  // namespace fedguard::identity
