// What a round takes and what it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fedguard/identity.h"
#include "fedguard/monitoring.h"
#include "fedguard/rejection.h"
#include "fedguard/update_view.h"

namespace fedguard {

struct RoundInput {
  UpdateView updates;
  /// One id per row; empty means "0", "1", ... Duplicates follow EngineConfig::duplicate_ids.
  std::vector<std::string> client_ids;
  /// FedAvg weights (samples per client); empty means uniform. A value that is not finite
  /// and > 0 rejects that client (reason `invalid_num_samples`).
  std::vector<double> num_samples;
  /// The server's reference update (FLTrust's root-data update): d float32 values in host
  /// memory, or null. Rules that need it fail the round when it is missing.
  const float* reference = nullptr;
  /// Metrics the server measured itself (validation loss / accuracy on its own data), by name
  /// ([a-z][a-z0-9_]*, at most 64 characters): reported as "server_<name>" in
  /// RoundResult::metrics and fed to the detectors of that name. A value that is not finite is
  /// refused (RoundResult::metrics_refused), not fed.
  std::map<std::string, double> server_metrics;

  // Client verification (docs/verification.md): used when the engine holds a registry
  // (Engine::set_registry), ignored otherwise.
  /// The federation round number every client signed.
  std::uint64_t round = 0;
  /// The round's server nonce (identity::new_nonce()); all zero is refused.
  identity::Nonce nonce{};
  /// One base64 Ed25519 signature per row (docs/formats.md, "Signed updates"); an empty string,
  /// or an empty vector for all, is a missing signature.
  std::vector<std::string> signatures;
  /// Optional: SHA-256 of each row's bytes as sent, computed by the server while the bytes
  /// arrived (identity::sha256), so that hashing overlaps the transport instead of lengthening
  /// the round (docs/verification.md, "Hashing on arrival"); empty: the verify stage hashes.
  /// The engine trusts these: compute them from the very bytes passed in `updates`, never take
  /// them from a client.
  std::vector<identity::Digest> update_digests;
};

/// What the verification stage saw in a round (RoundResult::verification).
struct VerificationReport {
  std::uint64_t round = 0;
  std::string nonce;             ///< hex
  std::size_t verified = 0;      ///< submissions that passed verification
  std::size_t new_clients = 0;   ///< of those (before the enrollment cap), first-time contributors
  bool burst = false;            ///< new_clients > the registry's max_new_per_round
  std::size_t on_probation = 0;  ///< accepted-for-scan clients on probation
  /// Share of the linear aggregate's client weight held by clients on probation, before and
  /// after the probation cap (both 0 when none took part or the aggregator is not linear).
  double probation_share_before = 0;
  double probation_share_after = 0;
};

struct RoundResult {
  std::size_t n = 0;
  std::size_t d = 0;
  /// accepted[i] != 0 when client i survived every filter and the aggregator used it.
  std::vector<std::uint8_t> accepted;
  /// For linear rules (linear == true) the exact coefficient of each update in the aggregate;
  /// for coordinate-wise rules uniform over the accepted clients.
  std::vector<double> weights;
  bool linear = true;
  /// Coefficients of vectors other than this round's updates (centred clipping's previous
  /// aggregate, the zero vector at the first round). With no clipping transform before the
  /// aggregator, weights plus these sum to 1; clipping scales coefficients down.
  std::map<std::string, double> reference_weights;
  /// Standard deviation of the Gaussian noise added to every coordinate of the aggregate
  /// (FLAME), 0 when none was added.
  double noise_sigma = 0;
  /// Per rule, one score per client; NaN for a client the rule never saw.
  std::map<std::string, std::vector<double>> scores;
  /// The client id of each row (the round's ids, or "0", "1", ... when it gave none).
  std::vector<std::string> client_ids;
  /// One entry per rejected client, in row order: the reason code, the stage, the rule or
  /// signal, the numbers (docs/result.md).
  std::vector<Rejection> rejections;
  /// Deprecated (kept for one release; use `rejections`): the same rejections as text,
  /// "<reason>" or "<rule>: <detail>", by row.
  std::map<std::size_t, std::string> reasons;
  /// The aggregated update, d floats.
  std::vector<float> aggregate;
  /// What the engine adapted or skipped in this round (a preset's f lowered for a small
  /// round, detection skipped below its minimum size, ...), for people and logs.
  std::vector<std::string> notes;
  /// Wall time per stage in milliseconds, in execution order.
  std::vector<std::pair<std::string, double>> timings_ms;
  /// Set when the engine holds a registry: the verification stage ran.
  bool verification_ran = false;
  VerificationReport verification;

  /// Monitoring (docs/monitoring.md; empty when EngineConfig::monitoring is off): the round's
  /// metrics by name, the change-point alerts raised in this round (empty when none), and the
  /// metrics that were not finite and so not fed to any detector.
  std::map<std::string, double> metrics;
  std::vector<Alert> alerts;
  std::vector<std::string> metrics_refused;

  /// The fields above except the aggregate, as JSON (NaN scores and metrics become null).
  /// Keys keep the order above; timings_ms keeps execution order.
  /// Ids of the rejected clients, in row order.
  std::vector<std::string> rejected_ids() const;
  /// The rejection of a client by id, or null when it was accepted or is not in the round.
  const Rejection* rejection_of(const std::string& id) const;

  /// The fields above except the aggregate, as JSON (NaN scores become null): n, d,
  /// accepted, weights, linear, reference_weights, noise_sigma, scores, reasons, timings_ms
  /// (in execution order), then client_ids, rejected_ids, rejections and notes (docs/result.md),
  /// then "verification" when it ran (docs/verification.md).
  nlohmann::ordered_json to_json() const;
};

}  // namespace fedguard
