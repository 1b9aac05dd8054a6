// Per-client deviations from their own baselines, standardised over the round, accumulated by
// one-sided CUSUMs, alarmed as a group (client_monitor.h says why).
#include "monitor/client_monitor.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "common/median.h"
#include "fedguard/error.h"

namespace fedguard::monitor {
std::string client_signal_direction(const std::string& signal) {
  return signal == "direction" || signal == "collusion" || signal == "history" ||
                 signal == "history_direction"
             ? "down"
             : "both";
}

ClientObservation observe_clients(const ClientMonitorSpec& spec,
                                  const std::map<std::string, ClientTrack>& tracks,
                                  const std::map<std::string, std::vector<double>>& scores,
                                  const std::vector<std::string>& ids, std::size_t n,
                                  std::uint64_t round) {
  ClientObservation o;
  // The round's clients, in row order, each once.
  std::vector<std::pair<std::size_t, std::string>> rows;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = ids.empty() ? std::to_string(i) : ids[i];
    if (seen.insert(id).second) rows.emplace_back(i, std::move(id));
  }
  auto track_of = [&](const std::string& id) -> ClientTrack& {
    auto it = o.updated.find(id);
    if (it != o.updated.end()) return it->second;
    const auto before = tracks.find(id);
    ClientTrack& t = o.updated[id] = before == tracks.end() ? ClientTrack{} : before->second;
    t.last_round = round;
    return t;
  };
  for (const std::string& signal : spec.signals) {
    const auto col = scores.find("detect_" + signal);
    if (col == scores.end()) continue;
    struct Tested {
      const std::string* id;
      DetectorState* state;
      double x, d;
    };
    std::vector<Tested> tested;
    for (const auto& [i, id] : rows) {
      if (i >= col->second.size() || !std::isfinite(col->second[i]))
        continue;  // not scored: not fed
      const double x = col->second[i];
      DetectorState& s = track_of(id).signals[signal];
      ++s.values;
      if (!s.ready) {
        s.warmup.push_back(x);
        if (s.warmup.size() >= spec.warmup) {
          robust_baseline(s.warmup, spec.min_scale, s.mean, s.scale);
          s.ready = true;
          s.warmup.clear();
        }
        continue;
      }
      tested.push_back({&id, &s, x, (x - s.mean) / s.scale});
    }
    if (tested.size() < kClientMinTested) continue;  // too few to standardise: nothing tested
    std::vector<double> d(tested.size());
    for (std::size_t j = 0; j < tested.size(); ++j) d[j] = tested[j].d;
    const double med = median(d);
    for (double& v : d) v = std::fabs(v - med);
    const double c = std::max(1.0, 1.4826 * median(d));
    std::vector<double> ups, downs;
    for (const Tested& t : tested) {
      DetectorState& s = *t.state;
      const double e = (t.d - med) / c;
      ++s.n;
      s.s_up = std::max(0.0, s.s_up + e - spec.k);
      s.s_down = std::max(0.0, s.s_down - e - spec.k);
      ups.push_back(s.s_up);
      downs.push_back(s.s_down);
      follow_baseline(s, t.x, spec.baseline_lambda, spec.scale_lambda, spec.min_scale);
    }
    const bool both = client_signal_direction(signal) == "both";
    // A group of G = max(min_group, ceil(share x tested)) clients past h, or a smaller one of g
    // (min_group <= g < G) standing further out, past h G / g: the group statistic is
    // max_g (g / G) S_(g), S_(g) the g-th largest CUSUM, against h. Up to G = min_group (small
    // federations) it is S_(min_group) against h.
    const std::size_t lo = std::max<std::size_t>(spec.min_group, 1);
    const std::size_t full =
        std::max(lo, static_cast<std::size_t>(
                         std::ceil(spec.min_group_fraction * static_cast<double>(tested.size()))));
    double cut[2] = {0, 0};          // up, down: the members' threshold h G / g of the best g
    bool fired[2] = {false, false};  // up, down: the group statistic past h
    for (const bool up : {true, false}) {
      if (up && !both) continue;
      std::vector<double> sorted = up ? ups : downs;
      std::sort(sorted.begin(), sorted.end(), std::greater<double>());
      double best = 0;
      std::size_t best_g = full;
      for (std::size_t g = lo; g <= full && g <= sorted.size(); ++g) {
        const double stat = static_cast<double>(g) / static_cast<double>(full) * sorted[g - 1];
        if (stat > best) best = stat, best_g = g;
      }
      o.group_statistic[signal + (up ? "_up" : "_down")] = best;
      fired[up ? 0 : 1] = best > spec.h;
      cut[up ? 0 : 1] = spec.h * static_cast<double>(full) / static_cast<double>(best_g);
    }
    for (std::size_t j = 0; j < tested.size(); ++j) {
      bool alarmed = false;
      for (const bool up : {true, false}) {
        const double stat = up ? ups[j] : downs[j];
        if (!fired[up ? 0 : 1] || !(stat > cut[up ? 0 : 1])) continue;
        DetectorState& s = *tested[j].state;
        Alert a;
        a.metric = "client_" + signal;
        a.round = round;
        a.method = "group_cusum";
        a.direction = up ? "up" : "down";
        a.statistic = stat;
        a.threshold = cut[up ? 0 : 1];
        a.value = tested[j].x;
        a.baseline_mean = s.mean;
        a.baseline_scale = s.scale;
        a.client = *tested[j].id;
        o.alerts.push_back(std::move(a));
        ++s.alarms;
        alarmed = true;
      }
      if (alarmed) {  // the test restarts; the baseline is kept
        tested[j].state->n = 0;
        tested[j].state->s_up = tested[j].state->s_down = 0;
      }
    }
  }
  // Forgetting: clients absent for more than forget_after rounds, then, over the cap, the least
  // recently seen (never one of this round's clients).
  std::vector<std::pair<std::uint64_t, std::string>> idle;
  std::size_t kept = o.updated.size();
  for (const auto& [id, t] : tracks) {
    if (o.updated.count(id)) continue;
    if (round > t.last_round && round - t.last_round > spec.forget_after)
      o.forgotten.push_back(id);
    else
      idle.emplace_back(t.last_round, id), ++kept;
  }
  if (kept > spec.max_clients) {
    std::sort(idle.begin(), idle.end());
    for (std::size_t j = 0; j < idle.size() && kept > spec.max_clients; ++j, --kept)
      o.forgotten.push_back(idle[j].second);
  }
  std::sort(o.alerts.begin(), o.alerts.end(), [](const Alert& a, const Alert& b) {
    return a.client != b.client   ? a.client < b.client
           : a.metric != b.metric ? a.metric < b.metric
                                  : a.direction < b.direction;
  });
  return o;
}

nlohmann::json ClientTrack::to_json() const {
  nlohmann::json j;
  j["last_round"] = last_round;
  j["signals"] = nlohmann::json::object();
  for (const auto& [name, s] : signals) j["signals"][name] = s.to_json();
  return j;
}

ClientTrack ClientTrack::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("last_round") || !j.at("last_round").is_number_unsigned() ||
      !j.contains("signals") || !j.at("signals").is_object())
    FEDGUARD_THROW(
        kIo, where << ": a client track needs an integer 'last_round' and an object 'signals'");
  ClientTrack t;
  t.last_round = j.at("last_round").get<std::uint64_t>();
  for (const auto& item : j.at("signals").items())
    t.signals[item.key()] =
        DetectorState::from_json(item.value(), where + " (signal " + item.key() + ")");
  return t;
}

}  // namespace fedguard::monitor
