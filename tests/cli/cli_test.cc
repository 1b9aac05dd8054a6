// The `fedguard` binary end to end: demo, round (against float64 references), info, errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "io/npy.h"
#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

struct Output {
  int code;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A per-test folder: ctest runs tests in parallel processes.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& c : name)
    if (c == '/') c = '_';
  const std::string dir = ::testing::TempDir() + "/fedguard_cli_" + name;
  std::system(("mkdir -p '" + dir + "'").c_str());
  return dir;
}

Output run_cli(const std::string& args) {
  const std::string dir = test_dir();
  const std::string out = dir + "/cli_stdout.txt", err = dir + "/cli_stderr.txt";
  const std::string cmd = std::string(FEDGUARD_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

// The same under `timeout 60`: a hang becomes exit code 124.
Output run_cli_timeout(const std::string& args) {
  const std::string dir = test_dir();
  const std::string out = dir + "/cli_stdout.txt", err = dir + "/cli_stderr.txt";
  const std::string cmd =
      "timeout 60 " + std::string(FEDGUARD_CLI_PATH) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = test_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, InfoListsBackends) {
  const Output o = run_cli("info");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("backends built: cpu"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("multi_krum"), std::string::npos);
}

TEST(Cli, DemoRejectsNoisyAttackersAndBeatsPlainMean) {
  const Output o = run_cli("demo --benign 40 --attackers 8 -d 3000 --seed 7");
  ASSERT_EQ(o.code, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  double policy_rel = -1, mean_rel = -1;
  while (std::getline(lines, line)) {
    std::istringstream w(line);
    std::string name;
    w >> name;
    std::size_t clients, by_policy, by_mean;
    if (name == "sign_flip" || name == "gaussian") {
      w >> clients >> by_policy >> by_mean;
      // The recommended preset's detection stage rejects both groups (norm and direction).
      EXPECT_EQ(by_policy, 0u) << line;
      EXPECT_EQ(by_mean, clients) << line;
    }
    if (name == "benign") {
      w >> clients >> by_policy >> by_mean;
      // The detection budgets allow under 1% false alarms per benign client: at most one of 40.
      EXPECT_GE(by_policy + 1, clients) << line;
    }
    double dist, rel;
    if (name == "policy" && (w >> dist >> rel)) policy_rel = rel;
    if (name == "mean" && (w >> dist >> rel)) mean_rel = rel;
  }
  ASSERT_GT(policy_rel, 0) << o.out;
  EXPECT_LT(policy_rel * 5, mean_rel) << o.out;
}

class CliRound : public ::testing::TestWithParam<DType> {};

TEST_P(CliRound, EveryRuleMatchesTheFloat64Reference) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 19, d = 777;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  const std::vector<unsigned char> bytes = encode(x, GetParam());  // x now has the stored values
  const std::string u = test_dir() + "/updates.npy";
  io::write_npy(u, GetParam() == DType::kFloat32 ? io::NpyType::kFloat32 : io::NpyType::kFloat16,
                {n, d}, bytes.data());
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = 1.0 + static_cast<double>(i % 4);
  const std::string wpath = test_dir() + "/w.npy";
  io::write_npy(wpath, io::NpyType::kFloat64, {n}, w.data());
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;

  const std::vector<std::pair<std::string, ref::Vec>> cases = {
      {R"({"aggregator": {"rule": "mean"}})", ref::weighted_mean(x, w)},
      {R"({"aggregator": {"rule": "median"}})", ref::median(x)},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 3}})", ref::trimmed_mean(x, 3)},
      {R"({"aggregator": {"rule": "krum", "f": 4}})", x[ref::krum(x, 4)]},
      {R"({"aggregator": {"rule": "multi_krum", "f": 4, "m": 9}})",
       ref::weighted_mean(ref::rows(x, ref::multi_krum(x, 4, 9)), {})},
      {R"({"aggregator": {"rule": "bulyan", "f": 4}})", ref::bulyan(x, 4)},
      {R"({"aggregator": {"rule": "geometric_median", "nu": 1e-12}})",
       ref::geometric_median(x, w, 1e-12, 5000)},
      {R"({"aggregator": {"rule": "centered_clipping", "tau": 5}})",
       ref::centered_clipping(x, ref::Vec(d, 0.0), 5, 3)},
      {R"({"transforms": [{"rule": "norm_clip", "max_norm": 25}], "aggregator": {"rule": "mean"}})",
       ref::weighted_mean(ref::norm_clip(x, 25), w)},
      {R"({"transforms": [{"rule": "arc", "f": 4}], "aggregator": {"rule": "median"}})",
       ref::median(ref::arc(x, 4))},
      {R"({"transforms": [{"rule": "nnm", "f": 4}], "aggregator": {"rule": "trimmed_mean", "trim": 4}})",
       ref::trimmed_mean(ref::nnm(x, 4), 4)},
  };
  for (const auto& [policy, want] : cases) {
    const std::string cfg = write_file("config.json", policy);
    const std::string agg = test_dir() + "/aggregate.npy";
    const std::string res = test_dir() + "/result.json";
    const Output o = run_cli("round --updates " + u + " --config " + cfg + " --num-samples " +
                             wpath + " --out " + res + " --aggregate-out " + agg);
    ASSERT_EQ(o.code, 0) << policy << "\n" << o.err;
    const io::NpyFile a(agg);
    ASSERT_EQ(a.shape(), std::vector<std::size_t>{d});
    const auto* p = static_cast<const float*>(a.data());
    EXPECT_LT(ref::max_rel_diff(std::vector<float>(p, p + d), want), 1e-5) << policy;
    const auto j = nlohmann::json::parse(slurp(res));
    EXPECT_EQ(j.at("n"), n);
    EXPECT_EQ(j.at("d"), d);
    EXPECT_EQ(j.at("accepted").size(), n);
    EXPECT_EQ(j.at("weights").size(), n);
    EXPECT_TRUE(j.contains("timings_ms") && j.at("timings_ms").contains("pass1_scan"));
    EXPECT_TRUE(j.at("scores").contains("norm"));
  }
}

