// Model-poisoning attacks of the literature (host/attacks/, one file per attack, the paper
// cited at its top). They craft the malicious clients' updates of one round; fedguard uses
// them to evaluate its defenses (the simulator, the attack matrix, the tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fedguard {

/// What the attacker sees in one round. The attacks of the papers are omniscient: they read the
/// benign clients' updates of the round (or, in the partial-knowledge setting, the updates the
/// malicious clients computed honestly on their own data; pass those as `benign` then).
struct AttackInput {
  /// n_benign x d, row-major float32: the benign updates of this round.
  const float* benign = nullptr;
  std::size_t n_benign = 0;
  std::size_t d = 0;
  /// How many malicious updates to return (f).
  std::size_t n_malicious = 0;
  /// Total clients of the round (benign + malicious); 0 means n_benign + n_malicious.
  std::size_t n_total = 0;
  /// Optional, n_malicious x d: what each malicious client trained on its own (possibly
  /// poisoned) data: the backdoored update that `scaling` amplifies, the base of `sign_flip`.
  const float* own = nullptr;
  /// Optional, d: the current global model's parameters (MPAF steers toward its base model
  /// from here).
  const float* global_model = nullptr;
  /// Seeds every random draw; the same input and seed give the same output.
  std::uint64_t seed = 0;
  /// The round number (attacks that change over rounds read it).
  std::size_t round = 0;
};

/// The malicious updates, n_malicious x d row-major float32.
struct AttackOutput {
  std::vector<float> updates;
  std::size_t n = 0;
  std::size_t d = 0;
  /// What the attack chose, for the record (e.g. {"gamma": 3.2} for min_max, {"z": 0.9} for alie).
  nlohmann::json info = nlohmann::json::object();
};

/// Runs the named attack. Unknown names and parameters are fedguard::Error (kInvalidInput).
/// @param params the attack's parameters (published defaults where absent)
AttackOutput craft_attack(const std::string& name, const nlohmann::json& params,
                          const AttackInput& input);

/// The attack names craft_attack knows, sorted.
std::vector<std::string> attack_names();

}  // namespace fedguard
