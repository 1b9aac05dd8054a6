// The detection stage: every signal against a plain float64 brute force in d-space (written
// here from docs/detection.md, no engine code), the calibration of each signal's cut-off on
// attack-free rounds at n = 10 .. 1000, collusion on identical, near-identical and benign
// non-IID groups, and the engine's use of it (rejections with codes and values, the preset).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>

#include "backend/backend.h"
#include "detection/detector.h"
#include "detection/robust.h"
#include "detection/signals.h"
#include "fedguard/fedguard.h"
#include "geometry/gram_space.h"
#include "support/group_alignment_reference.h"
#include "support/group_cut_reference.h"
#include "support/random_round.h"
#include "support/rare_event.h"
#include "support/robust_reference.h"
#include "synthetic/round.h"

namespace fedguard::test {
namespace {

using Rows = std::vector<std::vector<double>>;

backend::ScanSummaries scan(const std::vector<float>& data, std::size_t n, std::size_t d) {
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  return backend::make_cpu_backend(2)->scan(req);
}

std::vector<float> floats(const Rows& x) {
  std::vector<float> out;
  for (const auto& r : x)
    for (double v : r) out.push_back(static_cast<float>(v));
  return out;
}

Rows as_float32(Rows x) {
  for (auto& r : x)
    for (double& v : r) v = static_cast<float>(v);
  return x;
}

// Benign rounds: a common direction plus client noise of heterogeneous scale (non-IID-like).
// v scaled to unit norm (float64).
void to_unit(std::vector<double>& v) {
  double s2 = 0;
  for (double x : v) s2 += x * x;
  const double norm = std::sqrt(s2);
  for (double& x : v) x /= norm;
}

// The own-baseline tests' update shape: d values +-(0.5 + U(0, 1)), positive with probability p
// (the sign balance), at unit norm (the caller sets the norm).
std::vector<double> unit_sign_row(std::size_t d, double p, std::mt19937_64& rng,
                                  std::uniform_real_distribution<double>& u) {
  std::vector<double> v(d);
  for (double& x : v) x = (u(rng) < p ? 1.0 : -1.0) * (0.5 + u(rng));
  to_unit(v);
  return v;
}

Rows benign_round(std::size_t n, std::size_t d, std::mt19937_64& rng, double spread = 1.0) {
  synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.direction_scale = 0.5;
  spec.noise_scale = spread;
  std::normal_distribution<double> g(0.0, 1.0);
  for (std::size_t i = 0; i < n; ++i) spec.client_noise.push_back(std::exp(0.2 * g(rng)));
  spec.seed = rng();
  const std::vector<float> values = synthetic::generate(spec).updates;
  Rows x(n, std::vector<double>(d));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) x[i][j] = values[i * d + j];
  return x;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}

double bf_z(const std::vector<double>& v, std::size_t i, double floor = 0) {
  const auto [med, scale] = bf_location(v, floor);
  return (v[i] - med) / scale;
}

// Collusion in float64 from the vectors themselves (docs/detection.md): rho_ij, t = rho^(2/3),
// client effects (row medians minus half their median) removed, per client the smallest
// residual and its pair's rho, z'd against all pairs' residuals.
struct BruteCollusion {
  std::vector<double> rho, z;
};
// excluded: pairs (i < j) that are no one's partner (all partners count when every pair of a
// client is excluded).
BruteCollusion brute_collusion(const Rows& x,
                               const std::set<std::pair<std::size_t, std::size_t>>& excluded = {}) {
  const std::size_t n = x.size(), d = x[0].size();
  std::vector<double> norms(n);
  for (std::size_t i = 0; i < n; ++i) norms[i] = std::sqrt(dot(x[i], x[i]));
  Rows lr(n, std::vector<double>(n, 0.0));
  Rows rh(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double d2 = 0;
      for (std::size_t k = 0; k < d; ++k) d2 += (x[i][k] - x[j][k]) * (x[i][k] - x[j][k]);
      rh[i][j] = std::sqrt(d2) / std::sqrt(0.5 * (norms[i] * norms[i] + norms[j] * norms[j]));
      lr[i][j] = std::cbrt(rh[i][j] * rh[i][j]);
    }
  std::vector<double> rm(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> r;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) r.push_back(lr[i][j]);
    rm[i] = bf_median(r);
  }
  const double overall = bf_median(rm);
  std::vector<double> res;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      res.push_back(lr[i][j] - (rm[i] - overall / 2) - (rm[j] - overall / 2));
  const double med = bf_median(res);
  std::vector<double> dev;
  for (double v : res) dev.push_back(std::fabs(v - med));
  const double scale =
      1.482602218505602 * bf_median(dev) * double(res.size()) / (double(res.size()) - 0.8);
  BruteCollusion out{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t partners = 0;
    for (std::size_t j = 0; j < n; ++j)
      partners += j != i && !excluded.count({std::min(i, j), std::max(i, j)});
    double best = 1e300;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i || (partners > 0 && excluded.count({std::min(i, j), std::max(i, j)}))) continue;
      const double e = lr[i][j] - (rm[i] - overall / 2) - (rm[j] - overall / 2);
      if (e < best) best = e, out.rho[i] = rh[i][j];
    }
    out.z[i] = (best - med) / scale;
  }
  return out;
}

// The direction signal in float64 over vectors x (d-space rows, or sketched histories): each
// client's median cosine to the others ("typical"), the core (the half with the largest, ties by
// index, sorted) and the cosine of each client with the sum of the core without itself.
std::vector<double> bf_typical(const Rows& x) {
  const std::size_t n = x.size();
  std::vector<double> norms(n), typical(n);
  for (std::size_t i = 0; i < n; ++i) norms[i] = std::sqrt(dot(x[i], x[i]));
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> c;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) c.push_back(dot(x[i], x[j]) / (norms[i] * norms[j]));
    typical[i] = bf_median(c);
  }
  return typical;
}
std::vector<std::size_t> bf_core_of(const std::vector<double>& typical) {
  std::vector<std::size_t> order(typical.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return typical[a] > typical[b]; });
  std::vector<std::size_t> core(order.begin(), order.begin() + (typical.size() + 1) / 2);
  std::sort(core.begin(), core.end());
  return core;
}
std::vector<double> bf_centre_cosines(const Rows& x, const std::vector<std::size_t>& core) {
  const std::size_t n = x.size(), d = x[0].size();
  std::vector<double> cosv(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> centre(d, 0.0);
    for (std::size_t q : core)
      if (q != i)
        for (std::size_t j = 0; j < d; ++j) centre[j] += x[q][j];
    cosv[i] = dot(x[i], centre) / (std::sqrt(dot(x[i], x[i])) * std::sqrt(dot(centre, centre)));
  }
  return cosv;
}

// The rows re-centred on the mean of the core's rows (float64).
Rows bf_recentred(const Rows& x, const std::vector<std::size_t>& core) {
  const std::size_t n = x.size(), d = x[0].size();
  std::vector<double> zc(d, 0.0);
  for (std::size_t q : core)
    for (std::size_t j = 0; j < d; ++j) zc[j] += x[q][j] / double(core.size());
  Rows y(n, std::vector<double>(d));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) y[i][j] = x[i][j] - zc[j];
  return y;
}

struct ScannedRound {
  std::vector<float> data;
  backend::ScanSummaries summaries;
  std::unique_ptr<geometry::GramSpace> space;
  std::vector<std::size_t> rows;
  explicit ScannedRound(const Rows& x)
      : data(floats(x)), summaries(scan(data, x.size(), x[0].size())) {
    space = std::make_unique<geometry::GramSpace>(summaries);
    rows.resize(x.size());
    std::iota(rows.begin(), rows.end(), 0);
  }
};

TEST(DetectionRobust, QuantilesMatchPublishedTables) {
  EXPECT_NEAR(detection::normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(detection::normal_quantile(0.001), -3.090232306167814, 1e-12);
  EXPECT_NEAR(detection::normal_quantile(0.5), 0.0, 1e-15);
  // Student t (standard tables): t_{0.975, 10} = 2.228, t_{0.995, 30} = 2.750, t_{0.999, 5}
  // = 5.893.
  EXPECT_NEAR(detection::t_quantile(0.975, 10), 2.2281, 2e-3);
  EXPECT_NEAR(detection::t_quantile(0.995, 30), 2.7500, 2e-3);
  EXPECT_NEAR(detection::t_quantile(0.999, 5), 5.8934, 0.03);
}

// The binomial upper tail against the sum of every term, each from binomial coefficients built
// by Pascal's rule in long double, on fresh random (g, m, q); and the edges.
TEST(DetectionRobust, BinomialUpperTailMatchesTheFullSum) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> sizes(1, 300);
  std::uniform_real_distribution<double> log_q(-8, 0);  // q from 1e-8 to 1, so the mode
                                                        // lies below g, at g and above it
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t m = sizes(rng);
    const std::size_t g = std::uniform_int_distribution<std::size_t>(0, m + 1)(rng);
    const double q = std::pow(10.0, log_q(rng));
    std::vector<long double> row{1.0L};  // C(m, k), k = 0 .. m
    for (std::size_t r = 1; r <= m; ++r) {
      std::vector<long double> next(r + 1, 1.0L);
      for (std::size_t k = 1; k < r; ++k) next[k] = row[k - 1] + row[k];
      row = std::move(next);
    }
    long double want = 0;
    for (std::size_t k = g; k <= m; ++k)
      want += row[k] * std::pow(static_cast<long double>(q), static_cast<long double>(k)) *
              std::pow(1.0L - q, static_cast<long double>(m - k));
    const double got = detection::binomial_upper_tail(g, m, q);
    EXPECT_NEAR(got, static_cast<double>(want), 1e-12 + 1e-9 * static_cast<double>(want))
        << "seed " << seed << " g " << g << " m " << m << " q " << q;
  }
  EXPECT_EQ(detection::binomial_upper_tail(0, 50, 0.3), 1.0);
  EXPECT_EQ(detection::binomial_upper_tail(51, 50, 0.3), 0.0);
  EXPECT_EQ(detection::binomial_upper_tail(3, 50, 0.0), 0.0);
  EXPECT_EQ(detection::binomial_upper_tail(3, 50, 1.0), 1.0);
  EXPECT_EQ(detection::binomial_upper_tail(3, 50, std::nan("")), 0.0);
  // Ten of 50 clients at z >= 2.5 (q = 0.0062): far beyond chance (about 7e-13), while one
  // client at 2.5 is no news (0.27).
  EXPECT_LT(detection::binomial_upper_tail(10, 50, 0.5 * std::erfc(2.5 / std::sqrt(2.0))), 1e-11);
  EXPECT_GT(detection::binomial_upper_tail(1, 50, 0.5 * std::erfc(2.5 / std::sqrt(2.0))), 0.2);
}

// The calibration tests' rate check (tests/support/rare_event.h) against the engine's binomial
// tail (itself checked against the full sum above) on fresh random (fired, trials, rate), and
// the bounds it gives at this file's counts: at a rate of 1%, at most 3 firings of 20 rounds and
// 9 of 200 pass at the level 1e-4, and a rate of 5% in 600 trials (30 expected) does not.
TEST(DetectionRobust, TheTestsRateCheckIsTheBinomialTail) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_q(-5, 0);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t m = std::uniform_int_distribution<std::size_t>(1, 1000)(rng);
    const std::size_t g = std::uniform_int_distribution<std::size_t>(0, m + 1)(rng);
    const double q = std::pow(10.0, log_q(rng));
    const double want = detection::binomial_upper_tail(g, m, q);
    EXPECT_NEAR(binomial_tail_at_least(g, m, q), want, 1e-12 + 1e-9 * want)
        << "seed " << seed << " g " << g << " m " << m << " q " << q;
  }
  EXPECT_TRUE(consistent_with_rate(3, 20, 0.01));
  EXPECT_FALSE(consistent_with_rate(4, 20, 0.01));
  EXPECT_TRUE(consistent_with_rate(9, 200, 0.01));
  EXPECT_FALSE(consistent_with_rate(10, 200, 0.01));
  EXPECT_FALSE(consistent_with_rate(30, 600, 0.01));
}

// The group cut: g of n clients past it with probability 0.001, each client's z with the
// calibrated t tail (nu = 0.55 (n - 1)); reference values from scipy 1.x (binom.sf solved for q
// by brentq, then t.isf), within the Cornish-Fisher quantile's accuracy.
TEST(DetectionRobust, GroupCutMatchesReferenceValues) {
  EXPECT_NEAR(detection::calibrated_group_cut(3, 50, 0.001), 2.8768, 0.01);
  EXPECT_NEAR(detection::calibrated_group_cut(10, 50, 0.001), 1.5777, 0.01);
  EXPECT_NEAR(detection::calibrated_group_cut(5, 200, 0.001), 2.7266, 0.01);
  EXPECT_NEAR(detection::calibrated_group_cut(20, 1000, 0.001), 2.3726, 0.01);
  EXPECT_NEAR(detection::calibrated_group_cut(3, 20, 0.001), 2.7427, 0.01);
  // Falls as the group grows, and the single-client cut of a round is above the per-client one.
  EXPECT_GT(detection::calibrated_group_cut(3, 50, 0.001),
            detection::calibrated_group_cut(4, 50, 0.001));
  EXPECT_GT(detection::calibrated_group_cut(1, 50, 0.001),
            detection::calibrated_cut(0.001, 50, false));
}

// The robust location on a team (the collusion signals' pair residuals) against the one-thread
// selection, bit for bit, and the float64 sort: sizes at and past the bracket's threshold, odd
// and even; normal values, heavy ties, sorted ones, and the shapes that make the bracket miss
// (the sampled positions unlike the rest, a NaN outside the sample).
TEST(DetectionRobust, LocationOnATeamMatchesOneThreadBitForBit) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> few(0, 7);
  for (std::size_t n : {detection::kBracketedMedianMin, detection::kBracketedMedianMin + 1,
                        std::size_t{200001}, std::size_t{499500}}) {
    const std::size_t stride = n / 4096;
    std::vector<std::vector<double>> shapes(5, std::vector<double>(n));
    for (std::size_t i = 0; i < n; ++i) {
      shapes[0][i] = g(rng);
      shapes[1][i] = few(rng);
      shapes[2][i] = static_cast<double>(i) * 1e-3;
      shapes[3][i] = i % stride == stride / 2 ? 1e9 + g(rng) : g(rng);  // the sample: all far
      shapes[4][i] = g(rng);
    }
    shapes[4][stride / 2 + 1] = std::nan("");  // beside a sampled position
    for (std::size_t shape = 0; shape < shapes.size(); ++shape) {
      for (double floor : {0.0, 0.5}) {
        std::vector<double> one = shapes[shape], team = shapes[shape];
        const detection::Location a = detection::robust_location_in_place(one, floor);
        const detection::Location b = detection::robust_location_in_place(team, floor, 2);
        const auto same = [](double x, double y) {
          return x == y || (std::isnan(x) && std::isnan(y));
        };
        EXPECT_TRUE(same(a.centre, b.centre) && same(a.scale, b.scale))
            << "n " << n << " shape " << shape << " seed " << seed << ": " << a.centre << " "
            << a.scale << " against " << b.centre << " " << b.scale;
        if (shape == 4) continue;
        const auto [med, scale] = bf_location(shapes[shape], floor);
        EXPECT_NEAR(b.centre, med, 1e-12 * (1 + std::fabs(med))) << "n " << n << " shape " << shape;
        EXPECT_NEAR(b.scale, scale, 1e-12 * (1 + scale)) << "n " << n << " shape " << shape;
      }
    }
  }
}

