// One cross-backend harness, in the style of ggml's test-backend-ops: a table of every rule of
// fedguard::rule_names(), each in the slot it serves, with its parameters, its rounds and its
// tolerance. Every entry runs through the engine on the CPU backend and on the CUDA backend on
// the same inputs, and the two must agree: the same clients accepted, every score within the
// entry's tolerance, the aggregate within it entry by entry.
//
//   BackendOpsTable.*   (ctest label cpu) the table names every rule and only rules, and every
//                       entry runs on the CPU (so a rule added to the registry but not here, or
//                       an entry whose policy no longer parses, fails everywhere, GPU or not);
//   CudaVsCpuOps.*      (label gpu) CUDA against CPU per entry, named by the entry
//                       (CudaVsCpuOps/Rule.MatchesCpu/foolsgold); skipped without a device,
//                       failed instead under FEDGUARD_REQUIRE_GPU=1.
//
// Throughput mode: `fedguard_backend_ops_tests --perf [--n 1000] [--d 1000000] [--reps 3]` times
// one round of every entry on each available backend and prints milliseconds, GB/s (bytes of
// updates read once) and, for entries that need the Gram, TFLOP/s of its n^2 d multiply-adds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "fedguard/engine.h"
#include "support/gpu.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

struct OpCase {
  std::string name;    ///< test name: the rule, or rule_variant
  std::string rule;    ///< the rule of rule_names() it exercises
  std::string policy;  ///< engine config JSON (backend added per run)
  std::size_t rounds;  ///< history rules need several
  bool reference;      ///< the round carries a server reference (fltrust)
  double tol;          ///< aggregate: |gpu - cpu| <= tol * max(|cpu_j|, input magnitude)
  bool gram;           ///< the policy reads the Gram (for the TFLOP/s of the throughput mode)
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name << ": " << c.policy; }

// f = 4 of n = 40 clients (8 of them attackers in random_round's outlying rows).
const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = {
      {"mean", "mean", R"({"aggregator": {"rule": "mean"}})", 1, false, 1e-6, false},
      {"median", "median", R"({"aggregator": {"rule": "median"}})", 1, false, 0, false},
      {"trimmed_mean", "trimmed_mean", R"({"aggregator": {"rule": "trimmed_mean", "trim": 4}})", 1,
       false, 1e-6, false},
      {"krum", "krum", R"({"aggregator": {"rule": "krum", "f": 4}})", 1, false, 1e-6, true},
      {"multi_krum", "multi_krum", R"({"aggregator": {"rule": "multi_krum", "f": 4}})", 1, false,
       1e-6, true},
      {"bulyan", "bulyan", R"({"aggregator": {"rule": "bulyan", "f": 4}})", 1, false, 1e-6, true},
      {"geometric_median", "geometric_median", R"({"aggregator": {"rule": "geometric_median"}})", 1,
       false, 1e-4, true},
      {"centered_clipping", "centered_clipping",
       R"({"aggregator": {"rule": "centered_clipping", "tau": 0.05}})", 2, false, 1e-4, true},
      {"norm_clip", "norm_clip",
       R"({"transforms": [{"rule": "norm_clip", "max_norm": 0.01}], "aggregator": {"rule": "mean"}})",
       1, false, 1e-5, true},
      {"arc", "arc", R"({"transforms": [{"rule": "arc", "f": 4}], "aggregator": {"rule": "mean"}})",
       1, false, 1e-5, true},
      {"nnm", "nnm",
       R"({"transforms": [{"rule": "nnm", "f": 4}], "aggregator": {"rule": "trimmed_mean", "trim": 4}})",
       1, false, 1e-5, true},
      {"norm_bound", "norm_bound",
       R"({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "aggregator": {"rule": "mean"}})",
       1, false, 1e-6, false},
      {"fltrust", "fltrust", R"({"aggregator": {"rule": "fltrust"}})", 1, true, 1e-5, true},
      {"dnc", "dnc", R"({"filters": [{"rule": "dnc", "f": 4}], "aggregator": {"rule": "mean"}})", 1,
       false, 1e-6, true},
      {"dnc_subset", "dnc",
       R"({"filters": [{"rule": "dnc", "f": 4, "subset_size": 500, "seed": 3}], "aggregator": {"rule": "mean"}})",
       1, false, 1e-6, true},
      {"pca_outlier", "pca_outlier",
       R"({"filters": [{"rule": "pca_outlier"}], "aggregator": {"rule": "mean"}})", 1, false, 1e-6,
       true},
      {"flame", "flame", R"({"aggregator": {"rule": "flame", "seed": 5}})", 1, false, 1e-5, true},
      {"signguard", "signguard",
       R"({"filters": [{"rule": "signguard"}], "aggregator": {"rule": "mean"}})", 1, false, 1e-6,
       false},
      {"foolsgold", "foolsgold",
       R"({"sketch_dim": 64, "sketch_seed": 11, "aggregator": {"rule": "foolsgold"}})", 3, false,
       1e-5, false},
      {"fldetector", "fldetector",
       R"({"sketch_dim": 32, "sketch_seed": 21, "filters": [{"rule": "fldetector", "window": 3, "min_pairs": 3}], "aggregator": {"rule": "mean"}})",
       5, false, 1e-5, false},
      {"reputation", "reputation",
       R"({"filters": [{"rule": "norm_bound", "max_ratio": 3.0}, {"rule": "reputation", "min": 0.5}], "aggregator": {"rule": "mean"}})",
       3, false, 1e-6, false},
  };
  return table;
}

