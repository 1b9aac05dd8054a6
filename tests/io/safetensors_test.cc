// safetensors reader/writer, update-log rounds and manifests: round trips and malformed files
// (every error names the file and an offset; nothing reads out of bounds).
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fedguard/dtype.h"
#include "fedguard/error.h"
#include "io/manifest.h"
#include "io/npy.h"
#include "io/update_log.h"

namespace fedguard::io {
namespace {

std::string temp_dir() {
  static const std::string dir = [] {
    std::string d =
        ::testing::TempDir() + "/fedguard_safetensors_test_" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void dump(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors image from header text and a data buffer.
std::string image(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const std::uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                      "f.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    return e.what();
  }
  return "";
}

LoggedRound small_round(std::vector<float>& x, std::vector<float>& ref) {
  x.resize(4 * 6);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * static_cast<float>(i) - 3.0f;
  ref.assign(6, 0.25f);
  LoggedRound r;
  r.round = 42;
  r.client_ids = {"a", "b", "c", "d"};
  r.num_samples = {10, 20, 30, 40};
  r.malicious = {"c"};
  r.updates = x.data();
  r.n = 4;
  r.d = 6;
  r.reference = ref.data();
  r.layers = {{"w", 4}, {"b", 2}};
  r.extra = {{"attack", "scaling"}, {"lr", 0.1}};
  return r;
}

TEST(Safetensors, RoundTripsALoggedRound) {
  std::vector<float> x, ref;
  const LoggedRound r = small_round(x, ref);
  const std::string path = temp_dir() + "/rt.safetensors";
  write_round_safetensors(path, r);
  const SafetensorsFile f(path);
  EXPECT_EQ(f.header().data_start % 8, 0u);
  ASSERT_NE(f.header().find("updates"), nullptr);
  const RoundData d = read_round_file(path);
  EXPECT_EQ(d.round, 42u);
  EXPECT_EQ(d.client_ids, r.client_ids);
  EXPECT_EQ(d.num_samples, r.num_samples);
  EXPECT_TRUE(d.has_ground_truth);
  EXPECT_EQ(d.malicious, std::vector<std::string>{"c"});
  ASSERT_EQ(d.updates.rows(), 4u);
  ASSERT_EQ(d.updates.cols(), 6u);
  EXPECT_TRUE(d.updates.is_block());
  EXPECT_EQ(std::memcmp(d.updates.row(0), x.data(), x.size() * 4), 0);
  EXPECT_EQ(d.reference, ref);
  ASSERT_EQ(d.layers.size(), 2u);
  EXPECT_EQ(d.layers[1].name, "b");
  EXPECT_EQ(d.layers[1].begin, 4u);
  EXPECT_EQ(d.metadata["attack"], "scaling");
  EXPECT_EQ(d.metadata["lr"], "0.1");
}

TEST(Safetensors, EmptyGroundTruthIsKeptWhenKnown) {
  std::vector<float> x, ref;
  LoggedRound r = small_round(x, ref);
  r.malicious.clear();
  const std::string path = temp_dir() + "/clean.safetensors";
  write_round_safetensors(path, r);
  EXPECT_FALSE(read_round_file(path).has_ground_truth);
  r.ground_truth_known = true;
  write_round_safetensors(path, r);
  EXPECT_TRUE(read_round_file(path).has_ground_truth);
}

TEST(Safetensors, WriterRejectsInconsistentRounds) {
  std::vector<float> x, ref;
  LoggedRound r = small_round(x, ref);
  r.client_ids.pop_back();
  EXPECT_THROW(write_round_safetensors(temp_dir() + "/bad.safetensors", r), Error);
  r = small_round(x, ref);
  r.layers = {{"w", 5}};
  EXPECT_THROW(write_round_safetensors(temp_dir() + "/bad.safetensors", r), Error);
  r = small_round(x, ref);
  r.extra = {{"round", "7"}};
  EXPECT_THROW(write_round_safetensors(temp_dir() + "/bad.safetensors", r), Error);
}

TEST(Safetensors, PerClientTensorsAreZeroCopyAndOrderedByMetadata) {
  std::vector<std::uint16_t> a(5), b(5);
  for (int i = 0; i < 5; ++i)
    a[i] = float_to_half(static_cast<float>(i)), b[i] = float_to_half(-static_cast<float>(i));
  const std::string path = temp_dir() + "/per_client.safetensors";
  write_safetensors(
      path,
      {{"client/x", SafeDType::kF16, {5}, a.data()}, {"client/y", SafeDType::kF16, {5}, b.data()}},
      {{"client_ids", "[\"y\", \"x\"]"}, {"round", "3"}});
  const RoundData d = read_round_file(path);
  EXPECT_EQ(d.client_ids, (std::vector<std::string>{"y", "x"}));
  EXPECT_EQ(d.updates.dtype(), DType::kFloat16);
  EXPECT_FALSE(d.updates.is_block());
  std::uint16_t v;
  std::memcpy(&v, static_cast<const char*>(d.updates.row(0)) + 4, 2);
  EXPECT_EQ(half_to_float(v), -2.0f);
}

TEST(Safetensors, PerLayerTensorsAreFlattenedInNameOrder) {
  // Names sort as a/0.b < a/1.w; client "b" lacks a layer and is passed on with a wrong length.
  const std::vector<float> bias = {1, 2}, weight = {3, 4, 5};
  const std::string path = temp_dir() + "/per_layer.safetensors";
  write_safetensors(path,
                    {{"client/a/1.w", SafeDType::kF32, {3}, weight.data()},
                     {"client/a/0.b", SafeDType::kF32, {2}, bias.data()},
                     {"client/c/0.b", SafeDType::kF32, {2}, bias.data()},
                     {"client/c/1.w", SafeDType::kF32, {3}, weight.data()},
                     {"client/b/0.b", SafeDType::kF32, {2}, bias.data()}},
                    {});
  const RoundData d = read_round_file(path);
  ASSERT_EQ(d.updates.rows(), 3u);
  EXPECT_EQ(d.updates.cols(), 5u);
  ASSERT_EQ(d.layers.size(), 2u);
  EXPECT_EQ(d.layers[0].name, "0.b");
  EXPECT_EQ(d.layers[1].end, 5u);
  const auto* row = static_cast<const float*>(d.updates.row(0));
  EXPECT_EQ(std::vector<float>(row, row + 5), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(d.updates.well_formed(0));
  EXPECT_FALSE(d.updates.well_formed(1));
  EXPECT_TRUE(d.updates.well_formed(2));
  EXPECT_FALSE(d.warnings.empty());
}

TEST(Safetensors, UnalignedF32DataIsCopied) {
  // A hand-made header of odd length puts the data at an odd offset.
  std::string data(12, '\0');
  const float vals[3] = {1.5f, -2.0f, 3.25f};
  std::memcpy(&data[0], vals, 12);
  const std::string path = temp_dir() + "/unaligned.safetensors";
  dump(path, image(R"({"updates":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]}} )", data));
  const RoundData d = read_round_file(path);
  const auto* row = static_cast<const float*>(d.updates.row(0));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(row) % 4, 0u);
  EXPECT_EQ(row[2], 3.25f);
}

TEST(Safetensors, EveryTruncationIsAnErrorNamingFileAndOffset) {
  std::vector<float> x, ref;
  const std::string path = temp_dir() + "/full.safetensors";
  write_round_safetensors(path, small_round(x, ref));
  const std::string bytes = slurp(path);
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    const std::string msg = parse_error(bytes.substr(0, len));
    ASSERT_NE(msg.find("f.safetensors: offset "), std::string::npos) << len << ": " << msg;
  }
  const std::string cut = temp_dir() + "/cut.safetensors";
  dump(cut, bytes.substr(0, bytes.size() - 3));
  try {
    read_round_file(cut);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(cut + ": offset"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, LyingHeadersAreErrors) {
  const std::string data(16, '\0');
  struct Case {
    std::string header, data, expect;
  };
  const std::vector<Case> cases = {
      {R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data.substr(0, 8),
       "runs past the end"},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data, "the shape needs 12"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       data.substr(0, 12), "overlaps"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data, "hole of 8 bytes"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data,
       "8 bytes after the last tensor"},
      {R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data.substr(0, 8),
       "unsupported dtype"},
      {R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data.substr(0, 8),
       "non-negative"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data.substr(0, 8),
       "begin 8 > end 0"},
      {R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
       data.substr(0, 8), "overflows"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       data.substr(0, 8), "duplicate key"},
      {R"({"__metadata__":{"round":3}})", "", "not a string"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", data.substr(0, 8),
       "unknown field"},
      {R"({"t": [1, 2)", "", "not valid JSON"},
      {"[1]", "", "starting with '{'"},
      // Found by the fuzzer: a number too large for a double is not a parse_error in nlohmann.
      {R"({"t":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}})", "", "number overflow"},
      {"{" + std::string(100, '[') + std::string(100, ']') + "}", "", "nested deeper"},
  };
  for (const Case& c : cases) {
    const std::string msg = parse_error(image(c.header, c.data));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.header << " -> " << msg;
    EXPECT_NE(msg.find("f.safetensors: offset "), std::string::npos) << msg;
  }
  std::string huge = image("{}", "");
  huge[5] = 1;  // header length 2^40
  EXPECT_NE(parse_error(huge).find("exceeds the limit"), std::string::npos);
}

TEST(Safetensors, RoundLevelChecks) {
  const std::vector<float> v(6, 1.0f);
  const std::string path = temp_dir() + "/round_checks.safetensors";
  auto error_of = [&](const std::vector<TensorToWrite>& t,
                      const std::map<std::string, std::string>& meta) {
    write_safetensors(path, t, meta);
    try {
      read_round_file(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of({{"updates", SafeDType::kI32, {2, 3}, v.data()}}, {}).find("F32, F16 or BF16"),
            std::string::npos);
  EXPECT_NE(error_of({{"updates", SafeDType::kF32, {6}, v.data()}}, {}).find("2-D"),
            std::string::npos);
  EXPECT_NE(error_of({{"updates", SafeDType::kF32, {2, 3}, v.data()}}, {{"client_ids", "[\"a\"]"}})
                .find("1 client ids"),
            std::string::npos);
  EXPECT_NE(error_of({{"updates", SafeDType::kF32, {2, 3}, v.data()}}, {{"num_samples", "[1,"}})
                .find("not JSON"),
            std::string::npos);
  EXPECT_NE(
      error_of({{"updates", SafeDType::kF32, {2, 3}, v.data()}}, {{"round", "-1"}}).find("'round'"),
      std::string::npos);
  EXPECT_NE(error_of({{"updates", SafeDType::kF32, {2, 3}, v.data()},
                      {"reference", SafeDType::kF32, {2}, v.data()}},
                     {})
                .find("reference"),
            std::string::npos);
  EXPECT_NE(error_of({{"other", SafeDType::kF32, {2, 3}, v.data()}}, {}).find("no 'updates'"),
            std::string::npos);
  EXPECT_NE(error_of({{"updates", SafeDType::kF32, {2, 3}, v.data()}}, {{"layers", "[[\"a\", 2]]"}})
                .find("cover 2"),
            std::string::npos);
}

TEST(UpdateLog, WriterAppendsResumesAndRefusesDuplicateRounds) {
  const std::string dir = temp_dir() + "/log_resume";
  std::filesystem::remove_all(dir);
  std::vector<float> x, ref;
  LoggedRound r = small_round(x, ref);
  {
    UpdateLogWriter w(dir);
    r.round = 0;
    w.append(r);
    r.round = 1;
    w.append(r);
    EXPECT_THROW(w.append(r), Error);
  }
  UpdateLogWriter again(dir);
  EXPECT_EQ(again.rounds_written(), 2u);
  r.round = 2;
  again.append(r);
  const UpdateLog log(dir);
  ASSERT_TRUE(log.has_manifest());
  ASSERT_EQ(log.entries().size(), 3u);
  EXPECT_EQ(log.read(2).round, 2u);
  EXPECT_EQ(log.manifest().rounds[1].file, "round_000001.safetensors");
}

TEST(UpdateLog, WithoutManifestRoundsAreFilesInNameOrderAndNpyWorks) {
  const std::string dir = temp_dir() + "/log_plain";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<float> x(2 * 3, 1.0f);
  write_npy(dir + "/b.npy", NpyType::kFloat32, {2, 3}, x.data());
  write_npy(dir + "/a.npy", NpyType::kFloat32, {2, 3}, x.data());
  dump(dir + "/notes.txt", "ignored");
  dump(dir + "/c.pt", "not really torch");
  const UpdateLog log(dir);
  ASSERT_EQ(log.entries().size(), 3u);
  EXPECT_NE(log.entries()[0].path.find("a.npy"), std::string::npos);
  const RoundData d = log.read(1);
  EXPECT_EQ(d.round, 1u);
  EXPECT_EQ(d.client_ids, (std::vector<std::string>{"0", "1"}));
  try {
    log.read(2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kUnsupported);
#ifndef FEDGUARD_HAS_TORCH
    EXPECT_NE(std::string(e.what()).find("built without LibTorch"), std::string::npos);
#endif
  }
}

TEST(UpdateLog, ManifestSuppliesNpyMetadata) {
  const std::string dir = temp_dir() + "/log_npy_manifest";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<float> x(2 * 3, 1.0f);
  write_npy(dir + "/r.npy", NpyType::kFloat32, {2, 3}, x.data());
  dump(
      dir + "/manifest.json",
      R"({"format":"fedguard-update-log","version":1,"rounds":[{"round":9,"file":"r.npy","client_ids":["p","q"],"num_samples":[1,2],"malicious":["q"]}]})");
  const RoundData d = UpdateLog(dir).read(0);
  EXPECT_EQ(d.round, 9u);
  EXPECT_EQ(d.client_ids, (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(d.has_ground_truth);
}

TEST(Manifest, RejectsMalformedManifests) {
  auto error_of = [](const std::string& text) {
    try {
      parse_manifest(text, "m.json");
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string head = R"({"format":"fedguard-update-log","version":1,"rounds":)";
  EXPECT_NE(error_of("{").find("m.json: offset"), std::string::npos);
  EXPECT_NE(error_of(R"({"format":"x","version":1,"rounds":[]})").find("format"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"format":"fedguard-update-log","version":2,"rounds":[]})").find("version"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"../etc/passwd"}]})").find("plain file name"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"a.npy"},{"file":"a.npy"}]})").find("listed twice"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"a.npy","round":-1}]})").find("non-negative"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"a.npy","client_ids":[1]}]})").find("strings"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"a.npy","zzz":1}]})").find("unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(head + std::string(200, '[')).find("nested deeper"), std::string::npos);
  EXPECT_NE(error_of(head + R"([{"file":"a.npy","num_samples":[1e400]}]})").find("number overflow"),
            std::string::npos);
  const Manifest m =
      parse_manifest(head + R"([{"file":"a.npy","malicious":[]}], "info": {"k": 1}})", "m.json");
  ASSERT_EQ(m.rounds.size(), 1u);
  EXPECT_TRUE(m.rounds[0].has_malicious);
  EXPECT_EQ(parse_manifest(manifest_to_json(m).dump(), "m").rounds[0].file, "a.npy");
}

}  // namespace
}  // namespace fedguard::io
