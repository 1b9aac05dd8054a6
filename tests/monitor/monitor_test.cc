// Monitoring through the engine: metrics against float64 brute force, alerts, the state file's
// monitor section bit for bit, a failed round changing nothing, refused metrics, the config.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/state_file.h"
#include "fedguard/engine.h"
#include "monitor/metrics.h"
#include "monitor/prometheus.h"

namespace fedguard {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fedguard_monitor_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// n x d float32 updates: base direction * scale + noise.
std::vector<float> round_updates(std::size_t n, std::size_t d, double scale, std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  std::vector<float> u(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      u[i * d + j] = static_cast<float>(scale * (1.0 + 0.1 * std::sin(j)) + 0.3 * g(rng));
  return u;
}

RoundResult run(Engine& e, const std::vector<float>& u, std::size_t n, std::size_t d,
                const std::vector<std::string>& ids = {},
                std::map<std::string, double> server = {}) {
  RoundInput in;
  in.updates = UpdateView(u.data(), n, d, DType::kFloat32);
  in.client_ids = ids;
  in.server_metrics = std::move(server);
  return e.process_round(in);
}

const char* kFastConfig = R"({"aggregator": {"rule": "mean"},
  "monitoring": {"detectors": [
    {"metric": "aggregate_norm", "method": "cusum", "direction": "up", "warmup": 10},
    {"metric": "norm_q50", "method": "page_hinkley", "warmup": 10},
    {"metric": "aggregate_cosine", "method": "ewma", "direction": "down", "warmup": 10},
    {"metric": "server_loss", "method": "cusum", "warmup": 3}]}})";

// The aggregate's norm and its cosine with the previous aggregate over a wide model (128
// blocks of 2^16 values and a tail that is not a multiple of four: wide enough that the sums
// run on the team, metrics.cc): the float64 brute force's to 1e-12, and the same bits on one
// thread, two, three and every core.
TEST(MonitorMetrics, AggregateSumsMatchBruteForceOnAnyTeam) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g;
  const std::size_t d = (std::size_t{1} << 23) + 3;
  RoundResult r;
  r.aggregate.resize(d);
  std::vector<float> previous(d);
  for (float& x : r.aggregate) x = g(rng);
  for (std::size_t j = 0; j < d; ++j) previous[j] = 0.5f * r.aggregate[j] + g(rng);
  double aa = 0, pp = 0, ap = 0;
  for (std::size_t j = 0; j < d; ++j) {
    aa += static_cast<double>(r.aggregate[j]) * r.aggregate[j];
    pp += static_cast<double>(previous[j]) * previous[j];
    ap += static_cast<double>(r.aggregate[j]) * previous[j];
  }
  std::map<std::string, double> first;
  for (int threads : {1, 2, 3, 0})
    for (bool warm : {false, true}) {  // warm: a team already awake takes it from 2^18 values
      monitor::MetricContext ctx;
      ctx.previous_aggregate = &previous;
      ctx.threads = threads;
      ctx.team_warm = warm;
      const auto m = monitor::round_metrics(r, ctx);
      EXPECT_NEAR(m.at("aggregate_norm"), std::sqrt(aa), 1e-12 * std::sqrt(aa));
      EXPECT_NEAR(m.at("previous_aggregate_norm"), std::sqrt(pp), 1e-12 * std::sqrt(pp));
      EXPECT_NEAR(m.at("aggregate_cosine"), ap / std::sqrt(aa * pp), 1e-12);
      if (first.empty()) first = m;
      EXPECT_EQ(m.at("aggregate_norm"), first.at("aggregate_norm")) << threads;
      EXPECT_EQ(m.at("aggregate_cosine"), first.at("aggregate_cosine")) << threads;
    }
  // A model between the two thresholds (2^18 + 5 values): on one thread cold, on the team warm,
  // the same bits.
  RoundResult mid;
  mid.aggregate.assign(r.aggregate.begin(), r.aggregate.begin() + (1 << 18) + 5);
  std::vector<float> mid_previous(previous.begin(), previous.begin() + (1 << 18) + 5);
  monitor::MetricContext cold, warm;
  cold.previous_aggregate = warm.previous_aggregate = &mid_previous;
  cold.threads = warm.threads = 2;
  warm.team_warm = true;
  const auto mc = monitor::round_metrics(mid, cold), mw = monitor::round_metrics(mid, warm);
  EXPECT_EQ(mc.at("aggregate_norm"), mw.at("aggregate_norm"));
  EXPECT_EQ(mc.at("aggregate_cosine"), mw.at("aggregate_cosine"));
}

