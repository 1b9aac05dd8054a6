#include "io/npy.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>

#include "fedguard/error.h"
#include "io/printable.h"

// The data are handed out as raw little-endian memory; a big-endian host would need byte swaps.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.cc assumes a little-endian host");
#endif

namespace fedguard::io {
namespace {

constexpr unsigned char kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kMagicSize = sizeof(kMagic);
// Magic, two version bytes, and the shortest (version 1) header-length field.
constexpr std::size_t kMinPreamble = kMagicSize + 2 + 2;
// NumPy 2 allows 64 dimensions (NumPy 1: 32). The cap also bounds the memory a hostile header
// can make us allocate for the shape.
constexpr std::size_t kMaxDims = 64;
// The writer aligns data to 64 bytes, as NumPy >= 1.14 does, so mapped data suit vector loads.
constexpr std::size_t kWriteAlign = 64;

struct TypeInfo {
  NpyType type;
  const char* descr;
  std::size_t size;
};

constexpr TypeInfo kTypes[] = {
    {NpyType::kFloat32, "<f4", 4}, {NpyType::kFloat16, "<f2", 2}, {NpyType::kFloat64, "<f8", 8},
    {NpyType::kInt64, "<i8", 8},   {NpyType::kInt32, "<i4", 4},   {NpyType::kUInt8, "|u1", 1},
    {NpyType::kBool, "|b1", 1},
};

const TypeInfo& type_info(NpyType t) {
  for (const TypeInfo& info : kTypes) {
    if (info.type == t) return info;
  }
  FEDGUARD_THROW(kInvalidInput, "unknown NpyType " << static_cast<int>(t));
}

std::string shape_string(const std::vector<std::size_t>& shape) {
  std::ostringstream out;
  out << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out << ", ";
    out << shape[i];
  }
  // A one-element Python tuple needs the trailing comma; "(5)" would be the integer 5.
  if (shape.size() == 1) out << ',';
  out << ')';
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(const std::string& name, std::size_t offset, const Args&... args) {
  std::ostringstream what;
  (what << ... << args);
  FEDGUARD_THROW(kIo, name << ": offset " << offset << ": " << what.str());
}

// Product of the dimensions, or false on size_t overflow. A zero dimension makes the array
// empty however large the others are, as in NumPy.
bool checked_count(const std::vector<std::size_t>& shape, std::size_t* count) {
  for (std::size_t dim : shape) {
    if (dim == 0) {
      *count = 0;
      return true;
    }
  }
  std::size_t n = 1;
  for (std::size_t dim : shape) {
    if (n > std::numeric_limits<std::size_t>::max() / dim) return false;
    n *= dim;
  }
  *count = n;
  return true;
}

// A recursive-descent parser for the one dict literal NumPy writes:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// It accepts the Python syntax NumPy's reader (ast.literal_eval) would for such a dict (any key
// order, either quote, optional trailing commas, whitespace anywhere between tokens) and nothing
// else. Positions are reported as file offsets.
class HeaderParser {
 public:
  HeaderParser(const unsigned char* text, std::size_t size, std::size_t base,
               const std::string& name)
      : text_(text), size_(size), base_(base), name_(name) {}

  // The parsed values, with the file offset of each one for later error messages.
  struct Result {
    std::string descr;
    std::size_t descr_at = 0;
    bool fortran_order = false;
    std::size_t fortran_at = 0;
    std::vector<std::size_t> shape;
    std::size_t shape_at = 0;
  };

