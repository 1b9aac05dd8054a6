#include "monitor/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fedguard::monitor {
namespace {

// Input checks' codes: always reported (0 when none), so a stream of them has no gaps.
const char* const kInputCodes[] = {"duplicate_id", "wrong_dtype",         "wrong_length",
                                   "missing_data", "invalid_num_samples", "non_finite",
                                   "all_zero"};

std::string sanitized(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '_';
  }
  return out;
}

void add_quantiles(std::map<std::string, double>& m, const std::string& prefix,
                   const std::vector<double>& v) {
  std::vector<double> finite;
  for (double x : v)
    if (std::isfinite(x)) finite.push_back(x);
  if (finite.empty()) return;
  m[prefix + "_q10"] = quantile(finite, 0.1);
  m[prefix + "_q50"] = quantile(finite, 0.5);
  m[prefix + "_q90"] = quantile(finite, 0.9);
  m[prefix + "_max"] = *std::max_element(finite.begin(), finite.end());
  m[prefix + "_min"] = *std::min_element(finite.begin(), finite.end());
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](double x) { return !std::isfinite(x); }),
      values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

bool valid_metric_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// Up to the first ':' or space: "norm_bound: norm 2.7 above ..." and "vote 2 of 3 (needs 2): ..."
// give "norm_bound" and "vote", never a name with numbers in it (a metric per distinct text
// would make the Prometheus series unbounded).
std::string reason_code(const std::string& reason) {
  return reason.substr(0, reason.find_first_of(": "));
}

std::map<std::string, double> round_metrics(const RoundResult& r, const MetricContext& ctx) {
  std::map<std::string, double> m;
  const double n = static_cast<double>(r.n);
  std::size_t accepted = 0;
  for (auto a : r.accepted) accepted += a != 0;
  m["clients"] = n;
  m["accepted"] = static_cast<double>(accepted);
  m["rejected"] = n - static_cast<double>(accepted);
  m["rejected_fraction"] = n > 0 ? (n - static_cast<double>(accepted)) / n : 0;
  for (const char* code : kInputCodes) m[std::string("rejected_") + code] = 0;
  if (ctx.rejected_by)
    for (const auto& [key, count] : *ctx.rejected_by) m["rejected_" + sanitized(key)] = count;
  else
    for (const auto& [index, text] : r.reasons) m["rejected_" + sanitized(reason_code(text))] += 1;

  for (const auto& [name, values] : r.scores) {
    if (name == "norm")
      add_quantiles(m, "norm", values);
    else if (name == "reputation")
      add_quantiles(m, "reputation", values);
    else
      add_quantiles(m, "score_" + sanitized(name), values);
  }

  // The aggregate: its norm and its cosine with the previous round's, in float64 with four
  // independent partial sums per quantity (a single running sum would serialise the loop).
  const std::size_t d = r.aggregate.size();
  const float* a = r.aggregate.data();
  const float* p = ctx.previous_aggregate && ctx.previous_aggregate->size() == d && d > 0
                       ? ctx.previous_aggregate->data()
                       : nullptr;
  double aa[4] = {0, 0, 0, 0}, pp[4] = {0, 0, 0, 0}, ap[4] = {0, 0, 0, 0};
  std::size_t j = 0;
  if (p) {
    for (; j + 4 <= d; j += 4)
      for (int l = 0; l < 4; ++l) {
        const double x = a[j + l], y = p[j + l];
        aa[l] += x * x;
        pp[l] += y * y;
        ap[l] += x * y;
      }
    for (; j < d; ++j) {
      aa[0] += static_cast<double>(a[j]) * a[j];
      pp[0] += static_cast<double>(p[j]) * p[j];
      ap[0] += static_cast<double>(a[j]) * p[j];
    }
  } else {
    for (; j + 4 <= d; j += 4)
      for (int l = 0; l < 4; ++l) aa[l] += static_cast<double>(a[j + l]) * a[j + l];
    for (; j < d; ++j) aa[0] += static_cast<double>(a[j]) * a[j];
  }
  const double a2 = (aa[0] + aa[1]) + (aa[2] + aa[3]);
  m["aggregate_norm"] = std::sqrt(a2);
  if (p) {
    const double p2 = (pp[0] + pp[1]) + (pp[2] + pp[3]), dot = (ap[0] + ap[1]) + (ap[2] + ap[3]);
    m["previous_aggregate_norm"] = std::sqrt(p2);
    if (a2 > 0 && p2 > 0)
      m["aggregate_cosine"] = std::clamp(dot / (std::sqrt(a2) * std::sqrt(p2)), -1.0, 1.0);
  }

  const std::size_t ids = ctx.client_ids && !ctx.client_ids->empty() ? ctx.client_ids->size() : r.n;
  m["new_client_fraction"] =
      ids > 0 ? static_cast<double>(ctx.new_clients) / static_cast<double>(ids) : 0;
  for (const auto& [stage, ms] : r.timings_ms)
    m["stage_" + sanitized(stage) + "_seconds"] = ms / 1000.0;
  if (ctx.server_metrics)
    for (const auto& [name, value] : *ctx.server_metrics) m["server_" + name] = value;
  return m;
}

}  // namespace fedguard::monitor
