// `fedguard simulate`: federated training of a small model on Fashion-MNIST with n clients
// (Dirichlet non-IID split), f of them malicious running one attack, and the fedguard Engine
// as the server's aggregation every round. docs/simulator.md has the configuration keys and
// the output files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "sim/partition.h"
#include "sim/scenarios.h"
#include "sim/trainer.h"

namespace fedguard::sim {

struct AttackSpec {
  /// "none", "label_flip", "backdoor", or a model-poisoning attack of fedguard::craft_attack.
  std::string name = "none";
  nlohmann::json params = nlohmann::json::object();  ///< craft_attack's parameters
  /// Data poisoning of the malicious clients' own training, under a model-poisoning attack:
  /// "none", "label_flip", "backdoor"; "auto" = "backdoor" for scaling, else "none".
  std::string data_poison = "auto";
  std::uint8_t target_label = 0;  ///< backdoor target
  double poison_fraction = 0.5;   ///< backdoor: fraction of each batch poisoned
  Trigger trigger;                ///< backdoor trigger
  std::size_t start_round = 0;    ///< the attack runs from this round on (0-based)
  /// Ramp (crafted attacks): 0 = full strength from start_round; else the strength grows
  /// linearly to full over this many rounds (sim/scenarios.h, ramp_strength).
  std::size_t ramp_rounds = 0;
};

struct SimConfig {
  std::string data_dir = kFashionMnistDir;
  std::string model = "mlp";
  std::size_t hidden = 64;
  std::size_t clients = 50;
  std::size_t malicious = 10;
  double alpha = 0.5;
  std::size_t min_client_samples = 10;
  std::size_t train_subset = 0;    ///< 0: every training sample; else a seeded random subset
  std::size_t root_samples = 100;  ///< server's clean root set, held out of the clients' data
  std::string server_reference =
      "auto";  ///< "auto" (when the policy uses fltrust), "always", "never"
  std::size_t rounds = 30;
  LocalTraining local;
  double server_lr = 1.0;
  std::size_t eval_subset = 2000;  ///< test images evaluated every round (0 = all)
  std::size_t test_subset = 0;     ///< test images of the final evaluation (0 = all)
  std::uint64_t seed = 1;
  int threads = 1;  ///< LibTorch threads, and the engine's when the policy sets none
  AttackSpec attack;
  nlohmann::json policy = nlohmann::json::object();  ///< an EngineConfig (docs/config.md)
  std::string out_dir = "sim-out";
  std::string log_dir;   ///< empty: no update log
  bool progress = true;  ///< one line per round on stderr
  /// The server validates the current global model on the eval_subset images before each round
  /// and passes the loss and accuracy as RoundInput::server_metrics (monitoring's server_loss /
  /// server_accuracy detectors).
  bool server_metrics = false;
  /// The benign-only oracle (issue #13): the malicious clients' updates are left out and the
  /// rest averaged by FedAvg (the `mean` rule), so its accuracy is what the federation reaches
  /// with a perfect detector. Needs no "policy" (it is FedAvg) and no "verification".
  bool benign_oracle = false;
  DriftSpec drift;                ///< a drifting benign population (sim/scenarios.h)
  VerificationSpec verification;  ///< a registry, every update signed (docs/verification.md)
  FakeClientSpec fake_clients;    ///< MPAF's fake ids joining mid-run (needs verification)

  /// Unknown keys and ill-typed values are errors (kInvalidInput) naming the key.
  static SimConfig from_json(const nlohmann::json& j);
  nlohmann::ordered_json to_json() const;
};

/// Runs the simulation, writes out_dir/result.json and out_dir/rounds.csv (and the update log
/// when log_dir is set) and returns what result.json holds. An engine error in a round stops
/// the run: the result then has "status": "failed: <message>" and the rounds before it.
nlohmann::ordered_json run_simulation(const SimConfig& config);

/// The attack names the simulator accepts: the data-level ones and craft_attack's.
bool is_data_attack(const std::string& name);

}  // namespace fedguard::sim
