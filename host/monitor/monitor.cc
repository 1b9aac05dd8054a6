#include "monitor/monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fedguard/error.h"

namespace fedguard::monitor {

std::uint64_t client_hash(const std::string& id) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<std::uint64_t> new_client_hashes(const MonitorState& state,
                                             const std::vector<std::string>& ids, std::size_t n) {
  std::vector<std::uint64_t> out;
  out.reserve(ids.empty() ? n : ids.size());
  if (ids.empty())
    for (std::size_t i = 0; i < n; ++i) out.push_back(client_hash(std::to_string(i)));
  else
    for (const std::string& id : ids) out.push_back(client_hash(id));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](std::uint64_t h) {
                             return std::binary_search(state.seen_clients.begin(),
                                                       state.seen_clients.end(), h);
                           }),
            out.end());
  return out;
}

Observation observe(const MonitoringConfig& config, const MonitorState& state,
                    const std::map<std::string, double>& metrics, std::uint64_t round) {
  Observation o;
  for (const auto& [name, value] : metrics)
    if (!std::isfinite(value)) o.refused.push_back(name);
  for (const DetectorSpec& spec : config.detectors) {
    const auto it = metrics.find(spec.metric);
    if (it == metrics.end() || !std::isfinite(it->second)) continue;
    const auto before = state.detectors.find(spec.key());
    DetectorState s = before == state.detectors.end() ? DetectorState{} : before->second;
    if (auto alert = feed(spec, s, it->second, round)) o.alerts.push_back(std::move(*alert));
    o.detectors[spec.key()] = std::move(s);
  }
  return o;
}

std::string describe(const Alert& a) {
  char buf[256];
  std::snprintf(buf, sizeof buf, " (statistic %.4g > %.4g, value %.6g, baseline %.6g +- %.4g)",
                a.statistic, a.threshold, a.value, a.baseline_mean, a.baseline_scale);
  return "round " + std::to_string(a.round) + ": alert " + a.metric + " " + a.method + " " +
         a.direction + (a.client.empty() ? "" : " client " + a.client) + buf;
}

void commit(MonitorState& state, Observation&& o) {
  for (auto& [key, s] : o.detectors) state.detectors[key] = std::move(s);
  for (const std::string& id : o.clients.forgotten) state.clients.erase(id);
  for (auto& [id, t] : o.clients.updated) state.clients[id] = std::move(t);
  if (!o.new_clients.empty()) {
    std::vector<std::uint64_t> merged;
    merged.reserve(state.seen_clients.size() + o.new_clients.size());
    std::merge(state.seen_clients.begin(), state.seen_clients.end(), o.new_clients.begin(),
               o.new_clients.end(), std::back_inserter(merged));
    state.seen_clients = std::move(merged);
  }
}

nlohmann::json MonitorState::to_json() const {
  nlohmann::json j;
  j["detectors"] = nlohmann::json::object();
  for (const auto& [key, s] : detectors) j["detectors"][key] = s.to_json();
  j["seen_clients"] = seen_clients;
  j["clients"] = nlohmann::json::object();
  for (const auto& [id, t] : clients) j["clients"][id] = t.to_json();
  return j;
}

MonitorState MonitorState::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("detectors") || !j.at("detectors").is_object() ||
      !j.contains("seen_clients") || !j.at("seen_clients").is_array())
    FEDGUARD_THROW(
        kIo,
        where << ": the 'monitor' section needs an object 'detectors' and a list 'seen_clients'");
  MonitorState s;
  for (const auto& item : j.at("detectors").items())
    s.detectors[item.key()] =
        DetectorState::from_json(item.value(), where + " (monitor detector " + item.key() + ")");
  for (const auto& h : j.at("seen_clients")) {
    if (!h.is_number_unsigned())
      FEDGUARD_THROW(kIo, where << ": 'monitor.seen_clients' holds a non-hash " << h.dump());
    s.seen_clients.push_back(h.get<std::uint64_t>());
  }
  if (!std::is_sorted(s.seen_clients.begin(), s.seen_clients.end()) ||
      std::adjacent_find(s.seen_clients.begin(), s.seen_clients.end()) != s.seen_clients.end())
    FEDGUARD_THROW(kIo, where << ": 'monitor.seen_clients' is not sorted and unique");
  if (j.contains("clients")) {  // absent in files written before per-client monitoring
    if (!j.at("clients").is_object())
      FEDGUARD_THROW(kIo, where << ": 'monitor.clients' is not an object");
    for (const auto& item : j.at("clients").items())
      s.clients[item.key()] =
          ClientTrack::from_json(item.value(), where + " (monitor client " + item.key() + ")");
  }
  return s;
}

}  // namespace fedguard::monitor
