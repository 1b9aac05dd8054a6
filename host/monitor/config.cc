// The "monitoring" section of a policy (docs/config.md, "monitoring"): parse, defaults, checks.
#include <cmath>

#include "fedguard/error.h"
#include "fedguard/monitoring.h"
#include "monitor/detector.h"

namespace fedguard {
namespace {

DetectorSpec make(std::string metric, std::string method, std::string direction) {
  DetectorSpec s;
  s.metric = std::move(metric);
  s.method = std::move(method);
  s.direction = std::move(direction);
  for (const auto& [name, value] : monitor::method_parameters(s.method)) s.params[name] = value;
  s.warmup = 30;  // the JSON default and the defaults' (a bare C++ DetectorSpec has 20)
  return s;
}

DetectorSpec detector_from_json(const nlohmann::json& v, std::size_t index) {
  FEDGUARD_EXPECTS(v.is_object(), "config \"monitoring.detectors["
                                      << index << "]\" must be an object, got " << v.dump());
  for (const char* key : {"metric", "method"})
    FEDGUARD_EXPECTS(
        v.contains(key) && v.at(key).is_string(),
        "config \"monitoring.detectors[" << index << "]\" needs a string \"" << key << "\"");
  DetectorSpec s =
      make(v.at("metric").get<std::string>(), v.at("method").get<std::string>(), "both");
  const std::string where =
      "config \"monitoring.detectors[" + std::to_string(index) + "]\" (" + s.key() + ")";
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    const auto& x = item.value();
    if (key == "metric" || key == "method") continue;
    if (key == "direction") {
      FEDGUARD_EXPECTS(x.is_string(),
                       where << ": \"direction\" must be \"up\", \"down\" or \"both\"");
      s.direction = x.get<std::string>();
    } else if (key == "warmup") {
      FEDGUARD_EXPECTS(x.is_number_unsigned() && x.get<std::uint64_t>() <= 1000000,
                       where << ": \"warmup\" must be an integer in [0, 1e6], got " << x.dump());
      s.warmup = x.get<std::size_t>();
    } else if (key == "baseline") {
      FEDGUARD_EXPECTS(x.is_object() && x.size() == 2 && x.contains("mean") &&
                           x.contains("scale") && x.at("mean").is_number() &&
                           x.at("scale").is_number(),
                       where << ": \"baseline\" must be {\"mean\": number, \"scale\": number}, got "
                             << x.dump());
      s.fixed_baseline = true;
      s.baseline_mean = x.at("mean").get<double>();
      s.baseline_scale = x.at("scale").get<double>();
    } else if (key == "min_scale") {
      FEDGUARD_EXPECTS(x.is_number(),
                       where << ": \"min_scale\" must be a number, got " << x.dump());
      s.min_scale = x.get<double>();
    } else if (key == "baseline_lambda" || key == "scale_lambda") {
      FEDGUARD_EXPECTS(x.is_number(),
                       where << ": \"" << key << "\" must be a number, got " << x.dump());
      (key == "baseline_lambda" ? s.baseline_lambda : s.scale_lambda) = x.get<double>();
    } else if (s.params.count(key)) {
      FEDGUARD_EXPECTS(x.is_number(),
                       where << ": \"" << key << "\" must be a number, got " << x.dump());
      s.params[key] = x.get<double>();
    } else {
      std::string known =
          "metric, method, direction, warmup, baseline, min_scale, baseline_lambda, scale_lambda";
      for (const auto& [name, value] : monitor::method_parameters(s.method)) known += ", " + name;
      FEDGUARD_THROW(kInvalidInput,
                     where << ": unknown key \"" << key << "\" (known: " << known << ")");
    }
  }
  if (s.fixed_baseline && !v.contains("warmup")) s.warmup = 0;
  return s;
}

ClientMonitorSpec clients_from_json(const nlohmann::json& v) {
  ClientMonitorSpec c;
  if (v.is_boolean()) {
    c.enabled = v.get<bool>();
    return c;
  }
  const std::string where = "config \"monitoring.clients\"";
  FEDGUARD_EXPECTS(v.is_object(), where << " must be true, false or an object, got " << v.dump());
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    const auto& x = item.value();
    if (key == "enabled") {
      FEDGUARD_EXPECTS(x.is_boolean(), where << ": \"enabled\" must be true or false");
      c.enabled = x.get<bool>();
    } else if (key == "signals") {
      FEDGUARD_EXPECTS(x.is_array(), where << ": \"signals\" must be a list of signal names");
      c.signals.clear();
      for (const auto& name : x) {
        FEDGUARD_EXPECTS(name.is_string(),
                         where << ": \"signals\" holds a non-string " << name.dump());
        c.signals.push_back(name.get<std::string>());
      }
    } else if (key == "k" || key == "h" || key == "min_scale" || key == "baseline_lambda" ||
               key == "scale_lambda" || key == "min_group_fraction") {
      FEDGUARD_EXPECTS(x.is_number(),
                       where << ": \"" << key << "\" must be a number, got " << x.dump());
      (key == "k"                    ? c.k
       : key == "h"                  ? c.h
       : key == "min_scale"          ? c.min_scale
       : key == "baseline_lambda"    ? c.baseline_lambda
       : key == "min_group_fraction" ? c.min_group_fraction
                                     : c.scale_lambda) = x.get<double>();
    } else if (key == "warmup" || key == "forget_after" || key == "max_clients" ||
               key == "min_group") {
      FEDGUARD_EXPECTS(x.is_number_unsigned(), where << ": \"" << key
                                                     << "\" must be a non-negative integer, got "
                                                     << x.dump());
      if (key == "warmup")
        c.warmup = x.get<std::size_t>();
      else if (key == "forget_after")
        c.forget_after = x.get<std::uint64_t>();
      else if (key == "min_group")
        c.min_group = x.get<std::size_t>();
      else
        c.max_clients = x.get<std::size_t>();
    } else {
      FEDGUARD_THROW(kInvalidInput, where << ": unknown key \"" << key
                                          << "\" (known: enabled, signals, k, h, min_group, "
                                             "min_group_fraction, warmup, baseline_lambda, "
                                             "scale_lambda, min_scale, forget_after, "
                                             "max_clients)");
    }
  }
  return c;
}

}  // namespace

