// Signals of the detection stage. Sources: the norm and sign features follow SignGuard (Xu et
// al., "SignGuard: Byzantine-robust Federated Learning through Collaborative Malicious Gradient
// Filtering", ICDCS 2022); the spectral score is DnC's (Shejwalkar & Houmansadr, NDSS 2021),
// exact (all coordinates); collusion follows the observation of FoolsGold (Fung et al., RAID
// 2020) that Sybils submit near-identical updates, scored per round; the history signals score
// the same statistics over FoolsGold's cumulative per-client histories (sketched). Departures:
// every statistic is a robust z against the round's own clients with a cut-off from a false-alarm
// budget (robust.h) instead of the papers' clustering or fixed removal counts; the spectral
// projection is taken around the core's mean (robust) instead of the plain mean, so that the
// attackers cannot drag the centre they are measured from.
#include "detection/signals.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/cube_root.h"
#include "detection/robust.h"
#include "fedguard/error.h"
#include "geometry/spectral.h"

namespace fedguard::detection {
namespace {

std::vector<double> z_scores(const std::vector<double>& v, double floor = 0) {
  const Location at = robust_location(v, floor);
  std::vector<double> z(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) z[i] = robust_z(v[i], at);
  return z;
}

// The team for an O(m^2) loop: small rounds stay on the calling thread (a parallel region's
// wake-up costs more than their work).
int team(int threads, std::size_t m) {
  if (m < 128) return 1;
  return threads > 0 ? threads : omp_get_max_threads();
}

// The median of each row a of an m x m matrix entry(a, b) over b != a; rows on a team of
// `workers` threads, one writer per row, so the result does not depend on the team.
template <class Entry>
std::vector<double> off_diagonal_row_medians(std::size_t m, int workers, Entry entry) {
  std::vector<double> out(m);
#pragma omp parallel num_threads(workers)
  {
    std::vector<double> row;
    row.reserve(m);
#pragma omp for schedule(static)
    for (std::size_t a = 0; a < m; ++a) {
      row.clear();
      for (std::size_t b = 0; b < m; ++b)
        if (b != a) row.push_back(entry(a, b));
      out[a] = median_in_place(row);
    }
  }
  return out;
}

// f(a, b) for every a < b of an m x m matrix, by 64 x 64 tiles of the upper triangle on a team
// of `workers`, each tile on one thread: a body that also writes (b, a) writes the mirrored
// tile while it is in cache (row by row, the mirror's writes went one cache line per entry).
template <class Body>
void for_upper_tiles(std::size_t m, int workers, Body body) {
  constexpr std::size_t kTile = 64;
  const std::size_t tiles = (m + kTile - 1) / kTile;
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
  for (std::size_t t = 0; t < tiles * tiles; ++t) {
    const std::size_t ta = t / tiles, tb = t % tiles;
    if (tb < ta) continue;
    const std::size_t a_end = std::min(m, (ta + 1) * kTile), b_end = std::min(m, (tb + 1) * kTile);
    for (std::size_t a = ta * kTile; a < a_end; ++a)
      for (std::size_t b = std::max(a + 1, tb * kTile); b < b_end; ++b) body(a, b);
  }
}

double safe_cos(double dot, double a, double b) {
  if (!(a > 0) || !(b > 0)) return 0;
  return std::clamp(dot / (a * b), -1.0, 1.0);
}

}  // namespace

SignalInput::SignalInput(const geometry::GramSpace& s, std::vector<std::size_t> idx,
                         std::size_t model_size, int cpu_threads, Workspace* ws)
    : space(s), rows(std::move(idx)), d(model_size), threads(cpu_threads), workspace(ws) {
  const std::size_t m = rows.size();
  centred = take_from(workspace, m * m);
  inner = take_from(workspace, m * m);
  space.centred_gram_of_rows(rows, centred.data(), team(threads, m));
  space.inner_gram_of_rows(rows, inner.data(), team(threads, m));
  norms.resize(rows.size());
  for (std::size_t a = 0; a < rows.size(); ++a) norms[a] = std::sqrt(space.row_norm_sq(rows[a]));
}

SignalInput::~SignalInput() {
  give_to(workspace, std::move(centred));
  give_to(workspace, std::move(inner));
}

SignalValues norm_signal(const SignalInput& in) {
  SignalValues s{"norm", Tail::kBoth, {}, {}, 1};
  for (double n : in.norms) s.value.push_back(std::log(n));
  // Scale floored at 0.05 (5% of the norm): benign clients of one data distribution can agree
  // on their norms to a fraction of a percent, and a client 3% off is not an attack.
  s.z = z_scores(s.value, kNormScaleFloor);
  return s;
}

SignalValues direction_signal(const SignalInput& in, std::vector<std::size_t>* core_out) {
  return direction_of("direction", in.inner, in.norms, core_out, in.threads);
}

SignalValues direction_of(const std::string& name, const std::vector<double>& inner,
                          const std::vector<double>& norms, std::vector<std::size_t>* core_out,
                          int threads) {
  const std::size_t m = norms.size();
  // Median cosine of each client to the others: high for the bulk of the federation.
  const std::vector<double> typical = off_diagonal_row_medians(
      m, team(threads, m),
      [&](std::size_t a, std::size_t b) { return safe_cos(inner[a * m + b], norms[a], norms[b]); });
  std::vector<std::size_t> order(m);
  for (std::size_t a = 0; a < m; ++a) order[a] = a;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return typical[x] > typical[y]; });
  std::vector<std::size_t> core(order.begin(),
                                order.begin() + static_cast<std::ptrdiff_t>((m + 1) / 2));
  std::sort(core.begin(), core.end());
  std::vector<std::uint8_t> in_core(m, 0);
  for (std::size_t a : core) in_core[a] = 1;
  // S = sum of the core; x_a . S and ||S||^2 from the inner products.
  double s_sq = 0;
  std::vector<double> dot_s(m, 0.0);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b : core) dot_s[a] += inner[a * m + b];
  for (std::size_t b : core) s_sq += dot_s[b];
  SignalValues s{name, Tail::kLower, std::vector<double>(m), {}, 1};
  for (std::size_t a = 0; a < m; ++a) {
    const double self = in_core[a] ? inner[a * m + a] : 0.0;  // leave x_a out of its own centre
    const double dot = dot_s[a] - self;
    const double centre_sq = s_sq - 2 * (in_core[a] ? dot_s[a] : 0.0) + self;
    s.value[a] = safe_cos(dot, norms[a], std::sqrt(std::max(centre_sq, 0.0)));
  }
  // Scale floored at 0.05: label-skewed benign clusters sit at slightly different cosines to
  // the centre; an attack that turns an update away from the federation (sign flip, IPM,
  // label flip) moves it by several tenths.
  s.z = z_scores(s.value, kDirectionScaleFloor);
  if (core_out) *core_out = std::move(core);
  return s;
}

