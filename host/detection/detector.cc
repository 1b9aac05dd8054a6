#include "detection/detector.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <optional>

#include "common/short_number.h"
#include "detection/group_alignment.h"
#include "detection/history_group.h"
#include "detection/response.h"
#include "detection/robust.h"
#include "detection/signals.h"
#include "fedguard/error.h"

namespace fedguard::detection {
namespace {

struct Scored {
  Scored(SignalValues v, ReasonCode c, double b) : values(std::move(v)), code(c), budget(b) {}
  SignalValues values;
  ReasonCode code;
  double budget;
  double cut = 0;
  std::vector<std::size_t>
      members;  ///< the clients it was computed over (indices of detect's rows)
  /// Per client: how far past its cut the signal is (z / cut in the suspicious tail); > 1 fires.
  std::vector<double> excess;
  /// Groups that fired together in the signal's tail (fire_tail_group), by position in members:
  /// the size of the client's group (0: in none) and the cut its g-th member passed; both empty
  /// without a group search.
  std::vector<std::size_t> group_of;
  std::vector<double> group_cut_of;
  /// For `direction_group`: each fired member's group alignment (group_alignment.h); empty
  /// otherwise.
  std::vector<double> group_alignment_of;
  /// The tail its groups were searched in: the signal's own, or for `direction_group` the
  /// opposite one (too central together).
  Tail group_tail = Tail::kBoth;
};

double tail_ratio(double z, Tail tail, double cut) {
  const double oriented = tail == Tail::kUpper ? z : tail == Tail::kLower ? -z : std::fabs(z);
  return oriented / cut;
}

double signal_cut(const Scored& s, std::size_t m) {
  const bool two = s.values.tail == Tail::kBoth;
  double alpha = s.budget;
  // Several comparisons behind one z: each is cut so that the client's budget holds for all
  // together (Sidak: 1 - (1 - alpha)^(1/c)).
  if (s.values.comparisons > 1)
    alpha = -std::expm1(std::log1p(-alpha) / static_cast<double>(s.values.comparisons));
  return calibrated_cut(alpha, s.values.calibration_n ? s.values.calibration_n : m, two);
}

void cut_signal(Scored& s, std::size_t m) {
  s.cut = signal_cut(s, m);
  s.excess.resize(m);
  for (std::size_t a = 0; a < m; ++a) s.excess[a] = tail_ratio(s.values.z[a], s.values.tail, s.cut);
}

// Groups in a tail (docs/detection.md): the g clients furthest in a one-sided signal's tail
// (kTailGroupMinSize <= g), each perhaps short of the per-client cut, fire together when the g-th
// is at least kTailGroupFloor and past the cut that g of the signal's m clients reach with
// probability `alpha` (calibrated_group_cut); of several such g, the one furthest past its cut.
// Then the same search again over the clients after that group, until none passes or `cap`
// clients are in groups: a few extreme members must not stand for the rest (40 sign flippers in
// 200 clients, three of them at z 7-9, fired as those three alone while the next 20 passed as a
// group of their own; the simulator, Dirichlet 0.1, seed 3). Each later group must pass on its
// own at the full m's cut (conservative: fewer clients are left), so a benign client next to a
// group is not swept in as the largest passing g would sweep it. A member's excess becomes its
// group's ratio z_(g) / cut (when larger). `side` is the tail searched: the signal's own, or the
// other one (direction_group). `admit` (when set) is asked about each group found, by position in
// members: a group it refuses does not fire, and the search goes on after it.
void fire_tail_group(Scored& s, double alpha, std::size_t cap, Tail side,
                     const std::function<bool(const std::vector<std::size_t>&)>& admit = {}) {
  FEDGUARD_EXPECTS(side != Tail::kBoth,
                   "detection: a group search needs one tail (" << s.values.name << ")");
  const std::size_t m = s.members.size();
  s.group_tail = side;
  std::vector<double> oriented(m);
  for (std::size_t q = 0; q < m; ++q)
    oriented[q] = side == Tail::kLower ? -s.values.z[q] : s.values.z[q];
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return oriented[x] > oriented[y]; });
  const std::size_t calibration = s.values.calibration_n ? s.values.calibration_n : m;
  s.group_of.assign(m, 0);
  s.group_cut_of.assign(m, 0.0);
  const std::size_t limit = std::min(cap, m - 1);
  for (std::size_t start = 0; start < limit;) {
    double best = 1, best_cut = 0;
    std::size_t best_g = 0;
    for (std::size_t g = kTailGroupMinSize; start + g <= limit; ++g) {
      const double last = oriented[order[start + g - 1]];
      if (!(last >= kTailGroupFloor)) break;
      const double cut = calibrated_group_cut(g, calibration, alpha);
      if (last / cut > best) {
        best = last / cut;
        best_cut = cut;
        best_g = g;
      }
    }
    if (best_g == 0) break;
    if (admit) {
      const std::vector<std::size_t> group(
          order.begin() + static_cast<std::ptrdiff_t>(start),
          order.begin() + static_cast<std::ptrdiff_t>(start + best_g));
      if (!admit(group)) {
        start += best_g;
        continue;
      }
    }
    for (std::size_t q = start; q < start + best_g; ++q) {
      s.group_of[order[q]] = best_g;
      s.group_cut_of[order[q]] = best_cut;
      s.excess[order[q]] = std::max(s.excess[order[q]], best);
    }
    start += best_g;
  }
}