MonitoringConfig::MonitoringConfig() : detectors(default_detectors()) {}

std::vector<DetectorSpec> MonitoringConfig::default_detectors() {
  std::vector<DetectorSpec> d;
  // Norms: an attack that scales or adds to updates raises them; a converging model lowers
  // them, which is no alarm (direction up).
  d.push_back(make("aggregate_norm", "cusum", "up"));
  d.push_back(make("norm_q50", "cusum", "up"));
  // A share of clients rejected: scale at least 5 % of the clients, so that one more
  // rejection in a small federation is no change point; k = 1 (a shift of two scales, 10 % of
  // the clients, is what it is for): with detection's own baselines the benign level is low and
  // tight, and at k = 0.5 a benign drift that rejected one client every fourth round instead of
  // every seventh alerted once in 4,500 attack-free simulated rounds; at k = 1 none, with the
  // attacked scenarios' delays the same within a round (docs/monitoring.md).
  DetectorSpec rejected = make("rejected_fraction", "cusum", "up");
  rejected.min_scale = 0.05;
  rejected.params["k"] = 1.0;
  d.push_back(rejected);
  // Successive aggregates turning away from each other (a redirection of the model).
  // Successive cosines share an aggregate (positively correlated): a wider limit than the
  // method's default (tests/monitor/scenarios_test.cc: benign drift, docs/monitoring.md).
  DetectorSpec cosine = make("aggregate_cosine", "ewma", "down");
  cosine.params["L"] = 4.5;
  // The baseline follows the cosine: as a model converges its successive aggregates turn less
  // alike (0.95 -> 0.4 over 100 rounds at n = 200, where the aggregate is smooth) and scatter
  // more, a benign trend that a fixed baseline alerted on 8-9 times per 100 attack-free rounds.
  // A trend of s scales a round leaves the mean s / b behind: at n = 200, Dirichlet 0.1 the
  // decline is about 0.04 scales a round, and with b = 0.05 the lag used half the EWMA's limit,
  // so that one noisy late round alerted (18 alerts in 36 honest runs of 100 rounds). b = 0.15
  // (time constant 7 rounds) leaves 0.27 scales; the scale following at 0.02 (the client
  // monitor's rate) widens with the late scatter and narrows where the cosine is steady
  // (docs/monitoring.md, "The cosine's lag").
  cosine.baseline_lambda = 0.15;
  cosine.scale_lambda = 0.02;
  d.push_back(cosine);
  // The server's own validation, where it supplies it (--server-metric loss=..., accuracy=...).
  d.push_back(make("server_loss", "page_hinkley", "up"));
  d.push_back(make("server_accuracy", "page_hinkley", "down"));
  return d;
}