SignalValues sign_signal(const SignalInput& in, bool zero_fraction) {
  const std::size_t m = in.rows.size();
  std::vector<double> balance(m), zeros(m);
  for (std::size_t a = 0; a < m; ++a) {
    const auto f = in.space.sign_fractions(in.rows[a]);  // positive, zero, negative
    balance[a] = f[0] - f[2];
    zeros[a] = f[1];
  }
  // The zero fraction is often the same for every client (no exact zeros in dense float
  // updates): its scale is floored at 1/sqrt(d), the binomial spread of a fraction over d
  // coordinates, so that a constant feature does not make every difference infinitely rare.
  const double floor = 1.0 / std::sqrt(static_cast<double>(std::max<std::size_t>(in.d, 1)));
  // The balance's own binomial spread is also about 1/sqrt(d): below it, differences are the
  // coin flips of the coordinates (a 50-parameter model), not a shift.
  const std::vector<double> zb = z_scores(balance, std::max(kSignBalanceScaleFloor, floor)),
                            zz = z_scores(zeros, floor);
  SignalValues s{"sign", Tail::kBoth, std::vector<double>(m), std::vector<double>(m), 1};
  if (!zero_fraction) {
    s.value = balance;
    s.z = zb;
    return s;
  }
  for (std::size_t a = 0; a < m; ++a) {
    const bool zero_wins = std::fabs(zz[a]) > std::fabs(zb[a]);
    s.z[a] = zero_wins ? zz[a] : zb[a];
    s.value[a] = zero_wins ? zeros[a] : balance[a];
  }
  // Two features: each is cut at half the budget (detector.cc), a Bonferroni split.
  s.comparisons = 2;
  return s;
}

