// The attack library (host/attacks/) against plain float64 references computed here: each
// attack's defining property, determinism with the seed, and bad input. Inputs are fresh random
// rounds every run (the seed is printed; FEDGUARD_TEST_SEED replays one).
#include "fedguard/attacks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "fedguard/fedguard.h"
#include "support/engine_runner.h"
#include "support/random_round.h"
#include "synthetic/round.h"

namespace fedguard::test {
namespace {

using nlohmann::json;
using Vec = std::vector<double>;

// n x d benign updates around a common direction, heterogeneous per-client noise, float32.
struct Round {
  std::size_t n = 0, d = 0;
  std::vector<float> x;
  const float* row(std::size_t i) const { return x.data() + i * d; }
};

Round make_round(std::size_t n, std::size_t d, std::mt19937_64& rng, double offset = 0.0,
                 double noise = 0.1) {
  // Centre offset + 0.05 g; client i's noise noise * (0.5, 0.75, 1, 1.25 by i % 4).
  synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.offset = offset;
  spec.direction_scale = 0.05;
  spec.noise_scale = noise;
  for (std::size_t i = 0; i < n; ++i)
    spec.client_noise.push_back(0.5 + static_cast<double>(i % 4) * 0.25);
  spec.seed = rng();
  return Round{n, d, synthetic::generate(spec).updates};
}

// The median of the round's rows' norms, float64 brute force (the benign median the norm-scaled
// attacks use).
double median_row_norm(const Round& r) {
  std::vector<double> norms;
  for (std::size_t b = 0; b < r.n; ++b) {
    double sq = 0;
    for (std::size_t j = 0; j < r.d; ++j) sq += double(r.x[b * r.d + j]) * r.x[b * r.d + j];
    norms.push_back(std::sqrt(sq));
  }
  std::sort(norms.begin(), norms.end());
  const std::size_t h = norms.size() / 2;
  return norms.size() % 2 ? norms[h] : 0.5 * (norms[h - 1] + norms[h]);
}

AttackInput input_for(const Round& r, std::size_t f, std::uint64_t seed = 7) {
  AttackInput in;
  in.benign = r.x.data();
  in.n_benign = r.n;
  in.d = r.d;
  in.n_malicious = f;
  in.seed = seed;
  return in;
}

Vec col_mean(const Round& r) {
  Vec m(r.d, 0.0);
  for (std::size_t i = 0; i < r.n; ++i)
    for (std::size_t j = 0; j < r.d; ++j) m[j] += r.x[i * r.d + j];
  for (double& v : m) v /= static_cast<double>(r.n);
  return m;
}

Vec col_std(const Round& r, std::size_t ddof) {
  const Vec m = col_mean(r);
  Vec s(r.d, 0.0);
  for (std::size_t i = 0; i < r.n; ++i)
    for (std::size_t j = 0; j < r.d; ++j)
      s[j] += (r.x[i * r.d + j] - m[j]) * (r.x[i * r.d + j] - m[j]);
  for (double& v : s) v = std::sqrt(v / static_cast<double>(r.n - ddof));
  return s;
}

double sq_dist(const float* a, const Vec& b) {
  double s = 0;
  for (std::size_t j = 0; j < b.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

double sq_dist(const float* a, const float* b, std::size_t d) {
  double s = 0;
  for (std::size_t j = 0; j < d; ++j)
    s += (static_cast<double>(a[j]) - b[j]) * (static_cast<double>(a[j]) - b[j]);
  return s;
}

// Every malicious row equals `expected` to float32 rounding.
void expect_rows_equal(const AttackOutput& out, const Vec& expected, double rel = 2e-6) {
  ASSERT_EQ(out.d, expected.size());
  double scale = 0;
  for (double v : expected) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < out.n; ++i)
    for (std::size_t j = 0; j < out.d; ++j)
      ASSERT_NEAR(out.updates[i * out.d + j], expected[j], rel * std::max(scale, 1e-30) + 1e-30)
          << "row " << i << " col " << j;
}

void expect_error(const std::string& name, const json& params, const AttackInput& in,
                  const std::string& needle) {
  try {
    craft_attack(name, params, in);
    FAIL() << name << ": expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kInvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

const std::vector<std::string> kAll = {"alie", "fang_krum", "fang_trim", "gaussian",
                                       "ipm",  "mimic",     "min_max",   "min_sum",
                                       "mpaf", "scaling",   "sign_flip"};

// ---------------------------------------------------------------------------------------------

TEST(Attacks, NamesAreSortedAndComplete) {
  const auto names = attack_names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names, kAll);
}

TEST(Attacks, AlieZFromThePaperFormula) {
  std::mt19937_64 rng(test_seed());
  // (n, f) -> z of PAPERS.md: s = floor(n/2 + 1) - f, z = Phi^-1((n - f - s) / (n - f)).
  const struct {
    std::size_t n, f;
    double z;
  } cases[] = {{25, 5, 0.2533471}, {50, 12, 0.3360381}, {100, 20, 0.2858409}};
  for (const auto& c : cases) {
    const Round r = make_round(c.n - c.f, 16, rng);
    const AttackOutput out = craft_attack("alie", nullptr, input_for(r, c.f));
    EXPECT_NEAR(out.info["z"].get<double>(), c.z, 1e-6) << c.n << "," << c.f;
  }
  // The "all" variant: Phi^-1((n - s) / n); (25, 5): s = 8, Phi^-1(0.68) = 0.4676988.
  const Round r = make_round(20, 16, rng);
  const AttackOutput out = craft_attack("alie", {{"z_formula", "all"}}, input_for(r, 5));
  EXPECT_NEAR(out.info["z"].get<double>(), 0.4676988, 1e-6);
  // n_total counts clients the attacker does not see.
  AttackInput in = input_for(r, 5);
  in.n_total = 50;  // s = 26 - 5 = 21, Phi^-1(24/45)
  EXPECT_NEAR(craft_attack("alie", nullptr, in).info["z"].get<double>(), 0.0836517, 1e-6);
}

TEST(Attacks, AlieIsMeanMinusZStdPerCoordinate) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(20, 333, rng, 0.3);
  const Vec mu = col_mean(r), sd1 = col_std(r, 1), sd0 = col_std(r, 0);
  const AttackOutput out = craft_attack("alie", nullptr, input_for(r, 5));
  ASSERT_EQ(out.n, 5u);
  const double z = out.info["z"].get<double>();
  Vec expected(r.d);
  for (std::size_t j = 0; j < r.d; ++j) expected[j] = mu[j] - z * sd1[j];
  expect_rows_equal(out, expected);

  const AttackOutput plus =
      craft_attack("alie", {{"direction", "plus"}, {"z", 1.5}, {"ddof", 0}}, input_for(r, 3));
  for (std::size_t j = 0; j < r.d; ++j) expected[j] = mu[j] + 1.5 * sd0[j];
  expect_rows_equal(plus, expected);
  EXPECT_EQ(plus.info["z_formula"], "explicit");
}

TEST(Attacks, AlieWithAMaliciousMajorityNeedsAnExplicitZ) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(4, 8, rng);
  expect_error("alie", nullptr, input_for(r, 6), "pass an explicit 'z'");
  EXPECT_NO_THROW(craft_attack("alie", {{"z", 1.0}}, input_for(r, 6)));
}

TEST(Attacks, IpmIsMinusEpsilonTimesTheMean) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(9, 200, rng, 0.5);
  const Vec mu = col_mean(r);
  for (double eps : {0.1, 100.0}) {
    const json params = eps == 0.1 ? json(nullptr) : json{{"epsilon", eps}};
    const AttackOutput out = craft_attack("ipm", params, input_for(r, 4));
    Vec expected(r.d);
    for (std::size_t j = 0; j < r.d; ++j) expected[j] = -eps * mu[j];
    expect_rows_equal(out, expected);
    EXPECT_DOUBLE_EQ(out.info["epsilon"].get<double>(), eps);
  }
}

TEST(Attacks, SignFlipOfOwnOrOfTheBenignMean) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(6, 100, rng, 0.2);
  const Round own = make_round(3, 100, rng, -0.4);
  AttackInput in = input_for(r, 3);
  in.own = own.x.data();
  const AttackOutput out = craft_attack("sign_flip", {{"k", 2.5}}, in);
  for (std::size_t k = 0; k < 300; ++k)
    ASSERT_EQ(out.updates[k], static_cast<float>(-2.5 * own.x[k]));
  EXPECT_EQ(out.info["base"], "own");
  const AttackOutput no_own = craft_attack("sign_flip", nullptr, input_for(r, 3));
  const Vec mu = col_mean(r);
  Vec expected(r.d);
  for (std::size_t j = 0; j < r.d; ++j) expected[j] = -mu[j];
  expect_rows_equal(no_own, expected);
}

