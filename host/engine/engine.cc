// The round pipeline: input checks, pass 1 (scan), the policy on the summaries, pass 2
// (aggregate), and the result. State kept across rounds is committed only when a round
// succeeds.
#include "fedguard/engine.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "common/gaussian_noise.h"
#include "engine/devices.h"
#include "engine/state_file.h"
#include "monitor/metrics.h"
#include "monitor/monitor.h"
#include "monitor/prometheus.h"
#include "policy/gram_space.h"
#include "policy/policy.h"
#include "rules/rule.h"

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

std::string count_list(const std::map<std::string, std::size_t>& counts) {
  std::string s;
  for (const auto& [reason, count] : counts)
    if (count) s += (s.empty() ? "" : ", ") + reason + " " + std::to_string(count);
  return s;
}

backend::CudaOptions cuda_options(const EngineConfig& config) {
  backend::CudaOptions o;
  o.precision = backend::parse_gram_precision(config.precision);
  return o;
}

}  // namespace

struct Engine::Impl {
  EngineConfig config;
  std::unique_ptr<backend::Backend> backend;
  policy::Policy policy;
  engine::EngineState state;  // committed only when a round succeeds

  // What a successful round adds to the state.
  struct Pending {
    std::vector<std::pair<std::string, std::vector<double>>> sketches;  // client id, this round's sketch
    std::vector<double> aggregate_sketch;                                // empty: none
    std::map<std::string, std::vector<double>> suspicion;               // client id, new window
    std::map<std::string, double> outcome;                               // client id, reputation evidence
    std::vector<std::string> participants;  // ids of the scanned rows (when memory is kept)
    std::optional<monitor::Observation> monitor;  // the detectors after this round (monitoring on)
  };
  bool tracks_reputation() const { return config.reputation.enabled || policy.uses_reputation(); }

  explicit Impl(EngineConfig c) : config(std::move(c)), policy(config) {
    switch (config.backend) {
      case BackendKind::kCuda:
#ifndef FEDGUARD_HAS_CUDA
        FEDGUARD_THROW(kUnsupported, "backend \"cuda\" requested, but this build has no CUDA backend ("
                                         << engine::cuda_status() << "); use \"cpu\" or \"auto\"");
#endif
        if (backend::cuda_device_count() == 0)
          FEDGUARD_THROW(kUnsupported, "backend \"cuda\" requested, but no CUDA device is usable ("
                                           << engine::cuda_status() << "); use \"cpu\" or \"auto\"");
        backend = backend::make_cuda_backend(cuda_options(config));
        break;
      case BackendKind::kCpu:
        // tf32 / bf16 Gram products are a CUDA option; the CPU computes in fp32 only, and
        // says so rather than silently computing something other than what was asked.
        if (config.precision != "fp32")
          FEDGUARD_THROW(kUnsupported, "precision \"" << config.precision
                                                      << "\" is a CUDA backend option; the CPU backend computes in fp32");
        backend = backend::make_cpu_backend(config.threads);
        break;
      case BackendKind::kAuto:
        // CUDA where a device exists; falling back to the CPU computes in fp32, at least as
        // precise as any precision asked.
        if (backend::cuda_device_count() > 0)
          backend = backend::make_cuda_backend(cuda_options(config));
        else
          backend = backend::make_cpu_backend(config.threads);
        break;
    }
  }

  RoundResult run(const RoundInput& in, Pending& pending);
};