namespace {

// Projections of the clients `score` on the top principal direction of the clients `fit`,
// all re-centred on the core's mean z: with K the centred Gram (any common centre cancels)
// and y_a = x_a - z, the direction is u = Y_fit^T w / sqrt(l) for the top eigenpair (l, w)
// of Y_fit Y_fit^T, and <y_a, u> = sum_q (Y Y^T)_aq w_q / sqrt(l).
// `top_out` (optional) receives the fit's top eigenpair.
std::vector<double> cross_projections(const SignalInput& in, const std::vector<double>& yy,
                                      const std::vector<std::size_t>& fit,
                                      const std::vector<std::size_t>& score,
                                      geometry::EigenPairs* top_out = nullptr,
                                      bool direct = false) {
  const std::size_t m = in.rows.size(), f = fit.size();
  std::vector<double> sub(f * f);
  for (std::size_t a = 0; a < f; ++a)
    for (std::size_t b = 0; b < f; ++b) sub[a * f + b] = yy[fit[a] * m + fit[b]];
  // The top pair alone: block Krylov is O(f^2) per step where the direct solver's
  // tridiagonalisation is O(f^3); the direct solver where it does not converge.
  geometry::EigenPairs top =
      f > 64 && !direct ? geometry::top_eigenpairs_krylov(sub, f, 1) : geometry::EigenPairs{};
  if (top.values.empty()) top = geometry::top_eigenpairs_direct(sub, f, 1);
  std::vector<double> out(score.size(), 0.0);
  if (top_out) *top_out = top;
  if (!(top.values[0] > 0)) return out;
  const double inv = 1 / std::sqrt(top.values[0]);
  for (std::size_t s = 0; s < score.size(); ++s) {
    double p = 0;
    for (std::size_t q = 0; q < f; ++q) p += yy[score[s] * m + fit[q]] * top.vectors[q];
    out[s] = p * inv;
  }
  return out;
}

}  // namespace

namespace {

// (x_a - z).(x_b - z) with z the core's mean: K_ab - k_a - k_b + kk, k_a = mean over the core
// of K_aq (m x m, both triangles).
// Rows on the team, one writer per value (the same bits on any team).
// `k_out` (optional) receives k.
std::vector<double> core_centred(const SignalInput& in, const std::vector<std::size_t>& core,
                                 std::vector<double>* k_out = nullptr) {
  const std::size_t m = in.rows.size();
  const int workers = team(in.threads, m);
  std::vector<double> k(m, 0.0);
  double kk = 0;
  const double q = static_cast<double>(core.size());
#pragma omp parallel for schedule(static) num_threads(workers)
  for (std::size_t a = 0; a < m; ++a) {
    double sum = 0;
    for (std::size_t c : core) sum += in.centred[a * m + c];
    k[a] = sum / q;
  }
  for (std::size_t c : core) kk += k[c];
  kk /= q;
  std::vector<double> yy = take_from(in.workspace, m * m);  // every value written below
#pragma omp parallel for schedule(static) num_threads(workers)
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) yy[a * m + b] = in.centred[a * m + b] - k[a] - k[b] + kk;
  if (k_out) *k_out = std::move(k);
  return yy;
}

}  // namespace

SignalValues spectral_signal(const SignalInput& in, const std::vector<std::size_t>& core) {
  const std::size_t m = in.rows.size();
  std::vector<double> yy = core_centred(in, core);
  // Cross-fitted: a direction fitted to a client's own update aligns with it by chance (the
  // top direction of m points in high dimension leans towards the most extreme ones), which
  // would fatten the null's tails. Each half (even / odd positions) is projected on the top
  // direction of the other half, and z'd within its half. A colluding group that dominates
  // the top direction does so in both halves.
  std::vector<std::size_t> even, odd;
  for (std::size_t a = 0; a < m; ++a) (a % 2 ? odd : even).push_back(a);
  SignalValues s{"spectral", Tail::kBoth, std::vector<double>(m), std::vector<double>(m), 1};
  for (int half = 0; half < 2; ++half) {
    const auto& mine = half ? odd : even;
    const auto& other = half ? even : odd;
    const std::vector<double> p = cross_projections(in, yy, other, mine);
    const std::vector<double> z = z_scores(p);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      s.value[mine[i]] = p[i];
      s.z[mine[i]] = z[i];
    }
  }
  s.calibration_n = (m + 1) / 2;
  give_to(in.workspace, std::move(yy));
  return s;
}

