#include "io/npy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fedguard/dtype.h"
#include "fedguard/error.h"

namespace fedguard::io {
namespace {

using std::string_literals::operator""s;

// One directory per test process, so parallel ctest runs do not trample each other's files.
std::string temp_dir() {
  static const std::string dir = [] {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::string d = base + "fedguard_npy_test_" + std::to_string(::getpid()) + "/";
    ::mkdir(d.c_str(), 0700);
    return d;
  }();
  return dir;
}

std::string temp_path(const std::string& name) { return temp_dir() + name; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  ASSERT_TRUE(out) << path;
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out) << path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A .npy image with a hand-written header dict: the building block of the malformed cases.
// The dict is padded with spaces and '\n' so the data start at a multiple of align.
std::string make_image(const std::string& dict, const std::string& data, int major = 1,
                       std::size_t align = 64) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::size_t header_len = dict.size() + 1;
  while ((prefix + header_len) % align != 0) ++header_len;
  std::string image("\x93NUMPY", 6);
  image += static_cast<char>(major);
  image += '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i) {
    image += static_cast<char>((header_len >> (8 * i)) & 0xff);
  }
  image += dict;
  image.append(header_len - dict.size() - 1, ' ');
  image += '\n';
  return image + data;
}

std::string f4_dict(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

// Both entry points must reject the image: NpyFile (from disk, naming the path) and parse_npy
// on a heap buffer of exactly the image's size (so ASan catches any over-read). Returns the
// NpyFile message so callers can check more.
std::string expect_io_error(const std::string& file_name, const std::string& image,
                            const std::string& needle) {
  const std::string path = temp_path(file_name);
  write_bytes(path, image);
  std::string message;
  try {
    NpyFile file(path);
    ADD_FAILURE() << file_name << ": expected an error containing \"" << needle << "\"";
  } catch (const Error& e) {
    message = e.what();
    EXPECT_EQ(e.category(), ErrorCategory::kIo) << message;
    EXPECT_NE(message.find(file_name), std::string::npos) << message;
    EXPECT_NE(message.find("offset "), std::string::npos) << message;
    EXPECT_NE(message.find(needle), std::string::npos)
        << "missing \"" << needle << "\" in " << message;
  }
  std::unique_ptr<unsigned char[]> buffer(image.empty() ? nullptr
                                                        : new unsigned char[image.size()]);
  if (!image.empty()) std::memcpy(buffer.get(), image.data(), image.size());
  try {
    parse_npy(buffer.get(), image.size(), file_name);
    ADD_FAILURE() << file_name << ": parse_npy accepted the image";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_EQ(std::string(e.what()).substr(file_name.size()), message.substr(path.size()))
        << "NpyFile and parse_npy disagree";
  }
  return message;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(NpyRoundTrip, Float32Matrix) {
  std::vector<float> values(12);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 1.5f;
  const std::string path = temp_path("f32.npy");
  write_npy(path, NpyType::kFloat32, {3, 4}, values.data());

  // Byte-for-byte what NumPy writes for this array.
  const std::string bytes = read_bytes(path);
  ASSERT_EQ(bytes.size(), 128u + 48u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  EXPECT_EQ(bytes.substr(8, 2), std::string("\x76\x00", 2));  // header length 118
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.substr(10 + dict.size(), 127 - 10 - dict.size()),
            std::string(127 - 10 - dict.size(), ' '));
  EXPECT_EQ(bytes[127], '\n');

  NpyFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.type(), NpyType::kFloat32);
  EXPECT_EQ(file.shape(), (std::vector<std::size_t>{3, 4}));
  EXPECT_EQ(file.element_count(), 12u);
  EXPECT_EQ(file.data_offset(), 128u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file.data()) % 64, 0u);
  EXPECT_EQ(std::memcmp(file.data(), static_cast<const void*>(values.data()), 48), 0);  // bit-exact
  EXPECT_EQ(file.update_dtype(), DType::kFloat32);
  const std::vector<double> doubles = file.to_doubles();
  ASSERT_EQ(doubles.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(doubles[i], values[i]);
}

TEST(NpyRoundTrip, Float16) {
  // 1, -2, 0.5, 65504 (largest finite), 0, 2^-24 (smallest subnormal)
  const std::vector<std::uint16_t> bits = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0000, 0x0001};
  const std::string path = temp_path("f16.npy");
  write_npy(path, NpyType::kFloat16, {bits.size()}, bits.data());
  NpyFile file(path);
  EXPECT_EQ(file.type(), NpyType::kFloat16);
  EXPECT_EQ(file.shape(), (std::vector<std::size_t>{6}));
  EXPECT_EQ(file.update_dtype(), DType::kFloat16);
  EXPECT_EQ(std::memcmp(file.data(), bits.data(), bits.size() * 2), 0);
  EXPECT_EQ(file.to_doubles(), (std::vector<double>{1.0, -2.0, 0.5, 65504.0, 0.0, 0x1p-24}));
  EXPECT_NE(read_bytes(path).find("'shape': (6,), }"), std::string::npos);
}

