#include "sim/simulator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "fedguard/attacks.h"
#include "fedguard/engine.h"
#include "io/update_log.h"
#include "sim/random.h"
#include "sim/scenarios.h"

namespace fedguard::sim {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Strict reader of one JSON object: typed getters, and finish() rejects keys never read.
class Keys {
 public:
  Keys(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
    FEDGUARD_EXPECTS(j.is_object(), where_ << " must be a JSON object, got " << j.dump());
  }
  const nlohmann::json* find(const char* key) {
    seen_.insert(key);
    const auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  template <class T>
  void count(const char* key, T& out, std::size_t min = 0) {
    if (const auto* v = find(key)) {
      FEDGUARD_EXPECTS(
          v->is_number_unsigned() || (v->is_number_integer() && v->get<long long>() >= 0),
          where_ << " \"" << key << "\" must be a non-negative integer, got " << v->dump());
      const auto x = v->get<unsigned long long>();
      FEDGUARD_EXPECTS(x >= min,
                       where_ << " \"" << key << "\" must be >= " << min << ", got " << x);
      out = static_cast<T>(x);
    }
  }
  void number(const char* key, double& out, double min, bool strict_min) {
    if (const auto* v = find(key)) {
      FEDGUARD_EXPECTS(v->is_number() && std::isfinite(v->get<double>()),
                       where_ << " \"" << key << "\" must be a finite number, got " << v->dump());
      const double x = v->get<double>();
      FEDGUARD_EXPECTS(strict_min ? x > min : x >= min, where_ << " \"" << key << "\" must be "
                                                               << (strict_min ? "> " : ">= ") << min
                                                               << ", got " << x);
      out = x;
    }
  }
  void string(const char* key, std::string& out, std::initializer_list<const char*> allowed = {}) {
    if (const auto* v = find(key)) {
      FEDGUARD_EXPECTS(v->is_string(),
                       where_ << " \"" << key << "\" must be a string, got " << v->dump());
      out = v->get<std::string>();
      if (allowed.size() == 0) return;
      std::string list;
      for (const char* a : allowed) {
        if (out == a) return;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      FEDGUARD_THROW(kInvalidInput, where_ << " \"" << key << "\" must be one of " << list
                                           << ", got \"" << out << "\"");
    }
  }
  void boolean(const char* key, bool& out) {
    if (const auto* v = find(key)) {
      FEDGUARD_EXPECTS(v->is_boolean(),
                       where_ << " \"" << key << "\" must be true or false, got " << v->dump());
      out = v->get<bool>();
    }
  }
  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.count(it.key())) {
        std::string list;
        for (const auto& k : seen_) list += (list.empty() ? "" : ", ") + k;
        FEDGUARD_THROW(kInvalidInput,
                       where_ << ": unknown key \"" << it.key() << "\" (known: " << list << ")");
      }
  }

