// .pt round files (host/io/pt_round_torch.cc, docs/formats.md "Update logs"): files written
// with torch::pickle_save (the zip format of Python's torch.save) read back exactly, with the
// naming and metadata of safetensors rounds; malformed files are kIo errors naming the file.
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "fedguard/dtype.h"
#include "fedguard/error.h"
#include "io/manifest.h"
#include "io/pt_round_torch.h"
#include "io/update_log.h"

namespace fedguard::io {
namespace {

std::string temp_dir() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "/fedguard_pt_round_test_" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void dump(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes v as torch.save would and returns the path.
std::string save(const std::string& file, const c10::IValue& v) {
  const std::string path = temp_dir() + "/" + file;
  dump(path, torch::pickle_save(v));
  return path;
}

// n x d float32 values, exact in float16 and bfloat16 too (multiples of 1/8 below 16).
at::Tensor exact_values(std::int64_t n, std::int64_t d, int seed) {
  at::Tensor t = at::empty({n, d}, at::kFloat);
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < n * d; ++i)
    p[i] = static_cast<float>((i * 7 + seed * 13) % 97 - 48) / 8.0f;
  return t;
}

std::vector<float> floats_of(const at::Tensor& t) {
  const at::Tensor f = t.to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

// Row i of a round as float32 (its delivered length and dtype).
std::vector<float> row_of(const RoundData& r, std::size_t i) {
  const ClientUpdate& c = r.updates.client(i);
  std::vector<float> out(c.length);
  convert_to_float(c.dtype, c.data, out.data(), c.length);
  return out;
}

std::vector<float> slice(const std::vector<float>& v, std::size_t begin, std::size_t end) {
  const auto at = [&v](std::size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
  return std::vector<float>(at(begin), at(end));
}

c10::impl::GenericDict new_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

c10::Dict<std::string, std::string> metadata(
    const std::vector<std::pair<std::string, std::string>>& kv) {
  c10::Dict<std::string, std::string> m;
  for (const auto& [k, v] : kv) m.insert(k, v);
  return m;
}

// The kIo error of reading path; checks it reads "<path>: offset 0: ...".
std::string pt_error(const std::string& path) {
  try {
    read_round_pt(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo) << e.what();
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": offset 0: ", 0), 0u) << what;
    return what;
  }
  ADD_FAILURE() << path << " was read without an error";
  return "";
}

TEST(PtRound, Float32TensorIsTheUpdates) {
  const at::Tensor src = exact_values(3, 5, 1);
  const std::string path = save("f32.pt", src);
  RoundData r = read_round_pt(path, nullptr, 7);
  EXPECT_EQ(r.path, path);
  EXPECT_EQ(r.round, 7u);
  ASSERT_EQ(r.updates.rows(), 3u);
  ASSERT_EQ(r.updates.cols(), 5u);
  EXPECT_EQ(r.updates.dtype(), DType::kFloat32);
  EXPECT_EQ(r.update_bytes, 3u * 5u * 4u);
  EXPECT_EQ(r.client_ids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_FALSE(r.has_ground_truth);
  EXPECT_TRUE(r.reference.empty());
  EXPECT_TRUE(r.layers.empty());
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_TRUE(r.keep_alive);
  const std::vector<float> want = floats_of(src);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(row_of(r, i), slice(want, i * 5, i * 5 + 5)) << "row " << i;
  // The round owns its data: moved, the views stay valid.
  RoundData moved = std::move(r);
  EXPECT_EQ(row_of(moved, 2), slice(want, 10, 15));
}

TEST(PtRound, Float16AndBFloat16KeepTheirDtype) {
  const at::Tensor src = exact_values(4, 6, 2);
  const std::vector<float> want = floats_of(src);
  for (const auto& [type, dt] :
       {std::pair{at::kHalf, DType::kFloat16}, std::pair{at::kBFloat16, DType::kBFloat16}}) {
    const std::string path = save(std::string("half_") + dtype_name(dt) + ".pt", src.to(type));
    const RoundData r = read_round_pt(path);
    ASSERT_EQ(r.updates.rows(), 4u);
    ASSERT_EQ(r.updates.cols(), 6u);
    EXPECT_EQ(r.updates.dtype(), dt);
    EXPECT_EQ(r.update_bytes, 4u * 6u * 2u);
    for (std::size_t i = 0; i < 4; ++i)
      EXPECT_EQ(row_of(r, i), slice(want, i * 6, i * 6 + 6)) << dtype_name(dt);
  }
}

TEST(PtRound, NonContiguousTensorsAndViewsAreRead) {
  const at::Tensor src = exact_values(5, 3, 3);
  const at::Tensor transposed = src.t();  // [3, 5], column-major in memory
  ASSERT_FALSE(transposed.is_contiguous());
  const RoundData r = read_round_pt(save("transposed.pt", transposed));
  ASSERT_EQ(r.updates.rows(), 3u);
  ASSERT_EQ(r.updates.cols(), 5u);
  const std::vector<float> want = floats_of(transposed);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(row_of(r, i), slice(want, i * 5, i * 5 + 5));

  // A contiguous slice of a larger tensor: torch.save writes the whole storage.
  const at::Tensor big = exact_values(40, 3, 4);
  const at::Tensor rows = big.slice(0, 10, 13);
  const RoundData s = read_round_pt(save("slice.pt", rows));
  ASSERT_EQ(s.updates.rows(), 3u);
  EXPECT_EQ(s.update_bytes, 3u * 3u * 4u);
  const std::vector<float> want_rows = floats_of(rows);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(row_of(s, i), slice(want_rows, i * 3, i * 3 + 3));
}

TEST(PtRound, DictWithUpdatesMetadataAndReference) {
  const at::Tensor updates = exact_values(4, 3, 4);
  const at::Tensor reference = exact_values(1, 3, 5).reshape({3});
  auto dict = new_dict();
  dict.insert("updates", updates);
  dict.insert("reference", reference.to(at::kHalf));
  dict.insert("__metadata__", metadata({{"format", "fedguard-round"},
                                        {"round", "12"},
                                        {"client_ids", R"(["a", "b", "c", "d"])"},
                                        {"num_samples", "[1, 2, 3, 4.5]"},
                                        {"malicious", R"(["c"])"},
                                        {"layers", R"([["w", 2], ["b", 1]])"},
                                        {"attack", "alie"}}));
  const RoundData r = read_round_pt(save("dict.pt", dict), nullptr, 3);
  EXPECT_EQ(r.round, 12u);
  EXPECT_EQ(r.client_ids, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(r.num_samples, (std::vector<double>{1, 2, 3, 4.5}));
  EXPECT_TRUE(r.has_ground_truth);
  EXPECT_EQ(r.malicious, (std::vector<std::string>{"c"}));
  EXPECT_EQ(r.metadata, (nlohmann::json{{"attack", "alie"}}));
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].name, "w");
  EXPECT_EQ(r.layers[0].end, 2u);
  EXPECT_EQ(r.layers[1].name, "b");
  EXPECT_EQ(r.layers[1].begin, 2u);
  EXPECT_EQ(r.layers[1].end, 3u);
  EXPECT_EQ(r.reference, floats_of(reference));
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.updates.rows(), 4u);
  const std::vector<float> want = floats_of(updates);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(row_of(r, i), slice(want, i * 3, i * 3 + 3));