constexpr std::size_t kN = 40, kD = 6000;

Engine make(const OpCase& c, const char* backend) {
  nlohmann::json j = nlohmann::json::parse(c.policy);
  j["backend"] = backend;
  j["tile_columns"] = 2048;
  return Engine(EngineConfig::from_json(j.dump()));
}

struct Round {
  std::vector<float> x, ref;
};

std::vector<Round> rounds_for(const OpCase& c, std::size_t n, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Round> out;
  for (std::size_t t = 0; t < c.rounds; ++t) {
    Round r;
    r.x = to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng));
    if (c.reference) {
      r.ref.resize(d);
      for (std::size_t j = 0; j < d; ++j)
        r.ref[j] = r.x[j] * 0.9f + r.x[d + j] * 0.1f;  // near the benign rows
    }
    out.push_back(std::move(r));
  }
  return out;
}

RoundResult run(Engine& e, const Round& r, std::size_t n, std::size_t d) {
  RoundInput in;
  in.updates = UpdateView(r.x.data(), n, d, DType::kFloat32);
  if (!r.ref.empty()) in.reference = r.ref.data();
  return e.process_round(in);
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// ---- the table itself (label cpu) ---------------------------------------------------------

TEST(BackendOpsTable, NamesEveryRuleAndOnlyRules) {
  const std::vector<std::string> names = rule_names();
  std::set<std::string> covered, test_names;
  for (const OpCase& c : op_table()) {
    covered.insert(c.rule);
    EXPECT_TRUE(test_names.insert(c.name).second) << "duplicate entry name " << c.name;
    EXPECT_NE(std::find(names.begin(), names.end(), c.rule), names.end())
        << c.name << ": " << c.rule << " is no rule";
    EXPECT_TRUE(std::all_of(c.name.begin(), c.name.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    })) << c.name;
  }
  for (const std::string& r : names)
    EXPECT_TRUE(covered.count(r))
        << "rule '" << r << "' is in rule_names() but not in the cross-backend table "
        << "(tests/backend/backend_ops_test.cc): add an entry with its parameters and tolerance";
}

TEST(BackendOpsTable, EveryEntryRunsOnTheCpu) {
  for (const OpCase& c : op_table()) {
    SCOPED_TRACE(c.name);
    Engine cpu = make(c, "cpu");
    for (const Round& r : rounds_for(c, kN, kD, 1234)) {
      const RoundResult res = run(cpu, r, kN, kD);
      ASSERT_EQ(res.aggregate.size(), kD);
      for (float v : res.aggregate) ASSERT_TRUE(std::isfinite(v));
      EXPECT_GT(std::count(res.accepted.begin(), res.accepted.end(), 1), 0);
    }
  }
}

// ---- CUDA against CPU, one test per entry (label gpu) ------------------------------------

class CudaVsCpuOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaVsCpuOps, MatchesCpu) {
  FEDGUARD_REQUIRE_GPU();
  const OpCase& c = GetParam();
  Engine cpu = make(c, "cpu");
  Engine gpu = make(c, "cuda");
  ASSERT_EQ(gpu.backend_name(), "cuda");
  const std::uint64_t seed = test_seed();
  std::size_t t = 0;
  for (const Round& r : rounds_for(c, kN, kD, seed)) {
    SCOPED_TRACE("round " + std::to_string(t++));
    const RoundResult rc = run(cpu, r, kN, kD);
    const RoundResult rg = run(gpu, r, kN, kD);
    ASSERT_EQ(rg.accepted, rc.accepted);
    ASSERT_EQ(rg.aggregate.size(), rc.aggregate.size());
    const double floor = std::max(max_abs(r.x), 1e-30);
    for (std::size_t j = 0; j < rc.aggregate.size(); ++j) {
      const double s = std::max(static_cast<double>(std::fabs(rc.aggregate[j])), floor);
      ASSERT_NEAR(rg.aggregate[j], rc.aggregate[j], c.tol * s + (c.tol == 0 ? 0.0 : 1e-30))
          << "aggregate [" << j << "]";
    }
    for (const auto& [rule, scores] : rc.scores) {
      const auto it = rg.scores.find(rule);
      ASSERT_NE(it, rg.scores.end()) << "score " << rule;
      ASSERT_EQ(it->second.size(), scores.size());
      for (std::size_t i = 0; i < scores.size(); ++i) {
        if (std::isnan(scores[i])) {
          EXPECT_TRUE(std::isnan(it->second[i])) << rule << " [" << i << "]";
          continue;
        }
        EXPECT_NEAR(it->second[i], scores[i], 1e-4 * std::max(1.0, std::fabs(scores[i])))
            << rule << " [" << i << "]";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rule, CudaVsCpuOps, ::testing::ValuesIn(op_table()),
                         [](const ::testing::TestParamInfo<OpCase>& p) { return p.param.name; });

// ---- throughput mode -----------------------------------------------------------------------

int perf(int argc, char** argv) {
  std::size_t n = 1000, d = 1000000;
  int reps = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--n"))
      n = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--d"))
      d = static_cast<std::size_t>(std::stod(argv[++i]));
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::stoi(argv[++i]);
  }
  std::vector<const char*> backends{"cpu"};
  if (backend::cuda_device_count() > 0) backends.push_back("cuda");
  std::printf(
      "backend ops throughput: n = %zu, d = %zu, float32 host input (%.2f GB), median of %d "
      "rounds\n",
      n, d, static_cast<double>(n * d * 4) / 1e9, reps);
  std::printf("%-20s %-6s %12s %10s %10s\n", "entry", "backend", "ms/round", "GB/s", "TFLOP/s");
  for (const OpCase& c : op_table()) {
    const std::vector<Round> rounds = rounds_for(c, n, d, 99);
    for (const char* b : backends) {
      try {
        Engine e = make(c, b);
        std::vector<double> ms;
        for (int r = 0; r < reps; ++r) {
          const Round& in = rounds[static_cast<std::size_t>(r) % rounds.size()];
          const auto t0 = std::chrono::steady_clock::now();
          run(e, in, n, d);
          ms.push_back(
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count());
        }
        std::sort(ms.begin(), ms.end());
        const double t = ms[ms.size() / 2] / 1e3;
        const double gbs = static_cast<double>(n * d * sizeof(float)) / t / 1e9;
        const double tflops = c.gram ? 2.0 * static_cast<double>(n) * static_cast<double>(n) *
                                           static_cast<double>(d) / t / 1e12
                                     : 0.0;
        std::printf("%-20s %-6s %12.3f %10.3f %10.4f\n", c.name.c_str(), b, ms[ms.size() / 2], gbs,
                    tflops);
      } catch (const std::exception& ex) {
        std::printf("%-20s %-6s failed: %s\n", c.name.c_str(), b, ex.what());
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace fedguard::test

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--perf")) return fedguard::test::perf(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