SpectralGroup spectral_group_signal(const SignalInput& in, const std::vector<std::size_t>& core,
                                    double min_ratio, std::size_t max_group,
                                    const std::vector<std::uint8_t>* out_of_fit) {
  const std::size_t m = in.rows.size();
  SpectralGroup out;
  out.values = SignalValues{"spectral_group", Tail::kBoth, std::vector<double>(m, 0.0),
                            std::vector<double>(m, 0.0), 1};
  if (m == 0) return out;
  // Cross-fitted in kSpectralGroupFolds folds (fold j: the positions a with a % folds == j):
  // each fold is projected on the top direction of the other folds' clients, centred on the mean
  // of the *other* folds' core members. A direction fitted to all the clients leans towards the
  // few of largest spread, which then stand apart together (synthetic benign rounds with
  // heterogeneous noise: the group fired in 5-7% of them at n = 50 and 200); a centre that holds
  // 1/|core| of a scored client's own update sets the scored core members apart along any
  // direction that leans towards the centre (the demo's 100 benign clients at d = 1e5: 23
  // rejected). Ten folds rather than two halves: with halves, a group split unevenly between
  // them (3 and 7 of 10 backdoored clients) sets the direction of one half only, and the other
  // half's members project on a benign direction (2026-12-05, docs/detection.md); each direction
  // is now fitted on 90% of the clients and so of any group.
  const std::size_t folds = std::min(kSpectralGroupFolds, m);
  const std::vector<double>& kc = in.centred;
  // k_j[a] = mean over core_j of K_aq, core_j the core members outside fold j (the whole core if
  // none is): the core's row sums once, less each fold's part.
  std::vector<std::vector<double>> k(folds, std::vector<double>(m, 0.0));
  std::vector<std::vector<std::size_t>> core_of(folds);
  std::vector<std::uint8_t> whole(folds);
  std::vector<std::size_t> fold_of_core(core.size());
  for (std::size_t i = 0; i < core.size(); ++i) fold_of_core[i] = core[i] % folds;
  for (std::size_t j = 0; j < folds; ++j) {
    for (std::size_t c : core)
      if (c % folds != j) core_of[j].push_back(c);
    whole[j] = core_of[j].empty();
    if (whole[j]) core_of[j] = core;
  }
  // Each row's core entries read once (in core order, for the whole sum and each fold's part),
  // rows on the team: one writer per value.
#pragma omp parallel num_threads(team(in.threads, m))
  {
    std::vector<double> part(folds);
#pragma omp for schedule(static)
    for (std::size_t a = 0; a < m; ++a) {
      std::fill(part.begin(), part.end(), 0.0);
      double core_sum = 0;
      for (std::size_t i = 0; i < core.size(); ++i) {
        const double v = kc[a * m + core[i]];
        core_sum += v;
        part[fold_of_core[i]] += v;
      }
      for (std::size_t j = 0; j < folds; ++j)
        k[j][a] = (core_sum - (whole[j] ? 0.0 : part[j])) / static_cast<double>(core_of[j].size());
    }
  }
  // Each direction is fitted on at most kSpectralGroupFit of the other folds' clients, evenly
  // spaced: a group that dominates the top direction dominates it in any such sample, and the
  // direct solver on 128 clients takes about 0.2 ms (ten of them per round).
  std::vector<std::vector<std::size_t>> fit(folds);
  std::vector<geometry::EigenPairs> top(folds);
  std::vector<double>& p = out.values.value;
  for (std::size_t j = 0; j < folds; ++j) {
    std::vector<std::size_t> rest;
    for (std::size_t a = 0; a < m; ++a)
      if (a % folds != j && !(out_of_fit && (*out_of_fit)[a])) rest.push_back(a);
    const std::size_t step = (rest.size() + kSpectralGroupFit - 1) / kSpectralGroupFit;
    for (std::size_t i = 0; i < rest.size(); i += std::max<std::size_t>(step, 1))
      fit[j].push_back(rest[i]);
    const std::vector<double>& kj = k[j];
    double kk = 0;
    for (std::size_t c : core_of[j]) kk += kj[c];
    kk /= static_cast<double>(core_of[j].size());
    // (x_a - c_j) . (x_b - c_j) = K_ab - k_j[a] - k_j[b] + c_j . c_j
    auto yy = [&](std::size_t a, std::size_t b) { return kc[a * m + b] - kj[a] - kj[b] + kk; };
    const std::size_t f = fit[j].size();
    if (f == 0) continue;
    std::vector<double> sub(f * f);
    for (std::size_t a = 0; a < f; ++a)
      for (std::size_t b = 0; b < f; ++b) sub[a * f + b] = yy(fit[j][a], fit[j][b]);
    top[j] = geometry::top_eigenpairs_direct(sub, f, 1);
    if (top[j].values.empty() || !(top[j].values[0] > 0)) continue;
    const double inv = 1 / std::sqrt(top[j].values[0]);
    for (std::size_t a = j; a < m; a += folds) {
      double v = 0;
      for (std::size_t q = 0; q < f; ++q) v += yy(a, fit[j][q]) * top[j].vectors[q];
      p[a] = v * inv;
    }
  }
  // Each fold's direction has its own sign: folds 1.. are turned to agree with fold 0's. With
  // u_j ~ sum_b w_jb (x_b - c_j) over fit_j, (x_a - c_0) . (x_b - c_j) = K_ab - k_j[a] - k_0[b]
  // + c_0 . c_j, and c_0 . c_j the mean of k_j over core_0.
  for (std::size_t j = 1; j < folds; ++j) {
    if (top[0].vectors.size() != fit[0].size() || top[j].vectors.size() != fit[j].size()) continue;
    double c0cj = 0;
    for (std::size_t c : core_of[0]) c0cj += k[j][c];
    c0cj /= static_cast<double>(core_of[0].size());
    double along = 0;
    for (std::size_t a = 0; a < fit[0].size(); ++a) {
      const std::size_t xa = fit[0][a];
      double row = 0;
      for (std::size_t b = 0; b < fit[j].size(); ++b) {
        const std::size_t xb = fit[j][b];
        row += (kc[xa * m + xb] - k[j][xa] - k[0][xb] + c0cj) * top[j].vectors[b];
      }
      along += top[0].vectors[a] * row;
    }
    if (along < 0)
      for (std::size_t a = j; a < m; a += folds) p[a] = -p[a];
  }
  out.values.z = z_scores(p);
  out.values.calibration_n = m;
  // Each side in turn: the clients ordered by their z on that side (ties by position), and the
  // group size g in [kSpectralGroupMinSize, max_group] whose g-th z passes the per-client cut of
  // kSpectralGroupBudget at the round's size (3.42 for 50 clients, 3.18 for 200, 4.9 for 10: a
  // median and MAD over a few clients inflate z by chance; with a fixed 3, synthetic benign
  // federations of 20 clients fired in 1-2% of their rounds) and is the largest multiple of the
  // next one's (floored at 1: the bulk's own scale).
  const double min_z = std::max(
      kSpectralGroupMinZ, calibrated_cut(kSpectralGroupBudget, out.values.calibration_n, true));
  std::vector<std::size_t> order(m);
  for (const double side : {1.0, -1.0}) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      return side * out.values.z[x] > side * out.values.z[y];
    });
    const double first = side * out.values.z[order[0]];
    // The order statistic's cut from kSpectralGroupMinClients clients on (detect() runs the
    // signal only there): with fewer, synthetic benign rounds fired in up to 1.3% of 1000.
    const bool order_cut = m >= kSpectralGroupMinClients;
    for (std::size_t g = kSpectralGroupMinSize; g <= std::min(max_group, m - 1); ++g) {
      const double last = side * out.values.z[order[g - 1]];
      if (!(last >= (order_cut ? kSpectralGroupOrderFloor : min_z))) break;
      // Members: past the per-client cut, or, in a tight group, past the cut of its order
      // statistic: g of the m clients reach z_(g) with probability at most the budget's share
      // of this side (calibrated_group_cut). Ten backdoored clients scaled to half their norm
      // stood at z 2.5-8 over benign ones up to 2-3: the tenth under the per-client cut kept the
      // group from firing in two seeds of three (2026-12-05, docs/detection.md).
      const bool tight = last >= kSpectralGroupTight * first;
      if (!(last >= min_z) &&
          !(order_cut && tight &&
            last >= calibrated_group_cut(g, out.values.calibration_n, kSpectralGroupBudget / 2)))
        continue;
      // For a *tight* group (its g-th z at least kSpectralGroupTight of its first) the gap's
      // excess over 1 counts in proportion to the group's size, relative to the smallest group:
      // g clients that push one direction with comparable strength, all past the member cut and
      // then a break, are stronger evidence the larger g is (ten backdoored clients at z 5.1-7.9
      // over benign ones up to 2.1-3.1 made ratios of 1.9-2.6, 2026-12-05). A loose group keeps
      // the bare ratio: benign label-skewed clusters at Dirichlet 0.1 stood at z 3.5-17 (the
      // g-th at 0.27-0.41 of the first) over the rest up to 1-2.7, and with the size bonus fired
      // in 14 of 100 attack-free rounds.
      const double gap = last / std::max(side * out.values.z[order[g]], 1.0);
      const double ratio = 1 + (gap - 1) * (tight ? static_cast<double>(g) /
                                                        static_cast<double>(kSpectralGroupMinSize)
                                                  : 1.0);
      if (ratio > out.ratio) {
        out.ratio = ratio;
        out.group.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(g));
      }
    }
  }
  if (out.ratio < min_ratio) out.group.clear();
  std::sort(out.group.begin(), out.group.end());
  return out;
}

