// Per-client monitoring (host/monitor/client_monitor.cc) against a float64 brute force written
// here (step, ramp, no change, a common shift, a lone drifter, warm-up, NaN not fed), the
// forgetting of clients, the state through the state file, a failed round, and the engine on a
// synthetic non-IID federation with and without a slowly ramping group.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/state_file.h"
#include "fedguard/engine.h"
#include "monitor/client_monitor.h"
#include "monitor/monitor.h"

namespace fedguard {
namespace {

using monitor::ClientTrack;

// ---- brute force: the documented recursion, written out plainly (sorting for the medians).
struct RefClient {
  std::vector<double> warm;
  bool ready = false;
  double mean = 0, scale = 1, up = 0, down = 0;
};

double sorted_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : v[m - 1] + (v[m] - v[m - 1]) / 2;
}

struct RefAlert {
  std::uint64_t round;
  std::string client, side;
  bool operator==(const RefAlert& o) const {
    return round == o.round && client == o.client && side == o.side;
  }
};

// One signal; x[t][i] the z of client i in round t (NaN: not scored).
std::vector<RefAlert> reference(const ClientMonitorSpec& p, const std::string& signal,
                                const std::vector<std::vector<double>>& x,
                                std::map<std::string, RefClient>& st) {
  std::vector<RefAlert> out;
  const bool both = monitor::client_signal_direction(signal) == "both";
  for (std::size_t t = 0; t < x.size(); ++t) {
    std::vector<std::string> ids;
    std::vector<double> d, xs;
    for (std::size_t i = 0; i < x[t].size(); ++i) {
      if (!std::isfinite(x[t][i])) continue;
      const std::string id = "c" + std::to_string(i);
      RefClient& c = st[id];
      if (!c.ready) {
        c.warm.push_back(x[t][i]);
        if (c.warm.size() == p.warmup) {
          monitor::robust_baseline(c.warm, p.min_scale, c.mean,
                                   c.scale);  // tested in detectors_test.cc
          c.ready = true;
        }
        continue;
      }
      ids.push_back(id);
      xs.push_back(x[t][i]);
      d.push_back((x[t][i] - c.mean) / c.scale);
    }
    if (ids.size() < monitor::kClientMinTested) continue;
    const double med = sorted_median(d);
    std::vector<double> dev;
    for (double v : d) dev.push_back(std::fabs(v - med));
    const double cs = std::max(1.0, 1.4826 * sorted_median(dev));
    std::vector<double> ups, downs;
    for (std::size_t j = 0; j < ids.size(); ++j) {
      RefClient& c = st[ids[j]];
      const double e = (d[j] - med) / cs;
      c.up = std::max(0.0, c.up + e - p.k);
      c.down = std::max(0.0, c.down - e - p.k);
      ups.push_back(c.up);
      downs.push_back(c.down);
      const double r = xs[j] - c.mean;
      c.scale = std::max(std::sqrt((1 - p.scale_lambda) * c.scale * c.scale +
                                   p.scale_lambda * std::min(r * r, 9 * c.scale * c.scale)),
                         p.min_scale);
      c.mean += p.baseline_lambda * r;
    }
    // A group: G = max(min_group, ceil(min_group_fraction x tested)) clients past h, or g of
    // them (min_group <= g <= G) past h G / g. Written by counting: for each g and each value c,
    // whether at least g clients are at c or above; the largest (g / G) c over those decides,
    // and the members are the clients past h G / g for its g.
    const std::size_t full = std::max<std::size_t>(
        p.min_group, static_cast<std::size_t>(
                         std::ceil(p.min_group_fraction * static_cast<double>(ids.size()))));
    auto decide = [&](const std::vector<double>& v, double& member_cut) {
      double best = 0;
      for (std::size_t g = p.min_group; g <= full; ++g)
        for (double c : v) {
          const auto at_least = static_cast<std::size_t>(
              std::count_if(v.begin(), v.end(), [&](double s) { return s >= c; }));
          const double stat = double(g) / double(full) * c;
          if (at_least >= g && stat > best)
            best = stat, member_cut = p.h * double(full) / double(g);
        }
      return best > p.h;
    };
    double cut_up = p.h, cut_down = p.h;
    const bool fire_up = both && decide(ups, cut_up), fire_down = decide(downs, cut_down);
    for (std::size_t j = 0; j < ids.size(); ++j) {
      bool hit = false;
      if (fire_up && ups[j] > cut_up) out.push_back({t, ids[j], "up"}), hit = true;
      if (fire_down && downs[j] > cut_down) out.push_back({t, ids[j], "down"}), hit = true;
      if (hit) st[ids[j]].up = st[ids[j]].down = 0;
    }
  }
  return out;
}

// The implementation over the same streams; returns its alerts and keeps its tracks.
std::vector<RefAlert> implementation(const ClientMonitorSpec& p, const std::string& signal,
                                     const std::vector<std::vector<double>>& x,
                                     std::map<std::string, ClientTrack>& tracks) {
  std::vector<RefAlert> out;
  for (std::size_t t = 0; t < x.size(); ++t) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < x[t].size(); ++i) ids.push_back("c" + std::to_string(i));
    const std::map<std::string, std::vector<double>> scores{{"detect_" + signal, x[t]}};
    monitor::ClientObservation o = monitor::observe_clients(p, tracks, scores, ids, ids.size(), t);
    for (const Alert& a : o.alerts) {
      EXPECT_EQ(a.metric, "client_" + signal);
      EXPECT_EQ(a.method, "group_cusum");
      EXPECT_EQ(a.round, t);
      EXPECT_GT(a.statistic, a.threshold);
      EXPECT_GE(a.threshold, p.h);
      out.push_back({t, a.client, a.direction});
    }
    for (const std::string& id : o.forgotten) tracks.erase(id);
    for (auto& [id, tr] : o.updated) tracks[id] = tr;
  }
  std::sort(out.begin(), out.end(), [](const RefAlert& a, const RefAlert& b) {
    return a.round != b.round     ? a.round < b.round
           : a.client != b.client ? a.client < b.client
                                  : a.side < b.side;
  });
  return out;
}

