// Client verification (docs/verification.md): Ed25519 keys, the signed update message, the
// client registry, round nonces. All cryptography is OpenSSL's (libcrypto 3): fedguard writes
// none. The message layout is an interoperable contract (docs/formats.md, "Signed updates").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fedguard::identity {

using Digest = std::array<std::uint8_t, 32>;      ///< SHA-256
using Nonce = std::array<std::uint8_t, 32>;       ///< a round's server nonce
using PublicKey = std::array<std::uint8_t, 32>;   ///< Ed25519 public key (RFC 8032)
using PrivateKey = std::array<std::uint8_t, 32>;  ///< Ed25519 private key: the 32-byte seed
using Signature = std::array<std::uint8_t, 64>;   ///< Ed25519 signature (RFC 8032)

constexpr std::size_t kSignatureBytes = 64;

struct KeyPair {
  PrivateKey private_key;
  PublicKey public_key;
};

/// A fresh key pair from the operating system's CSPRNG (OpenSSL RAND_bytes).
KeyPair generate_key_pair();
/// The public key of a private key (seed).
PublicKey public_key_of(const PrivateKey& private_key);

/// SHA-256 of bytes.
Digest sha256(const void* data, std::size_t bytes);

/// The exact bytes a client signs (docs/formats.md):
///   "fedguard/update/v1" 0x00, federation 0x00, client 0x00, round (u64 LE), nonce (32 B),
///   dtype name 0x00, d (u64 LE), SHA-256 of the update's bytes (32 B).
/// Throws kInvalidInput for a dtype other than "float32", "float16", "bfloat16", or a
/// federation / client id that is empty or contains a NUL byte.
std::string update_message(const std::string& federation, const std::string& client,
                           std::uint64_t round, const Nonce& nonce, const std::string& dtype,
                           std::uint64_t d, const Digest& update_sha256);

/// Ed25519 signature of message.
Signature sign(const PrivateKey& private_key, const std::string& message);
/// True when signature (any length: anything but 64 bytes is false) is a valid Ed25519
/// signature of message under public_key.
bool verify(const PublicKey& public_key, const std::string& message, const void* signature,
            std::size_t signature_bytes);

/// What a client does: hashes the update's bytes (d elements of dtype, little-endian, as sent)
/// and signs update_message(...).
Signature sign_update(const PrivateKey& private_key, const std::string& federation,
                      const std::string& client, std::uint64_t round, const Nonce& nonce,
                      const std::string& dtype, std::uint64_t d, const void* data);

/// A fresh round nonce from the CSPRNG (OpenSSL RAND_bytes).
Nonce new_nonce();

/// RFC 4648 base64 (standard alphabet, padded).
std::string base64_encode(const void* data, std::size_t bytes);
/// Strict decoding: only the canonical encoding of some bytes is accepted (alphabet, padding,
/// zero trailing bits); anything else is std::nullopt.
std::optional<std::string> base64_decode(const std::string& text);
/// Lower-case hex, and its strict inverse for a 32-byte nonce (64 hex digits; throws
/// kInvalidInput stating what is wrong).
std::string hex_encode(const void* data, std::size_t bytes);
Nonce parse_nonce_hex(const std::string& hex);

/// Key text as stored in files and the registry: base64 of the 32 raw bytes. parse_* throw
/// kInvalidInput when the text is not the base64 of exactly 32 bytes.
std::string key_to_base64(const std::array<std::uint8_t, 32>& key);
std::array<std::uint8_t, 32> key_from_base64(const std::string& text, const char* what);

}  // namespace fedguard::identity
