// `fedguard attack`: crafts the malicious updates of one round with an attack of the library
// (docs/attacks.md) from saved benign updates, and writes them as a 2-D float32 .npy.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "cli/option_checks.h"
#include "common/json_parse.h"
#include "fedguard/attacks.h"
#include "fedguard/error.h"
#include "io/npy.h"

namespace fedguard::cli {
namespace {

// A .npy of any numeric type as float32 values; shape checked by the caller.
std::vector<float> read_floats(const io::NpyFile& f) {
  std::vector<float> out(f.element_count());
  if (f.type() == io::NpyType::kFloat32 || f.type() == io::NpyType::kFloat16) {
    convert_to_float(f.update_dtype(), f.data(), out.data(), out.size());
  } else {
    const std::vector<double> v = f.to_doubles();
    for (std::size_t k = 0; k < v.size(); ++k) out[k] = static_cast<float>(v[k]);
  }
  return out;
}

nlohmann::json read_params(const std::string& text_or_path) {
  std::size_t k = 0;
  while (k < text_or_path.size() && std::isspace(static_cast<unsigned char>(text_or_path[k]))) ++k;
  if (k == text_or_path.size() || text_or_path[k] != '{') return read_json_file(text_or_path);
  try {
    return parse_json(text_or_path);
  } catch (const JsonError& e) {
    FEDGUARD_THROW(kInvalidInput, "--params: invalid JSON: " << e.what());
  }
}

}  // namespace

void add_attack_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("attack",
                                 "Craft malicious updates from saved benign ones (.npy, n x d) "
                                 "with an attack (docs/attacks.md)");
  struct Options {
    std::string name, benign, params, own, global_model, out, info_out;
    std::size_t malicious = 0, n_total = 0, round = 0;
    std::uint64_t seed = 0;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--name", opt->name, "attack name (fedguard attack --list)");
  cmd->add_option("--benign", opt->benign, "2-D .npy of benign updates (n_benign x d)");
  cmd->add_option("--malicious", opt->malicious, "number of malicious updates to craft (f)");
  cmd->add_option("--params", opt->params, "the attack's parameters: JSON text or a JSON file");
  cmd->add_option("--own", opt->own,
                  "2-D .npy (f x d): each malicious client's own update (scaling, sign_flip)");
  cmd->add_option("--global-model", opt->global_model,
                  "1-D .npy (d): the current global model (mpaf, fang_trim)");
  cmd->add_option("--n-total", opt->n_total, "clients in the round (default n_benign + f)")
      ->check(unsigned_integer());
  cmd->add_option("--seed", opt->seed, "seed of every random draw (default 0)");
  cmd->add_option("--round", opt->round, "round number (default 0)")->check(unsigned_integer());
  cmd->add_option("--out", opt->out, "output .npy (f x d, float32)");
  cmd->add_option("--info-out", opt->info_out,
                  "write the attack's info JSON here (default: stdout)");
  auto* list = cmd->add_flag("--list", "print the attack names and exit");
  cmd->callback([opt, list, &exit_code] {
    if (*list) {
      for (const auto& n : attack_names()) std::printf("%s\n", n.c_str());
      exit_code = 0;
      return;
    }
    FEDGUARD_EXPECTS(!opt->name.empty(), "fedguard attack: --name is required");
    FEDGUARD_EXPECTS(!opt->benign.empty(), "fedguard attack: --benign is required");
    FEDGUARD_EXPECTS(!opt->out.empty(), "fedguard attack: --out is required");
    const io::NpyFile benign_file(opt->benign);
    FEDGUARD_EXPECTS(benign_file.shape().size() == 2,
                     opt->benign << ": benign updates must be 2-D (n x d), got "
                                 << benign_file.shape().size() << "-D");
    const std::size_t n = benign_file.shape()[0], d = benign_file.shape()[1];
    const std::vector<float> benign = read_floats(benign_file);
    std::vector<float> own, global;
    if (!opt->own.empty()) {
      const io::NpyFile f(opt->own);
      FEDGUARD_EXPECTS(
          f.shape().size() == 2 && f.shape()[0] == opt->malicious && f.shape()[1] == d,
          opt->own << ": --own must be " << opt->malicious << " x " << d << " (f x d)");
      own = read_floats(f);
    }
    if (!opt->global_model.empty()) {
      const io::NpyFile f(opt->global_model);
      FEDGUARD_EXPECTS(f.element_count() == d && f.shape().size() >= 1,
                       opt->global_model << ": --global-model must have d=" << d << " values, got "
                                         << f.element_count());
      global = read_floats(f);
    }
    AttackInput in;
    in.benign = benign.data();
    in.n_benign = n;
    in.d = d;
    in.n_malicious = opt->malicious;
    in.n_total = opt->n_total;
    in.own = own.empty() ? nullptr : own.data();
    in.global_model = global.empty() ? nullptr : global.data();
    in.seed = opt->seed;
    in.round = opt->round;
    const nlohmann::json params =
        opt->params.empty() ? nlohmann::json::object() : read_params(opt->params);
    const AttackOutput out = craft_attack(opt->name, params, in);
    io::write_npy(opt->out, io::NpyType::kFloat32, {out.n, out.d}, out.updates.data());
    const std::string text = out.info.dump() + "\n";
    if (opt->info_out.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      std::ofstream f(opt->info_out);
      if (!(f << text)) FEDGUARD_THROW(kIo, opt->info_out << ": cannot write");
    }
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