enum class Change { kNone, kStep, kRamp, kCommonShift, kLoneStep };

// n clients with their own offsets and noise levels; clients 0 .. group - 1 change from round
// 100.
std::vector<std::vector<double>> streams(Change change, double size, std::size_t rounds,
                                         std::uint64_t seed, std::size_t n = 12,
                                         std::size_t group = 3) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> offset(n), sd(n);
  for (std::size_t i = 0; i < n; ++i) offset[i] = g(rng), sd[i] = 0.5 + 0.1 * double(i % 5);
  std::vector<std::vector<double>> x(rounds, std::vector<double>(n));
  for (std::size_t t = 0; t < rounds; ++t)
    for (std::size_t i = 0; i < n; ++i) {
      double v = offset[i] + sd[i] * g(rng);
      if (t >= 100) {
        const double since = double(t - 100 + 1);
        if (change == Change::kStep && i < group) v += size * sd[i];
        if (change == Change::kRamp && i < group) v += size * since * sd[i];
        if (change == Change::kCommonShift) v += size;
        if (change == Change::kLoneStep && i == 0) v += size * sd[i];
      }
      x[t][i] = v;
    }
  return x;
}

std::string text(const std::vector<RefAlert>& a) {
  std::string s;
  for (const RefAlert& r : a)
    s += " [" + std::to_string(r.round) + " " + r.client + " " + r.side + "]";
  return s;
}

void expect_matches_reference(const ClientMonitorSpec& p, const std::string& signal,
                              const std::vector<std::vector<double>>& x,
                              std::vector<RefAlert>* got = nullptr) {
  std::map<std::string, RefClient> ref_state;
  std::map<std::string, ClientTrack> tracks;
  const std::vector<RefAlert> ref = reference(p, signal, x, ref_state);
  const std::vector<RefAlert> imp = implementation(p, signal, x, tracks);
  EXPECT_EQ(text(imp), text(ref));
  for (const auto& [id, c] : ref_state) {
    const auto& s = tracks.at(id).signals.at(signal);
    EXPECT_EQ(s.ready, c.ready) << id;
    EXPECT_NEAR(s.mean, c.mean, 1e-12 * (1 + std::fabs(c.mean))) << id;
    EXPECT_NEAR(s.scale, c.scale, 1e-12 * c.scale) << id;
    EXPECT_NEAR(s.s_up, c.up, 1e-9) << id;
    EXPECT_NEAR(s.s_down, c.down, 1e-9) << id;
  }
  if (got) *got = imp;
}