TEST(Attacks, ScalingIsGammaTimesOwn) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(7, 50, rng);
  const Round own = make_round(3, 50, rng);
  AttackInput in = input_for(r, 3);
  in.own = own.x.data();
  AttackOutput out = craft_attack("scaling", nullptr, in);  // gamma = n / eta = 10
  EXPECT_DOUBLE_EQ(out.info["gamma"].get<double>(), 10.0);
  for (std::size_t k = 0; k < 150; ++k)
    ASSERT_EQ(out.updates[k], static_cast<float>(10.0 * own.x[k]));
  in.n_total = 30;
  out = craft_attack("scaling", {{"eta", 2.0}}, in);
  EXPECT_DOUBLE_EQ(out.info["gamma"].get<double>(), 15.0);
  out = craft_attack("scaling", {{"gamma", 3.0}}, in);
  for (std::size_t k = 0; k < 150; ++k)
    ASSERT_EQ(out.updates[k], static_cast<float>(3.0 * own.x[k]));
  expect_error("scaling", nullptr, input_for(r, 3), "needs `own`");
  // Beyond float32: clamped, never Inf.
  out = craft_attack("scaling", {{"gamma", 1e300}}, in);
  for (float v : out.updates) ASSERT_TRUE(std::isfinite(v));
  EXPECT_GT(out.info["clamped"].get<std::size_t>(), 0u);
}

