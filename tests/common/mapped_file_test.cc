// Read-only mappings of whole files (host/common/mapped_file.h): the one mapping helper of the
// .npy and safetensors readers and the update log's prefetch.
#include "common/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>

#include "fedguard/error.h"

// AddressSanitizer reserves terabytes of address space for its shadow memory and does not
// support an RLIMIT_AS cap, so the mmap-failure test is skipped under it.
#if defined(__SANITIZE_ADDRESS__)
#define FEDGUARD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FEDGUARD_TEST_ASAN 1
#endif
#endif

namespace fedguard {
namespace {

std::string message_of(const std::string& path) {
  try {
    const MappedFile map(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kIo);
    return e.what();
  }
  return "";
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(MappedFile, MapsARegularFile) {
  const std::string path = write_file("mapped_file_regular.bin", std::string("abc\0def", 7));
  for (const auto populate : {MappedFile::Populate::kNo, MappedFile::Populate::kYes}) {
    const MappedFile map(path, populate);
    ASSERT_EQ(map.size(), 7u);
    EXPECT_FALSE(map.empty());
    ASSERT_NE(map.data(), nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(map.data()), map.size()),
              std::string("abc\0def", 7));
    map.advise_sequential();
    map.release_pages();
    // A private read-only mapping: the pages stay readable after the advice.
    EXPECT_EQ(map.data()[4], 'd');
  }
  std::remove(path.c_str());
}

TEST(MappedFile, EmptyFileGivesAnEmptyMapping) {
  const std::string path = write_file("mapped_file_empty.bin", "");
  const MappedFile map(path);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.data(), nullptr);
  map.advise_sequential();  // no-ops on an empty mapping
  map.release_pages();
  std::remove(path.c_str());
}

// A FIFO with no writer: a blocking open would never return (the test would time out).
TEST(MappedFile, FifoRefusedAtOnce) {
  const std::string path = testing::TempDir() + "mapped_file_fifo";
  std::remove(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  const std::string m = message_of(path);
  EXPECT_NE(m.find(path + ": not a regular file (a FIFO)"), std::string::npos) << m;
  std::remove(path.c_str());
}

TEST(MappedFile, DirectoryDeviceAndMissingRefused) {
  std::string m = message_of(testing::TempDir());
  EXPECT_NE(m.find("not a regular file (a directory)"), std::string::npos) << m;
  m = message_of("/dev/zero");
  EXPECT_NE(m.find("/dev/zero: not a regular file (a character device)"), std::string::npos) << m;
  m = message_of("/nonexistent/mapped");
  EXPECT_NE(m.find("/nonexistent/mapped: cannot open for reading"), std::string::npos) << m;
}

// In a death-test child: cap the address space just above what the process uses, map path, exit
// 0 when the error message is `expected` (3: could not cap, 4: another message or none).
[[noreturn]] void map_with_capped_address_space(const std::string& path,
                                                const std::string& expected) {
  long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) +
                       (rlim_t{64} << 20);
  rlimit cap{};
  cap.rlim_cur = limit;
  cap.rlim_max = limit;
  if (pages == 0 || ::setrlimit(RLIMIT_AS, &cap) != 0) std::_Exit(3);
  std::_Exit(message_of(path) == expected ? 0 : 4);
}

// The mmap failure message, "<path>: cannot mmap N bytes: <strerror>": in a child process whose
// address space is capped just above what it uses, a 1 GiB (sparse) file cannot be mapped.
TEST(MappedFile, MmapFailureNamesPathAndSize) {
#ifdef FEDGUARD_TEST_ASAN
  GTEST_SKIP() << "an address-space cap does not work under AddressSanitizer";
#endif
  const std::string path = testing::TempDir() + "mapped_file_sparse.bin";
  { std::ofstream(path, std::ios::binary); }
  const std::size_t size = std::size_t{1} << 30;
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0) << std::strerror(errno);
  const std::string expected =
      path + ": cannot mmap " + std::to_string(size) + " bytes: " + std::strerror(ENOMEM);
  EXPECT_EXIT(map_with_capped_address_space(path, expected), testing::ExitedWithCode(0), "");
  std::remove(path.c_str());
}

TEST(MappedFile, MovesOwnershipAndUnmapsOnce) {
  const std::string a_path = write_file("mapped_file_a.bin", "first");
  const std::string b_path = write_file("mapped_file_b.bin", "second!");
  MappedFile a(a_path);
  const unsigned char* a_data = a.data();
  MappedFile moved(std::move(a));
  EXPECT_EQ(moved.data(), a_data);
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(a.data(),
            nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.size(), 0u);

  MappedFile b(b_path);
  const unsigned char* b_data = b.data();
  moved = std::move(b);  // unmaps "first", takes "second!"
  EXPECT_EQ(moved.data(), b_data);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(moved.data()), moved.size()), "second!");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)

  MappedFile& self = moved;
  moved = std::move(self);  // self-move keeps the mapping
  EXPECT_EQ(moved.data(), b_data);
  EXPECT_EQ(moved.size(), 7u);

  MappedFile empty;
  EXPECT_TRUE(empty.empty());
  empty = std::move(moved);
  EXPECT_EQ(empty.size(), 7u);
  std::remove(a_path.c_str());
  std::remove(b_path.c_str());
}

static_assert(!std::is_copy_constructible_v<MappedFile> && !std::is_copy_assignable_v<MappedFile>);
static_assert(std::is_nothrow_move_constructible_v<MappedFile> &&
              std::is_nothrow_move_assignable_v<MappedFile>);

}  // namespace
}  // namespace fedguard