  // A manifest entry supplies what the file lacks; a manifest that disagrees with the file's
  // own client ids is an error naming the file and round (issue #17: it used to be ignored).
  ManifestEntry entry;
  entry.round = 5;
  entry.client_ids = {"p", "q", "r", "s"};
  entry.has_malicious = true;
  try {
    read_round_pt(save("dict.pt", dict), &entry, 0);
    ADD_FAILURE() << "a manifest disagreeing with the file's client ids was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("disagree with the round file's"), std::string::npos)
        << e.what();
  }
  auto bare = new_dict();
  bare.insert("updates", updates);
  bare.insert("step", int64_t{3});  // not a tensor: ignored with a warning
  const RoundData b = read_round_pt(save("bare.pt", bare), &entry, 0);
  EXPECT_EQ(b.round, 5u);
  EXPECT_EQ(b.client_ids, entry.client_ids);
  EXPECT_TRUE(b.has_ground_truth);
  EXPECT_TRUE(b.malicious.empty());
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_NE(b.warnings[0].find("'step'"), std::string::npos);
}

TEST(PtRound, PerClientTensorsInNameOrderOrMetadataOrder) {
  const at::Tensor a = exact_values(2, 3, 6), b = exact_values(2, 3, 7), c = exact_values(2, 3, 8);
  auto dict = new_dict();
  dict.insert("client/b", b);
  dict.insert("client/c", c.to(at::kBFloat16));  // another dtype: the round is copied to float32
  dict.insert("client/a", a);
  const RoundData r = read_round_pt(save("clients.pt", dict));
  EXPECT_EQ(r.client_ids, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(r.updates.rows(), 3u);
  EXPECT_EQ(r.updates.cols(), 6u);
  EXPECT_EQ(r.update_bytes, 6u * 4u + 6u * 4u + 6u * 2u);
  EXPECT_EQ(row_of(r, 0), floats_of(a));
  EXPECT_EQ(row_of(r, 1), floats_of(b));
  EXPECT_EQ(row_of(r, 2), floats_of(c));
  EXPECT_TRUE(r.layers.empty());

  dict.insert_or_assign("client/c", c);
  dict.insert("__metadata__",
              metadata({{"client_ids", R"(["c", "a", "b"])"}, {"num_samples", "[3, 1, 2]"}}));
  const RoundData o = read_round_pt(save("clients_ordered.pt", dict));
  EXPECT_EQ(o.client_ids, (std::vector<std::string>{"c", "a", "b"}));
  EXPECT_EQ(o.num_samples, (std::vector<double>{3, 1, 2}));
  EXPECT_EQ(o.updates.dtype(), DType::kFloat32);
  EXPECT_EQ(row_of(o, 0), floats_of(c));
  EXPECT_EQ(row_of(o, 1), floats_of(a));
  EXPECT_EQ(row_of(o, 2), floats_of(b));
}

TEST(PtRound, PerLayerTensorsAreFlattenedInNameOrder) {
  auto dict = new_dict();
  std::vector<std::vector<float>> want;
  for (int k = 0; k < 3; ++k) {
    const std::string id = std::string(1, static_cast<char>('x' + k));
    const at::Tensor w = exact_values(2, 2, 10 + k), bias = exact_values(1, 3, 20 + k).reshape({3});
    dict.insert("client/" + id + "/conv.weight", w);
    dict.insert("client/" + id + "/bias", bias.to(at::kHalf));
    std::vector<float> row = floats_of(bias);  // "bias" < "conv.weight"
    const std::vector<float> wv = floats_of(w);
    row.insert(row.end(), wv.begin(), wv.end());
    want.push_back(row);
  }
  dict.insert("client/odd/bias", exact_values(1, 5, 30).reshape({5}));  // another layout
  const RoundData r = read_round_pt(save("layers.pt", dict));
  EXPECT_EQ(r.client_ids, (std::vector<std::string>{"odd", "x", "y", "z"}));
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].name, "bias");
  EXPECT_EQ(r.layers[0].begin, 0u);
  EXPECT_EQ(r.layers[0].end, 3u);
  EXPECT_EQ(r.layers[1].name, "conv.weight");
  EXPECT_EQ(r.layers[1].begin, 3u);
  EXPECT_EQ(r.layers[1].end, 7u);
  ASSERT_EQ(r.updates.rows(), 4u);
  EXPECT_EQ(r.updates.cols(), 7u);
  EXPECT_FALSE(r.updates.well_formed(0));  // "odd" has 5 values
  EXPECT_EQ(r.updates.client(0).length, 5u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE(r.updates.well_formed(i));
    EXPECT_EQ(row_of(r, i), want[i - 1]) << "client " << r.client_ids[i];
  }
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("'odd'"), std::string::npos);

  // One dtype throughout: each client's layers are adjacent in the buffer and used in place.
  auto same = new_dict();
  const at::Tensor w = exact_values(2, 2, 40).to(at::kHalf),
                   bias = exact_values(1, 3, 41).reshape({3}).to(at::kHalf);
  same.insert("client/p/conv.weight", w);
  same.insert("client/p/bias", bias);
  same.insert("client/q/conv.weight", w);
  same.insert("client/q/bias", bias);
  const RoundData s = read_round_pt(save("layers_f16.pt", same));
  EXPECT_EQ(s.updates.dtype(), DType::kFloat16);
  ASSERT_EQ(s.updates.rows(), 2u);
  EXPECT_EQ(s.updates.cols(), 7u);
  std::vector<float> row = floats_of(bias);
  const std::vector<float> wv = floats_of(w);
  row.insert(row.end(), wv.begin(), wv.end());
  EXPECT_EQ(row_of(s, 0), row);
  EXPECT_EQ(row_of(s, 1), row);
}