INSTANTIATE_TEST_SUITE_P(DTypes, CliRound, ::testing::Values(DType::kFloat32, DType::kFloat16),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

TEST(Cli, RoundTakesTheServerReferenceForFlTrust) {
  const std::size_t n = 5, d = 3;
  const std::vector<float> x = {1, 0, 0, 2, 0, 0, -1, 0, 0, 0, 1, 0, 1, 1, 0};
  const std::vector<float> g0 = {3, 0, 0};
  const std::string u = test_dir() + "/u.npy", r = test_dir() + "/g0.npy";
  io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
  io::write_npy(r, io::NpyType::kFloat32, {d}, g0.data());
  const std::string cfg = write_file("fltrust.json", R"({"aggregator": {"rule": "fltrust"}})");
  Output o = run_cli("round --updates " + u + " --config " + cfg + " --reference " + r);
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  // cosines 1, 1, -1, 0, 1/sqrt(2): clients 2 and 3 carry no trust.
  EXPECT_FALSE(j.at("accepted")[2].get<bool>());
  EXPECT_FALSE(j.at("accepted")[3].get<bool>());
  EXPECT_NEAR(j.at("scores").at("fltrust")[4].get<double>(), 1 / std::sqrt(2.0), 1e-6);
  o = run_cli("round --updates " + u + " --config " + cfg);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("needs the server's reference update"), std::string::npos) << o.err;
}

TEST(Cli, StateFileCarriesHistoryAcrossRounds) {
  const std::size_t n = 6, d = 40;
  std::vector<float> x(n * d);
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  const std::string u = test_dir() + "/u.npy", state = test_dir() + "/state.bin";
  std::remove(state.c_str());
  io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
  const std::string cfg = write_file("fg.json", R"({"aggregator": {"rule": "foolsgold"}})");
  Output o = run_cli("round --updates " + u + " --config " + cfg + " --state " + state);
  ASSERT_EQ(o.code, 0) << o.err;
  const auto first = nlohmann::json::parse(o.out);
  o = run_cli("round --updates " + u + " --config " + cfg + " --state " + state);
  ASSERT_EQ(o.code, 0) << o.err;
  const auto second = nlohmann::json::parse(o.out);
  // The same updates twice: the histories doubled, cosines unchanged, so the same weights;
  // what the state proves is that it loaded (a mismatched file would fail).
  EXPECT_EQ(first.at("weights"), second.at("weights"));
  const std::string other =
      write_file("fg32.json", R"({"sketch_dim": 32, "aggregator": {"rule": "foolsgold"}})");
  o = run_cli("round --updates " + u + " --config " + other + " --state " + state);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("written with sketch_dim 256"), std::string::npos) << o.err;
}