  Result parse() {
    Result r;
    skip_space();
    expect('{', "the header must be a Python dict literal starting with '{'");
    bool seen_descr = false;
    bool seen_fortran = false;
    bool seen_shape = false;
    skip_space();
    while (peek() != '}') {
      const std::size_t key_at = pos_;
      if (peek() != '\'' && peek() != '"') fail_here("expected a quoted key or '}'");
      const std::string key = parse_string();
      skip_space();
      expect(':', "expected ':' after the key");
      skip_space();
      if (key == "descr") {
        if (seen_descr) fail_at(key_at, "duplicate key 'descr'");
        seen_descr = true;
        r.descr_at = offset(pos_);
        // Structured dtypes are lists of fields; they (and anything else) are not supported.
        if (peek() != '\'' && peek() != '"') {
          fail_here(
              "'descr' must be a string naming a simple dtype (structured dtypes are not "
              "supported)");
        }
        r.descr = parse_string();
      } else if (key == "fortran_order") {
        if (seen_fortran) fail_at(key_at, "duplicate key 'fortran_order'");
        seen_fortran = true;
        r.fortran_at = offset(pos_);
        r.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (seen_shape) fail_at(key_at, "duplicate key 'shape'");
        seen_shape = true;
        r.shape_at = offset(pos_);
        r.shape = parse_shape();
      } else {
        fail_at(key_at, "unknown key '", printable(key, 40),
                "' in the header (expected 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail_here("expected ',' or '}' after the value of '", printable(key, 40), "'");
      }
    }
    const std::size_t close_at = pos_;
    ++pos_;
    // NumPy pads with spaces and ends with '\n'; NumPy's own reader accepts any whitespace.
    skip_space();
    if (pos_ != size_) fail_here("unexpected text after the header dict");
    if (!seen_descr) fail_at(close_at, "the header has no 'descr' key");
    if (!seen_fortran) fail_at(close_at, "the header has no 'fortran_order' key");
    if (!seen_shape) fail_at(close_at, "the header has no 'shape' key");
    return r;
  }

 private:
  // 0 doubles as end-of-header: a NUL is never valid where peek() is consulted.
  int peek() const { return pos_ < size_ ? text_[pos_] : 0; }
  std::size_t offset(std::size_t pos) const { return base_ + pos; }

  template <typename... Args>
  [[noreturn]] void fail_at(std::size_t pos, const Args&... args) const {
    fail(name_, offset(pos), args...);
  }
  template <typename... Args>
  [[noreturn]] void fail_here(const Args&... args) const {
    if (pos_ >= size_) fail_at(pos_, "header ends early: ", args...);
    fail_at(pos_, args...);
  }

  void skip_space() {
    while (pos_ < size_ && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c, const char* what) {
    if (peek() != static_cast<unsigned char>(c)) fail_here(what);
    ++pos_;
  }

  // Only the plain strings NumPy writes: no escapes, no prefixes, no line breaks.
  std::string parse_string() {
    const std::size_t start = pos_;
    const unsigned char quote = text_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= size_ || text_[pos_] == '\n' || text_[pos_] == '\r') {
        fail_at(start, "unterminated string in the header");
      }
      const unsigned char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\\') fail_at(pos_ - 1, "escape sequences are not supported in header strings");
      value += static_cast<char>(c);
    }
    return value;
  }

  bool parse_bool() {
    const std::size_t start = pos_;
    std::string word;
    while (pos_ < size_ && (std::isalnum(text_[pos_]) || text_[pos_] == '_')) {
      word += static_cast<char>(text_[pos_++]);
    }
    if (word == "True") return true;
    if (word == "False") return false;
    pos_ = start;
    fail_here("'fortran_order' must be True or False");
  }

  std::vector<std::size_t> parse_shape() {
    expect('(', "'shape' must be a tuple such as (3, 4), (5,) or ()");
    std::vector<std::size_t> shape;
    skip_space();
    bool trailing_comma = false;
    while (peek() != ')') {
      if (shape.size() == kMaxDims) {
        fail_here("'shape' has more than ", kMaxDims, " dimensions");
      }
      shape.push_back(parse_dim());
      skip_space();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        skip_space();
      } else if (peek() != ')') {
        fail_here("expected ',' or ')' in 'shape'");
      }
    }
    // "(5)" is the integer 5 in Python, not a tuple; NumPy's reader rejects it too.
    if (shape.size() == 1 && !trailing_comma) {
      fail_here("'shape' must be a tuple: write (", shape[0], ",) for one dimension");
    }
    ++pos_;
    return shape;
  }

