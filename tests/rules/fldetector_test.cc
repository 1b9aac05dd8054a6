// FLDetector (L-BFGS prediction in sketch space, window, gap statistic), checked piece by piece
// against plain float64 references, and over rounds through the engine.
#include "rules/fldetector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "backend/backend.h"
#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

using Dense = std::vector<std::vector<double>>;

double dot(const ref::Vec& a, const ref::Vec& b) {
  double r = 0;
  for (std::size_t i = 0; i < a.size(); ++i) r += a[i] * b[i];
  return r;
}

// BFGS by explicit updates from B0 = sigma I (sigma from the newest pair): the matrix the
// compact representation stands for (Byrd, Nocedal & Schnabel 1994, Theorem 2.2).
ref::Vec bfgs_product(const Dense& s, const Dense& y, const ref::Vec& v) {
  const std::size_t q = v.size(), m = s.size();
  const double sigma = dot(y[m - 1], s[m - 1]) / dot(s[m - 1], s[m - 1]);
  Dense b(q, ref::Vec(q, 0.0));
  for (std::size_t i = 0; i < q; ++i) b[i][i] = sigma;
  for (std::size_t j = 0; j < m; ++j) {
    ref::Vec bs(q, 0.0);
    for (std::size_t a = 0; a < q; ++a)
      for (std::size_t c = 0; c < q; ++c) bs[a] += b[a][c] * s[j][c];
    const double sbs = dot(s[j], bs), ys = dot(y[j], s[j]);
    for (std::size_t a = 0; a < q; ++a)
      for (std::size_t c = 0; c < q; ++c) b[a][c] += -bs[a] * bs[c] / sbs + y[j][a] * y[j][c] / ys;
  }
  ref::Vec out(q, 0.0);
  for (std::size_t a = 0; a < q; ++a)
    for (std::size_t c = 0; c < q; ++c) out[a] += b[a][c] * v[c];
  return out;
}

TEST(FlDetector, LbfgsProductMatchesDenseBfgs) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  for (std::size_t m : {1, 2, 3, 5, 8}) {
    const std::size_t q = 12;
    // y = A s + small noise, A symmetric positive definite: curvature pairs of a convex loss.
    Dense a(q, ref::Vec(q, 0.0));
    Dense g(q, ref::Vec(q));
    for (auto& row : g)
      for (double& x : row) x = normal(rng) * 0.3;
    for (std::size_t i = 0; i < q; ++i) {
      a[i][i] = uniform(rng);
      for (std::size_t j = 0; j < q; ++j)
        for (std::size_t t = 0; t < q; ++t) a[i][j] += g[i][t] * g[j][t];
    }
    Dense s(m, ref::Vec(q)), y(m, ref::Vec(q, 0.0));
    for (std::size_t j = 0; j < m; ++j) {
      for (double& x : s[j]) x = normal(rng);
      for (std::size_t i = 0; i < q; ++i) {
        for (std::size_t t = 0; t < q; ++t) y[j][i] += a[i][t] * s[j][t];
        y[j][i] += 0.01 * normal(rng);
      }
    }
    ref::Vec v(q);
    for (double& x : v) x = normal(rng);
    const ref::Vec got = rules::fldetector::lbfgs_hvp(s, y, v);
    const ref::Vec want = bfgs_product(s, y, v);
    for (std::size_t i = 0; i < q; ++i)
      EXPECT_NEAR(got[i], want[i], 1e-8 * (1 + std::abs(want[i]))) << "m=" << m;
  }
  // Secant condition with one pair: H s = y.
  Dense s{{1.0, 2.0, -1.0}}, y{{2.0, 3.0, 0.5}};
  const ref::Vec hs = rules::fldetector::lbfgs_hvp(s, y, s[0]);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(hs[i], y[0][i], 1e-12);
  // No usable pair: zero.
  EXPECT_EQ(rules::fldetector::lbfgs_hvp({{0.0, 0.0}}, {{1.0, 1.0}}, {1.0, 1.0}),
            (ref::Vec{0.0, 0.0}));
}

