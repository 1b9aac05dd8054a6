#include <cmath>

#include "fedguard/round.h"

namespace fedguard {

nlohmann::ordered_json RoundResult::to_json() const {
  nlohmann::ordered_json j;
  j["n"] = n;
  j["d"] = d;
  j["accepted"] = nlohmann::ordered_json::array();
  for (auto a : accepted) j["accepted"].push_back(a != 0);
  j["weights"] = weights;
  j["linear"] = linear;
  j["reference_weights"] = reference_weights;
  j["noise_sigma"] = noise_sigma;
  nlohmann::ordered_json scores_json = nlohmann::ordered_json::object();
  for (const auto& [name, values] : scores) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (double v : values)
      row.push_back(std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr));
    scores_json[name] = row;
  }
  j["scores"] = scores_json;
  nlohmann::ordered_json reasons_json = nlohmann::ordered_json::object();
  for (const auto& [index, text] : reasons) reasons_json[std::to_string(index)] = text;
  j["reasons"] = reasons_json;
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  for (const auto& [stage, ms] : timings_ms) timings[stage] = ms;
  j["timings_ms"] = timings;
  j["client_ids"] = client_ids;
  j["rejected_ids"] = rejected_ids();
  j["rejections"] = nlohmann::ordered_json::array();
  for (const Rejection& r : rejections) {
    nlohmann::ordered_json e;
    e["client"] = r.client;
    e["id"] = r.id;
    e["code"] = reason_code_name(r.code);
    e["stage"] = stage_name(r.stage);
    e["rule"] = r.rule;
    e["detail"] = r.detail;
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    for (const auto& [name, v] : r.values)
      values[name] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
    e["values"] = values;
    j["rejections"].push_back(e);
  }
  j["notes"] = notes;
  if (verification_ran) {
    const VerificationReport& v = verification;
    j["verification"] = {{"round", v.round},
                         {"nonce", v.nonce},
                         {"verified", v.verified},
                         {"new_clients", v.new_clients},
                         {"burst", v.burst},
                         {"on_probation", v.on_probation},
                         {"probation_share_before", v.probation_share_before},
                         {"probation_share_after", v.probation_share_after}};
  }
  nlohmann::ordered_json metrics_json = nlohmann::ordered_json::object();
  for (const auto& [name, v] : metrics)
    metrics_json[name] =
        std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  j["metrics"] = metrics_json;
  j["alerts"] = nlohmann::ordered_json::array();
  for (const Alert& a : alerts) j["alerts"].push_back(a.to_json());
  j["metrics_refused"] = metrics_refused;
  return j;
}

std::vector<std::string> RoundResult::rejected_ids() const {
  std::vector<std::string> ids;
  for (const Rejection& r : rejections) ids.push_back(r.id);
  return ids;
}

const Rejection* RoundResult::rejection_of(const std::string& id) const {
  for (const Rejection& r : rejections)
    if (r.id == id) return &r;
  return nullptr;
}

}  // namespace fedguard
