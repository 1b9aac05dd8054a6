// Ed25519 (RFC 8032) and SHA-256 through OpenSSL 3's EVP interface, and the CSPRNG. Nothing here
// implements cryptography: every primitive is libcrypto's.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "fedguard/error.h"
#include "fedguard/identity.h"
#include "identity/openssl_check.h"

namespace fedguard::identity {
namespace detail {

void throw_openssl(const char* call) {
  char text[256] = "no OpenSSL error queued";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  FEDGUARD_THROW(kUnsupported, "OpenSSL " << call << " failed: " << text);
}

}  // namespace detail
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Pkey private_pkey(const PrivateKey& key) {
  Pkey p(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  if (!p) detail::throw_openssl("EVP_PKEY_new_raw_private_key(ED25519)");
  return p;
}

}  // namespace

KeyPair generate_key_pair() {
  KeyPair k;
  // The private key is the 32-byte seed (RFC 8032 5.1.5): drawn here, expanded by OpenSSL.
  if (RAND_bytes(k.private_key.data(), static_cast<int>(k.private_key.size())) != 1)
    detail::throw_openssl("RAND_bytes");
  k.public_key = public_key_of(k.private_key);
  return k;
}

PublicKey public_key_of(const PrivateKey& private_key) {
  const Pkey p = private_pkey(private_key);
  PublicKey pub;
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(p.get(), pub.data(), &len) != 1 || len != pub.size())
    detail::throw_openssl("EVP_PKEY_get_raw_public_key");
  return pub;
}

Digest sha256(const void* data, std::size_t bytes) {
  Digest out;
  unsigned int len = 0;
  // EVP_Digest picks libcrypto's fastest SHA-256 for the CPU (SHA-NI where present).
  if (EVP_Digest(data, bytes, out.data(), &len, EVP_sha256(), nullptr) != 1 || len != out.size())
    detail::throw_openssl("EVP_Digest(SHA-256)");
  return out;
}

Signature sign(const PrivateKey& private_key, const std::string& message) {
  const Pkey p = private_pkey(private_key);
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) detail::throw_openssl("EVP_MD_CTX_new");
  Signature sig;
  std::size_t len = sig.size();
  // Ed25519 is one-shot (PureEdDSA): no digest is named, the whole message goes in at once.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, p.get()) != 1)
    detail::throw_openssl("EVP_DigestSignInit(ED25519)");
  if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != sig.size())
    detail::throw_openssl("EVP_DigestSign(ED25519)");
  return sig;
}

bool verify(const PublicKey& public_key, const std::string& message, const void* signature,
            std::size_t signature_bytes) {
  if (signature == nullptr || signature_bytes != kSignatureBytes) return false;
  // A 32-byte string that is not a curve point is refused here: that is a bad key, not an
  // environment failure, so it is "not verified" rather than an exception.
  Pkey p(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  if (!p) {
    ERR_clear_error();
    return false;
  }
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) detail::throw_openssl("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, p.get()) != 1)
    detail::throw_openssl("EVP_DigestVerifyInit(ED25519)");
  const int ok =
      EVP_DigestVerify(ctx.get(), static_cast<const unsigned char*>(signature), signature_bytes,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();  // a failed verification queues an error; it is an answer, not a failure
  return ok == 1;
}

Nonce new_nonce() {
  Nonce n;
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) detail::throw_openssl("RAND_bytes");
  return n;
}

}  // namespace fedguard::identity
