// `fedguard simulate`: federated training on Fashion-MNIST under attack with the engine as the
// server (host/sim/, docs/simulator.md). Needs LibTorch (FEDGUARD_TORCH); without it the
// command exists and says so.
#include <unistd.h>

#include <climits>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "common/regular_file.h"
#include "fedguard/error.h"

#ifdef FEDGUARD_HAS_TORCH
#include <nlohmann/json.hpp>

#include "sim/matrix.h"
#include "sim/simulator.h"
#endif

namespace fedguard::cli {
namespace {

#ifdef FEDGUARD_HAS_TORCH
template <class Json>
Json read_json_file(const std::string& path) {
  const std::string text = read_regular_file(path, kMaxTextFileBytes);  // no FIFO, bounded
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    FEDGUARD_THROW(kInvalidInput, path << ": not valid JSON: " << e.what());
  }
}

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t len = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (len <= 0) FEDGUARD_THROW(kIo, "/proc/self/exe: cannot find the fedguard binary for the matrix cells");
  return std::string(buf, static_cast<std::size_t>(len));
}
#endif

}  // namespace

void add_simulate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "simulate", "Federated training on Fashion-MNIST under attack, the engine as the server (needs LibTorch)");
  struct Options {
    std::string config, matrix, out_dir, log_dir;
    std::size_t jobs = 2;
    bool rerun = false, quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--config", opt->config, "simulator config JSON (docs/simulator.md)")->required();
  cmd->add_option("--matrix", opt->matrix,
                  "matrix JSON {\"policies\": {...}, \"attacks\": {...}}: run every pair, the config being the base");
  cmd->add_option("--jobs", opt->jobs, "matrix: cells running at once (default 2)");
  cmd->add_flag("--rerun", opt->rerun, "matrix: run cells again even where a result exists");
  cmd->add_option("--out-dir", opt->out_dir, "overrides the config's out_dir");
  cmd->add_option("--log-dir", opt->log_dir, "write the rounds' updates as an update log here (docs/formats.md)");
  cmd->add_flag("--quiet", opt->quiet, "no progress lines");
  cmd->callback([opt, &exit_code] {
#ifdef FEDGUARD_HAS_TORCH
    if (!opt->matrix.empty()) {
      auto base = read_json_file<nlohmann::json>(opt->config);
      sim::MatrixOptions m;
      m.executable = self_executable();
      m.out_dir = !opt->out_dir.empty() ? opt->out_dir
                  : base.contains("out_dir") && base["out_dir"].is_string() ? base["out_dir"].get<std::string>()
                                                                              : "sim-matrix";
      base.erase("out_dir");
      // The matrix gives every cell its policy and attack: the base config's are replaced.
      base.erase("policy");
      base.erase("attack");
      m.jobs = opt->jobs;
      m.rerun = opt->rerun;
      const auto out = sim::run_matrix(base, read_json_file<nlohmann::ordered_json>(opt->matrix), m);
      std::size_t bad = 0;
      for (const auto& c : out["cells"]) bad += c["summary"]["status"] == "no result";
      exit_code = bad ? 1 : 0;
      return;
    }
    sim::SimConfig c = sim::SimConfig::from_json(read_json_file<nlohmann::json>(opt->config));
    if (!opt->out_dir.empty()) c.out_dir = opt->out_dir;
    if (!opt->log_dir.empty()) c.log_dir = opt->log_dir;
    if (opt->quiet) c.progress = false;
    const auto result = sim::run_simulation(c);
    exit_code = result["summary"]["status"] == "ok" ? 0 : 1;
#else
    FEDGUARD_THROW(kUnsupported, "fedguard simulate: built without LibTorch (configure with -DFEDGUARD_TORCH=ON; "
                                 "Debian package libtorch-dev)");
#endif
  });
}

}  // namespace fedguard::cli