 private:
  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> seen_;
};

AttackSpec parse_attack(const nlohmann::json& j) {
  AttackSpec a;
  if (j.is_string()) {
    a.name = j.get<std::string>();
    return a;
  }
  Keys k(j, "simulator config \"attack\"");
  k.string("name", a.name);
  if (const auto* p = k.find("params")) {
    FEDGUARD_EXPECTS(p->is_object(),
                     "simulator config \"attack\".\"params\" must be an object, got " << p->dump());
    a.params = *p;
  }
  k.string("data_poison", a.data_poison, {"auto", "none", "label_flip", "backdoor"});
  std::size_t target = a.target_label;
  k.count("target_label", target);
  FEDGUARD_EXPECTS(target < 10,
                   "simulator config \"attack\".\"target_label\" must be below 10, got " << target);
  a.target_label = static_cast<std::uint8_t>(target);
  k.number("poison_fraction", a.poison_fraction, 0, false);
  FEDGUARD_EXPECTS(a.poison_fraction <= 1,
                   "simulator config \"attack\".\"poison_fraction\" must be <= 1");
  k.count("trigger_size", a.trigger.size, 1);
  k.count("trigger_margin", a.trigger.margin);
  k.count("start_round", a.start_round);
  k.count("ramp_rounds", a.ramp_rounds);
  k.finish();
  return a;
}

DriftSpec parse_drift(const nlohmann::json& j) {
  DriftSpec d;
  Keys k(j, "simulator config \"drift\"");
  k.string("kind", d.kind, {"none", "resplit", "label_prior"});
  k.count("period", d.period, 1);
  k.number("min_weight", d.min_weight, 0, true);
  FEDGUARD_EXPECTS(d.min_weight <= 1,
                   "simulator config \"drift\".\"min_weight\" must be <= 1, got " << d.min_weight);
  k.finish();
  return d;
}

VerificationSpec parse_verification(const nlohmann::json& j) {
  VerificationSpec v;
  if (j.is_boolean()) {
    v.enabled = j.get<bool>();
    return v;
  }
  v.enabled = true;
  Keys k(j, "simulator config \"verification\"");
  k.boolean("enabled", v.enabled);
  k.string("federation", v.federation);
  FEDGUARD_EXPECTS(!v.federation.empty(),
                   "simulator config \"verification\".\"federation\" must not be empty");
  k.count("max_new_per_round", v.max_new_per_round);
  if (const auto* p = k.find("probation")) {
    Keys pk(*p, "simulator config \"verification\".\"probation\"");
    pk.count("rounds", v.probation.rounds);
    pk.number("max_share", v.probation.max_share, 0, true);
    FEDGUARD_EXPECTS(
        v.probation.max_share <= 1,
        "simulator config \"verification\".\"probation\".\"max_share\" must be <= 1, got "
            << v.probation.max_share);
    pk.finish();
  }
  k.finish();
  return v;
}

FakeClientSpec parse_fake_clients(const nlohmann::json& j) {
  FakeClientSpec f;
  Keys k(j, "simulator config \"fake_clients\"");
  k.count("count", f.count);
  k.count("join_round", f.join_round);
  k.string("keys", f.keys, {"none", "enrolled"});
  k.finish();
  return f;
}

// The data poisoning a malicious client applies to its own training.
DataPoison::Kind poison_kind(const AttackSpec& a) {
  std::string p = a.data_poison;
  if (a.name == "label_flip" || a.name == "backdoor") p = a.name;
  if (p == "auto") p = a.name == "scaling" ? "backdoor" : "none";
  if (p == "label_flip") return DataPoison::Kind::kLabelFlip;
  if (p == "backdoor") return DataPoison::Kind::kBackdoor;
  return DataPoison::Kind::kNone;
}

bool policy_uses(const nlohmann::json& j, const std::string& rule) {
  if (j.is_object()) {
    const auto it = j.find("rule");
    if (it != j.end() && it->is_string() && it->get<std::string>() == rule) return true;
    for (const auto& v : j)
      if (policy_uses(v, rule)) return true;
  } else if (j.is_array()) {
    for (const auto& v : j)
      if (policy_uses(v, rule)) return true;
  }
  return false;
}

void make_dirs(const std::string& path) {
  std::string partial;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (::mkdir(partial.c_str(), 0777) != 0 && errno != EEXIST)
      FEDGUARD_THROW(kIo, partial << ": cannot create directory");
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    if (!(f << text) || !f.flush()) FEDGUARD_THROW(kIo, tmp << ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    FEDGUARD_THROW(kIo, path << ": cannot rename " << tmp << " into place");
}

std::vector<std::uint32_t> seeded_subset(std::size_t total, std::size_t want, std::uint64_t seed) {
  std::vector<std::uint32_t> all(total);
  for (std::size_t i = 0; i < total; ++i) all[i] = static_cast<std::uint32_t>(i);
  if (want == 0 || want >= total) return all;
  Rng rng(seed);
  rng.shuffle(all);
  all.resize(want);
  std::sort(all.begin(), all.end());
  return all;
}

nlohmann::json optional_number(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

std::string csv_number(double x, int digits = 6) {
  if (!std::isfinite(x)) return "";
  std::ostringstream s;
  s << std::setprecision(digits) << x;
  return s.str();
}

// The benign-only oracle's server: FedAvg over the rows that do not attack this round (the
// engine holds the `mean` rule). The result is widened back to every row, the attackers marked
// not accepted with weight 0, so the metrics below read it as they read any policy's.
RoundResult process_honest_rows(Engine& engine, const RoundInput& in,
                                const std::vector<std::uint8_t>& row_bad) {
  const std::size_t rows = row_bad.size();
  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < rows; ++i)
    if (!row_bad[i]) keep.push_back(i);
  // The honest rows where they lie: one pointer per client, no copy.
  std::vector<ClientUpdate> clients;
  clients.reserve(keep.size());
  RoundInput honest;
  for (const std::size_t i : keep) {
    clients.push_back(in.updates.client(i));
    honest.client_ids.push_back(in.client_ids[i]);
    honest.num_samples.push_back(in.num_samples[i]);
  }
  honest.updates = UpdateView::per_client(std::move(clients), in.updates.cols(), in.updates.dtype(),
                                          in.updates.location());
  honest.server_metrics = in.server_metrics;
  RoundResult res = engine.process_round(honest);
  std::vector<std::uint8_t> accepted(rows, 0);
  std::vector<double> weights(rows, 0.0);
  for (std::size_t k = 0; k < keep.size(); ++k) {
    accepted[keep[k]] = res.accepted[k];
    weights[keep[k]] = res.weights[k];
  }
  for (auto& rej : res.rejections) rej.client = keep[rej.client];
  res.accepted = std::move(accepted);
  res.weights = std::move(weights);
  res.client_ids = in.client_ids;
  res.scores.clear();  // per honest row; not widened
  return res;
}

}  // namespace

bool is_data_attack(const std::string& name) {
  return name == "none" || name == "label_flip" || name == "backdoor";
}

SimConfig SimConfig::from_json(const nlohmann::json& j) {
  SimConfig c;
  Keys k(j, "simulator config");
  k.string("data_dir", c.data_dir);
  k.string("model", c.model, {"mlp", "cnn"});
  k.count("hidden", c.hidden, 1);
  k.count("clients", c.clients, 1);
  double fraction = -1;
  k.number("malicious_fraction", fraction, 0, false);
  if (fraction >= 0) {
    FEDGUARD_EXPECTS(fraction < 1,
                     "simulator config \"malicious_fraction\" must be below 1, got " << fraction);
    c.malicious = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(c.clients)));
  }
  std::size_t malicious = c.malicious;
  k.count("malicious", malicious);
  if (j.contains("malicious")) {
    FEDGUARD_EXPECTS(fraction < 0,
                     "simulator config: give \"malicious\" or \"malicious_fraction\", not both");
    c.malicious = malicious;
  }
  k.number("alpha", c.alpha, 0, true);
  k.count("min_client_samples", c.min_client_samples, 1);
  k.count("train_subset", c.train_subset);
  k.count("root_samples", c.root_samples);
  k.string("server_reference", c.server_reference, {"auto", "always", "never"});
  k.count("rounds", c.rounds, 1);
  k.number("lr", c.local.lr, 0, true);
  k.number("momentum", c.local.momentum, 0, false);
  FEDGUARD_EXPECTS(c.local.momentum < 1, "simulator config \"momentum\" must be below 1");
  k.count("batch_size", c.local.batch_size, 1);
  k.count("local_epochs", c.local.epochs, 1);
  k.count("max_local_steps", c.local.max_steps);
  k.number("server_lr", c.server_lr, 0, true);
  k.count("eval_subset", c.eval_subset);
  k.count("test_subset", c.test_subset);
  k.count("seed", c.seed);
  std::size_t threads = static_cast<std::size_t>(c.threads);
  k.count("threads", threads, 1);
  c.threads = static_cast<int>(std::min<std::size_t>(threads, 4096));
  if (const auto* a = k.find("attack")) c.attack = parse_attack(*a);
  if (const auto* p = k.find("policy")) {
    FEDGUARD_EXPECTS(
        p->is_object(),
        "simulator config \"policy\" must be an engine config object, got " << p->dump());
    c.policy = *p;
  }
  k.string("out_dir", c.out_dir);
  k.string("log_dir", c.log_dir);
  k.boolean("progress", c.progress);
  k.boolean("server_metrics", c.server_metrics);
  k.boolean("benign_oracle", c.benign_oracle);
  if (const auto* v = k.find("drift")) c.drift = parse_drift(*v);
  if (const auto* v = k.find("verification")) c.verification = parse_verification(*v);
  if (const auto* v = k.find("fake_clients")) c.fake_clients = parse_fake_clients(*v);
  k.finish();
  if (c.benign_oracle) {
    FEDGUARD_EXPECTS(c.policy.empty(),
                     "simulator config: \"benign_oracle\" aggregates the honest clients by FedAvg; "
                     "give no \"policy\" (got "
                         << c.policy.dump() << ")");
    FEDGUARD_EXPECTS(!c.verification.enabled && !c.fake_clients.enabled(),
                     "simulator config: \"benign_oracle\" cannot be combined with "
                     "\"verification\" or \"fake_clients\"");
    c.policy = {{"aggregator", {{"rule", "mean"}}}};
  }
  // The policy and the attack's name are checked now, before any data is read.
  (void)EngineConfig::from_json_value(c.policy);
  if (!is_data_attack(c.attack.name)) {
    const auto names = attack_names();
    if (std::find(names.begin(), names.end(), c.attack.name) == names.end()) {
      std::string list = "none, label_flip, backdoor";
      for (const auto& n : names) list += ", " + n;
      FEDGUARD_THROW(kInvalidInput, "simulator config: unknown attack \""
                                        << c.attack.name << "\" (known: " << list << ")");
    }
  }
  FEDGUARD_EXPECTS(c.attack.name == "none" || c.malicious > 0 || c.fake_clients.enabled(),
                   "simulator config: attack \""
                       << c.attack.name << "\" needs \"malicious\" > 0 or \"fake_clients\"");
  FEDGUARD_EXPECTS(c.attack.ramp_rounds == 0 || !is_data_attack(c.attack.name),
                   "simulator config: \"attack\".\"ramp_rounds\" needs a model-poisoning attack "
                   "(it interpolates "
                   "between the honest and the crafted update), not \""
                       << c.attack.name << "\"");
  // With fake clients, the attackers are the fake ids: no real client is malicious unless asked.
  if (c.fake_clients.enabled() && !j.contains("malicious") && !j.contains("malicious_fraction"))
    c.malicious = 0;
  FEDGUARD_EXPECTS(c.malicious < c.clients,
                   "simulator config: " << c.malicious << " malicious of " << c.clients
                                        << " clients leaves no benign client");
  if (c.fake_clients.enabled()) {
    FEDGUARD_EXPECTS(c.verification.enabled,
                     "simulator config: \"fake_clients\" needs \"verification\" (a "
                     "registry and signed updates: what fake ids are up against)");
    FEDGUARD_EXPECTS(!is_data_attack(c.attack.name),
                     "simulator config: \"fake_clients\" send a crafted attack "
                     "(e.g. \"mpaf\"); \""
                         << c.attack.name << "\" is not one");
    FEDGUARD_EXPECTS(c.malicious == 0,
                     "simulator config: with \"fake_clients\" the attackers are the fake ids; "
                     "set \"malicious\": 0 (got "
                         << c.malicious << ")");
    FEDGUARD_EXPECTS(c.fake_clients.join_round < c.rounds,
                     "simulator config: \"fake_clients\".\"join_round\" "
                         << c.fake_clients.join_round << " is not below \"rounds\" " << c.rounds);
  }
  return c;
}