std::vector<double> normalised_distances(const SignalInput& in) {
  return normalised_distances(in.centred, in.norms, in.threads);
}

// rho from the upper triangle and diagonal of `gram` into `rho` (m x m, both triangles, zero
// diagonal); `rho` may be `gram` itself: each upper entry is read once by the thread that
// writes it, the diagonal is read from a copy and no lower entry of gram is read.
void normalised_distances_into(const std::vector<double>& gram, const std::vector<double>& norms,
                               std::vector<double>& rho, int threads) {
  const std::size_t m = norms.size();
  std::vector<double> diag(m);
  for (std::size_t a = 0; a < m; ++a) diag[a] = gram[a * m + a];
  for_upper_tiles(m, team(threads, m), [&](std::size_t a, std::size_t b) {
    const double d2 = std::max(0.0, diag[a] + diag[b] - 2 * gram[a * m + b]);
    const double scale = std::sqrt(0.5 * (norms[a] * norms[a] + norms[b] * norms[b]));
    rho[a * m + b] = rho[b * m + a] = scale > 0 ? std::sqrt(d2) / scale : 0.0;
  });
  for (std::size_t a = 0; a < m; ++a) rho[a * m + a] = 0;
}

std::vector<double> normalised_distances(const std::vector<double>& gram,
                                         const std::vector<double>& norms, int threads) {
  std::vector<double> rho(norms.size() * norms.size());
  normalised_distances_into(gram, norms, rho, threads);
  return rho;
}