// Three `fedguard round --state` processes over rounds with a rotating set of ids give what one
// engine gives in memory: the history detectors' state (sketched histories, FLDetector's model
// history and windows, reputations) survives the restarts exactly.
TEST(Cli, ThreeRoundsWithRotatingIdsRestoreHistoryExactly) {
  const std::size_t d = 50;
  const std::string state = test_dir() + "/rotating_state.bin";
  std::remove(state.c_str());
  const std::string policy =
      R"({"sketch_dim": 16, "filters": [{"rule": "fldetector", "window": 1, "min_pairs": 1}],
      "aggregator": {"rule": "foolsgold"}, "reputation": {"decay": 0.7}})";
  const std::string cfg = write_file("rotating.json", policy);
  Engine engine(EngineConfig::from_json(policy));
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<float> normal;
  const std::vector<std::vector<std::string>> ids{
      {"a", "b", "c", "d", "e"}, {"b", "c", "d", "e", "f"}, {"a", "c", "d", "f", "g"}};
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::size_t n = ids[t].size();
    std::vector<float> x(n * d);
    for (float& v : x) v = normal(rng);
    const std::string u = test_dir() + "/rot" + std::to_string(t) + ".npy";
    io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
    std::string id_text;
    for (const auto& id : ids[t]) id_text += id + "\n";
    const std::string id_file = write_file("rot_ids" + std::to_string(t) + ".txt", id_text);
    const Output o = run_cli("round --updates " + u + " --config " + cfg + " --ids " + id_file +
                             " --state " + state);
    ASSERT_EQ(o.code, 0) << o.err;
    const auto got = nlohmann::json::parse(o.out);
    RoundInput in;
    in.updates = UpdateView(x.data(), n, d, DType::kFloat32);
    in.client_ids = ids[t];
    const auto want = nlohmann::json::parse(engine.process_round(in).to_json().dump());
    EXPECT_EQ(got.at("weights"), want.at("weights")) << "round " << t;
    EXPECT_EQ(got.at("accepted"), want.at("accepted")) << "round " << t;
    EXPECT_EQ(got.at("scores"), want.at("scores")) << "round " << t;
  }
  // Round 3: "f" took part in round 2, so FLDetector predicted it; "a" skipped round 2: not.
  Engine reloaded(EngineConfig::from_json(policy));
  reloaded.load_state(state);
  EXPECT_EQ(reloaded.rounds_processed(), 3u);
  EXPECT_EQ(reloaded.clients_known(), 7u);
}

TEST(Cli, RoundReportsNanRowsAndIds) {
  const std::size_t n = 6, d = 10;
  std::vector<float> x(n * d, 1.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) x[i * d + j] = static_cast<float>(i + j);
  x[2 * d + 4] = std::nanf("");
  const std::string u = test_dir() + "/nan.npy";
  io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
  const std::string ids = write_file("ids.txt", "a\nb\nc\nd\ne\nf\n");
  const std::string cfg = write_file("median.json", R"({"aggregator": {"rule": "median"}})");
  const Output o = run_cli("round --updates " + u + " --config " + cfg + " --ids " + ids);
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j.at("reasons").at("2"), "non_finite");
  EXPECT_FALSE(j.at("accepted")[2].get<bool>());
  EXPECT_TRUE(j.at("scores").at("norm")[2].is_null());
}

