// The subcommands of the `fedguard` command line.
#pragma once

#include <CLI/CLI.hpp>

namespace fedguard::cli {

/// Each adds its subcommand to app; the callback runs it and sets exit_code.
void add_demo_command(CLI::App& app, int& exit_code);
void add_round_command(CLI::App& app, int& exit_code);
void add_info_command(CLI::App& app, int& exit_code);
void add_attack_command(CLI::App& app, int& exit_code);
void add_scan_command(CLI::App& app, int& exit_code);
void add_simulate_command(CLI::App& app, int& exit_code);
void add_keys_command(CLI::App& app, int& exit_code);
void add_monitor_command(CLI::App& app, int& exit_code);

}  // namespace fedguard::cli
