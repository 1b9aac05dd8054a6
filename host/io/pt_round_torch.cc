// `.pt` round files (torch.save's zip format) for update logs: the io layer's only LibTorch
// translation unit (library fedguard_io_torch), apart so the core library stays free of it.
//
// The container is parsed by torch::pickle_load, LibTorch's own parser of the zip archive, the
// pickle program and the tensor records: how far a malformed or crafted file is validated is
// LibTorch's (whatever it throws becomes a kIo error here), with two guards found by fuzzing
// (tests/fuzz/pt_fuzz): LibTorch reads through a bounds-checked adapter, and no zip record may
// declare more bytes than the file has (LibTorch allocates the declared size first). A crash
// inside LibTorch's unpickler beyond these is not contained (docs/security.md). What this file
// checks is the content it gets back: one 2-D tensor, or a dict of string keys holding tensors and
// an optional `__metadata__` dict of strings. It then lays the tensors out in one buffer as a
// safetensors image would hold them and hands that to round_from_tensors (io/update_log.h), so that
// .pt and .safetensors rounds have one set of semantics (names, layers, metadata keys, checks).
// LibTorch gives no byte positions, so every error says "offset 0".
#include "io/pt_round_torch.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/storage_context.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "common/regular_file.h"
#include "fedguard/error.h"
#include "io/printable.h"
#include "io/safetensors.h"

namespace fedguard::io {
namespace {

template <typename... Args>
[[noreturn]] void fail(const std::string& name, const Args&... args) {
  std::ostringstream what;
  (what << ... << args);
  FEDGUARD_THROW(kIo, name << ": offset 0: " << what.str());
}

// The first line of LibTorch's message (its c10::Error text may carry a backtrace).
std::string first_line(const char* what) {
  std::string s = what == nullptr ? "" : what;
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s.empty() ? "(no message)" : s;
}

// Python's names of the dtypes (torch.float32, ...).
std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float:
      return "float32";
    case c10::ScalarType::Half:
      return "float16";
    case c10::ScalarType::BFloat16:
      return "bfloat16";
    case c10::ScalarType::Double:
      return "float64";
    case c10::ScalarType::Long:
      return "int64";
    case c10::ScalarType::Int:
      return "int32";
    case c10::ScalarType::Short:
      return "int16";
    case c10::ScalarType::Char:
      return "int8";
    case c10::ScalarType::Byte:
      return "uint8";
    case c10::ScalarType::Bool:
      return "bool";
    case c10::ScalarType::ComplexFloat:
      return "complex64";
    case c10::ScalarType::ComplexDouble:
      return "complex128";
    default:
      return c10::toString(t);
  }
}

// The safetensors dtype of a tensor, where there is one (the set parse_safetensors accepts).
bool to_safe_dtype(c10::ScalarType t, SafeDType* out) {
  switch (t) {
    case c10::ScalarType::Float:
      *out = SafeDType::kF32;
      return true;
    case c10::ScalarType::Half:
      *out = SafeDType::kF16;
      return true;
    case c10::ScalarType::BFloat16:
      *out = SafeDType::kBF16;
      return true;
    case c10::ScalarType::Double:
      *out = SafeDType::kF64;
      return true;
    case c10::ScalarType::Long:
      *out = SafeDType::kI64;
      return true;
    case c10::ScalarType::Int:
      *out = SafeDType::kI32;
      return true;
    case c10::ScalarType::Byte:
      *out = SafeDType::kU8;
      return true;
    case c10::ScalarType::Bool:
      *out = SafeDType::kBool;
      return true;
    default:
      return false;
  }
}

bool is_update_dtype(c10::ScalarType t) {
  return t == c10::ScalarType::Float || t == c10::ScalarType::Half ||
         t == c10::ScalarType::BFloat16;
}

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// A tensor of the file as the round reader takes it: a dense, contiguous CPU tensor of its dtype.
struct Named {
  std::string name;
  at::Tensor tensor;
  SafeDType dtype = SafeDType::kF32;
};

