// Synthetic federated rounds with ground truth: the one generator behind the CLI demo, the
// tests' random rounds, the forensics tests' update logs and the benchmarks (issue #12 found
// four). Benign clients send g + e_i (g a direction common to the round, e_i the client's own
// noise); attackers send a chosen mix of the two over some columns; options add a common offset,
// ties and duplicated rows.
//
// Counter-based: every random value is a function of (seed, stream, index) alone (a SplitMix64
// hash turned into a Gaussian pair by Box-Muller), so any row can be generated apart from the
// others (in parallel, or straight into a caller's buffer), the values do not depend on the
// thread count or on the standard library's <random>, and switching one option on does not
// reshuffle the values the others get.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fedguard::synthetic {

/// Attacker::end default: up to the last column.
constexpr std::size_t kAllColumns = std::numeric_limits<std::size_t>::max();

/// A client that is not benign. Over columns [begin, end) it sends
///   offset + direction * g_j + noise * e_ij,
/// elsewhere the benign offset + g_j + e_ij (a layer-targeted attack).
struct Attacker {
  std::size_t client = 0;
  std::string group = "attacker";  ///< ground-truth label of the client
  double direction = 1.0;          ///< multiple of the common direction g
  double noise = 1.0;              ///< multiple of the client's own noise e_i
  std::size_t begin = 0;
  std::size_t end = kAllColumns;
};

/// "sign_flip": -factor g + e (a scaled sign flip of the benign direction).
Attacker sign_flip(std::size_t client, double factor);
/// "gaussian": sigma e, no benign direction (large random noise for sigma >> 1).
Attacker gaussian(std::size_t client, double sigma);
/// "scaled": factor (g + e) over [begin, end) (a negative factor flips and scales).
Attacker scaled(std::size_t client, double factor, std::size_t begin = 0,
                std::size_t end = kAllColumns);
/// "noisy": g + spread e (an honest client with a noisier update).
Attacker noisy(std::size_t client, double spread);

/// count distinct positions in [0, n) spread evenly through it (from 1 on, so no rule can win by
/// position): the attackers' places in the demo and the benchmarks. Throws if count > n.
std::vector<std::size_t> spread_positions(std::size_t n, std::size_t count);

enum class Duplicates {
  kNone,
  kNear,   ///< the copy is row i-1 times (1 + 1e-6 z), z standard normal per value
  kExact,  ///< the copy is row i-1 exactly
};

struct RoundSpec {
  std::size_t n = 0, d = 0;
  double direction_scale = 1.0;  ///< g_j ~ N(0, direction_scale^2), shared by the round
  double noise_scale = 1.0;      ///< e_ij ~ N(0, noise_scale^2), per client and column
  double offset = 0.0;           ///< added to every value (large, similar updates)
  /// Empty, or n multiples of noise_scale, one per client (heterogeneous, non-IID-like clients).
  std::vector<double> client_noise;
  /// > 0: every value rounded to the nearest multiple of it (many ties per column).
  double tie_grid = 0.0;
  /// Rows i with i % duplicate_every == 1 are copies of row i-1 (and take its group).
  Duplicates duplicates = Duplicates::kNone;
  std::size_t duplicate_every = 4;
  std::vector<Attacker> attackers;  ///< distinct clients; every other client is "benign"
  std::uint64_t seed = 0;
};

struct Round {
  std::size_t n = 0, d = 0;
  std::vector<float> updates;       ///< n x d, row-major; the values are computed in float64
                                    ///< and rounded once to float32
  std::vector<std::string> group;   ///< per client: "benign" or its attacker's group
  std::vector<double> benign_mean;  ///< d: the float64 mean of the benign rows (empty if none)
};

/// The round of spec. Throws fedguard::Error (kInvalidInput) naming the problem for an attacker
/// outside [0, n), a client attacked twice, begin > end, client_noise neither empty nor of
/// size n, or duplicate_every < 2.
Round generate(const RoundSpec& spec);

/// Rows [first, first + count) of generate(spec).updates into out (count x d floats), without
/// the rest of the round: for benchmarks whose rounds do not fit twice in memory.
void generate_rows(const RoundSpec& spec, std::size_t first, std::size_t count, float* out);

/// The group of every client of spec (what generate() puts in Round::group).
std::vector<std::string> groups(const RoundSpec& spec);

/// A seed for the index-th member of a family (the rounds of a log, the sizes of a benchmark).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index);

/// The standard normal value number `index` of stream `stream` under `seed` (what the generator
/// draws: stream 0 is g, stream 1 + i client i's noise).
double standard_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index);

}  // namespace fedguard::synthetic