// Optimal k-means cost over every assignment of labels (tiny m).
double brute_kmeans(const ref::Vec& x, std::size_t k) {
  const std::size_t m = x.size();
  std::size_t total = 1;
  for (std::size_t i = 0; i < m; ++i) total *= k;
  double best = INFINITY;
  std::vector<std::size_t> label(m);
  for (std::size_t code = 0; code < total; ++code) {
    std::size_t c = code;
    for (std::size_t i = 0; i < m; ++i) label[i] = c % k, c /= k;
    double cost = 0;
    for (std::size_t g = 0; g < k; ++g) {
      double sum = 0, cnt = 0;
      for (std::size_t i = 0; i < m; ++i)
        if (label[i] == g) sum += x[i], ++cnt;
      if (cnt == 0) continue;
      for (std::size_t i = 0; i < m; ++i)
        if (label[i] == g) cost += (x[i] - sum / cnt) * (x[i] - sum / cnt);
    }
    best = std::min(best, cost);
  }
  return best;
}

TEST(FlDetector, OneDimensionalKMeansIsOptimal) {
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (std::size_t m : {1, 2, 5, 7, 8}) {
    for (int rep = 0; rep < 3; ++rep) {
      ref::Vec x(m);
      for (double& v : x)
        v = rep == 2 ? std::round(uniform(rng) * 3) / 3 : uniform(rng);  // rep 2: ties
      const ref::Vec w = rules::fldetector::kmeans_1d_costs(x, 4);
      for (std::size_t k = 1; k <= 4; ++k)
        EXPECT_NEAR(w[k - 1], brute_kmeans(x, std::min(k, m)), 1e-12) << m << " " << k;
    }
  }
  // 2-means: the upper cluster of the optimal split.
  for (int rep = 0; rep < 10; ++rep) {
    ref::Vec x(9);
    for (double& v : x) v = uniform(rng);
    const auto upper = rules::fldetector::two_means_upper(x);
    double cost = 0, lo_max = -1, hi_min = 2;
    for (std::size_t g = 0; g < 2; ++g) {
      double sum = 0, cnt = 0;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (upper[i] == g) sum += x[i], ++cnt;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (upper[i] == g) cost += (x[i] - sum / cnt) * (x[i] - sum / cnt);
    }
    for (std::size_t i = 0; i < x.size(); ++i)
      (upper[i] ? hi_min : lo_max) = upper[i] ? std::min(hi_min, x[i]) : std::max(lo_max, x[i]);
    EXPECT_NEAR(cost, brute_kmeans(x, 2), 1e-12);
    EXPECT_LT(lo_max, hi_min);
  }
}

TEST(FlDetector, GapStatisticMatchesTheDefinition) {
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int rep = 0; rep < 4; ++rep) {
    ref::Vec x(7);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = rep % 2 ? uniform(rng) : (i < 5 ? 0.05 * uniform(rng) : 0.95 + 0.05 * uniform(rng));
    const std::uint64_t seed = rng();
    // The definition, with brute-force k-means and the same reference draws.
    const std::size_t kmax = 4, refs = 6;
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    ref::Vec sum(kmax, 0.0), sq(kmax, 0.0);
    for (std::size_t b = 0; b < refs; ++b) {
      ref::Vec r(x.size());
      for (double& v : r) v = u01(gen);
      for (std::size_t k = 1; k <= kmax; ++k) {
        const double l = std::log(std::max(brute_kmeans(r, k), 1e-12));
        sum[k - 1] += l, sq[k - 1] += l * l;
      }
    }
    std::size_t want = kmax;
    ref::Vec gap(kmax), sd(kmax);
    for (std::size_t k = 1; k <= kmax; ++k) {
      const double mean = sum[k - 1] / refs;
      gap[k - 1] = mean - std::log(std::max(brute_kmeans(x, k), 1e-12));
      sd[k - 1] =
          std::sqrt(std::max(0.0, sq[k - 1] / refs - mean * mean)) * std::sqrt(1 + 1.0 / refs);
    }
    for (std::size_t k = 1; k < kmax; ++k)
      if (gap[k - 1] >= gap[k] - sd[k]) {
        want = k;
        break;
      }
    EXPECT_EQ(rules::fldetector::gap_statistic(x, kmax, refs, seed), want) << "rep " << rep;
  }
  // Two far-apart groups: more than one cluster; one tight group plus spread: one.
  ref::Vec two;
  for (int i = 0; i < 20; ++i) two.push_back(i < 15 ? 0.01 * i / 15 : 0.99 + 0.01 * (i - 15) / 5);
  EXPECT_GE(rules::fldetector::gap_statistic(two, 10, 20, 5), 2u);
  ref::Vec spread;
  for (int i = 0; i < 20; ++i) spread.push_back(i / 19.0);
  EXPECT_EQ(rules::fldetector::gap_statistic(spread, 10, 20, 5), 1u);
}