MonitoringConfig MonitoringConfig::from_json(const nlohmann::json& v) {
  MonitoringConfig c;
  if (v.is_boolean()) {
    c.enabled = v.get<bool>();
    return c;
  }
  FEDGUARD_EXPECTS(v.is_object(), "config \"monitoring\" must be true, false or an object like "
                                      << "{\"detectors\": [...]}, got " << v.dump());
  for (const auto& item : v.items()) {
    if (item.key() == "enabled") {
      FEDGUARD_EXPECTS(item.value().is_boolean(),
                       "config \"monitoring.enabled\" must be true or false");
      c.enabled = item.value().get<bool>();
    } else if (item.key() == "clients") {
      c.clients = clients_from_json(item.value());
    } else if (item.key() == "detectors") {
      FEDGUARD_EXPECTS(item.value().is_array(), "config \"monitoring.detectors\" must be a list");
      c.detectors.clear();
      for (std::size_t i = 0; i < item.value().size(); ++i)
        c.detectors.push_back(detector_from_json(item.value()[i], i));
    } else {
      FEDGUARD_THROW(kInvalidInput,
                     "unknown key \""
                         << item.key()
                         << "\" in config \"monitoring\" (known: enabled, detectors, clients)");
    }
  }
  c.validate();
  return c;
}

nlohmann::json MonitoringConfig::to_json() const {
  nlohmann::json j;
  j["enabled"] = enabled;
  j["detectors"] = nlohmann::json::array();
  for (const DetectorSpec& s : detectors) {
    nlohmann::json d = {{"metric", s.metric},
                        {"method", s.method},
                        {"direction", s.direction},
                        {"warmup", s.warmup}};
    for (const auto& [name, value] : s.params) d[name] = value;
    if (s.fixed_baseline) d["baseline"] = {{"mean", s.baseline_mean}, {"scale", s.baseline_scale}};
    if (s.min_scale > 0) d["min_scale"] = s.min_scale;
    if (s.baseline_lambda > 0) d["baseline_lambda"] = s.baseline_lambda;
    if (s.scale_lambda > 0) d["scale_lambda"] = s.scale_lambda;
    j["detectors"].push_back(std::move(d));
  }
  j["clients"] = {{"enabled", clients.enabled},
                  {"signals", clients.signals},
                  {"k", clients.k},
                  {"h", clients.h},
                  {"min_group", clients.min_group},
                  {"min_group_fraction", clients.min_group_fraction},
                  {"warmup", clients.warmup},
                  {"baseline_lambda", clients.baseline_lambda},
                  {"scale_lambda", clients.scale_lambda},
                  {"min_scale", clients.min_scale},
                  {"forget_after", clients.forget_after},
                  {"max_clients", clients.max_clients}};
  return j;
}

