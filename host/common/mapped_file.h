// A whole file mapped read-only into memory: the one place fedguard maps files (the .npy and
// safetensors readers, the update log's prefetch). It opens through RegularFile, so a FIFO, a
// device or a directory is refused at once with the same message as every other reader.
#pragma once

#include <cstddef>
#include <string>

namespace fedguard {

/// A read-only, private mapping of a regular file, unmapped on destruction. A zero-length file
/// gives an empty mapping (data() null, size() 0): mmap refuses a zero length, and the readers
/// report an empty file in their own words. The descriptor is closed once the file is mapped
/// (the mapping keeps the pages reachable). Movable, not copyable.
class MappedFile {
 public:
  /// Whether to read the whole file into the page cache while mapping (MAP_POPULATE).
  enum class Populate { kNo, kYes };

  MappedFile() = default;
  /// Throws fedguard::Error (kIo) naming the path: whatever RegularFile throws (cannot open, not
  /// a regular file), or "<path>: cannot mmap N bytes: <strerror>".
  explicit MappedFile(const std::string& path, Populate populate = Populate::kNo);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Tells the kernel the pages will be read in order / are no longer needed (no-ops when empty).
  void advise_sequential() const;
  void release_pages() const;

 private:
  void unmap() noexcept;

  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fedguard