// The pickle gives each tensor's size, strides and storage offset as numbers, and LibTorch 1.13
// does not check them against the storage it read: a 1.5 kB file made a [2^20, 2^10] view with
// stride 0 of a few bytes, which contiguous() below then materialised (tests/fuzz/pt_fuzz: 14 s
// and 2.3 GB for one input), and a view reaching past its storage would be read out of bounds.
// A tensor must lie inside its storage and hold no more elements than the storage (overlapping
// strides, as from expand(), are refused: torch.save of a plain tensor never writes them).
void check_view_in_storage(const std::string& file, const std::string& name, const at::Tensor& t) {
  if (!t.has_storage()) fail(file, "tensor '", printable(name), "' has no storage");
  const std::uint64_t item = static_cast<std::uint64_t>(t.element_size());
  const std::uint64_t storage_elems =
      static_cast<std::uint64_t>(t.storage().nbytes()) / (item == 0 ? 1 : item);
  std::uint64_t numel = 1, last = 0;
  bool empty = false;
  for (std::int64_t k = 0; k < t.dim(); ++k) {
    const std::int64_t size = t.size(k), stride = t.stride(k);
    if (size < 0 || stride < 0)
      fail(file, "tensor '", printable(name), "' has a negative size or stride");
    if (size == 0) empty = true;
    // Products bounded by the storage size (at most the file's bytes) before they can overflow.
    if (size > 0 && numel > storage_elems / static_cast<std::uint64_t>(size) + 1)
      numel = storage_elems + 1;
    else
      numel *= static_cast<std::uint64_t>(size);
    if (size > 1) {
      const std::uint64_t span = static_cast<std::uint64_t>(size - 1);
      if (stride != 0 && span > storage_elems / static_cast<std::uint64_t>(stride))
        last = storage_elems + 1;
      else
        last += span * static_cast<std::uint64_t>(stride);
    }
  }
  if (empty) return;
  const std::uint64_t offset =
      static_cast<std::uint64_t>(t.storage_offset() < 0 ? 0 : t.storage_offset());
  // The last element read is offset + last: it must be inside the storage.
  if (t.storage_offset() < 0 || storage_elems == 0 || last >= storage_elems ||
      offset > storage_elems - 1 - last)
    fail(file, "tensor '", printable(name), "' ", shape_text(t), " (storage offset ",
         t.storage_offset(), ") reaches past its storage of ", storage_elems, " elements");
  if (numel > storage_elems)
    fail(file, "tensor '", printable(name), "' ", shape_text(t), " has ", numel,
         " elements over a storage of ", storage_elems,
         " (overlapping strides): save a contiguous tensor");
}

Named prepare(const std::string& file, const std::string& name, const at::Tensor& t) {
  if (!t.defined()) fail(file, "tensor '", printable(name), "' is undefined (None)");
  if (t.layout() != at::kStrided)
    fail(file, "tensor '", printable(name), "' is not a dense (strided) tensor");
  if (t.is_quantized())
    fail(file, "tensor '", printable(name), "' is quantized (", dtype_name(t.scalar_type()), ")");
  check_view_in_storage(file, name, t);
  Named out;
  out.name = name;
  if (!to_safe_dtype(t.scalar_type(), &out.dtype)) {
    fail(file, "tensor '", printable(name), "' has dtype ", dtype_name(t.scalar_type()),
         " (updates must be float32, float16 or bfloat16)");
  }
  // pickle_load gives CPU tensors; .to() is for safety (a no-op then). resolve_conj / _neg
  // materialise lazily negated views, contiguous() a strided view of a larger storage.
  out.tensor = t.to(at::kCPU).resolve_conj().resolve_neg().contiguous();
  return out;
}

