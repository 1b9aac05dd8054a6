// The engine: one call per federated round.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fedguard/config.h"
#include "fedguard/error.h"
#include "fedguard/registry.h"
#include "fedguard/round.h"
#include "fedguard/update_view.h"

namespace fedguard {

class Engine {
 public:
  /// Validates the configuration and picks the backend (auto: CUDA where built and a device
  /// exists; this build has the CPU backend only, so auto means CPU).
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Runs pass 1 (scan), the policy on the summaries, and pass 2 (aggregate). On error the
  /// engine's state (e.g. centred clipping's previous aggregate) is left as it was.
  /// @param input the round's updates, ids and sample counts (views, not copied)
  RoundResult process_round(const RoundInput& input);

  const EngineConfig& config() const;
  /// "cpu" or "cuda".
  std::string backend_name() const;
  /// Forgets state kept across rounds.
  void reset_state();
  /// Rounds processed successfully since construction or the last reset.
  std::size_t rounds_processed() const;
  /// Client ids with a history (those a history rule or the reputation has seen).
  std::size_t clients_known() const;
  /// Writes the state kept across rounds (previous aggregate, per-client sketched histories)
  /// to a versioned file, atomically (docs/formats.md).
  void save_state(const std::string& path) const;
  /// Replaces the state with a file's; throws if it is malformed or was written with another
  /// sketch dimension or seed. The model dimension is checked at the next round.
  void load_state(const std::string& path);
  /// Alerts each change-point detector has raised since the state began, by "metric/method".
  std::map<std::string, std::uint64_t> alert_counts() const;
  /// The Prometheus text exposition (format 0.0.4) of a round's metrics and the detectors'
  /// alert counts, for a textfile collector (docs/monitoring.md, "Exposition").
  std::string prometheus_text(const RoundResult& result) const;

  /// Turns client verification on (docs/verification.md): from the next round, every update
  /// must carry a valid signature (RoundInput::signatures, round, nonce) by a registered,
  /// active client, or it is rejected with a reason code before any detection. The engine
  /// keeps its own copy: update it with set_registry again after a change (keys register /
  /// revoke). Throws kInvalidInput for an invalid registry.
  void set_registry(identity::Registry registry);
  /// Turns client verification off.
  void clear_registry();
  /// The registry in use, or null.
  const identity::Registry* registry() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Version string and the backends this build has.
std::string version();
/// Names of every rule a policy may use (as a filter, a transform or the aggregator).
std::vector<std::string> rule_names();
std::vector<std::string> backends_built();

/// The BLAS behind the CPU backend, and whether it runs the kernels this processor has
/// (docs/performance.md, "The BLAS kernel"): OpenBLAS falls back to SSE3 kernels on processor
/// models it does not know, 3-5x slower on large rounds.
struct BlasInfo {
  std::string description;    ///< library, version, kernel, threading, file (`fedguard info`)
  std::string kernel;         ///< the kernel it runs (OpenBLAS's name; empty for BLIS / MKL)
  std::string better_kernel;  ///< OPENBLAS_CORETYPE value to run instead, or empty
  std::string cpu;            ///< with better_kernel: "family F model M, <vector extension>"
};
BlasInfo blas_info();

}  // namespace fedguard
