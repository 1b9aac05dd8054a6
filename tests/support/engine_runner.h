// Runs one engine round on a test matrix, in any dtype, with a JSON policy.
#pragma once

#include <string>
#include <vector>

#include "fedguard/fedguard.h"
#include "support/random_round.h"

namespace fedguard::test {

/// Rounds x to dtype in place (so the reference sees exactly the values the engine reads) and
/// returns the raw bytes to hand to the engine.
std::vector<unsigned char> encode(Matrix& x, DType dtype);

/// One round of `config_json` (a policy; tile_columns and threads overridden when > 0).
RoundResult run_round(Engine& engine, const std::vector<unsigned char>& bytes, std::size_t n,
                      std::size_t d, DType dtype, const std::vector<double>& num_samples = {});
Engine make_engine(const std::string& config_json, std::size_t tile_columns = 0);

}  // namespace fedguard::test
