#include <cmath>

#include "fedguard/round.h"

namespace fedguard {

nlohmann::json RoundResult::to_json() const {
  nlohmann::json j;
  j["n"] = n;
  j["d"] = d;
  j["accepted"] = nlohmann::json::array();
  for (auto a : accepted) j["accepted"].push_back(a != 0);
  j["weights"] = weights;
  j["linear"] = linear;
  j["reference_weights"] = reference_weights;
  nlohmann::json scores_json = nlohmann::json::object();
  for (const auto& [name, values] : scores) {
    nlohmann::json row = nlohmann::json::array();
    for (double v : values) row.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    scores_json[name] = row;
  }
  j["scores"] = scores_json;
  nlohmann::json reasons_json = nlohmann::json::object();
  for (const auto& [index, text] : reasons) reasons_json[std::to_string(index)] = text;
  j["reasons"] = reasons_json;
  nlohmann::json timings = nlohmann::json::object();
  for (const auto& [stage, ms] : timings_ms) timings[stage] = ms;
  j["timings_ms"] = timings;
  return j;
}

}  // namespace fedguard