SignalValues collusion_signal(const SignalInput& in, std::vector<std::size_t>* nearest) {
  return collusion_from_distances("collusion", normalised_distances(in), in.rows.size(), nearest,
                                  in.threads);
}

SignalValues collusion_of(const std::string& name, const std::vector<double>& gram,
                          const std::vector<double>& norms, std::vector<std::size_t>* nearest,
                          int threads) {
  return collusion_from_distances(name, normalised_distances(gram, norms, threads), norms.size(),
                                  nearest, threads);
}

SignalValues collusion_from_distances(const std::string& name, const std::vector<double>& rho,
                                      std::size_t m, std::vector<std::size_t>* nearest, int threads,
                                      Workspace* ws, const std::vector<std::uint8_t>* excluded) {
  FEDGUARD_EXPECTS(!excluded || excluded->size() == m * m,
                   name << ": " << excluded->size() << " pair flags for " << m << " clients");
  const int workers = team(threads, m);
  // rho^(2/3): a squared distance in high dimension is close to a scaled chi-square, and its
  // cube root is close to normal in both tails (Wilson & Hilferty 1931), where a logarithm
  // would leave a heavy lower tail: the tail this signal cuts. (Upper triangle, mirrored.)
  std::vector<double> lg = take_from(ws, m * m);
  for (std::size_t a = 0; a < m; ++a) lg[a * m + a] = 0;  // never read; defined all the same
  for_upper_tiles(m, workers, [&](std::size_t a, std::size_t b) {
    lg[a * m + b] = lg[b * m + a] = cube_root(rho[a * m + b] * rho[a * m + b]);
  });
  // Clients differ in how far they sit from everyone (a small, IID-like update is close to
  // all): t_ab = s_a + s_b + e_ab. The client effects s are removed (row medians, halved
  // overall median), so that the residuals e, not the clients' spreads, are compared; a
  // colluder's residual to its partner stays far below the rest.
  const std::vector<double> row_median = off_diagonal_row_medians(
      m, workers, [&](std::size_t a, std::size_t b) { return lg[a * m + b]; });
  const double overall = median(row_median);
  std::vector<double> effect(m);
  for (std::size_t a = 0; a < m; ++a) effect[a] = row_median[a] - overall / 2;
  std::vector<double> residuals = take_from(ws, m * (m - 1) / 2);
  for (std::size_t a = 0, i = 0; a < m; ++a)
    for (std::size_t b = a + 1; b < m; ++b) residuals[i++] = lg[a * m + b] - effect[a] - effect[b];
  const Location at = robust_location_in_place(residuals, 0, workers);
  give_to(ws, std::move(residuals));
  SignalValues s{name, Tail::kLower, std::vector<double>(m), std::vector<double>(m), m - 1};
  if (nearest) nearest->assign(m, 0);
#pragma omp parallel for schedule(static) num_threads(workers)
  for (std::size_t a = 0; a < m; ++a) {
    // The smallest residual over the pairs not excluded (over all when every pair is), and
    // its pair's rho.
    std::size_t best = m;
    double least = 0;
    const double* row = lg.data() + a * m;
    for (int pass = 0; pass < 2 && best == m; ++pass) {
      const std::uint8_t* skip = pass == 0 && excluded ? excluded->data() + a * m : nullptr;
      for (std::size_t b = 0; b < m; ++b) {
        if (b == a || (skip && skip[b])) continue;
        const double e = row[b] - effect[b];
        if (best == m || e < least) {
          best = b;
          least = e;
        }
      }
    }
    s.value[a] = rho[a * m + best];
    s.z[a] = robust_z(lg[a * m + best] - effect[a] - effect[best], at);
    if (nearest) (*nearest)[a] = best;
  }
  give_to(ws, std::move(lg));
  return s;
}

