// Update logs (docs/formats.md, "Update logs"): a directory with one file per round plus an
// optional manifest.json. Written by servers and simulators as they run (UpdateLogWriter here,
// python_bindings/fedguard/update_log.py in Python), read back one round at a time by
// `fedguard scan` (host/forensics/).
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fedguard/update_view.h"
#include "io/manifest.h"
#include "io/safetensors.h"

namespace fedguard::io {

/// One round as a writer hands it over. Nothing is copied.
struct LoggedRound {
  std::size_t round = 0;
  std::vector<std::string> client_ids;  ///< n ids (empty: "0", "1", ...)
  std::vector<double> num_samples;      ///< n sample counts (empty: uniform)
  std::vector<std::string> malicious;   ///< ground truth, may be empty
  const float* updates = nullptr;       ///< n x d row-major float32
  std::size_t n = 0, d = 0;
  const float* reference = nullptr;                 ///< optional, d
  nlohmann::json extra = nlohmann::json::object();  ///< more metadata, stored as strings
  // Additions to the agreed API:
  /// Write "malicious" even when it is empty: the round is known to be clean (ground truth
  /// present). With false, an empty list means "unknown".
  bool ground_truth_known = false;
  /// Optional layer layout of each row: (name, element count) in flattening order, summing to d.
  std::vector<std::pair<std::string, std::size_t>> layers;
};

/// One safetensors file: tensor `updates` [n, d] F32, optional `reference` [d] F32, the rest in
/// `__metadata__` (format, round, client_ids, num_samples, malicious, layers, extra keys).
/// Written to PATH.tmp and renamed. Throws kInvalidInput on inconsistent sizes, kIo on failure.
void write_round_safetensors(const std::string& path, const LoggedRound& round);

class UpdateLogWriter {
 public:
  /// Creates dir (and its parents). An existing log there (manifest.json) is appended to.
  explicit UpdateLogWriter(std::string dir);
  /// Writes round_%06zu.safetensors (the round number) and rewrites manifest.json atomically.
  /// A round number already in the log is an error (kInvalidInput).
  void append(const LoggedRound& round);
  /// Free-form information kept in the manifest ("info"): the writer, the run's settings.
  void set_info(const nlohmann::json& info);
  const std::string& dir() const { return dir_; }
  std::size_t rounds_written() const { return manifest_.rounds.size(); }

 private:
  std::string dir_;
  Manifest manifest_;
};

/// A column range of the flattened update that belongs to one layer.
struct LayerRange {
  std::string name;
  std::size_t begin = 0, end = 0;
};

/// One round read from a log. The updates are views into the mapped file where its layout
/// allows (one `updates` tensor, or per-client tensors), else into one owned float32 copy
/// (per-layer tensors of a client that are not contiguous in the file). Movable.
struct RoundData {
  std::string path;
  std::size_t round = 0;
  std::vector<std::string> client_ids;
  std::vector<double> num_samples;
  std::vector<std::string> malicious;
  bool has_ground_truth = false;
  UpdateView updates;
  std::vector<float> reference;                        ///< empty: none
  std::vector<LayerRange> layers;                      ///< empty: one layer ("all")
  std::size_t update_bytes = 0;                        ///< bytes of update data in the file
  std::vector<std::string> warnings;                   ///< oddities that did not stop the read
  nlohmann::json metadata = nlohmann::json::object();  ///< the file's other metadata

  /// Unmaps / frees what the views point into; the views are invalid afterwards.
  void release();

  std::shared_ptr<void> keep_alive;  ///< the mapping or buffer the views point into
};

/// One round of a log: where its file is and what the manifest says about it.
struct LogEntry {
  std::string path;
  std::size_t index = 0;                    ///< position in the log
  const ManifestEntry* manifest = nullptr;  ///< null without a manifest
};

/// A log directory: the manifest (if any) and the rounds in order.
class UpdateLog {
 public:
  /// Reads dir/manifest.json if present (malformed: kIo), else lists the directory.
  explicit UpdateLog(std::string dir);
  UpdateLog(const UpdateLog&) = delete;  // entries point into the manifest
  UpdateLog& operator=(const UpdateLog&) = delete;
  const std::string& dir() const { return dir_; }
  bool has_manifest() const { return has_manifest_; }
  const Manifest& manifest() const { return manifest_; }
  const std::vector<LogEntry>& entries() const { return entries_; }
  /// Reads and validates round i (kIo naming the file and offset when it is malformed).
  RoundData read(std::size_t i) const;

 private:
  std::string dir_;
  bool has_manifest_ = false;
  Manifest manifest_;
  std::vector<LogEntry> entries_;
};

/// Adds `owner` to what r.keep_alive holds: r's views may point into it, and into whatever
/// keep_alive held before (an owned copy of some rows).
void hold_also(RoundData& r, std::shared_ptr<void> owner);

/// Asks the kernel to read `path` into the page cache ahead of use (posix_fadvise WILLNEED), so
/// that reading a log's next round overlaps the processing of the current one (`fedguard scan`
/// calls it from a helper thread). Never throws: a file that cannot be opened is reported when it
/// is read.
void prefetch_file(const std::string& path) noexcept;

/// Reads one round file (.safetensors, .npy, or .pt where a .pt reader is registered, see
/// set_pt_round_reader). entry, when given, supplies what .npy files cannot hold (ids, sample
/// counts, ground truth) and the round number. default_round is used when neither the file nor
/// entry has one.
RoundData read_round_file(const std::string& path, const ManifestEntry* entry = nullptr,
                          std::size_t default_round = 0);

/// Reader of `.pt` round files (torch.save). The core library holds no LibTorch code: without a
/// registered reader read_round_file fails on .pt files with kUnsupported ("built without
/// LibTorch"). fedguard_io_torch (built with FEDGUARD_TORCH) provides one, installed by
/// register_pt_round_reader() (io/pt_round_torch.h); the CLI does so at startup.
using PtRoundReader = RoundData (*)(const std::string& path, const ManifestEntry* entry,
                                    std::size_t default_round);
/// Installs the .pt reader (null: none). Thread-safe; meant to be called once at startup.
void set_pt_round_reader(PtRoundReader reader);
/// The registered .pt reader, or null.
PtRoundReader pt_round_reader();

/// Interprets a parsed safetensors image as a round (the part of read_round_file after
/// mapping); `base` is the image's first byte. Used by read_round_file and the fuzz target.
RoundData round_from_safetensors(const unsigned char* base, const SafetensorsHeader& header,
                                 const std::string& name, const ManifestEntry* entry,
                                 std::size_t default_round);

/// The round semantics of docs/formats.md ("Update logs") on any container of named tensors:
/// header.tensors (sorted by name) lie at [begin, end) from `base`, header.metadata is the
/// `__metadata__` map (string values, lists as JSON text). round_from_safetensors is this on a
/// mapped file; the .pt reader builds such a structure from what LibTorch loaded. With
/// file_offsets false, begin / end are not positions in the file and every error says
/// "offset 0". The views of the result point into `base` (or into an owned copy, which
/// keep_alive then holds): the caller keeps `base` alive as long as the result.
RoundData round_from_tensors(const unsigned char* base, const SafetensorsHeader& header,
                             const std::string& name, const ManifestEntry* entry,
                             std::size_t default_round, bool file_offsets);

}  // namespace fedguard::io
