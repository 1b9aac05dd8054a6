// The detection stage's signals, each a per-client statistic computed from pass 1's summaries
// (no pass over the updates), and its robust z against the round's own clients
// (docs/detection.md has the definitions; tests/detection checks each against a float64
// brute force in d-space).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "detection/workspace.h"
#include "geometry/gram_space.h"

namespace fedguard::detection {

/// Which tail of a signal's z is suspicious.
enum class Tail { kUpper, kLower, kBoth };

struct SignalValues {
  std::string name;  ///< "norm", "direction", "sign", "spectral", "collusion"
  Tail tail = Tail::kBoth;
  std::vector<double> value;  ///< the raw statistic per client
  std::vector<double> z;      ///< robust z per client
  /// Number of independent comparisons behind each client's z (collusion: its m - 1 pairs),
  /// for the calibration of the cut-off; 1 elsewhere.
  std::size_t comparisons = 1;
  /// The number of values each z was estimated from, when not all the clients (0: all).
  std::size_t calibration_n = 0;
};

/// The clients the signals are computed over: scanned positions, at least 2.
struct SignalInput {
  const geometry::GramSpace& space;
  std::vector<std::size_t> rows;  ///< scanned positions
  /// The pass-1 matrices of these rows: centred Gram (x_a - c).(x_b - c) and inner x_a . x_b.
  std::vector<double> centred;
  std::vector<double> inner;
  std::vector<double> norms;  ///< ||x_a||
  std::size_t d = 0;
  /// CPU threads for the O(m^2) loops (0: every core). Results do not depend on it: every
  /// value is computed by one thread in one order.
  int threads = 1;
  /// Where centred and inner come from and go back to (null: allocated and freed).
  Workspace* workspace = nullptr;

