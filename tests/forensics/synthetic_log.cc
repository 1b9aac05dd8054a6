#include "forensics/synthetic_log.h"

#include <cstdio>

#include "io/update_log.h"
#include "synthetic/round.h"

namespace fedguard::test {

std::string synthetic_client_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "client-%02zu", i);
  return buf;
}

void write_synthetic_log(const std::string& dir, const SyntheticLogSpec& spec) {
  std::size_t d = 0;
  std::size_t attacked_begin = 0, attacked_end = 0;
  for (const auto& [name, size] : spec.layers) {
    if (name == spec.attacked_layer) attacked_begin = d, attacked_end = d + size;
    d += size;
  }
  io::UpdateLogWriter writer(dir);
  writer.set_info({{"writer", "tests/forensics/synthetic_log.cc"}, {"seed", spec.seed}});
  const std::size_t n = spec.clients;
  for (std::size_t t = 0; t < spec.rounds; ++t) {
    // A fresh direction every round (0.1 per coordinate), client noise 0.05.
    synthetic::RoundSpec round;
    round.n = n;
    round.d = d;
    round.direction_scale = 0.1;
    round.noise_scale = 0.05;
    round.seed = synthetic::derive_seed(spec.seed, t);
    io::LoggedRound r;
    r.round = t;
    r.n = n;
    r.d = d;
    r.layers = spec.layers;
    r.ground_truth_known = true;
    for (std::size_t i = 0; i < n; ++i) {
      r.client_ids.push_back(synthetic_client_id(i));
      r.num_samples.push_back(100.0 + static_cast<double>(i));
    }
    if (t >= spec.attack_from) {
      // Alternately scaled and sign-flipped-and-scaled in the attacked layer, honest elsewhere.
      for (std::size_t k = 0; k < spec.attackers.size(); ++k) {
        const std::size_t i = spec.attackers[k];
        if (i >= n) continue;
        const double factor = k % 2 == 0 ? spec.scale : -spec.scale;
        round.attackers.push_back(synthetic::scaled(i, factor, attacked_begin, attacked_end));
        r.malicious.push_back(synthetic_client_id(i));
      }
    }
    const synthetic::Round x = synthetic::generate(round);
    r.updates = x.updates.data();
    r.extra = {{"attack", t >= spec.attack_from ? "scale/flip" : "none"}};
    writer.append(r);
  }
}

}  // namespace fedguard::test