// The `__metadata__` entry: a dict of strings, like safetensors' __metadata__.
std::map<std::string, std::string> metadata_of(const std::string& file, const c10::IValue& v) {
  if (!v.isGenericDict())
    fail(file, "'__metadata__' must be a dict of strings, got a value of type ", v.tagKind());
  std::map<std::string, std::string> meta;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString()) {
      fail(file, "'__metadata__' has a key of type ", kv.key().tagKind(), " (keys are strings)");
    }
    const std::string key = kv.key().toStringRef();
    if (!kv.value().isString()) {
      fail(file, "'__metadata__' value of '", printable(key), "' is of type ", kv.value().tagKind(),
           ", not a string (lists are JSON text)");
    }
    meta[key] = kv.value().toStringRef();
  }
  return meta;
}

// What the file holds: tensors sorted by name, metadata, and oddities that do not stop the read.
struct Content {
  std::vector<Named> tensors;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> warnings;
};

Content content_of(const std::string& file, const c10::IValue& v) {
  Content c;
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (t.defined() && t.dim() != 2) {
      fail(file, "the file holds one tensor of shape ", shape_text(t),
           "; a round is one 2-D [n, d] tensor or a dict of tensors");
    }
    if (t.defined() && !is_update_dtype(t.scalar_type())) {
      fail(file, "the file's tensor has dtype ", dtype_name(t.scalar_type()),
           " (updates must be float32, float16 or bfloat16)");
    }
    c.tensors.push_back(prepare(file, "updates", t));
    return c;
  }
  if (!v.isGenericDict()) {
    fail(file, "the file holds a value of type ", v.tagKind(),
         "; a round is one 2-D [n, d] tensor or a dict of tensors");
  }
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString())
      fail(file, "the dict has a key of type ", kv.key().tagKind(), " (keys are strings)");
    const std::string key = kv.key().toStringRef();
    if (key == "__metadata__") {
      c.metadata = metadata_of(file, kv.value());
    } else if (kv.value().isTensor()) {
      c.tensors.push_back(prepare(file, key, kv.value().toTensor()));
    } else {
      c.warnings.push_back("ignored entry '" + printable(key) + "' (of type " +
                           kv.value().tagKind() + ", not a tensor)");
    }
  }
  std::sort(c.tensors.begin(), c.tensors.end(),
            [](const Named& a, const Named& b) { return a.name < b.name; });
  return c;
}

TensorInfo info_of(const Named& t, std::size_t begin) {
  TensorInfo info;
  info.name = t.name;
  info.dtype = t.dtype;
  for (const std::int64_t s : t.tensor.sizes()) info.shape.push_back(static_cast<std::size_t>(s));
  info.begin = begin;
  info.end = begin + t.tensor.nbytes();
  return info;
}

RoundData interpret(const c10::IValue& value, const std::string& name, const ManifestEntry* entry,
                    std::size_t default_round) {
  Content c = content_of(name, value);
  SafetensorsHeader header;
  header.metadata = std::move(c.metadata);
  std::shared_ptr<at::Tensor> storage;
  const unsigned char* base = nullptr;
  if (c.tensors.size() == 1 && c.tensors[0].tensor.numel() > 0) {
    // One tensor (the common case: `updates`): the round's views point into it (into a copy
    // where it is a view of a larger storage, which is not kept).
    if (c.tensors[0].tensor.storage().nbytes() > c.tensors[0].tensor.nbytes()) {
      c.tensors[0].tensor = c.tensors[0].tensor.clone();
    }
    header.tensors.push_back(info_of(c.tensors[0], 0));
    storage = std::make_shared<at::Tensor>(c.tensors[0].tensor);
    base = static_cast<const unsigned char*>(storage->data_ptr());
  } else {
    // Several: one buffer, the tensors packed in name order as in a safetensors file (each
    // aligned for its element type, the buffer 64-byte aligned), so that the per-layer tensors
    // of a client of one dtype are contiguous and used in place. The tensors LibTorch loaded
    // are freed once the read returns.
    std::size_t total = 0;
    for (const Named& t : c.tensors) {
      const auto align = static_cast<std::size_t>(t.tensor.element_size());
      total = (total + align - 1) / align * align;
      header.tensors.push_back(info_of(t, total));
      total += t.tensor.nbytes();
    }
    const auto bytes = static_cast<std::int64_t>(std::max<std::size_t>(total, 64));
    storage =
        std::make_shared<at::Tensor>(at::empty({bytes}, at::TensorOptions().dtype(at::kByte)));
    auto* dst = static_cast<unsigned char*>(storage->data_ptr());
    for (std::size_t i = 0; i < c.tensors.size(); ++i) {
      const at::Tensor& t = c.tensors[i].tensor;
      if (t.nbytes() > 0) std::memcpy(dst + header.tensors[i].begin, t.data_ptr(), t.nbytes());
    }
    base = dst;
    c.tensors.clear();
  }
  RoundData r =
      round_from_tensors(base, header, name, entry, default_round, /*file_offsets=*/false);
  r.warnings.insert(r.warnings.end(), c.warnings.begin(), c.warnings.end());
  // Views into the tensor / buffer need it alive; a row with another layout may still point into
  // the buffer even where an owned copy holds the well-formed rows.
  hold_also(r, storage);
  return r;
}