TEST(Cli, ErrorsGoToStderrWithExitCodes) {
  const std::string cfg = write_file("krum.json", R"({"aggregator": {"rule": "krum", "f": 3}})");
  const std::size_t n = 6, d = 4;
  std::vector<float> x(n * d, 0.5f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  const std::string u = test_dir() + "/small.npy";
  io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
  Output o = run_cli("round --updates " + u + " --config " + cfg);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("needs n > 2f+2 = 8 clients, got n=6"), std::string::npos) << o.err;

  const std::string broken =
      write_file("broken.npy", std::string("\x93NUMPY\x01\x00\xff\x7f", 10) + "{'descr'");
  o = run_cli("round --updates " + broken + " --config " + cfg);
  EXPECT_EQ(o.code, 3);
  EXPECT_NE(o.err.find("broken.npy"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("offset"), std::string::npos) << o.err;

  const std::string bad_cfg =
      write_file("bad.json", R"({"aggregator": {"rule": "krum", "f": 3, "q": 1}})");
  o = run_cli("round --updates " + u + " --config " + bad_cfg);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("has no parameter 'q'"), std::string::npos) << o.err;

  o = run_cli("round --config " + cfg);
  EXPECT_EQ(o.code, 2);  // a usage error is invalid input (README), not CLI11's own code
  EXPECT_NE(o.err.find("--updates"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("usage: fedguard <"), std::string::npos) << o.err;
}

// No command, an unknown one, a malformed value: exit 2 with the usage line naming the commands.
TEST(Cli, UsageErrorsExitTwoWithTheUsageLine) {
  for (const std::string args : {"", "frobnicate", "demo --benign many"}) {
    const Output o = run_cli(args);
    EXPECT_EQ(o.code, 2) << args << ": " << o.err;
    EXPECT_NE(o.err.find("usage: fedguard <demo|round|info|"), std::string::npos) << o.err;
  }
  EXPECT_EQ(run_cli("--help").code, 0);
}

// --backend and --precision override the config's keys; tf32 is a CUDA-only precision.
TEST(Cli, RoundBackendAndPrecisionFlags) {
  const std::string cfg = write_file("median.json", R"({"aggregator": {"rule": "median"}})");
  const std::size_t n = 5, d = 3;
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 4);
  const std::string u = test_dir() + "/flags.npy";
  io::write_npy(u, io::NpyType::kFloat32, {n, d}, x.data());
  Output o =
      run_cli("round --updates " + u + " --config " + cfg + " --backend cpu --precision fp32");
  ASSERT_EQ(o.code, 0) << o.err;
  o = run_cli("round --updates " + u + " --config " + cfg + " --backend cpu --precision tf32");
  EXPECT_EQ(o.code, 4) << o.err;
  EXPECT_NE(o.err.find("tf32"), std::string::npos) << o.err;
  o = run_cli("round --updates " + u + " --config " + cfg + " --backend gpu");
  EXPECT_NE(o.code, 0);
  EXPECT_NE(o.err.find("--backend"), std::string::npos) << o.err;
}

// ---------------------------------------------------------------------------------------------
// Hostile input (issue 17): each case crashed, hung or was silently accepted before.
namespace hostile {

// Runs the CLI under `timeout`: a hang fails the test (exit 124) instead of blocking ctest.
Output run_bounded(const std::string& args) { return run_cli_timeout(args); }

std::string make_fifo(const std::string& name) {
  const std::string path = test_dir() + "/" + name;
  std::remove(path.c_str());
  EXPECT_EQ(std::system(("mkfifo '" + path + "'").c_str()), 0);
  return path;
}

std::string small_updates() {
  const std::string path = test_dir() + "/u.npy";
  std::vector<float> x(5 * 4);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  io::write_npy(path, io::NpyType::kFloat32, {5, 4}, x.data());
  return path;
}

TEST(CliHostile, DeeplyNestedConfigIsAnErrorNotASegfault) {
  const std::string config =
      write_file("deep.json", std::string(100000, '[') + std::string(100000, ']'));
  const Output o = run_bounded("round --updates " + small_updates() + " --config " + config);
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(
      o.err.find("deep.json: config is not valid JSON: offset 64: nested deeper than 64 levels"),
      std::string::npos)
      << o.err;
}

TEST(CliHostile, NonRegularFilesFailAtOnceNamingTheFile) {
  const std::string updates = small_updates();
  const std::string config = write_file("c.json", R"({"aggregator": {"rule": "mean"}})");
  const std::string fifo = make_fifo("fifo");
  for (const std::string& args :
       {"round --updates " + fifo + " --config " + config,
        "round --updates " + updates + " --config " + fifo,
        "round --updates " + updates + " --config " + config + " --state " + fifo,
        "round --updates " + updates + " --config " + config + " --ids " + fifo}) {
    const Output o = run_bounded(args);
    EXPECT_EQ(o.code, 3) << args << "\n" << o.err;
    EXPECT_NE(o.err.find(fifo + ": not a regular file (a FIFO)"), std::string::npos) << o.err;
  }
  Output o =
      run_bounded("round --updates " + updates + " --config " + config + " --state /dev/zero");
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find("/dev/zero: not a regular file (a character device)"), std::string::npos)
      << o.err;
  o = run_bounded("round --updates /dev/zero --config " + config);
  EXPECT_NE(o.err.find("/dev/zero: not a regular file"), std::string::npos) << o.err;
  o = run_bounded("round --updates " + updates + " --config " + test_dir());
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find(": not a regular file (a directory)"), std::string::npos) << o.err;
}

