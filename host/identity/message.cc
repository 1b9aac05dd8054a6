// The signed update message (docs/formats.md, "Signed updates"): an interoperable contract;
// any change is a new version string, never an edit of v1.
#include "fedguard/error.h"
#include "fedguard/identity.h"

namespace fedguard::identity {
namespace {

void put_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_text(std::string& out, const std::string& text, const char* what) {
  // A NUL inside a field would let two different (federation, client) pairs give one message.
  FEDGUARD_EXPECTS(!text.empty(), what << " is empty");
  FEDGUARD_EXPECTS(text.find('\0') == std::string::npos, what << " contains a NUL byte");
  out += text;
  out.push_back('\0');
}

std::size_t element_bytes(const std::string& dtype) {
  FEDGUARD_EXPECTS(dtype == "float32" || dtype == "float16" || dtype == "bfloat16",
                   "dtype '" << dtype << "' is not one of float32, float16, bfloat16");
  return dtype == "float32" ? 4 : 2;
}

}  // namespace

std::string update_message(const std::string& federation, const std::string& client,
                           std::uint64_t round, const Nonce& nonce, const std::string& dtype,
                           std::uint64_t d, const Digest& update_sha256) {
  element_bytes(dtype);
  std::string m;
  m.reserve(19 + federation.size() + client.size() + 2 + 8 + 32 + dtype.size() + 1 + 8 + 32);
  m += "fedguard/update/v1";
  m.push_back('\0');
  put_text(m, federation, "federation id");
  put_text(m, client, "client id");
  put_u64_le(m, round);
  m.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  m += dtype;
  m.push_back('\0');
  put_u64_le(m, d);
  m.append(reinterpret_cast<const char*>(update_sha256.data()), update_sha256.size());
  return m;
}

Signature sign_update(const PrivateKey& private_key, const std::string& federation,
                      const std::string& client, std::uint64_t round, const Nonce& nonce,
                      const std::string& dtype, std::uint64_t d, const void* data) {
  const std::size_t elem = element_bytes(dtype);
  FEDGUARD_EXPECTS(data != nullptr || d == 0, "sign_update: no update data");
  const Digest h = sha256(data, static_cast<std::size_t>(d) * elem);
  return sign(private_key, update_message(federation, client, round, nonce, dtype, d, h));
}

}  // namespace fedguard::identity
