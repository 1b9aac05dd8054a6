// Hostile input (issue 17): configs, rule parameters and state files that once crashed, hung
// or were silently accepted. Each test failed before its fix.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "support/engine_runner.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

std::string error_of(const std::function<void()>& f,
                     ErrorCategory want = ErrorCategory::kInvalidInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), want) << e.what();
    return e.what();
  }
  return "<no error>";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(HardeningConfig, DeepNestingIsAConfigErrorNotACrash) {
  const std::string deep =
      R"({"aggregator": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const std::string m = error_of([&] { EngineConfig::from_json(deep); });
  EXPECT_TRUE(has(m, "config is not valid JSON: offset 78: nested deeper than 64 levels")) << m;
}

TEST(HardeningConfig, DuplicateKeysAreRefusedNamingKeyAndOffset) {
  const std::string text = R"({"aggregator": {"rule": "mean"}, "aggregator": {"rule": "median"}})";
  const std::string m = error_of([&] { EngineConfig::from_json(text); });
  EXPECT_TRUE(has(m, "offset 33: duplicate key \"aggregator\"")) << m;
  const std::string filters = R"({"filters": [], "filters": [{"rule": "norm_bound"}]})";
  EXPECT_TRUE(
      has(error_of([&] { EngineConfig::from_json(filters); }), "duplicate key \"filters\""));
  const std::string inner = R"({"aggregator": {"rule": "krum", "f": 1, "f": 2}})";
  EXPECT_TRUE(has(error_of([&] { EngineConfig::from_json(inner); }), "duplicate key \"f\""));
}

TEST(HardeningConfig, NulBytesAreRefused) {
  const std::string raw = std::string(R"({"aggregator": {"rule": "mean"}})") + '\0';
  EXPECT_TRUE(has(error_of([&] { EngineConfig::from_json(raw); }), "offset 32: NUL byte"));
  const std::string escaped = R"({"aggregator": {"rule": "mean\u0000"}})";
  EXPECT_TRUE(has(error_of([&] { EngineConfig::from_json(escaped); }), "NUL character"));
}

// Integers beyond a parameter's range: errors naming the parameter, the value and the range,
// where they used to wrap (krum f = 2^63 ran as f = -2^63 cast back) or loop for hours.
TEST(HardeningParams, HugeIntegersAreOutOfRangeErrors) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {R"({"aggregator": {"rule": "bulyan", "f": 4611686018427387904}})",
       "'f' = 4611686018427387904", "1048576"},
      {R"({"aggregator": {"rule": "centered_clipping", "iterations": 18446744073709551615}})",
       "'iterations' = 18446744073709551615", "[0, 10000]"},
      {R"({"aggregator": {"rule": "krum", "f": 9223372036854775808}})", "'f' = 9223372036854775808",
       "[0, 1048576]"},
      {R"({"aggregator": {"rule": "krum", "f": 18446744073709551615}})",
       "'f' = 18446744073709551615", "[0, 1048576]"},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 9223372036854775808}})",
       "'trim' = 9223372036854775808", "[0, 1048576]"},
      {R"({"filters": [{"rule": "flame", "min_cluster_size": 18446744073709551615}]})",
       "'min_cluster_size' = 18446744073709551615", "[0, 1048576]"},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 1e300}})", "'trim' = 1e+300",
       "[0, 1048576]"},
      {R"({"aggregator": {"rule": "krum", "f": -1}})", "'f' = -1", "[0, 1048576]"},
      {R"({"aggregator": {"rule": "geometric_median", "max_iter": 10001}})", "'max_iter' = 10001",
       "[0, 10000]"},
      {R"({"filters": [{"rule": "fldetector", "window": 33}]})", "'window' = 33", "[0, 32]"},
      {R"({"aggregator": {"rule": "trimmed_mean", "trim": 2.5}})", "'trim' = 2.5", "integer"},
  };
  for (const auto& [text, what, range] : cases) {
    const std::string& config = text;  // a structured binding cannot be captured in C++17
    const std::string m = error_of([&] { EngineConfig::from_json(config); });
    EXPECT_TRUE(has(m, what) && has(m, range) && has(m, "out of range")) << config << "\n" << m;
  }
  // The bounds themselves are valid configurations; the round checks f against n.
  EXPECT_NO_THROW(EngineConfig::from_json(R"({"aggregator": {"rule": "krum", "f": 1048576}})"));
  EXPECT_NO_THROW(
      EngineConfig::from_json(R"({"aggregator": {"rule": "trimmed_mean", "trim": 3.0}})"));
  EXPECT_NO_THROW(
      EngineConfig::from_json(R"({"filters": [{"rule": "flame", "seed": 18446744073709551615}]})"));
}

