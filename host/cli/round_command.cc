// `fedguard round`: one saved round (a 2-D .npy of updates) through a policy.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "cli/option_checks.h"
#include "common/json_parse.h"
#include "common/regular_file.h"
#include "fedguard/engine.h"
#include "fedguard/identity.h"
#include "fedguard/registry.h"
#include "io/npy.h"
#include "monitor/monitor.h"
#include "monitor/prometheus.h"

namespace fedguard::cli {
namespace {

// S.json: {"<client id>": "<base64 signature>", ...} (docs/formats.md). A malformed file is an
// error; a malformed signature is that client's bad_signature, decided by the engine.
std::map<std::string, std::string> read_signatures(const std::string& path) {
  nlohmann::json j;
  try {  // a malformed file is a file error (exit 3) naming the offset
    j = parse_json(read_regular_file(path, kMaxTextFileBytes));
  } catch (const JsonError& e) {
    FEDGUARD_THROW(kIo, path << ": offset " << e.offset() << ": not valid JSON: " << e.reason());
  }
  FEDGUARD_EXPECTS(
      j.is_object(),
      path << ": signatures must be a JSON object {\"<client id>\": \"<base64>\", ...}");
  std::map<std::string, std::string> out;
  for (const auto& [id, sig] : j.items()) {
    FEDGUARD_EXPECTS(sig.is_string(), path << ": the signature of client '" << id
                                           << "' is not a string: " << sig.dump());
    out[id] = sig.get<std::string>();
  }
  return out;
}

}  // namespace

void add_round_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("round",
                                 "Process one saved round: updates (.npy, n x d) through a policy");
  struct Options {
    std::string updates, config, num_samples, ids, out, aggregate_out, reference, state, backend,
        precision;
    std::string registry, signatures, nonce;
    std::uint64_t round = 0;
    std::string metrics_out, metrics_prom;
    std::vector<std::string> server_metrics;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--updates", opt->updates, "2-D .npy, float32 or float16, C order")->required();
  cmd->add_option("--config", opt->config, "policy JSON (docs/config.md)")->required();
  cmd->add_option("--num-samples", opt->num_samples, "1-D .npy of per-client sample counts");
  cmd->add_option("--ids", opt->ids, "text file, one client id a line");
  cmd->add_option("--reference", opt->reference,
                  "1-D .npy: the server's reference update (fltrust)");
  cmd->add_option(
      "--state", opt->state,
      "state file: read if it exists, written (atomically) only after a successful round");
  cmd->add_option(
      "--registry", opt->registry,
      "client registry JSON: verify every update's signature first (docs/verification.md); "
      "needs --ids, --signatures, --round, --nonce");
  cmd->add_option("--signatures", opt->signatures,
                  "JSON {\"<client id>\": \"<base64 Ed25519 signature>\", ...}");
  auto* round_opt =
      cmd->add_option("--round", opt->round, "the federation round number the clients signed")
          ->check(unsigned_integer());
  cmd->add_option("--nonce", opt->nonce, "the round's 32-byte server nonce, 64 hex digits");
  cmd->add_option("--out", opt->out, "result JSON (default: stdout)");
  cmd->add_option("--aggregate-out", opt->aggregate_out, "aggregate as a 1-D float32 .npy");
  cmd->add_option("--backend", opt->backend,
                  "auto, cpu or cuda: overrides the config's \"backend\"")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--precision", opt->precision,
                  "fp32, tf32 or bf16 (Gram, CUDA): overrides the config's \"precision\"")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  cmd->add_option("--metrics-out", opt->metrics_out,
                  "append the round's metrics and alerts as one JSON line (docs/monitoring.md)");
  cmd->add_option("--metrics-prom", opt->metrics_prom,
                  "write the Prometheus text exposition of the round's metrics (atomically; for a "
                  "textfile collector)");
  cmd->add_option("--server-metric", opt->server_metrics,
                  "NAME=VALUE measured by the server (e.g. loss=0.31, accuracy=0.87); repeatable");
  cmd->callback([opt, round_opt, &exit_code] {
    EngineConfig config = read_config_file(opt->config);
    if (!opt->backend.empty() || !opt->precision.empty()) {
      nlohmann::json j = config.to_json();
      if (!opt->backend.empty()) j["backend"] = opt->backend;
      if (!opt->precision.empty()) j["precision"] = opt->precision;
      config = EngineConfig::from_json_value(j);
    }
    Engine engine(config);
    if (!opt->registry.empty()) {
      FEDGUARD_EXPECTS(
          !opt->ids.empty() && !opt->signatures.empty() && *round_opt && !opt->nonce.empty(),
          "--registry needs --ids, --signatures, --round and --nonce");
      engine.set_registry(identity::load_registry(opt->registry));
    } else {
      FEDGUARD_EXPECTS(opt->signatures.empty() && !*round_opt && opt->nonce.empty(),
                       "--signatures, --round and --nonce are used with --registry only");
    }
    // A state path that exists but cannot be read (a FIFO, a directory, no permission) is an
    // error from load_state, not a fresh start.
    if (!opt->state.empty() && path_exists(opt->state)) engine.load_state(opt->state);
    const io::NpyFile updates(opt->updates);
    FEDGUARD_EXPECTS(updates.shape().size() == 2, opt->updates
                                                      << ": updates must be 2-D (n x d), got "
                                                      << updates.shape().size() << "-D");
    RoundInput in;
    in.updates =
        UpdateView(updates.data(), updates.shape()[0], updates.shape()[1], updates.update_dtype());
    if (!opt->num_samples.empty()) {
      const io::NpyFile w(opt->num_samples);
      FEDGUARD_EXPECTS(w.shape().size() == 1, opt->num_samples << ": num_samples must be 1-D");
      in.num_samples = w.to_doubles();
      // An empty list means "none given" to the engine: a file that holds none is an error,
      // not a round silently run with uniform weights (hostile probe).
      FEDGUARD_EXPECTS(
          !in.num_samples.empty(),
          opt->num_samples << ": holds no num_samples for n=" << in.updates.rows() << " updates");
    }
    if (!opt->ids.empty()) {
      in.client_ids = read_ids_file(opt->ids);
      FEDGUARD_EXPECTS(!in.client_ids.empty(), opt->ids << ": holds no client ids for n="
                                                        << in.updates.rows() << " updates");
    }
    if (!opt->registry.empty()) {
      in.round = opt->round;
      try {
        in.nonce = identity::parse_nonce_hex(opt->nonce);
      } catch (const Error& e) {
        FEDGUARD_THROW(kInvalidInput, "--nonce: " << e.what());
      }
      const std::map<std::string, std::string> sigs = read_signatures(opt->signatures);
      for (const std::string& id : in.client_ids) {
        const auto it = sigs.find(id);
        in.signatures.push_back(it == sigs.end() ? std::string() : it->second);
      }
    }
    std::vector<float> reference;
    if (!opt->reference.empty()) {
      const io::NpyFile r(opt->reference);
      FEDGUARD_EXPECTS(
          r.shape().size() == 1 && r.shape()[0] == in.updates.cols(),
          opt->reference << ": the reference must be 1-D of length d=" << in.updates.cols());
      reference.resize(in.updates.cols());
      convert_to_float(r.update_dtype(), r.data(), reference.data(), reference.size());
      in.reference = reference.data();
    }
    for (const std::string& kv : opt->server_metrics) {
      const auto eq = kv.find('=');
      FEDGUARD_EXPECTS(eq != std::string::npos && eq > 0,
                       "--server-metric wants NAME=VALUE, got '" << kv << "'");
      const std::string value = kv.substr(eq + 1);
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      FEDGUARD_EXPECTS(!value.empty() && end == value.c_str() + value.size(),
                       "--server-metric " << kv << ": '" << value << "' is not a number");
      in.server_metrics[kv.substr(0, eq)] = v;  // NaN / inf parse, and are refused by the monitor
    }
    const RoundResult r = engine.process_round(in);
    if (!opt->state.empty()) engine.save_state(opt->state);
    for (const Alert& a : r.alerts)
      std::fprintf(stderr, "fedguard: %s\n", monitor::describe(a).c_str());
    if (!opt->metrics_out.empty()) {
      nlohmann::ordered_json line;
      line["round"] = engine.rounds_processed() - 1;
      const nlohmann::ordered_json full = r.to_json();
      for (const char* key : {"metrics", "alerts", "metrics_refused"}) line[key] = full[key];
      std::ofstream f(opt->metrics_out, std::ios::app);
      if (!(f << line.dump() << "\n" << std::flush))
        FEDGUARD_THROW(kIo, opt->metrics_out << ": cannot append");
    }
    if (!opt->metrics_prom.empty())
      monitor::write_text_atomically(opt->metrics_prom, engine.prometheus_text(r));

    const std::string text =
        r.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (opt->out.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      std::ofstream f(opt->out);
      if (!(f << text << std::flush)) FEDGUARD_THROW(kIo, opt->out << ": cannot write");
    }
    if (!opt->aggregate_out.empty())
      io::write_npy(opt->aggregate_out, io::NpyType::kFloat32, {r.d}, r.aggregate.data());
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
