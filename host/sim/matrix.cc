#include "sim/matrix.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "fedguard/error.h"

extern char** environ;

namespace fedguard::sim {
namespace {

using Clock = std::chrono::steady_clock;

struct Cell {
  std::string policy, attack, dir;
  nlohmann::ordered_json config;
};

void mkdir_p(const std::string& path) {
  std::string partial;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!partial.empty() && ::mkdir(partial.c_str(), 0777) != 0 && errno != EEXIST)
        FEDGUARD_THROW(kIo,
                       partial << ": cannot create directory (" << std::strerror(errno) << ")");
    }
    if (i < path.size()) partial += path[i];
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (const char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) FEDGUARD_THROW(kIo, path << ": cannot open");
  try {
    return nlohmann::ordered_json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    FEDGUARD_THROW(kIo, path << ": not valid JSON (" << e.what() << ")");
  }
}

pid_t spawn_cell(const std::string& exe, const Cell& cell) {
  const std::string config = cell.dir + "/config.json";
  const std::string log = cell.dir + "/log.txt";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args = {exe, "simulate", "--config", config};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    FEDGUARD_THROW(kIo, exe << ": cannot start a matrix cell (" << std::strerror(rc) << ")");
  return pid;
}

std::string pct(const nlohmann::json& v, int digits = 1, double scale = 100) {
  if (!v.is_number()) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << scale * v.get<double>();
  return s.str();
}

}  // namespace

