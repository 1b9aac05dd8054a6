// Feeding one value to a detector: warm-up, standardisation, the method's test, the alert.
#include "monitor/detector.h"

#include <algorithm>
#include <cmath>

#include "fedguard/error.h"

namespace fedguard::monitor {

const std::vector<std::pair<std::string, double>>& method_parameters(const std::string& method) {
  static const std::vector<std::pair<std::string, double>> cusum = {{"k", 0.5}, {"h", 10.0}};
  static const std::vector<std::pair<std::string, double>> ph = {
      {"delta", 0.5}, {"lambda", 10.0}, {"alpha", 1.0}, {"min_instances", 1.0}};
  static const std::vector<std::pair<std::string, double>> ewma = {{"lambda", 0.2}, {"L", 4.0}};
  if (method == "cusum") return cusum;
  if (method == "page_hinkley") return ph;
  if (method == "ewma") return ewma;
  FEDGUARD_THROW(kInvalidInput, "unknown monitoring method \""
                                    << method << "\" (known: cusum, page_hinkley, ewma)");
}

void follow_baseline(DetectorState& s, double x, double baseline_lambda, double scale_lambda,
                     double floor) {
  const double r = x - s.mean;
  s.scale = std::max(std::sqrt((1 - scale_lambda) * s.scale * s.scale +
                               scale_lambda * std::min(r * r, 9 * s.scale * s.scale)),
                     floor);
  s.mean += baseline_lambda * r;
}

void restart_test(DetectorState& s) {
  s.n = 0;
  s.s_up = s.s_down = s.run_mean = s.extreme_up = s.extreme_down = 0;
}

std::optional<Alert> feed(const DetectorSpec& spec, DetectorState& s, double x,
                          std::uint64_t round) {
  FEDGUARD_EXPECTS(std::isfinite(x), "metric \"" << spec.metric << "\" is " << x << " in round "
                                                 << round << "; detectors take finite values only");
  ++s.values;
  if (!s.ready) {
    if (spec.fixed_baseline) {
      s.mean = spec.baseline_mean;
      s.scale = spec.baseline_scale;
      s.ready = true;
    } else {
      s.warmup.push_back(x);
      if (s.warmup.size() < spec.warmup) return std::nullopt;
      robust_baseline(s.warmup, spec.min_scale, s.mean, s.scale);
      s.warmup.clear();
      s.warmup.shrink_to_fit();
      s.ready = true;
      return std::nullopt;  // the last warm-up value is part of the baseline, not tested
    }
  }
  const double z = (x - s.mean) / s.scale;
  ++s.n;
  TestStep t;
  if (spec.method == "cusum")
    t = cusum_step(spec, s, z);
  else if (spec.method == "page_hinkley")
    t = page_hinkley_step(spec, s, z);
  else if (spec.method == "ewma")
    t = ewma_step(spec, s, z);
  else
    FEDGUARD_THROW(kInvalidInput, "unknown monitoring method \"" << spec.method << "\"");
  // The baseline follows the metric where the spec says so (after the test: this value was
  // judged against the baseline before it).
  if (spec.baseline_lambda > 0 || spec.scale_lambda > 0)
    follow_baseline(s, x, spec.baseline_lambda, spec.scale_lambda,
                    spec.min_scale > 0 ? spec.min_scale : 1e-9 * std::max(1.0, std::fabs(s.mean)));
  if (!t.alarm) return std::nullopt;
  ++s.alarms;
  restart_test(s);
  Alert a;
  a.metric = spec.metric;
  a.round = round;
  a.method = spec.method;
  a.direction = t.up ? "up" : "down";
  a.statistic = t.statistic;
  a.threshold = t.threshold;
  a.value = x;
  a.baseline_mean = s.mean;
  a.baseline_scale = s.scale;
  return a;
}

bool DetectorState::operator==(const DetectorState& o) const {
  return warmup == o.warmup && ready == o.ready && mean == o.mean && scale == o.scale && n == o.n &&
         s_up == o.s_up && s_down == o.s_down && run_mean == o.run_mean &&
         extreme_up == o.extreme_up && extreme_down == o.extreme_down && alarms == o.alarms &&
         values == o.values;
}

// Doubles go through nlohmann's shortest round-trip representation, which parses back to the
// same bits for every finite value (tests/monitor/monitor_test.cc checks the state file bit for
// bit); every field is finite by construction (values fed are finite, sums of finite values).
nlohmann::json DetectorState::to_json() const {
  return {{"warmup", warmup},
          {"ready", ready},
          {"mean", mean},
          {"scale", scale},
          {"n", n},
          {"s_up", s_up},
          {"s_down", s_down},
          {"run_mean", run_mean},
          {"extreme_up", extreme_up},
          {"extreme_down", extreme_down},
          {"alarms", alarms},
          {"values", values}};
}

DetectorState DetectorState::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) FEDGUARD_THROW(kIo, where << ": detector state is not an object");
  auto number = [&](const char* key) {
    if (!j.contains(key) || !j.at(key).is_number() || !std::isfinite(j.at(key).get<double>()))
      FEDGUARD_THROW(
          kIo, where << ": detector state field '" << key << "' missing or not a finite number");
    return j.at(key).get<double>();
  };
  auto count = [&](const char* key) {
    if (!j.contains(key) || !j.at(key).is_number_unsigned())
      FEDGUARD_THROW(kIo, where << ": detector state field '" << key
                                << "' missing or not a non-negative integer");
    return j.at(key).get<std::uint64_t>();
  };
  DetectorState s;
  if (!j.contains("warmup") || !j.at("warmup").is_array())
    FEDGUARD_THROW(kIo, where << ": detector state field 'warmup' missing or not a list");
  for (const auto& v : j.at("warmup")) {
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      FEDGUARD_THROW(kIo, where << ": detector state 'warmup' holds a non-number");
    s.warmup.push_back(v.get<double>());
  }
  if (!j.contains("ready") || !j.at("ready").is_boolean())
    FEDGUARD_THROW(kIo, where << ": detector state field 'ready' missing or not true/false");
  s.ready = j.at("ready").get<bool>();
  s.mean = number("mean");
  s.scale = number("scale");
  if (!(s.scale > 0))
    FEDGUARD_THROW(kIo, where << ": detector state scale " << s.scale << " is not > 0");
  s.n = count("n");
  s.s_up = number("s_up");
  s.s_down = number("s_down");
  s.run_mean = number("run_mean");
  s.extreme_up = number("extreme_up");
  s.extreme_down = number("extreme_down");
  s.alarms = count("alarms");
  s.values = count("values");
  return s;
}

}  // namespace fedguard::monitor