TEST(CliHostile, IdsFileWithInvalidUtf8IsAClearError) {
  const std::string ids = write_file("ids.txt", "a\nb\n\xff\xfe\nd\ne\n");
  const Output o =
      run_bounded("round --updates " + small_updates() + " --config " +
                  write_file("c.json", R"({"aggregator": {"rule": "mean"}})") + " --ids " + ids);
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find("ids.txt: line 3 (offset 4): client ids must be UTF-8"), std::string::npos)
      << o.err;
  EXPECT_EQ(o.err.find("unexpected"), std::string::npos) << o.err;
}

// An .npy of shape (2^62, 0) holds no bytes: it used to end in "unexpected error:
// vector::_M_default_append" while the CLI built 2^62 row pointers.
TEST(CliHostile, ZeroWidthHugeRoundIsAnInputError) {
  const std::string path = test_dir() + "/zero.npy";
  io::write_npy(path, io::NpyType::kFloat32, {std::size_t{1} << 62, 0}, nullptr);
  const Output o = run_bounded("round --updates " + path + " --config " +
                               write_file("c.json", R"({"aggregator": {"rule": "mean"}})"));
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(o.err.find("zero length (d = 0)"), std::string::npos) << o.err;
}

// One round of a log with an invalid-UTF-8 safetensors header: that round's error, and the
// scan goes on (it used to abort with "unexpected error: ... invalid UTF-8 byte").
TEST(CliHostile, ScanReportsABadRoundAndGoesOn) {
  const std::string log = test_dir() + "/log";
  std::system(("rm -rf '" + log + "' && mkdir -p '" + log + "'").c_str());
  std::vector<float> x(6 * 3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5);
  io::write_npy(log + "/round_000000.npy", io::NpyType::kFloat32, {6, 3}, x.data());
  std::string header = "{\"\xff\xfe\":1}";
  header.resize(16, ' ');
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  bytes += header;
  std::ofstream(log + "/round_000001.safetensors", std::ios::binary) << bytes;
  io::write_npy(log + "/round_000002.npy", io::NpyType::kFloat32, {6, 3}, x.data());
  make_fifo("log/round_000003.npy");
  const std::string out = test_dir() + "/scan_out";
  const Output o =
      run_bounded("scan " + log + " --progress none --no-layer-scores --out " + out + " --config " +
                  write_file("c.json", R"({"aggregator": {"rule": "median"}})"));
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("scanned 4 rounds (2 unreadable"), std::string::npos) << o.out << o.err;
  const std::string lines = slurp(out + "/rounds.jsonl");
  EXPECT_NE(lines.find("not valid JSON"), std::string::npos) << lines;
  EXPECT_NE(lines.find("not a regular file (a FIFO)"), std::string::npos) << lines;
}