// The bytes as LibTorch's archive reader (miniz) sees them, every read checked against the
// buffer. torch::pickle_load's own adapter (VectorReader in LibTorch 1.13) copies whatever
// range miniz asks for, and miniz asks for ranges past the end on a crafted central directory
// (found by tests/fuzz/pt_fuzz: a SEGV inside mz_zip_reader_init). Here a read past the end
// returns only the bytes that exist, which miniz reports as a read failure (a c10::Error).
class BoundedReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    const size_t take = std::min<uint64_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, take);
    return take;
  }

 private:
  const std::vector<char>& bytes_;
};

std::uint64_t le(const std::vector<char>& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

// A check of the zip archive's central directory before LibTorch reads it: every record's
// uncompressed size must fit in the file. LibTorch (PyTorchStreamReader::getRecord) allocates a
// record's declared uncompressed size before reading it, so a 747-byte file declaring 2.4 GB
// made it allocate 2.4 GB (tests/fuzz/pt_fuzz, an out-of-memory). torch.save stores its records
// uncompressed, so a record larger than the file is never one it wrote. Only what is needed to
// bound the sizes is read here (the End Of Central Directory record, its zip64 form, and each
// central header's sizes and zip64 extra field); everything else is left to LibTorch's reader.
// Anything this walk cannot follow is left to LibTorch too (it rejects such archives itself).
void check_record_sizes(const std::vector<char>& b, const std::string& name) {
  const std::size_t n = b.size();
  if (n < 22) return;
  // The EOCD: signature 0x06054b50 in the last 22 + 65535 bytes (after it: the comment).
  std::size_t eocd = std::string::npos;
  for (std::size_t i = n - 22 + 1; i-- > 0 && n - i <= 22 + 65535;) {
    if (le(b, i, 4) == 0x06054b50u) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) return;
  std::uint64_t entries = le(b, eocd + 10, 2), cd_offset = le(b, eocd + 16, 4);
  if ((entries == 0xffff || cd_offset == 0xffffffffu) && eocd >= 20 &&
      le(b, eocd - 20, 4) == 0x07064b50u) {
    const std::uint64_t z64 = le(b, eocd - 20 + 8, 8);  // the zip64 EOCD record's offset
    if (z64 > n || n - z64 < 56 || le(b, static_cast<std::size_t>(z64), 4) != 0x06064b50u) return;
    entries = le(b, static_cast<std::size_t>(z64) + 32, 8);
    cd_offset = le(b, static_cast<std::size_t>(z64) + 48, 8);
  }
  std::uint64_t at = cd_offset;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (at > n || n - at < 46 || le(b, static_cast<std::size_t>(at), 4) != 0x02014b50u) return;
    const std::size_t h = static_cast<std::size_t>(at);
    std::uint64_t uncompressed = le(b, h + 24, 4);
    const std::uint64_t name_len = le(b, h + 28, 2), extra_len = le(b, h + 30, 2),
                        comment_len = le(b, h + 32, 2);
    if (n - at - 46 < name_len + extra_len) return;
    if (uncompressed == 0xffffffffu) {  // the size is in the zip64 extra field (id 1), first
      std::size_t x = h + 46 + static_cast<std::size_t>(name_len);
      const std::size_t x_end = x + static_cast<std::size_t>(extra_len);
      while (x + 4 <= x_end) {
        const std::uint64_t id = le(b, x, 2), len = le(b, x + 2, 2);
        if (x + 4 + len > x_end) break;
        if (id == 1 && len >= 8) uncompressed = le(b, x + 4, 8);
        x += 4 + static_cast<std::size_t>(len);
      }
    }
    if (uncompressed > n) {
      const std::string record(b.data() + h + 46, static_cast<std::size_t>(name_len));
      fail(name, "zip record '", printable(record), "' declares ", uncompressed,
           " bytes uncompressed in a file of ", n,
           " bytes (torch.save stores records uncompressed)");
    }
    at += 46 + name_len + extra_len + comment_len;
  }
}