  SignalInput(const geometry::GramSpace& s, std::vector<std::size_t> idx, std::size_t model_size,
              int cpu_threads = 1, Workspace* ws = nullptr);
  SignalInput(const SignalInput&) = delete;
  SignalInput& operator=(const SignalInput&) = delete;
  ~SignalInput();
};

/// The smallest scale of the log-norm's z (a relative spread of 5%).
constexpr double kNormScaleFloor = 0.05;

/// The smallest scale of the direction signal's cosine.
constexpr double kDirectionScaleFloor = 0.05;
/// The smallest scale of the sign balance (1% of the coordinates; at least 1/sqrt(d), its
/// binomial spread, for small models).
constexpr double kSignBalanceScaleFloor = 0.01;

/// log ||x_i||, two-sided; its scale is at least kNormScaleFloor.
SignalValues norm_signal(const SignalInput& in);

/// Cosine between x_i and the robust centre: the mean of the "core" (the half of the clients
/// whose median cosine to the others is largest), leaving x_i out of it when it is in the
/// core. Lower tail (pointing away from the federation); scale at least kDirectionScaleFloor.
/// Also returns the core.
SignalValues direction_signal(const SignalInput& in, std::vector<std::size_t>* core = nullptr);

/// direction_signal over any m vectors given by their inner products (m x m, row-major, both
/// triangles) and norms; `name` names the signal.
SignalValues direction_of(const std::string& name, const std::vector<double>& inner,
                          const std::vector<double>& norms,
                          std::vector<std::size_t>* core = nullptr, int threads = 1);

/// SignGuard's sign statistics: the net sign balance (positive - negative) / d (scale at least
/// kSignBalanceScaleFloor) and, when `zero_fraction`, the zero fraction (scale at least
/// 1/sqrt(d), the binomial spread of a fraction over d coordinates); the statistic is then the
/// one of larger |z|, with two comparisons. Two-sided.
SignalValues sign_signal(const SignalInput& in, bool zero_fraction);

/// DnC's spectral score, exact and cross-fitted: the signed projection of x_i - z (z the core's
/// mean) on the top principal direction of the other half of the clients (even positions on
/// the odd ones' direction and vice versa), z'd within its half. Two-sided.
SignalValues spectral_signal(const SignalInput& in, const std::vector<std::size_t>& core);

/// The spectral group signal: a group of clients that stands apart from the rest along the top
/// principal direction, cross-fitted in kSpectralGroupFolds folds (positions a with a % folds ==
/// j): each fold projected on the top direction of the other folds' clients (fitted on at most
/// kSpectralGroupFit of them), centred on the mean of the other folds' core members; the folds'
/// directions turned to agree with fold 0's; z_a the robust z of client a's projection over all
/// the clients. On either side, with the clients ordered by their z on that side, a group of the
/// first g (kSpectralGroupMinSize <= g <= max_group) whose g-th z is at least the two-sided cut of
/// kSpectralGroupBudget at the round's size (and at least kSpectralGroupMinZ), or, when the group
/// is tight (z_(g) >= kSpectralGroupTight z_(1)), at least kSpectralGroupOrderFloor and the cut
/// that g of the m clients pass with probability at most kSpectralGroupBudget / 2 (the order
/// statistic's cut, calibrated_group_cut), is scored by its gap ratio z_(g) / max(z_(g+1), 1), as
/// 1 + (ratio - 1) g / kSpectralGroupMinSize when tight; the group of largest score over both sides
/// and every g fires when its score is at least min_ratio. A colluding or data-poisoning group
/// pushing one common direction (a backdoor's trigger, a flipped label) makes such a gap; benign
/// label-skewed clients spread along the same direction without one (docs/detection.md).
struct SpectralGroup {
  SignalValues values;             ///< "spectral_group": the projection and its robust z
  std::vector<std::size_t> group;  ///< positions in in.rows of the group that fired, ascending
  double ratio = 0;                ///< the largest gap ratio found (fired or not)
};
constexpr double kSpectralGroupMinZ = 3.0;
/// Each member's z must pass this per-client budget's cut (calibrated_cut, two-sided).
constexpr double kSpectralGroupBudget = 0.002;
/// detect() runs the signal in rounds of at least this many clients: a margin kept from before
/// each half was centred on the other half's core members (centred on the whole core, i.i.d.
/// synthetic rounds fired in 4% of the rounds at 20 clients, 2% at 30, 0.7% at 40; after, none
/// of 300 at 20-50; docs/detection.md).
constexpr std::size_t kSpectralGroupMinClients = 50;
constexpr std::size_t kSpectralGroupMinSize = 3;
/// Each fold's direction is fitted on at most this many of the other folds' clients, evenly spaced.
constexpr std::size_t kSpectralGroupFit = 128;
/// Folds of the cross-fitting (fewer when the round has fewer clients).
constexpr std::size_t kSpectralGroupFolds = 10;
/// A group is tight when its g-th z is at least this fraction of its first: only then does its
/// gap count in proportion to its size.
constexpr double kSpectralGroupTight = 0.5;
/// A tight group's members pass the cut of their order statistic, and at least this z.
constexpr double kSpectralGroupOrderFloor = 2.0;
/// `out_of_fit` (optional, by position in in.rows): clients projected and z'd as the others but
/// left out of every fold's fit (the detector's loners judged despite their size: one update at
/// several times the median norm sets a top direction by itself).
SpectralGroup spectral_group_signal(const SignalInput& in, const std::vector<std::size_t>& core,
                                    double min_ratio, std::size_t max_group,
                                    const std::vector<std::uint8_t>* out_of_fit = nullptr);

/// Collusion: normalised distances rho_ij = ||x_i - x_j|| / sqrt((||x_i||^2 + ||x_j||^2) / 2);
/// t_ij = rho_ij^(2/3) = s_i + s_j + e_ij with client effects s (row medians minus half their
/// median); each client's statistic is its smallest residual e_ij, z'd against all pairs'
/// residuals. Lower tail, m - 1 comparisons. `value` is rho to that partner; nearest (optional)
/// receives the partner (index into rows).
SignalValues collusion_signal(const SignalInput& in, std::vector<std::size_t>* nearest = nullptr);

/// Normalised pairwise distance matrix rho (m x m, zero diagonal).
std::vector<double> normalised_distances(const SignalInput& in);
/// The same from any Gram matrix of m vectors (m x m inner products, row-major; centring does
/// not change distances) and their norms (the scale of rho).
std::vector<double> normalised_distances(const std::vector<double>& gram,
                                         const std::vector<double>& norms, int threads = 1);
/// The same into rho (m x m values; rho may be gram itself: only gram's upper triangle and
/// diagonal are read, each before its place is written).
void normalised_distances_into(const std::vector<double>& gram, const std::vector<double>& norms,
                               std::vector<double>& rho, int threads = 1);

/// The collusion statistic of collusion_signal over any m vectors given by their Gram matrix
/// and norms; `name` names the signal.
SignalValues collusion_of(const std::string& name, const std::vector<double>& gram,
                          const std::vector<double>& norms,
                          std::vector<std::size_t>* nearest = nullptr, int threads = 1);
/// The same from the normalised distances rho (m x m, as normalised_distances returns them).
/// `excluded` (m x m, symmetric; null: none) marks pairs that are no one's partner: each
/// client's smallest residual is taken over the others (over all of them when it excludes
/// every other client); the residuals' location is still taken over every pair.
SignalValues collusion_from_distances(const std::string& name, const std::vector<double>& rho,
                                      std::size_t m, std::vector<std::size_t>* nearest = nullptr,
                                      int threads = 1, Workspace* ws = nullptr,
                                      const std::vector<std::uint8_t>* excluded = nullptr);

/// History: collusion_of over the clients' cumulative sketched histories H_i (FoolsGold's H:
/// the sum of the sketches of every round the client took part in, this one included), m x k
/// row-major. Noise a Sybil adds to each round's copy grows in H as sqrt(rounds) while the
/// shared attack grows as rounds, so copies made unlike each other round by round converge
/// in H; benign clients keep their own data's difference however many rounds pass.
SignalValues history_signal(const std::vector<double>& history, std::size_t k, int threads = 1);

/// History direction: direction_of over the clients' cumulative sketched histories H_i (m x k
/// row-major): the cosine of H_i with the core's mean. A client that pushes against the
/// federation every round (a sign flip, a label flip) stays as far from the centre in H as in
/// one round, while the honest clients' round-to-round noise averages out and their cosines to
/// the centre rise and tighten: what is inside one round's honest spread leaves it in H.
SignalValues history_direction_signal(const std::vector<double>& history, std::size_t k,
                                      int threads = 1);

/// The Gram matrix of m vectors of length k (m x k row-major): m x m, both triangles.
std::vector<double> gram_of_rows(const std::vector<double>& rows, std::size_t k,
                                 Workspace* ws = nullptr);
/// The norms of m vectors from their Gram matrix (m x m, row-major): the square roots of its
/// diagonal.
std::vector<double> norms_of_gram(const std::vector<double>& gram);
/// history_signal and history_direction_signal from the histories' Gram matrix (gram_of_rows),
/// so that both signals share one product when both run.
SignalValues history_signal_of_gram(std::vector<double> gram, int threads = 1,
                                    Workspace* ws = nullptr);
SignalValues history_direction_of_gram(const std::vector<double>& gram, int threads = 1);

}  // namespace fedguard::detection