TEST(NpyRoundTrip, Float64Vector) {
  const std::vector<double> values = {3.141592653589793, -1e300, 5e-324, 0.0, 42.0};
  const std::string path = temp_path("f64.npy");
  write_npy(path, NpyType::kFloat64, {values.size()}, values.data());
  NpyFile file(path);
  EXPECT_EQ(file.type(), NpyType::kFloat64);
  EXPECT_EQ(file.shape(), (std::vector<std::size_t>{5}));
  EXPECT_EQ(file.to_doubles(), values);
}

TEST(NpyRoundTrip, Int64AndNotAnUpdateDtype) {
  const std::vector<std::int64_t> values = {0, -1, 1234567890123LL, -9007199254740992LL, 7};
  const std::string path = temp_path("i64.npy");
  write_npy(path, NpyType::kInt64, {values.size()}, values.data());
  NpyFile file(path);
  EXPECT_EQ(file.type(), NpyType::kInt64);
  EXPECT_EQ(std::memcmp(file.data(), values.data(), values.size() * 8), 0);
  const std::vector<double> doubles = file.to_doubles();
  ASSERT_EQ(doubles.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(doubles[i], static_cast<double>(values[i]));
  }
  try {
    file.update_dtype();
    ADD_FAILURE() << "int64 accepted as an update dtype";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_NE(std::string(e.what()).find("i64.npy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("<i8"), std::string::npos) << e.what();
  }
}

TEST(NpyRoundTrip, SmallIntegerAndBoolTypes) {
  const std::vector<std::int32_t> i32 = {-5, 0, 2147483647};
  const std::vector<std::uint8_t> u8 = {0, 1, 255};
  const std::vector<std::uint8_t> b1 = {1, 0, 1, 1};
  write_npy(temp_path("i32.npy"), NpyType::kInt32, {3}, i32.data());
  write_npy(temp_path("u8.npy"), NpyType::kUInt8, {1, 3}, u8.data());
  write_npy(temp_path("b1.npy"), NpyType::kBool, {2, 2}, b1.data());
  EXPECT_EQ(NpyFile(temp_path("i32.npy")).to_doubles(),
            (std::vector<double>{-5.0, 0.0, 2147483647.0}));
  EXPECT_EQ(NpyFile(temp_path("u8.npy")).to_doubles(), (std::vector<double>{0.0, 1.0, 255.0}));
  NpyFile b(temp_path("b1.npy"));
  EXPECT_EQ(b.type(), NpyType::kBool);
  EXPECT_EQ(b.to_doubles(), (std::vector<double>{1.0, 0.0, 1.0, 1.0}));
}

TEST(NpyRoundTrip, ScalarAndEmptyArrays) {
  const double scalar = 2.5;
  write_npy(temp_path("scalar.npy"), NpyType::kFloat64, {}, &scalar);
  EXPECT_NE(read_bytes(temp_path("scalar.npy")).find("'shape': (), }"), std::string::npos);
  NpyFile s(temp_path("scalar.npy"));
  EXPECT_TRUE(s.shape().empty());
  EXPECT_EQ(s.element_count(), 1u);
  EXPECT_EQ(s.to_doubles(), std::vector<double>{2.5});

  write_npy(temp_path("empty.npy"), NpyType::kFloat32, {2, 0, 3}, nullptr);
  NpyFile e(temp_path("empty.npy"));
  EXPECT_EQ(e.shape(), (std::vector<std::size_t>{2, 0, 3}));
  EXPECT_EQ(e.element_count(), 0u);
  EXPECT_TRUE(e.to_doubles().empty());
  EXPECT_EQ(read_bytes(temp_path("empty.npy")).size(), e.data_offset());
}

TEST(NpyFileTest, MoveTransfersTheMapping) {
  const std::vector<float> values = {1.0f, 2.0f, 3.0f};
  write_npy(temp_path("move_a.npy"), NpyType::kFloat32, {3}, values.data());
  write_npy(temp_path("move_b.npy"), NpyType::kFloat32, {1}, values.data());
  NpyFile a(temp_path("move_a.npy"));
  const void* data = a.data();
  NpyFile moved(std::move(a));
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(moved.path(), temp_path("move_a.npy"));
  EXPECT_EQ(moved.to_doubles(), (std::vector<double>{1.0, 2.0, 3.0}));

  NpyFile b(temp_path("move_b.npy"));
  b = std::move(moved);  // unmaps b's own file, takes moved's
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.shape(), (std::vector<std::size_t>{3}));
  EXPECT_EQ(b.to_doubles(), (std::vector<double>{1.0, 2.0, 3.0}));
  NpyFile& self = b;
  b = std::move(self);  // self-move keeps the mapping
  EXPECT_EQ(b.data(), data);
}

TEST(NpyFileTest, HeaderSyntaxVariantsNumpyAccepts) {
  const std::string data = raw(std::vector<float>{1.0f, 2.0f});
  const std::vector<std::string> dicts = {
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
      "{'shape': (2,), 'descr': '<f4', 'fortran_order': False}",
      "  {  'fortran_order'  :  False ,'shape':(  2 , ),'descr':'<f4',}  ",
      "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2L,)}",  // Python 2 long
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
  };
  for (std::size_t i = 0; i < dicts.size(); ++i) {
    for (int major : {1, 2, 3}) {
      const std::string image = make_image(dicts[i], data, major);
      NpyHeader h =
          parse_npy(reinterpret_cast<const unsigned char*>(image.data()), image.size(), "variant");
      EXPECT_EQ(h.type, NpyType::kFloat32) << dicts[i];
      EXPECT_EQ(h.data_offset, image.size() - data.size()) << dicts[i];
      EXPECT_EQ(h.data_offset % 64, 0u) << dicts[i];
      std::size_t count = 1;
      for (std::size_t d : h.shape) count *= d;
      EXPECT_EQ(count, 2u) << dicts[i];
    }
  }
  // Old NumPy aligned the data to 16 bytes only.
  const std::string old = make_image(f4_dict("(2,)"), data, 1, 16);
  const std::string path = temp_path("align16.npy");
  write_bytes(path, old);
  NpyFile file(path);
  EXPECT_EQ(file.data_offset() % 16, 0u);
  EXPECT_EQ(file.to_doubles(), (std::vector<double>{1.0, 2.0}));
  // A header without the final newline is still a valid dict to NumPy.
  std::string no_newline = make_image(f4_dict("(2,)"), data);
  no_newline[no_newline.size() - data.size() - 1] = ' ';
  EXPECT_NO_THROW(parse_npy(reinterpret_cast<const unsigned char*>(no_newline.data()),
                            no_newline.size(), "no_newline"));
}

TEST(NpyFileTest, OpenAndWriteFailuresNameThePath) {
  const std::string missing = temp_path("does_not_exist.npy");
  try {
    NpyFile file(missing);
    ADD_FAILURE() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  try {
    NpyFile file(temp_dir());
    ADD_FAILURE() << "opened a directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
  }
  const std::string bad_dir = temp_path("no_such_dir/out.npy");
  const float value = 1.0f;
  try {
    write_npy(bad_dir, NpyType::kFloat32, {1}, &value);
    ADD_FAILURE() << "wrote into a missing directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    EXPECT_NE(std::string(e.what()).find(bad_dir), std::string::npos) << e.what();
  }
}

TEST(NpyFileTest, TypeTable) {
  EXPECT_EQ(npy_type_size(NpyType::kFloat32), 4u);
  EXPECT_EQ(npy_type_size(NpyType::kFloat16), 2u);
  EXPECT_EQ(npy_type_size(NpyType::kFloat64), 8u);
  EXPECT_EQ(npy_type_size(NpyType::kInt64), 8u);
  EXPECT_EQ(npy_type_size(NpyType::kInt32), 4u);
  EXPECT_EQ(npy_type_size(NpyType::kUInt8), 1u);
  EXPECT_EQ(npy_type_size(NpyType::kBool), 1u);
  EXPECT_STREQ(npy_type_name(NpyType::kFloat16), "<f2");
  EXPECT_STREQ(npy_type_name(NpyType::kBool), "|b1");
}

// ---------------------------------------------------------------------------------------------
// Malformed files

const std::string kData6 = raw(std::vector<float>{1, 2, 3, 4, 5, 6});  // for shape (2, 3)

TEST(NpyMalformed, BadMagic) {
  std::string image = make_image(f4_dict("(2, 3)"), kData6);
  image[1] = 'M';
  EXPECT_NE(expect_io_error("magic.npy", image, "magic").find("offset 1:"), std::string::npos);
  image = "PK\x03\x04 this is a zip file, not an npy file";
  EXPECT_NE(expect_io_error("zip.npy", image, "magic").find("offset 0:"), std::string::npos);
}

TEST(NpyMalformed, UnsupportedVersion) {
  std::string image = make_image(f4_dict("(2, 3)"), kData6);
  image[6] = 4;
  EXPECT_NE(expect_io_error("v4.npy", image, "version 4.0").find("offset 6:"), std::string::npos);
  image[6] = 0;
  expect_io_error("v0.npy", image, "version 0.0");
  image[6] = 1;
  image[7] = 1;
  expect_io_error("v1_1.npy", image, "version 1.1");
}

TEST(NpyMalformed, HeaderLengthPastEndOfFile) {
  std::string image = make_image(f4_dict("(2, 3)"), kData6);
  image[8] = static_cast<char>(0x70);  // 70000 does not fit in 2 bytes; 0xff70 = 65392
  image[9] = static_cast<char>(0xff);
  const std::string msg = expect_io_error("U.npy", image, "header length 65392 runs past the end");
  EXPECT_NE(msg.find("U.npy: offset 8: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("(size 152)"), std::string::npos) << msg;
  // Version 2 has a 4-byte length: make it huge.
  std::string v2 = make_image(f4_dict("(2, 3)"), kData6, 2);
  v2[11] = static_cast<char>(0xff);
  expect_io_error("v2_len.npy", v2, "runs past the end");
}

TEST(NpyMalformed, TruncatedData) {
  const std::string image = make_image(f4_dict("(2, 3)"), kData6.substr(0, 20));
  const std::string msg = expect_io_error("short.npy", image, "truncated");
  EXPECT_NE(msg.find("needs 24 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has 20"), std::string::npos) << msg;
  // The header itself cut short: the dict never closes.
  const std::string full = make_image(f4_dict("(2, 3)"), kData6);
  std::string cut = full.substr(0, 40);
  cut[8] = 30;  // header length 30, consistent with the cut file
  cut[9] = 0;
  expect_io_error("cut_header.npy", cut, "unterminated string");
}

TEST(NpyMalformed, TrailingBytes) {
  const std::string image = make_image(f4_dict("(2, 3)"), kData6 + "extra");
  const std::string msg = expect_io_error("trailing.npy", image, "5 trailing bytes");
  EXPECT_NE(msg.find("offset 152:"), std::string::npos) << msg;  // 128-byte header + 24
}

TEST(NpyMalformed, FortranOrder) {
  const std::string image =
      make_image("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", kData6);
  expect_io_error("fortran.npy", image, "C order");
}

TEST(NpyMalformed, BigEndian) {
  const std::string image =
      make_image("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", kData6);
  const std::string msg = expect_io_error("big.npy", image, "big-endian");
  EXPECT_NE(msg.find("'>f4'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset 20:"), std::string::npos) << msg;  // where '>f4' starts
}

TEST(NpyMalformed, UnsupportedDtype) {
  const std::string data(48, '\0');
  expect_io_error("c8.npy",
                  make_image("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", data),
                  "unsupported dtype '<c8'");
  expect_io_error("obj.npy",
                  make_image("{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", data),
                  "'|O'");
  expect_io_error(
      "struct.npy",
      make_image("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }", data),
      "structured");
}

TEST(NpyMalformed, MissingKey) {
  expect_io_error("no_shape.npy", make_image("{'descr': '<f4', 'fortran_order': False}", kData6),
                  "no 'shape' key");
  expect_io_error("no_descr.npy", make_image("{'fortran_order': False, 'shape': (2, 3)}", kData6),
                  "no 'descr' key");
  expect_io_error("no_order.npy", make_image("{'descr': '<f4', 'shape': (2, 3)}", kData6),
                  "no 'fortran_order' key");
  expect_io_error("empty_dict.npy", make_image("{}", ""), "no 'descr' key");
}

TEST(NpyMalformed, DuplicateKey) {
  expect_io_error(
      "dup.npy",
      make_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (6,)}",
                 kData6),
      "duplicate key 'shape'");
  expect_io_error(
      "dup2.npy",
      make_image("{'descr': '<f4', \"descr\": '<f4', 'fortran_order': False, 'shape': (6,)}",
                 kData6),
      "duplicate key 'descr'");
}

TEST(NpyMalformed, UnknownKey) {
  expect_io_error(
      "unknown.npy",
      make_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", kData6),
      "unknown key 'x'");
}

TEST(NpyMalformed, GarbageDictSyntax) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not a dict at all", "starting with '{'"},
      {"", "header ends early"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", "expected ','"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", "expected ','"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "header ends early"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}}", "unexpected text"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3)}", "non-negative integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "must be a tuple"},
      {"{descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "quoted key"},
      {"{'de\\x73cr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "escape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),,}", "quoted key"},
      {"{'descr': '<f4', 'fortran_order': False,\0'shape': (2, 3)}"s, "quoted key"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].first);
    expect_io_error("garbage" + std::to_string(i) + ".npy", make_image(cases[i].first, kData6),
                    cases[i].second);
  }
}