// The adaptive private direction (private_ratio, against `history_group`): the output minus the
// scaled own update is, per attacker, a direction of private_ratio x the benign median norm
// (float64 brute force of the median) that is the same in every round, differs between
// attackers, and changes with the seed; a negative ratio is refused.
TEST(Attacks, ScalingPrivateDirectionIsPersistentAndOwn) {
  std::mt19937_64 rng(test_seed());
  const std::size_t d = 400, f = 3;
  const Round r = make_round(8, d, rng);
  const Round own = make_round(f, d, rng);
  const double median = median_row_norm(r);
  auto private_part = [&](std::uint64_t round, std::uint64_t seed) {
    AttackInput in = input_for(r, f, seed);
    in.own = own.x.data();
    in.round = round;
    const AttackOutput out = craft_attack("scaling", {{"gamma", 2.0}, {"private_ratio", 0.5}}, in);
    EXPECT_DOUBLE_EQ(out.info["private_ratio"].get<double>(), 0.5);
    std::vector<std::vector<double>> p(f, std::vector<double>(d));
    for (std::size_t i = 0; i < f; ++i)
      for (std::size_t j = 0; j < d; ++j)
        p[i][j] = double(out.updates[i * d + j]) - 2.0 * double(own.x[i * d + j]);
    return p;
  };
  const auto first = private_part(1, 7), later = private_part(9, 7), other = private_part(1, 8);
  auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
    double t = 0;
    for (std::size_t j = 0; j < d; ++j) t += a[j] * b[j];
    return t;
  };
  for (std::size_t i = 0; i < f; ++i) {
    EXPECT_NEAR(std::sqrt(dot(first[i], first[i])), 0.5 * median, 1e-4 * median) << i;
    for (std::size_t j = 0; j < d; ++j)
      ASSERT_NEAR(later[i][j], first[i][j], 1e-5 * median) << "attacker " << i << " column " << j;
    // Independent Gaussian directions in 400 dimensions: cosines of order 1/sqrt(d) = 0.05.
    EXPECT_LT(std::fabs(dot(first[i], other[i])) / dot(first[i], first[i]), 0.3) << i;
    for (std::size_t k = i + 1; k < f; ++k)
      EXPECT_LT(std::fabs(dot(first[i], first[k])) / dot(first[i], first[i]), 0.3) << i << k;
  }
  AttackInput in = input_for(r, f);
  in.own = own.x.data();
  expect_error("scaling", {{"private_ratio", -1.0}}, in, "private_ratio");
}

// The adaptive blend (against the direction group's alignment test): each attacker's update is
// gamma ((1 - blend) own_i + blend mean_k own_k), float64 brute force; blend 1 makes every row
// the coalition's mean; with norm_ratio each blended row is rescaled to ratio x the benign
// median; outside [0, 1] refused.
TEST(Attacks, ScalingBlendTowardTheCoalitionMean) {
  std::mt19937_64 rng(test_seed());
  const std::size_t d = 60, f = 4;
  const Round r = make_round(9, d, rng);
  const Round own = make_round(f, d, rng);
  AttackInput in = input_for(r, f);
  in.own = own.x.data();
  std::vector<double> mean(d, 0.0);
  for (std::size_t i = 0; i < f; ++i)
    for (std::size_t j = 0; j < d; ++j) mean[j] += double(own.x[i * d + j]) / double(f);
  for (const double blend : {0.0, 0.3, 0.8, 1.0}) {
    const AttackOutput out = craft_attack("scaling", {{"gamma", 2.0}, {"blend", blend}}, in);
    for (std::size_t i = 0; i < f; ++i)
      for (std::size_t j = 0; j < d; ++j) {
        const double want = 2.0 * ((1 - blend) * double(own.x[i * d + j]) + blend * mean[j]);
        ASSERT_NEAR(out.updates[i * d + j], want, 1e-5 * (1 + std::fabs(want)))
            << "blend " << blend << " attacker " << i << " column " << j;
      }
    if (blend == 1.0) {
      for (std::size_t i = 1; i < f; ++i)
        for (std::size_t j = 0; j < d; ++j) ASSERT_EQ(out.updates[i * d + j], out.updates[j]);
    }
  }
  // With the norm constraint: every blended row at ratio x the benign median norm.
  const double median = median_row_norm(r);
  const AttackOutput scaled = craft_attack("scaling", {{"norm_ratio", 1.0}, {"blend", 0.5}}, in);
  EXPECT_DOUBLE_EQ(scaled.info["blend"].get<double>(), 0.5);
  for (std::size_t i = 0; i < f; ++i) {
    double sq = 0;
    for (std::size_t j = 0; j < d; ++j)
      sq += double(scaled.updates[i * d + j]) * scaled.updates[i * d + j];
    EXPECT_NEAR(std::sqrt(sq), median, 1e-5 * median) << i;
  }
  expect_error("scaling", {{"blend", -0.1}}, in, "blend");
  expect_error("scaling", {{"blend", 1.5}}, in, "blend");
}

