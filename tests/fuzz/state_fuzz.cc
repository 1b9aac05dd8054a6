// libFuzzer target: engine state files (host/engine/state_file.h). Whatever the bytes, the
// reader returns a consistent state (every sketch of sketch_dim finite values, a previous
// aggregate of model_dim finite values) or throws fedguard::Error; a state it returns is
// written and read back unchanged.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/state_file.h"
#include "fedguard/error.h"

namespace {
constexpr std::size_t kSketchDim = 4;  // the corpus is written with sketch_dim 4, seed 7
constexpr std::uint64_t kSeed = 7;

void check(const fedguard::engine::EngineState& s) {
  if (!s.previous_aggregate.empty() && s.previous_aggregate.size() != s.model_dim) __builtin_trap();
  for (float v : s.previous_aggregate)
    if (!std::isfinite(v)) __builtin_trap();
  for (const auto& a : s.aggregate_sketches)
    if (a.size() != kSketchDim) __builtin_trap();
  for (const auto& [ids, t] : s.followed_pairs) {
    if (t.diff.size() != kSketchDim || !(ids.first < ids.second)) __builtin_trap();
    for (double x : t.diff)
      if (!std::isfinite(x)) __builtin_trap();
    for (double x : {t.weighted_sq, t.weight, t.weight_sq, t.energy, t.energy_sq})
      if (!std::isfinite(x) || x < 0) __builtin_trap();
  }
  for (const auto& [id, h] : s.clients) {
    for (const auto* v : {&h.sketch_sum, &h.last_sketch}) {
      if (!v->empty() && v->size() != kSketchDim) __builtin_trap();
      for (double x : *v)
        if (!std::isfinite(x)) __builtin_trap();
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fedguard::engine::EngineState state;
  try {
    state = fedguard::engine::parse_state(bytes, "state.fgs", kSketchDim, kSeed);
  } catch (const fedguard::Error&) {
    return 0;
  }
  check(state);
  // Round trip through the writer (a per-process scratch file).
  static const std::string path = "/tmp/fedguard_state_fuzz_" + std::to_string(::getpid()) + ".fgs";
  fedguard::engine::write_state(path, state, kSketchDim, kSeed);
  const auto again = fedguard::engine::read_state(path, kSketchDim, kSeed);
  if (again.rounds != state.rounds || again.clients.size() != state.clients.size() ||
      again.previous_aggregate != state.previous_aggregate || again.model_dim != state.model_dim ||
      again.followed_pairs.size() != state.followed_pairs.size())
    __builtin_trap();
  return 0;
}
