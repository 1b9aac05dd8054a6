// `fedguard monitor LOG`: follows an update log that is still being written, runs the policy
// and its change-point detectors on each round as it appears, and prints one line per round
// plus its alerts (docs/monitoring.md, "The live monitor").
//
// A round is there when the log lists it: with a manifest, when manifest.json (rewritten
// atomically by the writers after the round's file was renamed into place) names it; without
// one, when its file appears (writers write PATH.tmp and rename). With --state the engine state
// is saved after every round, and the position in the log next to it (STATE.pos: the next log
// index and the engine's round count then), so a restarted monitor resumes after the last round
// it processed and neither feeds a round twice nor repeats its alerts.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "common/json_parse.h"
#include "common/regular_file.h"
#include "fedguard/engine.h"
#include "io/update_log.h"
#include "monitor/monitor.h"
#include "monitor/prometheus.h"

namespace fedguard::cli {
namespace {

// Regular files only (a FIFO as config or position file blocked the monitor), size checked.
std::string read_text(const std::string& path) {
  return read_regular_file(path, kMaxTextFileBytes);
}

struct Position {
  std::uint64_t next_index = 0;     // the next log index to process
  std::uint64_t engine_rounds = 0;  // the engine's round count when next_index was written
};

Position read_position(const std::string& path) {
  Position p;
  nlohmann::json j;
  try {
    j = parse_json(read_text(path));
  } catch (const JsonError& e) {
    FEDGUARD_THROW(kIo, path << ": offset " << e.offset() << ": not valid JSON: " << e.reason());
  }
  for (const char* key : {"next_index", "engine_rounds"})
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_number_unsigned())
      FEDGUARD_THROW(
          kIo, path << ": offset 0: field '" << key << "' missing or not a non-negative integer");
  p.next_index = j.at("next_index").get<std::uint64_t>();
  p.engine_rounds = j.at("engine_rounds").get<std::uint64_t>();
  return p;
}

void write_position(const std::string& path, const Position& p) {
  monitor::write_text_atomically(
      path,
      nlohmann::json{{"next_index", p.next_index}, {"engine_rounds", p.engine_rounds}}.dump() +
          "\n");
}

std::string metric_text(const std::map<std::string, double>& m, const char* key,
                        const char* label) {
  const auto it = m.find(key);
  if (it == m.end()) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, " %s %.4g", label, it->second);
  return buf;
}

struct Options {
  std::string log_dir, config, state, metrics_out, metrics_prom, progress = "auto";
  bool follow = true;
  double poll = 0.5, max_wait = 0;
  std::size_t max_rounds = 0;
};