TEST(DetectionSignals, EachSignalMatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (std::size_t n : {9u, 16u, 31u}) {
    const std::size_t d = 301;
    Rows x = benign_round(n, d, rng);
    for (std::size_t j = 0; j < d; ++j) x[2][j] = -x[2][j];  // a sign-flipped client
    for (std::size_t j = 0; j < d; j += 3) x[4][j] = 0;      // zeros
    x[5] = x[6];                                             // a duplicate pair
    x = as_float32(std::move(x));
    ScannedRound s(x);
    const detection::SignalInput in(*s.space, s.rows, d);
    std::vector<double> norms(n);
    for (std::size_t i = 0; i < n; ++i) norms[i] = std::sqrt(dot(x[i], x[i]));

    // Norm: log ||x_i||.
    const auto norm = detection::norm_signal(in);
    std::vector<double> logn(n);
    for (std::size_t i = 0; i < n; ++i) logn[i] = std::log(norms[i]);
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_NEAR(norm.z[i], bf_z(logn, i, 0.05), 1e-6) << "seed " << seed << " n " << n;

    // Direction: cosine to the mean of the core (the half with the largest median cosine to
    // the others), leaving the client itself out.
    std::vector<std::size_t> core;
    const auto dir = detection::direction_signal(in, &core);
    const std::vector<double> typical = bf_typical(x);
    std::vector<std::size_t> bf_core = bf_core_of(typical);
    if (core != bf_core) {
      // Only a near-tie at the core's boundary may be resolved differently (pass 1's float32
      // products against float64 here; one seed in a few hundred): every client in one core
      // and not the other must sit within rounding of the boundary's median cosine. The
      // centre below is then the engine's core, checked exactly.
      double boundary = typical[bf_core[0]];  // the smallest median cosine in the core
      for (std::size_t i : bf_core) boundary = std::min(boundary, typical[i]);
      for (std::size_t i = 0; i < n; ++i) {
        const bool a = std::binary_search(core.begin(), core.end(), i),
                   b = std::binary_search(bf_core.begin(), bf_core.end(), i);
        if (a != b) {
          EXPECT_NEAR(typical[i], boundary, 1e-6) << "client " << i << " seed " << seed;
        }
      }
      ASSERT_EQ(core.size(), bf_core.size());
      bf_core = core;
    }
    const std::vector<double> cosv = bf_centre_cosines(x, bf_core);
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(dir.value[i], cosv[i], 1e-6) << "seed " << seed;
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_NEAR(dir.z[i], bf_z(cosv, i, 0.05), 1e-4) << "seed " << seed;

    // Sign: net balance, and zero fraction with scale floor 1/sqrt(d); the larger |z|.
    const auto sign = detection::sign_signal(in, true);
    const auto balance_only = detection::sign_signal(in, false);
    EXPECT_EQ(balance_only.comparisons, 1u);
    std::vector<double> bal(n), zer(n);
    for (std::size_t i = 0; i < n; ++i) {
      double p = 0, z = 0, q = 0;
      for (double v : x[i]) (v > 0 ? p : v < 0 ? q : z) += 1;
      bal[i] = (p - q) / d;
      zer[i] = z / d;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const double zb = bf_z(bal, i, std::max(0.01, 1 / std::sqrt(double(d)))),
                   zz = bf_z(zer, i, 1 / std::sqrt(double(d)));
      EXPECT_NEAR(sign.z[i], std::fabs(zz) > std::fabs(zb) ? zz : zb, 1e-9) << "seed " << seed;
      EXPECT_NEAR(balance_only.z[i], zb, 1e-9) << "seed " << seed;
      EXPECT_NEAR(balance_only.value[i], bal[i], 1e-12) << "seed " << seed;
    }

    // Spectral, cross-fitted: each half (even / odd positions) projected on the top principal
    // direction (power iteration in d-space) of the other half, both re-centred on the core
    // mean; sign-free comparison, per half.
    const auto spec = detection::spectral_signal(in, core);
    const Rows y = bf_recentred(x, core);
    for (std::size_t half = 0; half < 2; ++half) {
      std::vector<double> u(d, 1.0);
      for (int it = 0; it < 20000; ++it) {  // u <- Y_other^T Y_other u
        std::vector<double> next(d, 0.0);
        for (std::size_t i = 1 - half; i < n; i += 2) {
          const double t = dot(y[i], u);
          for (std::size_t j = 0; j < d; ++j) next[j] += y[i][j] * t;
        }
        const double len = std::sqrt(dot(next, next));
        for (std::size_t j = 0; j < d; ++j) u[j] = next[j] / len;
      }
      std::size_t largest =
          half;  // the eigenvector's sign is arbitrary: fix it on the largest projection
      for (std::size_t i = half; i < n; i += 2)
        if (std::fabs(dot(y[i], u)) > std::fabs(dot(y[largest], u))) largest = i;
      const double sign_fix = (dot(y[largest], u) > 0) == (spec.value[largest] > 0) ? 1 : -1;
      for (std::size_t i = half; i < n; i += 2) {
        const double p = dot(y[i], u);
        EXPECT_NEAR(spec.value[i], sign_fix * p, 1e-3 * (1 + std::fabs(p)))
            << "seed " << seed << " i " << i;
      }
    }

    // Collusion: residuals of rho^(2/3) after removing client effects (row medians minus half
    // their median); per client the smallest residual, z'd against all pairs' residuals.
    const auto col = detection::collusion_signal(in);
    const BruteCollusion bf = brute_collusion(x);
    EXPECT_EQ(col.value[5], 0.0);
    EXPECT_EQ(col.value[6], 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(col.value[i], bf.rho[i], 1e-4) << "seed " << seed << " i " << i;
      EXPECT_NEAR(col.z[i], bf.z[i], 1e-3 * (1 + std::fabs(col.z[i])))
          << "seed " << seed << " i " << i;
    }
  }
}

// On attack-free rounds, the fraction of clients on which each signal passes its cut-off is
// its budget, within a stated tolerance, whatever n. Budgets are raised to 0.02 here so that
// the expected counts are large enough to measure in a test's time; tolerance: a factor 2
// either way (Poisson noise on 100+ expected alarms is ~10%; the rest is the approximation of
// the statistics' null by a normal bulk, stated in docs/detection.md).
TEST(DetectionCalibration, FalseAlarmRateMatchesBudgetAtEveryN) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const double budget = 0.02;
  for (std::size_t n : {10u, 50u, 200u, 1000u}) {
    const std::size_t rounds = std::max<std::size_t>(3, 8000 / n);
    std::map<std::string, std::size_t> alarms;
    std::size_t trials = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
      const Rows x = benign_round(n, 128, rng);
      ScannedRound s(x);
      const detection::SignalInput in(*s.space, s.rows, 128);
      std::vector<std::size_t> core;
      std::vector<detection::SignalValues> all;
      all.push_back(detection::norm_signal(in));
      all.push_back(detection::direction_signal(in, &core));
      all.push_back(detection::sign_signal(in, true));
      all.push_back(detection::spectral_signal(in, core));
      all.push_back(detection::collusion_signal(in));
      for (const auto& sig : all) {
        double alpha = budget;
        if (sig.comparisons > 1) alpha = 1 - std::pow(1 - budget, 1.0 / double(sig.comparisons));
        const double cut = detection::calibrated_cut(
            alpha, sig.calibration_n ? sig.calibration_n : n, sig.tail == detection::Tail::kBoth);
        for (std::size_t i = 0; i < sig.z.size(); ++i) {
          const double z = sig.z[i];
          const double o = sig.tail == detection::Tail::kUpper   ? z
                           : sig.tail == detection::Tail::kLower ? -z
                                                                 : std::fabs(z);
          alarms[sig.name] += o > cut && (sig.name != "collusion" || sig.value[i] < 0.25);
        }
      }
      trials += n;
    }
    for (const auto& [name, count] : alarms) {
      const double rate = double(count) / double(trials);
      RecordProperty("far_" + name + "_n" + std::to_string(n), std::to_string(rate));
      // Spectral (off by default) runs at 1.0-1.5x its budget (12 runs: means 0.026-0.031 at
      // n = 10-1000, single runs up to 0.041 at n = 200): its bound is 2.5x.
      EXPECT_LT(rate, (name == "spectral" ? 2.5 : 2.0) * budget)
          << name << " n=" << n << " seed " << seed;
      // Collusion's z is a minimum over m - 1 dependent pairs: conservative by design.
      // Collusion's decision needs a near-duplicate (rho < 0.25) besides its z: its z alone
      // has heavier tails than the Sidak split assumes at large n (docs/detection.md), the
      // decision is never taken on independent benign clients. Sign's scales are floored at
      // 1/sqrt(d), the binomial spread of a fraction over d = 128 coordinates, which is this
      // synthetic null's own spread: the floor binds about half the time and the signal is
      // conservative by design here (0 to 0.25 of the budget; at real d the floor is 0.01).
      // At n = 10 the norm signal's rate is about 0.7 of its budget (0.014, 12 runs: 0.0115 to
      // 0.0168): its lower bound there is a third of the budget, about 4 standard deviations.
      const double lower = name == "collusion" || name == "sign" ? 0.0
                           : name == "norm" && n == 10           ? budget / 3
                                                                 : budget / 2;
      if (lower > 0) {
        EXPECT_GT(rate, lower) << name << " n=" << n << " seed " << seed;
      }
    }
  }
}

// The spectral group signal against the float64 brute force in d-space: ten folds (position
// a % 10), each fold's clients re-centred on the mean of the other folds' core members and
// projected on the top principal direction (power iteration) of the other folds' clients, the
// directions turned to agree with fold 0's, the robust z of every projection over the round; then
// the gap search of docs/detection.md (both sides, groups of 3 .. max_group, the g-th z past the
// per-client cut of 0.002 at the round's size, gap z_(g) / max(z_(g+1), 1) scored as
// 1 + (gap - 1) g / 3 when z_(g) >= z_(1) / 2 (a tight group), else the gap itself; the largest
// score; from 50 clients on, a tight group's members may instead pass the cut of their order
// statistic, and 2). Rounds with a planted group (a strong or a weak shared offset on a few
// clients: a backdoor's or a flipped label's common push) and without; at n = 600 each direction
// is fitted on 108 of the other folds' 540 clients; at n = 40 and 90 some clients are left out of
// the fits (scored all the same).
TEST(DetectionSignals, SpectralGroupMatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  for (std::size_t n : {12u, 40u, 90u, 600u}) {
    for (const double strength : {1.5, 0.5, 0.0}) {  // 0.5: members near the per-client cut
      const bool planted = strength > 0;
      const std::size_t d = 301, group = std::max<std::size_t>(3, n / 8);
      Rows x = benign_round(n, d, rng);
      if (planted) {
        std::vector<double> offset(d);
        for (double& v : offset) v = g(rng);
        const double scale = strength * std::sqrt(dot(x[0], x[0]) / dot(offset, offset));
        for (std::size_t i = 0; i < group; ++i)  // clients 1, 4, 7, ...: not a block
          for (std::size_t j = 0; j < d; ++j) x[1 + 3 * i][j] += scale * offset[j];
      }
      x = as_float32(std::move(x));
      ScannedRound s(x);
      const detection::SignalInput in(*s.space, s.rows, d);
      std::vector<std::size_t> core;
      detection::direction_signal(in, &core);
      const std::size_t max_group = (n - 1) / 2;
      // At n = 40 and 90 every seventh client (from the sixth) is scored but left out of the
      // fits, as the detector's loners judged despite their size are.
      std::vector<std::uint8_t> out_of_fit(n, 0);
      const bool masked = n == 40 || n == 90;
      if (masked)
        for (std::size_t a = 5; a < n; a += 7) out_of_fit[a] = 1;
      const detection::SpectralGroup sg = detection::spectral_group_signal(
          in, core, 2.0, max_group, masked ? &out_of_fit : nullptr);

      const std::size_t folds = std::min<std::size_t>(10, n);
      Rows u(folds, std::vector<double>(d, 1.0));
      std::vector<double> p(n);
      for (std::size_t j = 0; j < folds; ++j) {
        std::vector<std::size_t> core_j, rest;
        for (std::size_t c : core)
          if (c % folds != j) core_j.push_back(c);
        if (core_j.empty()) core_j = core;
        for (std::size_t a = 0; a < n; ++a)
          if (a % folds != j && !out_of_fit[a]) rest.push_back(a);
        const Rows y = bf_recentred(x, core_j);
        // Fitted on at most 128 of the other folds' clients, every step-th of them.
        const std::size_t step = (rest.size() + 127) / 128;
        for (int it = 0; it < 20000; ++it) {  // u <- Y_fit^T Y_fit u, until it stops moving
          std::vector<double> next(d, 0.0);
          for (std::size_t q = 0; q < rest.size(); q += step) {
            const double t = dot(y[rest[q]], u[j]);
            for (std::size_t c = 0; c < d; ++c) next[c] += y[rest[q]][c] * t;
          }
          const double len = std::sqrt(dot(next, next));
          double moved = 0;
          for (std::size_t c = 0; c < d; ++c) {
            moved = std::max(moved, std::fabs(next[c] / len - u[j][c]));
            u[j][c] = next[c] / len;
          }
          if (it > 10 && moved < 1e-14) break;
        }
        if (j > 0 && dot(u[j], u[0]) < 0)
          for (double& v : u[j]) v = -v;
        for (std::size_t a = j; a < n; a += folds) p[a] = dot(y[a], u[j]);
      }
      std::size_t largest = 0;  // the common sign is arbitrary: fix it on the largest
      for (std::size_t i = 0; i < n; ++i)
        if (std::fabs(p[i]) > std::fabs(p[largest])) largest = i;
      if ((p[largest] > 0) != (sg.values.value[largest] > 0))
        for (double& v : p) v = -v;
      std::vector<double> z(n);
      for (std::size_t i = 0; i < n; ++i) z[i] = bf_z(p, i);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_NEAR(sg.values.value[i], p[i], 1e-3 * (1 + std::fabs(p[i])))
            << "seed " << seed << " n " << n << " i " << i;
        EXPECT_NEAR(sg.values.z[i], z[i], 1e-3 * (1 + std::fabs(z[i])))
            << "seed " << seed << " n " << n << " i " << i;
      }
      double best = 0;
      std::vector<std::size_t> best_group;
      for (const double side : {1.0, -1.0}) {
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return side * z[a] > side * z[b]; });
        // The g-th z at least the two-sided cut of 0.002 at the round's size (and 3), or, for
        // a tight group in a round of 50 clients or more, at least 2 and the z that k of n
        // clients pass with probability 0.001.
        const double min_z = std::max(3.0, detection::calibrated_cut(0.002, n, true));
        const bool order_cut = n >= 50;  // rounds of 50 clients or more
        for (std::size_t k = 3;
             k <= max_group && side * z[order[k - 1]] >= (order_cut ? 2.0 : min_z); ++k) {
          const double last = side * z[order[k - 1]];
          const bool tight = last >= 0.5 * side * z[order[0]];
          if (!(last >= min_z) && !(order_cut && tight && last >= bf_group_cut(k, n))) continue;
          const double gap = last / std::max(side * z[order[k]], 1.0);
          const double score = 1 + (gap - 1) * (tight ? double(k) / 3 : 1.0);
          if (score > best) {
            best = score;
            best_group.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
          }
        }
      }
      if (best < 2.0) best_group.clear();
      std::sort(best_group.begin(), best_group.end());
      EXPECT_NEAR(sg.ratio, best, 1e-3 * (1 + best)) << "seed " << seed << " n " << n;
      EXPECT_EQ(sg.group, best_group) << "seed " << seed << " n " << n;
      if (strength > 1 && n >= 40) {  // the planted group, and only it (at n = 12 the cut, t
                                      // with 6 degrees of freedom, is near its z)
        std::vector<std::size_t> want;
        for (std::size_t i = 0; i < group; ++i) want.push_back(1 + 3 * i);
        EXPECT_EQ(sg.group, want) << "seed " << seed << " n " << n << " ratio " << sg.ratio;
      }
    }
  }
}

// Attack-free synthetic rounds (a common direction plus heterogeneous client noise) at n = 10 ..
// 1000: the spectral group fires in at most 1% of the rounds, and at most once in the 20 rounds
// at n = 1000 (it rejects a whole group when it does, so its rate is a per-round one). Fitted on
// all the clients instead of cross-fitted it fired in 5-7% of the rounds at n = 50 and 200; with a
// fixed z of 3 for the members instead of the cut at the halves' size, in 0.5% at n = 10 and 50 and
// more at n = 20 (alerts in the monitoring scenarios' 500 rounds). The order statistic's members'
// cut (from 50 clients on) fired in 0.2-0.8% of 1000 rounds at n = 50 (12 seeds; none without it),
// hence 1000 rounds there. Tight benign clusters are outside this claim (docs/detection.md).
TEST(DetectionCalibration, SpectralGroupRarelyFiresOnBenignRounds) {
  const std::size_t kD = 128;
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (std::size_t n : {10u, 20u, 50u, 200u, 1000u}) {
    const std::size_t rounds = n == 1000 ? 20 : n == 200 ? 300 : n == 50 ? 1000 : 200;
    std::size_t fired = 0;
    double largest = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
      const Rows x = benign_round(n, kD, rng);
      ScannedRound s(x);
      const detection::SignalInput in(*s.space, s.rows, kD);
      std::vector<std::size_t> core;
      detection::direction_signal(in, &core);
      const detection::SpectralGroup sg =
          detection::spectral_group_signal(in, core, 2.0, (n - 1) / 2);
      fired += !sg.group.empty();
      largest = std::max(largest, sg.ratio);
    }
    RecordProperty("spectral_group_largest_ratio_n" + std::to_string(n), std::to_string(largest));
    RecordProperty("fired_n" + std::to_string(n), std::to_string(fired));
    // The count is consistent with a rate of at most 1% (tests/support/rare_event.h; with 20
    // rounds at n = 1000 a single firing is what that rate gives in 18% of runs: seed 16 fired
    // once, ratio 2.07 against this test's 2.0).
    EXPECT_TRUE(consistent_with_rate(fired, rounds, 0.01))
        << rate_message(fired, rounds, 0.01) << "; n " << n << " seed " << seed << " largest ratio "
        << largest;
  }
}

