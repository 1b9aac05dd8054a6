// `fedguard simulate` end to end on a tiny federation (few clients, 2 rounds, a small part of
// Fashion-MNIST): the files it writes, reproducibility, the update log, config errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "fedguard/error.h"
#include "io/update_log.h"
#include "sim/dataset.h"
#include "sim/simulator.h"

namespace fedguard::sim {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = ::testing::TempDir() + "/fedguard_simulate_" + info->name();
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  return dir;
}

// Runs the CLI; returns the exit code, stderr+stdout into *out.
int run(const std::string& args, std::string* out) {
  // One file per test: ctest runs the tests of this binary in parallel processes.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string log = ::testing::TempDir() + "/fedguard_simulate_" + info->name() + "_cmd.txt";
  const int status =
      std::system((std::string(FEDGUARD_CLI_PATH) + " " + args + " > '" + log + "' 2>&1").c_str());
  *out = slurp(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

nlohmann::json tiny_config(const std::string& dir) {
  return {{"clients", 6},       {"malicious", 1}, {"alpha", 0.5},           {"train_subset", 900},
          {"root_samples", 30}, {"rounds", 2},    {"max_local_steps", 3},   {"eval_subset", 200},
          {"test_subset", 300}, {"seed", 5},      {"out_dir", dir + "/out"}};
}

class Simulate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
      GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  }
};

TEST_F(Simulate, BackdoorRunWritesJsonCsvAndLog) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["attack"] = {{"name", "backdoor"}};
  c["policy"] = {{"aggregator", {{"rule", "multi_krum"}, {"f", 1}}}};
  c["log_dir"] = dir + "/log";
  std::ofstream(dir + "/sim.json") << c.dump();
  std::string out;
  ASSERT_EQ(run("simulate --config " + dir + "/sim.json", &out), 0) << out;
  EXPECT_NE(out.find("[simulate] round 1/2"), std::string::npos) << out;
  EXPECT_NE(out.find("[simulate] round 2/2"), std::string::npos) << out;

  const auto r = nlohmann::json::parse(slurp(dir + "/out/result.json"));
  EXPECT_EQ(r["summary"]["status"], "ok");
  ASSERT_EQ(r["rounds"].size(), 2u);
  for (const auto& rec : r["rounds"]) {
    EXPECT_GE(rec["test_accuracy"].get<double>(), 0.0);
    EXPECT_LE(rec["test_accuracy"].get<double>(), 1.0);
    EXPECT_TRUE(rec["attack_success"].is_number());  // backdoor: measured
    EXPECT_TRUE(rec["tpr"].is_number());
    EXPECT_TRUE(rec["fpr"].is_number());
    EXPECT_TRUE(rec["engine_timings_ms"].contains("pass1_scan"));
  }
  EXPECT_GT(r["summary"]["final_accuracy"].get<double>(), 0.2);  // 2 rounds already beat chance
  EXPECT_EQ(r["setup"]["malicious_clients"].size(), 1u);
  EXPECT_EQ(r["setup"]["test_images"], 300);

  const std::string csv = slurp(dir + "/out/rounds.csv");
  EXPECT_EQ(csv.rfind("round,test_accuracy,attack_success,tpr,fpr,", 0), 0u) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);

  EXPECT_TRUE(exists(dir + "/log/manifest.json"));
  EXPECT_TRUE(exists(dir + "/log/round_000000.safetensors"));
  EXPECT_TRUE(exists(dir + "/log/round_000001.safetensors"));
  // The log reads back with the forensics reader: updates, ids, ground truth.
  const io::UpdateLog log(dir + "/log");
  ASSERT_EQ(log.entries().size(), 2u);
  const io::RoundData round1 = log.read(1);
  EXPECT_EQ(round1.round, 1u);
  EXPECT_EQ(round1.updates.rows(), 6u);
  EXPECT_EQ(round1.updates.cols(), r["setup"]["d"].get<std::size_t>());
  EXPECT_EQ(round1.client_ids.size(), 6u);
  ASSERT_EQ(round1.malicious.size(), 1u);
  EXPECT_EQ(round1.malicious[0], r["setup"]["malicious_clients"][0].get<std::string>());
}