TEST(Monitor, MetricsMatchBruteForce) {
  std::mt19937_64 rng(1);
  const std::size_t n = 9, d = 37;
  Engine e(EngineConfig::from_json(
      R"({"filters": [{"rule": "norm_bound", "max_ratio": 1.5}], "aggregator": {"rule": "mean"}})"));
  auto u0 = round_updates(n, d, 1.0, rng);
  const RoundResult r0 = run(e, u0, n, d, {"a", "b", "c", "d", "e", "f", "g", "h", "i"});
  auto u1 = round_updates(n, d, 1.0, rng);
  for (std::size_t j = 0; j < d; ++j) u1[2 * d + j] *= 10;  // norm_bound rejects client 2
  u1[5 * d + 3] = std::nanf("");                            // client 5: non_finite
  const RoundResult r1 = run(e, u1, n, d, {"a", "b", "c", "d", "e", "x", "y", "h", "i"});

  const auto& m = r1.metrics;
  EXPECT_EQ(m.at("clients"), 9);
  EXPECT_EQ(m.at("rejected"), 2);
  EXPECT_EQ(m.at("accepted"), 7);
  EXPECT_DOUBLE_EQ(m.at("rejected_fraction"), 2.0 / 9);
  EXPECT_EQ(m.at("rejected_non_finite"), 1);
  EXPECT_EQ(m.at("rejected_rule_norm_bound"), 1);
  EXPECT_EQ(m.at("rejected_all_zero"), 0);
  EXPECT_DOUBLE_EQ(m.at("new_client_fraction"), 2.0 / 9);  // x and y
  EXPECT_EQ(r0.metrics.at("new_client_fraction"), 1.0);

  // Norm quantiles: brute force over the finite norms, numpy's linear interpolation.
  std::vector<double> norms;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == 5) continue;
    double s = 0;
    for (std::size_t j = 0; j < d; ++j) s += static_cast<double>(u1[i * d + j]) * u1[i * d + j];
    norms.push_back(std::sqrt(s));
  }
  std::sort(norms.begin(), norms.end());
  auto q = [&](double p) {
    const double pos = p * (norms.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(pos);
    return norms[lo] + (pos - lo) * (norms[std::min(lo + 1, norms.size() - 1)] - norms[lo]);
  };
  EXPECT_NEAR(m.at("norm_q50"), q(0.5), 1e-5 * q(0.5));
  EXPECT_NEAR(m.at("norm_q10"), q(0.1), 1e-5 * q(0.1));
  EXPECT_NEAR(m.at("norm_q90"), q(0.9), 1e-5 * q(0.9));
  EXPECT_NEAR(m.at("norm_max"), norms.back(), 1e-5 * norms.back());

  // Aggregate norm and cosine with the previous aggregate, float64.
  double aa = 0, pp = 0, ap = 0;
  for (std::size_t j = 0; j < d; ++j) {
    aa += static_cast<double>(r1.aggregate[j]) * r1.aggregate[j];
    pp += static_cast<double>(r0.aggregate[j]) * r0.aggregate[j];
    ap += static_cast<double>(r1.aggregate[j]) * r0.aggregate[j];
  }
  EXPECT_NEAR(m.at("aggregate_norm"), std::sqrt(aa), 1e-12 * std::sqrt(aa));
  EXPECT_NEAR(m.at("previous_aggregate_norm"), std::sqrt(pp), 1e-12 * std::sqrt(pp));
  EXPECT_NEAR(m.at("aggregate_cosine"), ap / std::sqrt(aa * pp), 1e-12);
  EXPECT_EQ(r0.metrics.count("aggregate_cosine"), 0u);  // no previous aggregate in round 0
  EXPECT_TRUE(m.count("score_norm_bound_q50"));
  EXPECT_TRUE(m.count("stage_pass1_scan_seconds"));
  EXPECT_TRUE(r1.alerts.empty());
  EXPECT_TRUE(r1.metrics_refused.empty());
}

TEST(Monitor, ReasonCodesAreTheFirstWord) {
  EXPECT_EQ(monitor::reason_code("non_finite"), "non_finite");
  EXPECT_EQ(monitor::reason_code("norm_bound: norm 2.773 above 1.3 x median norm 1.635"),
            "norm_bound");
  EXPECT_EQ(monitor::reason_code("vote 2 of 3 (needs 2): krum: not selected; dnc: outlier"),
            "vote");
}

