// Change-point detectors against plain float64 brute force: each statistic recomputed from its
// non-recursive definition at every step (CUSUM as a maximum over start points, Page-Hinkley
// with the mean and sums recomputed from scratch, EWMA as an explicit weighted sum), and the
// in-control run lengths against the published approximations by simulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "fedguard/error.h"
#include "fedguard/monitoring.h"
#include "monitor/detector.h"

namespace fedguard::monitor {
namespace {

DetectorSpec spec(const std::string& method, std::map<std::string, double> params = {},
                  const std::string& direction = "both") {
  DetectorSpec s;
  s.metric = "m";
  s.method = method;
  s.direction = direction;
  for (const auto& [k, v] : method_parameters(method))
    s.params[k] = params.count(k) ? params[k] : v;
  s.fixed_baseline = true;
  s.baseline_mean = 0;
  s.baseline_scale = 1;
  s.warmup = 0;
  return s;
}

// Brute-force statistics over z[from..t] (inclusive), the segment since the last restart.
struct Brute {
  double up = 0, down = 0;  // the two one-sided statistics compared with the threshold
  double threshold = 0;
};

Brute cusum_brute(const std::vector<double>& z, std::size_t from, std::size_t t, double k,
                  double h) {
  // S+_t = max(0, max_j sum_{i=j..t} (z_i - k)), likewise S-.
  Brute b;
  b.threshold = h;
  for (std::size_t j = from; j <= t; ++j) {
    double su = 0, sd = 0;
    for (std::size_t i = j; i <= t; ++i) {
      su += z[i] - k;
      sd += -z[i] - k;
    }
    b.up = std::max(b.up, su);
    b.down = std::max(b.down, sd);
  }
  return b;
}

Brute page_hinkley_brute(const std::vector<double>& z, std::size_t from, std::size_t t,
                         double delta, double lambda) {
  // alpha = 1: U_s = sum_{i<=s} (z_i - mean_i - delta) with mean_i the mean of z[from..i].
  Brute b;
  b.threshold = lambda;
  double u_min = std::numeric_limits<double>::infinity(),
         d_max = -std::numeric_limits<double>::infinity();
  double u = 0, d = 0;
  for (std::size_t s = from; s <= t; ++s) {
    double sum = 0;
    for (std::size_t i = from; i <= s; ++i) sum += z[i];
    const double mean = sum / static_cast<double>(s - from + 1);
    u += z[s] - mean - delta;
    d += z[s] - mean + delta;
    u_min = std::min(u_min, u);
    d_max = std::max(d_max, d);
  }
  b.up = u - u_min;
  b.down = d_max - d;
  return b;
}

Brute ewma_brute(const std::vector<double>& z, std::size_t from, std::size_t t, double lambda,
                 double L) {
  double w = 0;
  const std::size_t steps = t - from + 1;
  for (std::size_t i = from; i <= t; ++i)
    w += lambda * std::pow(1 - lambda, static_cast<double>(t - i)) * z[i];
  Brute b;
  b.threshold = L * std::sqrt(lambda / (2 - lambda) *
                              (1 - std::pow(1 - lambda, 2.0 * static_cast<double>(steps))));
  b.up = w;
  b.down = -w;
  return b;
}

// Runs the detector and the brute force side by side; checks the statistic at every step and
// that both alarm at the same steps. Returns the alarm indices.
std::vector<std::size_t> run_and_compare(const DetectorSpec& s, const std::vector<double>& z) {
  DetectorState st;
  std::vector<std::size_t> alarms;
  std::size_t from = 0;
  for (std::size_t t = 0; t < z.size(); ++t) {
    Brute b;
    if (s.method == "cusum")
      b = cusum_brute(z, from, t, s.params.at("k"), s.params.at("h"));
    else if (s.method == "page_hinkley")
      b = page_hinkley_brute(z, from, t, s.params.at("delta"), s.params.at("lambda"));
    else
      b = ewma_brute(z, from, t, s.params.at("lambda"), s.params.at("L"));
    const bool want_up = s.direction != "down" && b.up > b.threshold;
    const bool want_down = s.direction != "up" && b.down > b.threshold;
    const DetectorState before = st;
    const auto alert = feed(s, st, z[t], t);
    EXPECT_EQ(alert.has_value(), want_up || want_down)
        << s.method << " at t=" << t << " up " << b.up << " down " << b.down;
    if (!alert) {
      // The running statistics match the brute force (scale of the values: tolerance 1e-9).
      if (s.method == "cusum") {
        EXPECT_NEAR(st.s_up, b.up, 1e-9 * (1 + b.up)) << t;
        EXPECT_NEAR(st.s_down, b.down, 1e-9 * (1 + b.down)) << t;
      } else if (s.method == "ewma") {
        EXPECT_NEAR(st.s_up, b.up, 1e-9) << t;
      } else {
        EXPECT_NEAR(st.s_up - st.extreme_up, b.up, 1e-9 * (1 + b.up)) << t;
        EXPECT_NEAR(st.extreme_down - st.s_down, b.down, 1e-9 * (1 + b.down)) << t;
      }
      continue;
    }
    EXPECT_EQ(alert->round, t);
    EXPECT_EQ(alert->threshold, b.threshold);
    EXPECT_EQ(alert->direction, want_up ? "up" : "down");
    EXPECT_NEAR(alert->statistic, want_up ? b.up : b.down,
                1e-9 * (1 + std::fabs(b.up) + std::fabs(b.down)));
    EXPECT_EQ(st.alarms, before.alarms + 1);
    EXPECT_EQ(st.n, 0u);  // restarted
    alarms.push_back(t);
    from = t + 1;
  }
  return alarms;
}

std::vector<double> normal(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> v(count);
  for (double& x : v) x = g(rng);
  return v;
}

const char* const kMethods[] = {"cusum", "page_hinkley", "ewma"};

TEST(Detectors, NoChangeMatchesBruteForceAndStaysQuietAtDefaults) {
  const auto z = normal(600, 11);
  for (const char* m : kMethods) {
    const auto alarms = run_and_compare(spec(m), z);
    EXPECT_TRUE(alarms.empty()) << m << " raised " << alarms.size()
                                << " alarms on 600 in-control values";
  }
}

TEST(Detectors, NoChangeWithTightThresholdsAlarmsAsTheBruteForce) {
  // Thresholds low enough that noise alone crosses them: exercises the restart after alarms.
  const auto z = normal(500, 12);
  EXPECT_FALSE(run_and_compare(spec("cusum", {{"h", 2.0}}), z).empty());
  EXPECT_FALSE(run_and_compare(spec("page_hinkley", {{"delta", 0.1}, {"lambda", 3.0}}), z).empty());
  EXPECT_FALSE(run_and_compare(spec("ewma", {{"L", 2.0}}), z).empty());
}

TEST(Detectors, StepIsDetectedWithinTheExpectedDelay) {
  for (double shift : {3.0, -3.0}) {
    auto z = normal(300, 13);
    for (std::size_t t = 150; t < z.size(); ++t) z[t] += shift;
    for (const char* m : kMethods) {
      const auto alarms = run_and_compare(spec(m), z);
      ASSERT_FALSE(alarms.empty()) << m << " missed a step of " << shift;
      EXPECT_GE(alarms.front(), 150u) << m;
      EXPECT_LE(alarms.front(), 150u + 8)
          << m << " (3-sigma step: expected delay about 2-5 values)";
    }
    // One-sided detectors ignore the other direction.
    EXPECT_TRUE(run_and_compare(spec("cusum", {}, shift > 0 ? "down" : "up"), z).empty());
  }
}

TEST(Detectors, RampIsDetectedAsTheBruteForce) {
  auto z = normal(400, 14);
  for (std::size_t t = 100; t < z.size(); ++t) z[t] += 0.02 * static_cast<double>(t - 100);
  for (const char* m : kMethods) {
    const auto alarms = run_and_compare(spec(m, {}, "up"), z);
    ASSERT_FALSE(alarms.empty()) << m << " missed a ramp";
    EXPECT_GT(alarms.front(), 100u) << m;
  }
}

// A following baseline (baseline_lambda, scale_lambda): the mean written as its explicit
// weighted sum m_t = (1 - b)^t m_0 + sum_i b (1 - b)^(t - 1 - i) x_i, the scale by its
// documented recursion, each value judged against the baseline before it moved, and the EWMA as
// the explicit weighted sum of those z; alarms at the same steps. Then what it is for: a slow
// trend that a fixed baseline alarms on passes, a step still alarms within a few values.
TEST(Detectors, AFollowingBaselineMatchesItsDefinitionAndAbsorbsASlowTrend) {
  const double b = 0.05, sl = 0.02, lambda = 0.2, L = 4.5;
  DetectorSpec s = spec("ewma", {{"lambda", lambda}, {"L", L}}, "down");
  s.baseline_lambda = b;
  s.scale_lambda = sl;
  auto noise = normal(400, 21);
  std::vector<double> x(400);
  for (std::size_t t = 0; t < x.size(); ++t)
    x[t] = -0.03 * static_cast<double>(t) + 0.5 * noise[t] - (t >= 300 ? 4.0 : 0.0);
  DetectorState st;
  std::vector<double> z, scales{1.0};
  std::size_t from = 0;
  std::vector<std::size_t> alarms;
  for (std::size_t t = 0; t < x.size(); ++t) {
    double m = std::pow(1 - b, static_cast<double>(t)) * 0.0;
    for (std::size_t i = 0; i < t; ++i)
      m += b * std::pow(1 - b, static_cast<double>(t - 1 - i)) * x[i];
    const double sc = scales.back();
    z.push_back((x[t] - m) / sc);
    const Brute want = ewma_brute(z, from, t, lambda, L);
    const auto alert = feed(s, st, x[t], t);
    ASSERT_EQ(alert.has_value(), want.down > want.threshold) << "t=" << t;
    if (alert) {
      EXPECT_NEAR(alert->statistic, want.down, 1e-9) << t;
      alarms.push_back(t);
      from = t + 1;
    } else {
      EXPECT_NEAR(st.s_up, want.up, 1e-9) << t;
    }
    const double r = x[t] - m;
    scales.push_back(std::max(std::sqrt((1 - sl) * sc * sc + sl * std::min(r * r, 9 * sc * sc)),
                              1e-9 * std::max(1.0, std::fabs(m))));
    EXPECT_NEAR(st.mean, m + b * r, 1e-9 * (1 + std::fabs(m))) << t;
    EXPECT_NEAR(st.scale, scales.back(), 1e-12 * scales.back()) << t;
  }
  ASSERT_FALSE(alarms.empty());
  EXPECT_GE(alarms.front(), 300u) << "the slow trend (-0.03 a value) alarmed";
  EXPECT_LE(alarms.front(), 303u) << "the step of -4 at 300 was seen late";
  // With the baseline fixed the same trend alarms long before the step.
  DetectorState fixed;
  std::size_t first = x.size();
  for (std::size_t t = 0; t < x.size() && first == x.size(); ++t)
    if (feed(spec("ewma", {{"lambda", lambda}, {"L", L}}, "down"), fixed, x[t], t)) first = t;
  EXPECT_LT(first, 300u);
}

// The cosine of successive aggregates as recorded in two 200-client simulations without a change
// (the oracle matrix, Dirichlet 0.1, the recommended preset, rounds 1-99; 2026-12-06): the
// attack-free run of seed 3 and the backdoor run of seed 1, whose ten attackers were there from
// round 0. The cosine declines as the model converges and scatters more late in training.
const std::vector<double> kConvergingCosineSeed3 = {
    0.843792, 0.953899, 0.953716, 0.960482,  0.962943, 0.944901, 0.956633, 0.95369,  0.960456,
    0.964003, 0.9161,   0.891569, 0.884077,  0.932977, 0.885031, 0.864132, 0.8713,   0.905609,
    0.892797, 0.87898,  0.911297, 0.843768,  0.826442, 0.860871, 0.846046, 0.823589, 0.835993,
    0.828731, 0.814691, 0.832113, 0.762597,  0.778372, 0.805099, 0.774622, 0.78913,  0.525816,
    0.719978, 0.727797, 0.723927, 0.756106,  0.784708, 0.663523, 0.598459, 0.741506, 0.790503,
    0.685433, 0.706218, 0.632196, 0.781227,  0.636744, 0.73443,  0.572801, 0.490607, 0.635268,
    0.62414,  0.633804, 0.627216, 0.67188,   0.660227, 0.673109, 0.64495,  0.624244, 0.693217,
    0.519635, 0.604521, 0.623503, 0.5956,    0.604941, 0.59085,  0.577016, 0.598994, 0.669773,
    0.618961, 0.571998, 0.565189, 0.487596,  0.438243, 0.460908, 0.718038, 0.373741, 0.357951,
    0.512029, 0.458476, 0.496104, 0.0683275, 0.601192, 0.527394, 0.540502, 0.525311, 0.486065,
    0.443556, 0.432848, 0.514529, 0.375381,  0.428013, 0.543283, 0.589048, 0.512878, 0.569562};
const std::vector<double> kConvergingCosineSeed1 = {
    0.910929, 0.945721, 0.887917, 0.819873, 0.84715,  0.959575, 0.831932, 0.908443, 0.907918,
    0.928834, 0.912696, 0.91701,  0.9249,   0.918531, 0.885329, 0.865622, 0.88826,  0.828275,
    0.857602, 0.846202, 0.872212, 0.878587, 0.835604, 0.83002,  0.849315, 0.804135, 0.829181,
    0.801701, 0.786118, 0.814158, 0.840075, 0.8197,   0.761165, 0.822653, 0.791087, 0.810656,
    0.74443,  0.718068, 0.776328, 0.746703, 0.706045, 0.745031, 0.754494, 0.770279, 0.80482,
    0.703665, 0.677222, 0.679004, 0.672955, 0.630313, 0.667648, 0.646105, 0.657384, 0.724049,
    0.603468, 0.607377, 0.622001, 0.448737, 0.53307,  0.579351, 0.625966, 0.634498, 0.584222,
    0.516262, 0.616068, 0.64652,  0.658437, 0.568947, 0.568899, 0.55916,  0.518377, 0.316355,
    0.559175, 0.587728, 0.562664, 0.55448,  0.323984, 0.612748, 0.4403,   0.617316, 0.301809,
    0.472974, 0.520249, 0.513955, 0.498366, 0.323926, 0.56323,  0.487622, 0.382131, 0.375644,
    0.604235, 0.509445, 0.31893,  0.40666,  0.510064, 0.506727, 0.404096, 0.23126,  0.242721};

std::vector<std::uint64_t> alarm_rounds(const DetectorSpec& s, const std::vector<double>& x,
                                        double drop = 0, std::uint64_t from = 0) {
  DetectorState st;
  std::vector<std::uint64_t> rounds;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::uint64_t round = i + 1;  // the first round has no previous aggregate
    if (feed(s, st, x[i] - (round >= from ? drop : 0.0), round)) rounds.push_back(round);
  }
  return rounds;
}

DetectorSpec default_cosine_detector() {
  for (const DetectorSpec& s : MonitoringConfig::default_detectors())
    if (s.metric == "aggregate_cosine") return s;
  ADD_FAILURE() << "no default detector on aggregate_cosine";
  return {};
}

TEST(Detectors, TheDefaultCosineDetectorFollowsAConvergingLargeFederation) {
  const DetectorSpec cosine = default_cosine_detector();
  ASSERT_EQ(cosine.method, "ewma");
  for (const auto* x : {&kConvergingCosineSeed3, &kConvergingCosineSeed1})
    EXPECT_TRUE(alarm_rounds(cosine, *x).empty());
  // The records are the ones that showed the lag: with the previous default (the mean following
  // at 0.05, a time constant of 20 rounds; the scale fixed) they alert in the simulations' rounds.
  DetectorSpec slow = cosine;
  slow.baseline_lambda = 0.05;
  slow.scale_lambda = 0;
  slow.params["L"] = 4.5;
  EXPECT_EQ(alarm_rounds(slow, kConvergingCosineSeed3), (std::vector<std::uint64_t>{85}));
  EXPECT_EQ(alarm_rounds(slow, kConvergingCosineSeed1),
            (std::vector<std::uint64_t>{57, 72, 86, 99}));
  // A redirection is still seen: the cosine dropping by 0.6 (about 4.4 of the warm-up's scales)
  // from round r on raises an alert within three rounds, wherever r falls after the warm-up.
  for (const auto* x : {&kConvergingCosineSeed3, &kConvergingCosineSeed1})
    for (std::uint64_t from = 35; from <= 90; from += 5) {
      const auto rounds = alarm_rounds(cosine, *x, 0.6, from);
      ASSERT_FALSE(rounds.empty()) << "drop from round " << from;
      EXPECT_GE(rounds.front(), from) << "drop from round " << from;
      EXPECT_LE(rounds.front(), from + 3) << "drop from round " << from;
    }
}

TEST(Detectors, WarmupEstimatesARobustBaselineAndTestsNothing) {
  DetectorSpec s = spec("cusum");
  s.fixed_baseline = false;
  s.warmup = 9;
  std::vector<double> values = {10, 11, 9, 10.5, 9.5, 1000, 10.2, 9.8, 10.1};  // one wild value
  DetectorState st;
  for (std::size_t t = 0; t < values.size(); ++t) {
    EXPECT_FALSE(feed(s, st, values[t], t).has_value());
    EXPECT_EQ(st.ready, t + 1 == values.size());
  }
  // Brute force: sort for the median, sort the absolute deviations for the MAD, then the mean
  // and standard deviation of the values within 3.5 x 1.4826 x MAD.
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[4];
  std::vector<double> dev;
  for (double v : values) dev.push_back(std::fabs(v - median));
  std::sort(dev.begin(), dev.end());
  std::vector<double> kept;
  for (double v : values)
    if (std::fabs(v - median) <= 3.5 * 1.4826 * dev[4]) kept.push_back(v);
  ASSERT_EQ(kept.size(), 8u);  // the wild value is set aside
  double sum = 0, ss = 0;
  for (double v : kept) sum += v;
  const double mean = sum / 8;
  for (double v : kept) ss += (v - mean) * (v - mean);
  // Lag-1 autocorrelation of the values in order, the wild one clipped to the cut.
  const double cut = 3.5 * 1.4826 * dev[4];
  double num = 0, den = 0;
  for (std::size_t t = 0; t < values.size(); ++t) {
    const double x = std::min(values[t], median + cut) - mean;
    den += x * x;
    if (t + 1 < values.size()) num += x * (std::min(values[t + 1], median + cut) - mean);
  }
  const double r = std::max(0.0, std::min(0.8, num / den));
  EXPECT_DOUBLE_EQ(st.mean, mean);
  EXPECT_DOUBLE_EQ(st.scale, std::sqrt(ss / 7) * std::sqrt((1 + r) / (1 - r)));
  EXPECT_LT(st.scale, 1.0);  // the wild value did not inflate it
  EXPECT_EQ(st.n, 0u);
  EXPECT_TRUE(st.warmup.empty());
  // Then values are standardised by the baseline: a value 20 scales above alarms at once.
  const auto a = feed(s, st, st.mean + 20 * st.scale, 9);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->baseline_mean, st.mean);
  EXPECT_NEAR(a->statistic, 20 - 0.5, 1e-9);
}