  std::size_t parse_dim() {
    const std::size_t start = pos_;
    if (peek() == '-') fail_here("negative dimension in 'shape'");
    if (!std::isdigit(peek())) fail_here("'shape' entries must be non-negative integers");
    std::size_t value = 0;
    while (std::isdigit(peek())) {
      const std::size_t digit = static_cast<std::size_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
        fail_at(start, "dimension in 'shape' does not fit in size_t");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    // Python 2 NumPy wrote longs as "3L"; NumPy still reads such files.
    if (peek() == 'L') ++pos_;
    // Rejects floats ("3.0"), exponents and identifiers glued to the number.
    if (std::isalnum(peek()) || peek() == '.' || peek() == '_') {
      fail_here("'shape' entries must be non-negative integers");
    }
    return value;
  }

  const unsigned char* text_;
  std::size_t size_;
  std::size_t base_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

}  // namespace

std::size_t npy_type_size(NpyType t) { return type_info(t).size; }
const char* npy_type_name(NpyType t) { return type_info(t).descr; }

NpyHeader parse_npy(const unsigned char* bytes, std::size_t size, const std::string& name) {
  if (size == 0) fail(name, 0, "the file is empty (not a .npy file)");
  for (std::size_t i = 0; i < kMagicSize; ++i) {
    if (i >= size) fail(name, i, "file too short (", size, " bytes) for the .npy magic");
    if (bytes[i] != kMagic[i]) {
      fail(name, i, "bad magic: not a .npy file (expected \\x93NUMPY)");
    }
  }
  if (size < kMinPreamble) {
    fail(name, size, "file too short (", size, " bytes) for a .npy preamble (needs at least ",
         kMinPreamble, ")");
  }
  const unsigned major = bytes[6];
  const unsigned minor = bytes[7];
  if (major < 1 || major > 3 || minor != 0) {
    fail(name, 6, "unsupported .npy format version ", major, ".", minor,
         " (supported: 1.0, 2.0, 3.0)");
  }
  // Version 1 has a 2-byte header length; 2 and 3 (3 = UTF-8 header) have 4 bytes.
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t header_start = 8 + len_bytes;
  if (size < header_start) {
    fail(name, size, "file too short (", size, " bytes) for a version ", major,
         ".0 preamble (needs at least ", header_start, ")");
  }
  std::size_t header_len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i) {
    header_len |= static_cast<std::size_t>(bytes[8 + i]) << (8 * i);
  }
  if (header_len > size - header_start) {
    fail(name, 8, "header length ", header_len, " runs past the end of the file (size ", size, ")");
  }
  const std::size_t data_offset = header_start + header_len;

  HeaderParser::Result h =
      HeaderParser(bytes + header_start, header_len, header_start, name).parse();
  const std::string& descr = h.descr;
  std::vector<std::size_t>& shape = h.shape;

  const TypeInfo* info = nullptr;
  for (const TypeInfo& candidate : kTypes) {
    if (descr == candidate.descr) info = &candidate;
  }
  if (info == nullptr) {
    if (!descr.empty() && descr[0] == '>') {
      fail(name, h.descr_at, "big-endian dtype '", printable(descr, 40),
           "' is not supported (save little-endian data)");
    }
    fail(name, h.descr_at, "unsupported dtype '", printable(descr, 40),
         "' (supported: <f4, <f2, <f8, <i8, <i4, |u1, |b1)");
  }
  if (h.fortran_order) {
    // The reader hands out the raw bytes, so they must already be in row-major order.
    fail(name, h.fortran_at, "fortran_order is True; C order (row-major) is required");
  }

  std::size_t count = 0;
  if (!checked_count(shape, &count) ||
      count > std::numeric_limits<std::size_t>::max() / info->size) {
    fail(name, h.shape_at, "shape ", shape_string(shape), " of ", info->descr,
         " has a byte size that overflows size_t");
  }
  const std::size_t nbytes = count * info->size;
  const std::size_t available = size - data_offset;
  if (available < nbytes) {
    fail(name, size, "data truncated: shape ", shape_string(shape), " of ", info->descr, " needs ",
         nbytes, " bytes after the header at offset ", data_offset, " but the file has ", available,
         " (file size ", size, ", expected ", data_offset + nbytes, ")");
  }
  if (available > nbytes) {
    fail(name, data_offset + nbytes, available - nbytes,
         " trailing bytes after the data (file size ", size, ", expected ", data_offset + nbytes,
         " for shape ", shape_string(shape), " of ", info->descr, ")");
  }
  // The mapping is page-aligned, so this keeps data() properly aligned for its element type.
  // NumPy always aligns to 16 or 64; only hand-made files can fail this.
  if (nbytes > 0 && data_offset % info->size != 0) {
    fail(name, data_offset, "data offset ", data_offset, " is not a multiple of the ", info->descr,
         " element size ", info->size);
  }
  return NpyHeader{info->type, std::move(shape), data_offset};
}

NpyFile::NpyFile(const std::string& path) : path_(path), map_(path) {
  // An empty file maps to nothing and is reported by parse_npy in its own words.
  NpyHeader header = parse_npy(map_.data(), map_.size(), path_);
  type_ = header.type;
  shape_ = std::move(header.shape);
  data_offset_ = header.data_offset;
}

std::size_t NpyFile::element_count() const {
  // parse_npy has already checked that this product does not overflow.
  std::size_t count = 1;
  for (std::size_t dim : shape_) count *= dim;
  return count;
}

const void* NpyFile::data() const { return map_.empty() ? nullptr : map_.data() + data_offset_; }

DType NpyFile::update_dtype() const {
  switch (type_) {
    case NpyType::kFloat32:
      return DType::kFloat32;
    case NpyType::kFloat16:
      return DType::kFloat16;
    default:
      break;
  }
  FEDGUARD_THROW(kIo, path_ << ": dtype " << npy_type_name(type_)
                            << " is not an update dtype (expected <f4 or <f2)");
}

std::vector<double> NpyFile::to_doubles() const {
  const std::size_t count = element_count();
  std::vector<double> out(count);
  const auto* src = static_cast<const unsigned char*>(data());
  // memcpy per element: the compiler turns it into a plain load, without aliasing concerns.
  auto convert = [&](auto zero) {
    using T = decltype(zero);
    for (std::size_t i = 0; i < count; ++i) {
      T value;
      std::memcpy(&value, src + i * sizeof(T), sizeof(T));
      out[i] = static_cast<double>(value);
    }
  };
  switch (type_) {
    case NpyType::kFloat32:
      convert(float{});
      break;
    case NpyType::kFloat64:
      convert(double{});
      break;
    case NpyType::kInt64:
      convert(std::int64_t{});
      break;
    case NpyType::kInt32:
      convert(std::int32_t{});
      break;
    case NpyType::kUInt8:
      convert(std::uint8_t{});
      break;
    case NpyType::kFloat16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + i * 2, 2);
        out[i] = half_to_float(bits);
      }
      break;
    case NpyType::kBool:
      // NumPy stores 0 or 1; treat any other byte as true, as NumPy's bool cast would.
      for (std::size_t i = 0; i < count; ++i) out[i] = src[i] != 0 ? 1.0 : 0.0;
      break;
  }
  return out;
}

