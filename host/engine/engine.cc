// The engine: the backend, the policy and the state kept across rounds. A round runs the
// stages of stages.h in order and commits what they left in `pending` to the state only when
// every stage succeeded.
#include "fedguard/engine.h"

#include <chrono>
#include <cmath>
#include <optional>

#include "backend/backend.h"
#include "backend/cpu/blas_library.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/devices.h"
#include "detection/response.h"
#include "engine/config_check.h"
#include "engine/stages.h"
#include "engine/state_file.h"
#include "engine/verify_stage.h"
#include "monitor/monitor.h"
#include "monitor/prometheus.h"
#include "policy/policy.h"

namespace fedguard {
namespace {

class StageTimer {
 public:
  explicit StageTimer(std::vector<std::pair<std::string, double>>& out) : out_(out), last_(now()) {}
  void mark(const char* stage) {
    const auto t = now();
    out_.emplace_back(stage, std::chrono::duration<double, std::milli>(t - last_).count());
    last_ = t;
  }

 private:
  static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
  std::vector<std::pair<std::string, double>>& out_;
  std::chrono::steady_clock::time_point last_;
};

backend::CudaOptions cuda_options(const EngineConfig& config) {
  backend::CudaOptions o;
  o.precision = backend::gram_precision(config.precision);
  return o;
}

std::unique_ptr<backend::Backend> make_backend(const EngineConfig& config) {
  switch (config.backend) {
    case BackendKind::kCuda:
#ifndef FEDGUARD_HAS_CUDA
      FEDGUARD_THROW(kUnsupported,
                     "backend \"cuda\" requested, but this build has no CUDA backend ("
                         << backend::cuda_status() << "); use \"cpu\" or \"auto\"");
#endif
      if (backend::cuda_device_count() == 0)
        FEDGUARD_THROW(kUnsupported, "backend \"cuda\" requested, but no CUDA device is usable ("
                                         << backend::cuda_status() << "); use \"cpu\" or \"auto\"");
      return backend::make_cuda_backend(cuda_options(config));
    case BackendKind::kCpu:
      // tf32 / bf16 Gram products are a CUDA option; the CPU computes in fp32 only, and says
      // so rather than silently computing something other than what was asked.
      if (config.precision != Precision::kFp32)
        FEDGUARD_THROW(kUnsupported,
                       "precision \""
                           << to_string(config.precision)
                           << "\" is a CUDA backend option; the CPU backend computes in fp32");
      return backend::make_cpu_backend(config.threads);
    case BackendKind::kAuto:
      // CUDA where a device exists; falling back to the CPU computes in fp32, at least as
      // precise as any precision asked.
      if (backend::cuda_device_count() > 0) return backend::make_cuda_backend(cuda_options(config));
      return backend::make_cpu_backend(config.threads);
  }
  FEDGUARD_THROW(kInvalidInput, "unknown backend kind");
}

}  // namespace

struct Engine::Impl {
  EngineConfig config;
  policy::Policy policy;  // before the backend: a bad policy is reported before a missing device
  std::unique_ptr<backend::Backend> backend;
  engine::EngineState state;                   // committed only when a round succeeds
  std::optional<identity::Registry> registry;  // client verification on when set
  detection::Workspace detection_workspace;    // scratch memory, not state (workspace.h)
  std::vector<float> aggregate_spare;  // the next previous aggregate, before the commit swaps it in

  explicit Impl(EngineConfig c)
      : config(std::move(c)), policy(config), backend(make_backend(config)) {}

  bool tracks_reputation() const {
    return config.reputation.enabled || policy.needs(rules::kReputation);
  }
  engine::EngineView view() {
    return {config,
            *backend,
            policy,
            state,
            tracks_reputation(),
            registry.has_value(),
            &detection_workspace,
            &aggregate_spare};
  }