TEST(Detectors, EvenWarmupMedianAndScaleFloor) {
  double mean = 0, scale = 0;
  robust_baseline({4, 1, 3, 2}, 0, mean, scale);  // median 2.5, MAD 1: all kept; lag-1 r < 0: 0
  EXPECT_EQ(mean, 2.5);
  EXPECT_DOUBLE_EQ(scale, std::sqrt(5.0 / 3.0));
  robust_baseline({1, 2, 3, 4}, 0, mean,
                  scale);  // a trend: r = (-1.5*-0.5 + -0.5*0.5 + 0.5*1.5) / 5 = 0.25
  EXPECT_DOUBLE_EQ(scale, std::sqrt(5.0 / 3.0) * std::sqrt(1.25 / 0.75));
  robust_baseline({0, 0, 0, 0}, 0.05, mean, scale);  // a constant metric: the floor
  EXPECT_EQ(mean, 0);
  EXPECT_EQ(scale, 0.05);
  robust_baseline({7, 7, 7}, 0, mean, scale);
  EXPECT_DOUBLE_EQ(scale, 7e-9);
}

TEST(Detectors, NonFiniteValuesAreRefusedWithoutChangingTheState) {
  for (const char* m : kMethods) {
    const DetectorSpec s = spec(m);
    DetectorState st;
    feed(s, st, 0.3, 0);
    const DetectorState before = st;
    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                       -std::numeric_limits<double>::infinity()}) {
      EXPECT_THROW(feed(s, st, bad, 1), Error) << m;
      EXPECT_TRUE(st == before) << m;
    }
  }
}

