// The gzip IDX reader: valid files, and every malformed header or stream is an error that
// names the file and the offset.
#include "sim/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fedguard/error.h"

namespace fedguard::sim {
namespace {

std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "/fedguard_sim_" + info->name() + "_" + name;
}

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  gzclose(f);
}

std::vector<std::uint8_t> idx(std::uint8_t type, const std::vector<std::uint32_t>& dims,
                              std::size_t data_bytes) {
  std::vector<std::uint8_t> b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (const auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<std::uint8_t>(i % 7));
  return b;
}

// The error's message, or "" when none was thrown.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    return e.what();
  }
  return "";
}

TEST(Idx, ReadsImagesAndLabels) {
  const std::string images = temp_path("images.gz"), labels = temp_path("labels.gz");
  write_gz(images, idx(8, {3, 2, 4}, 24));
  auto lab = idx(8, {3}, 0);
  lab.insert(lab.end(), {9, 0, 4});
  write_gz(labels, lab);
  const Dataset d = read_idx_dataset(images, labels, 10);
  EXPECT_EQ(d.n, 3u);
  EXPECT_EQ(d.rows, 2u);
  EXPECT_EQ(d.cols, 4u);
  ASSERT_EQ(d.images.size(), 24u);
  EXPECT_EQ(d.images[8], 8 % 7);
  EXPECT_EQ(d.image(1)[0], 8 % 7);
  EXPECT_EQ(d.labels, (std::vector<std::uint8_t>{9, 0, 4}));
}

TEST(Idx, BadMagicNamesFileAndOffset) {
  auto b = idx(8, {2, 2, 2}, 8);
  b[1] = 1;
  const std::string msg = error_of([&] { parse_idx(b, 3, "imgs.gz"); });
  EXPECT_NE(msg.find("imgs.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic at offset 0"), std::string::npos) << msg;

  b = idx(0x0d, {2, 2, 2}, 32);  // float32 elements: not what the datasets use
  const std::string type_msg = error_of([&] { parse_idx(b, 3, "imgs.gz"); });
  EXPECT_NE(type_msg.find("offset 2"), std::string::npos) << type_msg;

  b = idx(8, {2, 4}, 8);  // 2-D where 3-D images are expected
  const std::string dims_msg = error_of([&] { parse_idx(b, 3, "imgs.gz"); });
  EXPECT_NE(dims_msg.find("2 dimensions at offset 3"), std::string::npos) << dims_msg;
}

TEST(Idx, TruncatedHeaderAndDataNameOffset) {
  auto b = idx(8, {2, 2, 2}, 8);
  b.resize(9);  // inside the dimensions
  std::string msg = error_of([&] { parse_idx(b, 3, "x.gz"); });
  EXPECT_NE(msg.find("x.gz: truncated IDX header at offset 9"), std::string::npos) << msg;

  b = idx(8, {2, 2, 2}, 5);  // 3 data bytes missing
  msg = error_of([&] { parse_idx(b, 3, "x.gz"); });
  EXPECT_NE(msg.find("x.gz: truncated IDX data at offset 21"), std::string::npos) << msg;
  EXPECT_NE(msg.find("from offset 16"), std::string::npos) << msg;

  b = idx(8, {2, 2, 2}, 9);  // one byte too many
  msg = error_of([&] { parse_idx(b, 3, "x.gz"); });
  EXPECT_NE(msg.find("at offset 24"), std::string::npos) << msg;

  b = idx(8, {2, 0, 2}, 0);
  msg = error_of([&] { parse_idx(b, 3, "x.gz"); });
  EXPECT_NE(msg.find("dimension 1 at offset 8 is 0"), std::string::npos) << msg;

  msg = error_of([&] { parse_idx({0, 0}, 3, "x.gz"); });
  EXPECT_NE(msg.find("offset 2"), std::string::npos) << msg;
}

TEST(Idx, TruncatedGzipStreamNamesFile) {
  const std::string full = temp_path("full.gz"), cut = temp_path("cut.gz");
  write_gz(full, idx(8, {50, 28, 28}, 50 * 28 * 28));
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string msg = error_of([&] { read_gzip_file(cut); });
  EXPECT_NE(msg.find(cut), std::string::npos) << msg;
  EXPECT_NE(msg.find("decompressed bytes"), std::string::npos) << msg;
}

TEST(Idx, MismatchedCountsAndBadLabels) {
  const std::string images = temp_path("images.gz"), labels = temp_path("labels.gz");
  write_gz(images, idx(8, {3, 2, 2}, 12));
  auto lab = idx(8, {2}, 0);
  lab.insert(lab.end(), {1, 2});
  write_gz(labels, lab);
  std::string msg = error_of([&] { read_idx_dataset(images, labels, 10); });
  EXPECT_NE(msg.find("holds 3 images but"), std::string::npos) << msg;

  lab = idx(8, {3}, 0);
  lab.insert(lab.end(), {1, 12, 2});
  write_gz(labels, lab);
  msg = error_of([&] { read_idx_dataset(images, labels, 10); });
  EXPECT_NE(msg.find("label 12 at offset 9"), std::string::npos) << msg;
}

TEST(Idx, MissingFilesNameTheDebianPackage) {
  const std::string msg = error_of([&] { load_fashion_mnist(temp_path("nowhere")); });
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fedguard::sim
