// `fedguard`: the command line. Exit codes: 0 success, 1 unexpected failure, 2 invalid input
// or configuration, 3 file errors, 4 unsupported request or device failure.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli/blas_kernel.h"
#include "cli/commands.h"
#include "cli/torch_plugin_loader.h"
#include "fedguard/engine.h"

int main(int argc, char** argv) {
  // Before anything runs: this may replace the process with one that runs the BLAS kernels the
  // processor has (cli/blas_kernel.h).
  fedguard::cli::run_with_the_processors_blas_kernel(argv);
  // `.pt` round files for `fedguard scan`, through the LibTorch plugin loaded on first use.
  fedguard::cli::install_pt_round_reader();
  CLI::App app{"fedguard: poisoning detection and robust aggregation for federated learning"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fedguard::version());
  int exit_code = 0;
  fedguard::cli::add_demo_command(app, exit_code);
  fedguard::cli::add_round_command(app, exit_code);
  fedguard::cli::add_info_command(app, exit_code);
  fedguard::cli::add_attack_command(app, exit_code);
  fedguard::cli::add_scan_command(app, exit_code);
  fedguard::cli::add_simulate_command(app, exit_code);
  fedguard::cli::add_keys_command(app, exit_code);
  fedguard::cli::add_monitor_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A usage error (no command, unknown flag, missing value) is invalid input: exit 2, as the
    // README documents, with the usage line (CLI11's own codes, e.g. 106, mean nothing to users).
    std::fprintf(stderr, "fedguard: %s\n", e.what());
    std::string commands;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      commands += (commands.empty() ? "" : "|") + sub->get_name();
    std::fprintf(stderr,
                 "usage: fedguard <%s> [options]; fedguard <command> --help for its options\n",
                 commands.c_str());
    return 2;
  } catch (const fedguard::Error& e) {
    std::fprintf(stderr, "fedguard: error (%s): %s\n", fedguard::category_name(e.category()),
                 e.what());
    switch (e.category()) {
      case fedguard::ErrorCategory::kInvalidInput:
        return 2;
      case fedguard::ErrorCategory::kIo:
        return 3;
      default:
        return 4;
    }
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "fedguard: error (out of memory): allocation failed\n");
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedguard: unexpected error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
