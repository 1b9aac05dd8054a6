#include "fedguard/config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "common/json_parse.h"
#include "engine/config_check.h"
#include "fedguard/error.h"
#include "policy/composition.h"
#include "rules/rule.h"

namespace fedguard {

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kTf32:
      return "tf32";
    case Precision::kBf16:
      return "bf16";
  }
  FEDGUARD_THROW(kInvalidInput, "config \"precision\" holds no known precision ("
                                    << static_cast<int>(precision) << ")");
}

const char* to_string(CombineMode mode) {
  switch (mode) {
    case CombineMode::kIntersect:
      return "intersect";
    case CombineMode::kVote:
      return "vote";
  }
  FEDGUARD_THROW(kInvalidInput,
                 "config \"combine.mode\" holds no known mode (" << static_cast<int>(mode) << ")");
}

Precision precision_from_string(const std::string& text) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16})
    if (text == to_string(p)) return p;
  FEDGUARD_THROW(kInvalidInput,
                 "config \"precision\" must be fp32, tf32 or bf16, got \"" << text << "\"");
}

CombineMode combine_mode_from_string(const std::string& text) {
  for (CombineMode m : {CombineMode::kIntersect, CombineMode::kVote})
    if (text == to_string(m)) return m;
  FEDGUARD_THROW(kInvalidInput, "config \"combine.mode\" must be \"intersect\" or \"vote\", got \""
                                    << text << "\"");
}

