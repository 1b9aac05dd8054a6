// NumPy .npy files: a validating, memory-mapping reader and a small writer.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "fedguard/dtype.h"

namespace fedguard::io {

/// Element types the reader understands ('<f4', '<f2', '<f8', '<i8', '<i4', '|u1', '|b1').
enum class NpyType { kFloat32, kFloat16, kFloat64, kInt64, kInt32, kUInt8, kBool };

std::size_t npy_type_size(NpyType t);
const char* npy_type_name(NpyType t);  // the descr string, e.g. "<f4"

/// A read-only memory-mapped .npy file. Everything in the header is validated against the
/// file (magic, version, header length, dict syntax, dtype, fortran_order, shape, exact file
/// size, arithmetic overflow); any failure throws fedguard::Error (kIo) naming the file and
/// the byte offset of the problem. The data are never copied.
class NpyFile {
 public:
  explicit NpyFile(const std::string& path);

  const std::string& path() const { return path_; }
  NpyType type() const { return type_; }
  const std::vector<std::size_t>& shape() const { return shape_; }
  std::size_t element_count() const;
  /// Offset of the first data byte in the file.
  std::size_t data_offset() const { return data_offset_; }
  const void* data() const;

  /// The update dtype of a float32 / float16 file; throws (kIo, naming the file) otherwise.
  DType update_dtype() const;
  /// The values as float64 (any numeric type); a copy, for small arrays such as num_samples.
  std::vector<double> to_doubles() const;

 private:
  std::string path_;
  NpyType type_ = NpyType::kFloat32;
  std::vector<std::size_t> shape_;
  std::size_t data_offset_ = 0;
  MappedFile map_;  // movable, not copyable: so is NpyFile
};

/// Parses an in-memory .npy image of size bytes (what NpyFile does after mapping); used by
/// NpyFile and by fuzz/unit tests. name is used in error messages.
struct NpyHeader {
  NpyType type;
  std::vector<std::size_t> shape;
  std::size_t data_offset;
};
NpyHeader parse_npy(const unsigned char* bytes, std::size_t size, const std::string& name);

/// Writes a C-order array. Throws kIo on failure (naming the file).
void write_npy(const std::string& path, NpyType type, const std::vector<std::size_t>& shape,
               const void* data);

}  // namespace fedguard::io
