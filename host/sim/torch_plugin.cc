// The entry of libfedguard_torch.so (torch_plugin.h): `fedguard simulate` (one run, or a matrix
// of runs) and the `.pt` round reader, both with LibTorch.
#include "sim/torch_plugin.h"

#include <nlohmann/json.hpp>

#include "common/regular_file.h"
#include "fedguard/error.h"
#include "io/pt_round_torch.h"
#include "sim/matrix.h"
#include "sim/simulator.h"

namespace fedguard::sim {
namespace {

template <class Json>
Json read_json_file(const std::string& path) {
  const std::string text = read_regular_file(path, kMaxTextFileBytes);  // no FIFO, bounded
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    FEDGUARD_THROW(kInvalidInput, path << ": not valid JSON: " << e.what());
  }
}

int simulate(const SimulateRequest& request) {
  if (!request.matrix.empty()) {
    auto base = read_json_file<nlohmann::json>(request.config);
    MatrixOptions m;
    m.executable = request.executable;
    m.out_dir = !request.out_dir.empty() ? request.out_dir
                : base.contains("out_dir") && base["out_dir"].is_string()
                    ? base["out_dir"].get<std::string>()
                    : "sim-matrix";
    base.erase("out_dir");
    // The matrix gives every cell its policy and attack: the base config's are replaced.
    base.erase("policy");
    base.erase("attack");
    m.jobs = request.jobs;
    m.rerun = request.rerun;
    const auto out = run_matrix(base, read_json_file<nlohmann::ordered_json>(request.matrix), m);
    std::size_t bad = 0;
    for (const auto& c : out["cells"]) bad += c["summary"]["status"] == "no result";
    return bad ? 1 : 0;
  }
  SimConfig c = SimConfig::from_json(read_json_file<nlohmann::json>(request.config));
  if (!request.out_dir.empty()) c.out_dir = request.out_dir;
  if (!request.log_dir.empty()) c.log_dir = request.log_dir;
  if (request.quiet) c.progress = false;
  const auto result = run_simulation(c);
  return result["summary"]["status"] == "ok" ? 0 : 1;
}

io::RoundData read_round_pt(const std::string& path, const io::ManifestEntry* entry,
                            std::size_t default_round) {
  return io::read_round_pt(path, entry, default_round);
}

}  // namespace
}  // namespace fedguard::sim

extern "C" const fedguard::sim::TorchPluginTable* fedguard_torch_plugin_v1() {
  namespace sim = fedguard::sim;
  static const sim::TorchPluginTable table = [] {
    sim::TorchPluginTable t;
    t.version = FEDGUARD_VERSION;
    t.request_size = sizeof(sim::SimulateRequest);
    t.round_size = sizeof(fedguard::io::RoundData);
    t.simulate = &sim::simulate;
    t.read_round_pt = &sim::read_round_pt;
    return t;
  }();
  return &table;
}
