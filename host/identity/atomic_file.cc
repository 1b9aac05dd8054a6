#include "identity/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/regular_file.h"
#include "fedguard/error.h"

namespace fedguard::identity::detail {

void write_file_atomically(const std::string& path, const std::string& content) {
  expect_replaceable(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) FEDGUARD_THROW(kIo, tmp << ": cannot create (" << std::strerror(errno) << ")");
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      std::remove(tmp.c_str());
      FEDGUARD_THROW(kIo, tmp << ": write failed (" << std::strerror(e) << ")");
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, tmp << ": fsync/close failed (" << std::strerror(e) << ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot replace (" << std::strerror(e) << ")");
  }
  // The rename is durable only once the directory entry is: fsync the directory too.
  const std::size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace fedguard::identity::detail