TEST_F(Simulate, SameSeedSameRun) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["attack"] = {{"name", "label_flip"}};
  c["policy"] = {{"aggregator", {{"rule", "median"}}}};
  std::ofstream(dir + "/sim.json") << c.dump();
  std::string out;
  ASSERT_EQ(run("simulate --quiet --config " + dir + "/sim.json --out-dir " + dir + "/a", &out), 0)
      << out;
  EXPECT_EQ(out.find("[simulate] round"), std::string::npos) << out;
  ASSERT_EQ(run("simulate --quiet --config " + dir + "/sim.json --out-dir " + dir + "/b", &out), 0)
      << out;
  const auto a = nlohmann::json::parse(slurp(dir + "/a/result.json"));
  const auto b = nlohmann::json::parse(slurp(dir + "/b/result.json"));
  EXPECT_EQ(a["setup"], b["setup"]);
  EXPECT_EQ(a["summary"]["final_accuracy"], b["summary"]["final_accuracy"]);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a["rounds"][i]["test_accuracy"], b["rounds"][i]["test_accuracy"]);
    EXPECT_EQ(a["rounds"][i]["flagged_ids"], b["rounds"][i]["flagged_ids"]);
  }
}

// A model-poisoning attack from the attack library, and FLTrust's server reference update.
TEST_F(Simulate, CraftedAttackAgainstFltrust) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["attack"] = {{"name", "ipm"}};
  c["policy"] = {{"aggregator", {{"rule", "fltrust"}}}};
  std::ofstream(dir + "/sim.json") << c.dump();
  std::string out;
  ASSERT_EQ(run("simulate --config " + dir + "/sim.json", &out), 0) << out;
  const auto r = nlohmann::json::parse(slurp(dir + "/out/result.json"));
  EXPECT_EQ(r["setup"]["server_reference"], true);
  EXPECT_TRUE(r["rounds"][0]["attack_success"].is_null());
  EXPECT_GT(r["rounds"][1]["attack_ms"].get<double>(), 0.0);
}

TEST_F(Simulate, MatrixModeWritesTable) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["rounds"] = 1;
  c.erase("out_dir");
  std::ofstream(dir + "/base.json") << c.dump();
  const nlohmann::json m = {{"policies",
                             {{"mean", {{"aggregator", {{"rule", "mean"}}}}},
                              {"median", {{"aggregator", {{"rule", "median"}}}}},
                              {"oracle", {{"benign_oracle", true}}}}},
                            {"attacks", {"none", "sign_flip"}}};
  std::ofstream(dir + "/matrix.json") << m.dump();
  std::string out;
  ASSERT_EQ(run("simulate --config " + dir + "/base.json --matrix " + dir +
                    "/matrix.json --jobs 2 --out-dir " + dir + "/m",
                &out),
            0)
      << out;
  const auto mj = nlohmann::json::parse(slurp(dir + "/m/matrix.json"));
  ASSERT_EQ(mj["cells"].size(), 6u);
  for (const auto& cell : mj["cells"]) EXPECT_EQ(cell["summary"]["status"], "ok") << cell.dump();
  const std::string md = slurp(dir + "/m/matrix.md");
  EXPECT_NE(md.find("| median |"), std::string::npos) << md;
  EXPECT_NE(md.find("sign_flip"), std::string::npos) << md;
  EXPECT_NE(md.find("| oracle |"), std::string::npos) << md;
}

// The benign-only oracle leaves the attackers out: whatever they send (a model-poisoning
// attack, or updates trained on flipped labels), its rounds are the same bit for bit; without an
// attack nobody is left out and it is plain FedAvg over every client.
TEST_F(Simulate, BenignOracleIgnoresWhatTheAttackersSend) {
  const std::string dir = test_dir();
  std::map<std::string, nlohmann::json> runs;
  for (const std::string attack : {"sign_flip", "gaussian", "label_flip", "none"}) {
    auto c = tiny_config(dir);
    c["benign_oracle"] = true;
    c["attack"] = {{"name", attack}};
    c["out_dir"] = dir + "/" + attack;
    std::ofstream(dir + "/" + attack + ".json") << c.dump();
    std::string out;
    ASSERT_EQ(run("simulate --quiet --config " + dir + "/" + attack + ".json", &out), 0) << out;
    runs[attack] = nlohmann::json::parse(slurp(dir + "/" + attack + "/result.json"));
  }
  auto mean_run = tiny_config(dir);
  mean_run["policy"] = {{"aggregator", {{"rule", "mean"}}}};
  mean_run["out_dir"] = dir + "/mean";
  std::ofstream(dir + "/mean.json") << mean_run.dump();
  std::string out;
  ASSERT_EQ(run("simulate --quiet --config " + dir + "/mean.json", &out), 0) << out;
  const auto plain = nlohmann::json::parse(slurp(dir + "/mean/result.json"));
  for (std::size_t r = 0; r < 2; ++r) {
    const auto& flip = runs["sign_flip"]["rounds"][r];
    EXPECT_EQ(flip["test_accuracy"], runs["gaussian"]["rounds"][r]["test_accuracy"]);
    EXPECT_EQ(flip["test_accuracy"], runs["label_flip"]["rounds"][r]["test_accuracy"]);
    EXPECT_EQ(flip["tpr"], 1.0);
    EXPECT_EQ(flip["fpr"], 0.0);
    EXPECT_EQ(flip["malicious_weight"], 0.0);
    EXPECT_EQ(flip["accepted"], 5);
    // No attack: every client in, the same as the mean rule's run.
    EXPECT_EQ(runs["none"]["rounds"][r]["test_accuracy"], plain["rounds"][r]["test_accuracy"]);
    EXPECT_EQ(runs["none"]["rounds"][r]["accepted"], 6);
  }
  EXPECT_EQ(runs["sign_flip"]["setup"]["benign_oracle"], true);
  // The oracle is FedAvg: a policy beside it is refused, naming the key.
  auto bad = tiny_config(dir);
  bad["benign_oracle"] = true;
  bad["policy"] = {{"aggregator", {{"rule", "median"}}}};
  std::ofstream(dir + "/bad.json") << bad.dump();
  EXPECT_NE(run("simulate --quiet --config " + dir + "/bad.json", &out), 0);
  EXPECT_NE(out.find("benign_oracle"), std::string::npos) << out;
}

