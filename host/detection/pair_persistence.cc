// A pair's persistence; see pair_persistence.h for the statistic and its calibration.
#include "detection/pair_persistence.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fedguard::detection {

bool add_pair_round(PairTrack& track, const double* a, const double* b, std::size_t k) {
  if (track.diff.size() != k) track = PairTrack{std::vector<double>(k, 0.0)};
  std::vector<double> diff(k);
  double sq = 0;
  for (std::size_t q = 0; q < k; ++q) {
    const double dq = a[q] - b[q];
    diff[q] = kPairDecay * track.diff[q] + dq;
    sq += dq * dq;
  }
  const double decay_sq = kPairDecay * kPairDecay;
  PairTrack next{std::move(diff),
                 decay_sq * track.weighted_sq + sq,
                 kPairDecay * track.weight + 1,
                 decay_sq * track.weight_sq + 1,
                 kPairDecay * track.energy + sq,
                 kPairDecay * track.energy_sq + sq * sq,
                 track.rounds + 1};
  bool finite = std::isfinite(next.weighted_sq) && std::isfinite(next.energy_sq);
  for (double v : next.diff) finite = finite && std::isfinite(v);
  if (!finite) return false;
  track = std::move(next);
  return true;
}

double pair_persistence(const PairTrack& track) {
  if (!(track.weighted_sq > 0)) return std::numeric_limits<double>::quiet_NaN();
  double sq = 0;
  for (double v : track.diff) sq += v * v;
  return sq / track.weighted_sq;
}

double pair_persistence_cut(const PairTrack& track) {
  // v: the relative variance of the rounds' |d_t|^2, weighted as the sums are.
  double v = 0;
  if (track.weight > 0 && track.energy > 0) {
    const double mean = track.energy / track.weight, second = track.energy_sq / track.weight;
    v = std::max(0.0, second / (mean * mean) - 1);
  }
  return 1 + std::max(kPersistenceExcess, kPersistenceSpread * std::sqrt(v));
}

bool pair_is_persistent(const PairTrack& track) {
  const double p = pair_persistence(track);
  return track.rounds >= kPairMinRounds && std::isfinite(p) && p >= pair_persistence_cut(track);
}

}  // namespace fedguard::detection