// A one-sided signal's per-client cut, then (group_alpha > 0) its group in the tail, at most
// max_reject_fraction of its members; each member's worst excess over the signals so far.
void cut_with_tail_group(Scored& s, double group_alpha, double max_reject_fraction,
                         std::vector<double>& worst) {
  cut_signal(s, s.members.size());
  if (group_alpha > 0)
    fire_tail_group(s, group_alpha,
                    static_cast<std::size_t>(std::floor(max_reject_fraction *
                                                        static_cast<double>(s.members.size() - 1))),
                    s.values.tail);
  for (std::size_t q = 0; q < s.members.size(); ++q)
    worst[s.members[q]] = std::max(worst[s.members[q]], s.excess[q]);
}

// A client's own baseline b widens its cut on the side it usually lies: a two-sided signal
// fires above cut + max(b, 0) or below -(cut - min(b, 0)); never narrower than the round's cut.
// `spared` marks the clients (by detect's index) the round's cut would have fired on.
void widen_by_baseline(Scored& s, const std::vector<double>& baseline,
                       std::vector<std::uint8_t>& spared) {
  if (baseline.empty()) return;
  for (std::size_t q = 0; q < s.members.size(); ++q) {
    const double b = baseline[s.members[q]];
    if (b == 0) continue;
    if (s.excess[q] > 1) spared[s.members[q]] = 1;
    const double z = s.values.z[q];
    const double upper = s.cut + std::max(b, 0.0), lower = s.cut - std::min(b, 0.0);
    s.excess[q] = s.values.tail == Tail::kUpper   ? z / upper
                  : s.values.tail == Tail::kLower ? -z / lower
                                                  : std::max(z / upper, -z / lower);
  }
}

// The signal with this code (signals.end() when it did not run).
template <class Signals>
auto signal_of(Signals& signals, ReasonCode code) {
  return std::find_if(signals.begin(), signals.end(),
                      [code](const Scored& s) { return s.code == code; });
}

// Each client's cap on its norm ratio (norm / median norm): max_norm_ratio, widened with
// baseline_norm_cap for a client whose own norm baseline b > 0 by the factor b
// widens its z cut, exp(b x the round's log-norm scale), the cap then being the cut in the
// round's own units; but only for a client whose collusion z is inside that signal's cut (a
// loner): label flippers grow to 3-4x the median norm while accepted, as habitually large honest
// clients are, and what tells them apart is that the flippers lie closer to each other than the
// round's pairs do (docs/detection.md, "The cap widened by the baseline"). Without the collusion
// signal no cap is widened.
std::vector<double> norm_caps(const DetectionSpec& spec, const std::vector<Scored>& signals,
                              const std::vector<double>& baseline, std::size_t m) {
  std::vector<double> cap(m, spec.max_norm_ratio);
  if (!spec.baseline_norm_cap || spec.max_norm_ratio <= 0 || baseline.empty()) return cap;
  const auto norm = signal_of(signals, ReasonCode::kNormOutlier),
             collusion = signal_of(signals, ReasonCode::kCollusion);
  if (norm == signals.end() || collusion == signals.end()) return cap;
  const double scale = robust_location(norm->values.value, kNormScaleFloor).scale;
  const double collusion_cut = signal_cut(*collusion, collusion->members.size());
  for (std::size_t q = 0; q < norm->members.size(); ++q) {
    const std::size_t a = norm->members[q];
    if (baseline[a] > 0 && collusion->values.z[a] >= -collusion_cut)
      cap[a] = spec.max_norm_ratio * std::exp(baseline[a] * scale);
  }
  return cap;
}

// A loner's size alone (docs/detection.md, "A loner's size alone"): the clients whose norm
// fired on its upper side by its z but not by its cap, that no other stage-A signal named, and
// whose collusion z is inside that signal's cut. On non-IID data honest update norms have heavy
// upper tails (the simulator's attack-free run at n = 200, Dirichlet 0.5, seed 2: 4.5% of the
// client-rounds past the norm's z cut, z up to 13, 94% of them loners), while the coalitions
// that boost their norms (backdoored clients, label flippers) lie closer to each other than the
// round's pairs do (none of a Dirichlet 0.5 backdoor's norm outliers was a loner). Past the cap,
// size alone still rejects: at 5-10x the median (a loner bound that wide) label flippers at
// n = 50 passed the loner test in a fifth of their rounds. The norm's excess of these clients is
// set to its cut and `worst` to their other stage-A signals': stage B judges them. Returns the
// flags by detect's index (all 0 when off, without a cap or without the collusion signal) and
// each deferred client's norm excess, for undo_deferral.
struct Deferral {
  std::vector<std::uint8_t> flags;
  std::vector<double> norm_excess;
};

Deferral defer_loner_norms(const DetectionSpec& spec, std::vector<Scored>& signals,
                           const std::vector<double>& norms, double median_norm,
                           const std::vector<double>& norm_cap, std::vector<double>& worst) {
  const std::size_t m = norms.size();
  Deferral deferred{std::vector<std::uint8_t>(m, 0), std::vector<double>(m, 0.0)};
  const auto norm = signal_of(signals, ReasonCode::kNormOutlier),
             collusion = signal_of(signals, ReasonCode::kCollusion);
  if (!spec.loner_norm_cap || !(spec.max_norm_ratio > 0) || norm == signals.end() ||
      collusion == signals.end() || !(median_norm > 0))
    return deferred;
  std::vector<double> other(m, 0.0);  // the largest excess of every other stage-A signal
  for (const Scored& s : signals)
    if (&s != &*norm)
      for (std::size_t q = 0; q < s.members.size(); ++q)
        other[s.members[q]] = std::max(other[s.members[q]], s.excess[q]);
  const double collusion_cut = signal_cut(*collusion, collusion->members.size());
  for (std::size_t a = 0; a < m; ++a) {  // norm and collusion run over every client: q == a
    if (!(norm->excess[a] > 1) || !(norm->values.z[a] > 0) || other[a] > 1 ||
        !(collusion->values.z[a] >= -collusion_cut) || !(norms[a] <= norm_cap[a] * median_norm))
      continue;
    deferred.flags[a] = 1;
    deferred.norm_excess[a] = norm->excess[a];
    norm->excess[a] = 1.0;
    worst[a] = other[a];
  }
  return deferred;
}