TEST(ClientMonitor, NoChangeMatchesReferenceAndStaysQuiet) {
  ClientMonitorSpec p;
  for (std::uint64_t seed : {1, 2, 3}) {
    std::vector<RefAlert> got;
    expect_matches_reference(p, "norm", streams(Change::kNone, 0, 600, seed), &got);
    EXPECT_TRUE(got.empty()) << "seed " << seed << text(got);
  }
}

TEST(ClientMonitor, AGroupStepAlertsNamingTheGroupOnly) {
  ClientMonitorSpec p;
  for (std::uint64_t seed : {1, 2, 3}) {
    std::vector<RefAlert> got;
    expect_matches_reference(p, "norm", streams(Change::kStep, -5.0, 140, seed), &got);
    ASSERT_FALSE(got.empty()) << "seed " << seed;
    EXPECT_GE(got.front().round, 100u);
    EXPECT_LE(got.front().round, 125u) << text(got);
    for (const RefAlert& a : got) {
      EXPECT_TRUE(a.client == "c0" || a.client == "c1" || a.client == "c2") << text(got);
      EXPECT_EQ(a.side, "down");
    }
  }
}

TEST(ClientMonitor, AGroupRampAlerts) {
  ClientMonitorSpec p;
  for (std::uint64_t seed : {1, 2, 3}) {
    std::vector<RefAlert> got;
    // +0.2 of the client's own sd per round (the baseline follows at lambda 0.05: a slower ramp
    // is absorbed, docs/monitoring.md).
    expect_matches_reference(p, "norm", streams(Change::kRamp, -0.2, 200, seed), &got);
    ASSERT_FALSE(got.empty()) << "seed " << seed;
    EXPECT_GE(got.front().round, 100u);
    std::printf("ramp 0.2 sd/round, seed %llu: first alert %llu rounds after the start\n",
                (unsigned long long)seed, (unsigned long long)(got.front().round - 100));
    for (const RefAlert& a : got)
      EXPECT_TRUE(a.client == "c0" || a.client == "c1" || a.client == "c2") << text(got);
  }
}

TEST(ClientMonitor, ACommonShiftAndALoneDrifterRaiseNoGroupAlert) {
  ClientMonitorSpec p;
  std::vector<RefAlert> got;
  expect_matches_reference(p, "norm", streams(Change::kCommonShift, 5.0, 300, 4), &got);
  EXPECT_TRUE(got.empty()) << text(got);
  expect_matches_reference(p, "norm", streams(Change::kLoneStep, -6.0, 300, 5), &got);
  EXPECT_TRUE(got.empty()) << text(got);
  p.min_group = 1;  // a client alone may alert when asked to
  expect_matches_reference(p, "norm", streams(Change::kLoneStep, -6.0, 300, 5), &got);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().client, "c0");
}

// In a large federation a group is a share of it (min_group_fraction, 5%: G = 5 of 100
// clients), or a smaller one standing further out (g clients past h G / g): four clients
// stepping together alert later than six (past 17.5 instead of 14) and name only themselves;
// two are no group (min_group 3); with the share at 0, four alert at h as in a small federation.
TEST(ClientMonitor, AGroupIsAShareOfALargeFederationOrStandsFurtherOut) {
  ClientMonitorSpec p;
  std::vector<RefAlert> four, six, two, four_at_h;
  expect_matches_reference(p, "norm", streams(Change::kStep, -5.0, 160, 7, 100, 4), &four);
  expect_matches_reference(p, "norm", streams(Change::kStep, -5.0, 160, 7, 100, 6), &six);
  expect_matches_reference(p, "norm", streams(Change::kStep, -5.0, 160, 7, 100, 2), &two);
  p.min_group_fraction = 0;
  expect_matches_reference(p, "norm", streams(Change::kStep, -5.0, 160, 7, 100, 4), &four_at_h);
  ASSERT_FALSE(four.empty());
  ASSERT_FALSE(six.empty());
  ASSERT_FALSE(four_at_h.empty());
  EXPECT_TRUE(two.empty()) << text(two);
  EXPECT_GE(six.front().round, 100u);
  EXPECT_GT(four.front().round, six.front().round) << text(four) << " / " << text(six);
  EXPECT_GT(four.front().round, four_at_h.front().round);
  std::printf("100 clients, step -5: six alert %llu rounds after it, four %llu (at h: %llu)\n",
              (unsigned long long)(six.front().round - 100),
              (unsigned long long)(four.front().round - 100),
              (unsigned long long)(four_at_h.front().round - 100));
  for (const auto* alerts : {&four, &four_at_h})
    for (const RefAlert& a : *alerts) {
      EXPECT_LT(std::stoi(a.client.substr(1)), 4) << text(*alerts);
      EXPECT_EQ(a.side, "down");
    }
  for (const RefAlert& a : six) EXPECT_LT(std::stoi(a.client.substr(1)), 6) << text(six);
}