// The direction group (on by default: a group in the direction signal's upper tail, at a
// per-round budget of 1e-7, whose members are not alike) on attack-free synthetic rounds at
// n = 10 .. 1000, through detect() with the default spec: a count consistent with a rate of at
// most 1e-3 per round (tests/support/rare_event.h; measured 2026-12-07 over 212 runs: at n = 50
// 6 rounds of 42,400, at n = 20 one, none elsewhere; the synthetic null's tail is heavier than
// the budget's t calibration there. The bound was "at most one round per n": two rounds of 200
// at n = 50 came in 2 of about 250 runs). And on rounds of tight benign clusters (five groups
// of eight of 60 clients, each member 0.3 of its own noise plus its cluster's direction: clients
// holding the same labels): without the alignment test the search fires on them in 16% of the
// rounds (50 seeds x 40 rounds: 322 rounds, 3,039 members), with it in 0.8% (16 rounds, 244
// members: two clusters found as one group, whose members align with the merged direction at
// about cos 45 degrees, near the 0.7 line; docs/detection.md): at most a fifth as often here.
TEST(DetectionCalibration, DirectionGroupRarelyFiresOnBenignRounds) {
  const std::size_t kD = 128;
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  auto grouped = [](const detection::DetectionOutcome& out) {
    std::size_t k = 0;
    for (const auto& f : out.findings) k += f.values.count("direction_group");
    return k;
  };
  DetectionSpec spec;
  spec.enabled = true;
  ASSERT_GT(spec.direction_group, 0.0);  // the default
  for (std::size_t n : {10u, 20u, 50u, 200u, 1000u}) {
    const std::size_t rounds = n == 1000 ? 10 : n == 200 ? 60 : 200;
    std::size_t fired = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
      ScannedRound s(benign_round(n, kD, rng));
      fired += grouped(detection::detect(spec, *s.space, s.rows, kD, {})) > 0;
    }
    RecordProperty("direction_group_fired_n" + std::to_string(n), std::to_string(fired));
    EXPECT_TRUE(consistent_with_rate(fired, rounds, 1e-3))
        << rate_message(fired, rounds, 1e-3) << "; n " << n << " seed " << seed;
  }
  DetectionSpec every = spec;
  every.direction_group_max_alignment = 1;
  std::size_t fired_default = 0, fired_every = 0;
  for (std::size_t r = 0; r < 60; ++r) {
    const std::size_t n = 60, clusters = 5, size = 8;
    Rows x = benign_round(n, kD, rng);
    for (std::size_t c = 0; c < clusters; ++c) {
      std::vector<double> shared(kD);
      for (double& v : shared) v = g(rng);
      const double scale = std::sqrt(dot(x[0], x[0]) / dot(shared, shared));
      for (std::size_t k = 0; k < size; ++k) {
        std::vector<double>& row = x[c * size + k];
        for (std::size_t j = 0; j < kD; ++j) row[j] = 0.3 * row[j] + scale * shared[j];
      }
    }
    ScannedRound s(as_float32(x));
    fired_default += grouped(detection::detect(spec, *s.space, s.rows, kD, {})) > 0;
    fired_every += grouped(detection::detect(every, *s.space, s.rows, kD, {})) > 0;
  }
  RecordProperty("cluster_rounds_fired_default", std::to_string(fired_default));
  RecordProperty("cluster_rounds_fired_without_the_test", std::to_string(fired_every));
  EXPECT_GT(fired_every, 0u) << "seed " << seed;  // the clusters do stand out as groups
  EXPECT_LE(double(fired_default), 0.2 * double(fired_every) + 2) << "seed " << seed;
}

// Inside detect() the spectral group runs last and knows whom the other signals named. Its
// direction is fitted on the kept clients; when named clients helped set it and the group it
// finds holds none of them, the group is judged again on a direction fitted without them (the
// unnamed clients alone). Ten negated updates that the response signal named set the top
// direction, and a label-skewed cluster on the other side of it stood apart as a false group
// (the simulator's sign flipping at Dirichlet 0.1, seed 3); but named members of the group
// itself lend it their direction (half of a backdoored group named by the direction signal,
// Dirichlet 0.5). Both paths, the clients named through their mean response (history_response),
// against the rule computed here from spectral_group_signal (checked by its own brute force): the
// z of the clients it was computed over, and the group that fires.
TEST(DetectionSignals, SpectralGroupIsJudgedWithoutADirectionOthersLentIt) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 60, d = 301;
  // One round: a group of `group` clients from client 20 on (every third) pushed along one
  // random offset by 1.5 times a client's norm, each kept at its norm; history_response names
  // (mean response z 50: they answer the model like ascent) `bystanders` clients outside the
  // group (0, 1, ...) and the group's first `named_members`.
  auto run = [&](std::size_t bystanders, std::size_t group, std::size_t named_members,
                 bool expect_lent) {
    Rows x = benign_round(n, d, rng);
    std::vector<double> offset(d);
    for (double& v : offset) v = g(rng);
    const double strength = 1.5 * std::sqrt(dot(x[0], x[0]) / dot(offset, offset));
    std::vector<std::size_t> planted;
    detection::HistoryInput history;
    history.response_rounds.assign(n, 5);
    for (std::size_t i = 0; i < n; ++i) history.response.push_back(g(rng));
    for (std::size_t i = 0; i < bystanders; ++i) history.response[i] = 50;
    for (std::size_t i = 0; i < group; ++i) {
      auto& row = x[20 + 3 * i];
      planted.push_back(20 + 3 * i);
      if (i < named_members) history.response[20 + 3 * i] = 50;
      const double norm = std::sqrt(dot(row, row));
      for (std::size_t j = 0; j < d; ++j) row[j] += strength * offset[j];
      const double rescale = norm / std::sqrt(dot(row, row));  // not a norm outlier
      for (double& v : row) v *= rescale;
    }
    x = as_float32(std::move(x));
    ScannedRound s(x);
    DetectionSpec spec;
    spec.enabled = true;
    spec.direction = spec.sign = 0;  // the response signal alone names, whom the test chose
    // The replica below fits on every kept client: no loner judged despite its size, whom the
    // spectral group would score without fitting on (that is
    // ALonersNormUnderItsCapIsJudgedByTheOtherSignals's and the brute force's).
    spec.loner_norm_cap = false;
    const auto out = detection::detect(spec, *s.space, s.rows, d, history);
    // Stage A (norm, collusion) keeps the rest; of those, `named` fired another signal of
    // stage B (a client whose code is spectral_group fired none: the codes are ranked).
    std::vector<std::uint8_t> stage_a(n, 0), named(n, 0);
    std::vector<std::size_t> fired, kept, unnamed;
    for (const auto& f : out.findings) {
      stage_a[f.index] = f.code == ReasonCode::kNormOutlier || f.code == ReasonCode::kCollusion;
      named[f.index] = !stage_a[f.index] && f.code != ReasonCode::kSpectralGroup;
      if (f.code == ReasonCode::kSpectralGroup) fired.push_back(f.index);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!stage_a[i]) kept.push_back(i);
      if (!stage_a[i] && !named[i]) unnamed.push_back(i);
    }
    auto group_over = [&](const std::vector<std::size_t>& clients) {
      const detection::SignalInput in(*s.space, clients, d);
      std::vector<std::size_t> core;
      detection::direction_signal(in, &core);
      return detection::spectral_group_signal(
          in, core, spec.spectral_group,
          static_cast<std::size_t>(
              std::floor(spec.max_reject_fraction * double(clients.size() - 1))));
    };
    auto expected = group_over(kept);
    std::vector<std::size_t> members = kept;
    const bool lent = unnamed.size() < kept.size() && !expected.group.empty() &&
                      std::none_of(expected.group.begin(), expected.group.end(),
                                   [&](std::size_t q) { return named[kept[q]] != 0; });
    if (lent) {
      expected = group_over(unnamed);
      members = unnamed;
    }
    EXPECT_EQ(lent, expect_lent) << "seed " << seed << " bystanders " << bystanders;
    ASSERT_TRUE(out.scores.count("detect_spectral_group"));
    const auto& z = out.scores.at("detect_spectral_group");
    std::vector<std::uint8_t> member(n, 0);
    for (std::size_t q = 0; q < members.size(); ++q) {
      member[members[q]] = 1;
      EXPECT_EQ(z[members[q]], expected.values.z[q]) << "seed " << seed << " client " << members[q];
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!member[i]) {
        EXPECT_TRUE(std::isnan(z[i])) << "seed " << seed << " client " << i;
      }
    }
    std::vector<std::size_t> want;
    for (std::size_t q : expected.group)
      if (!named[members[q]]) want.push_back(members[q]);
    std::sort(fired.begin(), fired.end());
    EXPECT_EQ(fired, want) << "seed " << seed;
    for (std::size_t i = 0; i < n; ++i) {
      const bool chosen =
          i < bystanders || (i >= 20 && (i - 20) % 3 == 0 && (i - 20) / 3 < named_members);
      if (!stage_a[i]) {
        EXPECT_EQ(named[i] != 0, chosen) << "seed " << seed << " client " << i;
      }
    }
    std::vector<std::size_t> planted_unnamed;  // stage A may reject a member as a norm outlier
    for (std::size_t i : planted)
      if (!named[i] && !stage_a[i]) planted_unnamed.push_back(i);
    // The whole planted group is rejected: any named part by its signal, the rest as a group.
    EXPECT_EQ(fired, planted_unnamed) << "seed " << seed << " ratio " << expected.ratio;
  };
  run(3, 6, 0, true);    // three named bystanders helped fit the direction: judged again
  run(0, 10, 5, false);  // five of ten members named: they lend the rest their direction
}

// Collusion: identical and near-identical submissions (noise at 1-5% of the norm) from
// different ids are rejected as a group; benign non-IID groups (clients sharing a cluster
// centre but with their own noise) never are.
TEST(DetectionCollusion, IdenticalAndNearIdenticalGroupsAreFlaggedBenignGroupsAreNot) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t d = 2000, benign = 40, colluders = 10;
  for (double noise : {0.0, 0.01, 0.05}) {
    // Benign non-IID: 5 clusters (label-skewed groups: a shared descent direction plus a
    // cluster part of the same size), each client its cluster's centre plus noise.
    Rows x;
    std::vector<double> shared(d);
    for (double& v : shared) v = g(rng);
    Rows centres(5, std::vector<double>(d));
    for (auto& c : centres)
      for (std::size_t j = 0; j < d; ++j) c[j] = shared[j] + g(rng);
    for (std::size_t i = 0; i < benign; ++i) {
      std::vector<double> r(d);
      for (std::size_t j = 0; j < d; ++j) r[j] = centres[i % 5][j] + 0.8 * g(rng);
      x.push_back(r);
    }
    std::vector<double> attack(d);
    for (std::size_t j = 0; j < d; ++j)
      attack[j] = shared[j] + 1.07 * g(rng);  // benign norm and direction
    const double attack_norm = std::sqrt(dot(attack, attack));
    for (std::size_t a = 0; a < colluders; ++a) {
      std::vector<double> r = attack;
      for (double& v : r) v += noise * attack_norm / std::sqrt(double(d)) * g(rng);
      x.push_back(r);
    }
    x = as_float32(std::move(x));
    ScannedRound s(x);
    DetectionSpec spec;
    spec.enabled = true;
    const detection::DetectionOutcome out = detection::detect(spec, *s.space, s.rows, d);
    std::vector<std::uint8_t> flagged(x.size(), 0);
    std::size_t benign_flagged = 0;
    for (const auto& f : out.findings) {
      flagged[f.index] = 1;
      if (f.index < benign) {  // a false alarm of another signal is possible; never collusion
        EXPECT_NE(f.code, ReasonCode::kCollusion)
            << "noise " << noise << " seed " << seed << ": " << f.detail;
        ++benign_flagged;
      }
      if (f.index >= benign) {
        EXPECT_EQ(f.code, ReasonCode::kCollusion)
            << "noise " << noise << " seed " << seed << ": " << f.detail;
        EXPECT_EQ(f.values.at("collusion_group"), double(colluders)) << f.detail;
      }
    }
    // Collusion never fires on the benign groups (asserted above). The direction and sign
    // signals can: five tight benign clusters are a multimodal null, outside their calibration
    // (seen: 8 of 40 at seed 1874517280; docs/detection.md). Recorded, not asserted.
    RecordProperty("benign_flagged_noise_" + std::to_string(noise),
                   static_cast<int>(benign_flagged));
    for (std::size_t i = benign; i < x.size(); ++i)
      EXPECT_TRUE(flagged[i]) << "colluder " << i << " noise " << noise;
  }
}

// Two outcomes of detect() over the same n clients are the same bit for bit: findings (index,
// code, detail, values) and every signal's z (NaN marks clients a signal did not see).
void expect_same_outcome(const detection::DetectionOutcome& a, const detection::DetectionOutcome& b,
                         std::size_t n, const std::string& label) {
  ASSERT_EQ(a.findings.size(), b.findings.size()) << label;
  for (std::size_t f = 0; f < a.findings.size(); ++f) {
    EXPECT_EQ(a.findings[f].index, b.findings[f].index) << label;
    EXPECT_EQ(a.findings[f].code, b.findings[f].code) << label;
    EXPECT_EQ(a.findings[f].detail, b.findings[f].detail) << label;
    EXPECT_EQ(a.findings[f].values, b.findings[f].values) << label;
  }
  ASSERT_EQ(a.scores.size(), b.scores.size()) << label;
  for (const auto& [name, z] : a.scores) {
    const auto& other = b.scores.at(name);
    for (std::size_t c = 0; c < n; ++c)
      EXPECT_TRUE(z[c] == other[c] || (std::isnan(z[c]) && std::isnan(other[c])))
          << name << " client " << c << " " << label;
  }
}

// The O(m^2) loops run on a team above 128 clients: every finding, value and score must be
// the same bit for bit with one thread and with several (each value has one writer and one
// summation order), with colluders and scaled clients present so that signals fire.
TEST(DetectionSignals, OutcomeDoesNotDependOnTheThreadCount) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  const std::size_t n = 300, d = 96, k = 16;
  Rows x = benign_round(n, d, rng);
  for (std::size_t i = 0; i < 6; ++i) x[i] = x[6];  // a group of copies
  for (double& v : x[7]) v *= 20;                   // a scaled client
  x = as_float32(std::move(x));
  ScannedRound s(x);
  DetectionSpec spec;
  spec.enabled = true;
  spec.spectral = 0.002;
  std::vector<double> sketches(n * k);
  for (double& v : sketches) v = g(rng);
  for (std::size_t i = 1; i < 4; ++i)
    std::copy_n(sketches.begin(), k, sketches.begin() + static_cast<std::ptrdiff_t>(i * k));
  detection::HistoryInput history;
  history.sketches = &sketches;
  history.k = k;
  history.rounds.assign(n, 3);
  const auto one = detection::detect(spec, *s.space, s.rows, d, history, 1);
  for (int threads : {2, 3, 0}) {
    const auto many = detection::detect(spec, *s.space, s.rows, d, history, threads);
    ASSERT_GT(one.findings.size(), 6u) << "seed " << seed;
    expect_same_outcome(one, many, n, "threads " + std::to_string(threads));
  }
}

