// The manifest of an update log (docs/formats.md, "Update logs"): manifest.json in the log
// directory, listing the rounds in order. Optional: without it the rounds are the directory's
// .safetensors, .npy and .pt files in name order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fedguard::io {

struct ManifestEntry {
  std::size_t round = 0;
  std::string file;  ///< a plain file name inside the log directory (no '/', not "." or "..")
  std::size_t n = 0, d = 0;  ///< as written (0: unknown); the round file is authoritative
  std::uint64_t bytes = 0;   ///< the file's size as written (0: unknown)
  /// Metadata for rounds whose files cannot carry it (.npy): ids, sample counts, ground truth.
  std::vector<std::string> client_ids;
  std::vector<double> num_samples;
  std::vector<std::string> malicious;
  bool has_malicious = false;  ///< "malicious" present (possibly empty: a clean round)
};

struct Manifest {
  std::vector<ManifestEntry> rounds;
  nlohmann::json info = nlohmann::json::object();  ///< free-form: who wrote the log, settings
};

/// Parses and validates manifest text (format tag, version, every entry's types; file names
/// are plain names; no file listed twice). Throws fedguard::Error (kIo) naming `name` and,
/// for JSON syntax errors, the byte offset; for bad entries the entry's index.
Manifest parse_manifest(const std::string& text, const std::string& name);
nlohmann::ordered_json manifest_to_json(const Manifest& manifest);
/// Reads dir/manifest.json; throws kIo when it is unreadable or malformed.
Manifest read_manifest(const std::string& path);
/// Writes to PATH.tmp and renames over path.
void write_manifest(const std::string& path, const Manifest& manifest);

}  // namespace fedguard::io