namespace {

RuleSpec rule_from_json(const nlohmann::json& j, const std::string& where) {
  FEDGUARD_EXPECTS(j.is_object(),
                   where << " must be an object like {\"rule\": \"median\"}, got " << j.dump());
  FEDGUARD_EXPECTS(j.contains("rule") && j.at("rule").is_string(),
                   where << " needs a string \"rule\", got " << j.dump());
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
  FEDGUARD_EXPECTS(j.is_array(),
                   "config key \"" << key << "\" must be a list of rules, got " << j.dump());
  std::vector<RuleSpec> out;
  for (std::size_t i = 0; i < j.size(); ++i)
    out.push_back(rule_from_json(j[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

CombineSpec combine_from_json(const nlohmann::json& v) {
  CombineSpec c;
  if (v.is_string()) {
    c.mode = combine_mode_from_string(v.get<std::string>());
  } else {
    FEDGUARD_EXPECTS(v.is_object(),
                     "config \"combine\" must be \"intersect\", \"vote\" or an object like "
                     "{\"mode\": \"vote\", \"min_votes\": 2}, got "
                         << v.dump());
    for (const auto& item : v.items()) {
      const auto& x = item.value();
      if (item.key() == "mode") {
        FEDGUARD_EXPECTS(x.is_string(),
                         "config \"combine.mode\" must be a string, got " << x.dump());
        c.mode = combine_mode_from_string(x.get<std::string>());
      } else if (item.key() == "weights") {
        FEDGUARD_EXPECTS(x.is_array(),
                         "config \"combine.weights\" must be a list of numbers, got " << x.dump());
        for (const auto& w : x) {
          FEDGUARD_EXPECTS(
              w.is_number(),
              "config \"combine.weights\" must be a list of numbers, got " << x.dump());
          c.weights.push_back(w.get<double>());
        }
      } else if (item.key() == "min_votes") {
        FEDGUARD_EXPECTS(x.is_number(),
                         "config \"combine.min_votes\" must be a number, got " << x.dump());
        c.min_votes = x.get<double>();
      } else {
        FEDGUARD_THROW(kInvalidInput, "unknown key \""
                                          << item.key()
                                          << "\" in config \"combine\" (known: mode, weights, "
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
  FEDGUARD_EXPECTS(
      v.is_object(),
      "config \"reputation\" must be true, false or an object like {\"decay\": 0.9}, got "
          << v.dump());
  r.enabled = true;
  for (const auto& item : v.items()) {
    const auto& x = item.value();
    if (item.key() == "enabled") {
      FEDGUARD_EXPECTS(x.is_boolean(), "config \"reputation.enabled\" must be true or false");
      r.enabled = x.get<bool>();
    } else if (item.key() == "decay" || item.key() == "initial") {
      FEDGUARD_EXPECTS(x.is_number(), "config \"reputation."
                                          << item.key() << "\" must be a number, got " << x.dump());
      (item.key() == "decay" ? r.decay : r.initial) = x.get<double>();
    } else {
      FEDGUARD_THROW(kInvalidInput, "unknown key \""
                                        << item.key()
                                        << "\" in config \"reputation\" (known: enabled, "
                                           "decay, initial)");
    }
  }
  return r;
}

DetectionSpec detection_from_json(const nlohmann::json& v) {
  DetectionSpec spec;
  if (v.is_boolean()) {
    spec.enabled = v.get<bool>();
    return spec;
  }
  FEDGUARD_EXPECTS(
      v.is_object(),
      "config \"detection\" must be true, false or an object like {\"sign\": 0.001}, got "
          << v.dump());
  spec.enabled = true;
  const std::map<std::string, double*> numbers{
      {"norm", &spec.norm},
      {"direction", &spec.direction},
      {"sign", &spec.sign},
      {"spectral", &spec.spectral},
      {"spectral_group", &spec.spectral_group},
      {"direction_group", &spec.direction_group},
      {"direction_group_max_alignment", &spec.direction_group_max_alignment},
      {"collusion", &spec.collusion},
      {"history", &spec.history},
      {"history_direction", &spec.history_direction},
      {"history_group", &spec.history_group},
      {"history_direction_group", &spec.history_direction_group},
      {"history_response", &spec.history_response},
      {"history_response_group", &spec.history_response_group},
      {"max_norm_ratio", &spec.max_norm_ratio},
      {"collusion_max_distance", &spec.collusion_max_distance},
      {"max_reject_fraction", &spec.max_reject_fraction},
      {"baseline_rate", &spec.baseline_rate},
      {"baseline_cap", &spec.baseline_cap},
      {"baseline_cap_norm_low", &spec.baseline_cap_norm_low},
      {"baseline_cap_sign", &spec.baseline_cap_sign},
      {"baseline_min_rounds", &spec.baseline_min_rounds},
      {"baseline_min_accepted", &spec.baseline_min_accepted}};
  const std::map<std::string, bool*> switches{{"enabled", &spec.enabled},
                                              {"sign_zero_fraction", &spec.sign_zero_fraction},
                                              {"baseline_small_norm", &spec.baseline_small_norm},
                                              {"baseline_sign_only", &spec.baseline_sign_only},
                                              {"baseline_norm_cap", &spec.baseline_norm_cap},
                                              {"loner_norm_cap", &spec.loner_norm_cap}};
  for (const auto& item : v.items()) {
    const auto sw = switches.find(item.key());
    if (sw != switches.end()) {
      FEDGUARD_EXPECTS(item.value().is_boolean(),
                       "config \"detection." << item.key() << "\" must be true or false, got "
                                             << item.value().dump());
      *sw->second = item.value().get<bool>();
      continue;
    }
    const auto it = numbers.find(item.key());
    FEDGUARD_EXPECTS(
        it != numbers.end(),
        "unknown key \""
            << item.key() << "\" in config \"detection\" (known: enabled, "
            << "norm, direction, direction_group, direction_group_max_alignment, sign, "
            << "sign_zero_fraction, spectral, "
            << "spectral_group, "
            << "collusion, history, history_direction, history_group, "
            << "history_direction_group, "
            << "history_response, history_response_group, max_norm_ratio, "
            << "collusion_max_distance, max_reject_fraction, baseline_rate, "
            << "baseline_cap, baseline_cap_norm_low, baseline_cap_sign, "
            << "baseline_min_rounds, baseline_min_accepted, baseline_small_norm, "
            << "baseline_sign_only, baseline_norm_cap, loner_norm_cap)");
    FEDGUARD_EXPECTS(item.value().is_number(), "config \"detection." << item.key()
                                                                     << "\" must be a number, got "
                                                                     << item.value().dump());
    *it->second = item.value().get<double>();
  }
  return spec;
}

nlohmann::json detection_to_json(const DetectionSpec& s) {
  return {{"enabled", s.enabled},
          {"norm", s.norm},
          {"direction", s.direction},
          {"sign", s.sign},
          {"spectral", s.spectral},
          {"spectral_group", s.spectral_group},
          {"direction_group", s.direction_group},
          {"direction_group_max_alignment", s.direction_group_max_alignment},
          {"collusion", s.collusion},
          {"history", s.history},
          {"history_direction", s.history_direction},
          {"history_group", s.history_group},
          {"history_direction_group", s.history_direction_group},
          {"history_response", s.history_response},
          {"history_response_group", s.history_response_group},
          {"max_norm_ratio", s.max_norm_ratio},
          {"collusion_max_distance", s.collusion_max_distance},
          {"max_reject_fraction", s.max_reject_fraction},
          {"baseline_rate", s.baseline_rate},
          {"baseline_cap", s.baseline_cap},
          {"baseline_cap_norm_low", s.baseline_cap_norm_low},
          {"baseline_cap_sign", s.baseline_cap_sign},
          {"baseline_min_rounds", s.baseline_min_rounds},
          {"baseline_min_accepted", s.baseline_min_accepted},
          {"baseline_small_norm", s.baseline_small_norm},
          {"baseline_sign_only", s.baseline_sign_only},
          {"baseline_norm_cap", s.baseline_norm_cap},
          {"loner_norm_cap", s.loner_norm_cap},
          {"sign_zero_fraction", s.sign_zero_fraction}};
}

// The preset's three parts for a given f (also the nominal policy the engine inspects before
// the first round).
void apply_recommended(EngineConfig& c, std::size_t f) {
  c.detection.enabled = true;
  c.filters.clear();
  c.transforms.assign(1, RuleSpec("nnm", nlohmann::json{{"f", f}}));
  c.aggregator = RuleSpec("trimmed_mean", nlohmann::json{{"trim", f}});
}

}  // namespace

EngineConfig EngineConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = parse_json(text);
  } catch (const JsonError& e) {  // syntax, nesting, duplicate keys, NUL bytes, huge numbers
    FEDGUARD_THROW(kInvalidInput, "config is not valid JSON: " << e.what());
  }
  return from_json_value(j);
}

EngineConfig EngineConfig::recommended(std::optional<std::size_t> f) {
  EngineConfig c;
  c.preset.name = "recommended";
  c.preset.f = f;
  apply_recommended(c, f.value_or(1));
  return c;
}

EngineConfig EngineConfig::recommended_fraction(double f_fraction) {
  FEDGUARD_EXPECTS(std::isfinite(f_fraction) && f_fraction >= 0 && f_fraction < 0.5,
                   "preset \"f_fraction\" must be in [0, 0.5), got " << f_fraction);
  EngineConfig c = recommended(std::nullopt);
  c.preset.f_fraction = f_fraction;
  return c;
}

EngineConfig EngineConfig::for_round(std::size_t n, std::size_t left, std::string* note,
                                     std::size_t detected) const {
  if (preset.name.empty()) return *this;
  const std::size_t wanted =
      preset.f ? *preset.f
               : static_cast<std::size_t>(std::floor(preset.f_fraction * static_cast<double>(n)));
  // The attackers detection removed need no trimming: every client the trimmed mean drops is
  // information lost, and with label-skewed clients a bias (measured: docs/evaluation.md). But
  // when detection names most of a coalition, some of its members may be among the clients it
  // kept: f_floor keeps a share of f (0 by default; measured: docs/evaluation.md, "A floor under
  // the preset's f").
  const auto kept_share =
      static_cast<std::size_t>(std::floor(preset.f_floor * static_cast<double>(wanted)));
  const std::size_t lowered =
      detected >= wanted ? std::min<std::size_t>(wanted, 1) : wanted - detected;
  const std::size_t undetected = std::max(lowered, kept_share);
  // Trimmed mean with trim f needs more than 2f clients; NNM needs more than f.
  const std::size_t most = left == 0 ? 0 : (left - 1) / 2;
  const std::size_t f = std::min(undetected, most);
  if (note && f < wanted) {
    *note = "preset recommended: f lowered from " + std::to_string(wanted) + " to " +
            std::to_string(f) + " (";
    if (undetected < wanted)
      *note += "detection rejected " + std::to_string(detected) +
               (undetected == kept_share && kept_share > lowered
                    ? "; f_floor keeps " + std::to_string(kept_share)
                    : std::string()) +
               (f < undetected ? "; " : ")");
    if (f < undetected)
      *note +=
          std::to_string(left) + " clients left after detection; trimmed_mean needs more than 2f)";
  }
  EngineConfig c = *this;
  apply_recommended(c, f);
  return c;
}

EngineConfig EngineConfig::from_json_value(const nlohmann::json& j) {
  FEDGUARD_EXPECTS(j.is_object(), "config must be a JSON object, got " << j.dump());
  EngineConfig c;
  if (j.contains("preset")) {
    const nlohmann::json& p = j.at("preset");
    FEDGUARD_EXPECTS(p.is_string() && p.get<std::string>() == "recommended",
                     "config \"preset\" must be \"recommended\", got " << p.dump());
    for (const char* key : {"filters", "transforms", "aggregator", "combine"})
      FEDGUARD_EXPECTS(
          !j.contains(key),
          "config \"" << key << "\" cannot be combined with \"preset\" (the preset sets it)");
    FEDGUARD_EXPECTS(!(j.contains("f") && j.contains("f_fraction")),
                     "config: give \"f\" or \"f_fraction\", not both");
    if (j.contains("f")) {
      const nlohmann::json& f = j.at("f");
      FEDGUARD_EXPECTS(f.is_number_unsigned() && f.get<std::uint64_t>() <= 1000000,
                       "config \"f\" must be an integer in [0, 1000000], got " << f.dump());
      c = recommended(f.get<std::size_t>());
    } else if (j.contains("f_fraction")) {
      FEDGUARD_EXPECTS(j.at("f_fraction").is_number(),
                       "config \"f_fraction\" must be a number, got " << j.at("f_fraction").dump());
      c = recommended_fraction(j.at("f_fraction").get<double>());
    } else {
      c = recommended(std::nullopt);
    }
    if (j.contains("f_floor")) {
      const nlohmann::json& v = j.at("f_floor");
      FEDGUARD_EXPECTS(v.is_number() && v.get<double>() >= 0 && v.get<double>() <= 1,
                       "config \"f_floor\" must be a number in [0, 1], got " << v.dump());
      c.preset.f_floor = v.get<double>();
    }
  } else {
    for (const char* key : {"f", "f_fraction", "f_floor"})
      FEDGUARD_EXPECTS(
          !j.contains(key),
          "config \"" << key << "\" belongs to a preset: add \"preset\": \"recommended\"");
  }
  for (const auto& item : j.items()) {
    if (item.key() == "preset" || item.key() == "f" || item.key() == "f_fraction" ||
        item.key() == "f_floor")
      continue;
    const std::string& key = item.key();
    const nlohmann::json& v = item.value();
    if (key == "backend") {
      FEDGUARD_EXPECTS(v.is_string(), "config \"backend\" must be a string");
      const auto s = v.get<std::string>();
      if (s == "auto")
        c.backend = BackendKind::kAuto;
      else if (s == "cpu")
        c.backend = BackendKind::kCpu;
      else if (s == "cuda")
        c.backend = BackendKind::kCuda;
      else
        FEDGUARD_THROW(kInvalidInput,
                       "config \"backend\" must be auto, cpu or cuda, got \"" << s << "\"");
    } else if (key == "precision") {
      FEDGUARD_EXPECTS(v.is_string(), "config \"precision\" must be a string");
      c.precision = precision_from_string(v.get<std::string>());
    } else if (key == "tile_columns") {
      // Bounded so that a tile (n x tile_columns floats) cannot ask for an absurd allocation.
      FEDGUARD_EXPECTS(
          v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= (1 << 26),
          "config \"tile_columns\" must be an integer in [0, 67108864], got " << v.dump());
      c.tile_columns = v.get<std::size_t>();
    } else if (key == "threads") {
      FEDGUARD_EXPECTS(
          v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= 4096,
          "config \"threads\" must be an integer in [0, 4096], got " << v.dump());
      c.threads = v.get<int>();
    } else if (key == "duplicate_ids") {
      const auto s = v.is_string() ? v.get<std::string>() : std::string();
      if (s == "reject")
        c.duplicate_ids = DuplicateIdPolicy::kReject;
      else if (s == "error")
        c.duplicate_ids = DuplicateIdPolicy::kError;
      else
        FEDGUARD_THROW(
            kInvalidInput,
            "config \"duplicate_ids\" must be \"reject\" or \"error\", got " << v.dump());
    } else if (key == "reject_all_zero") {
      FEDGUARD_EXPECTS(v.is_boolean(), "config \"reject_all_zero\" must be true or false");
      c.reject_all_zero = v.get<bool>();
    } else if (key == "sketch_dim") {
      FEDGUARD_EXPECTS(
          v.is_number_integer() && v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= 65536,
          "config \"sketch_dim\" must be an integer in [1, 65536], got " << v.dump());
      c.sketch_dim = v.get<std::size_t>();
    } else if (key == "sketch_seed") {
      // is_number_unsigned: any value in [0, 2^64 - 1] (read as int64, 2^63 and up were
      // refused as "not non-negative"; hostile probe).
      FEDGUARD_EXPECTS(
          v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0),
          "config \"sketch_seed\" must be an integer in [0, 18446744073709551615], got "
              << v.dump());
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
    } else if (key == "detection") {
      c.detection = detection_from_json(v);
      if (!c.preset.name.empty())
        FEDGUARD_EXPECTS(c.detection.enabled,
                         "config: the preset needs the detection stage (\"detection\" enabled)");
    } else if (key == "monitoring") {
      c.monitoring = MonitoringConfig::from_json(v);
    } else {
      FEDGUARD_THROW(
          kInvalidInput,
          "unknown config key \""
              << key << "\" (known: backend, precision, tile_columns, "
              << "threads, duplicate_ids, reject_all_zero, sketch_dim, sketch_seed, filters, "
              << "transforms, aggregator, combine, reputation, detection, "
              << "monitoring, preset, f, f_fraction, f_floor)");
    }
  }
  c.validate();
  return c;
}

nlohmann::json EngineConfig::to_json() const {
  nlohmann::json j;
  j["backend"] = backend == BackendKind::kCpu    ? "cpu"
                 : backend == BackendKind::kCuda ? "cuda"
                                                 : "auto";
  j["precision"] = to_string(precision);
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
  j["combine"] = {{"mode", to_string(combine.mode)},
                  {"weights", combine.weights},
                  {"min_votes", combine.min_votes}};
  j["reputation"] = {{"enabled", reputation.enabled},
                     {"decay", reputation.decay},
                     {"initial", reputation.initial}};
  j["monitoring"] = monitoring.to_json();
  j["detection"] = detection_to_json(detection);
  if (!preset.name.empty()) {  // the preset itself, so that the JSON reads back the same
    nlohmann::json p;
    for (const auto& [key, value] : j.items())
      if (key != "filters" && key != "transforms" && key != "aggregator" && key != "combine")
        p[key] = value;
    p["preset"] = preset.name;
    if (preset.f)
      p["f"] = *preset.f;
    else
      p["f_fraction"] = preset.f_fraction;
    p["f_floor"] = preset.f_floor;
    return p;
  }
  return j;
}

void EngineConfig::validate() const {
  engine::check_config_values(*this);
  policy::check_composition(*this);
  for (const RuleSpec& spec : filters) rules::check_rule_parameters(spec);
  for (const RuleSpec& spec : transforms) rules::check_rule_parameters(spec);
  rules::check_rule_parameters(aggregator);
}

namespace engine {

void check_config_values(const EngineConfig& c) {
  FEDGUARD_EXPECTS(c.sketch_dim >= 1 && c.sketch_dim <= 65536,
                   "config \"sketch_dim\" must be in [1, 65536], got " << c.sketch_dim);
  FEDGUARD_EXPECTS(c.threads >= 0 && c.threads <= 4096,
                   "config \"threads\" must be in [0, 4096], got " << c.threads);
  to_string(c.precision);  // an enum value cast from an integer that names no precision throws
  to_string(c.combine.mode);
  FEDGUARD_EXPECTS(c.combine.weights.empty() || c.combine.weights.size() == c.filters.size(),
                   "config \"combine.weights\" has " << c.combine.weights.size() << " weights for "
                                                     << c.filters.size() << " filters");
  for (double w : c.combine.weights)
    FEDGUARD_EXPECTS(std::isfinite(w) && w >= 0,
                     "config \"combine.weights\" must be finite and >= 0, got " << w);
  FEDGUARD_EXPECTS(
      std::isfinite(c.combine.min_votes) && c.combine.min_votes >= 0,
      "config \"combine.min_votes\" must be finite and >= 0, got " << c.combine.min_votes);
  FEDGUARD_EXPECTS(
      std::isfinite(c.reputation.decay) && c.reputation.decay >= 0 && c.reputation.decay < 1,
      "config \"reputation.decay\" must be in [0, 1), got " << c.reputation.decay);
  FEDGUARD_EXPECTS(
      std::isfinite(c.reputation.initial) && c.reputation.initial >= 0 && c.reputation.initial <= 1,
      "config \"reputation.initial\" must be in [0, 1], got " << c.reputation.initial);
  const DetectionSpec& dt = c.detection;
  for (double budget : {dt.norm, dt.direction, dt.direction_group, dt.sign, dt.spectral,
                        dt.collusion, dt.history, dt.history_direction, dt.history_direction_group,
                        dt.history_response, dt.history_response_group})
    FEDGUARD_EXPECTS(
        std::isfinite(budget) && budget >= 0 && budget < 0.5,
        "config \"detection\": every signal's false-alarm budget must be in [0, 0.5), got "
            << budget);
  FEDGUARD_EXPECTS(std::isfinite(dt.direction_group_max_alignment) &&
                       dt.direction_group_max_alignment > 0 &&
                       dt.direction_group_max_alignment <= 1,
                   "config \"detection.direction_group_max_alignment\" must be in (0, 1] (1: "
                   "every group fires), got "
                       << dt.direction_group_max_alignment);
  FEDGUARD_EXPECTS(
      std::isfinite(dt.spectral_group) && (dt.spectral_group == 0 || dt.spectral_group >= 1.5),
      "config \"detection.spectral_group\" must be 0 (off) or a gap ratio >= 1.5, got "
          << dt.spectral_group);
  FEDGUARD_EXPECTS(
      std::isfinite(dt.history_group) && (dt.history_group == 0 || dt.history_group >= 1.5),
      "config \"detection.history_group\" must be 0 (off) or a gap score >= 1.5, got "
          << dt.history_group);
  FEDGUARD_EXPECTS(
      std::isfinite(dt.max_norm_ratio) && (dt.max_norm_ratio == 0 || dt.max_norm_ratio > 1),
      "config \"detection.max_norm_ratio\" must be 0 (off) or > 1, got " << dt.max_norm_ratio);
  FEDGUARD_EXPECTS(std::isfinite(dt.collusion_max_distance) && dt.collusion_max_distance >= 0 &&
                       dt.collusion_max_distance <= 2,
                   "config \"detection.collusion_max_distance\" must be in [0, 2], got "
                       << dt.collusion_max_distance);
  FEDGUARD_EXPECTS(std::isfinite(dt.max_reject_fraction) && dt.max_reject_fraction >= 0 &&
                       dt.max_reject_fraction <= 0.5,
                   "config \"detection.max_reject_fraction\" must be in [0, 0.5], got "
                       << dt.max_reject_fraction);
  FEDGUARD_EXPECTS(
      std::isfinite(dt.baseline_rate) && dt.baseline_rate >= 0 && dt.baseline_rate < 1,
      "config \"detection.baseline_rate\" must be in [0, 1) (0: off), got " << dt.baseline_rate);
  // The cap bounds what a patient attacker gains by building a habit at the edge of the
  // honest spread: a cut at most this many z further out.
  FEDGUARD_EXPECTS(
      std::isfinite(dt.baseline_cap) && dt.baseline_cap >= 0 && dt.baseline_cap <= 5,
      "config \"detection.baseline_cap\" must be in [0, 5] (z units), got " << dt.baseline_cap);
  // The sides whose habit gives no influence (docs/detection.md, "Own baselines"): a wider
  // bound, still finite.
  for (const auto& [name, cap] : {std::pair{"baseline_cap_norm_low", dt.baseline_cap_norm_low},
                                  std::pair{"baseline_cap_sign", dt.baseline_cap_sign}})
    FEDGUARD_EXPECTS(
        std::isfinite(cap) && cap >= 0 && cap <= 10,
        "config \"detection." << name << "\" must be in [0, 10] (z units), got " << cap);
  FEDGUARD_EXPECTS(dt.baseline_min_rounds >= 1 && dt.baseline_min_rounds <= 1000 &&
                       dt.baseline_min_rounds == std::floor(dt.baseline_min_rounds),
                   "config \"detection.baseline_min_rounds\" must be a whole number in [1, 1000], "
                   "got "
                       << dt.baseline_min_rounds);
  FEDGUARD_EXPECTS(std::isfinite(dt.baseline_min_accepted) && dt.baseline_min_accepted >= 0 &&
                       dt.baseline_min_accepted <= 1,
                   "config \"detection.baseline_min_accepted\" must be in [0, 1], got "
                       << dt.baseline_min_accepted);
  c.monitoring.validate();
}

}  // namespace engine

}  // namespace fedguard