// Ground truth naming a client the round does not have, and a manifest that disagrees with
// the round file: that round's error.
TEST(CliHostile, ManifestGroundTruthMustMatchTheRound) {
  const std::string log = test_dir() + "/log";
  std::system(("rm -rf '" + log + "' && mkdir -p '" + log + "'").c_str());
  std::vector<float> x(4 * 3, 1.0f);
  io::write_npy(log + "/r0.npy", io::NpyType::kFloat32, {4, 3}, x.data());
  io::write_npy(log + "/r1.npy", io::NpyType::kFloat32, {4, 3}, x.data());
  std::ofstream(log + "/manifest.json")
      << R"({"format": "fedguard-update-log", "version": 1, "rounds": [)"
      << R"({"file": "r0.npy", "client_ids": ["a", "b", "c", "d"], "malicious": ["zz"]},)"
      << R"({"file": "r1.npy", "client_ids": ["a", "b", "c", "d"], "malicious": ["b"]}]})";
  const std::string out = test_dir() + "/scan_out";
  const Output o =
      run_bounded("scan " + log + " --progress none --no-layer-scores --out " + out + " --config " +
                  write_file("c.json", R"({"aggregator": {"rule": "median"}})"));
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("scanned 2 rounds (1 unreadable"), std::string::npos) << o.out << o.err;
  EXPECT_NE(slurp(out + "/rounds.jsonl").find("id 'zz' is not a client of the round"),
            std::string::npos);
}

// Found by the hostile probe (scripts/hostile_probe.py): unsigned options took "-1" (CLI11
// wraps it), "nan" passed a range check, an empty ids or num_samples file ran the round as if
// none was given, a FIFO as the monitor's state blocked, a write to a full device exited 0.
TEST(CliHostile, ProbeFindingsAreErrors) {
  const std::string updates = small_updates();
  const std::string config = write_file("c.json", R"({"aggregator": {"rule": "mean"}})");
  const std::string registry = test_dir() + "/R.json";
  std::remove(registry.c_str());
  Output o = run_bounded("keys register --registry " + registry +
                         " --federation f --id a --public-key "
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= --max-clients -1");
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(o.err.find("--max-clients"), std::string::npos) << o.err;
  o = run_bounded("keys register --registry " + registry +
                  " --federation f --id a --public-key "
                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= --round 18446744073709551616");
  EXPECT_EQ(o.code, 2) << o.err;
  const std::string log = test_dir() + "/mlog";
  std::system(("rm -rf '" + log + "' && mkdir -p '" + log + "'").c_str());
  std::vector<float> x(6 * 3, 1.0f);
  io::write_npy(log + "/round_000000.npy", io::NpyType::kFloat32, {6, 3}, x.data());
  for (const std::string& extra :
       {std::string("--max-rounds -1"), std::string("--poll nan"), std::string("--max-wait nan")}) {
    o = run_bounded("monitor " + log + " --config " + config + " --no-follow --progress none " +
                    extra);
    EXPECT_EQ(o.code, 2) << extra << "\n" << o.err;
  }
  const std::string fifo = make_fifo("mon_state");
  o = run_bounded("monitor " + log + " --config " + config +
                  " --no-follow --progress none --state " + fifo);
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find(fifo + ": not a regular file (a FIFO)"), std::string::npos) << o.err;
  o = run_bounded("monitor " + log + " --config " + fifo + " --no-follow --progress none");
  EXPECT_EQ(o.code, 3) << o.err;
  const std::string empty_ids = write_file("empty_ids.txt", "");
  o = run_bounded("round --updates " + updates + " --config " + config + " --ids " + empty_ids);
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(o.err.find("empty_ids.txt: holds no client ids for n=5"), std::string::npos) << o.err;
  const std::string empty_ns = test_dir() + "/empty_ns.npy";
  io::write_npy(empty_ns, io::NpyType::kFloat32, {0}, x.data());
  o = run_bounded("round --updates " + updates + " --config " + config + " --num-samples " +
                  empty_ns);
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(o.err.find("holds no num_samples for n=5"), std::string::npos) << o.err;
  // An atomic output never replaces a FIFO (or, as root, a device node).
  o = run_bounded("round --updates " + updates + " --config " + config + " --metrics-prom " + fifo);
  EXPECT_EQ(o.code, 3) << o.err;
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  if (::access("/dev/full", W_OK) ==
      0) {  // a write that fails at flush (ENOSPC) is an error, not exit 0
    o = run_bounded("round --updates " + updates + " --config " + config + " --out /dev/full");
    EXPECT_EQ(o.code, 3) << o.err;
  }
}

}  // namespace hostile

}  // namespace
}  // namespace fedguard::test