// Without a stage B to judge them (too few clients kept, or none of its signals on) the loners'
// norms decide as before.
void undo_deferral(Deferral& deferred, std::vector<Scored>& signals, std::vector<double>& worst) {
  const auto norm = signal_of(signals, ReasonCode::kNormOutlier);
  for (std::size_t a = 0; a < deferred.flags.size(); ++a) {
    if (!deferred.flags[a]) continue;
    norm->excess[a] = deferred.norm_excess[a];  // norm runs over every client: q == a
    worst[a] = std::max(worst[a], deferred.norm_excess[a]);
    deferred.flags[a] = 0;
  }
}

// The cumulative sketches of the clients `who` (indices of detect's rows), m x k row-major.
std::vector<double> history_rows(const HistoryInput& history, const std::vector<std::size_t>& who,
                                 Workspace* ws) {
  std::vector<double> h = take_from(ws, who.size() * history.k);
  for (std::size_t q = 0; q < who.size(); ++q)
    std::copy_n(history.sketches->begin() + static_cast<std::ptrdiff_t>(who[q] * history.k),
                history.k, h.begin() + static_cast<std::ptrdiff_t>(q * history.k));
  return h;
}

// Sizes of the groups that near-duplicate pairs (rho below the bound, both flagged) connect.
std::vector<std::size_t> group_sizes(const std::vector<double>& rho,
                                     const std::vector<std::uint8_t>& flagged, double bound,
                                     std::size_t m) {
  std::vector<std::size_t> parent(m);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](std::size_t a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  };
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = a + 1; b < m; ++b)
      if (flagged[a] && flagged[b] && rho[a * m + b] < bound) parent[find(a)] = find(b);
  std::vector<std::size_t> count(m, 0), size(m, 0);
  for (std::size_t a = 0; a < m; ++a) ++count[find(a)];
  for (std::size_t a = 0; a < m; ++a) size[a] = count[find(a)];
  return size;
}

// The code a rejection carries when several signals fired: the most specific first (a
// scaled update is a norm outlier before it is anything else; the spectral score catches
// whatever stands out and comes last).
int rank(ReasonCode code) {
  switch (code) {
    case ReasonCode::kNormOutlier:
      return 0;
    case ReasonCode::kCollusion:
      return 1;
    case ReasonCode::kHistoryOutlier:
      return 2;
    case ReasonCode::kHistoryGroup:
      return 3;
    case ReasonCode::kDirectionOutlier:
      return 4;
    case ReasonCode::kHistoryDirection:
      return 5;
    case ReasonCode::kHistoryResponse:
      return 6;
    case ReasonCode::kSignOutlier:
      return 7;
    case ReasonCode::kSpectralGroup:
      return 8;
    case ReasonCode::kSpectralOutlier:
      return 9;
    default:
      return 10;
  }
}