  // verification: client verification's verdicts, for the commit (empty without a registry).
  RoundResult run(engine::RoundWork& w, std::optional<engine::VerifyOutcome>& verification) {
    const engine::EngineView e = view();
    StageTimer timer(w.result.timings_ms);
    engine::validate_stage(e, w);
    timer.mark("validate");
    if (registry) {  // docs/verification.md: rows that fail are never scanned
      verification = engine::verify_stage(e, *registry, w);
      timer.mark("verify");
    }
    engine::scan_stage(e, w);
    timer.mark("pass1_scan");
    engine::recall_stage(e, w);
    if (config.detection.enabled) {
      engine::detect_stage(e, w);
      timer.mark("detect");
    }
    engine::decide_stage(e, w);
    if (verification) engine::probation_stage(*registry, *verification, w);
    timer.mark("decide");
    engine::aggregate_stage(e, w);
    timer.mark("pass2_aggregate");
    engine::record_stage(e, w);
    if (policy.needs(rules::kAggregateSketches)) timer.mark("aggregate_sketch");
    if (config.monitoring.enabled) {
      engine::record_monitoring(e, w);
      timer.mark("monitor");
    }
    double total = 0;
    for (const auto& [stage, ms] : w.result.timings_ms) total += ms;
    w.result.timings_ms.emplace_back("total", total);
    return std::move(w.result);
  }

