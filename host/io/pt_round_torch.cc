// `.pt` round files (torch.save's zip format) for update logs: the io layer's only LibTorch
// translation unit (library fedguard_io_torch), apart so the core library stays free of it.
//
// The container is parsed by torch::pickle_load, LibTorch's own parser of the zip archive, the
// pickle program and the tensor records: how far a malformed or crafted file is validated is
// LibTorch's (whatever it throws becomes a kIo error here; a file that crashes LibTorch's
// unpickler is beyond this reader). What this file checks is the content it gets back: one 2-D
// tensor, or a dict of string keys holding tensors and an optional `__metadata__` dict of
// strings. It then lays the tensors out in one buffer as a safetensors image would hold them
// and hands that to round_from_tensors (io/update_log.h), so that .pt and .safetensors rounds
// have one set of semantics (names, layers, metadata keys, checks). LibTorch gives no byte
// positions, so every error says "offset 0".
#include "io/pt_round_torch.h"

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
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Bool: return "bool";
    case c10::ScalarType::ComplexFloat: return "complex64";
    case c10::ScalarType::ComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

// The safetensors dtype of a tensor, where there is one (the set parse_safetensors accepts).
bool to_safe_dtype(c10::ScalarType t, SafeDType* out) {
  switch (t) {
    case c10::ScalarType::Float: *out = SafeDType::kF32; return true;
    case c10::ScalarType::Half: *out = SafeDType::kF16; return true;
    case c10::ScalarType::BFloat16: *out = SafeDType::kBF16; return true;
    case c10::ScalarType::Double: *out = SafeDType::kF64; return true;
    case c10::ScalarType::Long: *out = SafeDType::kI64; return true;
    case c10::ScalarType::Int: *out = SafeDType::kI32; return true;
    case c10::ScalarType::Byte: *out = SafeDType::kU8; return true;
    case c10::ScalarType::Bool: *out = SafeDType::kBool; return true;
    default: return false;
  }
}

bool is_update_dtype(c10::ScalarType t) {
  return t == c10::ScalarType::Float || t == c10::ScalarType::Half || t == c10::ScalarType::BFloat16;
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

Named prepare(const std::string& file, const std::string& name, const at::Tensor& t) {
  if (!t.defined()) fail(file, "tensor '", printable(name), "' is undefined (None)");
  if (t.layout() != at::kStrided) fail(file, "tensor '", printable(name), "' is not a dense (strided) tensor");
  if (t.is_quantized()) fail(file, "tensor '", printable(name), "' is quantized (", dtype_name(t.scalar_type()), ")");
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
  if (!v.isGenericDict()) fail(file, "'__metadata__' must be a dict of strings, got a value of type ", v.tagKind());
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
    if (!kv.key().isString()) fail(file, "the dict has a key of type ", kv.key().tagKind(), " (keys are strings)");
    const std::string key = kv.key().toStringRef();
    if (key == "__metadata__") {
      c.metadata = metadata_of(file, kv.value());
    } else if (kv.value().isTensor()) {
      c.tensors.push_back(prepare(file, key, kv.value().toTensor()));
    } else {
      c.warnings.push_back("ignored entry '" + printable(key) + "' (of type " + kv.value().tagKind() + ", not a tensor)");
    }
  }
  std::sort(c.tensors.begin(), c.tensors.end(), [](const Named& a, const Named& b) { return a.name < b.name; });
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
    storage = std::make_shared<at::Tensor>(at::empty({bytes}, at::TensorOptions().dtype(at::kByte)));
    auto* dst = static_cast<unsigned char*>(storage->data_ptr());
    for (std::size_t i = 0; i < c.tensors.size(); ++i) {
      const at::Tensor& t = c.tensors[i].tensor;
      if (t.nbytes() > 0) std::memcpy(dst + header.tensors[i].begin, t.data_ptr(), t.nbytes());
    }
    base = dst;
    c.tensors.clear();
  }
  RoundData r = round_from_tensors(base, header, name, entry, default_round, /*file_offsets=*/false);
  r.warnings.insert(r.warnings.end(), c.warnings.begin(), c.warnings.end());
  // Views into the tensor / buffer need it alive; a row with another layout may still point into
  // the buffer even where an owned copy holds the well-formed rows.
  hold_also(r, storage);
  return r;
}

// pickle_load, every exception it throws a kIo error naming the file.
c10::IValue load(const std::vector<char>& bytes, const std::string& name) {
  try {
    return torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(), " bytes): ",
         first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(), " bytes): ", first_line(e.what()));
  } catch (...) {
    fail(name, "not a torch.save file LibTorch can load (", bytes.size(), " bytes): unknown exception");
  }
}

// interpret, LibTorch's exceptions (from contiguous(), ...) kIo errors naming the file.
RoundData interpret_checked(const c10::IValue& value, const std::string& name, const ManifestEntry* entry,
                            std::size_t default_round) {
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

RoundData round_from_pt_bytes(const std::vector<char>& bytes, const std::string& name, const ManifestEntry* entry,
                              std::size_t default_round) {
  return interpret_checked(load(bytes, name), name, entry, default_round);
}

RoundData read_round_pt(const std::string& path, const ManifestEntry* entry, std::size_t default_round) {
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