// The rejection of client a: the most specific signal that fired gives the code; every signal
// that saw the client gives its value, z and cut.
Finding finding(const DetectionSpec& spec, const std::vector<Scored>& signals, std::size_t a,
                double norm_ratio, double norm_cap, std::size_t group, std::uint64_t history_rounds,
                std::pair<std::size_t, double> spectral_group,
                std::pair<std::size_t, double> history_group, const HistoryInput& history,
                const HistoryInput::Pair* history_pair, bool norm_loner) {
  Finding f;
  f.index = a;
  int best = 100;
  std::size_t fired = 0;
  bool small_norm = false, sign = false;
  for (const Scored& s : signals) {
    const auto it = std::find(s.members.begin(), s.members.end(), a);
    if (it == s.members.end()) continue;
    const auto q = static_cast<std::size_t>(it - s.members.begin());
    f.values[s.values.name] = s.values.value[q];
    f.values[s.values.name + "_z"] = s.values.z[q];
    f.values[s.values.name + "_cut"] = s.cut;
    const std::vector<double>* own = s.code == ReasonCode::kNormOutlier   ? &history.norm_baseline
                                     : s.code == ReasonCode::kSignOutlier ? &history.sign_baseline
                                                                          : nullptr;
    const double baseline = own && !own->empty() ? (*own)[a] : 0.0;
    if (baseline != 0) f.values[s.values.name + "_baseline"] = baseline;
    if (norm_loner && s.code == ReasonCode::kNormOutlier) {  // past its cut, judged by stage B
      f.values["norm_loner"] = 1.0;
      f.detail += (f.detail.empty() ? "" : "; ") + std::string("norm z ") +
                  short_number(s.values.z[q]) + " (" + short_number(norm_ratio) +
                  "x the median norm): a loner's size alone, judged by the other signals";
    }
    if (s.excess[q] <= 1) continue;
    ++fired;
    small_norm |= s.code == ReasonCode::kNormOutlier && s.values.z[q] < 0;
    sign |= s.code == ReasonCode::kSignOutlier;
    if (rank(s.code) < best) {
      best = rank(s.code);
      f.code = s.code;
    }
    if (s.code == ReasonCode::kSpectralGroup) {
      f.values["spectral_group_size"] = static_cast<double>(spectral_group.first);
      f.values["spectral_group_ratio"] = spectral_group.second;
      f.detail += (f.detail.empty() ? "" : "; ") + std::string("spectral_group: one of ") +
                  std::to_string(spectral_group.first) +
                  " clients apart along the top principal direction (z " +
                  short_number(s.values.z[q]) + ", gap score " +
                  short_number(spectral_group.second) + " >= " + short_number(s.cut) + ")";
      continue;
    }
    if (s.code == ReasonCode::kHistoryGroup) {
      f.values["history_group_size"] = static_cast<double>(history_group.first);
      f.values["history_group_score"] = history_group.second;
      f.values["history_rounds"] = static_cast<double>(history_rounds);
      f.detail += (f.detail.empty() ? "" : "; ") + std::string("history_group: one of ") +
                  std::to_string(history_group.first) +
                  " clients whose cumulative updates lie together (its " +
                  std::to_string(history_group.first - 1) + " nearest within normalised distance " +
                  short_number(s.values.value[q]) + " over " + std::to_string(history_rounds) +
                  " rounds, z " + short_number(s.values.z[q]) + ", gap score " +
                  short_number(history_group.second) + " >= " + short_number(s.cut) + ")";
      continue;
    }
    const std::string side = s.values.tail == Tail::kLower  ? "-"
                             : s.values.tail == Tail::kBoth ? "+-"
                                                            : "";
    const bool grouped = !s.group_of.empty() && s.group_of[q] > 0;
    if (grouped) {
      f.values[s.values.name + "_group"] = static_cast<double>(s.group_of[q]);
      f.values[s.values.name + "_group_cut"] = s.group_cut_of[q];
      if (!s.group_alignment_of.empty())
        f.values[s.values.name + "_group_alignment"] = s.group_alignment_of[q];
    }
    f.detail +=
        (f.detail.empty() ? "" : "; ") + s.values.name + " z " + short_number(s.values.z[q]);
    if (grouped && tail_ratio(s.values.z[q], s.values.tail, s.cut) <= 1) {  // the group's doing
      const bool other_tail = s.group_tail != s.values.tail;
      f.detail += " (per-client cut " + side + short_number(s.cut) + "), one of ";
      f.detail += std::to_string(s.group_of[q]) + " clients together beyond ";
      f.detail += (other_tail ? std::string(s.group_tail == Tail::kLower ? "-" : "+") : side) +
                  short_number(s.group_cut_of[q]);
      f.detail += other_tail ? " (their order statistic's cut, in the other tail: too central "
                               "together"
                             : " (their order statistic's cut";
      if (!s.group_alignment_of.empty())
        f.detail += ", alignment " + short_number(s.group_alignment_of[q]) + " < " +
                    short_number(spec.direction_group_max_alignment);
      f.detail += ")";
    } else {
      f.detail += " beyond " + side + short_number(s.cut);
    }
    if (baseline != 0 && (baseline > 0) == (s.values.z[q] > 0))  // it fired on the widened side
      f.detail += " widened by its own baseline to " + std::string(baseline > 0 ? "+" : "-") +
                  short_number(s.cut + std::fabs(baseline));
    if (s.code == ReasonCode::kNormOutlier) {
      f.values["norm_ratio"] = norm_ratio;
      const bool widened_cap = spec.max_norm_ratio > 0 && norm_cap != spec.max_norm_ratio;
      if (widened_cap) f.values["norm_cap"] = norm_cap;
      f.detail += " (" + short_number(norm_ratio) + "x the median norm" +
                  (spec.max_norm_ratio > 0 && norm_ratio > norm_cap
                       ? ", above the cap " + short_number(norm_cap) +
                             (widened_cap ? ": " + short_number(spec.max_norm_ratio) +
                                                " widened by its own baseline"
                                          : "")
                       : "") +
                  ")";
    }
    if (s.code == ReasonCode::kCollusion) {
      f.values["collusion_group"] = static_cast<double>(group);
      f.detail += " (nearest neighbour at normalised distance " + short_number(s.values.value[q]) +
                  ", group of " + std::to_string(group) + ")";
    }
    if (s.code == ReasonCode::kHistoryDirection) {
      f.values["history_rounds"] = static_cast<double>(history_rounds);
      f.detail += " (cumulative update over " + std::to_string(history_rounds) +
                  " rounds at cosine " + short_number(s.values.value[q]) + " to the federation's)";
    }
    if (s.code == ReasonCode::kHistoryResponse) {
      const double rounds =
          history.response_rounds.empty() ? 0.0 : static_cast<double>(history.response_rounds[a]);
      f.values["history_response_rounds"] = rounds;
      f.detail += " (its update grew along the model's movement: mean response z " +
                  short_number(s.values.value[q]) + " over " + short_number(rounds) + " rounds)";
    }
    if (s.code == ReasonCode::kHistoryOutlier) {
      f.values["history_rounds"] = static_cast<double>(history_rounds);
      f.detail += " (cumulative update over " + std::to_string(history_rounds) +
                  " rounds at normalised distance " + short_number(s.values.value[q]) +
                  " from another client's";
      if (history_pair && std::isfinite(history_pair->persistence)) {  // why not excused
        f.values["history_persistence"] = history_pair->persistence;
        f.values["history_persistence_cut"] = history_pair->cut;
        f.values["history_persistence_rounds"] = static_cast<double>(history_pair->rounds);
        f.detail += ", their difference's persistence " + short_number(history_pair->persistence) +
                    " (cut " + short_number(history_pair->cut) + ") over " +
                    std::to_string(history_pair->rounds) + " rounds followed";
      }
      f.detail += ")";
    }
  }
  f.builds_baseline =
      fired == 1 && ((spec.baseline_small_norm && small_norm) || (spec.baseline_sign_only && sign));
  return f;
}

}  // namespace

