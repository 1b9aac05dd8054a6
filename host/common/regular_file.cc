#include "common/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fedguard/error.h"

namespace fedguard {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

RegularFile::RegularFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) FEDGUARD_THROW(kIo, path << ": cannot open for reading: " << std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    FEDGUARD_THROW(kIo, path << ": cannot stat: " << std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    FEDGUARD_THROW(kIo, path << ": not a regular file (" << kind_of(st.st_mode) << ")");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RegularFile::read_at(std::uint64_t offset, void* out, std::size_t count) const {
  auto* p = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < count) {
    const ssize_t got = ::pread(fd_, p + done, count - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      FEDGUARD_THROW(
          kIo, path_ << ": offset " << offset + done << ": read failed: " << std::strerror(errno));
    if (got == 0)
      FEDGUARD_THROW(kIo, path_ << ": offset " << offset + done << ": file ended early ("
                                << count - done
                                << " bytes missing; did it change while being read?)");
    done += static_cast<std::size_t>(got);
  }
}

std::string read_regular_file(const std::string& path, std::uint64_t max_bytes) {
  const RegularFile f(path);
  if (f.size() > max_bytes)
    FEDGUARD_THROW(kIo, path << ": " << f.size() << " bytes, more than the " << max_bytes
                             << " this reader accepts");
  std::string out(static_cast<std::size_t>(f.size()), '\0');
  f.read_at(0, out.data(), out.size());
  return out;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace fedguard
