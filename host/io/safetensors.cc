#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "common/json_parse.h"
#include "fedguard/error.h"
#include "io/printable.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors.cc assumes a little-endian host");
#endif

namespace fedguard::io {
namespace {

// The reference implementation refuses headers above 100 MB; so do we (it also bounds what a
// hostile length field can make us parse).
constexpr std::uint64_t kMaxHeader = 100u * 1000u * 1000u;
// JSON nesting deeper than this is never a valid header (the deepest valid value is
// {"t": {"shape": [..]}}, depth 3); refusing it early keeps the parser's work bounded.
constexpr int kMaxDepth = 16;
constexpr std::size_t kMaxDims = 64;
constexpr std::size_t kWriteAlign = 8;

struct TypeInfo {
  SafeDType type;
  const char* name;
  std::size_t size;
};
constexpr TypeInfo kTypes[] = {
    {SafeDType::kF32, "F32", 4}, {SafeDType::kF16, "F16", 2},   {SafeDType::kBF16, "BF16", 2},
    {SafeDType::kF64, "F64", 8}, {SafeDType::kI64, "I64", 8},   {SafeDType::kI32, "I32", 4},
    {SafeDType::kU8, "U8", 1},   {SafeDType::kBool, "BOOL", 1},
};

const TypeInfo& type_info(SafeDType t) {
  for (const TypeInfo& info : kTypes)
    if (info.type == t) return info;
  FEDGUARD_THROW(kInvalidInput, "unknown SafeDType " << static_cast<int>(t));
}

template <typename... Args>
[[noreturn]] void fail(const std::string& name, std::size_t offset, const Args&... args) {
  std::ostringstream what;
  (what << ... << args);
  FEDGUARD_THROW(kIo, name << ": offset " << offset << ": " << what.str());
}

bool get_size(const nlohmann::json& v, std::size_t* out) {
  if (!v.is_number_unsigned()) return false;
  const auto value = v.get<std::uint64_t>();
  if (value > std::numeric_limits<std::size_t>::max()) return false;
  *out = static_cast<std::size_t>(value);
  return true;
}

}  // namespace

std::size_t safe_dtype_size(SafeDType t) { return type_info(t).size; }
const char* safe_dtype_name(SafeDType t) { return type_info(t).name; }

bool to_update_dtype(SafeDType t, DType* out) {
  switch (t) {
    case SafeDType::kF32:
      *out = DType::kFloat32;
      return true;
    case SafeDType::kF16:
      *out = DType::kFloat16;
      return true;
    case SafeDType::kBF16:
      *out = DType::kBFloat16;
      return true;
    default:
      return false;
  }
}

SafeDType from_update_dtype(DType t) {
  switch (t) {
    case DType::kFloat16:
      return SafeDType::kF16;
    case DType::kBFloat16:
      return SafeDType::kBF16;
    default:
      return SafeDType::kF32;
  }
}

std::size_t TensorInfo::element_count() const {
  std::size_t count = 1;
  for (std::size_t dim : shape) count *= dim;  // checked by the parser
  return count;
}

const TensorInfo* SafetensorsHeader::find(const std::string& name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

SafetensorsHeader parse_safetensors(const unsigned char* bytes, std::size_t size,
                                    const std::string& name) {
  if (size < 8) fail(name, size, "file too short (", size, " bytes) for the 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  if (header_len > kMaxHeader) {
    fail(name, 0, "header length ", header_len, " exceeds the limit of ", kMaxHeader, " bytes");
  }
  if (header_len > size - 8) {
    fail(name, 0, "header length ", header_len, " runs past the end of the file (size ", size, ")");
  }
  if (header_len < 2) fail(name, 8, "header of ", header_len, " bytes cannot hold a JSON object");
  const unsigned char* text = bytes + 8;
  const std::size_t text_len = static_cast<std::size_t>(header_len);
  if (text[0] != '{') fail(name, 8, "the header must be a JSON object starting with '{'");
  nlohmann::json header;
  try {
    header = parse_json(std::string_view(reinterpret_cast<const char*>(text), text_len), kMaxDepth);
  } catch (const JsonError& e) {  // syntax, nesting, duplicate keys, NUL bytes, huge numbers
    fail(name, 8 + e.offset(), "the header's JSON: ", e.reason());
  }
  if (!header.is_object()) fail(name, 8, "the header must be a JSON object");

  SafetensorsHeader out;
  out.data_start = 8 + text_len;
  const std::size_t buffer = size - out.data_start;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(name, 8, "'__metadata__' must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          fail(name, 8, "'__metadata__' value of '", printable(mk), "' is not a string");
        }
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string shown = printable(key);
    if (!value.is_object()) fail(name, 8, "tensor '", shown, "': entry must be an object");
    for (const auto& [field, ignored] : value.items()) {
      (void)ignored;
      if (field != "dtype" && field != "shape" && field != "data_offsets") {
        fail(name, 8, "tensor '", shown, "': unknown field '", printable(field), "'");
      }
    }
    TensorInfo t;
    t.name = key;
    const auto dt = value.find("dtype");
    if (dt == value.end() || !dt->is_string())
      fail(name, 8, "tensor '", shown, "': missing or non-string 'dtype'");
    const std::string dtype = dt->get<std::string>();
    const TypeInfo* info = nullptr;
    for (const TypeInfo& candidate : kTypes)
      if (dtype == candidate.name) info = &candidate;
    if (info == nullptr) {
      fail(name, 8, "tensor '", shown, "': unsupported dtype '", printable(dtype),
           "' (supported: F32, F16, BF16, F64, I64, I32, U8, BOOL)");
    }
    t.dtype = info->type;
    const auto sh = value.find("shape");
    if (sh == value.end() || !sh->is_array())
      fail(name, 8, "tensor '", shown, "': missing or non-array 'shape'");
    if (sh->size() > kMaxDims)
      fail(name, 8, "tensor '", shown, "': more than ", kMaxDims, " dimensions");
    std::size_t count = 1;
    bool overflow = false;
    for (const auto& dim : *sh) {
      std::size_t v = 0;
      if (!get_size(dim, &v))
        fail(name, 8, "tensor '", shown, "': shape entries must be non-negative integers");
      t.shape.push_back(v);
    }
    if (std::find(t.shape.begin(), t.shape.end(), std::size_t{0}) != t.shape.end()) {
      count = 0;
    } else {
      for (std::size_t v : t.shape) {
        if (count > std::numeric_limits<std::size_t>::max() / v) overflow = true;
        if (!overflow) count *= v;
      }
    }
    if (overflow || count > std::numeric_limits<std::size_t>::max() / info->size) {
      fail(name, 8, "tensor '", shown, "': shape has a byte size that overflows size_t");
    }
    const auto off = value.find("data_offsets");
    std::size_t begin = 0, end = 0;
    if (off == value.end() || !off->is_array() || off->size() != 2 ||
        !get_size((*off)[0], &begin) || !get_size((*off)[1], &end)) {
      fail(name, 8, "tensor '", shown,
           "': 'data_offsets' must be [begin, end] of non-negative integers");
    }
    if (begin > end)
      fail(name, 8, "tensor '", shown, "': data_offsets begin ", begin, " > end ", end);
    if (end > buffer) {
      fail(name, out.data_start + std::min(begin, buffer), "tensor '", shown, "': data [", begin,
           ", ", end, ") runs past the end of the data buffer (", buffer, " bytes; file size ",
           size, ")");
    }
    if (end - begin != count * info->size) {
      fail(name, out.data_start + begin, "tensor '", shown, "': data_offsets span ", end - begin,
           " bytes but the shape needs ", count * info->size);
    }
    t.begin = out.data_start + begin;
    t.end = out.data_start + end;
    out.tensors.push_back(std::move(t));
  }
  // The buffer must be exactly covered: no overlaps, no holes, no trailing bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : out.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::size_t cursor = out.data_start;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (t->begin < cursor) {
      fail(name, t->begin, "tensor '", printable(t->name), "' overlaps tensor '",
           printable(previous->name), "'");
    }
    if (t->begin > cursor) {
      fail(name, cursor, "hole of ", t->begin - cursor, " bytes in the data buffer before tensor '",
           printable(t->name), "'");
    }
    cursor = t->end;
    if (t->end > t->begin) previous = t;
  }
  if (cursor != size)
    fail(name, cursor, size - cursor, " bytes after the last tensor (file size ", size, ")");
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), map_(path), header_(parse_safetensors(map_.data(), map_.size(), path_)) {}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  order.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<std::size_t> sizes;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const TensorToWrite& t = *order[i];
    FEDGUARD_EXPECTS(!t.name.empty() && t.name != "__metadata__",
                     path << ": invalid tensor name '" << t.name << "'");
    FEDGUARD_EXPECTS(i == 0 || order[i - 1]->name != t.name,
                     path << ": duplicate tensor name '" << t.name << "'");
    std::size_t bytes = safe_dtype_size(t.dtype);
    for (std::size_t dim : t.shape) {
      FEDGUARD_EXPECTS(dim == 0 || bytes <= std::numeric_limits<std::size_t>::max() / dim,
                       path << ": tensor '" << t.name << "' is too large");
      bytes *= dim;
    }
    FEDGUARD_EXPECTS(bytes == 0 || t.data != nullptr,
                     path << ": tensor '" << t.name << "' has null data");
    header[t.name] = {{"dtype", safe_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    sizes.push_back(bytes);
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces (allowed by the format) so the buffer, and F32 tensors in it, are aligned.
  text.append((kWriteAlign - (8 + text.size()) % kWriteAlign) % kWriteAlign, ' ');
  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr)
    FEDGUARD_THROW(kIo, tmp << ": cannot open for writing: " << std::strerror(errno));
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] =
        static_cast<unsigned char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xff);
  bool ok = std::fwrite(len, 1, 8, file) == 8 &&
            std::fwrite(text.data(), 1, text.size(), file) == text.size();
  for (std::size_t i = 0; ok && i < order.size(); ++i) {
    if (sizes[i] > 0) ok = std::fwrite(order[i]->data, 1, sizes[i], file) == sizes[i];
  }
  int err = ok ? 0 : errno;
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, tmp << ": cannot write " << 8 + text.size() + offset
                            << " bytes: " << std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot rename " << tmp << " over it: " << std::strerror(err));
  }
}

}  // namespace fedguard::io