// Own baselines inside detect(): each client's cut is widened on its baseline's side only
// (upper cut + max(b, 0), lower -(cut - min(b, 0))), on the norm signal and on the sign signal
// alike; a zero baseline leaves the round's cut. Checked against the z's detect() reports and
// the t cut, for every client, with baselines of both signs around clients in both tails.
TEST(DetectionSignals, OwnBaselineWidensOnlyItsOwnSide) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> u(-2.5, 2.5);
  const std::size_t n = 60, d = 64;
  Rows x = benign_round(n, d, rng);
  for (std::size_t i = 0; i < n; ++i) {  // log-norms spread into both tails
    double s2 = 0;
    for (double v : x[i]) s2 += v * v;
    const double side = i % 2 ? 1.0 : -1.0;
    const double log_norm = i < 16 ? 0.1 * side * (2.5 + 0.4 * double(i)) : 0.1 * g(rng);
    for (double& v : x[i]) v *= std::exp(log_norm) / std::sqrt(s2);
  }
  x = as_float32(std::move(x));
  ScannedRound s(x);
  for (const char* which : {"norm", "sign"}) {
    DetectionSpec spec;
    spec.enabled = true;
    spec.direction = spec.collusion = spec.history = spec.history_direction = 0;
    spec.spectral_group = 0;
    spec.max_norm_ratio = 0;
    const bool norm = std::string(which) == "norm";
    if (norm)
      spec.sign = 0;
    else
      spec.norm = 0;
    detection::HistoryInput plain, widened;
    std::vector<double> b(n);
    // The tail clients: half with a baseline on their own side, half on the other; the rest
    // random, every fifth none.
    for (std::size_t i = 0; i < n; ++i)
      b[i] = i < 16 ? (i % 4 < 2 ? 2.4 : -2.4) * (i % 2 ? 1.0 : -1.0) : i % 5 == 4 ? 0.0 : u(rng);
    (norm ? widened.norm_baseline : widened.sign_baseline) = b;
    const auto before = detection::detect(spec, *s.space, s.rows, d, plain, 1);
    const auto after = detection::detect(spec, *s.space, s.rows, d, widened, 1);
    const std::vector<double>& z = after.scores.at(std::string("detect_") + which);
    EXPECT_EQ(before.scores.at(std::string("detect_") + which), z);
    const double cut = detection::calibrated_cut(0.002, n, true);  // one comparison each
    std::vector<std::size_t> want, was, got;
    for (std::size_t i = 0; i < n; ++i) {
      if (z[i] > cut + std::max(b[i], 0.0) || z[i] < -(cut - std::min(b[i], 0.0)))
        want.push_back(i);
      if (std::fabs(z[i]) > cut) was.push_back(i);
    }
    for (const auto& f : after.findings) got.push_back(f.index);
    EXPECT_EQ(got, want) << which << " seed " << seed;
    std::vector<std::size_t> before_idx;
    for (const auto& f : before.findings) before_idx.push_back(f.index);
    EXPECT_EQ(before_idx, was) << which << " seed " << seed;
    if (norm) {
      EXPECT_GT(was.size(), want.size()) << "seed " << seed;  // the widening mattered
    }
  }
}

// The detection stage takes its m x m matrices from a Workspace whose memory a previous round
// left with any contents: the outcome must be the one without a workspace, bit for bit, after
// rounds of other sizes and with the kept vectors filled with NaN (a value read before it is
// written would show), with and without a stage-A rejection (stage B on a subset) and history.
TEST(DetectionSignals, OutcomeDoesNotDependOnTheWorkspace) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  const std::size_t d = 96, k = 16;
  auto round_of = [&](std::size_t n, bool attacked) {
    Rows x = benign_round(n, d, rng);
    if (attacked) {
      for (std::size_t i = 0; i < 6; ++i) x[i] = x[6];  // a group of copies
      for (double& v : x[7]) v *= 20;                   // a scaled client: stage B on a subset
    }
    return as_float32(std::move(x));
  };
  DetectionSpec spec;
  spec.enabled = true;
  spec.spectral = 0.002;
  detection::Workspace ws;
  for (const auto& [n, attacked] : std::vector<std::pair<std::size_t, bool>>{
           {300, true}, {150, false}, {300, true}, {40, true}, {300, false}}) {
    const Rows x = round_of(n, attacked);
    ScannedRound s(x);
    std::vector<double> sketches(n * k);
    for (double& v : sketches) v = g(rng);
    detection::HistoryInput history;
    history.sketches = &sketches;
    history.k = k;
    history.rounds.assign(n, 3);
    history.rounds[n / 2] = 1;  // one new client: the history signals see a subset
    // What the previous rounds left, overwritten with NaN.
    std::vector<std::vector<double>> kept;
    while (ws.kept_count() > 0) kept.push_back(ws.take(1));
    for (auto& v : kept) {
      v.resize(v.capacity());
      std::fill(v.begin(), v.end(), std::nan(""));
      ws.give(std::move(v));
    }
    const auto fresh = detection::detect(spec, *s.space, s.rows, d, history, 2);
    const auto reused = detection::detect(spec, *s.space, s.rows, d, history, 2, &ws);
    if (attacked) {
      ASSERT_GT(fresh.findings.size(), 6u) << "seed " << seed;
    }
    expect_same_outcome(fresh, reused, n,
                        "n " + std::to_string(n) + " seed " + std::to_string(seed));
    EXPECT_GT(ws.kept_count(), 0u) << "the stage gave nothing back";
  }
}

TEST(DetectionWorkspace, ReusesMemoryUnderItsCap) {
  detection::Workspace ws(1000 * sizeof(double));
  std::vector<double> a = ws.take(600);
  ASSERT_EQ(a.size(), 600u);
  const double* where = a.data();
  ws.give(std::move(a));
  EXPECT_EQ(ws.kept_count(), 1u);
  std::vector<double> b = ws.take(500);  // fits the kept one: the same memory, resized
  EXPECT_EQ(b.data(), where);
  EXPECT_EQ(b.size(), 500u);
  EXPECT_EQ(ws.kept_count(), 0u);
  std::vector<double> c = ws.take(700);  // nothing kept holds it: new memory
  EXPECT_EQ(c.size(), 700u);
  ws.give(std::move(b));
  ws.give(std::move(c));  // 600 + 700 values exceed the cap of 1000: not kept
  EXPECT_EQ(ws.kept_count(), 1u);
  EXPECT_LE(ws.kept_bytes(), 1000 * sizeof(double));
  // The smallest that fits is taken, the larger stays for larger requests.
  detection::Workspace two;
  two.give(std::vector<double>(100));
  two.give(std::vector<double>(50));
  EXPECT_EQ(two.take(40).capacity(), 50u);
  EXPECT_EQ(two.take(90).capacity(), 100u);
  EXPECT_EQ(two.take(10).size(), 10u);  // empty: a new one
}

// Through the engine: the preset rejects scaled, sign-flipped and duplicated attackers with
// their codes and ids, keeps the benign clients, and its aggregate is the brute-force NNM +
// trimmed mean of the clients it kept.
TEST(DetectionEngine, PresetRejectsAttackersByIdAndAggregatesTheRestRobustly) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const std::size_t n = 30, d = 500;
  Rows x = benign_round(n, d, rng);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("client-" + std::to_string(i));
  for (std::size_t j = 0; j < d; ++j) {
    x[0][j] *= 20;       // scaled
    x[1][j] = -x[1][j];  // sign flip
    x[2][j] = -x[2][j];
    x[3][j] = x[4][j] = x[5][j] = -x[10][j];  // three identical fakes
  }
  x = as_float32(std::move(x));
  const std::vector<float> data = floats(x);
  Engine engine(EngineConfig::from_json(R"({"preset": "recommended", "f": 6})"));
  RoundInput in;
  in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
  in.client_ids = ids;
  const RoundResult r = engine.process_round(in);
  ASSERT_EQ(r.client_ids, ids);
  std::map<std::string, std::string> code_of;
  for (const Rejection& rej : r.rejections) {
    code_of[rej.id] = reason_code_name(rej.code);
    EXPECT_EQ(rej.stage, Stage::kDetect) << rej.id << ": " << rej.detail;
    // The signal that fired carries its z, cut-off and raw value.
    std::string signal = reason_code_name(rej.code);
    signal = signal.substr(0, signal.find("_outlier"));
    ASSERT_TRUE(rej.values.count(signal + "_z") && rej.values.count(signal + "_cut"))
        << rej.id << " " << signal;
    const double z = rej.values.at(signal + "_z"), cut = rej.values.at(signal + "_cut");
    EXPECT_TRUE(std::fabs(z) > cut || signal == "norm") << rej.id << ": " << rej.detail;
  }
  EXPECT_EQ(code_of["client-0"], "norm_outlier");
  // A sign flip keeps its benign norm, and a benign scale far in the exp(0.2 N(0,1)) tail
  // makes it a norm outlier in stage A (about 1% of seeds), where the direction signal of
  // stage B never sees it; the loop above checked that its norm z is beyond the cut.
  for (const char* id : {"client-1", "client-2"})
    EXPECT_TRUE(code_of[id] == "direction_outlier" || code_of[id] == "norm_outlier")
        << id << " " << code_of[id] << " seed " << seed;
  for (const char* id : {"client-3", "client-4", "client-5"})
    EXPECT_EQ(code_of[id], "collusion") << id;
  // The benign clients' scales spread by exp(0.2 N(0,1)): at the budgets' ~1% per client a
  // round of 24 may see a false alarm. The norm's MAD over 30 clients is itself random: in
  // about 1 of 600 seeds it comes out small enough that six benign clients at 1.33-1.52x or
  // 0.75x the median norm pass the cut (seed 2426179545); the rate itself is checked by
  // DetectionCalibration above, this bound only catches a stage that rejects wholesale.
  std::size_t benign_rejected = 0;
  for (std::size_t i = 6; i < n; ++i) benign_rejected += r.accepted[i] == 0;
  EXPECT_LE(benign_rejected, 6u) << "seed " << seed;
  ASSERT_EQ(r.rejected_ids().size(), 6u + benign_rejected) << "seed " << seed;
  ASSERT_NE(r.rejection_of("client-4"), nullptr);
  // NNM + trimmed mean of the kept rows in float64, with the round's f: the preset's 6 less
  // the clients detection rejected, at least 1 (EngineConfig::for_round).
  Rows kept;
  for (std::size_t i = 6; i < n; ++i)
    if (r.accepted[i]) kept.push_back(x[i]);
  const std::size_t m = kept.size();
  const std::size_t detected = r.rejections.size(), f = detected >= 6 ? 1 : 6 - detected;
  bool noted = false;
  for (const auto& note : r.notes)
    noted |= note.find("detection rejected " + std::to_string(detected)) != std::string::npos;
  EXPECT_TRUE(noted);
  Rows y(m, std::vector<double>(d, 0.0));
  for (std::size_t i = 0; i < m; ++i) {
    std::vector<std::pair<double, std::size_t>> dist;
    for (std::size_t k = 0; k < m; ++k) {
      double s2 = 0;
      for (std::size_t j = 0; j < d; ++j)
        s2 += (kept[i][j] - kept[k][j]) * (kept[i][j] - kept[k][j]);
      dist.emplace_back(s2, k);
    }
    std::sort(dist.begin(), dist.end());
    for (std::size_t q = 0; q < m - f; ++q)
      for (std::size_t j = 0; j < d; ++j) y[i][j] += kept[dist[q].second][j] / double(m - f);
  }
  for (std::size_t j = 0; j < d; ++j) {
    std::vector<double> col;
    for (std::size_t i = 0; i < m; ++i) col.push_back(y[i][j]);
    std::sort(col.begin(), col.end());
    double s2 = 0;
    for (std::size_t q = f; q < m - f; ++q) s2 += col[q];
    EXPECT_NEAR(r.aggregate[j], s2 / double(m - 2 * f),
                1e-4 * (1 + std::fabs(s2 / double(m - 2 * f))))
        << j;
  }
  const auto json = r.to_json();
  EXPECT_EQ(json.at("rejections").size(), 6u + benign_rejected);
  EXPECT_EQ(json.at("rejections")[0].at("id"), "client-0");
  EXPECT_EQ(json.at("rejections")[0].at("code"), "norm_outlier");
  EXPECT_EQ(json.at("rejections")[0].at("stage"), "detect");
}

// The history signal is the collusion statistic over cumulative sketches: the same brute force
// on the sketch vectors themselves.
TEST(DetectionSignals, HistoryMatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t m = 23, k = 64;
  Rows h(m, std::vector<double>(k));
  for (auto& r : h)
    for (double& v : r) v = g(rng) * 3 + 1;
  h[7] = h[3];  // one duplicate pair
  std::vector<double> flat;
  for (const auto& r : h) flat.insert(flat.end(), r.begin(), r.end());
  const auto sig = detection::history_signal(flat, k);
  ASSERT_EQ(sig.name, "history");
  EXPECT_EQ(sig.tail, detection::Tail::kLower);
  EXPECT_EQ(sig.comparisons, m - 1);
  const BruteCollusion bf = brute_collusion(h);
  for (std::size_t i = 0; i < m; ++i) {
    EXPECT_NEAR(sig.value[i], bf.rho[i], 1e-9 * (1 + bf.rho[i])) << "seed " << seed << " i " << i;
    EXPECT_NEAR(sig.z[i], bf.z[i], 1e-7 * (1 + std::fabs(bf.z[i])))
        << "seed " << seed << " i " << i;
  }
}

// Pairs the history signal is told to pass over (honest twins, detection/pair_persistence.h)
// are no one's partner: each client's smallest residual over the other pairs, its z against
// every pair's residuals, as the brute force says; a client all of whose pairs are excluded
// keeps them all.
TEST(DetectionSignals, CollusionWithExcludedPairsMatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t m = 19, k = 48;
  Rows h(m, std::vector<double>(k));
  for (auto& r : h)
    for (double& v : r) v = g(rng) * 2 + 0.5;
  for (std::size_t j = 0; j < k; ++j) h[4][j] = h[2][j] + 0.05 * g(rng);  // near-duplicates
  for (std::size_t j = 0; j < k; ++j) h[9][j] = h[2][j] + 0.05 * g(rng);
  std::set<std::pair<std::size_t, std::size_t>> excluded{{2, 4}, {1, 7}};
  for (std::size_t b = 0; b < m; ++b)  // client 11: every pair excluded
    if (b != 11) excluded.insert({std::min<std::size_t>(11, b), std::max<std::size_t>(11, b)});
  std::uniform_int_distribution<std::size_t> pick(0, m - 1);
  for (int t = 0; t < 6; ++t) {
    const std::size_t a = pick(rng), b = pick(rng);
    if (a != b) excluded.insert({std::min(a, b), std::max(a, b)});
  }
  std::vector<std::uint8_t> mask(m * m, 0);
  for (const auto& [a, b] : excluded) mask[a * m + b] = mask[b * m + a] = 1;
  std::vector<double> flat;
  for (const auto& r : h) flat.insert(flat.end(), r.begin(), r.end());
  const std::vector<double> gram = detection::gram_of_rows(flat, k);
  const std::vector<double> rho =
      detection::normalised_distances(gram, detection::norms_of_gram(gram));
  std::vector<std::size_t> nearest;
  const auto sig =
      detection::collusion_from_distances("history", rho, m, &nearest, 1, nullptr, &mask);
  const BruteCollusion bf = brute_collusion(h, excluded);
  for (std::size_t i = 0; i < m; ++i) {
    EXPECT_NEAR(sig.value[i], bf.rho[i], 1e-9 * (1 + bf.rho[i])) << "seed " << seed << " i " << i;
    EXPECT_NEAR(sig.z[i], bf.z[i], 1e-7 * (1 + std::fabs(bf.z[i])))
        << "seed " << seed << " i " << i;
    if (i != 11) {
      EXPECT_FALSE(excluded.count({std::min(i, nearest[i]), std::max(i, nearest[i])})) << i;
    }
  }
  EXPECT_NE(nearest[2], 4u);  // 2's nearest is 4 or 9; the pair (2, 4) is excluded
  EXPECT_NE(nearest[4], 2u);
  // Without the mask the same call is the plain signal.
  const auto plain = detection::collusion_from_distances("history", rho, m, nullptr, 1);
  const BruteCollusion bf_plain = brute_collusion(h);
  for (std::size_t i = 0; i < m; ++i)
    EXPECT_NEAR(plain.z[i], bf_plain.z[i], 1e-7 * (1 + std::fabs(bf_plain.z[i]))) << i;
}

