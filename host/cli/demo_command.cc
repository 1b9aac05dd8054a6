// `fedguard demo`: a synthetic round with known attackers, the default policy against plain
// FedAvg, and a table a newcomer can read.
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "common/regular_file.h"
#include "fedguard/engine.h"
#include "synthetic/round.h"

namespace fedguard::cli {
namespace {

// The recommended preset (docs/detection.md) with f = the attacker count, as JSON text.
std::string default_policy(std::size_t f) {
  return nlohmann::json{{"preset", "recommended"}, {"f", f}}.dump();
}

double distance(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < b.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return std::sqrt(s);
}

// The demo's round: benign clients send g + noise (g a common direction, the noise of the same
// scale, 0.01); the attackers, spread through the clients so no rule can win by position, are
// alternately a scaled sign flip (-4 g + noise) and large Gaussian noise (sigma 10x the benign).
synthetic::RoundSpec demo_round(std::size_t benign, std::size_t attackers, std::size_t d,
                                std::uint64_t seed) {
  synthetic::RoundSpec spec;
  spec.n = benign + attackers;
  spec.d = d;
  spec.direction_scale = 0.01;
  spec.noise_scale = 0.01;
  spec.seed = seed;
  const std::vector<std::size_t> at = synthetic::spread_positions(spec.n, attackers);
  for (std::size_t a = 0; a < attackers; ++a)
    spec.attackers.push_back(a % 2 == 0 ? synthetic::sign_flip(at[a], 4.0)
                                        : synthetic::gaussian(at[a], 10.0));
  return spec;
}

// The policy in one short line: the preset as given, or the file and its aggregator (the
// filled-in config runs to several hundred characters; `engine.config` / docs/config.md).
std::string short_policy(const std::string& config_path, const std::string& policy_text) {
  if (config_path.empty())
    return policy_text + " (calibrated detection, then NNM + trimmed mean; docs/detection.md)";
  std::string line = config_path;
  const auto j = nlohmann::json::parse(policy_text, nullptr, false);
  if (j.is_object() && j.contains("aggregator") && j["aggregator"].is_object() &&
      j["aggregator"].contains("rule"))
    line += " (aggregator " + j["aggregator"]["rule"].dump() + ")";
  else if (j.is_object() && j.contains("preset"))
    line += " (preset " + j["preset"].dump() + ")";
  return line;
}

// One line per group of the table: what the group sends and why the policy treats it so.
std::string group_meaning(const std::string& group, std::size_t clients, std::size_t accepted) {
  std::string verdict = accepted == 0         ? "all rejected"
                        : accepted == clients ? "all accepted"
                                              : std::to_string(clients - accepted) + " rejected";
  if (group == "benign") return "honest updates (a common direction plus noise): " + verdict;
  if (group == "gaussian") return "large random noise: " + verdict + " (norm far above the median)";
  if (group == "sign_flip")
    return "the benign direction negated, x4: " + verdict +
           (accepted == 0 ? " (direction and sign signals)"
                          : " (NNM and the trimmed mean bound their pull)");
  return verdict;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "demo", "Run a synthetic round with attackers: default policy vs plain mean");
  struct Options {
    std::size_t benign = 100, attackers = 20, d = 100000;
    std::uint64_t seed = 1;
    std::string config;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--benign", opt->benign, "benign clients")->capture_default_str();
  cmd->add_option("--attackers", opt->attackers, "attackers (half sign-flip, half Gaussian)")
      ->capture_default_str();
  cmd->add_option("-d,--dim", opt->d, "parameters per update")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "random seed")->capture_default_str();
  cmd->add_option("--config", opt->config,
                  "policy JSON file (default: {\"preset\": \"recommended\", \"f\": <attackers>})");
  cmd->callback([opt, &exit_code] {
    // The distances below are to the benign clients' mean.
    FEDGUARD_EXPECTS(opt->benign >= 1, "demo: --benign must be at least 1");
    const synthetic::Round s =
        synthetic::generate(demo_round(opt->benign, opt->attackers, opt->d, opt->seed));
    Engine robust(opt->config.empty() ? EngineConfig::from_json(default_policy(opt->attackers))
                                      : read_config_file(opt->config));
    const std::string policy_text = opt->config.empty()
                                        ? default_policy(opt->attackers)
                                        : read_regular_file(opt->config, kMaxTextFileBytes);
    Engine plain(EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}})"));
    RoundInput in;
    in.updates = UpdateView(s.updates.data(), s.n, s.d, DType::kFloat32);
    const RoundResult r = robust.process_round(in);
    const RoundResult m = plain.process_round(in);

    std::printf(
        "fedguard demo: %zu clients (%zu benign, %zu attackers), d = %zu, seed %llu, backend %s\n",
        s.n, opt->benign, opt->attackers, s.d, static_cast<unsigned long long>(opt->seed),
        robust.backend_name().c_str());
    std::printf("policy: %s\n\n", short_policy(opt->config, policy_text).c_str());
    std::map<std::string, std::array<std::size_t, 3>>
        groups;  // clients, accepted by policy, by mean
    for (std::size_t i = 0; i < s.n; ++i) {
      auto& g = groups[s.group[i]];
      ++g[0];
      g[1] += r.accepted[i];
      g[2] += m.accepted[i];
    }
    std::printf("%-12s %8s %18s %16s\n", "group", "clients", "accepted (policy)",
                "accepted (mean)");
    for (const auto& [name, g] : groups)
      std::printf("%-12s %8zu %18zu %16zu\n", name.c_str(), g[0], g[1], g[2]);
    std::printf("\n");
    for (const auto& [name, g] : groups)
      std::printf("%-12s %s\n", (name + ":").c_str(), group_meaning(name, g[0], g[1]).c_str());

    double benign_norm = 0;
    for (double x : s.benign_mean) benign_norm += x * x;
    benign_norm = std::sqrt(benign_norm);
    const double dr = distance(r.aggregate, s.benign_mean),
                 dm = distance(m.aggregate, s.benign_mean);
    std::printf("\n%-8s %26s %24s\n", "rule", "distance to benign mean", "relative to its norm");
    std::printf("%-8s %26.4g %24.4f\n", "policy", dr, dr / benign_norm);
    std::printf("%-8s %26.4g %24.4f\n", "mean", dm, dm / benign_norm);
    std::printf("\npolicy timings (ms):");
    for (const auto& [stage, ms] : r.timings_ms) std::printf(" %s %.1f", stage.c_str(), ms);
    std::printf("\n");
    std::map<std::string, std::size_t> reasons;
    for (const Rejection& rejection : r.rejections) ++reasons[reason_code_name(rejection.code)];
    std::printf("rejections by reason code (docs/result.md):");
    for (const auto& [code, count] : reasons) std::printf(" %s %zu", code.c_str(), count);
    std::printf("\n");
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
