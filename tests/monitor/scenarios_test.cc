// The default monitoring configuration on synthetic federations (no training: the simulator's
// LibTorch scenarios are in docs/monitoring.md's "Not done yet"). Benign clients send a common
// direction that rotates slowly (a drifting data distribution) with a magnitude that decays (a
// converging model), plus noise three times the signal's norm. Through the recommended policy:
//   benign drift  500 rounds, no attack: no alert at all;
//   sleeper       4 of 20 clients honest until round 100, then sign-flipped and scaled x10;
//   ramp          4 of 20 clients from round 100 add -s g with s growing 0.1 per round.
// Three seeds each; the detection delays are printed (docs/monitoring.md reports them).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "fedguard/engine.h"

namespace fedguard {
namespace {

enum class Attack { kNone, kSleeper, kRamp };

constexpr std::size_t kN = 20, kD = 2000, kAttackers = 4, kChange = 100;

// Rounds of the first alert at or after `from` (or -1), and every alert before it.
struct Outcome {
  long first_alert = -1;
  std::vector<Alert> early;  // before the change
  std::vector<Alert> all;
};

Outcome run_scenario(Attack attack, std::size_t rounds, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> u(kD), v(kD);
  for (auto& x : u) x = g(rng) / std::sqrt(double(kD));
  for (auto& x : v) x = g(rng) / std::sqrt(double(kD));
  Engine engine(EngineConfig::recommended(kAttackers));
  Outcome out;
  std::vector<float> x(kN * kD);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < kN; ++i) ids.push_back("client-" + std::to_string(i));
  for (std::size_t t = 0; t < rounds; ++t) {
    const double a = 1.0 / (1.0 + double(t) / 200.0), theta = 0.005 * double(t);
    const double sigma = 3.0 * a / std::sqrt(double(kD));
    for (std::size_t i = 0; i < kN; ++i) {
      const bool attacking = attack != Attack::kNone && i < kAttackers && t >= kChange;
      for (std::size_t j = 0; j < kD; ++j) {
        const double signal = a * (std::cos(theta) * u[j] + std::sin(theta) * v[j]);
        double value = signal + sigma * g(rng);
        if (attacking && attack == Attack::kSleeper) value = -10.0 * value;
        if (attacking && attack == Attack::kRamp) value -= 0.1 * double(t - kChange + 1) * signal;
        x[i * kD + j] = static_cast<float>(value);
      }
    }
    RoundInput in;
    in.updates = UpdateView(x.data(), kN, kD, DType::kFloat32);
    in.client_ids = ids;
    const RoundResult r = engine.process_round(in);
    for (const Alert& al : r.alerts) {
      out.all.push_back(al);
      if (t < kChange || attack == Attack::kNone)
        out.early.push_back(al);
      else if (out.first_alert < 0)
        out.first_alert = long(t);
    }
  }
  return out;
}

std::string list(const std::vector<Alert>& alerts) {
  std::string s;
  for (const Alert& a : alerts)
    s += " [round " + std::to_string(a.round) + " " + a.metric + " " + a.method + "]";
  return s;
}

TEST(Scenarios, BenignDriftRaisesNoAlertIn500Rounds) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Outcome o = run_scenario(Attack::kNone, 500, seed);
    EXPECT_TRUE(o.all.empty()) << "seed " << seed << ":" << list(o.all);
  }
}

TEST(Scenarios, SleeperIsCaughtWithinFiveRounds) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Outcome o = run_scenario(Attack::kSleeper, kChange + 20, seed);
    EXPECT_TRUE(o.early.empty()) << "seed " << seed << ":" << list(o.early);
    ASSERT_GE(o.first_alert, 0) << "seed " << seed;
    std::printf("sleeper seed %llu: first alert %ld rounds after the change:%s\n",
                (unsigned long long)seed, o.first_alert - long(kChange), list(o.all).c_str());
    EXPECT_LE(o.first_alert - long(kChange), 5) << "seed " << seed;
  }
}

TEST(Scenarios, RampIsCaught) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Outcome o = run_scenario(Attack::kRamp, kChange + 60, seed);
    EXPECT_TRUE(o.early.empty()) << "seed " << seed << ":" << list(o.early);
    ASSERT_GE(o.first_alert, 0) << "seed " << seed << " (no alert in 60 ramp rounds)";
    std::printf("ramp seed %llu: first alert %ld rounds after the ramp began:%s\n",
                (unsigned long long)seed, o.first_alert - long(kChange), list(o.all).c_str());
  }
}

}  // namespace
}  // namespace fedguard
