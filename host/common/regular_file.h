// Opening the files fedguard reads. Only regular files: a FIFO would block the open (and every
// read) forever, a directory "reads" as an error deep in a parser, /dev/zero never ends. The
// open uses O_NONBLOCK so that even a FIFO with no writer returns at once, then fstat decides;
// sizes are known before anything is read.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "fedguard/error.h"

namespace fedguard {

/// A read-only descriptor of a regular file and its size; closes on destruction.
class RegularFile {
 public:
  /// Throws fedguard::Error (kIo) naming the path: cannot open, or not a regular file (saying
  /// what it is: a directory, a FIFO, a device, ...).
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  /// Reads exactly count bytes at offset (throws kIo naming the path and offset otherwise).
  void read_at(std::uint64_t offset, void* out, std::size_t count) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// The whole content of a regular file of at most max_bytes (larger: kIo naming the path and
/// both sizes, before reading anything).
std::string read_regular_file(const std::string& path, std::uint64_t max_bytes);

/// Largest text file (configs, manifests, id lists, parameters) fedguard reads: 64 MiB.
constexpr std::uint64_t kMaxTextFileBytes = 64ull << 20;

/// True when path names a regular file, a FIFO or a device, or anything else that exists
/// (without opening it); false when nothing is there.
bool path_exists(const std::string& path);

/// Before an atomic write renames a new file over `path`: kIo when something other than a
/// regular file (or a symbolic link) is there. Renaming over a device node or a FIFO replaces
/// it (found by the hostile probe: save_state("/dev/full") as root replaced the device).
inline void expect_replaceable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there (or not reachable: the write says)
  if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return;
  const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "not a regular file";
  FEDGUARD_THROW(kIo, path << ": not a regular file (" << what << "): refusing to replace it");
}

}  // namespace fedguard
