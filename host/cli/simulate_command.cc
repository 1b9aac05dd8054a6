// `fedguard simulate`: federated training on Fashion-MNIST under attack with the engine as the
// server (host/sim/, docs/simulator.md). The simulator lives in the LibTorch plugin
// (sim/torch_plugin.h), loaded by this command only; without LibTorch in the build the command
// exists and says so.
#include <unistd.h>

#include <climits>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/torch_plugin_loader.h"
#include "fedguard/error.h"

namespace fedguard::cli {
namespace {

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t len = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (len <= 0)
    FEDGUARD_THROW(kIo, "/proc/self/exe: cannot find the fedguard binary for the matrix cells");
  return std::string(buf, static_cast<std::size_t>(len));
}

}  // namespace

void add_simulate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("simulate",
                                 "Federated training on Fashion-MNIST under attack, the engine as "
                                 "the server (needs LibTorch)");
  struct Options {
    std::string config, matrix, out_dir, log_dir;
    std::size_t jobs = 2;
    bool rerun = false, quiet = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--config", opt->config, "simulator config JSON (docs/simulator.md)")->required();
  cmd->add_option("--matrix", opt->matrix,
                  "matrix JSON {\"policies\": {...}, \"attacks\": {...}}: run every pair, the "
                  "config being the base");
  cmd->add_option("--jobs", opt->jobs, "matrix: cells running at once (default 2)");
  cmd->add_flag("--rerun", opt->rerun, "matrix: run cells again even where a result exists");
  cmd->add_option("--out-dir", opt->out_dir, "overrides the config's out_dir");
  cmd->add_option("--log-dir", opt->log_dir,
                  "write the rounds' updates as an update log here (docs/formats.md)");
  cmd->add_flag("--quiet", opt->quiet, "no progress lines");
  cmd->callback([opt, &exit_code] {
    // The simulator is in the LibTorch plugin: loaded here, by this command only.
    const sim::TorchPluginTable& torch = torch_plugin();
    sim::SimulateRequest request;
    request.config = opt->config;
    request.matrix = opt->matrix;
    request.out_dir = opt->out_dir;
    request.log_dir = opt->log_dir;
    request.executable = self_executable();
    request.jobs = opt->jobs;
    request.rerun = opt->rerun;
    request.quiet = opt->quiet;
    exit_code = torch.simulate(request);
  });
}

}  // namespace fedguard::cli