// A federated "training" on a quadratic loss: benign client i sends x = -lr A (w - c_i) +
// noise, whose change from round to round follows the curvature A, as FLDetector assumes;
// malicious clients send fresh random vectors of a similar norm.
constexpr std::size_t kD = 400, kSketch = 32, kWindow = 3;
constexpr std::uint64_t kSeed = 21;

struct Federation {
  std::vector<double> curvature, w;
  std::vector<ref::Vec> optimum;
  std::mt19937_64 rng;
  explicit Federation(std::uint64_t seed, std::size_t clients) : rng(seed) {
    std::uniform_real_distribution<double> u(0.2, 1.0);
    std::normal_distribution<double> normal;
    curvature.resize(kD);
    for (double& a : curvature) a = u(rng);
    w.assign(kD, 0.0);
    ref::Vec centre(kD);
    for (double& c : centre) c = 3 * normal(rng);
    for (std::size_t i = 0; i < clients; ++i) {
      ref::Vec c = centre;
      for (double& v : c) v += 0.3 * normal(rng);
      optimum.push_back(c);
    }
  }
  ref::Vec benign(std::size_t i) {
    std::normal_distribution<double> normal;
    ref::Vec x(kD);
    for (std::size_t j = 0; j < kD; ++j)
      x[j] = static_cast<float>(-0.3 * curvature[j] * (w[j] - optimum[i][j]) + 0.002 * normal(rng));
    return x;
  }
  ref::Vec malicious(double scale) {
    std::normal_distribution<double> normal;
    ref::Vec x(kD);
    for (double& v : x) v = static_cast<float>(scale * normal(rng));
    return x;
  }
};

ref::Vec sketch_of(const ref::Vec& x) {
  ref::Vec s(kSketch, 0.0);
  for (std::size_t j = 0; j < x.size(); ++j)
    for (std::size_t q = 0; q < kSketch; ++q)
      s[q] += x[j] * backend::sketch_entry(kSeed, j, q, kSketch);
  return s;
}

TEST(FlDetector, ScoresMatchThePaperInPlainLoopsAndCatchTheAttackers) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = 12;
  Federation fed(seed, n);
  const std::string policy =
      R"({"sketch_dim": 32, "sketch_seed": 21, "filters": [{"rule": "fldetector",
      "window": 3, "min_pairs": 3}], "aggregator": {"rule": "mean"}})";
  Engine e = make_engine(policy);
  std::vector<ref::Vec> aggregates;               // sketches, oldest first
  std::map<std::string, ref::Vec> last, windows;  // per id
  std::size_t caught = 0, false_alarms = 0, judged_rounds = 0;
  for (std::size_t t = 0; t < 9; ++t) {
    // Client 11 skips round 4: no prediction in round 4 or 5 (it was absent in the round before).
    Matrix x;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) {
      if (i == 11 && t == 4) continue;
      ids.push_back("c" + std::to_string(i));
      x.push_back(i < 3 ? fed.malicious(0.5) : fed.benign(i));
    }
    const auto bytes = encode(x, DType::kFloat32);
    RoundInput in;
    in.updates = UpdateView(bytes.data(), x.size(), kD, DType::kFloat32);
    in.client_ids = ids;
    const RoundResult res = e.process_round(in);

    // The reference: the same prediction in float64 from the engine's applied aggregates.
    std::vector<ref::Vec> sk;
    for (const auto& row : x) sk.push_back(sketch_of(row));
    ref::Vec hv;
    const std::size_t pairs = aggregates.empty() ? 0 : std::min(kWindow, aggregates.size() - 1);
    if (pairs > 0) {
      Dense s, y;
      for (std::size_t j = aggregates.size() - pairs; j < aggregates.size(); ++j) {
        s.push_back(aggregates[j - 1]);
        ref::Vec yj(kSketch);
        for (std::size_t q = 0; q < kSketch; ++q)
          yj[q] = -(aggregates[j][q] - aggregates[j - 1][q]);
        y.push_back(yj);
      }
      hv = bfgs_product(s, y, aggregates.back());
    }
    std::map<std::string, double> err;
    double total = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = last.find(ids[i]);
      if (hv.empty() || it == last.end() || it->second.empty()) continue;
      double e2 = 0;
      for (std::size_t q = 0; q < kSketch; ++q) e2 += std::pow(it->second[q] - hv[q] - sk[i][q], 2);
      err[ids[i]] = std::sqrt(e2);
      total += std::sqrt(e2);
    }
    for (auto& [id, v] : err) {
      ref::Vec& win = windows[id];
      win.push_back(v / total);
      if (win.size() > kWindow) win.erase(win.begin());
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const double got = res.scores.at("fldetector")[i];
      const auto it = windows.find(ids[i]);
      if (it == windows.end()) {
        EXPECT_TRUE(std::isnan(got)) << "round " << t << " " << ids[i];
        continue;
      }
      double mean = 0;
      for (double v : it->second) mean += v;
      mean /= static_cast<double>(it->second.size());
      EXPECT_NEAR(got, mean, 2e-3 * mean + 1e-9) << "round " << t << " " << ids[i];
    }
    // Detection starts once three pairs of model changes exist (round 4 on).
    if (pairs >= 3) {
      ++judged_rounds;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const bool bad = ids[i] == "c0" || ids[i] == "c1" || ids[i] == "c2";
        if (bad && !res.accepted[i]) ++caught;
        if (!bad && !res.accepted[i]) ++false_alarms;
        if (!res.accepted[i]) {
          EXPECT_NE(res.reasons.at(i).find("fldetector: suspicion"), std::string::npos);
        }
      }
    } else {
      for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_TRUE(res.accepted[i]) << "round " << t;
    }
    // What the server applies next round (the engine's own aggregate).
    ref::Vec agg(res.aggregate.begin(), res.aggregate.end());
    aggregates.push_back(sketch_of(agg));
    for (std::size_t j = 0; j < kD; ++j) fed.w[j] += agg[j];
    for (std::size_t i = 0; i < ids.size(); ++i) last[ids[i]] = sk[i];
    if (t == 4) last.erase("c11");  // absent in round 4
  }
  EXPECT_GE(judged_rounds, 4u);
  EXPECT_EQ(caught, 3 * judged_rounds);
  EXPECT_EQ(false_alarms, 0u);
}

