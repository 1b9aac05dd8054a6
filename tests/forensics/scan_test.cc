// fedguard scan: ROC/AUC, layer scores, a synthetic log with ground truth end to end (outputs,
// report content), a bad round in the middle, policy comparison, and the command line.
#include "forensics/scan.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fedguard/error.h"
#include "forensics/layer_scores.h"
#include "forensics/svg_plot.h"
#include "forensics/synthetic_log.h"
#include "io/update_log.h"

namespace fedguard::forensics {
namespace {

std::string temp_dir(const std::string& name) {
  const std::string d =
      ::testing::TempDir() + "/fedguard_scan_test_" + std::to_string(::getpid()) + "/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

PolicySpec policy(const std::string& name, const std::string& json) {
  return {name, EngineConfig::from_json(json)};
}

const char* kMultiKrum = R"({"backend":"cpu","aggregator":{"rule":"multi_krum","f":3,"m":12}})";
const char* kNormBound =
    R"({"backend":"cpu","filters":[{"rule":"norm_bound","max_ratio":2.0}],"aggregator":{"rule":"median"}})";

TEST(Roc, AucOfKnownOrders) {
  EXPECT_DOUBLE_EQ(roc_curve({1, 2, 3, 4}, {0, 0, 1, 1}, true).auc, 1.0);
  EXPECT_DOUBLE_EQ(roc_curve({1, 2, 3, 4}, {1, 1, 0, 0}, true).auc, 0.0);
  EXPECT_DOUBLE_EQ(roc_curve({1, 2, 3, 4}, {1, 1, 0, 0}, false).auc, 1.0);
  EXPECT_DOUBLE_EQ(roc_curve({5, 5, 5, 5}, {1, 0, 1, 0}, true).auc, 0.5);
  // 3 of the 4 (positive, negative) pairs ordered correctly.
  EXPECT_DOUBLE_EQ(roc_curve({1, 3, 2, 4}, {0, 0, 1, 1}, true).auc, 0.75);
  const Roc r = roc_curve({1, NAN, 3}, {0, 1, 1}, true);
  EXPECT_EQ(r.positives, 1u);
  EXPECT_EQ(r.fpr.back(), 1.0);
  EXPECT_EQ(r.tpr.back(), 1.0);
  EXPECT_TRUE(std::isnan(roc_curve({1, 2}, {0, 0}, true).auc));
}

TEST(LayerScores, AnomalousLayerStandsOut) {
  // 9 clients, two layers of 50; client 4 is scaled in layer "b" only.
  const std::size_t n = 9, d = 100;
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      x[i * d + j] = std::sin(0.37f * (i * d + j)) * 0.1f + 0.01f * j;
  for (std::size_t j = 50; j < d; ++j) x[4 * d + j] *= 20;
  x[7 * d + 3] = NAN;
  const UpdateView v(x.data(), n, d, DType::kFloat32);
  const LayerScores s = compute_layer_scores(v, {{"a", 0, 50}, {"b", 50, 100}}, 16);
  ASSERT_EQ(s.layers, (std::vector<std::string>{"a", "b"}));
  EXPECT_LT(s.median_distance[0][4], 2.0);
  EXPECT_GT(s.median_distance[1][4], 10.0);
  EXPECT_GT(s.norm_z[1][4], 10.0);
  EXPECT_TRUE(std::isnan(s.median_distance[0][7]));  // NaN in layer a only
  EXPECT_TRUE(std::isfinite(s.median_distance[1][7]));
  // The tile width does not change the result beyond rounding.
  const LayerScores t = compute_layer_scores(v, {{"a", 0, 50}, {"b", 50, 100}}, 7);
  EXPECT_NEAR(t.median_distance[1][4], s.median_distance[1][4], 1e-9);
}

TEST(SvgPlot, EscapesTextAndRendersSeries) {
  SvgPlot p(300, 200);
  p.title("a <b> & \"c\"");
  Series s(Series::Kind::kLine);
  s.x = {0, 1, 2};
  s.y = {0, NAN, 2};
  s.label = "<x>";
  p.add(s);
  const std::string svg = p.render();
  EXPECT_NE(svg.find("a &lt;b&gt; &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
  EXPECT_NE(svg.find("<path"), std::string::npos);
  EXPECT_EQ(nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
}

TEST(Scan, SyntheticLogWithGroundTruth) {
  const std::string log = temp_dir("log_gt"), out = temp_dir("out_gt");
  test::SyntheticLogSpec spec;
  test::write_synthetic_log(log, spec);
  ScanOptions opt;
  opt.log_dir = log;
  opt.out_dir = out;
  opt.policies = {policy("multi_krum", kMultiKrum)};
  opt.progress = ProgressMode::kNone;
  const ScanSummary s = run_scan(opt);
  ASSERT_EQ(s.rounds.size(), spec.rounds);
  EXPECT_EQ(s.bad_rounds, 0u);
  EXPECT_TRUE(s.has_ground_truth);
  const Confusion c = policy_confusion(s, 0);
  EXPECT_EQ(c.tp + c.fn, 3 * (spec.rounds - spec.attack_from));
  EXPECT_GE(c.tpr(), 0.9);
  EXPECT_LE(c.fpr(), 0.35);  // multi_krum keeps m=12 of 20: some benign are always dropped

  EXPECT_EQ(count_lines(slurp(out + "/rounds.jsonl")), spec.rounds);
  std::istringstream lines(slurp(out + "/rounds.jsonl"));
  std::string first;
  std::getline(lines, first);
  const auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["round"], 0);
  EXPECT_EQ(j["client_ids"].size(), spec.clients);
  EXPECT_TRUE(j.contains("accepted"));
  EXPECT_TRUE(j["layer_scores"].contains("fc1.weight"));

  const std::string csv = slurp(out + "/clients.csv");
  EXPECT_EQ(count_lines(csv), spec.clients + 1);
  EXPECT_EQ(
      csv.rfind(
          "client_id,rounds_seen,times_rejected,first_rejection,malicious_rounds,mean_multi_krum",
          0),
      0u);
  for (const char* id : {"client-03", "client-11", "client-17"}) {
    const auto at = csv.find(std::string("\n") + id + ",");
    ASSERT_NE(at, std::string::npos) << csv;
    std::istringstream row(csv.substr(at + 1, csv.find('\n', at + 1) - at - 1));
    std::vector<std::string> f;
    for (std::string cell; std::getline(row, cell, ',');) f.push_back(cell);
    ASSERT_GE(f.size(), 6u);
    EXPECT_EQ(f[1], "12");                 // rounds seen
    EXPECT_GE(std::stoi(f[2]), 10) << id;  // rejected in every attacking round
    EXPECT_EQ(f[4], "10");                 // malicious rounds
  }

  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("ROC per detector"), std::string::npos);
  EXPECT_NE(html.find("AUC"), std::string::npos);
  EXPECT_NE(html.find("Score timeline: multi_krum"), std::string::npos);
  EXPECT_NE(html.find("client-11"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // The attacked layer tops the layer table.
  const auto table = html.find("<table><tr><th>#</th><th>layer</th>");
  ASSERT_NE(table, std::string::npos);
  EXPECT_LT(html.find("fc1.weight", table), html.find("conv1.weight", table));
  // Every detector's AUC on this easy log.
  std::vector<double> scores;
  std::vector<std::uint8_t> labels;
  for (const auto& r : s.rounds) {
    for (std::size_t i = 0; i < r.n; ++i) {
      scores.push_back(r.policies[0].scores.at("multi_krum")[i]);
      labels.push_back(r.malicious[i]);
    }
  }
  EXPECT_GT(roc_curve(scores, labels, true).auc, 0.95);
}

TEST(Scan, BadRoundIsReportedAndTheScanGoesOn) {
  const std::string log = temp_dir("log_bad"), out = temp_dir("out_bad");
  test::SyntheticLogSpec spec;
  spec.rounds = 5;
  test::write_synthetic_log(log, spec);
  // Truncate round 2 and make round 3 lie about its header length.
  const std::string r2 = log + "/round_000002.safetensors";
  std::filesystem::resize_file(r2, std::filesystem::file_size(r2) - 100);
  {
    std::fstream f(log + "/round_000003.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(6);
    f.put('\x7f');
  }
  ScanOptions opt;
  opt.log_dir = log;
  opt.out_dir = out;
  opt.policies = {policy("multi_krum", kMultiKrum)};
  opt.progress = ProgressMode::kNone;
  const ScanSummary s = run_scan(opt);
  ASSERT_EQ(s.rounds.size(), 5u);
  EXPECT_EQ(s.bad_rounds, 2u);
  EXPECT_FALSE(s.rounds[2].ok);
  EXPECT_NE(s.rounds[2].error.find("round_000002.safetensors: offset"), std::string::npos)
      << s.rounds[2].error;
  EXPECT_NE(s.rounds[3].error.find("round_000003.safetensors: offset 0"), std::string::npos)
      << s.rounds[3].error;
  EXPECT_TRUE(s.rounds[4].ok);
  EXPECT_TRUE(s.rounds[4].policies[0].ok);
  EXPECT_EQ(count_lines(slurp(out + "/rounds.jsonl")), 5u);
  EXPECT_NE(slurp(out + "/report.html").find("round_000002.safetensors: offset"),
            std::string::npos);
}

TEST(Scan, ComparesPolicies) {
  const std::string log = temp_dir("log_cmp"), out = temp_dir("out_cmp");
  test::SyntheticLogSpec spec;
  spec.rounds = 6;
  test::write_synthetic_log(log, spec);
  ScanOptions opt;
  opt.log_dir = log;
  opt.out_dir = out;
  opt.policies = {policy("multi_krum", kMultiKrum), policy("norm_bound", kNormBound)};
  opt.progress = ProgressMode::kNone;
  const ScanSummary s = run_scan(opt);
  const nlohmann::json c = compare_policies(s);
  EXPECT_DOUBLE_EQ(c["agreement"][0][0].get<double>(), 1.0);
  EXPECT_EQ(c["caught"].size(), 3u);
  EXPECT_EQ(c["caught"][0]["by_policy"].size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(out + "/multi_krum/rounds.jsonl"));
  EXPECT_TRUE(std::filesystem::exists(out + "/norm_bound/clients.csv"));
  EXPECT_TRUE(std::filesystem::exists(out + "/comparison.json"));
  EXPECT_NE(slurp(out + "/report.html").find("Which caught whom"), std::string::npos);
}

TEST(Scan, MissingLogIsAnError) {
  ScanOptions opt;
  opt.log_dir = "/nonexistent/fedguard/log";
  opt.policies = {policy("m", kMultiKrum)};
  EXPECT_THROW(run_scan(opt), Error);
}

#ifdef FEDGUARD_CLI_PATH
int run(const std::string& args, std::string* out) {
  const std::string dir = temp_dir("cli_out_" + std::to_string(std::hash<std::string>()(args)));
  const std::string cmd = std::string(FEDGUARD_CLI_PATH) + " " + args + " >" + dir + "/o.txt 2>&1";
  const int status = std::system(cmd.c_str());
  *out = slurp(dir + "/o.txt");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ScanCli, ScansWithProgressLinesAndStrictExitCode) {
  const std::string log = temp_dir("log_cli"), out = temp_dir("out_cli");
  test::SyntheticLogSpec spec;
  spec.rounds = 4;
  test::write_synthetic_log(log, spec);
  const std::string cfg = out + "/mk.json";
  std::ofstream(cfg) << kMultiKrum;
  std::string text;
  ASSERT_EQ(run("scan " + log + " --config " + cfg + " --out " + out, &text), 0) << text;
  EXPECT_NE(text.find("scan: 4/4 rounds"), std::string::npos) << text;  // not a terminal: lines
  EXPECT_NE(text.find("TPR"), std::string::npos) << text;
  EXPECT_TRUE(std::filesystem::exists(out + "/report.html"));
  std::ofstream(log + "/round_000001.safetensors", std::ios::trunc) << "garbage";
  EXPECT_EQ(run("scan " + log + " --config " + cfg + " --out " + out + " --progress none", &text),
            0)
      << text;
  EXPECT_EQ(run("scan " + log + " --config " + cfg + " --out " + out + " --strict", &text), 3)
      << text;
  EXPECT_NE(text.find("round_000001.safetensors: offset"), std::string::npos) << text;
  EXPECT_EQ(run("scan " + log + " --compare " + cfg + " " + cfg + " --out " + out + "/cmp", &text),
            0)
      << text;
  EXPECT_TRUE(std::filesystem::exists(out + "/cmp/mk_2/rounds.jsonl"));
}
#endif

}  // namespace
}  // namespace fedguard::forensics

namespace fedguard::forensics {
namespace {

TEST(Scan, ReportHasMetricTimelinesWithAlertMarkers) {
  const std::string log = temp_dir("log_mon"), out = temp_dir("out_mon");
  test::SyntheticLogSpec spec;
  spec.rounds = 14;
  spec.attack_from = 9;  // quiet for 9 rounds, then three clients scale a layer by 8
  test::write_synthetic_log(log, spec);
  ScanOptions opt;
  opt.log_dir = log;
  opt.out_dir = out;
  PolicySpec p;
  p.name = "mean_monitored";
  p.config =
      EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}, "monitoring": {"detectors": [
      {"metric": "norm_max", "method": "cusum", "direction": "up", "warmup": 6}]}})");
  opt.policies = {p};
  opt.progress = ProgressMode::kNone;
  const ScanSummary s = run_scan(opt);
  std::vector<std::uint64_t> alert_rounds;
  for (const ScannedRound& r : s.rounds)
    for (const Alert& a : r.policies[0].alerts) alert_rounds.push_back(a.round);
  ASSERT_FALSE(alert_rounds.empty());
  EXPECT_EQ(alert_rounds.front(), 9u);
  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("Monitoring: mean_monitored"), std::string::npos);
  EXPECT_NE(html.find("Metric timeline: norm_max"), std::string::npos);
  EXPECT_NE(html.find("<td>norm_max</td><td>cusum</td><td>up</td>"), std::string::npos);
  std::istringstream lines(slurp(out + "/rounds.jsonl"));
  std::string line;
  for (int i = 0; i <= 9; ++i) std::getline(lines, line);
  const auto j = nlohmann::json::parse(line);
  ASSERT_EQ(j["alerts"].size(), 1u);
  EXPECT_EQ(j["alerts"][0]["metric"], "norm_max");
  EXPECT_TRUE(j["metrics"].contains("aggregate_norm"));
}

}  // namespace
}  // namespace fedguard::forensics
