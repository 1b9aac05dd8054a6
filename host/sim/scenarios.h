// The simulator's scenarios for verification and monitoring (docs/simulator.md, "Scenarios"):
// an attack whose strength ramps up, a benign population whose data drifts, and fake clients
// (MPAF, Cao & Gong 2022) joining mid-run with or without registered keys, every update signed
// with fedguard's own identity code. No LibTorch here: the schedules and the signing are tested
// without a simulation (tests/sim/scenarios_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fedguard/identity.h"
#include "fedguard/registry.h"

namespace fedguard::sim {

/// Ramp: the strength s in [0, 1] of a crafted attack in round r. 0 before start_round; with
/// ramp_rounds = 0, 1 from start_round on; else s = min(1, (r - start_round + 1) / ramp_rounds),
/// full strength at round start_round + ramp_rounds - 1. The simulator sends
/// own + s (crafted - own), own = what the malicious client trained honestly.
double ramp_strength(std::size_t round, std::size_t start_round, std::size_t ramp_rounds);

/// A drifting benign population (no attack): how each client's data changes over the rounds.
struct DriftSpec {
  /// "none"; "resplit": every `period` rounds each client's data moves linearly from one
  /// Dirichlet split of the training pool to the next (split k drawn with seed
  /// derive_seed(seed, 3, k); split 0 is the run's usual split); "label_prior": the clients keep
  /// a class-c sample with probability label_weight(c, r), a prior that rotates over the classes
  /// once every `period` rounds.
  std::string kind = "none";
  std::size_t period = 100;  ///< rounds per move (resplit) or per full rotation (label_prior)
  double min_weight = 0.2;   ///< label_prior: the smallest class weight, in (0, 1]
  bool enabled() const { return kind != "none"; }
};

/// resplit: round r is between split k = r / period and k + 1, at t = (r mod period) / period.
struct DriftPosition {
  std::size_t split = 0;
  double t = 0;
};
DriftPosition drift_position(std::size_t round, std::size_t period);

/// resplit: a client's data at position t, from its samples in split k (`from`) and in split
/// k + 1 (`to`), both in a seeded random order: the first round((1 - t) |from|) of `from` and the
/// first round(t |to|) of `to`, without repeats, at least one sample.
std::vector<std::uint32_t> drift_mix(const std::vector<std::uint32_t>& from,
                                     const std::vector<std::uint32_t>& to, double t);

/// label_prior: the probability that class c (of `classes`) is kept in round r:
/// min_weight + (1 - min_weight) (1 + cos(2 pi (r / period - c / classes))) / 2.
double label_weight(std::size_t c, std::size_t classes, std::size_t round, std::size_t period,
                    double min_weight);

/// label_prior: the samples of `part` kept in round r: sample s is kept when keep_u[s] <
/// label_weight(labels[s], ...), keep_u a fixed uniform draw per sample (so the drift is smooth:
/// a sample leaves and comes back as its class's weight falls and rises). Never empty: a client
/// that would keep nothing keeps its whole part.
std::vector<std::uint32_t> label_prior_subset(const std::vector<std::uint32_t>& part,
                                              const std::vector<std::uint8_t>& labels,
                                              const std::vector<double>& keep_u,
                                              std::size_t classes, std::size_t round,
                                              std::size_t period, double min_weight);

/// Client verification in the simulator (docs/verification.md): a registry of the benign
/// clients, every update signed.
struct VerificationSpec {
  bool enabled = false;
  std::string federation = "fedguard-sim";
  identity::Probation probation;  ///< the registry's probation (default: none, as the registry's)
  std::uint64_t max_new_per_round = 0;  ///< the registry's enrollment cap (0: none)
};

/// MPAF's fake clients: `count` ids fake0 .. fake<count-1> that join at join_round and send the
/// crafted attack from then on. keys "none": they sign with keys of their own that no registry
/// lists (the server can tie them to nobody); "enrolled": their keys are registered, status
/// active, at the join round ("stolen keys" / Sybils that got through enrollment).
struct FakeClientSpec {
  std::size_t count = 0;
  std::size_t join_round = 0;
  std::string keys = "none";
  bool enabled() const { return count > 0; }
};

/// The federation's keys and registry, and signing on behalf of the clients.
class SignedFederation {
 public:
  /// Generates a key pair per benign client (registered, active, enrolled round 0) and per fake
  /// (not registered). Keys come from the OS's CSPRNG: signatures differ between runs, the
  /// verdicts and so the simulation do not.
  SignedFederation(const VerificationSpec& spec, const std::vector<std::string>& client_ids,
                   const FakeClientSpec& fakes);

  /// The federation round number clients sign for simulator round r (0-based): r + 1.
  static std::uint64_t federation_round(std::size_t round) { return round + 1; }

  /// Call at the start of every round: at the fakes' join round with keys "enrolled", adds the
  /// fakes to the registry (status active, enrolled_round = the federation round). Returns true
  /// when the registry changed (hand it to Engine::set_registry).
  bool begin_round(std::size_t round);

  /// Signs row i of rows (row-major, d float32 each) as ids[i] would: a benign id with its
  /// registered key, a fake id with the fake's own key. One base64 signature per row.
  std::vector<std::string> sign(const float* rows, std::size_t n, std::size_t d,
                                const std::vector<std::string>& ids, std::size_t round,
                                const identity::Nonce& nonce) const;

  const identity::Registry& registry() const { return registry_; }
  const std::vector<std::string>& fake_ids() const { return fake_ids_; }
  bool is_fake(const std::string& id) const;

 private:
  VerificationSpec spec_;
  FakeClientSpec fakes_;
  identity::Registry registry_;
  std::vector<std::string> ids_;         ///< benign ids then fake ids
  std::vector<identity::KeyPair> keys_;  ///< one per ids_
  std::vector<std::string> fake_ids_;
  bool fakes_enrolled_ = false;
};

/// result.json's summary "monitoring": from the rounds each detector ("metric/method") alerted
/// in, and the round of the change (-1: none, an attack-free run):
/// {"alerts", "change_round", "alerts_before_change", "first_alert_round", "detection_delay",
///  "by_detector": {key: {"alerts", "alerts_before_change", "first_round", "delay"}}}.
/// delay = the first alert at or after the change minus the change round (null when none);
/// with no change every alert counts as before it (a false alarm).
nlohmann::ordered_json monitoring_summary(
    const std::map<std::string, std::vector<std::uint64_t>>& alert_rounds, long long change_round);

}  // namespace fedguard::sim
