#include "synthetic/round.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "fedguard/error.h"

namespace fedguard::synthetic {
namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// Streams: 0 the direction g, 1 + i client i's noise, kJitter | i the near-duplicate jitter of
// row i (clients never reach 2^63).
constexpr std::uint64_t kDirectionStream = 0;
constexpr std::uint64_t kJitter = std::uint64_t{1} << 63;
constexpr double kTwoPi = 6.283185307179586476925286766559;

// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014): a bijective 64-bit mix.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream) {
  return mix(mix(seed + kGolden) ^ (stream * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull));
}

// Box-Muller on the two 32-bit halves of the pair's hash; u1 in (0, 1) so the log is finite.
void normal_pair(std::uint64_t key, std::uint64_t pair, double* z0, double* z1) {
  const std::uint64_t bits = mix(key + (pair + 1) * kGolden);
  const double u1 = (static_cast<double>(bits >> 32) + 0.5) * 0x1p-32;
  const double u2 = static_cast<double>(bits & 0xffffffffu) * 0x1p-32;
  const double r = std::sqrt(-2.0 * std::log(u1));
  *z0 = r * std::cos(kTwoPi * u2);
  *z1 = r * std::sin(kTwoPi * u2);
}

void fill_normals(std::uint64_t key, std::size_t d, double* out) {
  for (std::size_t j = 0; j + 1 < d; j += 2) normal_pair(key, j / 2, &out[j], &out[j + 1]);
  if (d % 2 == 1) {
    double unused;
    normal_pair(key, (d - 1) / 2, &out[d - 1], &unused);
  }
}

// The spec checked once, with the attacker of every client and the direction g.
struct Plan {
  std::vector<const Attacker*> attacker_of;
  std::vector<double> g;
};

// The attacker of every client (null: benign), the spec checked.
std::vector<const Attacker*> attackers_of(const RoundSpec& s) {
  std::vector<const Attacker*> of(s.n, nullptr);
  for (const Attacker& a : s.attackers) {
    FEDGUARD_EXPECTS(a.client < s.n, "synthetic round: attacker '"
                                         << a.group << "' at client " << a.client
                                         << ", but the round has n=" << s.n);
    FEDGUARD_EXPECTS(of[a.client] == nullptr,
                     "synthetic round: client " << a.client << " is given two attackers");
    FEDGUARD_EXPECTS(a.begin <= a.end, "synthetic round: attacker at client "
                                           << a.client << " has begin " << a.begin << " > end "
                                           << a.end);
    of[a.client] = &a;
  }
  FEDGUARD_EXPECTS(
      s.client_noise.empty() || s.client_noise.size() == s.n,
      "synthetic round: client_noise has " << s.client_noise.size() << " entries for n=" << s.n);
  FEDGUARD_EXPECTS(
      s.duplicates == Duplicates::kNone || s.duplicate_every >= 2,
      "synthetic round: duplicate_every must be at least 2, got " << s.duplicate_every);
  return of;
}

Plan plan_for(const RoundSpec& s) {
  Plan p;
  p.attacker_of = attackers_of(s);
  p.g.resize(s.d);
  fill_normals(stream_key(s.seed, kDirectionStream), s.d, p.g.data());
  for (double& v : p.g) v *= s.direction_scale;
  return p;
}

bool is_copy(const RoundSpec& s, std::size_t i) {
  return s.duplicates != Duplicates::kNone && i % s.duplicate_every == 1;
}

// Row i as generated (before duplication); noise is scratch of d doubles.
void own_row(const RoundSpec& s, const Plan& p, std::size_t i, double* noise, float* out) {
  fill_normals(stream_key(s.seed, 1 + i), s.d, noise);
  const Attacker* a = p.attacker_of[i];
  const std::size_t begin = a != nullptr ? std::min(a->begin, s.d) : 0;
  const std::size_t end = a != nullptr ? std::min(a->end, s.d) : 0;
  const double scale = s.noise_scale * (s.client_noise.empty() ? 1.0 : s.client_noise[i]);
  for (std::size_t j = 0; j < s.d; ++j) {
    const bool attacked = j >= begin && j < end;
    const double direction = attacked ? a->direction : 1.0;
    const double own = attacked ? a->noise : 1.0;
    double v = s.offset + direction * p.g[j] + own * scale * noise[j];
    if (s.tie_grid > 0) v = std::round(v / s.tie_grid) * s.tie_grid;
    out[j] = static_cast<float>(v);
  }
}