void MonitoringConfig::validate() const {
  {
    const std::string where = "config \"monitoring.clients\"";
    for (const std::string& s : clients.signals)
      FEDGUARD_EXPECTS(s == "norm" || s == "direction" || s == "sign" || s == "spectral" ||
                           s == "collusion" || s == "history" || s == "history_direction",
                       where << ": unknown signal \"" << s
                             << "\" (known: norm, direction, sign, spectral, collusion, history, "
                                "history_direction)");
    FEDGUARD_EXPECTS(std::isfinite(clients.k) && clients.k >= 0,
                     where << ": \"k\" must be >= 0, got " << clients.k);
    FEDGUARD_EXPECTS(std::isfinite(clients.h) && clients.h > 0,
                     where << ": \"h\" must be > 0, got " << clients.h);
    FEDGUARD_EXPECTS(clients.warmup >= 2 && clients.warmup <= 100000,
                     where << ": \"warmup\" must be in [2, 1e5], got " << clients.warmup);
    FEDGUARD_EXPECTS(std::isfinite(clients.min_scale) && clients.min_scale > 0,
                     where << ": \"min_scale\" must be > 0, got " << clients.min_scale);
    FEDGUARD_EXPECTS(clients.max_clients >= 1, where << ": \"max_clients\" must be >= 1");
    FEDGUARD_EXPECTS(clients.min_group >= 1, where << ": \"min_group\" must be >= 1");
    FEDGUARD_EXPECTS(
        std::isfinite(clients.min_group_fraction) && clients.min_group_fraction >= 0 &&
            clients.min_group_fraction <= 1,
        where << ": \"min_group_fraction\" must be in [0, 1], got " << clients.min_group_fraction);
    for (const double lam : {clients.baseline_lambda, clients.scale_lambda})
      FEDGUARD_EXPECTS(
          std::isfinite(lam) && lam >= 0 && lam < 1,
          where << ": \"baseline_lambda\" and \"scale_lambda\" must be in [0, 1), got " << lam);
  }
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < detectors.size(); ++i) {
    const DetectorSpec& s = detectors[i];
    const std::string where =
        "config \"monitoring.detectors[" + std::to_string(i) + "]\" (" + s.key() + ")";
    FEDGUARD_EXPECTS(!s.metric.empty(), where << ": \"metric\" is empty");
    monitor::method_parameters(s.method);  // throws for an unknown method
    FEDGUARD_EXPECTS(seen.emplace(s.key(), i).second,
                     where << ": the same metric and method as detectors[" << seen[s.key()] << "]");
    FEDGUARD_EXPECTS(s.direction == "up" || s.direction == "down" || s.direction == "both",
                     where << ": \"direction\" must be \"up\", \"down\" or \"both\", got \""
                           << s.direction << "\"");
    for (const auto& [name, value] : monitor::method_parameters(s.method)) {
      const auto it = s.params.find(name);
      FEDGUARD_EXPECTS(it != s.params.end(), where << ": parameter \"" << name << "\" missing");
      FEDGUARD_EXPECTS(std::isfinite(it->second), where << ": \"" << name << "\" must be finite");
    }
    FEDGUARD_EXPECTS(s.params.size() == monitor::method_parameters(s.method).size(),
                     where << ": parameters other than the method's");
    for (const double lam : {s.baseline_lambda, s.scale_lambda})
      FEDGUARD_EXPECTS(
          std::isfinite(lam) && lam >= 0 && lam < 1,
          where << ": \"baseline_lambda\" and \"scale_lambda\" must be in [0, 1), got " << lam);
    auto p = [&](const char* name) { return s.params.at(name); };
    if (s.method == "cusum") {
      FEDGUARD_EXPECTS(p("k") >= 0, where << ": \"k\" must be >= 0, got " << p("k"));
      FEDGUARD_EXPECTS(p("h") > 0, where << ": \"h\" must be > 0, got " << p("h"));
    } else if (s.method == "page_hinkley") {
      FEDGUARD_EXPECTS(p("delta") >= 0, where << ": \"delta\" must be >= 0, got " << p("delta"));
      FEDGUARD_EXPECTS(p("lambda") > 0, where << ": \"lambda\" must be > 0, got " << p("lambda"));
      FEDGUARD_EXPECTS(p("alpha") > 0 && p("alpha") <= 1,
                       where << ": \"alpha\" must be in (0, 1], got " << p("alpha"));
      // Bounded like "warmup": a value of 2^64 silently meant "never alarm" (hostile probe).
      FEDGUARD_EXPECTS(p("min_instances") >= 1 && p("min_instances") <= 1e6 &&
                           p("min_instances") == std::floor(p("min_instances")),
                       where << ": \"min_instances\" must be an integer in [1, 1e6], got "
                             << p("min_instances"));
    } else {
      FEDGUARD_EXPECTS(p("lambda") > 0 && p("lambda") <= 1,
                       where << ": \"lambda\" must be in (0, 1], got " << p("lambda"));
      FEDGUARD_EXPECTS(p("L") > 0, where << ": \"L\" must be > 0, got " << p("L"));
    }
    if (s.fixed_baseline) {
      FEDGUARD_EXPECTS(
          std::isfinite(s.baseline_mean) && std::isfinite(s.baseline_scale) && s.baseline_scale > 0,
          where << ": \"baseline\" needs a finite mean and a finite scale > 0, got mean "
                << s.baseline_mean << ", scale " << s.baseline_scale);
    } else {
      FEDGUARD_EXPECTS(
          s.warmup >= 2,
          where << ": \"warmup\" must be >= 2 without a fixed \"baseline\", got " << s.warmup);
    }
    FEDGUARD_EXPECTS(std::isfinite(s.min_scale) && s.min_scale >= 0,
                     where << ": \"min_scale\" must be finite and >= 0, got " << s.min_scale);
  }
}

nlohmann::ordered_json Alert::to_json() const {
  nlohmann::ordered_json j;
  j["metric"] = metric;
  j["round"] = round;
  j["method"] = method;
  j["direction"] = direction;
  j["statistic"] = statistic;
  j["threshold"] = threshold;
  j["value"] = value;
  j["baseline_mean"] = baseline_mean;
  j["baseline_scale"] = baseline_scale;
  if (!client.empty()) j["client"] = client;
  return j;
}

}  // namespace fedguard
