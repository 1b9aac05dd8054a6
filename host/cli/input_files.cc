#include "cli/input_files.h"

#include "common/json_parse.h"
#include "common/regular_file.h"
#include "fedguard/error.h"

namespace fedguard::cli {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not a well-formed one
// (overlong forms, surrogates and code points above U+10FFFF are refused as in RFC 3629).
std::size_t utf8_sequence(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c == 0xE0)
    len = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC)
    len = 3;
  else if (c == 0xED)
    len = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF)
    len = 3;
  else if (c == 0xF0)
    len = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3)
    len = 4;
  else if (c == 0xF4)
    len = 4, hi = 0x8F;
  else
    return 0;
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return len;
}

}  // namespace

EngineConfig read_config_file(const std::string& path) {
  const std::string text = read_regular_file(path, kMaxTextFileBytes);
  try {
    return EngineConfig::from_json(text);
  } catch (const Error& e) {
    throw Error(e.category(), path + ": " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_regular_file(path, kMaxTextFileBytes);
  try {
    return parse_json(text);
  } catch (const JsonError& e) {
    FEDGUARD_THROW(kInvalidInput, path << ": " << e.what());
  }
}

std::vector<std::string> read_ids_file(const std::string& path) {
  const std::string text = read_regular_file(path, kMaxTextFileBytes);
  std::vector<std::string> ids;
  std::size_t start = 0, line = 1;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string id = text.substr(start, end - start);
    while (!id.empty() && (id.back() == '\r' || id.back() == ' ')) id.pop_back();
    for (std::size_t i = 0; i < id.size();) {
      const std::size_t len = utf8_sequence(id, i);
      if (len == 0 || static_cast<unsigned char>(id[i]) < 0x20 || id[i] == 0x7f)
        FEDGUARD_THROW(kIo, path << ": line " << line << " (offset " << start + i
                                 << "): client ids must be UTF-8 "
                                 << "text without control characters, found byte 0x" << std::hex
                                 << static_cast<unsigned>(static_cast<unsigned char>(id[i])));
      i += len;
    }
    if (!id.empty()) ids.push_back(std::move(id));
    start = end + 1;
    ++line;
  }
  return ids;
}

}  // namespace fedguard::cli
