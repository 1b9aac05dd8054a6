// `fedguard scan`: offline forensics over an update log (docs/forensics.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "fedguard/engine.h"
#include "forensics/scan.h"

namespace fedguard::cli {
namespace {

forensics::PolicySpec load_policy(const std::string& path) {
  forensics::PolicySpec p;
  p.name = std::filesystem::path(path).stem().string();
  p.config = read_config_file(path);
  return p;
}

}  // namespace

void add_scan_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("scan",
                                 "Offline forensics: run policies over every round of an update "
                                 "log; write rounds.jsonl, clients.csv, report.html");
  struct Options {
    std::string log_dir, config, out, progress = "auto";
    std::vector<std::string> compare;
    bool no_layer_scores = false, strict = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("logdir", opt->log_dir, "update log directory (docs/formats.md)")->required();
  auto* config = cmd->add_option("--config", opt->config, "policy JSON (docs/config.md)");
  auto* compare =
      cmd->add_option("--compare", opt->compare,
                      "several policy JSON files: run all over the same log and compare")
          ->expected(2, 1 << 20);
  config->excludes(compare);
  cmd->add_option("--out", opt->out, "output directory (default: ./scan_<log directory name>)");
  cmd->add_flag("--no-layer-scores", opt->no_layer_scores,
                "skip the per-layer scores (one pass less over each round)");
  cmd->add_option("--progress", opt->progress,
                  "auto (a bar on a terminal, lines otherwise), bar, lines, none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  cmd->add_flag("--strict", opt->strict,
                "exit with code 3 when a round cannot be read or a policy fails on it");
  cmd->callback([opt, &exit_code] {
    FEDGUARD_EXPECTS(!opt->config.empty() || !opt->compare.empty(),
                     "scan needs --config or --compare");
    forensics::ScanOptions so;
    so.log_dir = opt->log_dir;
    while (so.log_dir.size() > 1 && so.log_dir.back() == '/') so.log_dir.pop_back();
    so.out_dir = opt->out.empty() ? "scan_" + std::filesystem::path(so.log_dir).filename().string()
                                  : opt->out;
    if (!opt->config.empty()) so.policies.push_back(load_policy(opt->config));
    for (const auto& path : opt->compare) so.policies.push_back(load_policy(path));
    so.layer_scores = !opt->no_layer_scores;
    so.progress = opt->progress == "bar"     ? forensics::ProgressMode::kBar
                  : opt->progress == "lines" ? forensics::ProgressMode::kLines
                  : opt->progress == "none"  ? forensics::ProgressMode::kNone
                                             : forensics::ProgressMode::kAuto;
    const forensics::ScanSummary s = forensics::run_scan(so);

    std::size_t policy_failures = 0;
    for (const auto& r : s.rounds)
      for (const auto& p : r.policies) policy_failures += r.ok && !p.ok;
    std::printf(
        "scanned %zu rounds (%zu unreadable, %zu policy failures): %.1f MB of updates in %.2f s "
        "(%.1f MB/s)\n",
        s.rounds.size(), s.bad_rounds, policy_failures, s.bytes / 1e6, s.seconds,
        s.seconds > 0 ? s.bytes / 1e6 / s.seconds : 0.0);
    for (std::size_t k = 0; k < s.policies.size(); ++k) {
      std::printf("policy %s:", s.policies[k].name.c_str());
      if (s.has_ground_truth) {
        const auto c = forensics::policy_confusion(s, k);
        std::printf(" TPR %.3f (%zu/%zu) FPR %.3f (%zu/%zu)", c.tpr(), c.tp, c.tp + c.fn, c.fpr(),
                    c.fp, c.fp + c.tn);
      }
      std::printf("\n");
    }
    std::printf("wrote %s/report.html\n", so.out_dir.c_str());
    exit_code = opt->strict && (s.bad_rounds > 0 || policy_failures > 0) ? 3 : 0;
  });
}

}  // namespace fedguard::cli
