// base64 (libcrypto's EVP_EncodeBlock / EVP_DecodeBlock, wrapped in a canonical-form check)
// and hex.
#include <openssl/evp.h>

#include <cstring>

#include "fedguard/error.h"
#include "fedguard/identity.h"

namespace fedguard::identity {

std::string base64_encode(const void* data, std::size_t bytes) {
  std::string out(4 * ((bytes + 2) / 3), '\0');
  if (bytes == 0) return out;
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                static_cast<const unsigned char*>(data), static_cast<int>(bytes));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
  // EVP_DecodeBlock skips leading/trailing whitespace, returns the padding as zero bytes and
  // ignores non-zero trailing bits, so the input is checked against the canonical form
  // instead: length a multiple of 4, alphabet only, at most two '=' and only at the end, and
  // re-encoding the result gives the input back.
  if (text.size() % 4 != 0 || text.size() > (1u << 30)) return std::nullopt;
  if (text.empty()) return std::string();
  std::size_t pad = 0;
  while (pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  for (std::size_t i = 0; i + pad < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - pad);
  if (base64_encode(out.data(), out.size()) != text) return std::nullopt;
  return out;
}

std::string hex_encode(const void* data, std::size_t bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

Nonce parse_nonce_hex(const std::string& hex) {
  FEDGUARD_EXPECTS(hex.size() == 64,
                   "nonce must be 64 hex digits (32 bytes), got " << hex.size() << " characters");
  Nonce n;
  auto digit = [&](std::size_t i) -> int {
    const char c = hex[i];
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    FEDGUARD_THROW(kInvalidInput,
                   "nonce: character " << i << " ('" << c << "') is not a hex digit");
  };
  for (std::size_t i = 0; i < n.size(); ++i)
    n[i] = static_cast<std::uint8_t>(digit(2 * i) * 16 + digit(2 * i + 1));
  return n;
}

std::string key_to_base64(const std::array<std::uint8_t, 32>& key) {
  return base64_encode(key.data(), key.size());
}

std::array<std::uint8_t, 32> key_from_base64(const std::string& text, const char* what) {
  const std::optional<std::string> raw = base64_decode(text);
  FEDGUARD_EXPECTS(raw.has_value(),
                   what << " is not canonical base64 (RFC 4648, padded): '" << text << "'");
  FEDGUARD_EXPECTS(raw->size() == 32,
                   what << " decodes to " << raw->size() << " bytes, an Ed25519 key has 32");
  std::array<std::uint8_t, 32> key;
  std::memcpy(key.data(), raw->data(), key.size());
  return key;
}

}  // namespace fedguard::identity
