#include "fedguard/config.h"

#include <cmath>

#include "fedguard/error.h"
#include "policy/policy.h"

namespace fedguard {
namespace {

RuleSpec rule_from_json(const nlohmann::json& j, const std::string& where) {
  FEDGUARD_EXPECTS(j.is_object(), where << " must be an object like {\"rule\": \"median\"}, got " << j.dump());
  FEDGUARD_EXPECTS(j.contains("rule") && j.at("rule").is_string(), where << " needs a string \"rule\", got " << j.dump());
  RuleSpec spec;
  spec.rule = j.at("rule").get<std::string>();
  for (const auto& item : j.items())
    if (item.key() != "rule") spec.params[item.key()] = item.value();
  return spec;
}

nlohmann::json rule_to_json(const RuleSpec& spec) {
  nlohmann::json j = spec.params.is_object() ? spec.params : nlohmann::json::object();
  j["rule"] = spec.rule;
  return j;
}

std::vector<RuleSpec> rules_from_json(const nlohmann::json& j, const std::string& key) {
  FEDGUARD_EXPECTS(j.is_array(), "config key \"" << key << "\" must be a list of rules, got " << j.dump());
  std::vector<RuleSpec> out;
  for (std::size_t i = 0; i < j.size(); ++i)
    out.push_back(rule_from_json(j[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

CombineSpec combine_from_json(const nlohmann::json& v) {
  CombineSpec c;
  if (v.is_string()) {
    c.mode = v.get<std::string>();
  } else {
    FEDGUARD_EXPECTS(v.is_object(), "config \"combine\" must be \"intersect\", \"vote\" or an object like "
                                    "{\"mode\": \"vote\", \"min_votes\": 2}, got " << v.dump());
    for (const auto& item : v.items()) {
      const auto& x = item.value();
      if (item.key() == "mode") {
        FEDGUARD_EXPECTS(x.is_string(), "config \"combine.mode\" must be a string, got " << x.dump());
        c.mode = x.get<std::string>();
      } else if (item.key() == "weights") {
        FEDGUARD_EXPECTS(x.is_array(), "config \"combine.weights\" must be a list of numbers, got " << x.dump());
        for (const auto& w : x) {
          FEDGUARD_EXPECTS(w.is_number(), "config \"combine.weights\" must be a list of numbers, got " << x.dump());
          c.weights.push_back(w.get<double>());
        }
      } else if (item.key() == "min_votes") {
        FEDGUARD_EXPECTS(x.is_number(), "config \"combine.min_votes\" must be a number, got " << x.dump());
        c.min_votes = x.get<double>();
      } else {
        FEDGUARD_THROW(kInvalidInput, "unknown key \"" << item.key() << "\" in config \"combine\" (known: mode, weights, "
                                                                      "min_votes)");
      }
    }
  }
  return c;
}

ReputationSpec reputation_from_json(const nlohmann::json& v) {
  ReputationSpec r;
  if (v.is_boolean()) {
    r.enabled = v.get<bool>();
    return r;
  }
  FEDGUARD_EXPECTS(v.is_object(), "config \"reputation\" must be true, false or an object like {\"decay\": 0.9}, got "
                                      << v.dump());
  r.enabled = true;
  for (const auto& item : v.items()) {
    const auto& x = item.value();
    if (item.key() == "enabled") {
      FEDGUARD_EXPECTS(x.is_boolean(), "config \"reputation.enabled\" must be true or false");
      r.enabled = x.get<bool>();
    } else if (item.key() == "decay" || item.key() == "initial") {
      FEDGUARD_EXPECTS(x.is_number(), "config \"reputation." << item.key() << "\" must be a number, got " << x.dump());
      (item.key() == "decay" ? r.decay : r.initial) = x.get<double>();
    } else {
      FEDGUARD_THROW(kInvalidInput, "unknown key \"" << item.key() << "\" in config \"reputation\" (known: enabled, "
                                                                    "decay, initial)");
    }
  }
  return r;
}

}  // namespace

EngineConfig EngineConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    FEDGUARD_THROW(kInvalidInput, "config is not valid JSON: " << e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double range
    FEDGUARD_THROW(kInvalidInput, "config is not usable JSON: " << e.what());
  }
  return from_json_value(j);
}

EngineConfig EngineConfig::recommended(std::size_t f) {
  EngineConfig c;
  c.filters.emplace_back("norm_bound", nlohmann::json{{"max_ratio", 3.0}});
  c.transforms.emplace_back("nnm", nlohmann::json{{"f", f}});
  c.aggregator = RuleSpec("trimmed_mean", nlohmann::json{{"trim", f}});
  return c;
}

EngineConfig EngineConfig::from_json_value(const nlohmann::json& j) {
  FEDGUARD_EXPECTS(j.is_object(), "config must be a JSON object, got " << j.dump());
  EngineConfig c;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const nlohmann::json& v = item.value();
    if (key == "backend") {
      FEDGUARD_EXPECTS(v.is_string(), "config \"backend\" must be a string");
      const auto s = v.get<std::string>();
      if (s == "auto") c.backend = BackendKind::kAuto;
      else if (s == "cpu") c.backend = BackendKind::kCpu;
      else if (s == "cuda") c.backend = BackendKind::kCuda;
      else FEDGUARD_THROW(kInvalidInput, "config \"backend\" must be auto, cpu or cuda, got \"" << s << "\"");
    } else if (key == "precision") {
      FEDGUARD_EXPECTS(v.is_string(), "config \"precision\" must be a string");
      c.precision = v.get<std::string>();
    } else if (key == "tile_columns") {
      FEDGUARD_EXPECTS(v.is_number_integer() && v.get<std::int64_t>() >= 0,
                       "config \"tile_columns\" must be a non-negative integer, got " << v.dump());
      c.tile_columns = v.get<std::size_t>();
    } else if (key == "threads") {
      FEDGUARD_EXPECTS(v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= 4096,
                       "config \"threads\" must be an integer in [0, 4096], got " << v.dump());
      c.threads = v.get<int>();
    } else if (key == "duplicate_ids") {
      const auto s = v.is_string() ? v.get<std::string>() : std::string();
      if (s == "reject") c.duplicate_ids = DuplicateIdPolicy::kReject;
      else if (s == "error") c.duplicate_ids = DuplicateIdPolicy::kError;
      else FEDGUARD_THROW(kInvalidInput, "config \"duplicate_ids\" must be \"reject\" or \"error\", got " << v.dump());
    } else if (key == "reject_all_zero") {
      FEDGUARD_EXPECTS(v.is_boolean(), "config \"reject_all_zero\" must be true or false");
      c.reject_all_zero = v.get<bool>();
    } else if (key == "sketch_dim") {
      FEDGUARD_EXPECTS(v.is_number_integer() && v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= 65536,
                       "config \"sketch_dim\" must be an integer in [1, 65536], got " << v.dump());
      c.sketch_dim = v.get<std::size_t>();
    } else if (key == "sketch_seed") {
      FEDGUARD_EXPECTS(v.is_number_integer() && v.get<std::int64_t>() >= 0,
                       "config \"sketch_seed\" must be a non-negative integer, got " << v.dump());
      c.sketch_seed = v.get<std::uint64_t>();
    } else if (key == "filters") {
      c.filters = rules_from_json(v, key);
    } else if (key == "transforms") {
      c.transforms = rules_from_json(v, key);
    } else if (key == "aggregator") {
      c.aggregator = rule_from_json(v, key);
    } else if (key == "combine") {
      c.combine = combine_from_json(v);
    } else if (key == "reputation") {
      c.reputation = reputation_from_json(v);
    } else if (key == "monitoring") {
      c.monitoring = MonitoringConfig::from_json(v);
    } else {
      FEDGUARD_THROW(kInvalidInput, "unknown config key \"" << key << "\" (known: backend, precision, tile_columns, "
                                                          << "threads, duplicate_ids, reject_all_zero, sketch_dim, sketch_seed, filters, "
                                                          << "transforms, aggregator, combine, reputation, monitoring)");
    }
  }
  c.validate();
  return c;
}

nlohmann::json EngineConfig::to_json() const {
  nlohmann::json j;
  j["backend"] = backend == BackendKind::kCpu ? "cpu" : backend == BackendKind::kCuda ? "cuda" : "auto";
  j["precision"] = precision;
  j["tile_columns"] = tile_columns;
  j["threads"] = threads;
  j["duplicate_ids"] = duplicate_ids == DuplicateIdPolicy::kReject ? "reject" : "error";
  j["reject_all_zero"] = reject_all_zero;
  j["sketch_dim"] = sketch_dim;
  j["sketch_seed"] = sketch_seed;
  j["filters"] = nlohmann::json::array();
  for (const auto& r : filters) j["filters"].push_back(rule_to_json(r));
  j["transforms"] = nlohmann::json::array();
  for (const auto& r : transforms) j["transforms"].push_back(rule_to_json(r));
  j["aggregator"] = rule_to_json(aggregator);
  j["combine"] = {{"mode", combine.mode}, {"weights", combine.weights}, {"min_votes", combine.min_votes}};
  j["reputation"] = {{"enabled", reputation.enabled}, {"decay", reputation.decay}, {"initial", reputation.initial}};
  j["monitoring"] = monitoring.to_json();
  return j;
}

void EngineConfig::validate() const {
  FEDGUARD_EXPECTS(sketch_dim >= 1 && sketch_dim <= 65536, "config \"sketch_dim\" must be in [1, 65536], got " << sketch_dim);
  FEDGUARD_EXPECTS(threads >= 0 && threads <= 4096, "config \"threads\" must be in [0, 4096], got " << threads);
  FEDGUARD_EXPECTS(precision == "fp32" || precision == "tf32" || precision == "bf16",
                   "config \"precision\" must be fp32, tf32 or bf16, got \"" << precision << "\"");
  FEDGUARD_EXPECTS(combine.mode == "intersect" || combine.mode == "vote",
                   "config \"combine.mode\" must be \"intersect\" or \"vote\", got \"" << combine.mode << "\"");
  FEDGUARD_EXPECTS(combine.weights.empty() || combine.weights.size() == filters.size(),
                   "config \"combine.weights\" has " << combine.weights.size() << " weights for " << filters.size()
                                                    << " filters");
  for (double w : combine.weights)
    FEDGUARD_EXPECTS(std::isfinite(w) && w >= 0, "config \"combine.weights\" must be finite and >= 0, got " << w);
  FEDGUARD_EXPECTS(std::isfinite(combine.min_votes) && combine.min_votes >= 0,
                   "config \"combine.min_votes\" must be finite and >= 0, got " << combine.min_votes);
  FEDGUARD_EXPECTS(std::isfinite(reputation.decay) && reputation.decay >= 0 && reputation.decay < 1,
                   "config \"reputation.decay\" must be in [0, 1), got " << reputation.decay);
  FEDGUARD_EXPECTS(std::isfinite(reputation.initial) && reputation.initial >= 0 && reputation.initial <= 1,
                   "config \"reputation.initial\" must be in [0, 1], got " << reputation.initial);
  monitoring.validate();
  policy::Policy check(*this);  // builds every rule, which checks names and parameters
}

}  // namespace fedguard