  void commit(engine::Pending& pending);
};

void Engine::Impl::commit(engine::Pending& pending) {
  if ((policy.needs(rules::kPreviousAggregate) || pending.monitor) && pending.aggregate) {
    if (pending.aggregate_in_spare)  // the monitoring stage wrote it there: no copy here
      std::swap(state.previous_aggregate, aggregate_spare);
    else
      state.previous_aggregate.assign(pending.aggregate->begin(), pending.aggregate->end());
  }
  if (pending.monitor) monitor::commit(state.monitor, std::move(*pending.monitor));
  const bool keep_last = policy.needs(rules::kAggregateSketches) || engine::tracks_response(config);
  for (auto& [id, sketch] : pending.sketches) {
    engine::ClientHistory& h = state.clients[id];
    if (h.sketch_sum.empty()) h.sketch_sum.assign(sketch.size(), 0.0);
    for (std::size_t q = 0; q < sketch.size(); ++q) h.sketch_sum[q] += sketch[q];
    if (keep_last) h.last_sketch = std::move(sketch);
    ++h.rounds_seen;
    h.last_round = state.rounds;
  }
  for (const std::string& id : pending.participants) {  // memory without sketches (reputation only)
    engine::ClientHistory& h = state.clients[id];
    ++h.rounds_seen;
    h.last_round = state.rounds;
  }
  for (auto& [id, window] : pending.suspicion) state.clients[id].suspicion = std::move(window);
  const double rate = config.detection.baseline_rate;
  for (const auto& [id, ev] : pending.baseline) {  // bias-corrected EWMAs (docs/detection.md)
    engine::ClientHistory& h = state.clients[id];
    for (auto [value, b] : {std::pair{ev.accepted ? 1.0 : 0.0, &h.accepted_share},
                            {ev.norm_z, &h.norm_baseline},
                            {ev.sign_z, &h.sign_baseline}}) {
      if (!std::isfinite(value)) continue;
      b->sum = (1 - rate) * b->sum + rate * value;
      b->weight = (1 - rate) * b->weight + rate;
      ++b->rounds;
    }
  }
  for (const auto& [id, z] : pending.response) {
    engine::ClientHistory& h = state.clients[id];
    h.response_sum += z;
    ++h.response_rounds;
  }
  for (auto& [ids, track] : pending.pair_tracks) state.followed_pairs[ids] = std::move(track);
  for (const auto& ids : pending.pairs_dropped) state.followed_pairs.erase(ids);
  for (const auto& ids : pending.pairs_new)
    state.followed_pairs.emplace(ids,
                                 detection::PairTrack{std::vector<double>(config.sketch_dim, 0.0)});
  for (const auto& [id, accepted] : pending.accepted_now)
    state.clients[id].last_accepted = accepted;
  if (pending.response_round) {
    state.response_window.push_back(std::move(*pending.response_round));
    if (state.response_window.size() > detection::kResponseMaxGap)
      state.response_window.erase(state.response_window.begin());
  }
  for (const auto& [id, o] : pending.outcome) {
    engine::ClientHistory& h = state.clients[id];
    h.reputation = engine::updated_reputation(
        h.has_reputation ? h.reputation : config.reputation.initial, o, config.reputation);
    h.has_reputation = true;
  }
  if (!pending.aggregate_sketch.empty()) {
    state.aggregate_sketches.push_back(std::move(pending.aggregate_sketch));
    if (state.aggregate_sketches.size() > rules::kAggregateHistory)
      state.aggregate_sketches.erase(state.aggregate_sketches.begin());
  }
  ++state.rounds;
  state.model_dim = pending.model_dim;
}

Engine::Engine(EngineConfig config) {
  // EngineConfig::validate less the rules' parameters: the Policy checks the composition and
  // builds each rule once, and its factories check the parameters.
  engine::check_config_values(config);
  impl_ = std::make_unique<Impl>(std::move(config));
}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

RoundResult Engine::process_round(const RoundInput& input) {
  engine::RoundWork work(input);
  RoundResult result;
  std::optional<engine::VerifyOutcome> verification;
  try {
    result = impl_->run(work, verification);
  } catch (const std::bad_alloc&) {
    FEDGUARD_THROW(kOutOfMemory, "out of host memory in a round of n="
                                     << input.updates.rows() << ", d=" << input.updates.cols()
                                     << " (tile_columns " << impl_->config.tile_columns << ")");
  }
  // Commit state only now: a round that threw above changed nothing.
  if (impl_->policy.needs(rules::kPreviousAggregate) || work.pending.monitor)
    work.pending.aggregate = &result.aggregate;
  impl_->commit(work.pending);
  if (verification) engine::commit_verification(impl_->state, input, *verification);
  return result;
}

const EngineConfig& Engine::config() const { return impl_->config; }
std::string Engine::backend_name() const { return impl_->backend->name(); }
void Engine::reset_state() { impl_->state = engine::EngineState{}; }
std::size_t Engine::rounds_processed() const { return impl_->state.rounds; }
std::size_t Engine::clients_known() const { return impl_->state.clients.size(); }

void Engine::set_registry(identity::Registry registry) {
  registry.validate("registry");
  impl_->registry = std::move(registry);
}
void Engine::clear_registry() { impl_->registry.reset(); }
const identity::Registry* Engine::registry() const {
  return impl_->registry ? &*impl_->registry : nullptr;
}

void Engine::save_state(const std::string& path) const {
  engine::write_state(path, impl_->state, impl_->config.sketch_dim, impl_->config.sketch_seed);
}

void Engine::load_state(const std::string& path) {
  impl_->state = engine::read_state(path, impl_->config.sketch_dim, impl_->config.sketch_seed);
}

std::map<std::string, std::uint64_t> Engine::alert_counts() const {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [key, s] : impl_->state.monitor.detectors) out[key] = s.alarms;
  return out;
}

std::string Engine::prometheus_text(const RoundResult& result) const {
  const std::uint64_t rounds = impl_->state.rounds;
  return monitor::prometheus_text(result.metrics, result.alerts, impl_->config.monitoring,
                                  impl_->state.monitor, rounds > 0 ? rounds - 1 : 0);
}

std::string version() { return FEDGUARD_VERSION; }

std::vector<std::string> rule_names() { return rules::rule_names(); }

BlasInfo blas_info() {
  const backend::cpu::BlasKernelAdvice advice = backend::cpu::blas_kernel_advice();
  return {backend::cpu::blas_description(), advice.running, advice.better, advice.cpu};
}

std::vector<std::string> backends_built() {
#ifdef FEDGUARD_HAS_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

}  // namespace fedguard