// Constrain-and-scale's norm constraint: each malicious update is its own update rescaled to
// norm_ratio x the median norm of the benign updates (float64 brute force); exclusive with
// gamma / eta; it reads the benign rows, so a non-finite one is refused.
TEST(Attacks, ScalingToTheBenignMedianNorm) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(8, 40, rng);
  const Round own = make_round(3, 40, rng);
  AttackInput in = input_for(r, 3);
  in.own = own.x.data();
  const double median = median_row_norm(r);
  for (const double ratio : {1.0, 0.5}) {
    const AttackOutput out = craft_attack("scaling", {{"norm_ratio", ratio}}, in);
    EXPECT_DOUBLE_EQ(out.info["norm_ratio"].get<double>(), ratio);
    for (std::size_t i = 0; i < 3; ++i) {
      double own_sq = 0, out_sq = 0;
      for (std::size_t j = 0; j < 40; ++j) {
        own_sq += double(own.x[i * 40 + j]) * own.x[i * 40 + j];
        out_sq += double(out.updates[i * 40 + j]) * out.updates[i * 40 + j];
      }
      const double factor = ratio * median / std::sqrt(own_sq);
      for (std::size_t j = 0; j < 40; ++j)
        ASSERT_EQ(out.updates[i * 40 + j], static_cast<float>(factor * own.x[i * 40 + j]));
      EXPECT_NEAR(std::sqrt(out_sq), ratio * median, 1e-5 * median);
    }
  }
  expect_error("scaling", {{"norm_ratio", 1.0}, {"gamma", 2.0}}, in, "replaces");
  expect_error("scaling", {{"norm_ratio", 0.0}}, in, "norm_ratio");
  Round bad = r;
  bad.x[2 * 40 + 7] = std::nanf("");
  AttackInput nan_in = input_for(bad, 3);
  nan_in.own = own.x.data();
  expect_error("scaling", {{"norm_ratio", 1.0}}, nan_in,
               "benign row 2 has a non-finite value (nan) at column 7");
}

TEST(Attacks, GaussianNoiseStatisticsAndCenters) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(5, 20000, rng, 1.0);
  const AttackOutput out = craft_attack("gaussian", nullptr, input_for(r, 2));
  for (std::size_t i = 0; i < 2; ++i) {
    double s = 0, s2 = 0;
    for (std::size_t j = 0; j < r.d; ++j) {
      const double v = out.updates[i * r.d + j];
      s += v;
      s2 += v * v;
    }
    const double mean = s / r.d, sd = std::sqrt(s2 / r.d - mean * mean);
    EXPECT_NEAR(mean, 0.0, 200.0 * 5 / std::sqrt(20000.0));
    EXPECT_NEAR(sd, 200.0, 200.0 * 0.03);
  }
  EXPECT_NE(std::vector<float>(out.updates.begin(), out.updates.begin() + 100),
            std::vector<float>(out.updates.begin() + r.d,
                               out.updates.begin() + r.d + 100));  // own noise each
  const AttackOutput centred =
      craft_attack("gaussian", {{"center", "mean"}, {"sigma", 1e-3}}, input_for(r, 1));
  const Vec mu = col_mean(r);
  for (std::size_t j = 0; j < r.d; ++j) ASSERT_NEAR(centred.updates[j], mu[j], 6e-3);
}

// Min-Max / Min-Sum: the float64 reference of the objective at gamma for mal = mu - gamma p.
struct AgrRef {
  const Round& r;
  Vec mu, p;
  explicit AgrRef(const Round& round, const std::string& perturbation)
      : r(round), mu(col_mean(round)) {
    if (perturbation == "std") p = col_std(round, 1);
    if (perturbation == "sign")
      for (double m : mu) p.push_back(m > 0 ? 1.0 : (m < 0 ? -1.0 : 0.0));
    if (perturbation == "unit_vec") {
      const double norm = std::sqrt(std::inner_product(mu.begin(), mu.end(), mu.begin(), 0.0));
      for (double m : mu) p.push_back(m / norm);
    }
  }
  Vec mal(double gamma) const {
    Vec m(r.d);
    for (std::size_t j = 0; j < r.d; ++j) m[j] = mu[j] - gamma * p[j];
    return m;
  }
  double objective(const Vec& m, bool minmax) const {
    double acc = 0;
    for (std::size_t i = 0; i < r.n; ++i)
      acc = minmax ? std::max(acc, sq_dist(r.row(i), m)) : acc + sq_dist(r.row(i), m);
    return acc;
  }
  double threshold(bool minmax) const {
    double t = minmax ? 0.0 : HUGE_VAL;
    for (std::size_t i = 0; i < r.n; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < r.n; ++j) {
        const double dij = sq_dist(r.row(i), r.row(j), r.d);
        sum += dij;
        if (minmax) t = std::max(t, dij);
      }
      if (!minmax) t = std::min(t, sum);
    }
    return t;
  }
};

