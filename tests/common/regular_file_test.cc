// Only regular files are opened, without blocking (host/common/regular_file.h).
#include "common/regular_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "fedguard/error.h"

namespace fedguard {
namespace {

std::string message_of(const std::string& path, std::uint64_t max = kMaxTextFileBytes) {
  try {
    (void)read_regular_file(path, max);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    return e.what();
  }
  return "";
}

TEST(RegularFile, ReadsARegularFile) {
  const std::string path = testing::TempDir() + "regular_file_test.txt";
  std::ofstream(path) << "hello";
  EXPECT_EQ(read_regular_file(path, 5), "hello");
  EXPECT_TRUE(path_exists(path));
  std::remove(path.c_str());
  EXPECT_FALSE(path_exists(path));
}

TEST(RegularFile, RefusesTooLargeBeforeReading) {
  const std::string path = testing::TempDir() + "regular_file_big.txt";
  std::ofstream(path) << "0123456789";
  EXPECT_NE(message_of(path, 9).find("10 bytes, more than the 9"), std::string::npos)
      << message_of(path, 9);
  std::remove(path.c_str());
}

// A FIFO with no writer: a blocking open would never return (the test would time out).
TEST(RegularFile, FifoIsAnErrorNotAHang) {
  const std::string path = testing::TempDir() + "regular_file_fifo";
  std::remove(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const std::string m = message_of(path);
  EXPECT_NE(m.find(path + ": not a regular file (a FIFO)"), std::string::npos) << m;
  std::remove(path.c_str());
}

TEST(RegularFile, DirectoryAndDevicesRefused) {
  EXPECT_NE(message_of(testing::TempDir()).find("(a directory)"), std::string::npos);
  EXPECT_NE(message_of("/dev/zero").find("/dev/zero: not a regular file (a character device)"),
            std::string::npos);
  EXPECT_NE(message_of("/nonexistent/x").find("cannot open"), std::string::npos);
}

// Atomic writers call expect_replaceable first: renaming over a FIFO or device replaced it
// (hostile probe: save_state("/dev/full") as root replaced the device node).
TEST(RegularFile, ExpectReplaceableRefusesWhatIsNotARegularFile) {
  const std::string dir = ::testing::TempDir() + "/replaceable";
  ::mkdir(dir.c_str(), 0700);
  const std::string fifo = dir + "/fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, dir, std::string("/dev/null")}) {
    try {
      expect_replaceable(path);
      ADD_FAILURE() << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      EXPECT_NE(std::string(e.what()).find(path + ": not a regular file"), std::string::npos)
          << e.what();
    }
  }
  const std::string file = dir + "/file";
  std::ofstream(file) << "x";
  EXPECT_NO_THROW(expect_replaceable(file));
  EXPECT_NO_THROW(expect_replaceable(dir + "/absent"));
}

}  // namespace
}  // namespace fedguard