void write_npy(const std::string& path, NpyType type, const std::vector<std::size_t>& shape,
               const void* data) {
  const TypeInfo& info = type_info(type);
  if (shape.size() > kMaxDims) {
    FEDGUARD_THROW(kInvalidInput, path << ": cannot write " << shape.size()
                                       << " dimensions (at most " << kMaxDims << ")");
  }
  std::size_t count = 0;
  if (!checked_count(shape, &count) ||
      count > std::numeric_limits<std::size_t>::max() / info.size) {
    FEDGUARD_THROW(kInvalidInput, path << ": shape " << shape_string(shape)
                                       << " has a byte size that overflows size_t");
  }
  const std::size_t nbytes = count * info.size;
  if (nbytes > 0 && data == nullptr) {
    FEDGUARD_THROW(kInvalidInput, path << ": data is null for a non-empty array");
  }

  const std::string dict = std::string("{'descr': '") + info.descr +
                           "', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // Version 1.0 unless the header needs the 4-byte length of 2.0 (as NumPy decides). With at
  // most kMaxDims dimensions the header stays far below 64 KiB, so this is 1.0 in practice.
  auto padded_size = [&](std::size_t prefix) {
    const std::size_t unpadded = prefix + dict.size() + 1;  // + '\n'
    return (unpadded + kWriteAlign - 1) / kWriteAlign * kWriteAlign - prefix;
  };
  std::size_t prefix = kMinPreamble;
  std::size_t header_len = padded_size(prefix);
  unsigned major = 1;
  if (header_len > 0xffff) {
    prefix = kMinPreamble + 2;
    header_len = padded_size(prefix);
    major = 2;
  }
  std::string image(kMagic, kMagic + kMagicSize);
  image += static_cast<char>(major);
  image += '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i) {
    image += static_cast<char>((header_len >> (8 * i)) & 0xff);
  }
  image += dict;
  image.append(header_len - dict.size() - 1, ' ');
  image += '\n';

  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    FEDGUARD_THROW(kIo, path << ": cannot open for writing: " << std::strerror(errno));
  }
  bool ok = std::fwrite(image.data(), 1, image.size(), file) == image.size();
  int err = ok ? 0 : errno;
  if (ok && nbytes > 0) {
    ok = std::fwrite(data, 1, nbytes, file) == nbytes;
    if (!ok) err = errno;
  }
  // fclose flushes the buffer, so a full disk may only show up here.
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    // Leave no truncated file behind that a later read would reject with a confusing message.
    std::remove(path.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot write " << image.size() + nbytes
                             << " bytes: " << std::strerror(err));
  }
}

}  // namespace fedguard::io