class AgrAgnostic : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(AgrAgnostic, GammaIsTheLargestWithinTheThreshold) {
  const auto& [name, perturbation] = GetParam();
  const bool minmax = name == "min_max";
  std::mt19937_64 rng(test_seed());
  for (std::size_t n : {std::size_t{2}, std::size_t{7}, std::size_t{20}}) {
    const Round r = make_round(n, 301, rng, 0.05);
    const AttackOutput out = craft_attack(name, {{"perturbation", perturbation}}, input_for(r, 4));
    const double gamma = out.info["gamma"].get<double>();
    ASSERT_FALSE(out.info["saturated"].get<bool>()) << "gamma " << gamma;
    ASSERT_GT(gamma, 0.0);
    const AgrRef ref(r, perturbation);
    const double threshold = ref.threshold(minmax);
    EXPECT_NEAR(out.info["threshold"].get<double>(), threshold, 1e-9 * threshold);
    // What was sent is mu - gamma p, and it satisfies the constraint (to float32 rounding).
    expect_rows_equal(out, ref.mal(gamma), 1e-6);
    Vec sent(out.updates.begin(), out.updates.begin() + r.d);
    EXPECT_LE(ref.objective(sent, minmax), threshold * (1 + 1e-6)) << n;
    EXPECT_LE(ref.objective(ref.mal(gamma), minmax), threshold * (1 + 1e-12)) << n;
    // Maximal: slightly larger gammas violate it.
    EXPECT_GT(ref.objective(ref.mal(gamma * (1 + 1e-3) + 1e-4), minmax), threshold)
        << n << " gamma " << gamma;
  }
}

INSTANTIATE_TEST_SUITE_P(Attacks, AgrAgnostic,
                         ::testing::Combine(::testing::Values("min_max", "min_sum"),
                                            ::testing::Values("std", "unit_vec", "sign")),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_" +
                                  std::get<1>(param_info.param);
                         });

TEST(Attacks, MinMaxSaturationIsReported) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(10, 100, rng, 0.05);
  const AttackOutput out = craft_attack("min_max", {{"gamma_init", 1e-3}}, input_for(r, 2));
  EXPECT_TRUE(out.info["saturated"].get<bool>());
  EXPECT_LE(out.info["gamma"].get<double>(), 2e-3);
}

// Krum in the project's engine picks a crafted row.
std::size_t engine_krum_choice(const Round& r, const AttackOutput& out, std::size_t f) {
  Matrix rows;
  for (std::size_t i = 0; i < r.n; ++i) rows.emplace_back(r.row(i), r.row(i) + r.d);
  for (std::size_t i = 0; i < out.n; ++i)
    rows.emplace_back(out.updates.begin() + i * r.d, out.updates.begin() + (i + 1) * r.d);
  const auto bytes = encode(rows, DType::kFloat32);
  Engine e = make_engine(json{{"aggregator", {{"rule", "krum"}, {"f", f}}}}.dump());
  const RoundResult res = run_round(e, bytes, rows.size(), r.d, DType::kFloat32);
  std::size_t chosen = rows.size();
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (res.weights[i] > 0.5) chosen = i;
  return chosen;
}

TEST(Attacks, FangKrumIsSelectedByKrum) {
  std::mt19937_64 rng(test_seed());
  for (const char* reference : {"zero", "mean"}) {
    for (auto [nb, f] : {std::pair<std::size_t, std::size_t>{15, 4}, {12, 2}, {8, 5}}) {
      // Benign noise well above the benign mean (as for stochastic gradients): the zero update
      // is then central enough for the paper's attack to succeed with few attackers. (Where it
      // is not, the attack reports selected = false.)
      const Round r = make_round(nb, 400, rng, 0.0, 0.3);
      const AttackOutput out =
          craft_attack("fang_krum", {{"reference", reference}}, input_for(r, f));
      ASSERT_TRUE(out.info["selected"].get<bool>())
          << reference << " " << nb << "," << f << " " << out.info.dump();
      EXPECT_GE(engine_krum_choice(r, out, f), nb)
          << reference << " " << nb << "," << f << " " << out.info.dump();
      // Direction: against the benign mean's sign, from the reference; every attacker the same.
      const Vec mu = col_mean(r);
      const double lambda = out.info["lambda"].get<double>();
      EXPECT_LE(lambda, out.info["lambda_max"].get<double>());
      for (std::size_t j = 0; j < r.d; ++j) {
        const double s = mu[j] > 0 ? 1.0 : (mu[j] < 0 ? -1.0 : 0.0);
        const double base = std::string(reference) == "zero" ? 0.0 : mu[j];
        ASSERT_NEAR(out.updates[j], base - lambda * s, 1e-6 * (std::abs(base) + lambda));
        for (std::size_t i = 1; i < f; ++i) ASSERT_EQ(out.updates[i * r.d + j], out.updates[j]);
      }
    }
  }
  const Round r = make_round(6, 10, rng);
  expect_error("fang_krum", nullptr, input_for(r, 4), "n > 2f + 2");
}