// MPAF with an enormous scale wrecks plain FedAvg's model: the next round's benign updates are
// not finite and the attack cannot be crafted. The run ends there as a failed run (exit 1), with
// result.json written for the model at that point, not as a crash or a missing result.
TEST_F(Simulate, DivergedModelEndsTheRunWithAStatus) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["rounds"] = 4;
  c["attack"] = {{"name", "mpaf"}, {"params", {{"lambda", 1e30}}}};
  c["policy"] = {{"aggregator", {{"rule", "mean"}}}};
  std::ofstream(dir + "/sim.json") << c.dump();
  std::string out;
  ASSERT_EQ(run("simulate --config " + dir + "/sim.json", &out), 1) << out;
  const auto r = nlohmann::json::parse(slurp(dir + "/out/result.json"));
  const std::string status = r["summary"]["status"].get<std::string>();
  EXPECT_EQ(status.rfind("failed: round ", 0), 0u) << status;
  EXPECT_NE(status.find("non-finite"), std::string::npos) << status;
  EXPECT_LT(r["rounds"].size(), 4u);
  EXPECT_TRUE(r["summary"]["final_accuracy"].is_number());
}

// In-process runs (no CLI start-up, which costs seconds with LibTorch on a loaded machine).
nlohmann::json run_in_process(nlohmann::json config) {
  config["progress"] = false;
  return nlohmann::json::parse(run_simulation(SimConfig::from_json(config)).dump());
}

// MPAF's fake clients through the engine's real verification path: without registered keys every
// fake submission is rejected unknown_client; enrolled,
// they verify and are on probation in their join round.
TEST_F(Simulate, FakeClientsSignedThroughTheRegistry) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c.erase("malicious");
  c["rounds"] = 3;
  c["attack"] = {{"name", "mpaf"}, {"params", {{"lambda", 10.0}, {"base_seed", 7}}}};
  c["policy"] = {{"aggregator", {{"rule", "mean"}}}};
  c["verification"] = {{"probation", {{"rounds", 1}, {"max_share", 0.2}}}};
  c["fake_clients"] = {{"count", 2}, {"join_round", 1}, {"keys", "none"}};
  c["out_dir"] = dir + "/none";
  const auto none = run_in_process(c);
  c["fake_clients"]["keys"] = "enrolled";
  c["out_dir"] = dir + "/enrolled";
  const auto enrolled = run_in_process(c);
  EXPECT_EQ(none["rounds"][0]["malicious_rows"], 0);
  for (std::size_t r = 1; r < 3; ++r) {
    const auto& rec = none["rounds"][r];
    EXPECT_EQ(rec["malicious_rows"], 2);
    EXPECT_EQ(rec["malicious_rejections"], nlohmann::json({{"unknown_client", 2}})) << rec.dump();
    EXPECT_EQ(rec["verification"]["verified"], 6);
    EXPECT_EQ(rec["tpr"], 1.0);
  }
  EXPECT_EQ(none["summary"]["malicious_rejected_fraction"], 1.0);
  // Rejected before any detection: the fakes carry no weight (the aggregate is the benign one:
  // tests/sim/scenarios_test.cc checks it against the mean).
  for (const auto& rec : none["rounds"]) EXPECT_EQ(rec["malicious_weight"], 0.0);
  const auto& join = enrolled["rounds"][1];
  EXPECT_EQ(join["verification"]["verified"], 8);
  EXPECT_EQ(join["verification"]["new_clients"], 2);
  EXPECT_EQ(join["verification"]["on_probation"], 2);
  EXPECT_NEAR(join["malicious_weight"].get<double>(), 0.2, 1e-6);  // the probation cap on the mean
  for (const auto& rec : enrolled["rounds"]) EXPECT_TRUE(rec["alerts"].is_array());
  EXPECT_TRUE(enrolled["summary"]["monitoring"]["by_detector"].is_object());
  EXPECT_EQ(enrolled["summary"]["monitoring"]["change_round"], 1);
  // result.json on disk holds the same.
  EXPECT_EQ(
      nlohmann::json::parse(slurp(dir + "/none/result.json"))["summary"]["malicious_rejections"],
      none["summary"]["malicious_rejections"]);
}