nlohmann::ordered_json run_matrix(const nlohmann::json& base, const nlohmann::ordered_json& matrix,
                                  const MatrixOptions& options) {
  FEDGUARD_EXPECTS(base.is_object(), "matrix: the base config must be a JSON object");
  FEDGUARD_EXPECTS(
      !base.contains("policy") && !base.contains("attack"),
      "matrix: the base config must not set \"policy\" or \"attack\" (the matrix file gives them)");
  FEDGUARD_EXPECTS(matrix.is_object() && matrix.contains("policies") && matrix.contains("attacks"),
                   "matrix file must be an object with \"policies\" and \"attacks\"");
  for (auto it = matrix.begin(); it != matrix.end(); ++it)
    FEDGUARD_EXPECTS(
        it.key() == "policies" || it.key() == "attacks" || it.key() == "comment",
        "matrix file: unknown key \"" << it.key() << "\" (known: policies, attacks, comment)");
  const auto& policies = matrix["policies"];
  FEDGUARD_EXPECTS(policies.is_object() && !policies.empty(),
                   "matrix file: \"policies\" must be a non-empty object");
  std::vector<std::pair<std::string, nlohmann::ordered_json>> attacks;
  const auto& a = matrix["attacks"];
  if (a.is_array()) {
    for (const auto& x : a) {
      FEDGUARD_EXPECTS(
          x.is_string() || (x.is_object() && x.contains("name")),
          "matrix file: each attack must be a name or an object with \"name\", got " << x.dump());
      attacks.emplace_back(x.is_string() ? x.get<std::string>() : x["name"].get<std::string>(), x);
    }
  } else {
    FEDGUARD_EXPECTS(a.is_object(), "matrix file: \"attacks\" must be an object or a list");
    for (auto it = a.begin(); it != a.end(); ++it) attacks.emplace_back(it.key(), it.value());
  }
  FEDGUARD_EXPECTS(!attacks.empty(), "matrix file: no attacks");
  FEDGUARD_EXPECTS(options.jobs >= 1, "matrix: --jobs must be >= 1");

  mkdir_p(options.out_dir + "/cells");
  std::vector<Cell> cells;
  for (auto p = policies.begin(); p != policies.end(); ++p)
    for (const auto& [attack_name, attack] : attacks) {
      Cell c;
      c.policy = p.key();
      c.attack = attack_name;
      c.dir = options.out_dir + "/cells/" + safe_name(c.policy) + "__" + safe_name(c.attack);
      c.config = nlohmann::ordered_json(base);
      // {"benign_oracle": true} in place of an engine config: the benign-only oracle's row
      // (FedAvg over the honest clients, sim/simulator.h).
      if (p.value().is_object() && p.value().contains("benign_oracle")) {
        FEDGUARD_EXPECTS(p.value().size() == 1 && p.value()["benign_oracle"] == true,
                         "matrix file: policy \"" << p.key()
                                                  << "\": the oracle's row is exactly "
                                                     "{\"benign_oracle\": true}, got "
                                                  << p.value().dump());
        c.config["benign_oracle"] = true;
      } else {
        c.config["policy"] = p.value();
      }
      c.config["attack"] = attack;
      c.config["out_dir"] = c.dir;
      c.config.erase("log_dir");
      c.config["progress"] = true;  // into the cell's log.txt
      cells.push_back(std::move(c));
    }

  // Run the cells that have no result yet, `jobs` at a time.
  const auto t0 = Clock::now();
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < cells.size(); ++i)
    if (options.rerun || !exists(cells[i].dir + "/result.json")) todo.push_back(i);
  std::fprintf(stderr,
               "[matrix] %zu policies x %zu attacks = %zu cells, %zu to run, %zu at a time\n",
               policies.size(), attacks.size(), cells.size(), todo.size(), options.jobs);
  std::map<pid_t, std::pair<std::size_t, Clock::time_point>> running;
  std::size_t next = 0, done = 0;
  double cell_seconds = 0;
  while (next < todo.size() || !running.empty()) {
    while (next < todo.size() && running.size() < options.jobs) {
      Cell& c = cells[todo[next++]];
      mkdir_p(c.dir);
      std::remove((c.dir + "/result.json").c_str());
      std::ofstream(c.dir + "/config.json") << c.config.dump(2) << "\n";
      running[spawn_cell(options.executable, c)] = {todo[next - 1], Clock::now()};
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      FEDGUARD_THROW(kIo, "matrix: waitpid failed (" << std::strerror(errno) << ")");
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Cell& c = cells[it->second.first];
    const double secs = std::chrono::duration<double>(Clock::now() - it->second.second).count();
    running.erase(it);
    ++done;
    cell_seconds += secs;
    const double eta = cell_seconds / static_cast<double>(done) *
                       static_cast<double>(todo.size() - done) / static_cast<double>(options.jobs);
    std::string what = "no result (see " + c.dir + "/log.txt)";
    if (exists(c.dir + "/result.json")) {
      const auto s = read_json(c.dir + "/result.json")["summary"];
      what = "acc " + pct(s["final_accuracy"]) + "%";
      if (s["final_attack_success"].is_number())
        what += "  asr " + pct(s["final_attack_success"]) + "%";
      if (s["mean_tpr"].is_number()) what += "  tpr " + pct(s["mean_tpr"]) + "%";
      what += "  fpr " + pct(s["mean_fpr"]) + "%";
      if (s["status"] != "ok") what += "  [" + s["status"].get<std::string>() + "]";
    } else if (WIFEXITED(status)) {
      what += ", exit code " + std::to_string(WEXITSTATUS(status));
    }
    std::fprintf(stderr, "[matrix] %zu/%zu  %s x %s: %s  (%.0f s; about %.0f min left)\n", done,
                 todo.size(), c.policy.c_str(), c.attack.c_str(), what.c_str(), secs, eta / 60);
  }

  nlohmann::ordered_json out;
  out["base"] = base;
  out["policies"] = policies;
  nlohmann::ordered_json attack_list = nlohmann::ordered_json::object();
  for (const auto& [name, spec] : attacks) attack_list[name] = spec;
  out["attacks"] = attack_list;
  out["wall_s"] = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Cell& c : cells) {
    nlohmann::ordered_json row;
    row["policy"] = c.policy;
    row["attack"] = c.attack;
    if (exists(c.dir + "/result.json")) {
      const auto r = read_json(c.dir + "/result.json");
      row["summary"] = r["summary"];
      nlohmann::ordered_json acc = nlohmann::ordered_json::array();
      for (const auto& rec : r["rounds"]) acc.push_back(rec["test_accuracy"]);
      row["accuracy_per_round"] = acc;
    } else {
      nlohmann::ordered_json s;
      s["status"] = "no result";
      row["summary"] = s;
    }
    rows.push_back(row);
  }
  out["cells"] = rows;
  std::ofstream(options.out_dir + "/matrix.json") << out.dump(1) << "\n";
  std::ofstream(options.out_dir + "/matrix.md") << matrix_markdown(out);
  std::fprintf(stderr, "[matrix] wrote %s/matrix.json and matrix.md (%.1f min)\n",
               options.out_dir.c_str(), out["wall_s"].get<double>() / 60);
  return out;
}