RoundResult Engine::Impl::run(const RoundInput& in, Pending& pending) {
  const std::vector<float>& previous_aggregate = state.previous_aggregate;
  const std::uint64_t rounds = state.rounds;
  RoundResult result;
  StageTimer timer(result.timings_ms);
  const UpdateView& u = in.updates;
  const std::size_t n = u.rows(), d = u.cols();
  FEDGUARD_EXPECTS(n > 0, "round has no updates (n = 0)");
  FEDGUARD_EXPECTS(d > 0, "updates have zero length (d = 0)");
  FEDGUARD_EXPECTS(in.client_ids.empty() || in.client_ids.size() == n,
                   "got " << in.client_ids.size() << " client ids for n=" << n << " updates");
  FEDGUARD_EXPECTS(in.num_samples.empty() || in.num_samples.size() == n,
                   "got " << in.num_samples.size() << " num_samples for n=" << n << " updates");
  if (u.location().kind == MemoryKind::kCuda && backend->name() != "cuda")
    FEDGUARD_THROW(kUnsupported, "updates are in CUDA memory but the backend is " << backend->name());
  result.n = n;
  result.d = d;

  // Input checks: each failure rejects one client with a named reason.
  std::map<std::string, std::size_t> rejected;
  auto reject = [&](std::size_t i, const std::string& code, const std::string& detail) {
    result.reasons[i] = detail.empty() ? code : code + ": " + detail;
    ++rejected[code];
  };
  // Duplicates are decided by id order alone, before any content check: the first update under
  // an id is that client's; later ones are rejected whatever they hold.
  std::unordered_map<std::string, std::size_t> first_with_id;
  std::vector<std::size_t> duplicate_of(n, n);
  for (std::size_t i = 0; i < in.client_ids.size(); ++i) {
    const auto [it, inserted] = first_with_id.emplace(in.client_ids[i], i);
    if (inserted) continue;
    FEDGUARD_EXPECTS(config.duplicate_ids != DuplicateIdPolicy::kError,
                     "duplicate client id '" << in.client_ids[i] << "' at indices " << it->second << " and " << i);
    duplicate_of[i] = it->second;
  }
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (duplicate_of[i] < n) {
      reject(i, "duplicate_id", "same id '" + in.client_ids[i] + "' as client " + std::to_string(duplicate_of[i]));
      continue;
    }
    const ClientUpdate& c = u.client(i);
    if (c.dtype != u.dtype()) {
      reject(i, "wrong_dtype", std::string(dtype_name(c.dtype)) + ", the round's dtype is " + dtype_name(u.dtype()));
      continue;
    }
    if (c.length != d) {
      reject(i, "wrong_length", std::to_string(c.length) + " elements, the round's d is " + std::to_string(d));
      continue;
    }
    if (c.data == nullptr) {
      reject(i, "missing_data", "");
      continue;
    }
    if (!in.num_samples.empty() && !(std::isfinite(in.num_samples[i]) && in.num_samples[i] > 0)) {
      reject(i, "invalid_num_samples", "num_samples " + std::to_string(in.num_samples[i]) + " is not finite and > 0");
      continue;
    }
    rows.push_back(i);
  }

  std::vector<const float*> references;
  policy::Policy::References roles;
  if (policy.uses_previous_aggregate() && !previous_aggregate.empty()) {
    FEDGUARD_EXPECTS(previous_aggregate.size() == d, "the engine holds a previous aggregate of d="
                                                         << previous_aggregate.size() << " but this round has d=" << d
                                                         << "; call reset_state() when the model changes");
    roles.previous_aggregate = references.size();
    references.push_back(previous_aggregate.data());
  }
  if (policy.uses_server_reference()) {
    FEDGUARD_EXPECTS(in.reference != nullptr, "rule '" << policy.server_reference_users()
                                                       << "' needs the server's reference update (RoundInput::reference,"
                                                       << " --reference), and this round has none");
    roles.server_reference = references.size();
    references.push_back(in.reference);
  }
  const policy::Policy::SubsetPlan subsets = policy.column_subsets(d, rounds);
  timer.mark("validate");

  // Pass 1.
  const std::size_t sketch_dim = policy.needs_sketch() ? config.sketch_dim : 0;
  backend::ScanRequest scan{&u,        rows, references, config.tile_columns, policy.needs_gram(), subsets.subsets,
                            sketch_dim, config.sketch_seed};
  const backend::ScanSummaries summaries = backend->scan(scan);
  timer.mark("pass1_scan");

  std::vector<std::size_t> alive;
  std::vector<double> sample_weight(rows.size(), 1.0);
  std::vector<double> norms(n, std::nan(""));
  for (std::size_t p = 0; p < rows.size(); ++p) {
    if (!summaries.finite[p]) {
      reject(rows[p], "non_finite", "");
      continue;
    }
    norms[rows[p]] = std::sqrt(summaries.norms_sq[p]);
    if (config.reject_all_zero && summaries.norms_sq[p] == 0) {
      reject(rows[p], "all_zero", "");
      continue;
    }
    if (!in.num_samples.empty()) sample_weight[p] = in.num_samples[rows[p]];
    alive.push_back(p);
  }
  FEDGUARD_EXPECTS(!alive.empty(), "no client left to aggregate: all " << n << " were rejected ("
                                                                       << count_list(rejected) << ")");

  // Clients' sketched histories including this round (history detectors), keyed by id.
  auto id_of = [&](std::size_t i) { return in.client_ids.empty() ? std::to_string(i) : in.client_ids[i]; };
  std::vector<double> history;
  if (sketch_dim > 0) {
    history.assign(summaries.sketch.begin(), summaries.sketch.end());
    for (std::size_t p = 0; p < rows.size(); ++p) {
      if (!summaries.finite[p]) continue;
      const auto it = state.clients.find(id_of(rows[p]));
      if (it != state.clients.end())
        for (std::size_t q = 0; q < sketch_dim; ++q) history[p * sketch_dim + q] += it->second.sketch_sum[q];
      pending.sketches.emplace_back(id_of(rows[p]), std::vector<double>(summaries.sketch.begin() + p * sketch_dim,
                                                                        summaries.sketch.begin() + (p + 1) * sketch_dim));
    }
    roles.history = &history;
    roles.sketch_dim = sketch_dim;
  }
  // What the engine remembers of each client, for the history detectors and the reputation.
  rules::ClientMemory memory;
  const bool keeps_memory = policy.needs_aggregate_history() || tracks_reputation();
  if (keeps_memory) {
    memory.sketch_dim = sketch_dim;
    memory.round_sketch = &summaries.sketch;
    memory.aggregate_sketches = &state.aggregate_sketches;
    for (std::size_t p = 0; p < rows.size(); ++p) {
      const auto it = state.clients.find(id_of(rows[p]));
      const engine::ClientHistory* h = it == state.clients.end() ? nullptr : &it->second;
      const bool was_there = h && rounds > 0 && h->last_round == rounds - 1 && h->last_sketch.size() == sketch_dim &&
                             sketch_dim > 0;
      memory.previous_sketch.push_back(was_there ? &h->last_sketch : nullptr);
      memory.suspicion.push_back(h ? &h->suspicion : nullptr);
      memory.reputation.push_back(h && h->has_reputation ? h->reputation : config.reputation.initial);
      memory.rounds_seen.push_back(h ? h->rounds_seen : 0);
    }
    roles.memory = &memory;
    if (sketch_dim == 0)
      for (std::size_t p = 0; p < rows.size(); ++p) pending.participants.push_back(id_of(rows[p]));
  }
  const policy::GramSpace space(summaries);
  policy::Decision decision = policy.decide(space, sample_weight, roles, subsets, rounds, alive, rejected, n);
  for (const auto& [p, window] : decision.suspicion) pending.suspicion[id_of(rows[p])] = window;
  timer.mark("decide");

  // Pass 2.
  result.aggregate.assign(d, 0.0f);
  result.linear = decision.linear;
  result.accepted.assign(n, 0);
  result.weights.assign(n, 0.0);
  for (std::size_t p = 0; p < rows.size(); ++p) result.accepted[rows[p]] = decision.accepted[p];
  if (decision.linear) {
    backend::LinearAggregateRequest req;
    req.updates = &u;
    req.tile_columns = config.tile_columns;
    for (std::size_t p = 0; p < rows.size(); ++p) {
      result.weights[rows[p]] = decision.coefficients[p];
      if (decision.coefficients[p] == 0) continue;
      req.rows.push_back(rows[p]);
      req.coefficients.push_back(decision.coefficients[p]);
    }
    req.references = references;
    for (std::size_t j = 0; j < references.size(); ++j)
      req.reference_coefficients.push_back(decision.coefficients[rows.size() + j]);
    result.reference_weights = decision.reference_weights;
    backend->aggregate_linear(req, result.aggregate.data());
    if (decision.noise_sigma > 0) {
      add_gaussian_noise(result.aggregate.data(), d, decision.noise_sigma, decision.noise_seed, config.threads);
      result.noise_sigma = decision.noise_sigma;
    }
  } else {
    const policy::Candidates& c = decision.final_candidates;
    backend::CoordinateAggregateRequest req;
    req.updates = &u;
    req.tile_columns = config.tile_columns;
    req.statistic = decision.statistic;
    req.param = decision.param;
    if (c.plain()) {
      for (std::size_t owner : c.owner) req.rows.push_back(rows[owner]);
    } else {
      // Only the source rows (and references) some mixed row draws on travel to pass 2.
      const std::size_t dim = space.dim(), m = c.size();
      std::vector<std::size_t> used;
      for (std::size_t j = 0; j < dim; ++j) {
        bool any = false;
        for (std::size_t q = 0; q < m && !any; ++q) any = c.coef[q * dim + j] != 0;
        if (any) used.push_back(j);
      }
      std::vector<std::size_t> row_cols, ref_cols;
      for (std::size_t j : used) (j < rows.size() ? row_cols : ref_cols).push_back(j);
      for (std::size_t j : row_cols) req.rows.push_back(rows[j]);
      for (std::size_t j : ref_cols) req.references.push_back(references[j - rows.size()]);
      req.mixed_rows = m;
      req.mix.reserve(m * used.size());
      for (std::size_t q = 0; q < m; ++q) {
        for (std::size_t j : row_cols) req.mix.push_back(c.coef[q * dim + j]);
        for (std::size_t j : ref_cols) req.mix.push_back(c.coef[q * dim + j]);
      }
    }
    std::size_t kept = 0;
    for (auto a : result.accepted) kept += a;
    for (std::size_t i = 0; i < n; ++i)
      if (result.accepted[i]) result.weights[i] = 1.0 / static_cast<double>(kept);
    backend->aggregate_coordinatewise(req, result.aggregate.data());
  }
  timer.mark("pass2_aggregate");

  if (policy.needs_aggregate_history()) {
    // The sketch of what the server applies this round (FLDetector's model-change history):
    // one more row through the same sketch as the updates, so the two are comparable exactly.
    const UpdateView one(result.aggregate.data(), 1, d, DType::kFloat32);
    backend::ScanRequest req{&one, {0}, {}, config.tile_columns, false, {}, sketch_dim, config.sketch_seed};
    pending.aggregate_sketch = backend->scan(req).sketch;
    timer.mark("aggregate_sketch");
  }
  if (tracks_reputation()) {
    // Evidence for the reputation: 0 when an input check (other than a duplicate id, which
    // would let anyone spoil another's reputation) or a detector rejected the client, 1 when
    // every detector judged and kept it; clients not judged by all keep their reputation.
    for (std::size_t i = 0; i < n; ++i) {
      const auto it = result.reasons.find(i);
      if (it != result.reasons.end() && it->second.rfind("duplicate_id", 0) != 0)
        pending.outcome[id_of(i)] = 0.0;
    }
    for (std::size_t p = 0; p < rows.size(); ++p) {
      if (!summaries.finite[p]) continue;
      const std::uint8_t o = decision.filter_outcome.empty() ? 2 : decision.filter_outcome[p];
      if (o == 0) pending.outcome[id_of(rows[p])] = 0.0;
      else if (o == 1) pending.outcome[id_of(rows[p])] = 1.0;
    }
    std::vector<double> reputation(n, std::nan(""));
    for (std::size_t i = 0; i < n; ++i) {
      const auto it = state.clients.find(id_of(i));
      double r = it != state.clients.end() && it->second.has_reputation ? it->second.reputation : config.reputation.initial;
      const auto o = pending.outcome.find(id_of(i));
      if (o != pending.outcome.end()) r = config.reputation.decay * r + (1 - config.reputation.decay) * o->second;
      reputation[i] = r;
    }
    result.scores["reputation"] = std::move(reputation);
  }

  result.scores["norm"] = norms;
  for (auto& [name, values] : decision.scores) {
    std::vector<double> full(n, std::nan(""));
    for (std::size_t p = 0; p < rows.size(); ++p) full[rows[p]] = values[p];
    result.scores[name] = std::move(full);
  }
  for (const auto& [p, text] : decision.reasons) result.reasons[rows[p]] = text;

  // Record: monitoring (docs/monitoring.md). Metrics from the result's summaries and one pass
  // over this and the previous aggregate; the detectors' new states wait in `pending`.
  if (config.monitoring.enabled) {
    for (const auto& [name, value] : in.server_metrics)
      FEDGUARD_EXPECTS(monitor::valid_metric_name(name), "server metric name '" << name << "' must match [a-z][a-z0-9_]* "
                                                                                << "(at most 64 characters)");
    std::vector<std::uint64_t> new_clients = monitor::new_client_hashes(state.monitor, in.client_ids, n);
    monitor::MetricContext context;
    context.client_ids = &in.client_ids;
    context.previous_aggregate = &state.previous_aggregate;
    context.new_clients = new_clients.size();
    context.server_metrics = &in.server_metrics;
    result.metrics = monitor::round_metrics(result, context);
    monitor::Observation observation = monitor::observe(config.monitoring, state.monitor, result.metrics, rounds);
    observation.new_clients = std::move(new_clients);
    result.alerts = observation.alerts;
    result.metrics_refused = observation.refused;
    pending.monitor = std::move(observation);
    timer.mark("monitor");
  }

  double total = 0;
  for (const auto& [stage, ms] : result.timings_ms) total += ms;
  result.timings_ms.emplace_back("total", total);
  return result;
}