TEST(PtRound, TruncatedFilesAreErrorsNamingTheFile) {
  auto dict = new_dict();
  dict.insert("updates", exact_values(8, 16, 9));
  dict.insert("__metadata__", metadata({{"client_ids", R"(["a","b","c","d","e","f","g","h"])"}}));
  const std::vector<char> bytes = torch::pickle_save(dict);
  ASSERT_GT(bytes.size(), 100u);
  for (int tenth = 0; tenth < 10; ++tenth) {
    const std::size_t size = bytes.size() * static_cast<std::size_t>(tenth) / 10;
    const std::string path = temp_dir() + "/truncated_" + std::to_string(tenth) + ".pt";
    dump(path, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)));
    pt_error(path);
  }
  // The same cut a byte short of the end.
  const std::string path = temp_dir() + "/truncated_last.pt";
  dump(path, std::vector<char>(bytes.begin(), bytes.end() - 1));
  pt_error(path);
  // The whole file reads.
  dump(path, bytes);
  EXPECT_EQ(read_round_pt(path).updates.rows(), 8u);
}

TEST(PtRound, GarbageIsAnErrorNamingTheFile) {
  std::mt19937 rng(42);
  for (int k = 0; k < 8; ++k) {
    std::vector<char> junk(64u << k);
    for (char& c : junk) c = static_cast<char>(rng() & 0xff);
    if (k % 2 == 1) {  // a zip local-file magic in front: the archive reader goes further
      const char magic[] = {'P', 'K', 3, 4};
      std::copy(magic, magic + 4, junk.begin());
    }
    const std::string path = temp_dir() + "/garbage_" + std::to_string(k) + ".pt";
    dump(path, junk);
    const std::string what = pt_error(path);
    EXPECT_NE(what.find("LibTorch"), std::string::npos) << what;
  }
  // Damaged bytes inside a valid file: an error or a round, never a crash.
  const std::vector<char> good = torch::pickle_save(exact_values(4, 4, 1));
  for (int k = 0; k < 32; ++k) {
    std::vector<char> bad = good;
    for (int j = 0; j < 4; ++j) bad[rng() % bad.size()] = static_cast<char>(rng() & 0xff);
    const std::string path = temp_dir() + "/damaged.pt";
    dump(path, bad);
    try {
      read_round_pt(path);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      EXPECT_EQ(std::string(e.what()).rfind(path + ": offset 0: ", 0), 0u) << e.what();
    }
  }
}

