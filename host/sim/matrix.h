// Matrix mode of `fedguard simulate`: every (policy, attack) pair of a matrix file run as its
// own simulation (a child process each, `jobs` at a time), then one table of the results.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace fedguard::sim {

struct MatrixOptions {
  std::string executable;  ///< the fedguard binary the cells run in
  std::string out_dir;     ///< cells/<policy>__<attack>/, matrix.json, matrix.md
  std::size_t jobs = 2;    ///< cells running at once
  bool rerun = false;      ///< false: a cell whose result.json exists is not run again
};

/// base: a simulator config (docs/simulator.md) without "policy" and "attack" (they come from
/// the matrix); matrix: {"policies": {name: engine config, ...}, "attacks": {name: attack, ...}}
/// (attack as in the simulator config's "attack"; a list of names is accepted too).
/// Writes matrix.json (every cell's summary) and matrix.md (tables) and returns matrix.json's
/// content.
nlohmann::ordered_json run_matrix(const nlohmann::json& base, const nlohmann::ordered_json& matrix,
                                  const MatrixOptions& options);

/// The markdown tables of a matrix.json (final accuracy, attack success, TPR, FPR, and each
/// policy's worst case).
std::string matrix_markdown(const nlohmann::ordered_json& summary);

}  // namespace fedguard::sim