// torch::pickle_load over a BoundedReader (the same calls as LibTorch 1.13's pickle_load: the
// "data" archive with its tensors), every exception it throws a kIo error naming the file.
c10::IValue load(const std::vector<char>& bytes, const std::string& name) {
  check_record_sizes(bytes, name);
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_unique<BoundedReader>(bytes));
    // Every storage from its record, sized as the record is. LibTorch's unpickler sizes a
    // storage by the element count the pickle states, not by the record it read, so a pickle
    // claiming more than its record holds gave a storage reaching past its allocation (found by
    // tests/fuzz/pt_fuzz: a heap-buffer-overflow reading it). With the storages given here,
    // check_view_in_storage below holds every tensor to the bytes that exist.
    auto storages = std::make_shared<torch::jit::DeserializationStorageContext>();
    for (const std::string& record : reader.getAllRecords()) {
      if (record.rfind("data/", 0) != 0) continue;
      auto [data, size] = reader.getRecord(record);
      storages->addStorage(record.substr(5),
                           c10::Storage(c10::Storage::use_byte_size_t(), size, std::move(data),
                                        /*allocator=*/nullptr, /*resizable=*/false));
    }
    return torch::jit::readArchiveAndTensors(
        "data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
        /*type_resolver=*/c10::nullopt, /*obj_loader=*/c10::nullopt,
        /*device=*/c10::nullopt, reader, torch::jit::Unpickler::defaultTypeParser, storages);
  } catch (const c10::Error& e) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(),
         " bytes): ", first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(),
         " bytes): ", first_line(e.what()));
  } catch (...) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(),
         " bytes): unknown exception");
  }
}

// interpret, LibTorch's exceptions (from contiguous(), ...) kIo errors naming the file.
RoundData interpret_checked(const c10::IValue& value, const std::string& name,
                            const ManifestEntry* entry, std::size_t default_round) {
  try {
    return interpret(value, name, entry, default_round);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    fail(name, "LibTorch failed on the file's content: ", first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail(name, "failed on the file's content: ", first_line(e.what()));
  }
}

}  // namespace

RoundData round_from_pt_bytes(const std::vector<char>& bytes, const std::string& name,
                              const ManifestEntry* entry, std::size_t default_round) {
  return interpret_checked(load(bytes, name), name, entry, default_round);
}

RoundData read_round_pt(const std::string& path, const ManifestEntry* entry,
                        std::size_t default_round) {
  // Regular files only, opened without blocking (a FIFO fails at once); size known up front.
  const RegularFile file(path);
  std::vector<char> bytes(static_cast<std::size_t>(file.size()));
  file.read_at(0, bytes.data(), bytes.size());
  const c10::IValue value = load(bytes, path);
  std::vector<char>().swap(bytes);  // the file's bytes are not needed once LibTorch has loaded it
  return interpret_checked(value, path, entry, default_round);
}

void register_pt_round_reader() { set_pt_round_reader(&read_round_pt); }

}  // namespace fedguard::io