TEST(ClientMonitor, DownOnlySignalsIgnoreAnUpwardDrift) {
  ClientMonitorSpec p;
  std::vector<RefAlert> got;
  expect_matches_reference(p, "direction", streams(Change::kStep, 4.0, 200, 6), &got);
  EXPECT_TRUE(got.empty()) << text(got);
  expect_matches_reference(p, "direction", streams(Change::kStep, -4.0, 200, 6), &got);
  EXPECT_FALSE(got.empty());
}

TEST(ClientMonitor, WarmupFixesTheBaselineAndNaNIsNotFed) {
  ClientMonitorSpec p;
  p.warmup = 5;
  std::map<std::string, ClientTrack> tracks;
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e", "f"};
  for (std::uint64_t t = 0; t < 5; ++t) {
    std::vector<double> z = {1, 2, 3, 4, 5, 100.0 * double(t)};  // huge values in warm-up: no alert
    if (t == 2) z[0] = std::nan("");
    auto o = monitor::observe_clients(p, tracks, {{"detect_norm", z}}, ids, ids.size(), t);
    EXPECT_TRUE(o.alerts.empty());
    if (t == 2) {
      EXPECT_EQ(o.updated.count("a"), 0u);  // nothing scored: the client is not touched
    }
    for (auto& [id, tr] : o.updated) tracks[id] = tr;
  }
  EXPECT_FALSE(tracks.at("a").signals.at("norm").ready);  // 4 values: still warming up
  EXPECT_EQ(tracks.at("a").signals.at("norm").warmup.size(), 4u);
  EXPECT_EQ(tracks.at("a").last_round, 4u);
  EXPECT_TRUE(tracks.at("b").signals.at("norm").ready);
  EXPECT_TRUE(tracks.at("b").signals.at("norm").warmup.empty());
  // A score vector without the client's row, or an absent signal: not fed either.
  auto o = monitor::observe_clients(p, tracks, {{"detect_sign", {1, 2}}}, ids, ids.size(), 5);
  EXPECT_EQ(o.updated.count("c"), 0u);
}

TEST(ClientMonitor, RepeatedIdsAreFedOnceAndAbsentClientsAreForgotten) {
  ClientMonitorSpec p;
  p.forget_after = 3;
  p.max_clients = 4;
  std::map<std::string, ClientTrack> tracks;
  auto feed = [&](const std::vector<std::string>& ids, std::uint64_t t) {
    auto o = monitor::observe_clients(
        p, tracks, {{"detect_norm", std::vector<double>(ids.size(), 0.5)}}, ids, ids.size(), t);
    for (const std::string& id : o.forgotten) tracks.erase(id);
    for (auto& [id, tr] : o.updated) tracks[id] = tr;
    return o;
  };
  feed({"a", "a", "b"}, 0);
  EXPECT_EQ(tracks.at("a").signals.at("norm").values, 1u);
  feed({"c"}, 1);
  feed({"c"}, 4);  // a, b last seen 4 rounds ago (> 3): forgotten
  EXPECT_EQ(tracks.count("a"), 0u);
  EXPECT_EQ(tracks.count("b"), 0u);
  feed({"d", "e", "f"}, 5);
  feed({"g", "h"},
       6);  // 6 clients over the cap of 4: the least recently seen go (c, then one of d-f)
  EXPECT_EQ(tracks.size(), 4u);
  EXPECT_EQ(tracks.count("c"), 0u);
  EXPECT_EQ(tracks.count("g") + tracks.count("h"), 2u);
}