// ---------------------------------------------------------------------------------------------
// State files.

class HardeningState : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(test_seed());
    for (std::size_t d : {d_, d_ + 1})
      rounds_.push_back(to_floats(random_round(RoundShape{n_, d}, rng)));
    // One file per test: ctest runs the tests of this suite in parallel processes.
    path_ = testing::TempDir() + "hardening_state_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".fgs";
  }
  RoundResult run(Engine& e, std::size_t d) {
    RoundInput in;
    in.updates = UpdateView(rounds_[d - d_].data(), n_, d, DType::kFloat32);
    return e.process_round(in);
  }
  static std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  static void write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  // A version-4 state file (header only) of one client "a" with `field` set to `json`: the
  // client fields a stranger may have written.
  static std::string file_with_client_field(const std::string& field, const std::string& json) {
    const std::string header =
        R"({"version":4,"sketch":"count","sketch_dim":4,"sketch_seed":7,"model_dim":0,"rounds":3,"previous_aggregate":0,"aggregate_sketches":0,"clients":[{"id":"a","rounds_seen":2,"last_round":2,"sketch":false,"last_sketch":false,"reputation":null,"suspicion":[],")" +
        field + "\":" + json + "}]}";
    std::string bytes = "FGSTATE1";
    const std::uint64_t len = header.size();
    bytes.append(reinterpret_cast<const char*>(&len), 8);
    return bytes + header;
  }
  const std::size_t n_ = 12, d_ = 50;
  std::vector<std::vector<float>> rounds_;
  std::string path_;
};

// FoolsGold and FLDetector histories built at d must not be used (or rewritten) at d + 1.
TEST_F(HardeningState, HistoriesOfAnotherModelSizeAreRefused) {
  for (const char* policy :
       {R"({"aggregator": {"rule": "foolsgold"}})",
        R"({"filters": [{"rule": "fldetector", "window": 2, "min_pairs": 1}]})"}) {
    Engine e = make_engine(policy);
    run(e, d_);
    run(e, d_);
    e.save_state(path_);
    const std::string before = read(path_);
    const std::size_t rounds = e.rounds_processed();
    const std::string m = error_of([&] { run(e, d_ + 1); });
    EXPECT_TRUE(has(m, "model size d=50 but this round has d=51")) << policy << ": " << m;
    EXPECT_EQ(e.rounds_processed(), rounds);
    Engine loaded = make_engine(policy);
    loaded.load_state(path_);
    EXPECT_TRUE(has(error_of([&] { run(loaded, d_ + 1); }), "d=50 but this round has d=51"));
    loaded.save_state(path_);
    EXPECT_EQ(read(path_), before) << "a refused round changed the state";
    loaded.reset_state();
    EXPECT_NO_THROW(run(loaded, d_ + 1));
  }
}

// A NaN in a stored sketch is a file error naming the file and the value's offset.
TEST_F(HardeningState, NonFiniteValuesAreAFileError) {
  Engine e = make_engine(R"({"aggregator": {"rule": "foolsgold"}})");
  run(e, d_);
  e.save_state(path_);
  std::string bytes = read(path_);
  // The last 8 bytes are the last client's last sketch value.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(&bytes[bytes.size() - 8], &nan, 8);
  write(path_, bytes);
  Engine fresh = make_engine(R"({"aggregator": {"rule": "foolsgold"}})");
  const std::string m = error_of([&] { fresh.load_state(path_); }, ErrorCategory::kIo);
  EXPECT_TRUE(has(
      m, path_ + ": offset " + std::to_string(bytes.size() - 8) + ": a client sketch holds nan"))
      << m;
  EXPECT_EQ(fresh.rounds_processed(), 0u);
}