// A ramped crafted attack and a drifting benign population run; the ramp's strength is recorded;
// the server's own validation metrics reach the monitoring metrics.
TEST_F(Simulate, RampAndDrift) {
  const std::string dir = test_dir();
  auto c = tiny_config(dir);
  c["rounds"] = 3;
  c["attack"] = {{"name", "sign_flip"}, {"start_round", 1}, {"ramp_rounds", 4}};
  c["drift"] = {{"kind", "resplit"}, {"period", 2}};
  c["server_metrics"] = true;
  const auto r = run_in_process(c);
  // The server's validation of the model each round starts from: the previous round's accuracy.
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(r["rounds"][i]["metrics"]["server_accuracy"], r["rounds"][i - 1]["test_accuracy"]);
    EXPECT_GT(r["rounds"][i]["metrics"]["server_loss"].get<double>(), 0.0);
  }
  EXPECT_LT(r["rounds"][0]["metrics"]["server_accuracy"].get<double>(), 0.5);  // the initial model
  EXPECT_EQ(r["summary"]["status"], "ok");
  EXPECT_FALSE(r["rounds"][0].contains("attack_info"));
  EXPECT_DOUBLE_EQ(r["rounds"][1]["attack_info"]["ramp_strength"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(r["rounds"][2]["attack_info"]["ramp_strength"].get<double>(), 0.5);
  EXPECT_EQ(r["summary"]["monitoring"]["change_round"], 1);
}

TEST(SimulateConfig, ScenarioErrors) {
  const auto error_of = [](const char* text) -> std::string {
    try {
      (void)SimConfig::from_json(nlohmann::json::parse(text));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of(R"({"attack": "mpaf", "fake_clients": {"count": 2}})")
                .find("\"fake_clients\" needs \"verification\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"attack": {"name": "label_flip", "ramp_rounds": 5}})").find("ramp_rounds"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"drift": {"kind": "rotate"}})")
                .find("\"kind\" must be one of none, resplit, label_prior"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          R"({"attack": "mpaf", "verification": true, "fake_clients": {"count": 2, "keys": "stolen"}})")
          .find("\"keys\" must be one of none, enrolled"),
      std::string::npos);
  EXPECT_NE(
      error_of(
          R"({"attack": "mpaf", "verification": true, "malicious": 2, "fake_clients": {"count": 2}})")
          .find("set \"malicious\": 0"),
      std::string::npos);
  EXPECT_NE(
      error_of(
          R"({"attack": "label_flip", "verification": true, "malicious": 0, "fake_clients": {"count": 2}})")
          .find("crafted attack"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"verification": {"probation": {"max_share": 1.5}}})").find("max_share"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"drift": {"kind": "resplit", "period": 0}})").find("\"period\" must be >= 1"),
      std::string::npos);
  // Fakes alone make an attack: no "malicious" needed, and it defaults to 0.
  const auto ok = SimConfig::from_json(nlohmann::json::parse(
      R"({"attack": "mpaf", "verification": true, "fake_clients": {"count": 3, "join_round": 5}})"));
  EXPECT_EQ(ok.malicious, 0u);
  EXPECT_EQ(ok.fake_clients.count, 3u);
  EXPECT_EQ(ok.to_json()["fake_clients"]["join_round"], 5);
}

TEST(SimulateConfig, ErrorsNameTheKey) {
  const std::string dir = test_dir();
  std::ofstream(dir + "/bad.json") << R"({"clients": 20, "roundz": 3})";
  std::string out;
  EXPECT_EQ(run("simulate --config " + dir + "/bad.json", &out), 2);
  EXPECT_NE(out.find("unknown key \"roundz\""), std::string::npos) << out;
  std::ofstream(dir + "/bad2.json") << R"({"attack": {"name": "teleport"}})";
  EXPECT_EQ(run("simulate --config " + dir + "/bad2.json", &out), 2);
  EXPECT_NE(out.find("unknown attack \"teleport\""), std::string::npos) << out;
  std::ofstream(dir + "/bad3.json") << R"({"data_dir": "/nonexistent", "rounds": 1})";
  EXPECT_EQ(run("simulate --config " + dir + "/bad3.json", &out), 3);
  EXPECT_NE(out.find("dataset-fashion-mnist"), std::string::npos) << out;
}

}  // namespace
}  // namespace fedguard::sim