nlohmann::ordered_json SimConfig::to_json() const {
  nlohmann::ordered_json j;
  j["data_dir"] = data_dir;
  j["model"] = model;
  j["hidden"] = hidden;
  j["clients"] = clients;
  j["malicious"] = malicious;
  j["alpha"] = alpha;
  j["min_client_samples"] = min_client_samples;
  j["train_subset"] = train_subset;
  j["root_samples"] = root_samples;
  j["server_reference"] = server_reference;
  j["rounds"] = rounds;
  j["lr"] = local.lr;
  j["momentum"] = local.momentum;
  j["batch_size"] = local.batch_size;
  j["local_epochs"] = local.epochs;
  j["max_local_steps"] = local.max_steps;
  j["server_lr"] = server_lr;
  j["eval_subset"] = eval_subset;
  j["test_subset"] = test_subset;
  j["seed"] = seed;
  j["threads"] = threads;
  nlohmann::ordered_json a;
  a["name"] = attack.name;
  a["params"] = attack.params;
  a["data_poison"] = attack.data_poison;
  a["target_label"] = attack.target_label;
  a["poison_fraction"] = attack.poison_fraction;
  a["trigger_size"] = attack.trigger.size;
  a["trigger_margin"] = attack.trigger.margin;
  a["start_round"] = attack.start_round;
  a["ramp_rounds"] = attack.ramp_rounds;
  j["attack"] = a;
  j["policy"] = policy;
  j["out_dir"] = out_dir;
  j["log_dir"] = log_dir;
  j["progress"] = progress;
  j["server_metrics"] = server_metrics;
  j["benign_oracle"] = benign_oracle;
  j["drift"] = {{"kind", drift.kind}, {"period", drift.period}, {"min_weight", drift.min_weight}};
  j["verification"] = {{"enabled", verification.enabled},
                       {"federation", verification.federation},
                       {"max_new_per_round", verification.max_new_per_round},
                       {"probation",
                        {{"rounds", verification.probation.rounds},
                         {"max_share", verification.probation.max_share}}}};
  j["fake_clients"] = {{"count", fake_clients.count},
                       {"join_round", fake_clients.join_round},
                       {"keys", fake_clients.keys}};
  return j;
}

