// The client registry (docs/verification.md; schema in docs/formats.md, "Client registry"):
// who may contribute to a federation, under which Ed25519 key, and the enrollment policy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fedguard/identity.h"

namespace fedguard::identity {

enum class ClientStatus : std::uint8_t {
  kPending,  ///< registered, not yet allowed to contribute (rejected as revoked_client)
  kActive,   ///< may contribute
  kRevoked,  ///< may no longer contribute; the entry stays so its id and key are never reused
};

/// "pending", "active", "revoked".
const char* status_name(ClientStatus status);

struct RegisteredClient {
  std::string id;
  PublicKey public_key{};
  ClientStatus status = ClientStatus::kActive;
  std::uint64_t enrolled_round = 0;  ///< the federation round at registration (informational)
};

/// New-client probation (docs/verification.md): a client whose first accepted verified round
/// F satisfies round < F + rounds is on probation; together, the clients on probation hold at
/// most max_share of a linear aggregate's client weight while any established client is
/// accepted in the round.
struct Probation {
  std::uint64_t rounds = 0;  ///< 0: no probation
  double max_share = 1.0;    ///< in (0, 1]
};

struct Registry {
  std::string federation;
  std::uint64_t max_clients = 0;        ///< pending + active entries at most; 0: no cap
  std::uint64_t max_new_per_round = 0;  ///< first-time contributors per round; 0: no cap
  Probation probation;
  std::vector<RegisteredClient> clients;

  /// The entry with this id, or null.
  const RegisteredClient* find(const std::string& id) const;
  /// Adds an entry; throws kInvalidInput when the id or the key is already registered (revoked
  /// entries included) or max_clients would be exceeded.
  void add(RegisteredClient client);
  /// Marks an entry revoked; throws kInvalidInput for an unknown id.
  void revoke(const std::string& id);
  /// Checks every field (federation and ids non-empty without NUL, ids and keys unique,
  /// caps); throws kInvalidInput naming source and the entry.
  void validate(const std::string& source) const;
};

/// Parses and validates registry JSON; errors (kIo for malformed JSON, with the byte offset;
/// kInvalidInput for a bad field) name source and the entry.
Registry parse_registry(const std::string& json_text, const std::string& source);
/// The registry as JSON text (2-space indented, fields in schema order).
std::string registry_to_json(const Registry& registry);
/// Reads and validates a registry file.
Registry load_registry(const std::string& path);
/// Validates, then writes atomically: a temporary file in the same directory, fsync, rename
/// over path, fsync of the directory. A failure leaves path as it was.
void save_registry(const std::string& path, const Registry& registry);

}  // namespace fedguard::identity