// The history direction is the direction signal over cumulative sketches: cosine to the mean
// of the core (the half with the largest median cosine to the others), leaving the client out,
// on the sketch vectors themselves.
TEST(DetectionSignals, HistoryDirectionMatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  for (std::size_t m : {8u, 23u, 40u}) {
    const std::size_t k = 64;
    std::vector<double> common(k);
    for (double& v : common) v = g(rng);
    Rows h(m, std::vector<double>(k));
    for (auto& r : h)
      for (std::size_t j = 0; j < k; ++j) r[j] = common[j] + 0.7 * g(rng);
    for (double& v : h[1]) v = -v;  // one client against the others
    std::vector<double> flat;
    for (const auto& r : h) flat.insert(flat.end(), r.begin(), r.end());
    const auto sig = detection::history_direction_signal(flat, k);
    ASSERT_EQ(sig.name, "history_direction");
    EXPECT_EQ(sig.tail, detection::Tail::kLower);
    const std::vector<double> cosv = bf_centre_cosines(h, bf_core_of(bf_typical(h)));
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(sig.value[i], cosv[i], 1e-9) << "seed " << seed << " m " << m << " i " << i;
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(sig.z[i], bf_z(cosv, i, 0.05), 1e-7 * (1 + std::fabs(sig.z[i])))
          << "seed " << seed << " m " << m << " i " << i;
    EXPECT_LT(sig.z[1], -3) << "seed " << seed << " m " << m;
  }
}

// Inside detect(), the history direction runs over the clients stage A kept (here one scaled
// client is a norm outlier) that have two rounds of history, on the Gram matrix the history
// signal also reads: the z's must be those of history_direction_signal over exactly those
// clients' histories.
TEST(DetectionHistory, HistoryDirectionInsideDetectSeesTheKeptSeasonedClients) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 24, d = 200, k = 32;
  Rows x = benign_round(n, d, rng);
  for (double& v : x[3]) v *= 50;  // stage A: a norm outlier
  x = as_float32(std::move(x));
  ScannedRound s(x);
  std::vector<double> sketches(n * k);
  std::vector<double> common(k);
  for (double& v : common) v = g(rng);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t q = 0; q < k; ++q) sketches[i * k + q] = common[q] + g(rng);
  detection::HistoryInput history;
  history.sketches = &sketches;
  history.k = k;
  history.rounds.assign(n, 3);
  history.rounds[5] = history.rounds[9] = 1;  // new clients: no history signal yet
  DetectionSpec spec;
  spec.enabled = true;
  const auto out = detection::detect(spec, *s.space, s.rows, d, history);
  ASSERT_TRUE(out.scores.count("detect_history_direction"));
  const auto& z = out.scores.at("detect_history_direction");
  // Stage A's rejections: client 3, and any benign client its signals happen to fire on.
  std::vector<std::uint8_t> stage_a(n, 0);
  for (const auto& f : out.findings)
    stage_a[f.index] = f.code == ReasonCode::kNormOutlier || f.code == ReasonCode::kCollusion ||
                       f.code == ReasonCode::kHistoryOutlier;
  ASSERT_TRUE(stage_a[3]);
  std::vector<std::size_t> members;
  std::vector<double> rows;
  for (std::size_t i = 0; i < n; ++i)
    if (!stage_a[i] && i != 5 && i != 9) {
      members.push_back(i);
      rows.insert(rows.end(), sketches.begin() + i * k, sketches.begin() + (i + 1) * k);
    }
  for (std::size_t i = 0; i < n; ++i) {
    if (stage_a[i]) {
      EXPECT_TRUE(std::isnan(z[i])) << i;
    }
  }
  const auto expected = detection::history_direction_signal(rows, k);
  for (std::size_t i : {3u, 5u, 9u}) EXPECT_TRUE(std::isnan(z[i])) << i;
  for (std::size_t q = 0; q < members.size(); ++q)
    EXPECT_NEAR(z[members[q]], expected.z[q], 1e-9 * (1 + std::fabs(expected.z[q])))
        << "seed " << seed << " client " << members[q];
  // Both history signals from one Gram: the same values as each from its own rows.
  const std::vector<double> gram = detection::gram_of_rows(rows, k);
  EXPECT_EQ(detection::history_signal_of_gram(gram).z, detection::history_signal(rows, k).z);
  EXPECT_EQ(detection::history_direction_of_gram(gram).z, expected.z);
}

// Groups in a tail: clients whose cumulative histories lean against the federation's, each
// perhaps short of history_direction's per-client cut, are rejected together when the g-th of
// them passes the cut that g benign clients reach with probability 1e-5
// (history_direction_group, off by default). Against the brute force over the signal's z (itself
// checked above): the g furthest in the lower tail, 3 <= g <= 24, the g-th at least 2 and past the
// order statistic's cut, the g furthest past it, then again after that group
// (bf_tail_groups); groups planted at several strengths, and none.
TEST(DetectionHistory, HistoryDirectionGroupMatchesTheBruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 50, d = 64, k = 64, planted = 8;
  std::size_t by_group_alone = 0;
  // Histories: a common direction plus noise orthogonal to it of one fixed length, so that every
  // benign client's cosine to the centre is nearly the same (the signal's scale is its floor,
  // 0.05) and a planted client's is set by how far along the common direction it goes: 1 (none
  // planted), 0.8 (z about -1.7: under the group's floor of 2), 0.7 (about -2.7: past the cut
  // of eight together, 2.3, short of the per-client cut, 3.1), 0.3 (about -8).
  std::vector<double> cases{1.0, 0.8, 0.3};
  cases.insert(cases.end(), 20, 0.7);
  for (const double along_planted : cases) {
    Rows x = as_float32(benign_round(n, d, rng));
    ScannedRound s(x);
    std::vector<double> sketches(n * k), common(k);
    for (double& v : common) v = g(rng);
    const double cc = dot(common, common);
    for (std::size_t i = 0; i < n; ++i) {
      const double along = i % 6 == 1 && i / 6 < planted ? along_planted : 1.0;
      std::vector<double> noise(k);
      for (double& v : noise) v = g(rng);
      const double c = dot(noise, common) / cc;
      for (std::size_t q = 0; q < k; ++q) noise[q] -= c * common[q];
      const double len = 1.2 * std::sqrt(cc / dot(noise, noise));
      for (std::size_t q = 0; q < k; ++q) sketches[i * k + q] = along * common[q] + len * noise[q];
    }
    detection::HistoryInput history;
    history.sketches = &sketches;
    history.k = k;
    history.rounds.assign(n, 4);
    DetectionSpec spec;
    spec.enabled = true;
    spec.history_direction_group = 1e-5;
    const auto out = detection::detect(spec, *s.space, s.rows, d, history);
    const auto& z = out.scores.at("detect_history_direction");
    const TailGroups expected = bf_tail_groups_of(z, -1, 1e-5);
    const std::size_t m = expected.m;
    const std::vector<std::size_t>& want = expected.grouped;
    const std::vector<std::size_t>& size_of = expected.size_of;
    std::vector<std::size_t> got;
    for (const auto& f : out.findings) {
      const auto it = f.values.find("history_direction_group");
      if (it == f.values.end()) continue;
      got.push_back(f.index);
      EXPECT_EQ(it->second, double(size_of[f.index])) << f.detail;
      EXPECT_NEAR(f.values.at("history_direction_group_cut"),
                  bf_group_cut(size_of[f.index], m, 1e-5), 1e-2);
      if (f.values.at("history_direction_z") > -f.values.at("history_direction_cut")) {
        ++by_group_alone;
        EXPECT_NE(f.detail.find("together beyond"), std::string::npos) << f.detail;
      }
    }
    EXPECT_EQ(got, want) << "seed " << seed << " along " << along_planted;
    if (along_planted > 0.75) {
      EXPECT_TRUE(got.empty()) << "seed " << seed << " along " << along_planted;
    }
    // Off: only the per-client cut.
    spec.history_direction_group = 0;
    for (const auto& f : detection::detect(spec, *s.space, s.rows, d, history).findings)
      EXPECT_EQ(f.values.count("history_direction_group"), 0u);
  }
  // At 0.7 the planted clients' z spread about -1.5 to -3.5 (the centre's own noise): in most
  // of the 20 rounds some of them pass only as a group.
  RecordProperty("rejected_by_the_group_alone", std::to_string(by_group_alone));
  EXPECT_GT(by_group_alone, 0u) << "seed " << seed;
}

// Too central together (direction_group, off by default): a group whose cosines to the
// federation's centre all stand above the honest spread, each perhaps inside the per-client
// spread (the direction signal's per-client cut is on the other side), is rejected together when
// the g-th of them passes the cut that g benign clients reach with probability 1e-7. Against the
// brute force over the signal's z (direction's z is checked against float64 elsewhere): the g
// furthest in the upper tail, 3 <= g <= (m - 1) / 2, the g-th at least 2 and past the order
// statistic's cut, the g furthest past it, then again after that group; planted at several
// strengths, and none.
TEST(DetectionDirection, DirectionGroupInTheUpperTailMatchesTheBruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 60, d = 256, planted = 8;
  const double alpha = 1e-7;
  std::size_t by_group_alone = 0;
  // Every client c + s_i noise_i scaled to one norm (the norm signal stays quiet): cosine to the
  // centre about 1 / sqrt(1 + s^2). Benign s about 1.5 (cosine ~0.55, spread below the scale
  // floor 0.05); planted 1.5 (none), 1.3 (z about 1: under the floor of 2), 1.05 (z about 3),
  // 0.6 (z about 6, alignment about 0.4: a group that fires), 0.4 (z about 8, alignment about
  // 0.7).
  std::vector<double> cases{1.5, 1.3, 0.4, 0.6};
  cases.insert(cases.end(), 12, 1.05);
  for (const double s_planted : cases) {
    std::vector<double> common(d);
    for (double& v : common) v = g(rng);
    Rows x(n, std::vector<double>(d));
    for (std::size_t i = 0; i < n; ++i) {
      const bool is_planted = i % 7 == 2 && i / 7 < planted;
      const double s = is_planted ? s_planted : 1.5 * std::exp(0.1 * g(rng));
      for (std::size_t j = 0; j < d; ++j) x[i][j] = common[j] + s * g(rng);
      const double len = std::sqrt(dot(x[i], x[i]));
      for (double& v : x[i]) v /= len;
    }
    x = as_float32(x);
    ScannedRound r(x);
    DetectionSpec spec;
    spec.enabled = true;
    spec.direction_group = alpha;
    const auto out = detection::detect(spec, *r.space, r.rows, d, {});
    const auto& z = out.scores.at("detect_direction");
    // A group fires only when its members are not nearly all one direction (alignment < 0.7 by
    // default): over the clients the direction signal saw, from the float32 rows.
    std::vector<std::size_t> seen;
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isnan(z[i])) seen.push_back(i);
    Rows seen_rows;
    for (std::size_t i : seen) seen_rows.push_back(x[i]);
    std::vector<double> alignment_of(n, std::nan(""));
    const auto admit = [&](const std::vector<std::size_t>& group) {
      std::vector<std::uint8_t> in_group(seen.size(), 0);
      for (std::size_t q = 0; q < seen.size(); ++q)
        in_group[q] = std::find(group.begin(), group.end(), seen[q]) != group.end();
      const double a = bf_alignment(seen_rows, in_group);
      for (std::size_t i : group) alignment_of[i] = a;
      return a < spec.direction_group_max_alignment;
    };
    const TailGroups expected = bf_tail_groups_of(z, +1, alpha, admit);
    const std::size_t m = expected.m;
    const std::vector<std::size_t>& want = expected.grouped;
    const std::vector<std::size_t>& size_of = expected.size_of;
    std::vector<std::size_t> got;
    for (const auto& f : out.findings) {
      const auto it = f.values.find("direction_group");
      if (it == f.values.end()) continue;
      got.push_back(f.index);
      EXPECT_EQ(it->second, double(size_of[f.index])) << f.detail;
      EXPECT_NEAR(f.values.at("direction_group_cut"), bf_group_cut(size_of[f.index], m, alpha),
                  1e-2);
      EXPECT_GT(f.values.at("direction_z"), 0.0) << f.detail;  // the upper tail
      EXPECT_NEAR(f.values.at("direction_group_alignment"), alignment_of[f.index], 1e-4)
          << f.detail;
      ++by_group_alone;
      EXPECT_NE(f.detail.find("too central together"), std::string::npos) << f.detail;
    }
    EXPECT_EQ(got, want) << "seed " << seed << " s " << s_planted;
    if (s_planted > 1.2) {
      EXPECT_TRUE(got.empty()) << "seed " << seed << " s " << s_planted;
    } else if (s_planted < 0.8 && s_planted > 0.5) {  // far out, not alike: planted clients only
      EXPECT_GE(got.size(), 3u) << "seed " << seed;
      for (std::size_t i : got) EXPECT_TRUE(i % 7 == 2 && i / 7 < planted) << "seed " << seed;
    } else if (s_planted < 0.5) {
      // Far out, and alike: the planted clients are c + 0.4 noise against the others' c + 1.5
      // noise, so much of what sets them apart is their shared direction c (alignment about
      // 0.7, fired or not as the brute force above says); when every group fires, they and
      // nobody else.
      std::vector<std::size_t> planted_ids;
      for (std::size_t i = 0; i < n; ++i)
        if (i % 7 == 2 && i / 7 < planted) planted_ids.push_back(i);
      DetectionSpec every = spec;
      every.direction_group_max_alignment = 1;
      std::vector<std::size_t> all_groups;
      for (const auto& f : detection::detect(every, *r.space, r.rows, d, {}).findings)
        if (f.values.count("direction_group")) all_groups.push_back(f.index);
      // (one planted client's noise can leave it short of the group's cut: 1 seed in 300)
      EXPECT_GE(all_groups.size(), planted - 1) << "seed " << seed;
      for (std::size_t i : all_groups)
        EXPECT_TRUE(std::binary_search(planted_ids.begin(), planted_ids.end(), i))
            << "seed " << seed;
    }
    // Off: no group, and no client of this round is in the direction's lower tail.
    spec.direction_group = 0;
    for (const auto& f : detection::detect(spec, *r.space, r.rows, d, {}).findings)
      EXPECT_EQ(f.values.count("direction_group"), 0u);
  }
  RecordProperty("rejected_by_the_group", std::to_string(by_group_alone));
  EXPECT_GT(by_group_alone, 0u) << "seed " << seed;
}

// Clients that send the negation of their honest update every round: one round's cosine to the
// centre lies inside the honest spread (the SGD noise dominates each update), so the per-round
// direction signal names few of them; the honest clients' cumulative histories converge on the
// shared descent direction while the flippers' stay opposite, and the history direction names
// every flipper within a few rounds. Through the engine, with ids and state across rounds.
TEST(DetectionHistory, PersistentSignFlippersLeaveTheHonestSpreadInHistory) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t benign = 36, flippers = 8, n = benign + flippers, d = 1500, rounds = 20;
  std::vector<double> descent(d);
  for (double& v : descent) v = g(rng);
  Rows offset(n, std::vector<double>(d));  // each client's data
  for (auto& o : offset)
    for (double& v : o) v = g(rng);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("client-" + std::to_string(i));
  Engine engine(EngineConfig::from_json(R"({"preset": "recommended", "f": 8})"));
  std::size_t benign_history = 0, direction_hits = 0, late_hits = 0;
  std::vector<std::size_t> hits(n, 0);
  for (std::size_t r = 0; r < rounds; ++r) {
    Rows x(n, std::vector<double>(d));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        x[i][j] = (i < benign ? 1.0 : -1.0) * (descent[j] + 0.5 * offset[i][j] + 10.0 * g(rng));
    x = as_float32(std::move(x));
    const std::vector<float> data = floats(x);
    RoundInput in;
    in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
    in.client_ids = ids;
    const RoundResult res = engine.process_round(in);
    for (const Rejection& rej : res.rejections) {
      if (rej.client < benign) {
        benign_history += rej.code == ReasonCode::kHistoryDirection;
      } else {
        direction_hits += rej.code == ReasonCode::kDirectionOutlier;
        if (rej.code == ReasonCode::kHistoryDirection) {
          ++hits[rej.client];
          late_hits += r >= 10;
          EXPECT_EQ(rej.values.at("history_rounds"), double(r + 1)) << rej.detail;
        }
      }
    }
    if (r == 0) {
      EXPECT_EQ(res.scores.count("detect_history_direction"), 0u);
    }
  }
  // One round: cosine about 0.04 against a spread floored at 0.05 (flippers' z about -1.7); in
  // history the noise shrinks as 1/sqrt(R) (cosine 0.13 at R = 4, 0.2 at R = 8, 0.3 at R = 16)
  // against the count sketch's own error of about 1/sqrt(k) = 0.06 on a cosine: from R = 11
  // the flippers' z is about -10.
  EXPECT_LE(direction_hits, flippers * rounds / 4) << "seed " << seed;
  for (std::size_t i = benign; i < n; ++i)
    EXPECT_GE(hits[i], rounds / 2 - 3) << "client " << i << " seed " << seed;
  EXPECT_GE(late_hits, flippers * (rounds - 10) * 95 / 100) << "seed " << seed;
  // Budget 0.002 over 36 x 19 client-rounds: 1.4 false alarms expected.
  EXPECT_LE(benign_history, 7u) << "seed " << seed;
}