TEST(FlDetector, StateRoundTripContinuesExactly) {
  const std::uint64_t seed = test_seed();
  const std::string policy =
      R"({"sketch_dim": 32, "sketch_seed": 21, "filters": [{"rule": "fldetector",
      "window": 2, "min_pairs": 2}], "aggregator": {"rule": "mean"}, "reputation": {"decay": 0.5}})";
  const std::string path = ::testing::TempDir() + "/fedguard_fldetector_state.bin";
  std::vector<Matrix> rounds;
  {
    Federation fed(seed, 8);
    for (int t = 0; t < 6; ++t) {
      Matrix x;
      for (std::size_t i = 0; i < 8; ++i) x.push_back(i < 2 ? fed.malicious(0.5) : fed.benign(i));
      for (std::size_t j = 0; j < kD; ++j) fed.w[j] -= 0.01;  // drift: any model change will do
      rounds.push_back(x);
    }
  }
  auto run = [&](Engine& e, Matrix& x) {
    const auto bytes = encode(x, DType::kFloat32);
    RoundInput in;
    in.updates = UpdateView(bytes.data(), x.size(), kD, DType::kFloat32);
    for (std::size_t i = 0; i < x.size(); ++i) in.client_ids.push_back("id" + std::to_string(i));
    return e.process_round(in);
  };
  Engine straight = make_engine(policy);
  std::vector<RoundResult> want;
  for (auto& x : rounds) want.push_back(run(straight, x));
  Engine first = make_engine(policy);
  for (int t = 0; t < 3; ++t) run(first, rounds[t]);
  first.save_state(path);
  Engine resumed = make_engine(policy);
  resumed.load_state(path);
  for (int t = 3; t < 6; ++t) {
    const RoundResult got = run(resumed, rounds[t]);
    EXPECT_EQ(got.aggregate, want[t].aggregate) << t;
    EXPECT_EQ(got.accepted, want[t].accepted) << t;
    for (std::size_t i = 0; i < 8; ++i) {
      EXPECT_EQ(got.scores.at("reputation")[i], want[t].scores.at("reputation")[i]);
      const double a = got.scores.at("fldetector")[i], b = want[t].scores.at("fldetector")[i];
      EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace fedguard::test