TEST(Monitor, QuantileIsNumpysLinearInterpolation) {
  EXPECT_EQ(monitor::quantile({3, 1, 2, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(monitor::quantile({1, 2, 3, 4, 5}, 0.1), 1.4);
  EXPECT_EQ(monitor::quantile({7}, 0.9), 7);
  EXPECT_TRUE(std::isnan(monitor::quantile({std::nan("")}, 0.5)));
  EXPECT_EQ(monitor::quantile({std::nan(""), 1, 3}, 0.5), 2);
}

TEST(Monitor, AStepInTheAggregateNormRaisesOneAlertNamingEverything) {
  std::mt19937_64 rng(2);
  const std::size_t n = 10, d = 50;
  Engine e(EngineConfig::from_json(kFastConfig));
  std::vector<Alert> alerts;
  std::uint64_t first_alert_round = 0;
  for (int t = 0; t < 30; ++t) {
    const auto u = round_updates(n, d, t < 20 ? 1.0 : 3.0, rng);
    const RoundResult r = run(e, u, n, d);
    for (const Alert& a : r.alerts) {
      if (a.metric == "aggregate_norm" && alerts.empty())
        first_alert_round = static_cast<std::uint64_t>(t);
      alerts.push_back(a);
    }
    if (t < 20) {
      EXPECT_TRUE(r.alerts.empty()) << "round " << t;
    }
  }
  ASSERT_FALSE(alerts.empty());
  EXPECT_EQ(first_alert_round, 20u);  // a 3x jump: many scales at once
  const Alert& a = alerts.front();
  EXPECT_EQ(a.metric, "aggregate_norm");
  EXPECT_EQ(a.method, "cusum");
  EXPECT_EQ(a.direction, "up");
  EXPECT_EQ(a.round, 20u);
  EXPECT_EQ(a.threshold, 10);
  EXPECT_GT(a.statistic, a.threshold);
  // In the JSON, with the contract's keys.
  std::mt19937_64 rng2(2);
  Engine e2(EngineConfig::from_json(kFastConfig));
  nlohmann::ordered_json j;
  for (int t = 0; t <= 20; ++t)
    j = run(e2, round_updates(n, d, t < 20 ? 1.0 : 3.0, rng2), n, d).to_json();
  ASSERT_TRUE(j.contains("metrics") && j["metrics"].is_object());
  ASSERT_TRUE(j["alerts"].is_array() && !j["alerts"].empty());
  for (const char* key : {"metric", "round", "method", "statistic", "threshold"})
    EXPECT_TRUE(j["alerts"][0].contains(key));
  EXPECT_EQ(j["alerts"][0]["round"], 20);
  EXPECT_EQ(e2.alert_counts().at("aggregate_norm/cusum"), 1u);
}

TEST(Monitor, StateRoundTripsBitForBitAndContinuesIdentically) {
  std::mt19937_64 rng(3);
  const std::size_t n = 8, d = 40;
  Engine a(EngineConfig::from_json(kFastConfig));
  for (int t = 0; t < 14; ++t)
    run(a, round_updates(n, d, 1.0 + 0.01 * t, rng), n, d, {}, {{"loss", 1.0 / (t + 1)}});
  const std::string p1 = temp_path("s1.bin"), p2 = temp_path("s2.bin");
  a.save_state(p1);
  Engine b(EngineConfig::from_json(kFastConfig));
  b.load_state(p1);
  b.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  // Every double of every detector, compared by its bits.
  const auto s1 = engine::read_state(p1, 256, 0x5eed);
  ASSERT_EQ(s1.monitor.detectors.size(), 4u);
  EXPECT_TRUE(s1.monitor == engine::read_state(p2, 256, 0x5eed).monitor);
  for (const auto& [key, st] : s1.monitor.detectors) {
    EXPECT_TRUE(st.ready) << key;
    EXPECT_TRUE(st.s_up != 0 || st.s_down != 0) << key;  // non-trivial values went through the file
  }
  // The same next rounds give the same metrics and alerts, bit for bit.
  for (int t = 0; t < 6; ++t) {
    const auto u = round_updates(n, d, t < 3 ? 1.0 : 4.0, rng);
    const RoundResult ra = run(a, u, n, d), rb = run(b, u, n, d);
    EXPECT_EQ(ra.to_json()["alerts"].dump(), rb.to_json()["alerts"].dump());
    for (const auto& [k, v] : ra.metrics)
      if (k.rfind("stage_", 0) != 0) {
        EXPECT_EQ(std::memcmp(&v, &rb.metrics.at(k), sizeof v), 0) << k;
      }
  }
  a.save_state(p1);
  b.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  std::remove(p1.c_str());
  std::remove(p2.c_str());
}

TEST(Monitor, AFailedRoundChangesNoDetectorState) {
  std::mt19937_64 rng(4);
  const std::size_t n = 6, d = 20;
  Engine e(EngineConfig::from_json(kFastConfig));
  for (int t = 0; t < 12; ++t) run(e, round_updates(n, d, 1.0, rng), n, d);
  const std::string p1 = temp_path("f1.bin"), p2 = temp_path("f2.bin");
  e.save_state(p1);
  std::vector<float> bad(n * d, std::nanf(""));  // every client non-finite: the round fails
  EXPECT_THROW(run(e, bad, n, d, {}, {{"loss", 0.5}}), Error);
  auto ok = round_updates(n, d, 1.0, rng);  // a bad server metric name fails the round too
  EXPECT_THROW(run(e, ok, n, d, {}, {{"Bad-Name", 1.0}}), Error);
  e.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  EXPECT_EQ(e.rounds_processed(), 12u);
  std::remove(p1.c_str());
  std::remove(p2.c_str());
}

// The monitoring stage's pass over the aggregate also writes the state's next previous
// aggregate (into the engine's spare buffer, swapped in at the commit): through the engine the
// metrics are those of that pass over the result and the previous round's result, bit for bit,
// for a linear rule, a coordinate-wise one and one that adds noise after pass 2 (FLAME), on one
// thread or two; the state keeps the last aggregate bit for bit; and a round that fails in the
// monitoring stage leaves the previous aggregate as it was.
TEST(Monitor, TheStateKeepsTheAggregateThePassCopied) {
  const std::size_t n = 12, d = 3 * 65536 + 7;
  for (const char* rule : {R"("mean")", R"("median")", R"("flame", "lambda": 0.001)"})
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(rule) + " threads " + std::to_string(threads));
      std::mt19937_64 rng(21);
      Engine e(EngineConfig::from_json(std::string(R"({"threads": )") + std::to_string(threads) +
                                       R"(, "aggregator": {"rule": )" + rule + "}}"));
      std::vector<float> previous;
      for (int t = 0; t < 4; ++t) {
        const auto u = round_updates(n, d, 1.0 + 0.2 * t, rng);
        if (t == 2) {  // fails in the monitoring stage (a bad server metric name)
          EXPECT_THROW(run(e, u, n, d, {}, {{"Bad-Name", 1.0}}), Error);
          continue;
        }
        const RoundResult r = run(e, u, n, d);
        monitor::MetricContext ctx;
        ctx.previous_aggregate = &previous;
        const auto want = monitor::round_metrics(r, ctx);
        for (const char* key : {"aggregate_norm", "previous_aggregate_norm", "aggregate_cosine"}) {
          ASSERT_EQ(want.count(key), r.metrics.count(key)) << key << " round " << t;
          if (want.count(key)) {
            EXPECT_EQ(r.metrics.at(key), want.at(key)) << key << " round " << t;
          }
        }
        EXPECT_EQ(r.metrics.count("aggregate_cosine"), t > 0 ? 1u : 0u);
        previous = r.aggregate;
      }
      const std::string p = temp_path("sums.bin");
      e.save_state(p);
      const auto kept = engine::read_state(p, 256, 0x5eed).previous_aggregate;
      ASSERT_EQ(kept.size(), d);
      EXPECT_EQ(std::memcmp(kept.data(), previous.data(), d * sizeof(float)), 0);
      std::remove(p.c_str());
    }
}

TEST(Monitor, NonFiniteServerMetricsAreRefusedNotFed) {
  std::mt19937_64 rng(5);
  const std::size_t n = 6, d = 20;
  Engine e(EngineConfig::from_json(kFastConfig));
  run(e, round_updates(n, d, 1.0, rng), n, d, {}, {{"loss", 2.0}});
  const std::string p1 = temp_path("n1.bin");
  e.save_state(p1);
  const auto before = engine::read_state(p1, 256, 0x5eed).monitor.detectors.at("server_loss/cusum");
  const RoundResult r = run(e, round_updates(n, d, 1.0, rng), n, d, {}, {{"loss", std::nan("")}});
  ASSERT_EQ(r.metrics_refused, std::vector<std::string>{"server_loss"});
  EXPECT_TRUE(std::isnan(r.metrics.at("server_loss")));
  EXPECT_TRUE(r.to_json()["metrics"]["server_loss"].is_null());
  e.save_state(p1);
  EXPECT_TRUE(engine::read_state(p1, 256, 0x5eed).monitor.detectors.at("server_loss/cusum") ==
              before);
  EXPECT_EQ(engine::read_state(p1, 256, 0x5eed).monitor.detectors.at("aggregate_norm/cusum").values,
            2u);
  std::remove(p1.c_str());
}

// Page-Hinkley's min_instances of 2^64 silently meant "never alarm" (hostile probe): bounded
// like warmup, [1, 1e6].
TEST(Monitor, PageHinkleyMinInstancesIsBounded) {
  for (const char* v : {"18446744073709551616", "1000001", "0", "1.5"}) {
    const std::string cfg =
        std::string(
            R"({"monitoring": {"detectors": [{"metric": "x", "method": "page_hinkley", "min_instances": )") +
        v + "}]}}";
    EXPECT_THROW(EngineConfig::from_json(cfg), Error) << v;
  }
  EXPECT_NO_THROW(EngineConfig::from_json(
      R"({"monitoring": {"detectors": [{"metric": "x", "method": "page_hinkley", "min_instances": 1000000}]}})"));
}

TEST(Monitor, OffMeansNoMetricsAndNoPreviousAggregate) {
  std::mt19937_64 rng(6);
  Engine e(EngineConfig::from_json(R"({"monitoring": false})"));
  const auto u = round_updates(4, 10, 1.0, rng);
  const RoundResult r = run(e, u, 4, 10);
  EXPECT_TRUE(r.metrics.empty());
  EXPECT_TRUE(r.alerts.empty());
  EXPECT_EQ(r.to_json()["alerts"], nlohmann::ordered_json::array());
  const std::string p = temp_path("off.bin");
  e.save_state(p);
  EXPECT_TRUE(engine::read_state(p, 256, 0x5eed).previous_aggregate.empty());
  std::remove(p.c_str());
  // On by default, with the default detectors.
  const EngineConfig def;
  EXPECT_TRUE(def.monitoring.enabled);
  EXPECT_EQ(def.monitoring.detectors.size(), MonitoringConfig::default_detectors().size());
  EXPECT_TRUE(EngineConfig::from_json("{}").monitoring.enabled);
}

TEST(Monitor, ConfigIsCheckedAndRoundTrips) {
  for (
      const char* bad :
      {R"({"monitoring": {"detectors": [{"metric": "x", "method": "nope"}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum", "kk": 1}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum", "warmup": 1}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum", "h": -1}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "ewma", "lambda": 1.5}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum", "direction": "sideways"}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum"}, {"metric": "x", "method": "cusum"}]}})",
       R"({"monitoring": {"detectors": [{"metric": "x", "method": "cusum", "baseline": {"mean": 0, "scale": 0}}]}})",
       R"({"monitoring": {"detector": []}})", R"({"monitoring": 3})"}) {
    EXPECT_THROW(EngineConfig::from_json(bad), Error) << bad;
  }
  const EngineConfig c = EngineConfig::from_json(
      R"({"monitoring": {"detectors": [{"metric": "x", "method": "page_hinkley", "lambda": 7, "baseline": {"mean": 1, "scale": 2}}]}})");
  ASSERT_EQ(c.monitoring.detectors.size(), 1u);
  EXPECT_EQ(c.monitoring.detectors[0].params.at("lambda"), 7);
  EXPECT_EQ(c.monitoring.detectors[0].params.at("delta"), 0.5);
  EXPECT_EQ(c.monitoring.detectors[0].warmup, 0u);
  EXPECT_EQ(EngineConfig::from_json_value(c.to_json()).to_json(), c.to_json());
}