std::string matrix_markdown(const nlohmann::ordered_json& m) {
  std::vector<std::string> policies, attacks;
  for (auto it = m["policies"].begin(); it != m["policies"].end(); ++it)
    policies.push_back(it.key());
  for (auto it = m["attacks"].begin(); it != m["attacks"].end(); ++it) attacks.push_back(it.key());
  std::map<std::pair<std::string, std::string>, nlohmann::ordered_json> s;
  for (const auto& row : m["cells"])
    s[{row["policy"].get<std::string>(), row["attack"].get<std::string>()}] = row["summary"];
  auto get = [&](const std::string& p, const std::string& a, const char* key) -> nlohmann::json {
    const auto it = s.find({p, a});
    if (it == s.end() || !it->second.contains(key)) return nullptr;
    return it->second[key];
  };
  auto failed = [&](const std::string& p, const std::string& a) {
    const auto st = get(p, a, "status");
    return !st.is_string() || st.get<std::string>() != "ok";
  };
  auto table = [&](const std::string& title, const char* key, const std::vector<std::string>& cols,
                   bool worst, double scale = 100) {
    std::ostringstream o;
    o << "#### " << title << "\n\n| policy |";
    for (const auto& a : cols) o << ' ' << a << " |";
    if (worst) o << " worst |";
    o << "\n| --- |";
    for (std::size_t i = 0; i < cols.size() + (worst ? 1 : 0); ++i) o << " --: |";
    o << "\n";
    for (const auto& p : policies) {
      o << "| " << p << " |";
      double lo = INFINITY;
      for (const auto& a : cols) {
        const auto v = get(p, a, key);
        o << ' ' << pct(v, 1, scale) << (failed(p, a) && !get(p, a, "status").is_null() ? "†" : "")
          << " |";
        if (v.is_number()) lo = std::min(lo, v.get<double>());
      }
      if (worst) o << ' ' << (std::isfinite(lo) ? pct(nlohmann::json(lo)) : "–") << " |";
      o << "\n";
    }
    return o.str() + "\n";
  };
  std::vector<std::string> with_asr, attacked;
  for (const auto& a : attacks) {
    bool any = false;
    for (const auto& p : policies) any = any || get(p, a, "final_attack_success").is_number();
    if (any) with_asr.push_back(a);
    if (a != "none") attacked.push_back(a);
  }
  std::ostringstream o;
  o << "Cells marked † stopped early (an engine error, e.g. every update rejected); their numbers "
       "are "
       "for the model at that point. – = not applicable.\n\n";
  o << table(
      "Final test accuracy (%, final evaluation: the whole test set unless test_subset is set)",
      "final_accuracy", attacks, true);
  if (!with_asr.empty())
    o << table(
        "Backdoor attack success (%, triggered non-target test images classified as the target)",
        "final_attack_success", with_asr, false);
  o << table("Detection true-positive rate (%, malicious clients rejected, mean over rounds)",
             "mean_tpr", attacked, false);
  o << table("False-positive rate (%, benign clients rejected, mean over rounds)", "mean_fpr",
             attacks, false);
  o << table("Engine time per round (ms, mean)", "mean_engine_ms", attacks, false, 1);
  return o.str();
}

}  // namespace fedguard::sim