TEST(Attacks, FangKrumLambdaStartsAtThePaperBound) {
  // Four benign updates on a line, d = 4 (every coordinate equal): distances known by hand.
  Round r{4, 4, {1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 7, 7, 7, 7}};
  // m = 5, c = 1: Gamma has m - c - 2 = 2 neighbours, D(a, b) = 2 |a - b|. Sums of the two
  // nearest: row 1: 2 + 6, row 2: 2 + 4, row 4: 4 + 6, row 7: 6 + 10; the min 6 over
  // (m - 2c - 1) sqrt d = 2 * 2 gives 1.5; max_i ||x_i|| / sqrt d = 14 / 2 = 7. lambda_max = 8.5.
  const AttackOutput out = craft_attack("fang_krum", nullptr, input_for(r, 1));
  EXPECT_NEAR(out.info["lambda_max"].get<double>(), 8.5, 1e-12);
}

TEST(Attacks, FangTrimPushesAgainstTheBenignDirection) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(11, 500, rng, 0.0, 0.3);
  std::vector<float> global(r.d);
  std::normal_distribution<double> g(0.0, 1.0);
  for (float& v : global) v = static_cast<float>(g(rng));
  for (const bool model : {false, true}) {
    for (const bool sample : {true, false}) {
      AttackInput in = input_for(r, 4);
      if (model) in.global_model = global.data();
      const AttackOutput out = craft_attack("fang_trim", {{"sample", sample}}, in);
      EXPECT_EQ(out.info["space"], model ? "model" : "update");
      const Vec mu = col_mean(r);
      for (std::size_t j = 0; j < r.d; ++j) {
        const double gj = model ? global[j] : 0.0;
        double lo = HUGE_VAL, hi = -HUGE_VAL;
        for (std::size_t i = 0; i < r.n; ++i) {
          lo = std::min(lo, r.x[i * r.d + j] + gj);
          hi = std::max(hi, r.x[i * r.d + j] + gj);
        }
        const double b = 2.0;
        for (std::size_t i = 0; i < 4; ++i) {
          const double v = out.updates[i * r.d + j] + gj;  // in the attack's space
          const double tol = 1e-5 * (1 + std::abs(v));
          if (mu[j] > 0) {
            const double far = lo > 0 ? lo / b : b * lo;
            ASSERT_LE(v, lo + tol);
            ASSERT_GE(v, far - tol);
            if (!sample) {
              ASSERT_NEAR(v, far, tol);
            }
          } else if (mu[j] < 0) {
            const double far = hi > 0 ? b * hi : hi / b;
            ASSERT_GE(v, hi - tol);
            ASSERT_LE(v, far + tol);
            if (!sample) {
              ASSERT_NEAR(v, far, tol);
            }
          }
        }
      }
    }
  }
  // Through the engine: the coordinate-wise median moves against s_j (or stays).
  const AttackOutput out = craft_attack("fang_trim", nullptr, input_for(r, 4));
  Matrix rows, benign;
  for (std::size_t i = 0; i < r.n; ++i) rows.emplace_back(r.row(i), r.row(i) + r.d);
  benign = rows;
  for (std::size_t i = 0; i < out.n; ++i)
    rows.emplace_back(out.updates.begin() + i * r.d, out.updates.begin() + (i + 1) * r.d);
  auto median_of = [&](Matrix m) {
    Engine e = make_engine(R"({"aggregator": {"rule": "median"}})");
    const auto bytes = encode(m, DType::kFloat32);
    return run_round(e, bytes, m.size(), r.d, DType::kFloat32).aggregate;
  };
  const auto attacked = median_of(rows), clean = median_of(benign);
  const Vec mu = col_mean(r);
  std::size_t moved = 0;
  for (std::size_t j = 0; j < r.d; ++j) {
    const double s = mu[j] > 0 ? 1.0 : (mu[j] < 0 ? -1.0 : 0.0);
    ASSERT_LE((attacked[j] - clean[j]) * s, 1e-7) << j;
    moved += (attacked[j] - clean[j]) * s < 0;
  }
  EXPECT_GT(moved, r.d * 9 / 10);
  expect_error("fang_trim", {{"b", 1.0}}, input_for(r, 2), "'b' must be > 1");
  expect_error("fang_trim", {{"space", "model"}}, input_for(r, 2), "needs `global_model`");
}