void row(const RoundSpec& s, const Plan& p, std::size_t i, double* scratch, float* out) {
  if (!is_copy(s, i)) {
    own_row(s, p, i, scratch, out);
    return;
  }
  own_row(s, p, i - 1, scratch, out);
  if (s.duplicates == Duplicates::kNear) {
    fill_normals(stream_key(s.seed, kJitter | i), s.d, scratch);
    for (std::size_t j = 0; j < s.d; ++j)
      out[j] = static_cast<float>(static_cast<double>(out[j]) * (1.0 + 1e-6 * scratch[j]));
  }
}

void rows_into(const RoundSpec& s, const Plan& p, std::size_t first, std::size_t count,
               float* out) {
  const auto total = static_cast<std::ptrdiff_t>(count);
  // Counter-based values: the split over threads does not change them.
#pragma omp parallel if (count * s.d >= (std::size_t{1} << 18))
  {
    std::vector<double> scratch(s.d);
#pragma omp for schedule(static)
    for (std::ptrdiff_t k = 0; k < total; ++k) {
      const auto r = static_cast<std::size_t>(k);
      row(s, p, first + r, scratch.data(), out + r * s.d);
    }
  }
}

}  // namespace

Attacker sign_flip(std::size_t client, double factor) {
  return {client, "sign_flip", -factor, 1.0, 0, kAllColumns};
}
Attacker gaussian(std::size_t client, double sigma) {
  return {client, "gaussian", 0.0, sigma, 0, kAllColumns};
}
Attacker scaled(std::size_t client, double factor, std::size_t begin, std::size_t end) {
  return {client, "scaled", factor, factor, begin, end};
}
Attacker noisy(std::size_t client, double spread) {
  return {client, "noisy", 1.0, spread, 0, kAllColumns};
}

std::vector<std::size_t> spread_positions(std::size_t n, std::size_t count) {
  FEDGUARD_EXPECTS(count <= n,
                   "synthetic round: " << count << " positions asked of " << n << " clients");
  std::vector<std::size_t> pos(count);
  // Both a * n / count + 1 and n - (count - a) increase strictly with a, so the positions are
  // distinct; the second only binds when nearly every client is placed.
  for (std::size_t a = 0; a < count; ++a) pos[a] = std::min(a * n / count + 1, n - (count - a));
  return pos;
}

std::vector<std::string> groups(const RoundSpec& s) {
  const std::vector<const Attacker*> of = attackers_of(s);
  std::vector<std::string> out(s.n, "benign");
  for (std::size_t i = 0; i < s.n; ++i) {
    const std::size_t source = is_copy(s, i) ? i - 1 : i;
    if (of[source] != nullptr) out[i] = of[source]->group;
  }
  return out;
}

Round generate(const RoundSpec& s) {
  const Plan p = plan_for(s);
  Round r;
  r.n = s.n;
  r.d = s.d;
  r.group = groups(s);
  r.updates.resize(s.n * s.d);
  rows_into(s, p, 0, s.n, r.updates.data());
  std::size_t benign = 0;
  std::vector<double> sum(s.d, 0.0);
  for (std::size_t i = 0; i < s.n; ++i) {
    if (r.group[i] != "benign") continue;
    ++benign;
    const float* x = r.updates.data() + i * s.d;
    for (std::size_t j = 0; j < s.d; ++j) sum[j] += x[j];
  }
  if (benign > 0) {
    for (double& v : sum) v /= static_cast<double>(benign);
    r.benign_mean = std::move(sum);
  }
  return r;
}

void generate_rows(const RoundSpec& s, std::size_t first, std::size_t count, float* out) {
  FEDGUARD_EXPECTS(first <= s.n && count <= s.n - first,
                   "synthetic round: rows [" << first << ", " << first + count << ") of n=" << s.n);
  rows_into(s, plan_for(s), first, count, out);
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) {
  return stream_key(seed, index ^ kJitter);
}

double standard_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  double z0, z1;
  normal_pair(stream_key(seed, stream), index / 2, &z0, &z1);
  return index % 2 == 0 ? z0 : z1;
}

}  // namespace fedguard::synthetic