TEST(NpyMalformed, BadShapeEntries) {
  expect_io_error("neg.npy", make_image(f4_dict("(-2, 3)"), kData6), "negative dimension");
  expect_io_error("neg2.npy", make_image(f4_dict("(2, -3)"), kData6), "negative dimension");
  expect_io_error("float.npy", make_image(f4_dict("(2.0, 3)"), kData6), "non-negative integers");
  expect_io_error("exp.npy", make_image(f4_dict("(2e0, 3)"), kData6), "non-negative integers");
  expect_io_error("name.npy", make_image(f4_dict("(n, 3)"), kData6), "non-negative integers");
  expect_io_error("str.npy", make_image(f4_dict("('2', 3)"), kData6), "non-negative integers");
  expect_io_error("huge_dim.npy", make_image(f4_dict("(99999999999999999999999,)"), kData6),
                  "does not fit in size_t");
  std::string many = "(";
  for (int i = 0; i < 65; ++i) many += "1, ";
  expect_io_error("many_dims.npy", make_image(f4_dict(many + ")"), raw(std::vector<float>{1})),
                  "more than 64 dimensions");
}

TEST(NpyMalformed, ShapeByteSizeOverflows) {
  // 2^62 * 4 elements overflow as a count; 2^62 float32 elements overflow as bytes.
  const std::string msg = expect_io_error(
      "overflow.npy", make_image(f4_dict("(4611686018427387904, 4)"), kData6), "overflows size_t");
  EXPECT_NE(msg.find("offset 60:"), std::string::npos) << msg;  // where the shape tuple starts
  expect_io_error("overflow_bytes.npy", make_image(f4_dict("(4611686018427387904,)"), kData6),
                  "overflows size_t");
  expect_io_error("overflow_3d.npy", make_image(f4_dict("(4294967296, 4294967296, 1)"), kData6),
                  "overflows size_t");
  // A zero dimension makes the array empty, however large the others are (as in NumPy).
  const std::string zero = make_image(f4_dict("(0, 4611686018427387904, 4)"), "");
  EXPECT_NO_THROW(
      parse_npy(reinterpret_cast<const unsigned char*>(zero.data()), zero.size(), "zero"));
}