TEST(ClientMonitor, ConfigParsesChecksAndRoundTrips) {
  const auto c = MonitoringConfig::from_json(nlohmann::json::parse(
      R"({"clients": {"h": 9, "min_group": 2, "min_group_fraction": 0.1, "signals": ["norm", "sign"], "baseline_lambda": 0.1}})"));
  EXPECT_EQ(c.clients.h, 9);
  EXPECT_EQ(c.clients.min_group, 2u);
  EXPECT_EQ(c.clients.min_group_fraction, 0.1);
  EXPECT_EQ(MonitoringConfig{}.clients.min_group_fraction, 0.05);
  EXPECT_EQ(c.clients.signals, (std::vector<std::string>{"norm", "sign"}));
  EXPECT_EQ(MonitoringConfig::from_json(c.to_json()).to_json(), c.to_json());
  EXPECT_FALSE(
      MonitoringConfig::from_json(nlohmann::json::parse(R"({"clients": false})")).clients.enabled);
  for (const char* bad : {R"({"clients": {"signals": ["loss"]}})", R"({"clients": {"h": 0}})",
                          R"({"clients": {"warmup": 1}})", R"({"clients": {"min_group": 0}})",
                          R"({"clients": {"baseline_lambda": 1.5}})", R"({"clients": {"nope": 1}})",
                          R"({"clients": {"min_group_fraction": 1.5}})",
                          R"({"clients": {"min_group_fraction": -0.1}})",
                          R"({"clients": {"min_group_fraction": "x"}})", R"({"clients": 3})"})
    EXPECT_THROW(MonitoringConfig::from_json(nlohmann::json::parse(bad)), Error) << bad;
}

// ---- through the engine
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fedguard_clients_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A non-IID federation: each client a persistent offset of its own (its data) on top of a common
// direction that rotates slowly, plus noise; clients 0-3 (when ramping) add s(t) w, w a fixed
// direction shared by the group, s growing linearly from `start`.
struct Federation {
  static constexpr std::size_t kN = 20, kD = 400;
  std::mt19937_64 rng;
  std::vector<double> u, v, w;
  std::vector<std::vector<double>> own;
  std::vector<std::string> ids;
  explicit Federation(std::uint64_t seed) : rng(seed) {
    std::normal_distribution<double> g;
    auto unit = [&] {
      std::vector<double> x(kD);
      double s = 0;
      for (double& e : x) e = g(rng), s += e * e;
      for (double& e : x) e /= std::sqrt(s);
      return x;
    };
    u = unit(), v = unit(), w = unit();
    for (std::size_t i = 0; i < kN; ++i) {
      own.push_back(unit());
      for (double& e : own.back()) e *= 0.8;
      ids.push_back("client-" + std::to_string(i));
    }
  }
  std::vector<float> round(std::size_t t, bool ramp, std::size_t start, double slope) {
    std::normal_distribution<double> g;
    std::vector<float> x(kN * kD);
    const double theta = 0.005 * double(t), sigma = 0.6 / std::sqrt(double(kD));
    for (std::size_t i = 0; i < kN; ++i) {
      const double s = ramp && i < 4 && t >= start ? slope * double(t - start + 1) : 0.0;
      for (std::size_t j = 0; j < kD; ++j)
        x[i * kD + j] = static_cast<float>(std::cos(theta) * u[j] + std::sin(theta) * v[j] +
                                           own[i][j] + sigma * g(rng) + s * w[j]);
    }
    return x;
  }
};

RoundResult process(Engine& e, const std::vector<float>& x, const std::vector<std::string>& ids) {
  RoundInput in;
  in.updates = UpdateView(x.data(), Federation::kN, Federation::kD, DType::kFloat32);
  in.client_ids = ids;
  return e.process_round(in);
}