Engine::Engine(EngineConfig config) {
  config.validate();
  impl_ = std::make_unique<Impl>(std::move(config));
}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

RoundResult Engine::process_round(const RoundInput& input) {
  RoundResult result;
  Impl::Pending pending;
  try {
    result = impl_->run(input, pending);
  } catch (const std::bad_alloc&) {
    FEDGUARD_THROW(kOutOfMemory, "out of host memory in a round of n=" << input.updates.rows() << ", d="
                                                                       << input.updates.cols() << " (tile_columns "
                                                                       << impl_->config.tile_columns << ")");
  }
  // Commit state only now: a round that threw above changed nothing.
  engine::EngineState& state = impl_->state;
  if (impl_->policy.uses_previous_aggregate() || pending.monitor) state.previous_aggregate = result.aggregate;
  if (pending.monitor) monitor::commit(state.monitor, std::move(*pending.monitor));
  const bool keep_last = impl_->policy.needs_aggregate_history();
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
  const ReputationSpec& rep = impl_->config.reputation;
  for (const auto& [id, o] : pending.outcome) {
    engine::ClientHistory& h = state.clients[id];
    const double before = h.has_reputation ? h.reputation : rep.initial;
    h.reputation = rep.decay * before + (1 - rep.decay) * o;
    h.has_reputation = true;
  }
  if (!pending.aggregate_sketch.empty()) {
    state.aggregate_sketches.push_back(std::move(pending.aggregate_sketch));
    if (state.aggregate_sketches.size() > rules::kAggregateHistory)
      state.aggregate_sketches.erase(state.aggregate_sketches.begin());
  }
  ++state.rounds;
  return result;
}

const EngineConfig& Engine::config() const { return impl_->config; }
std::string Engine::backend_name() const { return impl_->backend->name(); }
void Engine::reset_state() { impl_->state = engine::EngineState{}; }
std::size_t Engine::rounds_processed() const { return impl_->state.rounds; }
std::size_t Engine::clients_known() const { return impl_->state.clients.size(); }

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
  return monitor::prometheus_text(result.metrics, result.alerts, impl_->config.monitoring, impl_->state.monitor,
                                  rounds > 0 ? rounds - 1 : 0);
}

std::string version() { return FEDGUARD_VERSION; }

std::vector<std::string> rule_names() { return rules::rule_names(); }

std::vector<std::string> backends_built() {
#ifdef FEDGUARD_HAS_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

}  // namespace fedguard