DetectionOutcome detect(const DetectionSpec& spec, const geometry::GramSpace& space,
                        const std::vector<std::size_t>& rows, std::size_t d,
                        const HistoryInput& history, int threads, Workspace* ws) {
  DetectionOutcome out;
  const std::size_t m = rows.size();
  if (m < kMinClients) {
    out.notes.push_back("detection skipped: " + std::to_string(m) +
                        " clients, the calibration needs at least " + std::to_string(kMinClients));
    return out;
  }
  // Stage A: the signals of a client alone or of a pair (norm, collusion), over everyone.
  // Stage B: the signals measured against the federation's centre and main direction
  // (direction, sign, spectral), over the clients stage A kept: a group of fakes would
  // otherwise set the direction its victims are then measured along.
  const SignalInput all(space, rows, d, threads, ws);
  std::vector<Scored> signals;
  if (spec.norm > 0) signals.emplace_back(norm_signal(all), ReasonCode::kNormOutlier, spec.norm);
  std::vector<double> rho;
  if (spec.collusion > 0) {
    rho = take_from(ws, m * m);
    normalised_distances_into(all.centred, all.norms, rho, threads);
    signals.emplace_back(collusion_from_distances("collusion", rho, m, nullptr, threads, ws),
                         ReasonCode::kCollusion, spec.collusion);
  }
  for (Scored& s : signals) {
    s.members.resize(m);
    std::iota(s.members.begin(), s.members.end(), 0);
  }
  // History: the clients whose cumulative sketch covers at least two rounds (a first round is
  // the collusion signal's); needs as many such clients as any signal's calibration.
  if (history.sketches && history.k > 0)
    FEDGUARD_EXPECTS(history.sketches->size() == m * history.k && history.rounds.size() == m,
                     "detection history: " << history.sketches->size() << " sketch values and "
                                           << history.rounds.size() << " round counts for " << m
                                           << " clients of sketch size " << history.k);
  for (const auto* b : {&history.norm_baseline, &history.sign_baseline})
    FEDGUARD_EXPECTS(b->empty() || b->size() == m,
                     "detection baselines: " << b->size() << " values for " << m << " clients");
  FEDGUARD_EXPECTS(history.response.empty() ||
                       (history.response.size() == m && history.response_rounds.size() == m),
                   "detection responses: " << history.response.size() << " values and "
                                           << history.response_rounds.size() << " round counts for "
                                           << m << " clients");
  // Both history signals read the Gram matrix of the seasoned clients' histories: one product.
  std::vector<std::size_t> seasoned;
  std::vector<double> history_gram;
  if ((spec.history > 0 || spec.history_direction > 0 || spec.history_group > 0) &&
      history.sketches && history.k > 0) {
    for (std::size_t a = 0; a < m; ++a)
      if (history.rounds[a] >= kHistoryMinRounds) seasoned.push_back(a);
    if (seasoned.size() >= kMinClients) {
      std::vector<double> rows_of_seasoned = history_rows(history, seasoned, ws);
      history_gram = gram_of_rows(rows_of_seasoned, history.k, ws);
      give_to(ws, std::move(rows_of_seasoned));
    }
  }
  // The history signal and the history group both read the histories' normalised distances:
  // computed once.
  std::vector<double> history_rho;
  if ((spec.history > 0 || spec.history_group > 0) && !history_gram.empty()) {
    history_rho = take_from(ws, history_gram.size());
    normalised_distances_into(history_gram, norms_of_gram(history_gram), history_rho, threads);
  }
  // Followed pairs that differ persistently (honest twins) are no one's partner; every pair
  // within the follow distance is a candidate for following.
  std::vector<std::size_t> history_partner;  // by position in seasoned
  std::vector<const HistoryInput::Pair*> pair_of_partner;
  if (spec.history > 0 && !history_rho.empty()) {
    const std::size_t hm = seasoned.size();
    std::vector<std::size_t> at(m, hm);  // position in seasoned
    for (std::size_t q = 0; q < hm; ++q) at[seasoned[q]] = q;
    std::vector<std::uint8_t> excluded;
    std::map<std::pair<std::size_t, std::size_t>, const HistoryInput::Pair*> followed;
    for (const HistoryInput::Pair& p : history.pairs) {
      FEDGUARD_EXPECTS(p.a < p.b && p.b < m, "detection history: a followed pair ("
                                                 << p.a << ", " << p.b << ") of " << m
                                                 << " clients");
      if (at[p.a] == hm || at[p.b] == hm) continue;
      followed[{at[p.a], at[p.b]}] = &p;
      if (!p.persistent) continue;
      if (excluded.empty()) excluded.assign(hm * hm, 0);
      excluded[at[p.a] * hm + at[p.b]] = excluded[at[p.b] * hm + at[p.a]] = 1;
    }
    signals.emplace_back(
        collusion_from_distances("history", history_rho, hm, &history_partner, threads, ws,
                                 excluded.empty() ? nullptr : &excluded),
        ReasonCode::kHistoryOutlier, spec.history);
    signals.back().members = seasoned;
    pair_of_partner.assign(m, nullptr);
    for (std::size_t q = 0; q < hm; ++q) {
      const auto key = std::minmax(q, history_partner[q]);
      if (const auto it = followed.find({key.first, key.second}); it != followed.end())
        pair_of_partner[seasoned[q]] = it->second;
    }
    const double follow = kPairFollowFactor * spec.collusion_max_distance;
    NearestPairs nearest(history.max_close);
    for (std::size_t x = 0; x < hm; ++x)
      for (std::size_t y = x + 1; y < hm; ++y)
        if (history_rho[x * hm + y] < follow)
          nearest.offer({history_rho[x * hm + y], {seasoned[x], seasoned[y]}});
    out.history_close = nearest.take();
    out.followed_close.assign(history.pairs.size(), 0);
    for (const auto& [at_pair, p] : followed)
      out.followed_close[static_cast<std::size_t>(p - history.pairs.data())] =
          history_rho[at_pair.first * hm + at_pair.second] < follow;
    out.history_ran = true;
  }
  std::vector<double> worst(m, 0.0);
  std::vector<std::uint8_t> collusion_flag(m, 0), spared(m, 0);
  std::vector<std::pair<std::size_t, double>> group_of(m, {0, 0.0});  // spectral group, ratio
  const double median_norm = median(all.norms);
  const std::vector<double> norm_cap = norm_caps(spec, signals, history.norm_baseline, m);
  for (Scored& s : signals) {
    cut_signal(s, s.members.size());
    if (s.code == ReasonCode::kNormOutlier) widen_by_baseline(s, history.norm_baseline, spared);
    for (std::size_t q = 0; q < s.members.size(); ++q) {
      const std::size_t a = s.members[q];
      if (s.code ==
          ReasonCode::kHistoryOutlier) {  // near-duplicate histories only, as for collusion
        if (!(s.values.value[q] < spec.collusion_max_distance))
          s.excess[q] = std::min(s.excess[q], 1.0);
        worst[a] = std::max(worst[a], s.excess[q]);
        continue;
      }
      if (s.code == ReasonCode::kNormOutlier && spec.max_norm_ratio > 0 && median_norm > 0)
        s.excess[a] = std::max(s.excess[a], all.norms[a] / (norm_cap[a] * median_norm));
      if (s.code == ReasonCode::kCollusion) {
        // Near-duplicates only: a z far in the tail is not enough if the pair is merely similar.
        if (!(s.values.value[a] < spec.collusion_max_distance))
          s.excess[a] = std::min(s.excess[a], 1.0);
        collusion_flag[a] = s.excess[a] > 1;
      }
      worst[a] = std::max(worst[a], s.excess[a]);
    }
  }
  // The history group: a coalition among the seasoned clients' histories, judged over all of
  // them (a group test, no centre to drag). No per-client cut: the group that fired is past it
  // by its gap score over the threshold, everyone else not at all.
  std::vector<std::pair<std::size_t, double>> history_group_of(m, {0, 0.0});  // size, score
  if (spec.history_group > 0 && !history_rho.empty() &&
      seasoned.size() >= kHistoryGroupMinClients) {
    const std::size_t h = seasoned.size();
    const auto max_group =
        static_cast<std::size_t>(std::floor(spec.max_reject_fraction * static_cast<double>(h - 1)));
    HistoryGroup hg =
        history_group_of_distances(history_rho, h, spec.history_group, max_group, threads, ws);
    Scored& s =
        signals.emplace_back(std::move(hg.values), ReasonCode::kHistoryGroup, spec.history_group);
    s.members = seasoned;
    s.cut = spec.history_group;
    s.excess.assign(h, 0.0);
    for (std::size_t q : hg.group) {
      s.excess[q] = hg.score / spec.history_group;
      worst[seasoned[q]] = std::max(worst[seasoned[q]], s.excess[q]);
      history_group_of[seasoned[q]] = {hg.group.size(), hg.score};
    }
  }
  Deferral deferral = defer_loner_norms(spec, signals, all.norms, median_norm, norm_cap, worst);
  std::vector<std::size_t> kept;
  for (std::size_t a = 0; a < m; ++a)
    if (worst[a] <= 1) kept.push_back(a);
  const bool stage_b_on = spec.direction > 0 || spec.sign > 0 || spec.spectral > 0 ||
                          spec.spectral_group > 0 || spec.history_direction > 0 ||
                          spec.history_response > 0;
  if (!(kept.size() >= kMinClients && stage_b_on) &&
      std::find(deferral.flags.begin(), deferral.flags.end(), 1) != deferral.flags.end()) {
    undo_deferral(deferral, signals, worst);
    kept.clear();
    for (std::size_t a = 0; a < m; ++a)
      if (worst[a] <= 1) kept.push_back(a);
  }
  const std::vector<std::uint8_t>& deferred = deferral.flags;
  const std::size_t stage_b = signals.size();
  if (kept.size() >= kMinClients && stage_b_on) {
    // Without stage-A rejections (most rounds) stage B sees the same clients: no second copy
    // of the m x m matrices.
    std::optional<SignalInput> subset;
    if (kept.size() != m) {
      std::vector<std::size_t> kept_rows;
      kept_rows.reserve(kept.size());
      for (std::size_t a : kept) kept_rows.push_back(rows[a]);
      subset.emplace(space, kept_rows, d, threads, ws);
    }
    const SignalInput& rest = subset ? *subset : all;
    std::vector<std::size_t> core;
    SignalValues direction = direction_signal(rest, &core);
    if (spec.direction > 0)
      signals.emplace_back(std::move(direction), ReasonCode::kDirectionOutlier, spec.direction);
    if (spec.sign > 0)
      signals.emplace_back(sign_signal(rest, spec.sign_zero_fraction), ReasonCode::kSignOutlier,
                           spec.sign);
    if (spec.spectral > 0)
      signals.emplace_back(spectral_signal(rest, core), ReasonCode::kSpectralOutlier,
                           spec.spectral);
    for (std::size_t i = stage_b; i < signals.size(); ++i) {
      signals[i].members = kept;
      cut_signal(signals[i], kept.size());
      if (signals[i].code == ReasonCode::kSignOutlier)
        widen_by_baseline(signals[i], history.sign_baseline, spared);
      // Too central together: a coalition that pushes one objective sets the core's centre
      // (its members' median cosines to the others are the highest) and lies closer to it than
      // label-skewed honest clients do; a group in the cosine's upper tail.
      // A group whose members are nearly all their shared direction is a cluster of clients
      // with alike data (at Dirichlet 0.1, clients holding the same labels: alignment 0.48-0.89,
      // medians 0.72-0.85, in the simulator's attack-free runs), not a coalition adding one
      // component to updates that otherwise differ (the backdoors there: 0.24-0.74, medians
      // 0.57-0.66; docs/detection.md, "Alike data or a coalition").
      if (signals[i].code == ReasonCode::kDirectionOutlier && spec.direction_group > 0) {
        Scored& s = signals[i];
        s.group_alignment_of.assign(kept.size(), 0.0);
        std::vector<double> gram_row_sums;  // once a round, when a group is found
        const auto admit = [&](const std::vector<std::size_t>& group) {
          std::vector<std::uint8_t> in_group(kept.size(), 0);
          for (std::size_t q : group) in_group[q] = 1;
          if (gram_row_sums.empty()) gram_row_sums = row_sums(rest.centred, kept.size());
          const double alignment =
              group_alignment(rest.centred, kept.size(), in_group, gram_row_sums);
          if (!(alignment < spec.direction_group_max_alignment)) {
            out.notes.push_back(
                "detection: a direction group of " + std::to_string(group.size()) +
                " clients too central together not rejected: alignment " + short_number(alignment) +
                " >= " + short_number(spec.direction_group_max_alignment) + " (alike data)");
            return false;
          }
          for (std::size_t q : group) s.group_alignment_of[q] = alignment;
          return true;
        };
        fire_tail_group(s, spec.direction_group,
                        static_cast<std::size_t>(std::floor(spec.max_reject_fraction *
                                                            static_cast<double>(kept.size() - 1))),
                        Tail::kUpper, admit);
      }
      for (std::size_t q = 0; q < kept.size(); ++q)
        worst[kept[q]] = std::max(worst[kept[q]], signals[i].excess[q]);
    }
    // History direction: against the centre of the kept clients' cumulative histories, over
    // those whose history covers two rounds or more.
    if (spec.history_direction > 0 && !history_gram.empty()) {
      std::vector<std::size_t> at, members;  // the seasoned clients kept, and their positions
      for (std::size_t q = 0, i = 0; q < seasoned.size(); ++q) {
        while (i < kept.size() && kept[i] < seasoned[q]) ++i;
        if (i < kept.size() && kept[i] == seasoned[q]) {
          at.push_back(q);
          members.push_back(seasoned[q]);
        }
      }
      if (members.size() >= kMinClients) {
        const std::size_t all_seasoned = seasoned.size(), kept_seasoned = at.size();
        if (kept_seasoned == all_seasoned) {  // most rounds: the whole shared Gram
          signals.emplace_back(history_direction_of_gram(history_gram, threads),
                               ReasonCode::kHistoryDirection, spec.history_direction);
        } else {
          std::vector<double> sub = take_from(ws, kept_seasoned * kept_seasoned);
          for (std::size_t x = 0; x < kept_seasoned; ++x)
            for (std::size_t y = 0; y < kept_seasoned; ++y)
              sub[x * kept_seasoned + y] = history_gram[at[x] * all_seasoned + at[y]];
          signals.emplace_back(history_direction_of_gram(sub, threads),
                               ReasonCode::kHistoryDirection, spec.history_direction);
          give_to(ws, std::move(sub));
        }
        Scored& s = signals.back();
        s.members = std::move(members);
        cut_with_tail_group(s, spec.history_direction_group, spec.max_reject_fraction, worst);
      }
    }
    // Response: the kept clients with a mean response over enough rounds.
    if (spec.history_response > 0 && !history.response.empty()) {
      std::vector<std::size_t> members;
      std::vector<double> means;
      for (std::size_t a : kept)
        if (std::isfinite(history.response[a])) {
          members.push_back(a);
          means.push_back(history.response[a]);
        }
      if (members.size() >= kMinClients) {
        Scored& s = signals.emplace_back(history_response_signal(means),
                                         ReasonCode::kHistoryResponse, spec.history_response);
        s.members = std::move(members);
        cut_with_tail_group(s, spec.history_response_group, spec.max_reject_fraction, worst);
      }
    }
    // The spectral group, last, so that it knows whom the other signals named. Its direction is
    // fitted on the kept clients; when clients another signal named helped set it and the group
    // it finds holds none of them, the group is judged again on a direction fitted without them.
    // Ten negated updates that the response signal names set the top direction as a group of
    // fakes would in stage A, and an honest label-skewed cluster on the other side of it stood
    // apart (the simulator's sign flipping at Dirichlet 0.1, seed 3: four honest clients named
    // from round 8 on, then kept out by the closed loop). Named members of the group itself do
    // lend it their direction: half of a backdoored group that the direction signal names still
    // sets the direction the other half is found along (Dirichlet 0.5, scaled backdoor, seed 3).
    // Loners judged despite their size are scored but stay out of its fit and centre: one update
    // at several times the median norm sets a top direction by itself.
    if (spec.spectral_group > 0 && m >= kSpectralGroupMinClients) {
      std::vector<std::size_t> members = kept, unnamed;
      std::vector<std::uint8_t> named(m, 0);
      for (std::size_t a : kept) {
        named[a] = worst[a] > 1;
        if (!named[a]) unnamed.push_back(a);
      }
      // The loners' flags by position in a member list, and a core without them.
      const auto loners_in = [&](const std::vector<std::size_t>& who) {
        std::vector<std::uint8_t> flags(who.size(), 0);
        for (std::size_t q = 0; q < who.size(); ++q) flags[q] = deferred[who[q]];
        return flags;
      };
      const auto core_without = [&](const std::vector<std::size_t>& who,
                                    const std::vector<std::size_t>& of) {
        std::vector<std::size_t> kept_core;
        for (std::size_t q : of)
          if (!deferred[who[q]]) kept_core.push_back(q);
        return kept_core.empty() ? of : kept_core;
      };
      auto max_group_of = [&](std::size_t clients) {
        return static_cast<std::size_t>(
            std::floor(spec.max_reject_fraction * static_cast<double>(clients - 1)));
      };
      const std::vector<std::uint8_t> kept_loners = loners_in(kept);
      SpectralGroup sg = spectral_group_signal(rest, core_without(kept, core), spec.spectral_group,
                                               max_group_of(kept.size()), &kept_loners);
      const bool lent = unnamed.size() < kept.size() && !sg.group.empty() &&
                        std::none_of(sg.group.begin(), sg.group.end(),
                                     [&](std::size_t q) { return named[kept[q]] != 0; });
      if (lent) {
        sg.group.clear();
        if (unnamed.size() >= kMinClients) {
          std::vector<std::size_t> unnamed_rows;
          unnamed_rows.reserve(unnamed.size());
          for (std::size_t a : unnamed) unnamed_rows.push_back(rows[a]);
          const SignalInput refit(space, unnamed_rows, d, threads, ws);
          std::vector<std::size_t> refit_core;
          direction_signal(refit, &refit_core);
          const std::vector<std::uint8_t> unnamed_loners = loners_in(unnamed);
          sg = spectral_group_signal(refit, core_without(unnamed, refit_core), spec.spectral_group,
                                     max_group_of(unnamed.size()), &unnamed_loners);
          members = std::move(unnamed);
        }
      }
      Scored& s = signals.emplace_back(std::move(sg.values), ReasonCode::kSpectralGroup,
                                       spec.spectral_group);
      s.members = std::move(members);
      s.cut = spec.spectral_group;
      s.excess.assign(s.members.size(), 0.0);
      for (std::size_t q : sg.group) {
        s.excess[q] = sg.ratio / spec.spectral_group;
        worst[s.members[q]] = std::max(worst[s.members[q]], s.excess[q]);
        group_of[s.members[q]] = {sg.group.size(), sg.ratio};
      }
    }
  } else if (kept.size() < kMinClients) {
    out.notes.push_back(
        "detection: direction, sign and spectral signals skipped: " + std::to_string(kept.size()) +
        " clients left after the norm and collusion signals");
  }
  for (const Scored& s : signals) {
    std::vector<double> z(m, std::nan(""));
    for (std::size_t q = 0; q < s.members.size(); ++q) z[s.members[q]] = s.values.z[q];
    out.scores["detect_" + s.values.name] = std::move(z);
  }
  const std::vector<std::size_t> groups =
      rho.empty() ? std::vector<std::size_t>(m, 1)
                  : group_sizes(rho, collusion_flag, spec.collusion_max_distance, m);

  std::vector<std::size_t> fired;
  for (std::size_t a = 0; a < m; ++a) {
    if (worst[a] > 1) fired.push_back(a);
    const bool own = (!history.norm_baseline.empty() && history.norm_baseline[a] != 0) ||
                     (!history.sign_baseline.empty() && history.sign_baseline[a] != 0);
    out.baseline_widened += own;
    out.baseline_spared += spared[a] && worst[a] <= 1;
    out.norm_loners += deferred[a];
  }
  std::stable_sort(fired.begin(), fired.end(),
                   [&](std::size_t x, std::size_t y) { return worst[x] > worst[y]; });
  const auto cap =
      static_cast<std::size_t>(std::floor(spec.max_reject_fraction * static_cast<double>(m - 1)));
  if (fired.size() > cap) {
    out.notes.push_back("detection: " + std::to_string(fired.size()) + " of " + std::to_string(m) +
                        " clients fired a signal; only the " + std::to_string(cap) +
                        " most extreme were rejected (max_reject_fraction " +
                        short_number(spec.max_reject_fraction) + ")");
    fired.resize(cap);
  }
  std::sort(fired.begin(), fired.end());
  for (std::size_t a : fired)
    out.findings.push_back(
        finding(spec, signals, a, all.norms[a] / median_norm, norm_cap[a], groups[a],
                history.rounds.empty() ? 0 : history.rounds[a], group_of[a], history_group_of[a],
                history, pair_of_partner.empty() ? nullptr : pair_of_partner[a], deferred[a] != 0));
  give_to(ws, std::move(rho));
  give_to(ws, std::move(history_gram));
  give_to(ws, std::move(history_rho));
  return out;
}

}  // namespace fedguard::detection