TEST(ClientMonitor, EngineAlertsOnASlowlyRampingGroupAndNotOnANonIidFederation) {
  const double kSlope = 0.02;  // |w| per round, against own offsets of 0.8 and a common signal of 1
  for (std::uint64_t seed : {1, 2}) {
    Federation quiet(seed), ramped(seed);
    Engine a(EngineConfig::recommended(4)), b(EngineConfig::recommended(4));
    std::vector<Alert> quiet_alerts, ramp_alerts;
    for (std::size_t t = 0; t < 300; ++t) {
      for (const Alert& al : process(a, quiet.round(t, false, 0, 0), quiet.ids).alerts)
        if (!al.client.empty()) quiet_alerts.push_back(al);
      if (t < 160)
        for (const Alert& al : process(b, ramped.round(t, true, 100, kSlope), ramped.ids).alerts)
          if (!al.client.empty()) ramp_alerts.push_back(al);
    }
    std::string q;
    for (const Alert& al : quiet_alerts)
      q += " [" + std::to_string(al.round) + " " + al.client + " " + al.metric + "]";
    EXPECT_TRUE(quiet_alerts.empty()) << "seed " << seed << ":" << q;
    ASSERT_FALSE(ramp_alerts.empty()) << "seed " << seed;
    EXPECT_GE(ramp_alerts.front().round, 100u);
    std::printf(
        "engine, ramp %g/round, seed %llu: first client alert %llu rounds after the start (%s, "
        "%s)\n",
        kSlope, (unsigned long long)seed, (unsigned long long)(ramp_alerts.front().round - 100),
        ramp_alerts.front().metric.c_str(), ramp_alerts.front().client.c_str());
    for (const Alert& al : ramp_alerts) {
      EXPECT_TRUE(al.client == "client-0" || al.client == "client-1" || al.client == "client-2" ||
                  al.client == "client-3")
          << al.client << " round " << al.round;
      EXPECT_EQ(al.to_json()["client"], al.client);
      EXPECT_NE(monitor::describe(al).find(" group_cusum " + al.direction + " client " + al.client +
                                           " (statistic "),
                std::string::npos)
          << monitor::describe(al);
    }
  }
}

TEST(ClientMonitor, StateRoundTripsBitForBitAndAFailedRoundChangesNothing) {
  Federation fed(7);
  Engine a(EngineConfig::recommended(4));
  for (std::size_t t = 0; t < 40; ++t) process(a, fed.round(t, true, 25, 0.01), fed.ids);
  const std::string p1 = temp_path("s1.bin"), p2 = temp_path("s2.bin");
  a.save_state(p1);
  Engine b(EngineConfig::recommended(4));
  b.load_state(p1);
  b.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  const auto s1 = engine::read_state(p1, 256, 0x5eed);
  ASSERT_EQ(s1.monitor.clients.size(), Federation::kN);
  bool nontrivial = false;
  for (const auto& [id, t] : s1.monitor.clients)
    for (const auto& [signal, s] : t.signals) {
      EXPECT_TRUE(s.ready) << id << " " << signal;
      nontrivial = nontrivial || s.s_up != 0 || s.s_down != 0;
    }
  EXPECT_TRUE(nontrivial);
  EXPECT_TRUE(s1.monitor == engine::read_state(p2, 256, 0x5eed).monitor);
  // A failed round (every client non-finite) changes no client state.
  std::vector<float> bad(Federation::kN * Federation::kD, std::nanf(""));
  EXPECT_THROW(process(a, bad, fed.ids), Error);
  a.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  // Both continue identically, bit for bit.
  for (std::size_t t = 40; t < 60; ++t) {
    const auto x = fed.round(t, true, 25, 0.01);
    const RoundResult ra = process(a, x, fed.ids), rb = process(b, x, fed.ids);
    EXPECT_EQ(ra.to_json()["alerts"].dump(), rb.to_json()["alerts"].dump());
    for (const auto& [k, val] : ra.metrics)
      if (k.rfind("stage_", 0) != 0) {
        EXPECT_EQ(std::memcmp(&val, &rb.metrics.at(k), sizeof val), 0) << k;
      }
  }
  a.save_state(p1);
  b.save_state(p2);
  EXPECT_EQ(file_bytes(p1), file_bytes(p2));
  std::remove(p1.c_str());
  std::remove(p2.c_str());
}

}  // namespace
}  // namespace fedguard