TEST_F(HardeningState, NonRegularFilesAreErrorsNotHangs) {
  Engine e = make_engine(R"({"aggregator": {"rule": "mean"}})");
  EXPECT_TRUE(has(error_of([&] { e.load_state("/dev/zero"); }, ErrorCategory::kIo),
                  "/dev/zero: not a regular file (a character device)"));
  EXPECT_TRUE(has(error_of([&] { e.load_state(testing::TempDir()); }, ErrorCategory::kIo),
                  "(a directory)"));
  const std::string fifo = testing::TempDir() + "hardening_state_fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(has(error_of([&] { e.load_state(fifo); }, ErrorCategory::kIo),
                  "not a regular file (a FIFO)"));
  std::remove(fifo.c_str());
}

// Hostile probe (scripts/hostile_probe.py): a header's "rounds" of 2^64 - 1 loaded (and wrapped
// at the next round), a client's FLDetector window of 10^6 values loaded, and save_state renamed
// its file over whatever was at the path (a FIFO; as root, /dev/full).
TEST_F(HardeningState, HeaderCountsBeyondWhatTheEngineWritesAreRefused) {
  Engine e = make_engine(
      R"({"filters": [{"rule": "fldetector", "window": 2}], "aggregator": {"rule": "mean"}})");
  run(e, d_);
  e.save_state(path_);
  const std::string bytes = read(path_);
  std::uint64_t len = 0;
  std::memcpy(&len, bytes.data() + 8, 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(16, len));
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json h = header;
    edit(h);
    const std::string text = h.dump();
    const std::uint64_t n = text.size();
    std::string out = bytes.substr(0, 8) + std::string(reinterpret_cast<const char*>(&n), 8) +
                      text + bytes.substr(16 + len);
    write(path_, out);
    Engine fresh = make_engine(
        R"({"filters": [{"rule": "fldetector", "window": 2}], "aggregator": {"rule": "mean"}})");
    return error_of([&] { fresh.load_state(path_); }, ErrorCategory::kIo);
  };
  EXPECT_TRUE(
      has(with([](nlohmann::json& h) { h["rounds"] = std::numeric_limits<std::uint64_t>::max(); }),
          "field 'rounds' = 18446744073709551615 is beyond 2^53"));
  ASSERT_FALSE(header["clients"].empty());
  EXPECT_TRUE(has(
      with([](nlohmann::json& h) { h["clients"][0]["suspicion"] = std::vector<double>(33, 0.5); }),
      "client 'suspicion' holds 33 values, more than FLDetector's window of at most 32"));
}

TEST_F(HardeningState, SaveNeverReplacesAFifo) {
  Engine e = make_engine(R"({"aggregator": {"rule": "mean"}})");
  run(e, d_);
  const std::string fifo = testing::TempDir() + "hardening_save_fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(has(error_of([&] { e.save_state(fifo); }, ErrorCategory::kIo),
                  "not a regular file (a FIFO)"));
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  std::remove(fifo.c_str());
}

// sketch_seed is documented as any 64-bit value; read as int64, 2^63 and up were refused as
// "must be a non-negative integer" (hostile probe).
TEST(HardeningConfig, SketchSeedTakesEvery64BitValue) {
  EXPECT_EQ(EngineConfig::from_json(R"({"sketch_seed": 18446744073709551615})").sketch_seed,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(EngineConfig::from_json(R"({"sketch_seed": -1})"), Error);
  EXPECT_THROW(EngineConfig::from_json(R"({"sketch_seed": 18446744073709551616})"), Error);
}

// The magic is checked on the first 16 bytes; a large file of something else is not read.
TEST_F(HardeningState, MagicIsCheckedFirst) {
  write(path_, std::string(1 << 20, 'x'));
  Engine e = make_engine(R"({"aggregator": {"rule": "mean"}})");
  EXPECT_TRUE(has(error_of([&] { e.load_state(path_); }, ErrorCategory::kIo),
                  "offset 0: not a fedguard state file"));
}

// Version 2 files (before model_dim) are still read; their previous aggregate gives the size.
TEST_F(HardeningState, Version2FilesAreRead) {
  const std::string header =
      R"({"version":2,"sketch_dim":256,"sketch_seed":24301,"rounds":4,"previous_aggregate":2,"aggregate_sketches":0,"clients":[]})";
  std::string bytes = "FGSTATE1";
  const std::uint64_t len = header.size();
  bytes.append(reinterpret_cast<const char*>(&len), 8);
  bytes += header;
  const float agg[2] = {1.5f, -2.0f};
  bytes.append(reinterpret_cast<const char*>(agg), 8);
  write(path_, bytes);
  Engine e = make_engine(R"({"aggregator": {"rule": "centered_clipping"}})");
  e.load_state(path_);
  EXPECT_EQ(e.rounds_processed(), 4u);
  EXPECT_TRUE(has(error_of([&] { run(e, d_); }), "d=2 but this round has d=50"));
}

// Issue 19 replaced the dense +-1/sqrt(q) sketch by a count sketch: histories written before
// (state format 1-3, no "sketch" key) live in another space. A file that holds any sketch is
// refused naming the file and the change; one without sketches still loads; new files name
// their sketch.
std::string with_header(const std::string& bytes, const std::function<void(nlohmann::json&)>& mod) {
  std::uint64_t len;
  std::memcpy(&len, bytes.data() + 8, 8);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(16, len));
  mod(h);
  const std::string text = h.dump();
  const std::uint64_t new_len = text.size();
  std::string out = bytes.substr(0, 8);
  out.append(reinterpret_cast<const char*>(&new_len), 8);
  return out + text + bytes.substr(16 + len);
}