// Sybils that add fresh noise to every round's copy (30% of its norm: rho ~0.4 between two
// copies, beyond the per-round collusion signal's near-duplicate bound) converge in their
// cumulative histories and are rejected as history_outlier after a few rounds; benign clients,
// each with its own persistent data offset, never are. Through the engine, with client ids and
// state kept across rounds.
TEST(DetectionHistory, NoisySybilsConvergeInHistoryBenignClientsDoNot) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t benign = 36, sybils = 8, n = benign + sybils, d = 1500, rounds = 12;
  // Benign client i: a shared descent direction, a persistent client offset (its data) and
  // fresh per-round noise (its SGD); clusters of similar clients (label skew) share part of
  // the offset.
  Rows cluster(4, std::vector<double>(d)), offset(benign, std::vector<double>(d));
  for (auto& c : cluster)
    for (double& v : c) v = g(rng);
  for (std::size_t i = 0; i < benign; ++i)
    for (std::size_t j = 0; j < d; ++j) offset[i][j] = cluster[i % 4][j] + 0.6 * g(rng);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("client-" + std::to_string(i));
  Engine engine(EngineConfig::from_json(R"({"preset": "recommended", "f": 8})"));
  std::size_t first_caught = rounds, benign_history = 0, collusion_on_sybils = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<double> shared(d), attack(d);
    for (double& v : shared) v = g(rng);
    Rows x(n, std::vector<double>(d));
    for (std::size_t i = 0; i < benign; ++i)
      for (std::size_t j = 0; j < d; ++j) x[i][j] = shared[j] + offset[i][j] + 0.8 * g(rng);
    // The attack: benign-looking (a benign client's distribution), shared by the Sybils.
    for (std::size_t j = 0; j < d; ++j) attack[j] = shared[j] + cluster[0][j] + 0.7 * g(rng);
    const double attack_norm = std::sqrt(dot(attack, attack));
    for (std::size_t i = benign; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j)
        x[i][j] = attack[j] + 0.3 * attack_norm / std::sqrt(double(d)) * g(rng);
    x = as_float32(std::move(x));
    const std::vector<float> data = floats(x);
    RoundInput in;
    in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
    in.client_ids = ids;
    const RoundResult res = engine.process_round(in);
    std::size_t caught = 0;
    for (const Rejection& rej : res.rejections) {
      if (rej.client < benign) {
        benign_history += rej.code == ReasonCode::kHistoryOutlier;
        EXPECT_NE(rej.code, ReasonCode::kHistoryOutlier)
            << "round " << r << " seed " << seed << ": " << rej.detail;
      } else {
        caught += rej.code == ReasonCode::kHistoryOutlier;
        collusion_on_sybils += rej.code == ReasonCode::kCollusion;
        if (rej.code == ReasonCode::kHistoryOutlier) {
          EXPECT_EQ(rej.values.at("history_rounds"), double(r + 1)) << rej.detail;
          EXPECT_LT(rej.values.at("history"), 0.25) << rej.detail;
        }
      }
    }
    if (r == 0) {  // one round: no history yet
      EXPECT_EQ(res.scores.count("detect_history"), 0u);
    }
    if (caught == sybils && first_caught == rounds) first_caught = r;
  }
  EXPECT_EQ(collusion_on_sybils, 0u)
      << "the per-round copies must be beyond the collusion signal's bound";
  EXPECT_EQ(benign_history, 0u);
  // rho between two Sybils' histories after R rounds ~ 0.42 / sqrt(R): below 0.25 from R = 3,
  // with the sketch's ~9% relative error on distances and the z's tail on top: all eight
  // caught in one round by R = 5-7 (seen over 100 seeds); the bound leaves a margin.
  EXPECT_LE(first_caught, 8u) << "seed " << seed;
}

// Own baselines (docs/detection.md): over 50 rounds, a float64 replica of the rule written
// here (the bias-corrected EWMAs of each client's accepted share and of its norm z over the
// rounds it was accepted; the cut widened on the baseline's side only, by at most the cap,
// once 5 accepted rounds and a share >= 0.5 are there) decides every client of every round
// exactly as the engine does; a client that always stands at the edge of the spread is
// spared by it at least once, one caught from its first round never is, nor one whose habit
// stopped counting when it was caught in most rounds; the state file
// carries the baselines bit for bit (a resumed engine decides the next rounds identically).
// (With 40 rounds, the edge client 4 sd out and the caught one 9, 3 of 2,000 seeds failed: the
// edge client's accepted share hovered about its half and it was never spared (twice), and once
// the round's log-norm scale came out twice its usual size and put the caught client at z 3.5,
// inside the cut.)
TEST(DetectionEngine, OwnBaselineWidensTheCutOfAHabitualEdgeClientOnly) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 30, d = 400, rounds = 50, edge = 0, caught = 1, turned = 2;
  const double rate = 0.1, cap = 2.0, cap_low = 6.0, min_accepted = 0.5;
  const std::size_t min_rounds = 5;
  // The norm signal alone, without the absolute cap: the rule under test decides by itself.
  const std::string config =
      R"({"preset": "recommended", "f": 3, "detection": {"direction": 0, "sign": 0,
          "collusion": 0, "history": 0, "history_direction": 0, "history_response": 0,
          "spectral_group": 0,
          "max_norm_ratio": 0, "baseline_rate": 0.1, "baseline_cap": 2,
          "baseline_min_rounds": 5, "baseline_min_accepted": 0.5}})";
  Engine engine(EngineConfig::from_json(config));
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("c" + std::to_string(i));
  struct Ref {
    double share_sum = 0, share_w = 0, z_sum = 0, z_w = 0;
    std::size_t z_rounds = 0;
  };
  std::vector<Ref> ref(n);
  const double cut = detection::calibrated_cut(0.002, n, true);
  std::size_t edge_spared = 0, caught_accepted = 0, turned_caught = 0;
  std::vector<std::uint8_t> accepted_at_30;
  const std::string path =
      ::testing::TempDir() + "/fedguard_baseline_state_" + std::to_string(seed) + ".bin";
  auto make_round = [&](std::vector<float>& data, std::size_t t) {
    data.assign(n * d, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
      // log-norms: benign N(0, 0.1^2); the edge client 3.8 sd out, the caught one 12; the turned
      // one 2 sd out for ten rounds (a habit), then 10 (caught ten times: its share of accepted
      // rounds falls below a half), then 6: inside the cut its habit would give it, mostly
      // outside the round's. (The robust z of these comes out about 0.8 of the sd's: the
      // median and MAD include the three.)
      const double turned_z = t < 10 ? 2.0 : t < 20 ? 10.0 : 6.0;
      const double log_norm = i == edge     ? 0.1 * (3.8 + 0.7 * g(rng))
                              : i == caught ? 0.1 * (12.0 + 0.3 * g(rng))
                              : i == turned ? 0.1 * (turned_z + 0.2 * g(rng))
                                            : 0.1 * g(rng);
      std::vector<double> v(d);
      double s2 = 0;
      for (double& x : v) {
        x = g(rng);
        s2 += x * x;
      }
      for (std::size_t j = 0; j < d; ++j)
        data[i * d + j] = static_cast<float>(v[j] / std::sqrt(s2) * std::exp(log_norm));
    }
  };
  for (std::size_t t = 0; t < rounds; ++t) {
    std::vector<float> data;
    make_round(data, t);
    RoundInput in;
    in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
    in.client_ids = ids;
    if (t == 30) engine.save_state(path);
    const RoundResult r = engine.process_round(in);
    if (t == 30) accepted_at_30 = r.accepted;
    const std::vector<double>& z = r.scores.at("detect_norm");
    std::size_t widened = 0, spared = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const Ref& c = ref[i];
      double b = 0;
      if (c.share_w > 0 && c.share_sum / c.share_w >= min_accepted && c.z_rounds >= min_rounds)
        b = std::clamp(c.z_sum / c.z_w, -cap_low, cap);
      const bool fires = z[i] > cut + std::max(b, 0.0) || z[i] < -(cut - std::min(b, 0.0));
      ASSERT_EQ(r.accepted[i] == 0, fires) << "round " << t << " client " << i << " z " << z[i]
                                           << " baseline " << b << " seed " << seed;
      edge_spared += i == edge && !fires && z[i] > cut;
      widened += b != 0;
      spared += !fires && std::fabs(z[i]) > cut;
      caught_accepted += i == caught && !fires;
      // Caught inside the cut its habit would have given it: the habit no longer counted.
      turned_caught += i == turned && t >= 20 && fires && z[i] < cut + cap;
    }
    // The round's metrics count them (docs/monitoring.md).
    ASSERT_TRUE(r.metrics.count("detect_baseline_widened") &&
                r.metrics.count("detect_baseline_spared"));
    EXPECT_EQ(r.metrics.at("detect_baseline_widened"), static_cast<double>(widened)) << t;
    EXPECT_EQ(r.metrics.at("detect_baseline_spared"), static_cast<double>(spared)) << t;
    for (std::size_t i = 0; i < n; ++i) {
      Ref& c = ref[i];
      // The norm signal alone: a rejection below the median is its lower tail alone, which
      // counts as accepted for the baselines (baseline_small_norm, on by default).
      const bool counts = r.accepted[i] || z[i] < 0;
      c.share_sum = (1 - rate) * c.share_sum + rate * (counts ? 1.0 : 0.0);
      c.share_w = (1 - rate) * c.share_w + rate;
      if (!counts) continue;
      c.z_sum = (1 - rate) * c.z_sum + rate * z[i];
      c.z_w = (1 - rate) * c.z_w + rate;
      ++c.z_rounds;
    }
  }
  EXPECT_GE(edge_spared, 1u) << "seed " << seed;
  EXPECT_EQ(caught_accepted, 0u) << "seed " << seed;
  EXPECT_GE(turned_caught, 1u) << "seed " << seed;
  // The file written before round 30 reads back and writes out byte for byte, and an engine
  // resumed from it decides round 30 as the original did.
  Engine resumed(EngineConfig::from_json(config));
  resumed.load_state(path);
  const std::string again =
      ::testing::TempDir() + "/fedguard_baseline_state2_" + std::to_string(seed) + ".bin";
  resumed.save_state(again);
  auto bytes = [](const std::string& file) {
    std::ifstream f(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(bytes(path), bytes(again));
  EXPECT_NE(bytes(path).find("\"baseline\""), std::string::npos);
  rng.seed(seed);
  std::vector<float> data;
  for (std::size_t t = 0; t <= 30; ++t) make_round(data, t);
  RoundInput in;
  in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
  in.client_ids = ids;
  EXPECT_EQ(resumed.process_round(in).accepted, accepted_at_30);
  // A round that fails (every update non-finite: nobody left to aggregate) changes no baseline
  // or share: the state file after it is the one before it, byte for byte.
  resumed.save_state(again);
  std::vector<float> poisoned(n * d, std::numeric_limits<float>::quiet_NaN());
  RoundInput broken;
  broken.updates = UpdateView(poisoned.data(), n, d, DType::kFloat32);
  broken.client_ids = ids;
  EXPECT_THROW(resumed.process_round(broken), Error);
  const std::string after =
      ::testing::TempDir() + "/fedguard_baseline_state3_" + std::to_string(seed) + ".bin";
  resumed.save_state(after);
  EXPECT_EQ(bytes(again), bytes(after));
  std::remove(after.c_str());
  std::remove(path.c_str());
  std::remove(again.c_str());
}

// The own baselines' caps by side (docs/detection.md, "Caps by side", "Small from the start"):
// four clients drift slowly from the bulk to about 8 sd out, one each up and down in log-norm
// and in sign balance, so that they are accepted while their habits build; a fifth is small from
// its first round (8 sd below in log-norm), a sixth out in sign balance from its first round (8
// sd above). A float64 replica of the rule (the EWMAs of each signal's z over the rounds that
// count: accepted ones; with `baseline_small_norm`, those the norm's lower tail alone rejected,
// with their norm z only; with `baseline_sign_only`, those the sign balance alone rejected; the
// norm's baseline clamped to [-baseline_cap_norm_low, baseline_cap], the sign's to
// +-baseline_cap_sign; the sign z is the engine's, over the clients the norm kept) decides every
// client of every round as the engine does, with the switches in three settings. The norm's
// upper side is held at 2: its drifter is caught inside the cut a cap of 6 would give; the sign
// drifters are spared beyond the cut a cap of 2 would give; the small client is spared only
// with `baseline_small_norm`, the one out in sign balance only with `baseline_sign_only`.
TEST(DetectionEngine, OwnBaselineCapsTheNormsUpperSideOnly) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = 40, d = 2000, rounds = 60;
  const std::size_t norm_up = 0, norm_down = 1, sign_up = 2, sign_down = 3, small = 4, sign_out = 5;
  const double rate = 0.1, cap_high = 2.0, cap_low = 6.0, cap_sign = 6.0;
  struct Counts {
    std::size_t up_caught = 0, down_spared = 0, sign_up_spared = 0, sign_down_spared = 0,
                small_spared = 0, sign_out_spared = 0;
  };
  const auto run = [&](bool small_counts, bool sign_counts) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::string config =
        std::string(R"({"preset": "recommended", "f": 4, "detection": {"direction": 0,
          "collusion": 0, "history": 0, "history_direction": 0, "history_response": 0,
          "spectral_group": 0, "history_group": 0, "max_norm_ratio": 0, "baseline_rate": 0.1,
          "baseline_cap": 2, "baseline_cap_norm_low": 6, "baseline_cap_sign": 6,
          "baseline_min_rounds": 5, "baseline_min_accepted": 0.5, "baseline_small_norm": )") +
        (small_counts ? "true" : "false") +
        ", \"baseline_sign_only\": " + (sign_counts ? "true" : "false") + "}}";
    Engine engine(EngineConfig::from_json(config));
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) ids.push_back("c" + std::to_string(i));
    struct Ref {
      double share_sum = 0, share_w = 0;
      double sum[2] = {0, 0}, w[2] = {0, 0};  // norm, sign
      std::size_t rounds[2] = {0, 0};
    };
    std::vector<Ref> ref(n);
    const double cut_norm = detection::calibrated_cut(0.002, n, true);
    Counts out;
    for (std::size_t t = 0; t < rounds; ++t) {
      // The drifters' offset in sd: 0 for five rounds, then 0.15 a round up to 8 (the EWMA's
      // lag at that slope, 1.35 z, stays inside the cut with room for the round's scale
      // estimate to move the z by 1-2; at 0.25 a round, a lag of 2.25, 2 seeds in 300 had a
      // sign drifter outrun its habit and lose it), then held.
      const double drift = std::min(8.0, t < 5 ? 0.0 : 0.15 * static_cast<double>(t - 5));
      std::vector<float> data(n * d);
      for (std::size_t i = 0; i < n; ++i) {
        // log-norm sd 0.1; share of positive coordinates 0.5 + 0.05 N(0, 1) (sign balance sd
        // 0.1, beside its sampling noise of 0.022 at this d). The five's own noise is a third
        // of the bulk's: a habit, not a scatter.
        const double own = i <= sign_out ? 0.3 : 1.0;
        const double log_norm = 0.1 * (own * g(rng) + (i == norm_up     ? drift
                                                       : i == norm_down ? -drift
                                                       : i == small     ? -8.0
                                                                        : 0.0));
        const double p = std::clamp(0.5 + 0.05 * (own * g(rng) + (i == sign_up     ? drift
                                                                  : i == sign_down ? -drift
                                                                  : i == sign_out  ? 8.0
                                                                                   : 0.0)),
                                    0.02, 0.98);
        const std::vector<double> v = unit_sign_row(d, p, rng, u);
        for (std::size_t j = 0; j < d; ++j)
          data[i * d + j] = static_cast<float>(v[j] * std::exp(log_norm));
      }
      RoundInput in;
      in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
      in.client_ids = ids;
      const RoundResult r = engine.process_round(in);
      const std::vector<double>& zn = r.scores.at("detect_norm");
      const std::vector<double>& zs = r.scores.at("detect_sign");
      std::size_t kept = 0;
      for (std::size_t i = 0; i < n; ++i) kept += std::isfinite(zs[i]);
      const double cut_sign = detection::calibrated_cut(0.002, kept, true);
      std::vector<std::uint8_t> counts(n);
      for (std::size_t i = 0; i < n; ++i) {
        const Ref& c = ref[i];
        double b[2] = {0, 0};
        if (c.share_w > 0 && c.share_sum / c.share_w >= 0.5) {
          if (c.rounds[0] >= 5) b[0] = std::clamp(c.sum[0] / c.w[0], -cap_low, cap_high);
          if (c.rounds[1] >= 5) b[1] = std::clamp(c.sum[1] / c.w[1], -cap_sign, cap_sign);
        }
        const auto fires = [](double z, double cut, double own) {
          return z > cut + std::max(own, 0.0) || z < -(cut - std::min(own, 0.0));
        };
        const bool by_norm = fires(zn[i], cut_norm, b[0]);
        EXPECT_EQ(std::isfinite(zs[i]), !by_norm) << "round " << t << " client " << i;
        const bool by_sign = !by_norm && fires(zs[i], cut_sign, b[1]);
        EXPECT_EQ(r.accepted[i] == 0, by_norm || by_sign)
            << "round " << t << " client " << i << " norm z " << zn[i] << " baseline " << b[0]
            << " sign z " << zs[i] << " baseline " << b[1] << " seed " << seed;
        counts[i] =
            r.accepted[i] || (small_counts && by_norm && zn[i] < 0) || (sign_counts && by_sign);
        out.up_caught += i == norm_up && by_norm && zn[i] < cut_norm + cap_low;
        out.down_spared += i == norm_down && !by_norm && zn[i] < -(cut_norm + cap_high);
        out.sign_up_spared += i == sign_up && !by_sign && zs[i] > cut_sign + cap_high;
        out.sign_down_spared += i == sign_down && !by_sign && zs[i] < -(cut_sign + cap_high);
        out.small_spared += i == small && r.accepted[i];
        out.sign_out_spared += i == sign_out && r.accepted[i];
      }
      for (std::size_t i = 0; i < n; ++i) {
        Ref& c = ref[i];
        c.share_sum = (1 - rate) * c.share_sum + rate * counts[i];
        c.share_w = (1 - rate) * c.share_w + rate;
        if (!counts[i]) continue;
        const double z[2] = {zn[i], std::isfinite(zs[i]) ? zs[i] : std::nan("")};
        for (int s = 0; s < 2; ++s) {
          if (!std::isfinite(z[s])) continue;
          c.sum[s] = (1 - rate) * c.sum[s] + rate * z[s];
          c.w[s] = (1 - rate) * c.w[s] + rate;
          ++c.rounds[s];
        }
      }
    }
    return out;
  };
  const Counts on = run(true, false), off = run(false, false), sign = run(true, true);
  for (const Counts& c : {on, off, sign}) {
    EXPECT_GE(c.up_caught, 1u) << "seed " << seed;
    EXPECT_GE(c.sign_up_spared, 1u) << "seed " << seed;
    EXPECT_GE(c.sign_down_spared, 1u) << "seed " << seed;
  }
  // Without the switch a jump of the round's scale can still put the small drifter out for a
  // few rounds running and cost it its habit (its share falls); with it, those rounds count.
  EXPECT_GE(on.down_spared, 1u) << "seed " << seed;
  EXPECT_GE(on.small_spared, 20u) << "seed " << seed;
  EXPECT_EQ(off.small_spared, 0u) << "seed " << seed;
  // The client out in sign balance from its first round builds a habit only with
  // baseline_sign_only.
  EXPECT_GE(sign.sign_out_spared, 20u) << "seed " << seed;
  EXPECT_EQ(on.sign_out_spared, 0u) << "seed " << seed;
}

