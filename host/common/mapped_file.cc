#include "common/mapped_file.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/regular_file.h"
#include "fedguard/error.h"

namespace fedguard {

MappedFile::MappedFile(const std::string& path, Populate populate) {
  // O_NONBLOCK open and a regular-file check: a FIFO or device fails here, at once.
  const RegularFile file(path);
  const auto size = static_cast<std::size_t>(file.size());
  if (size == 0) return;  // mmap rejects a zero length
  const int flags = MAP_PRIVATE | (populate == Populate::kYes ? MAP_POPULATE : 0);
  void* map = ::mmap(nullptr, size, PROT_READ, flags, file.fd(), 0);
  if (map == MAP_FAILED) {
    const int err = errno;
    FEDGUARD_THROW(kIo, path << ": cannot mmap " << size << " bytes: " << std::strerror(err));
  }
  data_ = static_cast<const unsigned char*>(map);
  size_ = size;
  // The descriptor closes with `file`; the mapping stays valid without it.
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

void MappedFile::advise_sequential() const {
  if (data_ != nullptr) ::madvise(const_cast<unsigned char*>(data_), size_, MADV_SEQUENTIAL);
}

void MappedFile::release_pages() const {
  if (data_ != nullptr) ::madvise(const_cast<unsigned char*>(data_), size_, MADV_DONTNEED);
}

}  // namespace fedguard
