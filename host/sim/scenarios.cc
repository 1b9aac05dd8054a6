// MPAF's fake clients: Cao, Gong, "MPAF: Model Poisoning Attacks to Federated Learning based on
// Fake Clients", CVPR Workshops 2022 (the attack itself is host/attacks/mpaf.cc; here only who
// sends it and under which keys). Label-skewed splits: Hsu, Qi, Brown 2019 (sim/partition.cc).
#include "sim/scenarios.h"

#include <algorithm>
#include <cmath>

#include "fedguard/error.h"

namespace fedguard::sim {

double ramp_strength(std::size_t round, std::size_t start_round, std::size_t ramp_rounds) {
  if (round < start_round) return 0;
  if (ramp_rounds == 0) return 1;
  const double s = static_cast<double>(round - start_round + 1) / static_cast<double>(ramp_rounds);
  return std::min(1.0, s);
}

DriftPosition drift_position(std::size_t round, std::size_t period) {
  FEDGUARD_EXPECTS(period > 0, "drift period must be > 0");
  return {round / period, static_cast<double>(round % period) / static_cast<double>(period)};
}

std::vector<std::uint32_t> drift_mix(const std::vector<std::uint32_t>& from,
                                     const std::vector<std::uint32_t>& to, double t) {
  FEDGUARD_EXPECTS(t >= 0 && t <= 1, "drift position " << t << " is not in [0, 1]");
  const auto take = [](std::size_t size, double share) {
    return std::min(size,
                    static_cast<std::size_t>(std::llround(share * static_cast<double>(size))));
  };
  std::vector<std::uint32_t> out(
      from.begin(), from.begin() + static_cast<std::ptrdiff_t>(take(from.size(), 1 - t)));
  std::vector<std::uint32_t> seen(out);
  std::sort(seen.begin(), seen.end());
  for (std::size_t i = 0, want = take(to.size(), t); i < want; ++i)
    if (!std::binary_search(seen.begin(), seen.end(), to[i])) out.push_back(to[i]);
  // Rounding can leave nothing (a tiny client at t near 0.5): keep one sample of the nearer split.
  if (out.empty()) {
    if (t < 0.5 && !from.empty())
      out.push_back(from[0]);
    else if (!to.empty())
      out.push_back(to[0]);
    else if (!from.empty())
      out.push_back(from[0]);
  }
  return out;
}

double label_weight(std::size_t c, std::size_t classes, std::size_t round, std::size_t period,
                    double min_weight) {
  FEDGUARD_EXPECTS(period > 0 && classes > 0, "label_prior drift needs period > 0 and classes > 0");
  const double kTwoPi = 6.283185307179586;
  const double phase = static_cast<double>(round) / static_cast<double>(period) -
                       static_cast<double>(c) / static_cast<double>(classes);
  return min_weight + (1 - min_weight) * (1 + std::cos(kTwoPi * phase)) / 2;
}

std::vector<std::uint32_t> label_prior_subset(const std::vector<std::uint32_t>& part,
                                              const std::vector<std::uint8_t>& labels,
                                              const std::vector<double>& keep_u,
                                              std::size_t classes, std::size_t round,
                                              std::size_t period, double min_weight) {
  std::vector<double> w(classes);
  for (std::size_t c = 0; c < classes; ++c)
    w[c] = label_weight(c, classes, round, period, min_weight);
  std::vector<std::uint32_t> out;
  out.reserve(part.size());
  for (const std::uint32_t s : part) {
    FEDGUARD_EXPECTS(s < labels.size() && s < keep_u.size() && labels[s] < classes,
                     "label_prior drift: sample " << s << " out of range");
    if (keep_u[s] < w[labels[s]]) out.push_back(s);
  }
  return out.empty() ? part : out;
}

SignedFederation::SignedFederation(const VerificationSpec& spec,
                                   const std::vector<std::string>& client_ids,
                                   const FakeClientSpec& fakes)
    : spec_(spec), fakes_(fakes) {
  FEDGUARD_EXPECTS(
      fakes.keys == "none" || fakes.keys == "enrolled",
      "fake clients' keys must be \"none\" or \"enrolled\", got \"" << fakes.keys << "\"");
  registry_.federation = spec.federation;
  registry_.max_new_per_round = spec.max_new_per_round;
  registry_.probation = spec.probation;
  for (const auto& id : client_ids) {
    ids_.push_back(id);
    keys_.push_back(identity::generate_key_pair());
    registry_.add({id, keys_.back().public_key, identity::ClientStatus::kActive, 0});
  }
  for (std::size_t j = 0; j < fakes.count; ++j) {
    fake_ids_.push_back("fake" + std::to_string(j));
    FEDGUARD_EXPECTS(
        std::find(client_ids.begin(), client_ids.end(), fake_ids_.back()) == client_ids.end(),
        "fake client id " << fake_ids_.back() << " is also a client id");
    ids_.push_back(fake_ids_.back());
    keys_.push_back(identity::generate_key_pair());
  }
  registry_.validate("simulator registry");
}

bool SignedFederation::begin_round(std::size_t round) {
  if (fakes_enrolled_ || fakes_.keys != "enrolled" || round < fakes_.join_round ||
      fake_ids_.empty())
    return false;
  const std::size_t first_fake = ids_.size() - fake_ids_.size();
  for (std::size_t j = 0; j < fake_ids_.size(); ++j)
    registry_.add({fake_ids_[j], keys_[first_fake + j].public_key, identity::ClientStatus::kActive,
                   federation_round(round)});
  fakes_enrolled_ = true;
  return true;
}

bool SignedFederation::is_fake(const std::string& id) const {
  return std::find(fake_ids_.begin(), fake_ids_.end(), id) != fake_ids_.end();
}

std::vector<std::string> SignedFederation::sign(const float* rows, std::size_t n, std::size_t d,
                                                const std::vector<std::string>& ids,
                                                std::size_t round,
                                                const identity::Nonce& nonce) const {
  FEDGUARD_EXPECTS(ids.size() == n, "sign: " << ids.size() << " ids for " << n << " rows");
  std::vector<std::string> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto it = std::find(ids_.begin(), ids_.end(), ids[i]);
    FEDGUARD_EXPECTS(it != ids_.end(), "sign: no key for client id " << ids[i]);
    const auto& key = keys_[static_cast<std::size_t>(it - ids_.begin())].private_key;
    const identity::Signature sig = identity::sign_update(
        key, spec_.federation, ids[i], federation_round(round), nonce, "float32", d, rows + i * d);
    out[i] = identity::base64_encode(sig.data(), sig.size());
  }
  return out;
}