TEST(Detectors, PageHinkleyFadingFactorMatchesItsRecurrence) {
  // alpha < 1: the brute force above assumes alpha = 1, so check the recurrence written out.
  const auto z = normal(200, 15);
  DetectorSpec s = spec("page_hinkley", {{"alpha", 0.99}, {"lambda", 1e9}});
  DetectorState st;
  double mean = 0, u = 0, d = 0, umin = 0, dmax = 0;
  for (std::size_t t = 0; t < z.size(); ++t) {
    feed(s, st, z[t], t);
    double sum = 0;
    for (std::size_t i = 0; i <= t; ++i) sum += z[i];
    mean = sum / static_cast<double>(t + 1);
    u = 0.99 * u + (z[t] - mean) - 0.5;
    d = 0.99 * d + (z[t] - mean) + 0.5;
    umin = t == 0 ? u : std::min(umin, u);
    dmax = t == 0 ? d : std::max(dmax, d);
    ASSERT_NEAR(st.s_up, u, 1e-9);
    ASSERT_NEAR(st.extreme_down - st.s_down, dmax - d, 1e-9);
    ASSERT_NEAR(st.s_up - st.extreme_up, u - umin, 1e-9);
  }
}

// Mean run length to the first alarm on standard normal values.
double simulated_arl(const DetectorSpec& s, std::size_t runs, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  double total = 0;
  for (std::size_t r = 0; r < runs; ++r) {
    DetectorState st;
    std::uint64_t t = 0;
    while (!feed(s, st, g(rng), t)) ++t;
    total += static_cast<double>(t + 1);
  }
  return total / static_cast<double>(runs);
}

TEST(Detectors, CusumInControlRunLengthMatchesSiegmund) {
  // Siegmund: one side (exp(2kb) - 2kb - 1) / (2k^2), b = h + 1.166; two sides half of that.
  const double k = 0.5, h = 4, b = h + 1.166;
  const double one_side = (std::exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k);
  const double arl = simulated_arl(spec("cusum", {{"k", k}, {"h", h}}), 3000, 21);
  EXPECT_NEAR(arl, one_side / 2, 0.08 * one_side / 2) << "simulated ARL0 " << arl;
}

TEST(Detectors, EwmaInControlRunLengthMatchesLucasSaccucci) {
  // Lucas and Saccucci (1990), Table 3: lambda 0.2, L 3.0 -> ARL0 about 560 (two-sided).
  const double arl = simulated_arl(spec("ewma", {{"lambda", 0.2}, {"L", 3.0}}), 2000, 22);
  EXPECT_NEAR(arl, 560, 0.08 * 560) << "simulated ARL0 " << arl;
}

}  // namespace
}  // namespace fedguard::monitor
