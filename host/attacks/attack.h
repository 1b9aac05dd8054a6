// Internals shared by the attacks of host/attacks/ (one file per attack, registry.cc maps names
// to them). Everything here is detail: the public interface is include/fedguard/attacks.h.
//
// Conventions of every attack:
//   - Parameters are read through Params, which rejects unknown keys and ill-typed values with a
//     fedguard::Error (kInvalidInput) that names the attack and the parameter.
//   - Inputs are validated first (validate()): null pointers, d = 0, NaN/Inf anywhere in benign,
//     own or global_model, too few benign rows for the attack; the error names the reason.
//   - Statistics (means, standard deviations, Gram matrices, inner products, searches) are float64;
//     the output is rounded to float32 once at the end. A value beyond the float32 range is
//     clamped to +-FLT_MAX (counted in info["clamped"]); NaN is never emitted.
//   - Randomness is counter-based (see Rng below): draws depend on (seed, round, the attack's
//     stream, malicious index, coordinate) only, so results are reproducible and independent of
//     the order in which coordinates are computed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "fedguard/attacks.h"

namespace fedguard::attacks {

/// Strict reader of an attack's JSON parameters. Call finish() after the last read: any key
/// that was never read is an unknown parameter.
class Params {
 public:
  Params(std::string attack, const nlohmann::json& params);

  bool has(const char* key) const;
  /// A finite number (integers accepted).
  double number(const char* key, double fallback);
  /// A finite number > 0.
  double positive(const char* key, double fallback);
  /// A non-negative integer.
  std::uint64_t count(const char* key, std::uint64_t fallback);
  bool boolean(const char* key, bool fallback);
  /// A string from `allowed`.
  std::string choice(const char* key, const std::string& fallback,
                     std::initializer_list<const char*> allowed);
  /// Throws for keys never read.
  void finish() const;

  const std::string& attack() const { return attack_; }

 private:
  const nlohmann::json& get(const char* key);
  std::string attack_;
  nlohmann::json params_;
  std::set<std::string> known_;
};

/// What an attack needs of the input beyond the basic checks.
struct Needs {
  std::size_t min_benign = 1;  ///< fewest benign rows the attack is defined for
  bool own = false;            ///< AttackInput::own must be given
  bool global_model = false;   ///< AttackInput::global_model must be given
};

/// Checks the input (see the conventions above); returns n_total with 0 resolved.
std::size_t validate(const std::string& attack, const AttackInput& in, const Needs& needs);

/// Output of f rows of d, zero-filled; info records n_malicious.
AttackOutput make_output(const AttackInput& in);

/// Float64 -> float32 with clamping to +-FLT_MAX; increments *clamped when it clamps.
float to_float(double v, std::size_t* clamped);

/// Copies row 0 of out to rows 1..n-1 (attacks whose malicious clients all send the same).
void replicate_first_row(AttackOutput& out);

/// Column tiles: calls fn(j0, j1) for consecutive [j0, j1) covering [0, d), about 2 MiB of
/// float64 per n_rows x width tile.
template <typename Fn>
void for_each_tile(std::size_t d, std::size_t n_rows, Fn&& fn) {
  const std::size_t target = (std::size_t{1} << 18) / (n_rows ? n_rows : 1);
  const std::size_t width = target < 64 ? 64 : target;
  for (std::size_t j0 = 0; j0 < d; j0 += width) fn(j0, j0 + width < d ? j0 + width : d);
}

/// Per-column mean and standard deviation (divisor n - ddof; 0 when n <= ddof) of the benign
/// rows over the columns [j0, j1); two-pass in float64.
void column_stats(const AttackInput& in, std::size_t j0, std::size_t j1, std::size_t ddof,
                  double* mean, double* stddev);

/// Per-column vectors an attack may project the centred benign rows on.
enum class Direction { kMean, kStd, kSign };

/// One pass over the benign rows: the Gram matrix of the rows centred on the benign mean
/// (n x n, float64 via cblas_dsyrk per tile), the projections proj[k][i] = <x_i - mu, v_k> and
/// the inner products dots[k][l] = <v_k, v_l> for the requested directions (v = mu, std with
/// ddof = 1, sign(mu)).
struct BenignSummary {
  std::size_t n = 0;
  std::vector<double> gram;               ///< n x n, symmetric, centred
  std::vector<std::vector<double>> proj;  ///< per requested direction, n values
  std::vector<std::vector<double>> dots;  ///< requested x requested
};
BenignSummary summarise_benign(const AttackInput& in, const std::vector<Direction>& directions);

/// ||x_i - x_j||^2 of the benign rows from the centred Gram (clamped at 0), n x n.
std::vector<double> pairwise_sq_distances(const BenignSummary& s);

/// Phi^-1(p), the standard normal quantile, for 0 < p < 1 (bisection on erfc to full double
/// precision).
double normal_quantile(double p);

/// Counter-based random numbers: every draw is a pure function of (key, counter), a SplitMix64
/// finaliser of both, so any coordinate can be drawn independently and reproducibly.
class Rng {
 public:
  /// key from (seed, round, stream name); pass round = 0 for draws fixed across rounds.
  Rng(std::uint64_t seed, std::uint64_t round, const char* stream);
  std::uint64_t bits(std::uint64_t counter) const;
  /// Uniform in (0, 1), 53 random bits.
  double uniform(std::uint64_t counter) const;
  /// Standard normal (Box-Muller, cosine branch, from two uniforms of counters 2c and 2c+1).
  double normal(std::uint64_t counter) const;

 private:
  std::uint64_t key_;
};

}  // namespace fedguard::attacks