nlohmann::ordered_json run_simulation(const SimConfig& cfg) {
  const auto t_start = Clock::now();
  // ---- data, split, model
  const TrainTest data = load_fashion_mnist(cfg.data_dir);
  const std::size_t classes = 10;
  std::vector<std::uint32_t> pool =
      seeded_subset(data.train.n, cfg.train_subset, derive_seed(cfg.seed, 1));
  FEDGUARD_EXPECTS(pool.size() > cfg.root_samples,
                   "simulator: " << pool.size() << " training samples leave none after "
                                 << cfg.root_samples << " root samples");
  // The server's root set: a seeded random part of the pool, never given to a client.
  std::vector<std::uint32_t> root;
  {
    std::vector<std::uint32_t> shuffled = pool;
    Rng rng(derive_seed(cfg.seed, 2));
    rng.shuffle(shuffled);
    root.assign(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(cfg.root_samples));
    std::sort(root.begin(), root.end());
    std::vector<std::uint32_t> rest;
    std::set_difference(pool.begin(), pool.end(), root.begin(), root.end(),
                        std::back_inserter(rest));
    pool.swap(rest);
  }
  const auto parts = dirichlet_split(data.train.labels, pool, cfg.clients, classes, cfg.alpha,
                                     cfg.min_client_samples, derive_seed(cfg.seed, 3));
  const std::vector<std::uint32_t> eval_ids =
      seeded_subset(data.test.n, cfg.eval_subset, derive_seed(cfg.seed, 4));
  const std::vector<std::uint32_t> test_ids =
      seeded_subset(data.test.n, cfg.test_subset, derive_seed(cfg.seed, 5));

  const std::size_t n = cfg.clients;
  const bool attacked = cfg.attack.name != "none";
  const std::size_t f = attacked ? cfg.malicious : 0;
  std::vector<std::uint8_t> is_malicious(n, 0);
  {
    std::vector<std::uint32_t> ids = seeded_subset(n, n, 0);
    Rng rng(derive_seed(cfg.seed, 6));
    rng.shuffle(ids);
    for (std::size_t i = 0; i < f; ++i) is_malicious[ids[i]] = 1;
  }
  std::vector<std::string> client_ids(n), malicious_ids;
  std::vector<double> num_samples(n);
  for (std::size_t i = 0; i < n; ++i) {
    client_ids[i] = "c" + std::to_string(i);
    num_samples[i] = static_cast<double>(parts[i].size());
    if (is_malicious[i]) malicious_ids.push_back(client_ids[i]);
  }

  Trainer trainer(cfg.model, cfg.hidden, data.train.rows, data.train.cols, classes, cfg.threads);
  const std::size_t d = trainer.dim();
  std::vector<float> global = trainer.initial_parameters(cfg.seed);

  nlohmann::json policy = cfg.policy;
  if (!policy.contains("threads")) policy["threads"] = cfg.threads;
  Engine engine(EngineConfig::from_json_value(policy));
  const bool want_reference = cfg.server_reference == "always" ||
                              (cfg.server_reference == "auto" && policy_uses(policy, "fltrust"));
  FEDGUARD_EXPECTS(!want_reference || !root.empty(),
                   "simulator: the policy needs a server reference update "
                   "(fltrust) but \"root_samples\" is 0");

  DataPoison poison;
  poison.kind = attacked ? poison_kind(cfg.attack) : DataPoison::Kind::kNone;
  poison.fraction = cfg.attack.poison_fraction;
  poison.target = cfg.attack.target_label;
  poison.trigger = cfg.attack.trigger;
  const bool backdoor = poison.kind == DataPoison::Kind::kBackdoor;
  const bool crafted = attacked && !is_data_attack(cfg.attack.name);

  std::unique_ptr<io::UpdateLogWriter> log;
  if (!cfg.log_dir.empty()) {
    log = std::make_unique<io::UpdateLogWriter>(cfg.log_dir);
    nlohmann::json info;
    info["writer"] = "fedguard simulate";
    info["config"] = cfg.to_json();
    log->set_info(info);
  }
  make_dirs(cfg.out_dir);

  nlohmann::ordered_json result;
  result["fedguard_version"] = version();
  result["config"] = cfg.to_json();
  nlohmann::ordered_json setup;
  setup["d"] = d;
  setup["train_samples"] = pool.size();
  setup["root_samples"] = root.size();
  std::vector<std::size_t> sizes;
  sizes.reserve(parts.size());
  for (const auto& p : parts) sizes.push_back(p.size());
  setup["client_samples"] = sizes;
  setup["malicious_clients"] = malicious_ids;
  setup["eval_images"] = eval_ids.size();
  setup["test_images"] = test_ids.size();
  setup["backdoor"] = backdoor;
  setup["server_reference"] = want_reference;
  setup["benign_oracle"] = cfg.benign_oracle;
  result["setup"] = setup;

  std::ostringstream csv;
  csv << "round,test_accuracy,attack_success,tpr,fpr,flagged,accepted,engine_ms,pass1_scan_ms,"
         "decide_ms,"
         "pass2_aggregate_ms,train_s,attack_ms,eval_s,alerts\n";
  nlohmann::ordered_json rounds = nlohmann::json::array();
  std::string status = "ok";
  double tpr_sum = 0, fpr_sum = 0, engine_ms_sum = 0;
  std::size_t tpr_rounds = 0, fpr_rounds = 0;

  // ---- scenarios (sim/scenarios.h): fake clients, signed updates, drift
  const std::size_t k_fake = cfg.fake_clients.count;
  std::unique_ptr<SignedFederation> federation;
  if (cfg.verification.enabled) {
    federation = std::make_unique<SignedFederation>(cfg.verification, client_ids, cfg.fake_clients);
    engine.set_registry(federation->registry());
  }
  // Where the monitored change happens (null: none): the attack's start, or the fakes' join.
  const long long change_round =
      cfg.fake_clients.enabled()
          ? static_cast<long long>(std::max(cfg.fake_clients.join_round, cfg.attack.start_round))
          : (attacked ? static_cast<long long>(cfg.attack.start_round) : -1);
  // resplit drift: split k and k + 1, each client's samples in a seeded random order.
  std::map<std::size_t, std::vector<std::vector<std::uint32_t>>> splits;
  auto shuffled_split = [&](std::size_t k) -> const std::vector<std::vector<std::uint32_t>>& {
    auto it = splits.find(k);
    if (it != splits.end()) return it->second;
    auto s = k == 0 ? parts
                    : dirichlet_split(data.train.labels, pool, cfg.clients, classes, cfg.alpha,
                                      cfg.min_client_samples, derive_seed(cfg.seed, 3, k));
    for (std::size_t i = 0; i < s.size(); ++i) {
      Rng rng(derive_seed(derive_seed(cfg.seed, 8, k), i));
      rng.shuffle(s[i]);
    }
    while (!splits.empty() && splits.begin()->first + 1 < k) splits.erase(splits.begin());
    return splits.emplace(k, std::move(s)).first->second;
  };
  std::vector<double> keep_u;
  if (cfg.drift.kind == "label_prior") {
    keep_u.resize(data.train.n);
    Rng rng(derive_seed(cfg.seed, 9));
    for (auto& u : keep_u) u = rng.uniform();
  }
  std::vector<std::vector<std::uint32_t>> round_parts = parts;

  const std::size_t rows_max = n + k_fake;
  std::vector<float> updates(rows_max * d), reference(want_reference ? d : 0);
  std::vector<float> benign_rows, own_rows;
  std::map<std::string, std::size_t> bad_rejections_total;
  std::size_t bad_submissions = 0, bad_rejected = 0, alerts_total = 0;
  std::map<std::string, std::vector<std::uint64_t>> alert_rounds;  // by "metric/method"
  // The server's validation of the current global model (server_metrics): the previous round's
  // evaluation, which is of the model this round starts from.
  Evaluation server_eval;
  if (cfg.server_metrics)
    server_eval = trainer.evaluate(global.data(), data.test, eval_ids, nullptr, 0);
  for (std::size_t r = 0; r < cfg.rounds; ++r) {
    const bool attack_now = attacked && r >= cfg.attack.start_round;
    const bool fakes_now = cfg.fake_clients.enabled() && r >= cfg.fake_clients.join_round;
    const std::size_t rows = n + (fakes_now ? k_fake : 0);
    // Rows that attack in this round: real malicious clients once the attack runs, fakes once
    // joined.
    std::vector<std::uint8_t> row_bad(rows, 0);
    for (std::size_t i = 0; i < n; ++i) row_bad[i] = is_malicious[i] && attack_now;
    for (std::size_t i = n; i < rows; ++i) row_bad[i] = attack_now;
    std::vector<std::string> row_ids = client_ids;
    std::vector<double> row_samples = num_samples;
    // ---- the clients' data in this round (drift)
    if (cfg.drift.kind == "resplit") {
      const DriftPosition pos = drift_position(r, cfg.drift.period);
      const auto& from = shuffled_split(pos.split);
      const auto& to = shuffled_split(pos.split + 1);
      for (std::size_t i = 0; i < n; ++i) round_parts[i] = drift_mix(from[i], to[i], pos.t);
    } else if (cfg.drift.kind == "label_prior") {
      for (std::size_t i = 0; i < n; ++i)
        round_parts[i] = label_prior_subset(parts[i], data.train.labels, keep_u, classes, r,
                                            cfg.drift.period, cfg.drift.min_weight);
    }
    if (cfg.drift.enabled())
      for (std::size_t i = 0; i < n; ++i)
        row_samples[i] = static_cast<double>(round_parts[i].size());
    // ---- local training (malicious clients train too: their own, possibly poisoned, update)
    const auto t_train = Clock::now();
    const DataPoison clean;
    for (std::size_t i = 0; i < n; ++i)
      trainer.train(global.data(), data.train, round_parts[i], cfg.local,
                    is_malicious[i] && attack_now ? poison : clean,
                    derive_seed(cfg.seed, 100 + r, i), updates.data() + i * d);
    if (want_reference)
      trainer.train(global.data(), data.train, root, cfg.local, clean,
                    derive_seed(cfg.seed, 100 + r, n), reference.data());
    const double train_s = seconds_since(t_train);
    if (fakes_now) {
      // Fakes have no data: their "own" update is zero (MPAF does not use it), and they send
      // nothing but the attack.
      std::fill(updates.begin() + static_cast<std::ptrdiff_t>(n * d),
                updates.begin() + static_cast<std::ptrdiff_t>(rows * d), 0.0f);
      for (const auto& id : federation->fake_ids()) {
        row_ids.push_back(id);
        row_samples.push_back(1.0);  // overwritten below: the fakes claim the median client's size
      }
      std::vector<double> sorted(num_samples);
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t i = n; i < rows; ++i) row_samples[i] = sorted[sorted.size() / 2];
    }
    const std::size_t f_now =
        static_cast<std::size_t>(std::count(row_bad.begin(), row_bad.end(), 1));

    // ---- model poisoning
    double attack_ms = 0;
    const double strength = ramp_strength(r, cfg.attack.start_round, cfg.attack.ramp_rounds);
    nlohmann::json attack_info = nullptr;
    if (crafted && attack_now && f_now > 0) {
      const auto t_attack = Clock::now();
      benign_rows.clear();
      own_rows.clear();
      for (std::size_t i = 0; i < rows; ++i) {
        auto& dst = row_bad[i] ? own_rows : benign_rows;
        dst.insert(dst.end(), updates.begin() + static_cast<std::ptrdiff_t>(i * d),
                   updates.begin() + static_cast<std::ptrdiff_t>((i + 1) * d));
      }
      AttackInput in;
      in.benign = benign_rows.data();
      in.n_benign = rows - f_now;
      in.d = d;
      in.n_malicious = f_now;
      in.n_total = rows;
      in.own = own_rows.data();
      in.global_model = global.data();
      in.seed = derive_seed(cfg.seed, 7, r);
      in.round = r;
      AttackOutput out;
      try {
        out = craft_attack(cfg.attack.name, cfg.attack.params, in);
      } catch (const Error& e) {
        // The attacker cannot act on this round, e.g. the model has diverged and the benign
        // updates are no longer finite: the run ends here, like an engine error.
        status = std::string("failed: round ") + std::to_string(r) + ": " + e.what();
        if (cfg.progress) std::fprintf(stderr, "[simulate] %s\n", status.c_str());
        break;
      }
      FEDGUARD_EXPECTS(out.n == f_now && out.d == d && out.updates.size() == f_now * d,
                       "attack " << cfg.attack.name << " returned " << out.n << " x " << out.d
                                 << ", expected " << f_now << " x " << d);
      // Ramp: own + s (crafted - own), s = 1 without a ramp (then exactly the crafted update).
      std::size_t k = 0;
      for (std::size_t i = 0; i < rows; ++i)
        if (row_bad[i]) {
          float* dst = updates.data() + i * d;
          const float* crafted_row = out.updates.data() + k * d;
          if (strength >= 1) {
            std::copy_n(crafted_row, d, dst);
          } else {
            const float* own = own_rows.data() + k * d;
            for (std::size_t j = 0; j < d; ++j)
              dst[j] = static_cast<float>(
                  own[j] + strength * (static_cast<double>(crafted_row[j]) - own[j]));
          }
          ++k;
        }
      attack_info = out.info;
      if (cfg.attack.ramp_rounds > 0) attack_info["ramp_strength"] = strength;
      attack_ms = seconds_since(t_attack) * 1e3;
    }

    // ---- the server
    RoundInput in;
    in.updates = UpdateView(updates.data(), rows, d, DType::kFloat32);
    in.client_ids = row_ids;
    in.num_samples = row_samples;
    in.reference = want_reference ? reference.data() : nullptr;
    if (cfg.server_metrics && server_eval.total > 0) {
      const double total = static_cast<double>(server_eval.total);
      in.server_metrics["accuracy"] = static_cast<double>(server_eval.correct) / total;
      in.server_metrics["loss"] = server_eval.loss_sum / total;
    }
    if (federation) {
      // Every client signs what it sends (fakes with their own keys); the registry gains the
      // enrolled fakes at their join round.
      if (federation->begin_round(r)) engine.set_registry(federation->registry());
      in.round = SignedFederation::federation_round(r);
      in.nonce = identity::new_nonce();
      in.signatures = federation->sign(updates.data(), rows, d, row_ids, r, in.nonce);
    }
    if (log) {
      io::LoggedRound lr;
      lr.round = r;
      lr.client_ids = row_ids;
      lr.num_samples = row_samples;
      for (std::size_t i = 0; i < rows; ++i)
        if (row_bad[i]) lr.malicious.push_back(row_ids[i]);
      lr.ground_truth_known = true;
      lr.updates = updates.data();
      lr.n = rows;
      lr.d = d;
      lr.reference = in.reference;
      lr.extra["attack"] = attack_now ? cfg.attack.name : "none";
      log->append(lr);
    }
    const auto t_engine = Clock::now();
    RoundResult res;
    try {
      if (cfg.benign_oracle) {
        res = process_honest_rows(engine, in, row_bad);
      } else {
        res = engine.process_round(in);
      }
    } catch (const Error& e) {
      status = std::string("failed: round ") + std::to_string(r) + ": " + e.what();
      if (cfg.progress) std::fprintf(stderr, "[simulate] %s\n", status.c_str());
      break;
    }
    const double engine_ms = seconds_since(t_engine) * 1e3;
    for (std::size_t k = 0; k < d; ++k)
      global[k] += static_cast<float>(cfg.server_lr) * res.aggregate[k];

    // ---- metrics
    std::size_t tp = 0, fp = 0, flagged = 0, accepted = 0;
    double bad_weight = 0;
    for (std::size_t i = 0; i < rows; ++i) {
      const bool flag = res.accepted[i] == 0;
      flagged += flag;
      accepted += !flag;
      if (flag && row_bad[i]) ++tp;
      if (flag && !row_bad[i]) ++fp;
      if (row_bad[i] && i < res.weights.size()) bad_weight += res.weights[i];
    }
    const std::size_t n_bad = f_now;
    const double tpr = n_bad ? static_cast<double>(tp) / static_cast<double>(n_bad) : NAN;
    const double fpr =
        rows > n_bad ? static_cast<double>(fp) / static_cast<double>(rows - n_bad) : NAN;
    if (std::isfinite(tpr)) tpr_sum += tpr, ++tpr_rounds;
    if (std::isfinite(fpr)) fpr_sum += fpr, ++fpr_rounds;
    engine_ms_sum += engine_ms;
    nlohmann::ordered_json rejections = nlohmann::json::object(),
                           bad_rejections = nlohmann::json::object();
    for (const auto& rej : res.rejections) {
      const std::string code = reason_code_name(rej.code);
      rejections[code] = rejections.value(code, 0) + 1;
      if (rej.client < rows && row_bad[rej.client]) {
        bad_rejections[code] = bad_rejections.value(code, 0) + 1;
        ++bad_rejections_total[code];
      }
    }
    bad_submissions += n_bad;
    bad_rejected += tp;
    const auto t_eval = Clock::now();
    const Evaluation ev = trainer.evaluate(global.data(), data.test, eval_ids,
                                           backdoor ? &poison.trigger : nullptr, poison.target);
    const double eval_s = seconds_since(t_eval);
    server_eval = ev;
    const double acc =
        ev.total ? static_cast<double>(ev.correct) / static_cast<double>(ev.total) : NAN;
    const double asr = ev.backdoor_total ? static_cast<double>(ev.backdoor_hits) /
                                               static_cast<double>(ev.backdoor_total)
                                         : NAN;

    nlohmann::ordered_json rec;
    rec["round"] = r;
    rec["test_accuracy"] = optional_number(acc);
    rec["attack_success"] = optional_number(asr);
    rec["tpr"] = optional_number(tpr);
    rec["fpr"] = optional_number(fpr);
    rec["flagged"] = flagged;
    rec["accepted"] = accepted;
    std::vector<std::string> flagged_ids;
    for (std::size_t i = 0; i < rows; ++i)
      if (!res.accepted[i]) flagged_ids.push_back(row_ids[i]);
    rec["flagged_ids"] = flagged_ids;
    rec["rejections"] = rejections;
    rec["malicious_rows"] = n_bad;
    rec["malicious_rejections"] = bad_rejections;
    rec["malicious_weight"] = optional_number(bad_weight);
    if (res.verification_ran) {
      const auto& v = res.verification;
      rec["verification"] = {{"verified", v.verified},
                             {"new_clients", v.new_clients},
                             {"burst", v.burst},
                             {"on_probation", v.on_probation},
                             {"probation_share_before", v.probation_share_before},
                             {"probation_share_after", v.probation_share_after}};
    }
    nlohmann::ordered_json timings;
    double stage[3] = {NAN, NAN, NAN};
    for (const auto& [name, ms] : res.timings_ms) {
      timings[name] = ms;
      if (name == "pass1_scan") stage[0] = ms;
      if (name == "decide") stage[1] = ms;
      if (name == "pass2_aggregate") stage[2] = ms;
    }
    rec["engine_ms"] = engine_ms;
    rec["engine_timings_ms"] = timings;
    rec["train_s"] = train_s;
    rec["attack_ms"] = attack_ms;
    rec["eval_s"] = eval_s;
    rec["noise_sigma"] = res.noise_sigma;
    if (!attack_info.is_null()) rec["attack_info"] = attack_info;
    // Monitoring (docs/monitoring.md): the engine lives across rounds, so its detectors see every
    // round; the round's alerts and the metrics they watch.
    nlohmann::ordered_json alerts = nlohmann::json::array();
    for (const auto& a : res.alerts) {
      alerts.push_back(a.to_json());
      alert_rounds[a.metric + "/" + a.method].push_back(a.round);
    }
    alerts_total += res.alerts.size();
    rec["alerts"] = alerts;
    nlohmann::ordered_json metrics = nlohmann::json::object();
    for (const auto& [name, value] : res.metrics)
      if (name.compare(0, 6, "stage_") != 0) metrics[name] = optional_number(value);
    rec["metrics"] = metrics;
    rounds.push_back(rec);
    csv << r << ',' << csv_number(acc) << ',' << csv_number(asr) << ',' << csv_number(tpr) << ','
        << csv_number(fpr) << ',' << flagged << ',' << accepted << ',' << csv_number(engine_ms)
        << ',' << csv_number(stage[0]) << ',' << csv_number(stage[1]) << ',' << csv_number(stage[2])
        << ',' << csv_number(train_s) << ',' << csv_number(attack_ms) << ',' << csv_number(eval_s)
        << ',' << res.alerts.size() << '\n';
    if (cfg.progress) {
      std::fprintf(stderr, "[simulate] round %zu/%zu  acc %.4f", r + 1, cfg.rounds, acc);
      if (backdoor) std::fprintf(stderr, "  asr %.4f", asr);
      if (std::isfinite(tpr)) std::fprintf(stderr, "  tpr %.2f", tpr);
      std::fprintf(stderr, "  fpr %.2f  flagged %zu  engine %.1f ms  train %.2f s", fpr, flagged,
                   engine_ms, train_s);
      if (!res.alerts.empty()) std::fprintf(stderr, "  alerts %zu", res.alerts.size());
      std::fprintf(stderr, "\n");
    }
  }

  // ---- final evaluation on the test set
  const Evaluation fin = trainer.evaluate(global.data(), data.test, test_ids,
                                          backdoor ? &poison.trigger : nullptr, poison.target);
  nlohmann::ordered_json summary;
  summary["status"] = status;
  summary["rounds_completed"] = rounds.size();
  summary["final_accuracy"] = optional_number(
      fin.total ? static_cast<double>(fin.correct) / static_cast<double>(fin.total) : NAN);
  summary["final_attack_success"] =
      optional_number(fin.backdoor_total ? static_cast<double>(fin.backdoor_hits) /
                                               static_cast<double>(fin.backdoor_total)
                                         : NAN);
  summary["mean_tpr"] =
      optional_number(tpr_rounds ? tpr_sum / static_cast<double>(tpr_rounds) : NAN);
  summary["mean_fpr"] =
      optional_number(fpr_rounds ? fpr_sum / static_cast<double>(fpr_rounds) : NAN);
  summary["mean_engine_ms"] =
      optional_number(rounds.empty() ? NAN : engine_ms_sum / static_cast<double>(rounds.size()));
  if (bad_submissions > 0) {
    summary["malicious_submissions"] = bad_submissions;
    summary["malicious_rejected"] = bad_rejected;
    summary["malicious_rejected_fraction"] =
        static_cast<double>(bad_rejected) / static_cast<double>(bad_submissions);
    nlohmann::ordered_json by_code = nlohmann::json::object();
    for (const auto& [code, count] : bad_rejections_total) by_code[code] = count;
    summary["malicious_rejections"] = by_code;
  }
  summary["monitoring"] = monitoring_summary(alert_rounds, change_round);
  summary["wall_s"] = seconds_since(t_start);
  result["summary"] = summary;
  result["rounds"] = rounds;
  write_text_atomic(cfg.out_dir + "/result.json", result.dump(2) + "\n");
  write_text_atomic(cfg.out_dir + "/rounds.csv", csv.str());
  if (cfg.progress)
    std::fprintf(
        stderr,
        "[simulate] %s: final accuracy %.4f%s (%zu test images), %.1f s; wrote %s/result.json\n",
        status.c_str(),
        summary["final_accuracy"].is_null() ? NAN : summary["final_accuracy"].get<double>(),
        backdoor
            ? (", attack success " + csv_number(summary["final_attack_success"].is_null()
                                                    ? NAN
                                                    : summary["final_attack_success"].get<double>(),
                                                4))
                  .c_str()
            : "",
        fin.total, summary["wall_s"].get<double>(), cfg.out_dir.c_str());
  return result;
}

}  // namespace fedguard::sim