nlohmann::ordered_json monitoring_summary(
    const std::map<std::string, std::vector<std::uint64_t>>& alert_rounds, long long change_round) {
  const auto before = [&](std::uint64_t r) {
    return change_round < 0 || static_cast<long long>(r) < change_round;
  };
  nlohmann::ordered_json out, by = nlohmann::json::object();
  std::size_t total = 0, total_before = 0;
  long long first_any = -1, first_after = -1;
  for (const auto& [key, rounds] : alert_rounds) {
    std::size_t n_before = 0;
    long long first = -1, first_after_key = -1;
    for (const std::uint64_t r : rounds) {
      const auto rr = static_cast<long long>(r);
      if (first < 0 || rr < first) first = rr;
      if (before(r))
        ++n_before;
      else if (first_after_key < 0 || rr < first_after_key)
        first_after_key = rr;
    }
    total += rounds.size();
    total_before += n_before;
    if (first >= 0 && (first_any < 0 || first < first_any)) first_any = first;
    if (first_after_key >= 0 && (first_after < 0 || first_after_key < first_after))
      first_after = first_after_key;
    nlohmann::ordered_json d;
    d["alerts"] = rounds.size();
    d["alerts_before_change"] = n_before;
    d["first_round"] = first >= 0 ? nlohmann::json(first) : nlohmann::json(nullptr);
    d["delay"] = first_after_key >= 0 ? nlohmann::json(first_after_key - change_round)
                                      : nlohmann::json(nullptr);
    by[key] = d;
  }
  out["alerts"] = total;
  out["change_round"] = change_round >= 0 ? nlohmann::json(change_round) : nlohmann::json(nullptr);
  out["alerts_before_change"] = total_before;
  out["first_alert_round"] = first_any >= 0 ? nlohmann::json(first_any) : nlohmann::json(nullptr);
  out["detection_delay"] =
      first_after >= 0 ? nlohmann::json(first_after - change_round) : nlohmann::json(nullptr);
  out["by_detector"] = by;
  return out;
}

}  // namespace fedguard::sim
