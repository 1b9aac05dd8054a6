#include "io/update_log.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "common/json_parse.h"
#include "common/mapped_file.h"
#include "fedguard/dtype.h"
#include "fedguard/error.h"
#include "io/npy.h"
#include "io/printable.h"

namespace fedguard::io {
namespace {

constexpr const char* kRoundFormat = "fedguard-round";
// The .pt reader a LibTorch build registers (set_pt_round_reader); null: none.
std::atomic<PtRoundReader> g_pt_round_reader{nullptr};
// Metadata keys the writer sets itself; `extra` may not use them.
const std::set<std::string> kReserved = {"format",     "version",     "round",     "n",     "d",
                                         "client_ids", "num_samples", "malicious", "layers"};

std::string ends_with_ext(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return path.substr(dot);
}

template <typename... Args>
[[noreturn]] void fail(const std::string& name, std::size_t offset, const Args&... args) {
  std::ostringstream what;
  (what << ... << args);
  FEDGUARD_THROW(kIo, name << ": offset " << offset << ": " << what.str());
}

// Metadata values are strings; lists are JSON text inside them. Errors point at the header.
nlohmann::json meta_json(const std::map<std::string, std::string>& meta, const std::string& key,
                         const std::string& name, std::size_t at) {
  const auto it = meta.find(key);
  if (it == meta.end()) return nullptr;
  try {
    return parse_json(it->second, 8);
  } catch (const JsonError& e) {
    fail(name, at, "__metadata__ '", key, "' is not JSON text: ", e.what());
  }
}

std::vector<std::string> string_list(const nlohmann::json& v, const std::string& key,
                                     const std::string& name, std::size_t at) {
  std::vector<std::string> out;
  if (!v.is_array()) fail(name, at, "__metadata__ '", key, "' must be a JSON list of strings");
  for (const auto& s : v) {
    if (!s.is_string()) fail(name, at, "__metadata__ '", key, "' must be a JSON list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<double> number_list(const nlohmann::json& v, const std::string& key,
                                const std::string& name, std::size_t at) {
  std::vector<double> out;
  if (!v.is_array()) fail(name, at, "__metadata__ '", key, "' must be a JSON list of numbers");
  for (const auto& s : v) {
    if (!s.is_number()) fail(name, at, "__metadata__ '", key, "' must be a JSON list of numbers");
    out.push_back(s.get<double>());
  }
  return out;
}

bool aligned(const void* p, std::size_t size) {
  return reinterpret_cast<std::uintptr_t>(p) % size == 0;
}

// Converts any update dtype to float32 (unaligned sources are fine: convert_to_float reads
// through memcpy-sized loads only for 2-byte types; float32 is copied bytewise).
void to_float(DType t, const void* src, float* dst, std::size_t count) {
  if (t == DType::kFloat32) {
    std::memcpy(dst, src, count * sizeof(float));
  } else if (aligned(src, 2)) {
    convert_to_float(t, src, dst, count);
  } else {
    std::vector<std::uint16_t> tmp(count);
    std::memcpy(tmp.data(), src, count * 2);
    convert_to_float(t, tmp.data(), dst, count);
  }
}

template <typename T>
T mode_of(const std::vector<T>& values) {
  std::map<T, std::size_t> counts;
  for (const T& v : values) ++counts[v];
  T best{};
  std::size_t best_count = 0;
  for (const T& v : values) {  // first-seen wins ties
    if (counts[v] > best_count) {
      best = v;
      best_count = counts[v];
    }
  }
  return best;
}

void apply_entry(RoundData& r, const ManifestEntry* entry) {
  if (entry == nullptr) return;
  r.round = entry->round;
  if (r.client_ids.empty()) r.client_ids = entry->client_ids;
  if (r.num_samples.empty()) r.num_samples = entry->num_samples;
  if (!r.has_ground_truth && entry->has_malicious) {
    r.malicious = entry->malicious;
    r.has_ground_truth = true;
  }
}

// A manifest entry and the round file both naming the clients or the ground truth must agree:
// otherwise which one the scan used would decide its rates silently.
void check_entry_agrees(const RoundData& r, const ManifestEntry* entry, const std::string& name,
                        std::size_t at) {
  if (entry == nullptr) return;
  if (!entry->client_ids.empty() && entry->client_ids != r.client_ids) {
    fail(name, at, "round ", r.round, ": the manifest's client_ids (", entry->client_ids.size(),
         " ids) disagree with the round file's (", r.client_ids.size(), " ids)");
  }
  if (entry->has_malicious && r.has_ground_truth) {
    const std::set<std::string> a(entry->malicious.begin(), entry->malicious.end());
    const std::set<std::string> b(r.malicious.begin(), r.malicious.end());
    if (a != b) {
      fail(name, at, "round ", r.round, ": the manifest's 'malicious' (", a.size(),
           " ids) disagrees with the round file's (", b.size(), " ids)");
    }
  }
}

void check_lengths(const RoundData& r, const std::string& name, std::size_t at) {
  const std::size_t n = r.updates.rows();
  if (!r.client_ids.empty() && r.client_ids.size() != n) {
    fail(name, at, r.client_ids.size(), " client ids for ", n, " updates");
  }
  if (!r.num_samples.empty() && r.num_samples.size() != n) {
    fail(name, at, r.num_samples.size(), " num_samples for ", n, " updates");
  }
}

void default_ids(RoundData& r) {
  if (r.client_ids.empty()) {
    for (std::size_t i = 0; i < r.updates.rows(); ++i) r.client_ids.push_back(std::to_string(i));
  }
  if (r.has_ground_truth) {
    // Ground truth naming a client the round does not have is a wrong log, not a detail: the
    // scan's rates would count a miss that cannot happen.
    std::set<std::string> ids(r.client_ids.begin(), r.client_ids.end());
    for (const std::string& m : r.malicious) {
      if (!ids.count(m))
        FEDGUARD_THROW(kIo, r.path << ": round " << r.round << ": ground-truth ('malicious') id '"
                                   << printable(m) << "' is not a client of the round");
    }
  }
}

}  // namespace

void write_round_safetensors(const std::string& path, const LoggedRound& round) {
  const std::size_t n = round.n, d = round.d;
  FEDGUARD_EXPECTS(n == 0 || d == 0 || round.updates != nullptr,
                   path << ": updates is null for n=" << n << ", d=" << d);
  FEDGUARD_EXPECTS(d == 0 || n <= SIZE_MAX / d / sizeof(float), path << ": n x d overflows");
  FEDGUARD_EXPECTS(round.client_ids.empty() || round.client_ids.size() == n,
                   path << ": " << round.client_ids.size() << " client ids for n=" << n);
  FEDGUARD_EXPECTS(round.num_samples.empty() || round.num_samples.size() == n,
                   path << ": " << round.num_samples.size() << " num_samples for n=" << n);
  FEDGUARD_EXPECTS(round.extra.is_object() || round.extra.is_null(),
                   path << ": extra must be a JSON object");
  std::map<std::string, std::string> meta;
  meta["format"] = kRoundFormat;
  meta["version"] = "1";
  meta["round"] = std::to_string(round.round);
  meta["n"] = std::to_string(n);
  meta["d"] = std::to_string(d);
  if (!round.client_ids.empty()) meta["client_ids"] = nlohmann::json(round.client_ids).dump();
  if (!round.num_samples.empty()) {
    for (double w : round.num_samples) {
      FEDGUARD_EXPECTS(std::isfinite(w),
                       path << ": num_samples must be finite to be stored as JSON");
    }
    meta["num_samples"] = nlohmann::json(round.num_samples).dump();
  }
  if (!round.malicious.empty() || round.ground_truth_known)
    meta["malicious"] = nlohmann::json(round.malicious).dump();
  if (!round.layers.empty()) {
    std::size_t total = 0;
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& [name, size] : round.layers) {
      total += size;
      layers.push_back({name, size});
    }
    FEDGUARD_EXPECTS(total == d, path << ": the layers sum to " << total << " elements, d=" << d);
    meta["layers"] = layers.dump();
  }
  if (round.extra.is_object()) {
    for (const auto& [key, value] : round.extra.items()) {
      FEDGUARD_EXPECTS(!kReserved.count(key),
                       path << ": extra metadata key '" << key << "' is reserved");
      meta[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  std::vector<TensorToWrite> tensors;
  tensors.push_back({"updates", SafeDType::kF32, {n, d}, round.updates});
  if (round.reference != nullptr)
    tensors.push_back({"reference", SafeDType::kF32, {d}, round.reference});
  write_safetensors(path, tensors, meta);
}

UpdateLogWriter::UpdateLogWriter(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) FEDGUARD_THROW(kIo, dir_ << ": cannot create the log directory: " << ec.message());
  const std::string manifest = dir_ + "/manifest.json";
  if (std::filesystem::exists(manifest, ec)) manifest_ = read_manifest(manifest);
}

void UpdateLogWriter::set_info(const nlohmann::json& info) {
  FEDGUARD_EXPECTS(info.is_object(), "update log info must be a JSON object");
  manifest_.info = info;
  write_manifest(dir_ + "/manifest.json", manifest_);
}

void UpdateLogWriter::append(const LoggedRound& round) {
  for (const ManifestEntry& e : manifest_.rounds) {
    FEDGUARD_EXPECTS(e.round != round.round,
                     dir_ << ": round " << round.round << " is already in the log");
  }
  char file[64];
  std::snprintf(file, sizeof file, "round_%06zu.safetensors", round.round);
  const std::string path = dir_ + "/" + file;
  write_round_safetensors(path, round);
  ManifestEntry entry;
  entry.round = round.round;
  entry.file = file;
  entry.n = round.n;
  entry.d = round.d;
  std::error_code ec;
  entry.bytes = std::filesystem::file_size(path, ec);
  if (ec) entry.bytes = 0;
  manifest_.rounds.push_back(std::move(entry));
  write_manifest(dir_ + "/manifest.json", manifest_);
}

void RoundData::release() {
  updates = UpdateView();
  keep_alive.reset();
}

RoundData round_from_safetensors(const unsigned char* base, const SafetensorsHeader& header,
                                 const std::string& name, const ManifestEntry* entry,
                                 std::size_t default_round) {
  return round_from_tensors(base, header, name, entry, default_round, true);
}

RoundData round_from_tensors(const unsigned char* base, const SafetensorsHeader& header,
                             const std::string& name, const ManifestEntry* entry,
                             std::size_t default_round, bool file_offsets) {
  // Offsets for the messages: the header's (8) and the tensors' in a safetensors file, else 0.
  const std::size_t meta_at = file_offsets ? 8 : 0;
  const auto tensor_at = [file_offsets](std::size_t offset) {
    return file_offsets ? offset : std::size_t{0};
  };
  RoundData r;
  r.path = name;
  r.round = default_round;
  apply_entry(r, entry);
  const auto& meta = header.metadata;
  if (const auto it = meta.find("format"); it != meta.end() && it->second != kRoundFormat) {
    r.warnings.push_back("__metadata__ format is '" + printable(it->second) + "', not " +
                         kRoundFormat);
  }
  if (const auto it = meta.find("round"); it != meta.end()) {
    const std::string& s = it->second;
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
      fail(name, meta_at, "__metadata__ 'round' must be a non-negative integer, got '",
           printable(s), "'");
    }
    r.round = static_cast<std::size_t>(std::stoull(s));
  }
  if (auto v = meta_json(meta, "client_ids", name, meta_at); !v.is_null()) {
    r.client_ids = string_list(v, "client_ids", name, meta_at);
  }
  if (auto v = meta_json(meta, "num_samples", name, meta_at); !v.is_null()) {
    r.num_samples = number_list(v, "num_samples", name, meta_at);
  }
  if (auto v = meta_json(meta, "malicious", name, meta_at); !v.is_null()) {
    r.malicious = string_list(v, "malicious", name, meta_at);
    r.has_ground_truth = true;
  }
  for (const auto& [k, v] : meta) {
    if (!kReserved.count(k)) r.metadata[k] = v;
  }

  const TensorInfo* block = header.find("updates");
  std::size_t d = 0;
  if (block != nullptr) {
    DType dt;
    if (!to_update_dtype(block->dtype, &dt)) {
      fail(name, tensor_at(block->begin), "tensor 'updates' has dtype ",
           safe_dtype_name(block->dtype), " (updates must be F32, F16 or BF16)");
    }
    if (block->shape.size() != 2) {
      fail(name, meta_at, "tensor 'updates' must be 2-D [n, d], got ", block->shape.size(), "-D");
    }
    const std::size_t n = block->shape[0];
    d = block->shape[1];
    const unsigned char* p = base + block->begin;
    r.update_bytes = block->end - block->begin;
    if (aligned(p, dtype_size(dt))) {
      r.updates = UpdateView(p, n, d, dt);
    } else {
      auto owned = std::make_shared<std::vector<float>>(n * d);
      to_float(dt, p, owned->data(), n * d);
      r.updates = UpdateView(owned->data(), n, d, DType::kFloat32);
      r.keep_alive = owned;
    }
    for (const TensorInfo& t : header.tensors) {
      if (t.name != "updates" && t.name != "reference")
        r.warnings.push_back("ignored tensor '" + printable(t.name) + "'");
    }
    if (auto v = meta_json(meta, "layers", name, meta_at); !v.is_null()) {
      if (!v.is_array())
        fail(name, meta_at, "__metadata__ 'layers' must be a JSON list of [name, size]");
      std::size_t at = 0;
      for (const auto& l : v) {
        if (!l.is_array() || l.size() != 2 || !l[0].is_string() || !l[1].is_number_unsigned()) {
          fail(name, meta_at, "__metadata__ 'layers' must be a JSON list of [name, size]");
        }
        const auto size = l[1].get<std::uint64_t>();
        if (size > d - at)
          fail(name, meta_at, "__metadata__ 'layers' cover more than d=", d, " columns");
        r.layers.push_back({l[0].get<std::string>(), at, at + static_cast<std::size_t>(size)});
        at += static_cast<std::size_t>(size);
      }
      if (at != d) fail(name, meta_at, "__metadata__ 'layers' cover ", at, " of d=", d, " columns");
    }
  } else {
    // Per-client tensors: client/<id> or client/<id>/<layer>, layers in name order.
    struct Client {
      std::vector<const TensorInfo*> parts;
      bool whole = false;
    };
    std::map<std::string, Client> clients;
    std::vector<std::string> name_order;
    for (const TensorInfo& t : header.tensors) {
      if (t.name == "reference") continue;
      if (t.name.compare(0, 7, "client/") != 0) {
        r.warnings.push_back("ignored tensor '" + printable(t.name) + "'");
        continue;
      }
      const std::string rest = t.name.substr(7);
      const auto slash = rest.find('/');
      const std::string id = rest.substr(0, slash);
      if (id.empty())
        fail(name, tensor_at(t.begin), "tensor '", printable(t.name), "' has an empty client id");
      DType dt;
      if (!to_update_dtype(t.dtype, &dt)) {
        fail(name, tensor_at(t.begin), "tensor '", printable(t.name), "' has dtype ",
             safe_dtype_name(t.dtype), " (updates must be F32, F16 or BF16)");
      }
      auto [it, fresh] = clients.try_emplace(id);
      if (fresh) name_order.push_back(id);
      Client& c = it->second;
      const bool whole = slash == std::string::npos;
      if (!c.parts.empty() && (whole || c.whole)) {
        fail(name, tensor_at(t.begin), "client '", printable(id),
             "' has both a whole tensor and per-layer tensors");
      }
      c.whole = whole;
      c.parts.push_back(&t);
    }
    if (clients.empty()) fail(name, meta_at, "no 'updates' tensor and no 'client/<id>' tensors");
    std::vector<std::string> order = name_order;
    if (!r.client_ids.empty()) {
      std::set<std::string> listed(r.client_ids.begin(), r.client_ids.end());
      if (listed.size() != r.client_ids.size() || listed.size() != clients.size()) {
        fail(name, meta_at, "__metadata__ 'client_ids' (", r.client_ids.size(),
             " ids) does not match the ", clients.size(), " client tensors");
      }
      for (const std::string& id : r.client_ids) {
        if (!clients.count(id))
          fail(name, meta_at, "client id '", printable(id), "' has no tensor");
      }
      order = r.client_ids;
    }
    // Layer signature of each client: (layer names, sizes); the round's is the most common.
    using Signature = std::vector<std::pair<std::string, std::size_t>>;
    std::vector<Signature> sigs;
    std::vector<DType> dtypes;
    for (const std::string& id : order) {
      Signature s;
      for (const TensorInfo* t : clients[id].parts) {
        const std::string layer = clients[id].whole ? std::string() : t->name.substr(8 + id.size());
        s.emplace_back(layer, t->element_count());
      }
      sigs.push_back(std::move(s));
      DType dt;
      to_update_dtype(clients[id].parts.front()->dtype, &dt);
      dtypes.push_back(dt);
    }
    const Signature round_sig = mode_of(sigs);
    for (const auto& [layer, size] : round_sig) {
      r.layers.push_back({layer, d, d + size});
      d += size;
    }
    if (r.layers.size() == 1 && r.layers[0].name.empty()) r.layers.clear();
    const DType round_dt = mode_of(dtypes);
    // Zero-copy when each client's parts are contiguous in the file, in name order, of the
    // round's dtype, and aligned; otherwise one float32 copy of the round.
    bool zero_copy = true;
    for (std::size_t i = 0; i < order.size() && zero_copy; ++i) {
      const auto& parts = clients[order[i]].parts;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        DType dt;
        to_update_dtype(parts[k]->dtype, &dt);
        if (dt != round_dt || (k > 0 && parts[k]->begin != parts[k - 1]->end) ||
            !aligned(base + parts[k]->begin, dtype_size(dt))) {
          zero_copy = false;
        }
      }
    }
    std::vector<ClientUpdate> rows;
    std::shared_ptr<std::vector<float>> owned;
    if (!zero_copy) owned = std::make_shared<std::vector<float>>(order.size() * d);
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& parts = clients[order[i]].parts;
      for (const TensorInfo* t : parts) r.update_bytes += t->end - t->begin;
      if (sigs[i] != round_sig) {
        std::size_t total = 0;
        for (const auto& [layer, size] : sigs[i]) total += size;
        r.warnings.push_back("client '" + printable(order[i]) + "' has another layer layout (" +
                             std::to_string(total) +
                             " values); it is passed on with the wrong length");
        rows.push_back(
            {parts.front()->end > parts.front()->begin ? base + parts.front()->begin : nullptr,
             total == d ? d + 1 : total, round_dt});
        continue;
      }
      if (zero_copy) {
        rows.push_back({base + parts.front()->begin, d, round_dt});
      } else {
        float* dst = owned->data() + i * d;
        for (const TensorInfo* t : parts) {
          DType dt;
          to_update_dtype(t->dtype, &dt);
          to_float(dt, base + t->begin, dst, t->element_count());
          dst += t->element_count();
        }
        rows.push_back({owned->data() + i * d, d, DType::kFloat32});
      }
    }
    if (!zero_copy) {
      // Rows with another layout keep a pointer into the file; give them float32 too so only
      // their length differs.
      for (auto& row : rows) row.dtype = DType::kFloat32;
      r.keep_alive = owned;
    }
    r.updates = UpdateView::per_client(std::move(rows), d, zero_copy ? round_dt : DType::kFloat32);
    r.client_ids = order;
  }
  if (const TensorInfo* ref = header.find("reference")) {
    DType dt;
    if (!to_update_dtype(ref->dtype, &dt) || ref->element_count() != d || ref->shape.size() != 1) {
      fail(name, tensor_at(ref->begin), "tensor 'reference' must be 1-D of length d=", d,
           " and dtype F32, F16 or BF16");
    }
    r.reference.resize(d);
    to_float(dt, base + ref->begin, r.reference.data(), d);
  }
  check_entry_agrees(r, entry, name, meta_at);
  check_lengths(r, name, meta_at);
  default_ids(r);
  return r;
}

void set_pt_round_reader(PtRoundReader reader) { g_pt_round_reader.store(reader); }

PtRoundReader pt_round_reader() { return g_pt_round_reader.load(); }

void hold_also(RoundData& r, std::shared_ptr<void> owner) {
  if (!r.keep_alive) {
    r.keep_alive = std::move(owner);
  } else {
    r.keep_alive = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(
        r.keep_alive, std::move(owner));
  }
}

void prefetch_file(const std::string& path) noexcept {
  // Populating a read-only mapping reads the whole file into the page cache (in this helper
  // thread, without copying it anywhere). MappedFile opens with O_NONBLOCK and maps only regular
  // files, so a FIFO in place of a round does not block this thread; whatever fails here is
  // left for the reader to report.
  try {
    const MappedFile prefetched(path, MappedFile::Populate::kYes);
  } catch (...) {
  }
}

RoundData read_round_file(const std::string& path, const ManifestEntry* entry,
                          std::size_t default_round) {
  const std::string ext = ends_with_ext(path);
  if (ext == ".safetensors") {
    auto file = std::make_shared<SafetensorsFile>(path);
    file->advise_sequential();
    RoundData r = round_from_safetensors(file->bytes(), file->header(), path, entry, default_round);
    hold_also(r, file);  // views into the mapping need it alive
    return r;
  }
  if (ext == ".npy") {
    auto file = std::make_shared<NpyFile>(path);
    RoundData r;
    r.path = path;
    r.round = default_round;
    apply_entry(r, entry);
    if (file->shape().size() != 2) {
      fail(path, 0, "updates must be a 2-D array (n x d), got ", file->shape().size(), "-D");
    }
    DType dt;
    switch (file->type()) {
      case NpyType::kFloat32:
        dt = DType::kFloat32;
        break;
      case NpyType::kFloat16:
        dt = DType::kFloat16;
        break;
      default:
        fail(path, 0, "dtype ", npy_type_name(file->type()),
             " is not an update dtype (expected <f4 or <f2)");
    }
    r.updates = UpdateView(file->data(), file->shape()[0], file->shape()[1], dt);
    r.update_bytes = file->element_count() * npy_type_size(file->type());
    r.keep_alive = file;
    check_lengths(r, path, 0);
    default_ids(r);
    return r;
  }
  if (ext == ".pt") {
    // The core library has no LibTorch: a program built with it registers the reader
    // (fedguard_io_torch, io/pt_round_torch.h).
    if (const PtRoundReader reader = g_pt_round_reader.load())
      return reader(path, entry, default_round);
    FEDGUARD_THROW(
        kUnsupported,
        path << ": a LibTorch .pt round, but fedguard was built without LibTorch "
                "(configure with -DFEDGUARD_TORCH=ON; a program linking fedguard_io_torch "
                "calls fedguard::io::register_pt_round_reader())");
  }
  FEDGUARD_THROW(kIo, path << ": unknown round file type '" << ext
                           << "' (expected .safetensors, .npy or .pt)");
}

UpdateLog::UpdateLog(std::string dir) : dir_(std::move(dir)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) FEDGUARD_THROW(kIo, dir_ << ": not a directory");
  const std::string manifest = dir_ + "/manifest.json";
  if (fs::exists(manifest, ec)) {
    manifest_ = read_manifest(manifest);
    has_manifest_ = true;
    for (std::size_t i = 0; i < manifest_.rounds.size(); ++i) {
      entries_.push_back({dir_ + "/" + manifest_.rounds[i].file, i, nullptr});
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) entries_[i].manifest = &manifest_.rounds[i];
    return;
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    const std::string ext = ends_with_ext(name);
    if (ext == ".safetensors" || ext == ".npy" || ext == ".pt") names.push_back(name);
  }
  if (ec) FEDGUARD_THROW(kIo, dir_ << ": cannot list: " << ec.message());
  std::sort(names.begin(), names.end());
  for (std::size_t i = 0; i < names.size(); ++i)
    entries_.push_back({dir_ + "/" + names[i], i, nullptr});
}

RoundData UpdateLog::read(std::size_t i) const {
  FEDGUARD_EXPECTS(i < entries_.size(),
                   "round index " << i << " out of range (" << entries_.size() << " rounds)");
  return read_round_file(entries_[i].path, has_manifest_ ? &manifest_.rounds[i] : nullptr, i);
}

}  // namespace fedguard::io