// The cap on the norm ratio (max_norm_ratio) widened by a client's own norm baseline b > 0 by the
// factor b widens its z cut, exp(b x the round's log-norm scale) (docs/detection.md, "The cap
// widened by the baseline"). A federation whose log-norms spread by 0.45 (the cap
// of 3x binds from z 2.4, inside the z cut of 3.5), where client 0 sits at z 2.1 for 15 rounds
// (accepted: a habit, its baseline capped at 2), then at z 3.6 (5x the median norm: past the cap,
// inside its widened cut); client 1 is ordinary, then jumps to z 3.6 (no habit: the cap holds);
// client 2 builds client 0's habit, then goes to z 5.1 (inside its widened z cut of 5.5, past its
// widened cap, 3 e^(2 x 0.45) ~ 7.4x, at ~10x); clients 3-5 do what client 0 does, as a
// coalition: each update 0.906 of one shared direction and 0.424 of its own (normalised
// distance 0.6 between them: no near-duplicates, but their collusion z far past its cut), so
// their caps are not widened. A float64 replica (log-norms, median norm and scale from the data;
// the EWMA of the engine's norm z over the accepted rounds, clamped to [-6, 2], used from 5 such
// rounds at an accepted share of a half; widened only where the engine's collusion z is inside
// the collusion cut) decides every client of every round as the engine does, with the switch on
// and off; the rejections carry the widened cap.
TEST(DetectionEngine, OwnBaselineWidensTheNormCapByTheFactorOfItsCut) {
  const std::uint64_t seed = test_seed();
  const std::size_t n = 40, d = 2000, rounds = 30;
  const double spread = 0.45, rate = 0.1;
  struct Counts {
    std::size_t habit_spared = 0, jumper_caught = 0, overshoot_caught_by_cap = 0,
                coalition_caught = 0;
  };
  const auto run = [&](bool widen) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::string config =
        std::string(R"({"preset": "recommended", "f": 4, "detection": {"direction": 0,
          "sign": 0, "collusion": 0.002, "history": 0, "history_direction": 0,
          "history_response": 0, "spectral_group": 0, "history_group": 0, "max_norm_ratio": 3,
          "baseline_rate": 0.1, "baseline_cap": 2, "baseline_cap_norm_low": 6,
          "baseline_min_rounds": 5, "baseline_min_accepted": 0.5,
          "baseline_small_norm": false, "loner_norm_cap": false, "baseline_norm_cap": )") +
        (widen ? "true" : "false") + "}}";
    Engine engine(EngineConfig::from_json(config));
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) ids.push_back("c" + std::to_string(i));
    std::vector<double> share_sum(n, 0), share_w(n, 0), sum(n, 0), w(n, 0);
    std::vector<std::size_t> counted(n, 0);
    const double cut = detection::calibrated_cut(0.002, n, true);
    const double collusion_cut = detection::calibrated_cut(
        -std::expm1(std::log1p(-0.002) / static_cast<double>(n - 1)), n, false);
    const auto coalition = [](std::size_t i) { return i >= 3 && i <= 5; };
    Counts out;
    for (std::size_t t = 0; t < rounds; ++t) {
      const bool after = t >= 15;
      std::vector<float> data(n * d);
      std::vector<double> norms(n), log_norms(n);
      const std::vector<double> shared = unit_sign_row(d, 0.5, rng, u);
      for (std::size_t i = 0; i < n; ++i) {
        const double at = i == 0 || coalition(i) ? (after ? 3.6 : 2.1)
                          : i == 1               ? (after ? 3.6 : 0.0)
                          : i == 2               ? (after ? 5.1 : 2.1)
                                                 : 0.0;
        const double own = i <= 5 ? 0.1 : 1.0;  // the six keep to their level
        const double log_norm = spread * (own * g(rng) + at);
        std::vector<double> v = unit_sign_row(d, 0.5, rng, u);
        if (coalition(i)) {
          for (std::size_t j = 0; j < d; ++j) v[j] = 0.906 * shared[j] + 0.424 * v[j];
          to_unit(v);
        }
        double f2 = 0;
        for (std::size_t j = 0; j < d; ++j) {
          data[i * d + j] = static_cast<float>(v[j] * std::exp(log_norm));
          f2 += double(data[i * d + j]) * double(data[i * d + j]);
        }
        norms[i] = std::sqrt(f2);
        log_norms[i] = std::log(norms[i]);
      }
      const double median_norm = bf_median(norms);
      const double scale = bf_location(log_norms, 0.05).second;
      RoundInput in;
      in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
      in.client_ids = ids;
      const RoundResult r = engine.process_round(in);
      const std::vector<double>& zn = r.scores.at("detect_norm");
      const std::vector<double>& zc = r.scores.at("detect_collusion");
      for (std::size_t i = 0; i < n; ++i) {
        double b = 0;
        if (share_w[i] > 0 && share_sum[i] / share_w[i] >= 0.5 && counted[i] >= 5)
          b = std::clamp(sum[i] / w[i], -6.0, 2.0);
        const double ratio = norms[i] / median_norm;
        const bool loner = zc[i] >= -collusion_cut;
        if (coalition(i)) {
          EXPECT_FALSE(loner) << "round " << t << " client " << i << " z " << zc[i];
        }
        const double cap = 3.0 * (widen && b > 0 && loner ? std::exp(b * scale) : 1.0);
        const bool by_z = zn[i] > cut + std::max(b, 0.0) || zn[i] < -(cut - std::min(b, 0.0));
        const bool by_cap = ratio > cap;
        EXPECT_EQ(r.accepted[i] == 0, by_z || by_cap)
            << "round " << t << " client " << i << " z " << zn[i] << " baseline " << b << " ratio "
            << ratio << " cap " << cap << " seed " << seed;
        for (const Rejection& rej : r.rejections) {
          if (rej.client != i) continue;
          const auto it = rej.values.find("norm_cap");
          EXPECT_EQ(it != rej.values.end(), cap != 3.0) << "round " << t << " client " << i;
          if (it != rej.values.end()) {
            EXPECT_NEAR(it->second, cap, 1e-6 * cap);
          }
        }
        if (after) {
          out.habit_spared += i == 0 && r.accepted[i] && ratio > 3.0;
          out.coalition_caught += coalition(i) && !r.accepted[i];
          out.jumper_caught += i == 1 && !r.accepted[i];
          out.overshoot_caught_by_cap += i == 2 && !r.accepted[i] && !by_z;
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        const double counts = r.accepted[i] ? 1.0 : 0.0;
        share_sum[i] = (1 - rate) * share_sum[i] + rate * counts;
        share_w[i] = (1 - rate) * share_w[i] + rate;
        if (!r.accepted[i]) continue;
        sum[i] = (1 - rate) * sum[i] + rate * zn[i];
        w[i] = (1 - rate) * w[i] + rate;
        ++counted[i];
      }
    }
    return out;
  };
  const Counts on = run(true), off = run(false);
  EXPECT_GE(on.habit_spared, 10u) << "seed " << seed;
  EXPECT_EQ(off.habit_spared, 0u) << "seed " << seed;
  EXPECT_GE(on.jumper_caught, 14u) << "seed " << seed;
  // The coalition's habit is not enough: each member caught by the cap after its step.
  EXPECT_GE(on.coalition_caught, 3 * 14u) << "seed " << seed;
  EXPECT_GE(off.jumper_caught, 14u) << "seed " << seed;
  // Past its widened cap the overshooter is caught, by the widened cap alone (3-10 of its 15
  // rounds over 40 seeds, once in 1 of 500 more; it is let in where the round's log-norm scale
  // comes out at 0.55 instead of 0.45 and widens the cap to 9x: the factor a habit of 2 z buys,
  // the bound stated in docs/detection.md; and from about its seventh rejection its accepted
  // share is under a half, its habit no longer counts and its z alone rejects it).
  EXPECT_GE(on.overshoot_caught_by_cap, 1u) << "seed " << seed;
}

// A loner's size alone (docs/detection.md): a client whose norm fires on its upper side by its z
// but not past the cap, whose collusion z is inside that signal's cut and that nothing else in
// stage A names, is judged by stage B instead of rejected for its norm. Checked against a replica
// of the rule on the z's detect() reports (the signals themselves are checked against the
// brute force above), with a ratio and the cuts computed here in float64: an aligned loner at
// 2.6x the median norm judged by stage B (and kept but in rare rounds), one at 2.6x with 30% of its
// signs made positive rejected by the sign balance (and marked), one at 4.5x (past the cap) and a
// coalition of six at 2.6x (closer to each other than the round's pairs) rejected for their norms;
// with loner_norm_cap off every norm outlier is rejected as one.
TEST(DetectionSignals, ALonersNormUnderItsCapIsJudgedByTheOtherSignals) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  const std::size_t n = 80, d = 512;
  const auto norm_of = [](const std::vector<double>& v) { return std::sqrt(dot(v, v)); };
  const auto median_of = [&](const Rows& x) {
    std::vector<double> norms;
    for (const auto& r : x) norms.push_back(norm_of(r));
    std::sort(norms.begin(), norms.end());
    return 0.5 * (norms[n / 2 - 1] + norms[n / 2]);
  };
  const double norm_cut = detection::calibrated_cut(0.002, n, true);
  const double collusion_cut = detection::calibrated_cut(
      -std::expm1(std::log1p(-0.002) / static_cast<double>(n - 1)), n, false);
  // One case a round: large clients are each other's nearest (with a common direction their
  // pairs' normalised distances are the round's smallest), so a round holds one loner.
  for (int round = 0; round < 4; ++round) {
    Rows x;
    std::unique_ptr<ScannedRound> scanned;
    // A loner's collusion z is the smallest of its pairs' residuals; for a client far from
    // everyone that row spreads more, and in about one round in twenty the constructed loners
    // of rounds 0 and 1 come out past the collusion cut: such a round is drawn again (at most
    // eight times), so that the path under test is taken; the replica below judges every round.
    for (int attempt = 0; attempt < 8; ++attempt) {
      x = benign_round(n, d, rng);
      const double typical = median_of(x);
      const auto rescale = [&](std::vector<double>& v, double ratio) {
        const double by = ratio * typical / norm_of(v);
        for (double& e : v) e *= by;
      };
      if (round == 0) rescale(x[0], 2.6);
      if (round == 1) {
        for (std::size_t j = 0; j < d * 3 / 10; ++j) x[1][j] = std::fabs(x[1][j]);  // signs moved
        rescale(x[1], 2.6);
      }
      if (round == 2) rescale(x[2], 4.5);
      if (round == 3) {
        std::vector<double> shared(d);  // the coalition's common part, 1.2x a typical norm
        for (double& e : shared) e = g(rng);
        to_unit(shared);
        for (std::size_t i = 3; i < 9; ++i) {
          for (std::size_t j = 0; j < d; ++j) x[i][j] = 0.5 * x[i][j] + 1.2 * typical * shared[j];
          rescale(x[i], 2.6);
        }
      }
      x = as_float32(std::move(x));
      scanned = std::make_unique<ScannedRound>(x);
      if (round > 1) break;
      DetectionSpec plain;
      plain.enabled = true;
      const auto z = detection::detect(plain, *scanned->space, scanned->rows, d, {}, 1).scores;
      if (z.at("detect_collusion")[static_cast<std::size_t>(round)] >= -collusion_cut) break;
    }
    const ScannedRound& s = *scanned;
    const double median_norm = median_of(x);
    for (bool on : {true, false}) {
      const std::string at = "round " + std::to_string(round) + " on " + std::to_string(on) +
                             " seed " + std::to_string(seed);
      DetectionSpec spec;
      spec.enabled = true;
      spec.loner_norm_cap = on;
      const auto out = detection::detect(spec, *s.space, s.rows, d, {}, 1);
      const std::vector<double>& norm_z = out.scores.at("detect_norm");
      const std::vector<double>& collusion_z = out.scores.at("detect_collusion");
      std::vector<std::uint8_t> deferred(n, 0), norm_fires(n, 0);
      std::size_t loners = 0;
      for (std::size_t a = 0; a < n; ++a) {
        const double ratio = norm_of(x[a]) / median_norm;
        norm_fires[a] = std::fabs(norm_z[a]) > norm_cut || ratio > spec.max_norm_ratio;
        deferred[a] = on && norm_z[a] > norm_cut && ratio <= spec.max_norm_ratio &&
                      collusion_z[a] >= -collusion_cut;
        loners += deferred[a];
      }
      std::map<std::size_t, const detection::Finding*> found;
      for (const auto& f : out.findings) found[f.index] = &f;
      EXPECT_EQ(out.norm_loners, loners) << at;
      for (std::size_t a = 0; a < n; ++a) {
        const auto it = found.find(a);
        if (deferred[a]) {
          EXPECT_TRUE(std::isfinite(out.scores.at("detect_spectral_group")[a]))
              << "a loner judged despite its size is scored by the spectral group: " << a << " "
              << at;
          if (it == found.end()) continue;
          EXPECT_NE(it->second->code, ReasonCode::kNormOutlier) << a << " " << at;
          EXPECT_EQ(it->second->values.count("norm_loner"), 1u) << a << " " << at;
        } else if (norm_fires[a]) {
          ASSERT_NE(it, found.end()) << "norm outlier " << a << " kept, " << at;
          EXPECT_EQ(it->second->code, ReasonCode::kNormOutlier) << a << " " << at;
          EXPECT_EQ(it->second->values.count("norm_loner"), 0u) << a << " " << at;
        }
      }
      // The cases the round was built for, so that the replica is not vacuous.
      if (round < 3) {
        ASSERT_TRUE(norm_fires[round]) << at;
      }
      if (round == 0) {
        EXPECT_EQ(deferred[0] != 0, on) << at << " collusion z " << collusion_z[0];
        // Kept, unless a stage-B signal fires on it (about one round in 400: the replica
        // above checks that such a rejection is stage B's and marked).
        if (!on) {
          EXPECT_EQ(found.count(0), 1u) << "the aligned loner, " << at;
        }
      } else if (round == 1) {
        EXPECT_EQ(deferred[1] != 0, on) << at << " collusion z " << collusion_z[1];
        ASSERT_EQ(found.count(1), 1u) << at;
        if (on && found.at(1)->values.count("sign_z")) {
          EXPECT_GT(std::fabs(found.at(1)->values.at("sign_z")), 3) << at;
        }
      } else if (round == 2) {
        EXPECT_FALSE(deferred[2]) << "past the cap, " << at;
        EXPECT_EQ(found.count(2), 1u) << at;
      } else {
        for (std::size_t i = 3; i < 9; ++i) {
          EXPECT_LT(collusion_z[i], -collusion_cut) << "coalition member " << i << " " << at;
          ASSERT_EQ(found.count(i), 1u) << i << " " << at;
          EXPECT_EQ(found.at(i)->code, ReasonCode::kNormOutlier) << i << " " << at;
        }
      }
    }
    if (round == 0) {  // without a stage B to judge it, the loner's norm decides as before
      DetectionSpec spec;
      spec.enabled = true;
      spec.direction = spec.sign = spec.spectral_group = spec.history_direction =
          spec.history_response = 0;
      const auto out = detection::detect(spec, *s.space, s.rows, d, {}, 1);
      EXPECT_EQ(out.norm_loners, 0u) << "seed " << seed;
      ASSERT_FALSE(out.findings.empty()) << "seed " << seed;
      EXPECT_EQ(out.findings.front().index, 0u) << "seed " << seed;
      EXPECT_EQ(out.findings.front().code, ReasonCode::kNormOutlier) << "seed " << seed;
    }
  }
}