TEST(NpyMalformed, EmptyAndTinyFiles) {
  expect_io_error("empty.npy", "", "empty");
  const std::string msg = expect_io_error("tiny.npy", std::string("\x93NUMPY\x01", 7), "too short");
  EXPECT_NE(msg.find("offset 7:"), std::string::npos) << msg;
  expect_io_error("tiny2.npy", std::string("\x93NUM", 4), "too short");
  expect_io_error("tiny3.npy", std::string("\x93NUMPY\x02\x00\x10\x00", 10), "too short");
}

TEST(NpyMalformed, MisalignedDataOffset) {
  // Only hand-made files can do this; data() would hand out a misaligned float pointer.
  std::string dict = f4_dict("(2, 3)");
  std::string image;
  do {
    dict += ' ';
    image = make_image(dict, kData6, 1, 2);
  } while ((image.size() - kData6.size()) % 4 != 2);
  expect_io_error("misaligned.npy", image, "not a multiple of the <f4 element size 4");
}

// ---------------------------------------------------------------------------------------------
// Fuzz: damaged images must be rejected with an Error (or happen to be valid), never crash or
// read outside the buffer. The buffer is a heap allocation of exactly the image's size, so ASan
// reports any over-read.

TEST(NpyFuzz, RandomDamageNeverCrashes) {
  const std::string valid = make_image(f4_dict("(2, 3)"), kData6);
  const std::size_t header_end = 10 + f4_dict("(2, 3)").size() + 2;
  const std::string tokens = "{}(),:'\" 0123456789-.LTrueFalse\n\\\x93\xff";
  std::mt19937 rng(2024);
  auto uniform = [&rng](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  int accepted = 0;
  int rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string image = valid;
    const std::size_t edits = 1 + uniform(4);
    for (std::size_t e = 0; e < edits; ++e) {
      switch (uniform(6)) {
        case 0:  // any byte, anywhere
          image[uniform(image.size())] = static_cast<char>(uniform(256));
          break;
        case 1:  // a syntax character inside the header, where the parser works hardest
        case 2:
          image[uniform(std::min(header_end, image.size()))] = tokens[uniform(tokens.size())];
          break;
        case 3:  // the version and header-length bytes
          image[6 + uniform(4)] = static_cast<char>(uniform(256));
          break;
        case 4:  // truncate
          image.resize(uniform(image.size() + 1));
          break;
        case 5:  // delete or insert a byte in the header
          if (!image.empty()) {
            const std::size_t at = uniform(std::min(header_end, image.size()));
            if (uniform(2) == 0) {
              image.erase(at, 1);
            } else {
              image.insert(at, 1, tokens[uniform(tokens.size())]);
            }
          }
          break;
      }
      if (image.empty()) break;
    }
    std::unique_ptr<unsigned char[]> buffer(image.empty() ? nullptr
                                                          : new unsigned char[image.size()]);
    if (!image.empty()) std::memcpy(buffer.get(), image.data(), image.size());
    try {
      NpyHeader h = parse_npy(buffer.get(), image.size(), "fuzz.npy");
      EXPECT_LE(h.data_offset, image.size());
      ++accepted;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      EXPECT_EQ(std::string(e.what()).rfind("fuzz.npy: offset ", 0), 0u) << e.what();
      ++rejected;
    }
  }
  EXPECT_EQ(accepted + rejected, 2000);
  EXPECT_GT(rejected, 1000);
}

