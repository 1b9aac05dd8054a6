#include "monitor/metrics.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/aggregate_sums.h"

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
  // independent partial sums per quantity (a single running sum would serialise the loop), by
  // blocks of 2^16 values added in block order (common/aggregate_sums.h): the same bits on any
  // team.
  const std::size_t d = r.aggregate.size();
  const float* a = r.aggregate.data();
  const float* p = ctx.previous_aggregate && ctx.previous_aggregate->size() == d && d > 0
                       ? ctx.previous_aggregate->data()
                       : nullptr;
  constexpr std::size_t kBlock = common::kAggregateSumBlock, kWidth = common::kAggregateSumWidth;
  const std::size_t blocks = (d + kBlock - 1) / kBlock;
  std::vector<double> sums(blocks * kWidth, 0.0);
  const auto nblocks = static_cast<std::ptrdiff_t>(blocks);
  // On the team only when the sums are long enough to pay for waking it: after the idle pause
  // between a server's rounds an OpenMP region took ~4-5 ms to start on the 2-core VMs
  // (cpu_backend.cc), and this stage took 5.5 ms at d = 1e5 where its work is 0.03 ms
  // (2026-12-05). One thread sums 2^23 values in about 4 ms, the backend's own threshold.
  // Right after a pass on the team (ctx.team_warm), its threads are still spinning and a region
  // starts in microseconds: from 2^18 values the sums go to the team. A mean's round at
  // 100 x 1e6 had become 29 ms, and this stage's 0.4 ms on one thread 1.4% of it.
  constexpr std::size_t kTeamAboveValues = std::size_t{1} << 23;
  constexpr std::size_t kWarmTeamAboveValues = std::size_t{1} << 18;
  const int team = d < (ctx.team_warm ? kWarmTeamAboveValues : kTeamAboveValues) ? 1
                   : ctx.threads > 0                                             ? ctx.threads
                                     : omp_get_max_threads();
  float* copy = ctx.aggregate_copy;
#pragma omp parallel for schedule(static) num_threads(team) if (team > 1 && blocks > 1)
  for (std::ptrdiff_t bi = 0; bi < nblocks; ++bi) {
    const std::size_t j0 = static_cast<std::size_t>(bi) * kBlock, w = std::min(kBlock, d - j0);
    common::aggregate_block_sums(a + j0, p ? p + j0 : nullptr, w, copy ? copy + j0 : nullptr,
                                 sums.data() + static_cast<std::size_t>(bi) * kWidth);
  }
  const common::AggregateSums total = common::add_block_sums(sums.data(), blocks);
  const double a2 = total.aa;
  m["aggregate_norm"] = std::sqrt(a2);
  if (p) {
    const double p2 = total.pp, dot = total.ap;
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