// The engine's side of a loner's size alone: the aligned loner at 2.6x the median norm is
// judged by stage B under the preset (accepted but in rare rounds) and counted in the round's
// `detect_norm_loners` metric; with loner_norm_cap off it is rejected as a norm outlier and the
// metric is absent.
TEST(DetectionEngine, ALonerJudgedDespiteItsSizeIsCountedInTheMetrics) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const std::size_t n = 80, d = 512;
  const double collusion_cut = detection::calibrated_cut(
      -std::expm1(std::log1p(-0.002) / static_cast<double>(n - 1)), n, false);
  Rows x;
  // Drawn again (at most eight times) where the loner's collusion z comes out past the cut
  // (about one round in twenty: ALonersNormUnderItsCapIsJudgedByTheOtherSignals).
  for (int attempt = 0; attempt < 8; ++attempt) {
    x = benign_round(n, d, rng);
    std::vector<double> norms;
    for (const auto& r : x) norms.push_back(std::sqrt(dot(r, r)));
    std::vector<double> sorted = norms;
    std::sort(sorted.begin(), sorted.end());
    for (double& e : x[0]) e *= 2.6 * sorted[n / 2] / norms[0];
    x = as_float32(std::move(x));
    ScannedRound s(x);
    DetectionSpec plain;
    plain.enabled = true;
    const auto z = detection::detect(plain, *s.space, s.rows, d, {}, 1).scores;
    if (z.at("detect_collusion")[0] >= -collusion_cut) break;
  }
  const std::vector<float> data = floats(x);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("c" + std::to_string(i));
  for (bool on : {true, false}) {
    Engine engine(EngineConfig::from_json(
        std::string(R"({"preset": "recommended", "f": 8, "detection": {"loner_norm_cap": )") +
        (on ? "true" : "false") + "}}"));
    RoundInput in;
    in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
    in.client_ids = ids;
    const RoundResult r = engine.process_round(in);
    const Rejection* rej = r.rejection_of("c0");
    if (on) {
      // Kept, unless a stage-B signal fires on it (rarely), which says so.
      if (rej != nullptr) {
        EXPECT_NE(rej->code, ReasonCode::kNormOutlier) << rej->detail << " seed " << seed;
        EXPECT_EQ(rej->values.count("norm_loner"), 1u) << rej->detail << " seed " << seed;
      }
      ASSERT_EQ(r.metrics.count("detect_norm_loners"), 1u);
      EXPECT_GE(r.metrics.at("detect_norm_loners"), 1.0) << "seed " << seed;
    } else {
      ASSERT_NE(rej, nullptr) << "seed " << seed;
      EXPECT_EQ(rej->code, ReasonCode::kNormOutlier) << rej->detail;
      EXPECT_EQ(r.metrics.count("detect_norm_loners"), 0u);
    }
  }
}

TEST(DetectionEngine, PresetDegradesForSmallRoundsAndSaysSo) {
  std::mt19937_64 rng(test_seed());
  const Rows x = benign_round(9, 64, rng);
  const std::vector<float> data = floats(x);
  Engine engine(EngineConfig::recommended(std::size_t{6}));
  RoundInput in;
  in.updates = UpdateView(data.data(), 9, 64, DType::kFloat32);
  const RoundResult r = engine.process_round(in);
  bool said = false;
  for (const auto& note : r.notes) said |= note.find("f lowered from 6") != std::string::npos;
  EXPECT_TRUE(said);
  for (float v : r.aggregate) EXPECT_TRUE(std::isfinite(v));
  // Below the calibration's minimum, detection does not run, and says so.
  Engine small(EngineConfig::recommended(std::size_t{1}));
  in.updates = UpdateView(data.data(), 5, 64, DType::kFloat32);
  const RoundResult s = small.process_round(in);
  bool skipped = false;
  for (const auto& note : s.notes) skipped |= note.find("detection skipped") != std::string::npos;
  EXPECT_TRUE(skipped);
}

// The preset's f after detection (EngineConfig::for_round): lowered by the clients detection
// rejected, but not below floor(f_floor f) (here 0.25; 0 by default), nor below 1; then by the
// clients left (trimmed mean needs more than 2f); the note says which.
TEST(DetectionEngine, PresetKeepsAShareOfFAfterDetection) {
  auto f_of = [](const EngineConfig& c) {
    return c.aggregator.params.at("trim").get<std::size_t>();
  };
  EngineConfig c = EngineConfig::recommended(std::size_t{40});
  c.preset.f_floor = 0.25;
  for (std::size_t detected : {0, 3, 29, 30, 31, 37, 40, 55}) {
    std::string note;
    const EngineConfig r = c.for_round(200, 200 - detected, &note, detected);
    const std::size_t want = std::max<std::size_t>(detected >= 40 ? 1 : 40 - detected, 10);
    EXPECT_EQ(f_of(r), want) << detected;
    EXPECT_EQ(r.transforms.at(0).params.at("f").get<std::size_t>(), want) << detected;
    EXPECT_EQ(note.find("f_floor keeps 10") != std::string::npos, detected > 30) << note;
    if (detected > 0) {
      EXPECT_NE(note.find("f lowered from 40 to " + std::to_string(want)), std::string::npos)
          << note;
    }
  }
  EngineConfig old = c;
  old.preset.f_floor = 0;  // the default: every rejection lowers f, at least 1 kept
  EXPECT_EQ(EngineConfig::recommended(std::size_t{40}).preset.f_floor, 0.0);
  EXPECT_EQ(f_of(old.for_round(200, 163, nullptr, 37)), 3u);
  EXPECT_EQ(f_of(old.for_round(200, 150, nullptr, 50)), 1u);
  old.preset.f_floor = 1;  // detection lowers nothing
  EXPECT_EQ(f_of(old.for_round(200, 163, nullptr, 37)), 40u);
  // The clients left still bound it: 15 left -> at most 7.
  std::string note;
  EXPECT_EQ(f_of(c.for_round(200, 15, &note, 37)), 7u);
  EXPECT_NE(note.find("15 clients left after detection"), std::string::npos) << note;
}

TEST(DetectionEngine, PresetJsonRoundTripsAndRejectsMixedKeys) {
  const EngineConfig c = EngineConfig::from_json(R"({"preset": "recommended", "f_fraction": 0.1})");
  EXPECT_EQ(EngineConfig::from_json(c.to_json().dump()).to_json(), c.to_json());
  // f_floor: read with the preset, written back, range-checked, refused without the preset.
  const EngineConfig floor =
      EngineConfig::from_json(R"({"preset": "recommended", "f": 40, "f_floor": 0.5})");
  EXPECT_EQ(floor.preset.f_floor, 0.5);
  EXPECT_EQ(c.preset.f_floor, 0.0);
  EXPECT_EQ(EngineConfig::from_json(floor.to_json().dump()).to_json(), floor.to_json());
  for (const char* bad : {R"({"preset": "recommended", "f_floor": -0.1})",
                          R"({"preset": "recommended", "f_floor": 1.5})",
                          R"({"preset": "recommended", "f_floor": "0.2"})", R"({"f_floor": 0.2})"})
    EXPECT_THROW(EngineConfig::from_json(bad), Error) << bad;
  EXPECT_THROW(
      EngineConfig::from_json(R"({"preset": "recommended", "aggregator": {"rule": "mean"}})"),
      Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"preset": "recommended", "f": 2, "f_fraction": 0.1})"),
               Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"preset": "best"})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"f": 3})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"norm": 0.7}})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"unknown": 1}})"), Error);
  // The history direction's budget: read, written back, range-checked like every budget.
  const EngineConfig h = EngineConfig::from_json(R"({"detection": {"history_direction": 0.01}})");
  EXPECT_EQ(h.detection.history_direction, 0.01);
  EXPECT_EQ(EngineConfig::from_json(h.to_json().dump()).to_json(), h.to_json());
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"history_direction": -0.1}})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"history_direction": 0.5}})"), Error);
  // The own baselines' four keys: read, written back, range-checked.
  const EngineConfig b = EngineConfig::from_json(
      R"({"detection": {"baseline_rate": 0.2, "baseline_cap": 1, "baseline_min_rounds": 3,
          "baseline_min_accepted": 0.8}})");
  EXPECT_EQ(b.detection.baseline_rate, 0.2);
  EXPECT_EQ(b.detection.baseline_cap, 1.0);
  EXPECT_EQ(b.detection.baseline_min_rounds, 3.0);
  EXPECT_EQ(b.detection.baseline_min_accepted, 0.8);
  EXPECT_EQ(EngineConfig::from_json(b.to_json().dump()).to_json(), b.to_json());
  const EngineConfig sides = EngineConfig::from_json(
      R"({"detection": {"baseline_cap_norm_low": 3.5, "baseline_cap_sign": 0,
          "baseline_small_norm": false, "baseline_sign_only": false}})");
  EXPECT_EQ(sides.detection.baseline_cap_norm_low, 3.5);
  EXPECT_EQ(sides.detection.baseline_cap_sign, 0.0);
  EXPECT_FALSE(sides.detection.baseline_small_norm);
  EXPECT_TRUE(EngineConfig().detection.baseline_small_norm);
  EXPECT_FALSE(sides.detection.baseline_sign_only);
  EXPECT_TRUE(EngineConfig().detection.baseline_sign_only);
  EXPECT_TRUE(EngineConfig().detection.baseline_norm_cap);
  const EngineConfig plain =
      EngineConfig::from_json(R"({"detection": {"baseline_norm_cap": false}})");
  EXPECT_FALSE(plain.detection.baseline_norm_cap);
  EXPECT_EQ(EngineConfig::from_json(plain.to_json().dump()).to_json(), plain.to_json());
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"baseline_norm_cap": 1}})"), Error);
  // loner_norm_cap: a switch, on by default.
  EXPECT_TRUE(EngineConfig().detection.loner_norm_cap);
  const EngineConfig no_loners =
      EngineConfig::from_json(R"({"detection": {"loner_norm_cap": false}})");
  EXPECT_FALSE(no_loners.detection.loner_norm_cap);
  EXPECT_EQ(no_loners.to_json()["detection"]["loner_norm_cap"], false);
  EXPECT_EQ(EngineConfig::from_json(no_loners.to_json().dump()).to_json(), no_loners.to_json());
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"loner_norm_cap": 0}})"), Error);
  // direction_group: a budget, off by default.
  EXPECT_EQ(EngineConfig().detection.direction_group, 1e-7);
  const EngineConfig grouped =
      EngineConfig::from_json(R"({"detection": {"direction_group": 1e-7}})");
  EXPECT_EQ(grouped.detection.direction_group, 1e-7);
  EXPECT_EQ(EngineConfig::from_json(grouped.to_json().dump()).to_json(), grouped.to_json());
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"direction_group": 0.5}})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"direction_group": -1e-7}})"), Error);
  // direction_group_max_alignment: 0.7 by default, in (0, 1].
  EXPECT_EQ(EngineConfig().detection.direction_group_max_alignment, 0.7);
  EXPECT_EQ(EngineConfig::from_json(R"({"detection": {"direction_group_max_alignment": 1}})")
                .detection.direction_group_max_alignment,
            1.0);
  for (const char* bad : {R"({"detection": {"direction_group_max_alignment": 0}})",
                          R"({"detection": {"direction_group_max_alignment": 1.5}})",
                          R"({"detection": {"direction_group_max_alignment": "high"}})"})
    EXPECT_THROW(EngineConfig::from_json(bad), Error) << bad;
  EXPECT_THROW(EngineConfig::from_json(R"({"detection": {"baseline_small_norm": 1}})"), Error);
  EXPECT_EQ(EngineConfig().detection.baseline_cap_norm_low, 6.0);
  EXPECT_EQ(EngineConfig().detection.baseline_cap_sign, 6.0);
  EXPECT_EQ(EngineConfig::from_json(sides.to_json().dump()).to_json(), sides.to_json());
  for (const char* bad :
       {R"({"detection": {"baseline_rate": 1}})", R"({"detection": {"baseline_rate": -0.1}})",
        R"({"detection": {"baseline_cap": 6}})", R"({"detection": {"baseline_cap_sign": 11}})",
        R"({"detection": {"baseline_cap_norm_low": -1}})",
        R"({"detection": {"baseline_min_rounds": 2.5}})",
        R"({"detection": {"baseline_min_rounds": 0}})",
        R"({"detection": {"baseline_min_accepted": 1.5}})"})
    EXPECT_THROW(EngineConfig::from_json(bad), Error) << bad;
}

TEST(Rejections, EveryCodeHasANameAndAStage) {
  for (int c = 0; c <= static_cast<int>(ReasonCode::kNotSelected); ++c) {
    const auto code = static_cast<ReasonCode>(c);
    const std::string name = reason_code_name(code);
    ASSERT_FALSE(name.empty());
    ASSERT_EQ(reason_code_from_name(name), code) << name;
  }
}

}  // namespace
}  // namespace fedguard::test