TEST(Attacks, MpafPointsFromTheGlobalModelToAFixedBase) {
  std::mt19937_64 rng(test_seed());
  const Round r = make_round(3, 4000, rng);
  std::vector<float> g1(r.d), g2(r.d);
  std::normal_distribution<double> g(0.0, 1.0);
  for (std::size_t j = 0; j < r.d; ++j) {
    g1[j] = static_cast<float>(g(rng));
    g2[j] = static_cast<float>(g(rng));
  }
  AttackInput in = input_for(r, 3, 11);
  in.global_model = g1.data();
  // base_std 0: the base is the zero model, the update is -lambda * global.
  AttackOutput out = craft_attack("mpaf", {{"base_std", 0.0}, {"lambda", 10.0}}, in);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < r.d; ++j)
      ASSERT_EQ(out.updates[i * r.d + j], static_cast<float>(-10.0 * g1[j]));
  // Default lambda 1e6; base = update / lambda + global is the same across global models and
  // rounds (a fixed base model), N(0, 1), and changes with base_seed.
  out = craft_attack("mpaf", nullptr, in);
  EXPECT_DOUBLE_EQ(out.info["lambda"].get<double>(), 1e6);
  Vec base1(r.d);
  for (std::size_t j = 0; j < r.d; ++j) base1[j] = out.updates[j] / 1e6 + g1[j];
  in.global_model = g2.data();
  in.round = 5;
  out = craft_attack("mpaf", nullptr, in);
  double s = 0, s2 = 0;
  for (std::size_t j = 0; j < r.d; ++j) {
    const double b2 = out.updates[j] / 1e6 + g2[j];
    ASSERT_NEAR(b2, base1[j], 1e-5 * (1 + std::abs(g1[j]) + std::abs(g2[j]) + std::abs(base1[j])));
    s += b2;
    s2 += b2 * b2;
  }
  EXPECT_NEAR(s / r.d, 0.0, 0.08);
  EXPECT_NEAR(std::sqrt(s2 / r.d), 1.0, 0.05);
  const AttackOutput other = craft_attack("mpaf", {{"base_seed", 12}}, in);
  EXPECT_NE(other.updates, out.updates);
  expect_error("mpaf", nullptr, input_for(r, 2), "needs `global_model`");
}

TEST(Attacks, MimicCopiesTheClientAlongTheTopDirection) {
  std::mt19937_64 rng(test_seed());
  Round r = make_round(9, 120, rng);
  // Client 5 stands out along one direction.
  for (std::size_t j = 0; j < r.d; ++j) r.x[5 * r.d + j] += static_cast<float>(j % 2 ? 0.8 : -0.8);
  AttackOutput out = craft_attack("mimic", nullptr, input_for(r, 3));
  EXPECT_EQ(out.info["index"].get<std::size_t>(), 5u);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < r.d; ++j) ASSERT_EQ(out.updates[i * r.d + j], r.x[5 * r.d + j]);

  // Random heterogeneous rounds: the choice is argmax |<x_i - mu, z>| for the top principal
  // direction z, computed here by power iteration in float64.
  const Round h = make_round(12, 80, rng, 0.0, 1.0);
  const Vec mu = col_mean(h);
  Vec z(h.d, 1.0);
  for (int it = 0; it < 3000; ++it) {
    Vec next(h.d, 0.0);
    for (std::size_t i = 0; i < h.n; ++i) {
      double proj = 0;
      for (std::size_t j = 0; j < h.d; ++j) proj += (h.x[i * h.d + j] - mu[j]) * z[j];
      for (std::size_t j = 0; j < h.d; ++j) next[j] += proj * (h.x[i * h.d + j] - mu[j]);
    }
    const double norm = std::sqrt(std::inner_product(next.begin(), next.end(), next.begin(), 0.0));
    for (double& v : next) v /= norm;
    z = next;
  }
  std::vector<double> proj(h.n, 0.0);
  for (std::size_t i = 0; i < h.n; ++i)
    for (std::size_t j = 0; j < h.d; ++j) proj[i] += (h.x[i * h.d + j] - mu[j]) * z[j];
  std::size_t best = 0;
  for (std::size_t i = 1; i < h.n; ++i)
    if (std::abs(proj[i]) > std::abs(proj[best])) best = i;
  out = craft_attack("mimic", nullptr, input_for(h, 2));
  EXPECT_EQ(out.info["index"].get<std::size_t>(), best);

  out = craft_attack("mimic", {{"index", 2}}, input_for(r, 2));
  EXPECT_EQ(out.info["chosen_by"], "param");
  for (std::size_t j = 0; j < r.d; ++j) ASSERT_EQ(out.updates[r.d + j], r.x[2 * r.d + j]);
  expect_error("mimic", {{"index", 9}}, input_for(r, 2), "'index'=9 is not a benign row");
}

// ---------------------------------------------------------------------------------------------
// Every attack: finite output of the right shape, deterministic in the seed.

struct Fixture {
  Round benign, own;
  std::vector<float> global;
  AttackInput input(std::size_t f, std::uint64_t seed, std::size_t round = 0) const {
    AttackInput in = input_for(benign, f, seed);
    in.own = own.x.data();
    in.global_model = global.data();
    in.round = round;
    return in;
  }
};

Fixture make_fixture(std::mt19937_64& rng) {
  Fixture fx{make_round(14, 257, rng, 0.1), make_round(4, 257, rng, -0.1), std::vector<float>(257)};
  for (std::size_t j = 0; j < fx.global.size(); ++j)
    fx.global[j] = static_cast<float>(0.01 * static_cast<double>(j % 7));
  return fx;
}