TEST_F(HardeningState, DenseSketchHistoriesAreRefusedNamingTheFile) {
  for (const char* policy :
       {R"({"aggregator": {"rule": "foolsgold"}})",
        R"({"filters": [{"rule": "fldetector", "window": 2}], "aggregator": {"rule": "mean"}})",
        R"({"preset": "recommended"})"}) {
    Engine e = make_engine(policy);
    run(e, d_);
    run(e, d_);
    e.save_state(path_);
    const std::string bytes = read(path_);
    std::uint64_t len;
    std::memcpy(&len, bytes.data() + 8, 8);
    const nlohmann::json header = nlohmann::json::parse(bytes.substr(16, len));
    EXPECT_EQ(header.at("sketch"), "count");
    EXPECT_EQ(header.at("version"), 4);
    for (std::uint64_t version : {2, 3}) {
      write(path_, with_header(bytes, [&](nlohmann::json& h) {
              h.erase("sketch");
              h["version"] = version;
            }));
      Engine fresh = make_engine(policy);
      const std::string m = error_of([&] { fresh.load_state(path_); });
      EXPECT_TRUE(has(m, path_ +
                             ": holds sketched histories of the dense random sketch (state "
                             "format version " +
                             std::to_string(version) +
                             "); the sketch changed to a count sketch and they cannot be compared "
                             "with new ones: start a new state file"))
          << policy << ": " << m;
      EXPECT_EQ(fresh.rounds_processed(), 0u);
    }
    // Version 4 without its "sketch", or naming another one.
    write(path_, with_header(bytes, [](nlohmann::json& h) { h.erase("sketch"); }));
    EXPECT_TRUE(has(error_of([&] { make_engine(policy).load_state(path_); }, ErrorCategory::kIo),
                    "offset 16: field 'sketch' missing or not a string"));
    write(path_, with_header(bytes, [](nlohmann::json& h) { h["sketch"] = "dense"; }));
    EXPECT_TRUE(has(error_of([&] { make_engine(policy).load_state(path_); }),
                    "holds histories of the sketch 'dense'; this engine uses the 'count' sketch "
                    "(start a new state file)"));
  }
}