TEST(PtRound, WrongDtypesAreErrorsNamingTheTensor) {
  auto dict = new_dict();
  dict.insert("updates", exact_values(2, 3, 1).to(at::kLong));
  EXPECT_NE(pt_error(save("int64.pt", dict)).find("tensor 'updates' has dtype I64"),
            std::string::npos);

  auto clients = new_dict();
  clients.insert("client/a", exact_values(1, 3, 1));
  clients.insert("client/b", exact_values(1, 3, 2).to(at::kLong));
  EXPECT_NE(pt_error(save("int64_client.pt", clients)).find("tensor 'client/b'"),
            std::string::npos);

  auto int8 = new_dict();
  int8.insert("updates", exact_values(2, 3, 1));
  int8.insert("mask", exact_values(2, 3, 1).to(at::kChar));  // no such safetensors dtype either
  EXPECT_NE(pt_error(save("int8.pt", int8)).find("tensor 'mask' has dtype int8"),
            std::string::npos);

  const std::string what = pt_error(save("float64.pt", exact_values(2, 3, 1).to(at::kDouble)));
  EXPECT_NE(what.find("dtype float64"), std::string::npos) << what;

  auto ref = new_dict();
  ref.insert("updates", exact_values(2, 3, 1));
  ref.insert("reference", exact_values(1, 4, 1).reshape({4}));
  EXPECT_NE(pt_error(save("bad_reference.pt", ref)).find("tensor 'reference'"), std::string::npos);
}

