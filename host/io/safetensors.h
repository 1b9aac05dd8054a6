// safetensors files: a validating, memory-mapping reader and a writer.
// Format (https://huggingface.co/docs/safetensors): 8 bytes little-endian header length N,
// N bytes of JSON ({"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets"}}),
// then the data buffer; data_offsets are [begin, end) relative to the buffer's start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "fedguard/dtype.h"

namespace fedguard::io {

/// Element types the reader understands. Updates are F32, F16 or BF16; the integer and F64
/// types are read so that a file holding them gets a precise error, not a parse failure.
enum class SafeDType { kF32, kF16, kBF16, kF64, kI64, kI32, kU8, kBool };

std::size_t safe_dtype_size(SafeDType t);
const char* safe_dtype_name(SafeDType t);  // "F32", "F16", ...
/// The update dtype of F32 / F16 / BF16; false for the others.
bool to_update_dtype(SafeDType t, DType* out);
SafeDType from_update_dtype(DType t);

struct TensorInfo {
  std::string name;
  SafeDType dtype = SafeDType::kF32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0;  ///< offset of the first byte in the file (not in the buffer)
  std::size_t end = 0;    ///< one past the last byte in the file
  std::size_t element_count() const;
};

/// A parsed header: tensors sorted by name, metadata, and where the data buffer starts.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  std::size_t data_start = 0;  ///< 8 + header length
  /// The tensor of that name, or null.
  const TensorInfo* find(const std::string& name) const;
};

/// Parses and validates an in-memory safetensors image of size bytes: header length within
/// the file, UTF-8 JSON object, every entry's dtype / shape / offsets (shape product times the
/// element size equals end - begin, without overflow; offsets within the file; no two tensors
/// overlapping), metadata values strings. Throws fedguard::Error (kIo) naming `name` and the
/// byte offset of the problem. Used by SafetensorsFile and by the fuzz target.
SafetensorsHeader parse_safetensors(const unsigned char* bytes, std::size_t size,
                                    const std::string& name);

/// A read-only memory-mapped safetensors file, validated on open (see parse_safetensors).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  std::size_t file_size() const { return map_.size(); }
  /// The whole mapped file (TensorInfo offsets index into it).
  const unsigned char* bytes() const { return map_.data(); }
  /// First byte of a tensor's data (within the mapping).
  const void* data(const TensorInfo& t) const { return map_.data() + t.begin; }
  /// Tells the kernel the pages will be read soon / are no longer needed.
  void advise_sequential() const { map_.advise_sequential(); }
  void release_pages() const { map_.release_pages(); }

 private:
  std::string path_;
  MappedFile map_;  // movable, not copyable: so is SafetensorsFile
  SafetensorsHeader header_;
};

/// A tensor to write: its bytes are not copied.
struct TensorToWrite {
  std::string name;
  SafeDType dtype = SafeDType::kF32;
  std::vector<std::size_t> shape;
  const void* data = nullptr;
};

/// Writes a safetensors file to PATH.tmp and renames it over path. Tensors are laid out in
/// name order; the header is padded with spaces so that every tensor starts 8-byte aligned.
/// Throws kInvalidInput on duplicate names or null data, kIo on write failures.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace fedguard::io
