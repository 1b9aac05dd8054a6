#include "forensics/synthetic_log.h"

#include <cstdio>
#include <random>

#include "io/update_log.h"

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
  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  io::UpdateLogWriter writer(dir);
  writer.set_info({{"writer", "tests/forensics/synthetic_log.cc"}, {"seed", spec.seed}});
  const std::size_t n = spec.clients;
  std::vector<float> x(n * d), direction(d);
  for (std::size_t t = 0; t < spec.rounds; ++t) {
    for (float& v : direction) v = 0.1f * normal(rng);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) x[i * d + j] = direction[j] + 0.05f * normal(rng);
    io::LoggedRound r;
    r.round = t;
    r.n = n;
    r.d = d;
    r.updates = x.data();
    r.layers = spec.layers;
    r.ground_truth_known = true;
    for (std::size_t i = 0; i < n; ++i) {
      r.client_ids.push_back(synthetic_client_id(i));
      r.num_samples.push_back(100.0 + static_cast<double>(i));
    }
    if (t >= spec.attack_from) {
      for (std::size_t k = 0; k < spec.attackers.size(); ++k) {
        const std::size_t i = spec.attackers[k];
        if (i >= n) continue;
        float* row = x.data() + i * d;
        if (k % 2 == 0) {
          for (std::size_t j = attacked_begin; j < attacked_end; ++j) row[j] *= static_cast<float>(spec.scale);
        } else {
          for (std::size_t j = attacked_begin; j < attacked_end; ++j) row[j] = -static_cast<float>(spec.scale) * row[j];
        }
        r.malicious.push_back(synthetic_client_id(i));
      }
    }
    r.extra = {{"attack", t >= spec.attack_from ? "scale/flip" : "none"}};
    writer.append(r);
  }
}

}  // namespace fedguard::test