int run_monitor(const Options& opt) {
  Engine engine(EngineConfig::from_json(read_text(opt.config)));
  Position pos;
  const std::string pos_path = opt.state.empty() ? "" : opt.state + ".pos";
  // path_exists, not an ifstream probe: opening a FIFO to see whether it is there blocks.
  if (!opt.state.empty() && path_exists(opt.state)) {
    engine.load_state(opt.state);
    const std::uint64_t rounds = engine.rounds_processed();
    if (path_exists(pos_path)) {
      pos = read_position(pos_path);
      // The state is saved before the position: one successful round more than the position
      // records means the monitor stopped between the two writes, after that round.
      if (rounds == pos.engine_rounds + 1) {
        ++pos.next_index;
        pos.engine_rounds = rounds;
      }
      FEDGUARD_EXPECTS(rounds == pos.engine_rounds,
                       opt.state << " holds " << rounds << " rounds but " << pos_path
                                 << " was written after " << pos.engine_rounds
                                 << "; they do not belong together");
    } else {
      pos.next_index = rounds;  // a state without a position: assume every round succeeded
      pos.engine_rounds = rounds;
    }
    std::fprintf(stderr, "monitor: resuming at log round index %llu (%llu rounds in the state)\n",
                 static_cast<unsigned long long>(pos.next_index),
                 static_cast<unsigned long long>(rounds));
  }
  const bool tty = opt.progress == "bar" || (opt.progress == "auto" && ::isatty(::fileno(stderr)));
  bool status_shown = false;
  auto clear_status = [&] {
    if (status_shown) std::fprintf(stderr, "\r\033[K");
    status_shown = false;
  };
  std::size_t processed = 0, alerts = 0;
  auto idle_since = std::chrono::steady_clock::now();
  while (true) {
    std::size_t available = 0;
    std::unique_ptr<io::UpdateLog> log;
    std::error_code ec;
    if (std::filesystem::is_directory(opt.log_dir, ec)) {
      log = std::make_unique<io::UpdateLog>(opt.log_dir);
      available = log->entries().size();
    } else if (!opt.follow) {
      FEDGUARD_THROW(kIo, opt.log_dir << ": not a directory");
    }
    while (log && pos.next_index < available &&
           (opt.max_rounds == 0 || processed < opt.max_rounds)) {
      const std::size_t index = pos.next_index;
      std::string line;
      try {
        io::RoundData rd = log->read(index);
        RoundInput in;
        in.updates = rd.updates;
        in.client_ids = rd.client_ids;
        in.num_samples = rd.num_samples;
        in.reference = rd.reference.empty() ? nullptr : rd.reference.data();
        const RoundResult r = engine.process_round(in);
        std::size_t kept = 0;
        for (auto a : r.accepted) kept += a != 0;
        line = "round " + std::to_string(engine.rounds_processed() - 1) + " (log round " +
               std::to_string(rd.round) + "): n " + std::to_string(r.n) + " accepted " +
               std::to_string(kept) + metric_text(r.metrics, "aggregate_norm", "| aggregate_norm") +
               metric_text(r.metrics, "aggregate_cosine", "cosine") +
               metric_text(r.metrics, "norm_q50", "norm_q50") + " | " +
               std::to_string(r.alerts.size()) + " alerts";
        for (const Alert& a : r.alerts) line += "\n  " + monitor::describe(a);
        alerts += r.alerts.size();
        if (!opt.metrics_out.empty()) {
          nlohmann::ordered_json j;
          j["round"] = engine.rounds_processed() - 1;
          j["log_round"] = rd.round;
          const nlohmann::ordered_json full = r.to_json();
          for (const char* key : {"metrics", "alerts", "metrics_refused"}) j[key] = full[key];
          std::ofstream f(opt.metrics_out, std::ios::app);
          if (!(f << j.dump() << "\n" << std::flush))
            FEDGUARD_THROW(kIo, opt.metrics_out << ": cannot append");
        }
        if (!opt.metrics_prom.empty())
          monitor::write_text_atomically(opt.metrics_prom, engine.prometheus_text(r));
      } catch (const Error& e) {
        if (e.category() != ErrorCategory::kInvalidInput && e.category() != ErrorCategory::kIo)
          throw;
        line = "log round index " + std::to_string(index) + ": failed: " + e.what();
      }
      ++pos.next_index;
      pos.engine_rounds = engine.rounds_processed();
      if (!opt.state.empty()) {
        engine.save_state(opt.state);
        write_position(pos_path, pos);
      }
      clear_status();
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      ++processed;
      idle_since = std::chrono::steady_clock::now();
    }
    if (!opt.follow || (opt.max_rounds > 0 && processed >= opt.max_rounds)) break;
    const double idle =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count();
    if (opt.max_wait > 0 && idle >= opt.max_wait) break;
    if (tty) {
      std::fprintf(
          stderr,
          "\r\033[Kmonitor: %zu rounds, %zu alerts; waiting for log round index %llu (%.0f s)",
          processed, alerts, static_cast<unsigned long long>(pos.next_index), idle);
      status_shown = true;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.poll));
  }
  clear_status();
  std::fprintf(stderr, "monitor: %zu rounds processed, %zu alerts\n", processed, alerts);
  return 0;
}

}  // namespace

void add_monitor_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("monitor",
                                 "Follow an update log as it is written: the policy and its "
                                 "change-point detectors on each new round");
  auto opt = std::make_shared<Options>();
  cmd->add_option("logdir", opt->log_dir,
                  "update log directory (docs/formats.md), possibly still being written")
      ->required();
  cmd->add_option("--config", opt->config,
                  "policy JSON (docs/config.md), its \"monitoring\" section included")
      ->required();
  cmd->add_option(
      "--state", opt->state,
      "state file: read if it exists, written after every round with the log position (STATE.pos)");
  cmd->add_flag("--follow,!--no-follow", opt->follow,
                "keep waiting for new rounds (default) or stop when the log's rounds are done");
  cmd->add_option("--poll", opt->poll, "seconds between looks at the log (default 0.5)")
      ->check(finite_number())
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--max-wait", opt->max_wait,
                  "with --follow, stop after this many seconds without a new round (0: never)")
      ->check(finite_number())
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--max-rounds", opt->max_rounds,
                  "stop after processing this many rounds (0: no limit)")
      ->check(unsigned_integer());
  cmd->add_option("--metrics-out", opt->metrics_out,
                  "append each round's metrics and alerts as one JSON line");
  cmd->add_option("--metrics-prom", opt->metrics_prom,
                  "rewrite this Prometheus textfile after every round");
  cmd->add_option("--progress", opt->progress, "auto (a status line on a terminal), bar, none")
      ->check(CLI::IsMember({"auto", "bar", "none"}));
  cmd->callback([opt, &exit_code] {
    while (opt->log_dir.size() > 1 && opt->log_dir.back() == '/') opt->log_dir.pop_back();
    exit_code = run_monitor(*opt);
  });
}

}  // namespace fedguard::cli