TEST(PtRound, WrongShapesAndContentAreErrors) {
  std::string what = pt_error(save("3d.pt", exact_values(2, 12, 1).reshape({2, 3, 4})));
  EXPECT_NE(what.find("[2, 3, 4]"), std::string::npos) << what;
  what = pt_error(save("1d.pt", exact_values(1, 5, 1).reshape({5})));
  EXPECT_NE(what.find("[5]"), std::string::npos) << what;

  auto dict3 = new_dict();
  dict3.insert("updates", exact_values(2, 12, 1).reshape({2, 3, 4}));
  EXPECT_NE(pt_error(save("dict_3d.pt", dict3)).find("must be 2-D"), std::string::npos);

  EXPECT_NE(pt_error(save("int.pt", c10::IValue(int64_t{5}))).find("holds a value of type Int"),
            std::string::npos);
  c10::List<at::Tensor> list;
  list.push_back(exact_values(2, 2, 1));
  pt_error(save("list.pt", list));
  EXPECT_NE(pt_error(save("empty_dict.pt", new_dict())).find("no 'updates' tensor"),
            std::string::npos);

  c10::impl::GenericDict int_keys(c10::IntType::get(), c10::AnyType::get());
  int_keys.insert(int64_t{0}, exact_values(2, 2, 1));
  EXPECT_NE(pt_error(save("int_keys.pt", int_keys)).find("key of type Int"), std::string::npos);

  auto mixed = new_dict();
  mixed.insert("client/a", exact_values(1, 3, 1));
  mixed.insert("client/a/bias", exact_values(1, 3, 1).reshape({3}));
  EXPECT_NE(pt_error(save("mixed.pt", mixed)).find("both a whole tensor and per-layer"),
            std::string::npos);
}

TEST(PtRound, BadMetadataIsAnError) {
  const auto with_meta = [](const std::string& file, const c10::IValue& meta) {
    auto dict = new_dict();
    dict.insert("updates", exact_values(2, 3, 1));
    dict.insert("__metadata__", meta);
    return save(file, dict);
  };
  EXPECT_NE(pt_error(with_meta("meta_list.pt", c10::IValue(int64_t{1})))
                .find("'__metadata__' must be a dict"),
            std::string::npos);
  c10::impl::GenericDict int_value(c10::StringType::get(), c10::AnyType::get());
  int_value.insert("round", int64_t{3});
  EXPECT_NE(pt_error(with_meta("meta_int.pt", int_value)).find("value of 'round'"),
            std::string::npos);
  EXPECT_NE(pt_error(with_meta("meta_round.pt", metadata({{"round", "-1"}}))).find("'round'"),
            std::string::npos);
  EXPECT_NE(pt_error(with_meta("meta_json.pt", metadata({{"client_ids", "[a, b"}})))
                .find("not JSON text"),
            std::string::npos);
  EXPECT_NE(pt_error(with_meta("meta_ids.pt", metadata({{"client_ids", R"(["a"])"}})))
                .find("1 client ids for 2"),
            std::string::npos);
  EXPECT_NE(pt_error(with_meta("meta_samples.pt", metadata({{"num_samples", R"(["x", "y"])"}})))
                .find("list of numbers"),
            std::string::npos);
  EXPECT_NE(pt_error(with_meta("meta_layers.pt", metadata({{"layers", R"([["w", 2]])"}})))
                .find("'layers' cover 2"),
            std::string::npos);
}