TEST(Monitor, PrometheusTextHasEveryMetricAndTheAlertCounters) {
  std::mt19937_64 rng(7);
  Engine e(EngineConfig::from_json(kFastConfig));
  const RoundResult r = run(e, round_updates(5, 10, 1.0, rng), 5, 10);
  const std::string text = e.prometheus_text(r);
  EXPECT_NE(text.find("# TYPE fedguard_aggregate_norm gauge\nfedguard_aggregate_norm "),
            std::string::npos);
  EXPECT_NE(text.find("fedguard_round 0\n"), std::string::npos);
  EXPECT_NE(text.find("fedguard_alerts_total{metric=\"aggregate_norm\",method=\"cusum\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("fedguard_alert{metric=\"server_loss\",method=\"cusum\"} 0\n"),
            std::string::npos);
  std::size_t gauges = 0;
  for (std::size_t at = text.find("# TYPE fedguard_"); at != std::string::npos;
       at = text.find("# TYPE fedguard_", at + 1))
    ++gauges;
  EXPECT_EQ(gauges, r.metrics.size() + 4);  // + round, alerts_total, alert, client_alerts
  EXPECT_NE(text.find("fedguard_client_alerts{metric=\"client_norm\",method=\"group_cusum\"} 0\n"),
            std::string::npos);
}

}  // namespace
}  // namespace fedguard
