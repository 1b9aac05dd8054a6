#include "common/json_parse.h"

#include <cmath>
#include <utility>
#include <vector>

namespace fedguard {
namespace {

// s with bytes outside printable ASCII as \xHH, cut after max bytes: messages quote the text
// (the parser's "last read" token, a key) and must stay valid UTF-8 without control bytes.
std::string printable_ascii(const std::string& s, std::size_t max) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) return out + "...";
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote_key(const std::string& s) { return "\"" + printable_ascii(s, 80) + "\""; }

// Pass 1, without building anything: raw NUL bytes, the nesting depth, and where each string
// token starts (so the builder can name the offset of a duplicate key). A text that is not
// valid JSON may be mis-tokenised here; pass 2 then reports it.
std::vector<std::size_t> prescan(std::string_view text, std::size_t max_depth) {
  std::vector<std::size_t> string_starts;
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') throw JsonError(i, "NUL byte");
    if (in_string) {
      if (c == '\\') {
        if (i + 1 < text.size() && text[i + 1] == '\0') throw JsonError(i + 1, "NUL byte");
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      string_starts.push_back(i);
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth)
        throw JsonError(i, "nested deeper than " + std::to_string(max_depth) + " levels");
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return string_starts;
}

// Pass 2: nlohmann's (iterative) SAX parser into a DOM built here, refusing duplicate keys and
// NUL characters in strings.
class Builder : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Builder(std::vector<std::size_t> string_starts) : starts_(std::move(string_starts)) {}
  nlohmann::json take() { return std::move(root_); }

  bool null() override { return add(nullptr); }
  bool boolean(bool v) override { return add(v); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  // nlohmann's parser reports numbers beyond the double range through parse_error (406).
  bool number_float(number_float_t v, const string_t&) override { return add(v); }
  bool string(string_t& v) override {
    const std::size_t at = next_offset();
    if (v.find('\0') != std::string::npos) throw JsonError(at, "NUL character in a string");
    return add(std::move(v));
  }
  bool binary(binary_t&) override { throw JsonError(0, "binary value"); }
  bool start_object(std::size_t) override { return open(nlohmann::json::object()); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(nlohmann::json::array()); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    const std::size_t at = next_offset();
    if (k.find('\0') != std::string::npos) throw JsonError(at, "NUL character in a key");
    if (stack_.back()->contains(k)) throw JsonError(at, "duplicate key " + quote_key(k));
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    const auto bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    throw JsonError(position > 0 ? position - 1 : 0,
                    "not valid JSON: " + printable_ascii(what, 300));
  }

 private:
  std::size_t next_offset() { return strings_ < starts_.size() ? starts_[strings_++] : 0; }

  template <class V>
  bool add(V&& v) {
    place(nlohmann::json(std::forward<V>(v)));
    return true;
  }
  nlohmann::json* place(nlohmann::json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    nlohmann::json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    nlohmann::json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool open(nlohmann::json container) {
    // The parent is not touched again while this child is open, so the pointer stays valid.
    stack_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  std::vector<std::size_t> starts_;
  std::size_t strings_ = 0;
  nlohmann::json root_;
  std::vector<nlohmann::json*> stack_;
  std::string key_;
};

}  // namespace

JsonError::JsonError(std::size_t offset, std::string reason)
    : Error(ErrorCategory::kInvalidInput, "offset " + std::to_string(offset) + ": " + reason),
      offset_(offset),
      reason_(std::move(reason)) {}

nlohmann::json parse_json(std::string_view text, std::size_t max_depth) {
  Builder builder(prescan(text, max_depth));
  try {
    nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const JsonError&) {
    throw;
  } catch (const nlohmann::json::exception& e) {  // not expected: the SAX reports errors above
    throw JsonError(0, "not valid JSON: " + printable_ascii(e.what(), 300));
  }
  return builder.take();
}

}  // namespace fedguard