TEST(PtRound, MissingFileIsAnIoError) {
  const std::string path = temp_dir() + "/does_not_exist.pt";
  try {
    read_round_pt(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
  }
}

// The core library's .pt branch: the registered reader, else "built without LibTorch".
const ManifestEntry* g_seen_entry = nullptr;
std::size_t g_seen_round = 0;
std::string g_seen_path;
RoundData stub_reader(const std::string& path, const ManifestEntry* entry,
                      std::size_t default_round) {
  g_seen_path = path;
  g_seen_entry = entry;
  g_seen_round = default_round;
  return read_round_pt(path, entry, default_round);
}

TEST(PtRound, ReadRoundFileGoesThroughTheRegisteredReader) {
  const at::Tensor src = exact_values(3, 4, 11);
  const std::string path = save("registered.pt", src);

  set_pt_round_reader(nullptr);
  try {
    read_round_file(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("built without LibTorch"), std::string::npos) << e.what();
  }

  ManifestEntry entry;
  entry.round = 4;
  set_pt_round_reader(&stub_reader);
  const RoundData via_stub = read_round_file(path, &entry, 9);
  EXPECT_EQ(g_seen_path, path);
  EXPECT_EQ(g_seen_entry, &entry);
  EXPECT_EQ(g_seen_round, 9u);
  EXPECT_EQ(via_stub.round, 4u);

  register_pt_round_reader();
  EXPECT_EQ(pt_round_reader(), &read_round_pt);
  const RoundData r = read_round_file(path, nullptr, 2);
  EXPECT_EQ(r.round, 2u);
  ASSERT_EQ(r.updates.rows(), 3u);
  const std::vector<float> want = floats_of(src);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(row_of(r, i), slice(want, i * 4, i * 4 + 4));

  // An update log without a manifest lists .pt files; UpdateLog::read reads them.
  const std::string dir = temp_dir() + "/log";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(path, dir + "/round_000001.pt");
  const UpdateLog log(dir);
  ASSERT_EQ(log.entries().size(), 1u);
  const RoundData l = log.read(0);
  EXPECT_EQ(l.round, 0u);
  EXPECT_EQ(row_of(l, 1), slice(want, 4, 8));
  // Malformed through read_round_file: still kIo naming the file.
  dump(dir + "/round_000002.pt", std::vector<char>{'n', 'o', 't'});
  try {
    read_round_file(dir + "/round_000002.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_EQ(std::string(e.what()).rfind(dir + "/round_000002.pt: offset 0: ", 0), 0u) << e.what();
  }
}

// The inputs tests/fuzz/pt_fuzz found (tests/fuzz/corpus/pt/regression_*.pt), each an error
// naming the file now: a SEGV in LibTorch's zip reader (its adapter read past the buffer), a
// 2.4 GB allocation for a 747-byte file (a record's declared size), and a storage sized by the
// pickle beyond its record (a heap overflow packing the tensors).
TEST(PtRound, FuzzFindingsAreErrorsNamingTheFile) {
  const std::string dir = FEDGUARD_PT_CORPUS;
  const std::pair<const char*, const char*> cases[] = {
      {"regression_zip_read_past_end.pt", "LibTorch"},
      {"regression_record_size_2gb.pt",
       "declares 2399338495 bytes uncompressed in a file of 747 bytes"},
      {"regression_storage_past_record.pt", "reaches past its storage"}};
  for (const auto& [file, what] : cases) {
    const std::string m = pt_error(dir + "/" + file);
    EXPECT_NE(m.find(what), std::string::npos) << file << ": " << m;
  }
  // The seeds (torch::pickle_save rounds) read.
  for (const char* file : {"block.pt", "block_f16.pt", "block_bf16.pt", "dict_meta.pt",
                           "per_client.pt", "per_layer.pt"})
    EXPECT_GT(read_round_pt(dir + "/" + file).updates.rows(), 0u) << file;
}

// A tensor view must lie in its storage and hold no more elements than it: an expand()ed view
// (stride 0) would be materialised by contiguous() (2.3 GB from a 1.5 kB file, found by fuzzing).
TEST(PtRound, OverlappingViewsAreRefused) {
  const at::Tensor row = torch::arange(4, torch::kFloat32);
  const std::string path = temp_dir() + "/expanded.pt";
  dump(path, torch::pickle_save(row.expand({3, 4})));
  EXPECT_NE(pt_error(path).find("overlapping strides"), std::string::npos);
}

}  // namespace
}  // namespace fedguard::io