// Only aggregate sketches, only a last sketch, or a version 1 client (always a cumulative
// sketch): each is a sketch. Without any, an old file loads.
TEST_F(HardeningState, OldFilesWithoutSketchesStillLoad) {
  auto file = [](const std::string& header, std::size_t doubles) {
    std::string bytes = "FGSTATE1";
    const std::uint64_t len = header.size();
    bytes.append(reinterpret_cast<const char*>(&len), 8);
    return bytes + header + std::string(doubles * 4 * sizeof(double), '\0');
  };
  const std::string no_sketch =
      R"({"version":3,"sketch_dim":4,"sketch_seed":7,"model_dim":0,"rounds":3,"previous_aggregate":0,"aggregate_sketches":0,"clients":[{"id":"a","rounds_seen":2,"last_round":2,"sketch":false,"last_sketch":false,"reputation":0.5,"suspicion":[]}]})";
  const std::string aggregate_only =
      R"({"version":3,"sketch_dim":4,"sketch_seed":7,"model_dim":0,"rounds":3,"previous_aggregate":0,"aggregate_sketches":1,"clients":[]})";
  const std::string last_only =
      R"({"version":3,"sketch_dim":4,"sketch_seed":7,"model_dim":0,"rounds":3,"previous_aggregate":0,"aggregate_sketches":0,"clients":[{"id":"a","rounds_seen":2,"last_round":2,"sketch":false,"last_sketch":true,"reputation":null,"suspicion":[]}]})";
  const std::string v1 =
      R"({"version":1,"sketch_dim":4,"sketch_seed":7,"rounds":1,"previous_aggregate":0,"clients":[{"id":"d","rounds_seen":1,"last_round":0}]})";
  const std::string config =
      R"({"sketch_dim": 4, "sketch_seed": 7, "aggregator": {"rule": "mean"}})";
  write(path_, file(no_sketch, 0));
  Engine e = make_engine(config);
  e.load_state(path_);
  EXPECT_EQ(e.rounds_processed(), 3u);
  for (const std::string* h : {&aggregate_only, &last_only, &v1}) {
    write(path_, file(*h, 1));
    Engine fresh = make_engine(config);
    EXPECT_TRUE(has(error_of([&] { fresh.load_state(path_); }), "the sketch changed")) << *h;
  }
}

// A client's own baselines (docs/formats.md): a file is text a stranger may have written; any
// entry the engine could not have written is refused naming the file and the offset, and the
// engine keeps what it had.
TEST_F(HardeningState, HostileBaselinesAreRefusedNamingTheFile) {
  auto file = [](const std::string& baseline) {
    return file_with_client_field("baseline", baseline);
  };
  const std::string config =
      R"({"sketch_dim": 4, "sketch_seed": 7, "aggregator": {"rule": "mean"}})";
  write(path_, file(R"({"norm": [0.5, 0.19, 2], "accepted": [0.19, 0.19, 2]})"));
  Engine e = make_engine(config);
  e.load_state(path_);
  EXPECT_EQ(e.rounds_processed(), 3u);
  for (const char* bad :
       {"3", R"({"nor": [0.5, 0.19, 2]})", R"({"norm": [0.5, 0.19]})", R"({"norm": [0.5, 0, 2]})",
        R"({"norm": [0.5, 1.5, 2]})", R"({"norm": [0.5, 0.19, 0]})", R"({"norm": [0.5, 0.19, -1]})",
        R"({"sign": [1e300, 1e-300, 2]})", R"({"accepted": ["x", 0.19, 2]})"}) {
    write(path_, file(bad));
    Engine fresh = make_engine(config);
    const std::string m = error_of([&] { fresh.load_state(path_); }, ErrorCategory::kIo);
    EXPECT_TRUE(has(m, "offset 16:")) << bad << ": " << m;
    EXPECT_TRUE(has(m, "baseline")) << bad << ": " << m;
    EXPECT_EQ(fresh.rounds_processed(), 0u);
  }
}

// The response signal's sums (docs/detection.md, `history_response`): [sum, rounds], each
// round's z within +-50; anything else is refused naming the file and the offset.
TEST_F(HardeningState, HostileResponseSumsAreRefusedNamingTheFile) {
  auto file = [](const std::string& response) {
    return file_with_client_field("response", response);
  };
  const std::string config =
      R"({"sketch_dim": 4, "sketch_seed": 7, "aggregator": {"rule": "mean"}})";
  write(path_, file("[1.5, 3]"));
  Engine e = make_engine(config);
  e.load_state(path_);
  EXPECT_EQ(e.rounds_processed(), 3u);
  for (const char* bad : {"3", "[1.5]", "[1.5, 0]", "[1.5, -2]", "[1.5, 2.5]", R"(["x", 3])",
                          "[1e300, 3]", "[151, 3]", "[-151, 3]", "[1.5, 3, 4]"}) {
    write(path_, file(bad));
    Engine fresh = make_engine(config);
    const std::string m = error_of([&] { fresh.load_state(path_); }, ErrorCategory::kIo);
    EXPECT_TRUE(has(m, "offset 16:")) << bad << ": " << m;
    EXPECT_TRUE(has(m, "'response'")) << bad << ": " << m;
    EXPECT_EQ(fresh.rounds_processed(), 0u);
  }
}

}  // namespace
}  // namespace fedguard::test