// ---------------------------------------------------------------------------------------------
// Compatibility with NumPy itself, when python3 with numpy is installed.

bool have_numpy() {
  static const bool have = std::system("python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return have;
}

int run_python(const std::string& name, const std::string& script) {
  const std::string path = temp_path(name);
  std::ofstream(path) << script;
  return std::system(("python3 '" + path + "'").c_str());
}

TEST(NpyNumpy, NumpyReadsOurFiles) {
  if (!have_numpy()) GTEST_SKIP() << "python3 with numpy is not available";
  std::vector<float> f32(12);
  for (std::size_t i = 0; i < f32.size(); ++i) f32[i] = 0.25f * static_cast<float>(i) - 1.5f;
  const std::vector<std::uint16_t> f16 = {0x3c00, 0xc000, 0x3800, 0x7bff};
  const std::vector<double> f64 = {3.5, -1e300};
  const std::vector<std::int64_t> i64 = {-3, 1LL << 40};
  const std::vector<std::int32_t> i32 = {-7, 9};
  const std::vector<std::uint8_t> u8 = {0, 255};
  const std::vector<std::uint8_t> b1 = {1, 0};
  const double scalar = 4.25;
  write_npy(temp_path("np_f32.npy"), NpyType::kFloat32, {3, 4}, f32.data());
  write_npy(temp_path("np_f16.npy"), NpyType::kFloat16, {4}, f16.data());
  write_npy(temp_path("np_f64.npy"), NpyType::kFloat64, {2}, f64.data());
  write_npy(temp_path("np_i64.npy"), NpyType::kInt64, {2, 1}, i64.data());
  write_npy(temp_path("np_i32.npy"), NpyType::kInt32, {2}, i32.data());
  write_npy(temp_path("np_u8.npy"), NpyType::kUInt8, {2}, u8.data());
  write_npy(temp_path("np_b1.npy"), NpyType::kBool, {2}, b1.data());
  write_npy(temp_path("np_scalar.npy"), NpyType::kFloat64, {}, &scalar);
  write_npy(temp_path("np_empty.npy"), NpyType::kFloat32, {0, 3}, nullptr);

  std::ostringstream py;
  py << "import numpy as np, sys\n"
     << "d = '" << temp_dir() << "'\n"
     << "def check(name, expected, dtype):\n"
     << "    a = np.load(d + name, allow_pickle=False)\n"
     << "    e = np.array(expected, dtype=dtype)\n"
     << "    if a.dtype != e.dtype or a.shape != e.shape or not np.array_equal(a, e):\n"
     << "        print('mismatch in', name, a.dtype, a.shape, a, 'expected', e)\n"
     << "        sys.exit(1)\n"
     << "    with open(d + name, 'rb') as f:\n"
     << "        assert np.lib.format.read_magic(f) == (1, 0)\n"
     << "        f.seek(0, 0)\n"
     << "        np.lib.format.read_magic(f)\n"
     << "        np.lib.format.read_array_header_1_0(f)\n"
     << "        assert f.tell() % 64 == 0, f.tell()\n"
     << "check('np_f32.npy', (np.arange(12, dtype='f4') * 0.25 - 1.5).reshape(3, 4), '<f4')\n"
     << "check('np_f16.npy', [1, -2, 0.5, 65504], '<f2')\n"
     << "check('np_f64.npy', [3.5, -1e300], '<f8')\n"
     << "check('np_i64.npy', [[-3], [1 << 40]], '<i8')\n"
     << "check('np_i32.npy', [-7, 9], '<i4')\n"
     << "check('np_u8.npy', [0, 255], '|u1')\n"
     << "check('np_b1.npy', [True, False], '|b1')\n"
     << "check('np_scalar.npy', 4.25, '<f8')\n"
     << "check('np_empty.npy', np.zeros((0, 3)), '<f4')\n";
  EXPECT_EQ(run_python("read_ours.py", py.str()), 0);
}

TEST(NpyNumpy, WeReadNumpyFiles) {
  if (!have_numpy()) GTEST_SKIP() << "python3 with numpy is not available";
  std::ostringstream py;
  py << "import numpy as np\n"
     << "d = '" << temp_dir() << "'\n"
     << "np.save(d + 'py_f32.npy', (np.arange(12, dtype='<f4') * 0.25 - 1.5).reshape(3, 4))\n"
     << "np.save(d + 'py_f16.npy', np.array([1, -2, 0.5, 65504], dtype='<f2'))\n"
     << "np.save(d + 'py_f64.npy', np.array([3.5, -1e300]))\n"
     << "np.save(d + 'py_i64.npy', np.array([[-3], [1 << 40]], dtype='<i8'))\n"
     << "np.save(d + 'py_i32.npy', np.array([-7, 9], dtype='<i4'))\n"
     << "np.save(d + 'py_u8.npy', np.array([0, 255], dtype='u1'))\n"
     << "np.save(d + 'py_b1.npy', np.array([True, False]))\n"
     << "np.save(d + 'py_scalar.npy', np.float64(4.25))\n"
     << "np.save(d + 'py_empty.npy', np.zeros((0, 3), dtype='<f4'))\n"
     << "np.save(d + 'py_fortran.npy', np.asfortranarray(np.ones((2, 3), dtype='<f4')))\n"
     << "np.save(d + 'py_big.npy', np.ones(3, dtype='>f4'))\n"
     << "np.save(d + 'py_c8.npy', np.ones(3, dtype='<c8'))\n"
     << "for v in (2, 3):\n"
     << "    with open(d + 'py_v%d.npy' % v, 'wb') as f:\n"
     << "        np.lib.format.write_array(f, np.arange(5, dtype='<f4'), version=(v, 0))\n";
  ASSERT_EQ(run_python("write_theirs.py", py.str()), 0);

  auto doubles = [](const std::string& name) { return NpyFile(temp_path(name)).to_doubles(); };
  NpyFile f32(temp_path("py_f32.npy"));
  EXPECT_EQ(f32.type(), NpyType::kFloat32);
  EXPECT_EQ(f32.shape(), (std::vector<std::size_t>{3, 4}));
  std::vector<double> expected(12);
  for (std::size_t i = 0; i < 12; ++i) expected[i] = 0.25 * static_cast<double>(i) - 1.5;
  EXPECT_EQ(f32.to_doubles(), expected);
  EXPECT_EQ(NpyFile(temp_path("py_f16.npy")).update_dtype(), DType::kFloat16);
  EXPECT_EQ(doubles("py_f16.npy"), (std::vector<double>{1, -2, 0.5, 65504}));
  EXPECT_EQ(doubles("py_f64.npy"), (std::vector<double>{3.5, -1e300}));
  EXPECT_EQ(doubles("py_i64.npy"), (std::vector<double>{-3, 1099511627776.0}));
  EXPECT_EQ(NpyFile(temp_path("py_i64.npy")).shape(), (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(doubles("py_i32.npy"), (std::vector<double>{-7, 9}));
  EXPECT_EQ(doubles("py_u8.npy"), (std::vector<double>{0, 255}));
  EXPECT_EQ(NpyFile(temp_path("py_b1.npy")).type(), NpyType::kBool);
  EXPECT_EQ(doubles("py_b1.npy"), (std::vector<double>{1, 0}));
  EXPECT_TRUE(NpyFile(temp_path("py_scalar.npy")).shape().empty());
  EXPECT_EQ(doubles("py_scalar.npy"), std::vector<double>{4.25});
  EXPECT_EQ(NpyFile(temp_path("py_empty.npy")).shape(), (std::vector<std::size_t>{0, 3}));
  for (const char* name : {"py_v2.npy", "py_v3.npy"}) {
    EXPECT_EQ(doubles(name), (std::vector<double>{0, 1, 2, 3, 4})) << name;
  }
  const std::vector<std::pair<std::string, std::string>> rejected = {
      {"py_fortran.npy", "C order"}, {"py_big.npy", "big-endian"}, {"py_c8.npy", "'<c8'"}};
  for (const auto& [name, needle] : rejected) {
    try {
      NpyFile file(temp_path(name));
      ADD_FAILURE() << name << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace fedguard::io