std::vector<double> gram_of_rows(const std::vector<double>& rows, std::size_t k, Workspace* ws) {
  const std::size_t m = k ? rows.size() / k : 0;
  std::vector<double> gram = take_from(ws, m * m);
  if (m == 0) return gram;
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(m), static_cast<int>(k),
              1.0, rows.data(), static_cast<int>(k), 0.0, gram.data(), static_cast<int>(m));
  // The lower triangle from the upper by 64 x 64 tiles (row by row, the reads went one cache
  // line per entry).
  constexpr std::size_t kTile = 64;
  for (std::size_t ta = 0; ta < m; ta += kTile)
    for (std::size_t tb = 0; tb <= ta; tb += kTile)
      for (std::size_t a = ta; a < std::min(m, ta + kTile); ++a)
        for (std::size_t b = tb; b < std::min(a, tb + kTile); ++b)
          gram[a * m + b] = gram[b * m + a];
  return gram;
}

SignalValues history_signal(const std::vector<double>& history, std::size_t k, int threads) {
  return history_signal_of_gram(gram_of_rows(history, k), threads);
}

std::vector<double> norms_of_gram(const std::vector<double>& gram) {
  const auto m =
      static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(gram.size()))));
  std::vector<double> norms(m);
  for (std::size_t a = 0; a < m; ++a) norms[a] = std::sqrt(gram[a * m + a]);
  return norms;
}

SignalValues history_signal_of_gram(std::vector<double> gram, int threads, Workspace* ws) {
  const std::vector<double> norms = norms_of_gram(gram);
  const std::size_t m = norms.size();
  normalised_distances_into(gram, norms, gram, threads);  // in place: one m x m buffer fewer
  SignalValues s = collusion_from_distances("history", gram, m, nullptr, threads, ws);
  give_to(ws, std::move(gram));
  return s;
}

SignalValues history_direction_signal(const std::vector<double>& history, std::size_t k,
                                      int threads) {
  return history_direction_of_gram(gram_of_rows(history, k), threads);
}

SignalValues history_direction_of_gram(const std::vector<double>& gram, int threads) {
  return direction_of("history_direction", gram, norms_of_gram(gram), nullptr, threads);
}

}  // namespace fedguard::detection
