#include "io/manifest.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/json_parse.h"
#include "common/regular_file.h"
#include "fedguard/error.h"
#include "io/printable.h"

namespace fedguard::io {
namespace {

constexpr const char* kFormat = "fedguard-update-log";
constexpr int kVersion = 1;
constexpr int kMaxDepth = 32;

bool plain_file_name(const std::string& f) {
  return !f.empty() && f != "." && f != ".." && f.find('/') == std::string::npos &&
         f.find('\\') == std::string::npos && f.find('\0') == std::string::npos && f.size() <= 255;
}

}  // namespace

Manifest parse_manifest(const std::string& text, const std::string& name) {
  nlohmann::json j;
  try {
    j = parse_json(text, kMaxDepth);
  } catch (const JsonError& e) {  // syntax, nesting, duplicate keys, NUL bytes, huge numbers
    FEDGUARD_THROW(kIo, name << ": " << e.what());
  }
  auto bad = [&](const std::string& where, const std::string& what) {
    FEDGUARD_THROW(kIo, name << ": " << where << ": " << what);
  };
  if (!j.is_object()) bad("top level", "the manifest must be a JSON object");
  const auto fmt = j.find("format");
  if (fmt == j.end() || !fmt->is_string() || fmt->get<std::string>() != kFormat) {
    bad("\"format\"", std::string("must be \"") + kFormat + "\"");
  }
  const auto ver = j.find("version");
  if (ver == j.end() || !ver->is_number_integer() || ver->get<std::int64_t>() != kVersion) {
    bad("\"version\"", "unsupported version (this reader knows version 1)");
  }
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "format" && key != "version" && key != "rounds" && key != "info")
      bad("top level", "unknown key '" + printable(key) + "'");
  }
  Manifest m;
  if (j.contains("info")) {
    if (!j["info"].is_object()) bad("\"info\"", "must be an object");
    m.info = j["info"];
  }
  const auto rounds = j.find("rounds");
  if (rounds == j.end() || !rounds->is_array()) bad("\"rounds\"", "missing or not an array");
  std::set<std::string> files;
  for (std::size_t i = 0; i < rounds->size(); ++i) {
    const nlohmann::json& e = (*rounds)[i];
    const std::string where = "rounds[" + std::to_string(i) + "]";
    if (!e.is_object()) bad(where, "must be an object");
    ManifestEntry entry;
    for (const auto& [key, value] : e.items()) {
      if (key == "round" || key == "n" || key == "d" || key == "bytes") {
        if (!value.is_number_unsigned()) bad(where, "'" + key + "' must be a non-negative integer");
        const auto v = value.get<std::uint64_t>();
        if (key == "round") entry.round = static_cast<std::size_t>(v);
        if (key == "n") entry.n = static_cast<std::size_t>(v);
        if (key == "d") entry.d = static_cast<std::size_t>(v);
        if (key == "bytes") entry.bytes = v;
      } else if (key == "file") {
        if (!value.is_string() || !plain_file_name(value.get<std::string>())) {
          bad(where, "'file' must be a plain file name inside the log directory");
        }
        entry.file = value.get<std::string>();
      } else if (key == "client_ids" || key == "malicious") {
        if (!value.is_array()) bad(where, "'" + key + "' must be an array of strings");
        std::vector<std::string> ids;
        for (const auto& id : value) {
          if (!id.is_string()) bad(where, "'" + key + "' must be an array of strings");
          ids.push_back(id.get<std::string>());
        }
        if (key == "client_ids") {
          entry.client_ids = std::move(ids);
        } else {
          entry.malicious = std::move(ids);
          entry.has_malicious = true;
        }
      } else if (key == "num_samples") {
        if (!value.is_array()) bad(where, "'num_samples' must be an array of numbers");
        for (const auto& w : value) {
          if (!w.is_number()) bad(where, "'num_samples' must be an array of numbers");
          entry.num_samples.push_back(w.get<double>());
        }
      } else if (key != "dtype" && key != "info") {
        bad(where, "unknown key '" + printable(key) + "'");
      }
    }
    if (entry.file.empty()) bad(where, "missing 'file'");
    if (!e.contains("round")) entry.round = i;
    if (!files.insert(entry.file).second)
      bad(where, "file '" + printable(entry.file) + "' is listed twice");
    m.rounds.push_back(std::move(entry));
  }
  return m;
}

nlohmann::ordered_json manifest_to_json(const Manifest& manifest) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["info"] = manifest.info;
  j["rounds"] = nlohmann::ordered_json::array();
  for (const ManifestEntry& e : manifest.rounds) {
    nlohmann::ordered_json r;
    r["round"] = e.round;
    r["file"] = e.file;
    if (e.n) r["n"] = e.n;
    if (e.d) r["d"] = e.d;
    if (e.bytes) r["bytes"] = e.bytes;
    if (!e.client_ids.empty()) r["client_ids"] = e.client_ids;
    if (!e.num_samples.empty()) r["num_samples"] = e.num_samples;
    if (e.has_malicious) r["malicious"] = e.malicious;
    j["rounds"].push_back(std::move(r));
  }
  return j;
}

Manifest read_manifest(const std::string& path) {
  return parse_manifest(read_regular_file(path, kMaxTextFileBytes), path);
}

void write_manifest(const std::string& path, const Manifest& manifest) {
  const std::string text = manifest_to_json(manifest).dump(1) + "\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) FEDGUARD_THROW(kIo, tmp << ": cannot open for writing");
    f << text;
    f.flush();
    if (!f) FEDGUARD_THROW(kIo, tmp << ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot rename " << tmp << " over it");
  }
}

}  // namespace fedguard::io