TEST(Attacks, EveryAttackIsFiniteShapedAndDeterministic) {
  std::mt19937_64 rng(test_seed());
  const Fixture fx = make_fixture(rng);
  for (const auto& name : attack_names()) {
    const AttackOutput a = craft_attack(name, nullptr, fx.input(4, 1));
    const AttackOutput b = craft_attack(name, nullptr, fx.input(4, 1));
    ASSERT_EQ(a.n, 4u) << name;
    ASSERT_EQ(a.d, 257u) << name;
    ASSERT_EQ(a.updates.size(), 4u * 257u) << name;
    for (float v : a.updates) ASSERT_TRUE(std::isfinite(v)) << name;
    EXPECT_EQ(a.updates, b.updates) << name;
    EXPECT_EQ(a.info, b.info) << name;
    EXPECT_EQ(a.info["attack"], name);
    const AttackOutput other_seed = craft_attack(name, nullptr, fx.input(4, 2));
    const AttackOutput other_round = craft_attack(name, nullptr, fx.input(4, 1, 3));
    const bool random = name == "gaussian" || name == "fang_trim" || name == "mpaf";
    if (random) {
      EXPECT_NE(a.updates, other_seed.updates) << name;
      if (name != "mpaf") {  // MPAF's base is fixed
        EXPECT_NE(a.updates, other_round.updates) << name;
      }
    } else {
      EXPECT_EQ(a.updates, other_seed.updates) << name;
    }
    // No malicious clients: an empty answer.
    const AttackOutput none = craft_attack(name, nullptr, fx.input(0, 1));
    EXPECT_EQ(none.n, 0u) << name;
    EXPECT_TRUE(none.updates.empty()) << name;
  }
}

TEST(Attacks, BadInputIsANamedError) {
  std::mt19937_64 rng(test_seed());
  Fixture fx = make_fixture(rng);
  expect_error("nope", nullptr, fx.input(2, 0), "unknown attack 'nope' (known: alie,");
  for (const auto& name : attack_names()) {
    expect_error(name, {{"bogus", 1}}, fx.input(2, 0),
                 "attack '" + name + "': unknown parameter 'bogus'");
    expect_error(name, json::array({1, 2}), fx.input(2, 0), "parameters must be a JSON object");
    AttackInput in = fx.input(2, 0);
    in.d = 0;
    expect_error(name, nullptr, in, "d must be > 0");
  }
  // NaN / Inf in benign, own, global_model.
  Fixture bad = fx;
  bad.benign.x[3 * bad.benign.d + 17] = std::nanf("");
  for (const auto& name : attack_names()) {
    if (name == "mpaf" || name == "scaling") continue;  // read no benign rows (checked below)
    if (name == "sign_flip" || name == "gaussian") {
      AttackInput in = bad.input(2, 0);
      in.own = nullptr;
      const json params = name == "gaussian" ? json{{"center", "mean"}} : json(nullptr);
      expect_error(name, params, in, "benign row 3 has a non-finite value (nan) at column 17");
      continue;
    }
    expect_error(name, nullptr, bad.input(2, 0),
                 "benign row 3 has a non-finite value (nan) at column 17");
  }
  bad = fx;
  bad.own.x[5] = INFINITY;
  expect_error("scaling", nullptr, bad.input(2, 0),
               "own row 0 has a non-finite value (inf) at column 5");
  bad = fx;
  bad.global[9] = -INFINITY;
  expect_error("mpaf", nullptr, bad.input(2, 0),
               "global_model row 0 has a non-finite value (-inf) at column 9");
  // Too few benign updates.
  AttackInput one = fx.input(2, 0);
  one.n_benign = 1;
  for (const char* name : {"alie", "min_max", "min_sum"})
    expect_error(
        name, nullptr, one,
        std::string("attack '") + name + "' needs at least 2 benign updates, got n_benign=1");
  one.n_benign = 0;
  for (const char* name : {"ipm", "fang_trim", "mimic"})
    expect_error(name, nullptr, one, "needs at least 1 benign update, got n_benign=0");
  // Ill-typed and out-of-range parameters.
  expect_error("ipm", {{"epsilon", "big"}}, fx.input(2, 0), "parameter 'epsilon' must be a number");
  expect_error("min_max", {{"perturbation", "cube"}}, fx.input(2, 0),
               "parameter 'perturbation' must be one of unit_vec, std, sign, got 'cube'");
  expect_error("min_max", {{"tau", 0}}, fx.input(2, 0), "parameter 'tau' must be > 0");
  expect_error("alie", {{"ddof", -1}}, fx.input(2, 0),
               "parameter 'ddof' must be a non-negative integer");
  expect_error("gaussian", {{"sigma", -1}}, fx.input(2, 0), "'sigma' must be >= 0");
  // All-zero benign mean: unit_vec is undefined.
  Fixture zero = fx;
  std::fill(zero.benign.x.begin(), zero.benign.x.end(), 0.0f);
  expect_error("min_max", {{"perturbation", "unit_vec"}}, zero.input(2, 0),
               "the benign mean is zero");
}

}  // namespace
}  // namespace fedguard::test
