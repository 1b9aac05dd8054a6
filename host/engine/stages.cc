#include "engine/stages.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "common/gaussian_noise.h"
#include "detection/detector.h"
#include "detection/response.h"
#include "fedguard/error.h"
#include "geometry/gram_space.h"
#include "monitor/metrics.h"

namespace fedguard::engine {
namespace {

std::string count_list(const std::map<std::string, std::size_t>& counts) {
  std::string s;
  for (const auto& [reason, count] : counts)
    if (count) s += (s.empty() ? "" : ", ") + reason + " " + std::to_string(count);
  return s;
}

// The per-client sketch is kept when a rule reads it or one of the detection stage's history
// signals is on.
std::size_t sketch_dim_of(const EngineView& e) {
  const bool history =
      e.config.detection.enabled &&
      (e.config.detection.history > 0 || e.config.detection.history_direction > 0 ||
       e.config.detection.history_group > 0 || e.config.detection.history_response > 0);
  return e.policy.needs(rules::kSketch) || history ? e.config.sketch_dim : 0;
}

const engine::ClientHistory* history_of(const EngineView& e, const std::string& id) {
  const auto it = e.state.clients.find(id);
  return it == e.state.clients.end() ? nullptr : &it->second;
}

// Rows whose id appeared earlier in the round: duplicates are decided by id order alone,
// before any content check (the first update under an id is that client's).
// With client verification the verify stage decides instead: only a verified update claims an
// id for the round (a forged copy sent first must not block the genuine one).
std::vector<std::size_t> first_rows_of_ids(const EngineView& e, const RoundInput& in,
                                           std::size_t n) {
  std::unordered_map<std::string, std::size_t> first_with_id;
  std::vector<std::size_t> duplicate_of(n, n);
  for (std::size_t i = 0; i < (e.verifies ? 0 : in.client_ids.size()); ++i) {
    const auto [it, inserted] = first_with_id.emplace(in.client_ids[i], i);
    if (inserted) continue;
    FEDGUARD_EXPECTS(e.config.duplicate_ids != DuplicateIdPolicy::kError,
                     "duplicate client id '" << in.client_ids[i] << "' at indices " << it->second
                                             << " and " << i);
    duplicate_of[i] = it->second;
  }
  return duplicate_of;
}

}  // namespace

void RoundWork::reject(std::size_t row, ReasonCode code, std::string detail, std::string rule,
                       std::map<std::string, double> values) {
  Rejection r;
  r.client = row;
  r.id = row < result.client_ids.size() ? result.client_ids[row] : std::to_string(row);
  r.code = code;
  r.stage = reason_code_stage(code);
  r.rule = std::move(rule);
  r.detail = std::move(detail);
  r.values = std::move(values);
  ++rejected_counts[r.rule.empty() || code == ReasonCode::kVote ? reason_code_name(code) : r.rule];
  result.rejections.push_back(std::move(r));
}

double updated_reputation(double before, double outcome, const ReputationSpec& spec) {
  return spec.decay * before + (1 - spec.decay) * outcome;
}

void validate_stage(const EngineView& e, RoundWork& w) {
  const RoundInput& in = w.in;
  const UpdateView& u = in.updates;
  const std::size_t n = u.rows(), d = u.cols();
  FEDGUARD_EXPECTS(n > 0, "round has no updates (n = 0)");
  FEDGUARD_EXPECTS(d > 0, "updates have zero length (d = 0)");
  FEDGUARD_EXPECTS(in.client_ids.empty() || in.client_ids.size() == n,
                   "got " << in.client_ids.size() << " client ids for n=" << n << " updates");
  FEDGUARD_EXPECTS(in.num_samples.empty() || in.num_samples.size() == n,
                   "got " << in.num_samples.size() << " num_samples for n=" << n << " updates");
  if (!e.backend.reads(u.location()))
    FEDGUARD_THROW(kUnsupported, "updates are in "
                                     << (u.location().kind == MemoryKind::kCuda ? "CUDA" : "host")
                                     << " memory but the backend is " << e.backend.name());
  w.n = w.result.n = n;
  w.d = w.result.d = d;
  check_model_dim(e.state, d);  // histories of another model size: an error, no state change
  w.pending.model_dim = d;
  w.result.client_ids = in.client_ids;
  if (w.result.client_ids.empty())
    for (std::size_t i = 0; i < n; ++i) w.result.client_ids.push_back(std::to_string(i));

  const std::vector<std::size_t> duplicate_of = first_rows_of_ids(e, in, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (duplicate_of[i] < n) {
      w.reject(i, ReasonCode::kDuplicateId,
               "same id '" + in.client_ids[i] + "' as client " + std::to_string(duplicate_of[i]));
      continue;
    }
    const ClientUpdate& c = u.client(i);
    if (c.dtype != u.dtype()) {
      w.reject(
          i, ReasonCode::kWrongDtype,
          std::string(dtype_name(c.dtype)) + ", the round's dtype is " + dtype_name(u.dtype()));
    } else if (c.length != d) {
      w.reject(i, ReasonCode::kWrongLength,
               std::to_string(c.length) + " elements, the round's d is " + std::to_string(d));
    } else if (c.data == nullptr) {
      w.reject(i, ReasonCode::kMissingData, "");
    } else if (!in.num_samples.empty() &&
               !(std::isfinite(in.num_samples[i]) && in.num_samples[i] > 0)) {
      w.reject(i, ReasonCode::kInvalidNumSamples,
               "num_samples " + std::to_string(in.num_samples[i]) + " is not finite and > 0", {},
               {{"num_samples", in.num_samples[i]}});
    } else {
      w.rows.push_back(i);
    }
  }
}

void scan_stage(const EngineView& e, RoundWork& w) {
  const std::vector<float>& previous_aggregate = e.state.previous_aggregate;
  if (e.policy.needs(rules::kPreviousAggregate) && !previous_aggregate.empty()) {
    FEDGUARD_EXPECTS(previous_aggregate.size() == w.d,
                     "the engine holds a previous aggregate of d="
                         << previous_aggregate.size() << " but this round has d=" << w.d
                         << "; call reset_state() when the model changes");
    w.roles.previous_aggregate = w.references.size();
    w.references.push_back(previous_aggregate.data());
  }
  if (e.policy.needs(rules::kServerReference)) {
    FEDGUARD_EXPECTS(w.in.reference != nullptr,
                     "rule '" << e.policy.server_reference_users()
                              << "' needs the server's reference update (RoundInput::reference,"
                              << " --reference), and this round has none");
    w.roles.server_reference = w.references.size();
    w.references.push_back(w.in.reference);
  }
  w.subsets = e.policy.column_subsets(w.d, e.state.rounds);
  const std::size_t sketch_dim = sketch_dim_of(e);
  const bool gram = e.policy.needs(rules::kGram) || e.config.detection.enabled;
  backend::ScanRequest scan{
      &w.in.updates,     w.rows,     w.references,        e.config.tile_columns, gram,
      w.subsets.subsets, sketch_dim, e.config.sketch_seed};
  // A policy whose pass 2 is a column statistic decided by the clients' count alone (median,
  // trimmed mean, no filter, no detection) reads the updates once: pass 1 computes the
  // statistic over every row as well, on the bet that the round keeps them all (it does unless
  // a client sent a NaN, an Inf or all zeros). The aggregate stage uses it only when the plan
  // asks for exactly that; otherwise pass 2 runs as usual.
  const auto forecast = e.backend.reads_once_for_statistic(w.rows.size(), w.d) && !gram &&
                                sketch_dim == 0 && w.references.empty() &&
                                w.subsets.subsets.empty() && !w.rows.empty()
                            ? e.policy.forecast_statistic(w.rows.size())
                            : std::nullopt;
  if (forecast) {
    RoundWork::Speculation& sp = w.speculation;
    sp.statistic = forecast->statistic;
    sp.param = forecast->param;
    sp.aggregate.resize(w.d);
    backend::ScanWithStatistic fused =
        e.backend.scan_with_statistic(scan, sp.statistic, sp.param, sp.aggregate.data());
    w.summaries = std::move(fused.summaries);
    sp.done = fused.statistic;
    if (!sp.done) sp.aggregate = {};
  } else {
    w.summaries = e.backend.scan(scan);
  }

  w.sample_weight.assign(w.rows.size(), 1.0);
  for (std::size_t p = 0; p < w.rows.size(); ++p) {
    if (!w.summaries.finite[p]) {
      w.reject(w.rows[p], ReasonCode::kNonFinite, "");
      continue;
    }
    if (e.config.reject_all_zero && w.summaries.norms_sq[p] == 0) {
      w.reject(w.rows[p], ReasonCode::kAllZero, "");
      continue;
    }
    if (!w.in.num_samples.empty()) w.sample_weight[p] = w.in.num_samples[w.rows[p]];
    w.alive.push_back(p);
  }
  FEDGUARD_EXPECTS(!w.alive.empty(), "no client left to aggregate: all "
                                         << w.n << " were rejected ("
                                         << count_list(w.rejected_counts) << ")");
}

void recall_stage(const EngineView& e, RoundWork& w) {
  const std::size_t sketch_dim = sketch_dim_of(e);
  const auto& ids = w.result.client_ids;
  if (sketch_dim > 0) {  // cumulative sketched histories including this round, by id
    w.history.assign(w.summaries.sketch.begin(), w.summaries.sketch.end());
    for (std::size_t p = 0; p < w.rows.size(); ++p) {
      if (!w.summaries.finite[p]) continue;
      if (const ClientHistory* h = history_of(e, ids[w.rows[p]]))
        for (std::size_t q = 0; q < sketch_dim; ++q)
          w.history[p * sketch_dim + q] += h->sketch_sum[q];
      const auto first = w.summaries.sketch.begin() + static_cast<std::ptrdiff_t>(p * sketch_dim);
      w.pending.sketches.emplace_back(ids[w.rows[p]],
                                      std::vector<double>(first, first + sketch_dim));
    }
    w.roles.history = &w.history;
    w.roles.sketch_dim = sketch_dim;
  }
  if (!e.policy.needs(rules::kAggregateSketches) && !e.tracks_reputation) return;
  const std::uint64_t rounds = e.state.rounds;
  rules::ClientMemory& memory = w.memory;
  memory.sketch_dim = sketch_dim;
  memory.round_sketch = &w.summaries.sketch;
  memory.aggregate_sketches = &e.state.aggregate_sketches;
  for (std::size_t p = 0; p < w.rows.size(); ++p) {
    const ClientHistory* h = history_of(e, ids[w.rows[p]]);
    const bool was_there = h && rounds > 0 && h->last_round == rounds - 1 &&
                           h->last_sketch.size() == sketch_dim && sketch_dim > 0;
    memory.previous_sketch.push_back(was_there ? &h->last_sketch : nullptr);
    memory.suspicion.push_back(h ? &h->suspicion : nullptr);
    memory.reputation.push_back(h && h->has_reputation ? h->reputation
                                                       : e.config.reputation.initial);
    memory.rounds_seen.push_back(h ? h->rounds_seen : 0);
  }
  w.roles.memory = &memory;
  if (sketch_dim == 0)
    for (std::size_t p = 0; p < w.rows.size(); ++p)
      w.pending.participants.push_back(ids[w.rows[p]]);
}

namespace {

// The response signal's input (detection/response.h): for each alive client seen within
// kResponseMaxGap rounds, the cosine between the change of its sketch since then and the model's
// movement in between, taken as the sum over those rounds of the mean sketch of the clients each
// accepted, the client itself left out of its own round's mean (so that a client's answer does
// not depend on whether it was in the aggregate: a rejected or trimmed client would otherwise
// lack the negative term its own contribution adds); z'd over the round, then its mean z over
// its rounds, this one included. A client without a response this round keeps its earlier
// mean. The new z's wait in pending until the commit.
void response_input(const EngineView& e, RoundWork& w, detection::HistoryInput& history) {
  const std::size_t k = w.roles.sketch_dim, m = w.alive.size();
  const auto& past = e.state.response_window;
  const std::uint64_t now = e.state.rounds;
  std::vector<double> cosines(m, std::nan("")), change(k);
  std::vector<const ClientHistory*> seen(m, nullptr);
  for (std::size_t a = 0; a < m; ++a) {
    const std::size_t p = w.alive[a];
    const ClientHistory* h = history_of(e, w.result.client_ids[w.rows[p]]);
    seen[a] = h;
    if (!h || h->rounds_seen == 0 || h->last_sketch.size() != k || h->last_round >= now) continue;
    const std::uint64_t gap = now - h->last_round;
    if (gap > detection::kResponseMaxGap || gap > past.size()) continue;
    std::fill(change.begin(), change.end(), 0.0);
    for (std::size_t b = past.size() - gap; b < past.size(); ++b) {
      const ResponseRound& r = past[b];
      const bool self = b == past.size() - gap && h->last_accepted;
      if (r.accepted_sum.size() != k || r.accepted <= (self ? 1u : 0u)) continue;
      const std::uint64_t others = r.accepted - (self ? 1 : 0);
      const double inv = 1.0 / static_cast<double>(others);
      for (std::size_t q = 0; q < k; ++q)
        change[q] += (r.accepted_sum[q] - (self ? h->last_sketch[q] : 0.0)) * inv;
    }
    cosines[a] = detection::response_cosine(w.summaries.sketch.data() + p * k,
                                            h->last_sketch.data(), change.data(), k);
  }
  const std::vector<double> z = detection::round_response_z(cosines);
  history.response.assign(m, std::nan(""));
  history.response_rounds.assign(m, 0);
  for (std::size_t a = 0; a < m; ++a) {
    const ClientHistory* h = seen[a];
    double sum = h ? h->response_sum : 0.0;
    std::uint64_t rounds = h ? h->response_rounds : 0;
    if (std::isfinite(z[a])) {
      sum += z[a];
      ++rounds;
      w.pending.response[w.result.client_ids[w.rows[w.alive[a]]]] = z[a];
    }
    history.response_rounds[a] = rounds;
    if (rounds >= detection::kResponseMinRounds)
      history.response[a] = sum / static_cast<double>(rounds);
  }
}

// Ids of the alive clients (the smaller first) for a pair of alive indices.
std::pair<std::string, std::string> pair_ids(const RoundWork& w, std::size_t a, std::size_t b) {
  const std::string& x = w.result.client_ids[w.rows[w.alive[a]]];
  const std::string& y = w.result.client_ids[w.rows[w.alive[b]]];
  return x < y ? std::pair{x, y} : std::pair{y, x};
}

// Alive index by client id; ids that occur twice are left out (no pair is judged on them).
std::map<std::string, std::size_t> alive_by_id(const RoundWork& w) {
  std::map<std::string, std::size_t> at;
  std::set<std::string> twice;
  for (std::size_t a = 0; a < w.alive.size(); ++a)
    if (!at.emplace(w.result.client_ids[w.rows[w.alive[a]]], a).second)
      twice.insert(w.result.client_ids[w.rows[w.alive[a]]]);
  for (const std::string& id : twice) at.erase(id);
  return at;
}

// The followed pairs whose clients are both in the round (detection/pair_persistence.h): this
// round's difference added (the new tracks wait in pending until the commit), then judged.
void followed_pairs_input(const EngineView& e, RoundWork& w, detection::HistoryInput& history) {
  if (e.state.followed_pairs.empty()) return;
  const std::size_t k = history.k;
  const std::map<std::string, std::size_t> at = alive_by_id(w);
  for (const auto& [ids, track] : e.state.followed_pairs) {
    const auto x = at.find(ids.first), y = at.find(ids.second);
    if (x == at.end() || y == at.end()) continue;
    detection::PairTrack next = track;
    const double* sx = w.summaries.sketch.data() + w.alive[x->second] * k;
    const double* sy = w.summaries.sketch.data() + w.alive[y->second] * k;
    if (!detection::add_pair_round(next, sx, sy, k)) {  // a sum past float64: follow afresh
      w.pending.pairs_dropped.insert(ids);
      continue;
    }
    detection::HistoryInput::Pair p;
    p.a = std::min(x->second, y->second);
    p.b = std::max(x->second, y->second);
    p.persistence = detection::pair_persistence(next);
    p.cut = detection::pair_persistence_cut(next);
    p.rounds = next.rounds;
    p.persistent = detection::pair_is_persistent(next);
    history.pairs.push_back(p);
    w.pending.pair_tracks[ids] = std::move(next);
  }
}

// After the history signal: pairs within the follow distance are followed from the next round
// (the nearest first, up to kMaxFollowedPairs); followed pairs whose clients were both judged
// and are no longer within it are dropped, and those with a client absent for
// kPairMaxAbsence rounds. Where histories converge nearly every pair is within the distance
// (5e5 candidates at 1,000 clients): detect() hands over only the nearest that can be followed,
// and whether each followed pair stays within it, so no candidate list is turned into ids whole.
void follow_close_pairs(const EngineView& e, RoundWork& w, const detection::HistoryInput& history,
                        const detection::DetectionOutcome& found) {
  std::set<std::pair<std::string, std::string>> close;  // the followed pairs still within it
  for (std::size_t q = 0; q < history.pairs.size(); ++q)
    if (found.followed_close[q]) close.insert(pair_ids(w, history.pairs[q].a, history.pairs[q].b));
  const std::map<std::string, std::size_t> at = alive_by_id(w);
  const auto judged = [&](const std::string& id) {
    const auto it = at.find(id);
    return it != at.end() && history.rounds[it->second] >= detection::kHistoryMinRounds;
  };
  const auto gone = [&](const std::string& id) {  // absent for kPairMaxAbsence rounds, or forgotten
    const ClientHistory* h = history_of(e, id);
    return !at.count(id) && (!h || h->last_round + detection::kPairMaxAbsence <= e.state.rounds);
  };
  for (const auto& [ids, track] : e.state.followed_pairs)
    if ((judged(ids.first) && judged(ids.second) && !close.count(ids)) || gone(ids.first) ||
        gone(ids.second))
      w.pending.pairs_dropped.insert(ids);
  std::size_t followed = e.state.followed_pairs.size() - w.pending.pairs_dropped.size();
  for (const auto& [distance, pair] : found.history_close) {
    if (followed >= detection::kMaxFollowedPairs) break;
    std::pair<std::string, std::string> ids = pair_ids(w, pair.first, pair.second);
    if (ids.first == ids.second || e.state.followed_pairs.count(ids) || !at.count(ids.first) ||
        !at.count(ids.second))
      continue;
    w.pending.pairs_new.push_back(std::move(ids));
    ++followed;
  }
}

}  // namespace

void detect_stage(const EngineView& e, RoundWork& w) {
  const geometry::GramSpace& space = w.space();
  detection::HistoryInput history;
  if (!w.history
           .empty()) {  // the cumulative sketches of the alive positions, and the rounds they cover
    history.k = w.roles.sketch_dim;
    w.detect_history.resize(w.alive.size() * history.k);
    for (std::size_t a = 0; a < w.alive.size(); ++a) {
      std::copy_n(w.history.begin() + static_cast<std::ptrdiff_t>(w.alive[a] * history.k),
                  history.k, w.detect_history.begin() + static_cast<std::ptrdiff_t>(a * history.k));
      const ClientHistory* h = history_of(e, w.result.client_ids[w.rows[w.alive[a]]]);
      history.rounds.push_back((h && !h->sketch_sum.empty() ? h->rounds_seen : 0) + 1);
    }
    history.sketches = &w.detect_history;
  }
  const DetectionSpec& spec = e.config.detection;
  if (spec.baseline_rate > 0) {  // each client's own habit, from the rounds it was accepted
    // Clamped by side: the norm's upper side at baseline_cap, its lower side and the sign
    // balance's two at their own, wider caps (config.h says why).
    const auto own = [&spec](const SignalBaseline& b, double cap_low, double cap_high) {
      if (static_cast<double>(b.rounds) < spec.baseline_min_rounds) return 0.0;
      return std::clamp(b.mean(), -cap_low, cap_high);
    };
    history.norm_baseline.assign(w.alive.size(), 0.0);
    history.sign_baseline.assign(w.alive.size(), 0.0);
    for (std::size_t a = 0; a < w.alive.size(); ++a) {
      const ClientHistory* h = history_of(e, w.result.client_ids[w.rows[w.alive[a]]]);
      if (!h || h->accepted_share.rounds == 0 ||
          h->accepted_share.mean() < spec.baseline_min_accepted)
        continue;
      history.norm_baseline[a] =
          own(h->norm_baseline, spec.baseline_cap_norm_low, spec.baseline_cap);
      history.sign_baseline[a] =
          own(h->sign_baseline, spec.baseline_cap_sign, spec.baseline_cap_sign);
    }
  }
  if (tracks_response(e.config) && w.roles.sketch_dim > 0) response_input(e, w, history);
  if (spec.history > 0 && history.sketches) {
    followed_pairs_input(e, w, history);
    // follow_close_pairs takes at most the free places plus the candidates it skips as already
    // followed; with an id sent twice it would skip more, and detect() then keeps them all.
    if (alive_by_id(w).size() == w.alive.size())
      history.max_close = detection::kMaxFollowedPairs + e.state.followed_pairs.size();
  }
  detection::DetectionOutcome found = detection::detect(
      e.config.detection, space, w.alive, w.d, history, e.config.threads, e.detection_workspace);
  if (found.history_ran) follow_close_pairs(e, w, history, found);
  std::vector<std::uint8_t> rejected(w.alive.size(), 0);
  w.detected = found.findings.size();
  w.baseline_widened = found.baseline_widened;
  w.baseline_spared = found.baseline_spared;
  w.norm_loners = found.norm_loners;
  w.builds_baseline.assign(w.rows.size(), 0);
  for (detection::Finding& f : found.findings) {
    rejected[f.index] = 1;
    w.builds_baseline[w.alive[f.index]] = f.builds_baseline;
    w.reject(w.rows[w.alive[f.index]], f.code, std::move(f.detail), "detection",
             std::move(f.values));
  }
  for (auto& [name, z] : found.scores) {
    std::vector<double> by_position(w.rows.size(), std::nan(""));
    for (std::size_t a = 0; a < w.alive.size(); ++a) by_position[w.alive[a]] = z[a];
    w.decision.scores[name] = std::move(by_position);
  }
  for (auto& note : found.notes) w.result.notes.push_back(std::move(note));
  std::vector<std::size_t> kept;
  for (std::size_t a = 0; a < w.alive.size(); ++a)
    if (!rejected[a]) kept.push_back(w.alive[a]);
  w.alive = std::move(kept);
}

void decide_stage(const EngineView& e, RoundWork& w) {
  const geometry::GramSpace& space = w.space();
  std::map<std::string, std::vector<double>> detection_scores = std::move(w.decision.scores);
  w.roles.threads = e.config.threads;
  if (e.config.preset.name.empty()) {
    w.decision = e.policy.decide(space, w.sample_weight, w.roles, w.subsets, e.state.rounds,
                                 w.alive, w.rejected_counts, w.n);
  } else {
    std::string note;
    const policy::Policy round_policy(e.config.for_round(w.n, w.alive.size(), &note, w.detected));
    if (!note.empty()) w.result.notes.push_back(note);
    w.decision = round_policy.decide(space, w.sample_weight, w.roles, w.subsets, e.state.rounds,
                                     w.alive, w.rejected_counts, w.n);
  }
  for (auto& [name, values] : detection_scores) w.decision.scores[name] = std::move(values);
  for (const auto& [p, window] : w.decision.suspicion)
    w.pending.suspicion[w.result.client_ids[w.rows[p]]] = window;
  for (const auto& [p, r] : w.decision.rejections)
    w.reject(w.rows[p], r.code, r.detail, r.rule, r.values);
}

namespace {

void aggregate_linear(const EngineView& e, RoundWork& w) {
  const policy::Decision& decision = w.decision;
  RoundResult& result = w.result;
  backend::LinearAggregateRequest req;
  req.updates = &w.in.updates;
  req.tile_columns = e.config.tile_columns;
  for (std::size_t p = 0; p < w.rows.size(); ++p) {
    result.weights[w.rows[p]] = decision.coefficients[p];
    if (decision.coefficients[p] == 0) continue;
    req.rows.push_back(w.rows[p]);
    req.coefficients.push_back(decision.coefficients[p]);
  }
  req.references = w.references;
  for (std::size_t j = 0; j < w.references.size(); ++j)
    req.reference_coefficients.push_back(decision.coefficients[w.rows.size() + j]);
  result.reference_weights = decision.reference_weights;
  e.backend.aggregate_linear(req, result.aggregate.data());
  if (decision.noise_sigma > 0) {
    add_gaussian_noise(result.aggregate.data(), w.d, decision.noise_sigma, decision.noise_seed,
                       e.config.threads);
    result.noise_sigma = decision.noise_sigma;
  }
}

void aggregate_coordinatewise(const EngineView& e, RoundWork& w) {
  const geometry::Candidates& c = w.decision.final_candidates;
  backend::CoordinateAggregateRequest req;
  req.updates = &w.in.updates;
  req.tile_columns = e.config.tile_columns;
  req.statistic = w.decision.statistic;
  req.param = w.decision.param;
  if (c.plain()) {
    for (std::size_t owner : c.owner) req.rows.push_back(w.rows[owner]);
  } else {
    // Only the source rows (and references) some mixed row draws on travel to pass 2.
    const std::size_t dim = w.rows.size() + w.references.size(), m = c.size();
    std::vector<std::size_t> row_cols, ref_cols;
    for (std::size_t j = 0; j < dim; ++j) {
      bool any = false;
      for (std::size_t q = 0; q < m && !any; ++q) any = c.coef[q * dim + j] != 0;
      if (any) (j < w.rows.size() ? row_cols : ref_cols).push_back(j);
    }
    for (std::size_t j : row_cols) req.rows.push_back(w.rows[j]);
    for (std::size_t j : ref_cols) req.references.push_back(w.references[j - w.rows.size()]);
    req.mixed_rows = m;
    req.mix.reserve(m * (row_cols.size() + ref_cols.size()));
    for (std::size_t q = 0; q < m; ++q) {
      for (std::size_t j : row_cols) req.mix.push_back(c.coef[q * dim + j]);
      for (std::size_t j : ref_cols) req.mix.push_back(c.coef[q * dim + j]);
    }
  }
  std::size_t kept = 0;
  for (auto a : w.result.accepted) kept += a;
  for (std::size_t i = 0; i < w.n; ++i)
    if (w.result.accepted[i]) w.result.weights[i] = 1.0 / static_cast<double>(kept);
  // Pass 1 computed it already (scan_stage) when the plan asks for exactly its rows.
  RoundWork::Speculation& sp = w.speculation;
  if (sp.done && req.mix.empty() && req.references.empty() && req.rows == w.rows &&
      req.statistic == sp.statistic && req.param == sp.param) {
    w.result.aggregate = std::move(sp.aggregate);
    return;
  }
  // Dropped before the aggregate is allocated: at d = 1e8 each is 400 MB.
  std::vector<float>().swap(sp.aggregate);
  w.result.aggregate.assign(w.d, 0.0f);
  // CPU fallback (issue #16): a column statistic over more rows than the backend's kernels
  // take (CUDA's shared-memory bound, tens of thousands of rows) runs on the CPU backend when
  // the rows are in host memory; device-resident rows get the backend's kUnsupported error.
  if (backend::statistic_rows(req) > e.backend.max_statistic_rows(req.statistic) &&
      w.in.updates.location().kind == MemoryKind::kHost)
    backend::make_cpu_backend(e.config.threads)
        ->aggregate_coordinatewise(req, w.result.aggregate.data());
  else
    e.backend.aggregate_coordinatewise(req, w.result.aggregate.data());
}

}  // namespace

void aggregate_stage(const EngineView& e, RoundWork& w) {
  RoundResult& result = w.result;
  result.linear = w.decision.linear;
  result.accepted.assign(w.n, 0);
  result.weights.assign(w.n, 0.0);
  for (std::size_t p = 0; p < w.rows.size(); ++p)
    result.accepted[w.rows[p]] = w.decision.accepted[p];
  if (w.decision.linear) {
    std::vector<float>().swap(w.speculation.aggregate);
    result.aggregate.assign(w.d, 0.0f);
    aggregate_linear(e, w);
  } else {  // allocates the aggregate, or takes pass 1's
    aggregate_coordinatewise(e, w);
  }
}

namespace {

// Evidence for the reputation: 0 when an input check (other than a duplicate id or a failed
// verification, which would let anyone spoil another's reputation by sending under its id),
// the detection stage or a filter rejected the client, 1 when every filter judged and kept it;
// clients not judged by all keep theirs.
void reputation_evidence(const EngineView& e, RoundWork& w) {
  const auto& ids = w.result.client_ids;
  for (const Rejection& r : w.result.rejections) {
    const bool evidence =
        r.stage == Stage::kValidate || r.stage == Stage::kScan || r.stage == Stage::kDetect;
    if (evidence && r.code != ReasonCode::kDuplicateId) w.pending.outcome[r.id] = 0.0;
  }
  for (std::size_t p = 0; p < w.rows.size(); ++p) {
    if (!w.summaries.finite[p]) continue;
    const std::uint8_t o = w.decision.filter_outcome.empty() ? 2 : w.decision.filter_outcome[p];
    if (o == 0)
      w.pending.outcome[ids[w.rows[p]]] = 0.0;
    else if (o == 1 && !w.pending.outcome.count(ids[w.rows[p]]))
      w.pending.outcome[ids[w.rows[p]]] = 1.0;
  }
  std::vector<double> reputation(w.n, std::nan(""));
  for (std::size_t i = 0; i < w.n; ++i) {
    const ClientHistory* h = history_of(e, ids[i]);
    double r = h && h->has_reputation ? h->reputation : e.config.reputation.initial;
    const auto o = w.pending.outcome.find(ids[i]);
    if (o != w.pending.outcome.end()) r = updated_reputation(r, o->second, e.config.reputation);
    reputation[i] = r;
  }
  w.result.scores["reputation"] = std::move(reputation);
}

// Evidence for the own baselines: every scanned client's outcome, and the norm and sign z of
// those the round accepted. A client any stage rejected adds no z, so an attacker caught from
// its first round never builds a habit; but a round in which the norm's lower tail alone
// rejected it counts as accepted, with its norm z (its sign z was not measured): a small update
// buys no influence, and a client whose data makes it small from its first round would
// otherwise never build the habit that excuses it (docs/detection.md, "Small from the start");
// with baseline_sign_only, a round the sign balance alone rejected too (on by default).
// (A duplicate id is rejected before the scan: nobody spoils another's share by sending under
// its id.)
void baseline_evidence(const EngineView& e, RoundWork& w) {
  const auto norm_z = w.decision.scores.find("detect_norm");
  const auto sign_z = w.decision.scores.find("detect_sign");
  const double none = std::nan("");
  for (std::size_t p = 0; p < w.rows.size(); ++p) {
    Pending::BaselineEvidence& ev = w.pending.baseline[w.result.client_ids[w.rows[p]]];
    ev.accepted =
        w.decision.accepted[p] != 0 || (p < w.builds_baseline.size() && w.builds_baseline[p] != 0);
    ev.norm_z = ev.accepted && norm_z != w.decision.scores.end() ? norm_z->second[p] : none;
    ev.sign_z = ev.accepted && sign_z != w.decision.scores.end() ? sign_z->second[p] : none;
  }
}

}  // namespace

bool tracks_response(const EngineConfig& config) {
  return config.detection.enabled && config.detection.history_response > 0 && config.sketch_dim > 0;
}

void record_stage(const EngineView& e, RoundWork& w) {
  RoundResult& result = w.result;
  if (e.policy.needs(rules::kAggregateSketches)) {
    // The sketch of what the server applies this round (FLDetector's model-change history):
    // one more row through the same sketch as the updates, so the two are comparable exactly.
    const UpdateView one(result.aggregate.data(), 1, w.d, DType::kFloat32);
    const std::size_t sketch_dim = sketch_dim_of(e);
    backend::ScanRequest req{&one,  {0}, {},         e.config.tile_columns,
                             false, {},  sketch_dim, e.config.sketch_seed};
    w.pending.aggregate_sketch = e.backend.scan(req).sketch;
  }
  if (tracks_response(e.config) && w.roles.sketch_dim > 0) {
    // The response window's entry: the accepted clients' sketches summed (in position order).
    const std::size_t k = w.roles.sketch_dim;
    ResponseRound round;
    round.accepted_sum.assign(k, 0.0);
    for (std::size_t p = 0; p < w.rows.size(); ++p) {
      if (!w.summaries.finite[p]) continue;
      const bool accepted = w.decision.accepted[p] != 0;
      w.pending.accepted_now[w.result.client_ids[w.rows[p]]] = accepted;
      if (!accepted) continue;
      ++round.accepted;
      for (std::size_t q = 0; q < k; ++q) round.accepted_sum[q] += w.summaries.sketch[p * k + q];
    }
    w.pending.response_round = std::move(round);
  }
  if (e.tracks_reputation) reputation_evidence(e, w);
  if (e.config.detection.enabled && e.config.detection.baseline_rate > 0) baseline_evidence(e, w);

  std::vector<double> norms(w.n, std::nan(""));
  for (std::size_t p = 0; p < w.rows.size(); ++p)
    if (w.summaries.finite[p]) norms[w.rows[p]] = std::sqrt(w.summaries.norms_sq[p]);
  result.scores["norm"] = std::move(norms);
  for (auto& [name, values] : w.decision.scores) {
    std::vector<double> full(w.n, std::nan(""));
    for (std::size_t p = 0; p < w.rows.size(); ++p) full[w.rows[p]] = values[p];
    result.scores[name] = std::move(full);
  }
  std::sort(result.rejections.begin(), result.rejections.end(),
            [](const Rejection& a, const Rejection& b) { return a.client < b.client; });
  for (const Rejection& r : result.rejections) result.reasons[r.client] = r.legacy_text();
}

void record_monitoring(const EngineView& e, RoundWork& w) {
  RoundResult& result = w.result;
  for (const auto& [name, value] : w.in.server_metrics)
    FEDGUARD_EXPECTS(
        monitor::valid_metric_name(name),
        "server metric name '" << name << "' must match [a-z][a-z0-9_]* (at most 64 characters)");
  std::vector<std::uint64_t> new_clients =
      monitor::new_client_hashes(e.state.monitor, result.client_ids, w.n);
  std::map<std::string, double> rejected_by;  // by reason code, and by rule where one decided
  for (const Rejection& r : result.rejections) {
    rejected_by[reason_code_name(r.code)] += 1;
    if (!r.rule.empty()) rejected_by["rule_" + r.rule] += 1;
  }
  monitor::MetricContext context;
  context.client_ids = &result.client_ids;
  context.previous_aggregate = &e.state.previous_aggregate;
  context.new_clients = new_clients.size();
  context.server_metrics = &w.in.server_metrics;
  context.rejected_by = &rejected_by;
  context.threads = e.config.threads;
  context.team_warm = e.backend.last_pass_threads() > 1;
  // The pass over the aggregate also writes the state's copy of it, into the engine's spare
  // buffer, which the commit swaps in: the aggregate is read once, and a round that fails
  // leaves the state's previous aggregate as it was.
  if (e.aggregate_spare) {
    e.aggregate_spare->resize(w.d);
    context.aggregate_copy = e.aggregate_spare->data();
  }
  result.metrics = monitor::round_metrics(result, context);
  w.pending.aggregate_in_spare = e.aggregate_spare != nullptr;
  if (e.config.detection.enabled && e.config.detection.baseline_rate > 0) {  // docs/detection.md
    result.metrics["detect_baseline_widened"] = static_cast<double>(w.baseline_widened);
    result.metrics["detect_baseline_spared"] = static_cast<double>(w.baseline_spared);
  }
  if (e.config.detection.enabled && e.config.detection.loner_norm_cap)
    result.metrics["detect_norm_loners"] = static_cast<double>(w.norm_loners);
  monitor::Observation observation =
      monitor::observe(e.config.monitoring, e.state.monitor, result.metrics, e.state.rounds);
  observation.new_clients = std::move(new_clients);
  if (e.config.monitoring.clients.enabled) {  // per-client change detection on the detection z's
    observation.clients =
        monitor::observe_clients(e.config.monitoring.clients, e.state.monitor.clients,
                                 result.scores, result.client_ids, w.n, e.state.rounds);
    for (const auto& [signal_side, stat] : observation.clients.group_statistic)
      result.metrics["client_" + signal_side + "_group"] = stat;
    observation.alerts.insert(observation.alerts.end(), observation.clients.alerts.begin(),
                              observation.clients.alerts.end());
  }
  result.alerts = observation.alerts;
  result.metrics_refused = observation.refused;
  w.pending.monitor = std::move(observation);
}

}  // namespace fedguard::engine
