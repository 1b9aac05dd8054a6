// `fedguard round`: one saved round (a 2-D .npy of updates) through a policy.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "common/regular_file.h"
#include "fedguard/engine.h"
#include "io/npy.h"

namespace fedguard::cli {

void add_round_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("round", "Process one saved round: updates (.npy, n x d) through a policy");
  struct Options {
    std::string updates, config, num_samples, ids, out, aggregate_out, reference, state, backend, precision;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--updates", opt->updates, "2-D .npy, float32 or float16, C order")->required();
  cmd->add_option("--config", opt->config, "policy JSON (docs/config.md)")->required();
  cmd->add_option("--num-samples", opt->num_samples, "1-D .npy of per-client sample counts");
  cmd->add_option("--ids", opt->ids, "text file, one client id a line");
  cmd->add_option("--reference", opt->reference, "1-D .npy: the server's reference update (fltrust)");
  cmd->add_option("--state", opt->state,
                  "state file: read if it exists, written (atomically) only after a successful round");
  cmd->add_option("--out", opt->out, "result JSON (default: stdout)");
  cmd->add_option("--aggregate-out", opt->aggregate_out, "aggregate as a 1-D float32 .npy");
  cmd->add_option("--backend", opt->backend, "auto, cpu or cuda: overrides the config's \"backend\"")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--precision", opt->precision, "fp32, tf32 or bf16 (Gram, CUDA): overrides the config's \"precision\"")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  cmd->callback([opt, &exit_code] {
    EngineConfig config = read_config_file(opt->config);
    if (!opt->backend.empty() || !opt->precision.empty()) {
      nlohmann::json j = config.to_json();
      if (!opt->backend.empty()) j["backend"] = opt->backend;
      if (!opt->precision.empty()) j["precision"] = opt->precision;
      config = EngineConfig::from_json_value(j);
    }
    Engine engine(config);
    // A state path that exists but cannot be read (a FIFO, a directory, no permission) is an
    // error from load_state, not a fresh start.
    if (!opt->state.empty() && path_exists(opt->state)) engine.load_state(opt->state);
    const io::NpyFile updates(opt->updates);
    FEDGUARD_EXPECTS(updates.shape().size() == 2, opt->updates << ": updates must be 2-D (n x d), got "
                                                               << updates.shape().size() << "-D");
    RoundInput in;
    in.updates = UpdateView(updates.data(), updates.shape()[0], updates.shape()[1], updates.update_dtype());
    if (!opt->num_samples.empty()) {
      const io::NpyFile w(opt->num_samples);
      FEDGUARD_EXPECTS(w.shape().size() == 1, opt->num_samples << ": num_samples must be 1-D");
      in.num_samples = w.to_doubles();
    }
    if (!opt->ids.empty()) in.client_ids = read_ids_file(opt->ids);
    std::vector<float> reference;
    if (!opt->reference.empty()) {
      const io::NpyFile r(opt->reference);
      FEDGUARD_EXPECTS(r.shape().size() == 1 && r.shape()[0] == in.updates.cols(),
                       opt->reference << ": the reference must be 1-D of length d=" << in.updates.cols());
      reference.resize(in.updates.cols());
      convert_to_float(r.update_dtype(), r.data(), reference.data(), reference.size());
      in.reference = reference.data();
    }
    const RoundResult r = engine.process_round(in);
    if (!opt->state.empty()) engine.save_state(opt->state);

    const std::string text = r.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (opt->out.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      std::ofstream f(opt->out);
      if (!(f << text)) FEDGUARD_THROW(kIo, opt->out << ": cannot write");
    }
    if (!opt->aggregate_out.empty())
      io::write_npy(opt->aggregate_out, io::NpyType::kFloat32, {r.d}, r.aggregate.data());
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
