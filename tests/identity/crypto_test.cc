// Keys, hashing, base64, nonces and the signed message, against published test vectors (RFC
// 8032 section 7.1, FIPS 180-2) and a byte-by-byte rebuild of the message layout.
#include <gtest/gtest.h>

#include <cstring>

#include "fedguard/error.h"
#include "fedguard/identity.h"

namespace fedguard::identity {
namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}
template <std::size_t N>
std::array<std::uint8_t, N> arr(const std::string& hex) {
  const std::string raw = unhex(hex);
  std::array<std::uint8_t, N> a{};
  EXPECT_EQ(raw.size(), N);
  std::memcpy(a.data(), raw.data(), N);
  return a;
}

TEST(Ed25519, Rfc8032Vectors) {
  struct V {
    const char *secret, *pub, *msg, *sig;
  } vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf"
       "9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f"
       "11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const V& v : vectors) {
    const PrivateKey sk = arr<32>(v.secret);
    EXPECT_EQ(hex_encode(public_key_of(sk).data(), 32), v.pub);
    const Signature sig = sign(sk, unhex(v.msg));
    EXPECT_EQ(hex_encode(sig.data(), sig.size()), v.sig);
    EXPECT_TRUE(verify(arr<32>(v.pub), unhex(v.msg), sig.data(), sig.size()));
    Signature bad = sig;
    bad[10] ^= 1;
    EXPECT_FALSE(verify(arr<32>(v.pub), unhex(v.msg), bad.data(), bad.size()));
    EXPECT_FALSE(verify(arr<32>(v.pub), unhex(v.msg) + "x", sig.data(), sig.size()));
    EXPECT_FALSE(verify(arr<32>(v.pub), unhex(v.msg), sig.data(), 63));
    EXPECT_FALSE(verify(arr<32>(v.pub), unhex(v.msg), nullptr, 64));
  }
}

TEST(Ed25519, GeneratedKeysSignAndVerify) {
  const KeyPair a = generate_key_pair(), b = generate_key_pair();
  EXPECT_NE(a.private_key, b.private_key);
  EXPECT_EQ(public_key_of(a.private_key), a.public_key);
  const Signature s = sign(a.private_key, "hello");
  EXPECT_TRUE(verify(a.public_key, "hello", s.data(), s.size()));
  EXPECT_FALSE(verify(b.public_key, "hello", s.data(), s.size()));
}

TEST(Sha256, Fips180Vectors) {
  EXPECT_EQ(hex_encode(sha256("abc", 3).data(), 32),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_encode(sha256("", 0).data(), 32),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string million(1000000, 'a');
  EXPECT_EQ(hex_encode(sha256(million.data(), million.size()).data(), 32),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Base64, CanonicalOnly) {
  EXPECT_EQ(base64_encode("", 0), "");
  EXPECT_EQ(base64_encode("f", 1), "Zg==");
  EXPECT_EQ(base64_encode("foobar", 6), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(base64_decode("").value(), "");
  for (const char* bad : {"Zg=", "Zh==", "Z g=", "Zg==\n", " Zg==", "Zm9v!mFy", "Zg=a",
                          "====", "Z===", "Zm9vYmFy===="})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  for (int len = 0; len < 70; ++len) {
    std::string s;
    for (int i = 0; i < len; ++i) s.push_back(static_cast<char>(i * 37 + len));
    EXPECT_EQ(base64_decode(base64_encode(s.data(), s.size())).value(), s);
  }
}

TEST(Nonce, FreshAndHex) {
  const Nonce a = new_nonce(), b = new_nonce();
  EXPECT_NE(a, b);
  EXPECT_EQ(parse_nonce_hex(hex_encode(a.data(), a.size())), a);
  const std::string upper(64, 'A');
  EXPECT_EQ(parse_nonce_hex(upper)[0], 0xaa);
  EXPECT_THROW(parse_nonce_hex(std::string(63, '0')), Error);
  EXPECT_THROW(parse_nonce_hex(std::string(66, '0')), Error);
  EXPECT_THROW(parse_nonce_hex(std::string(63, '0') + "g"), Error);
}

TEST(Keys, Base64Form) {
  const KeyPair k = generate_key_pair();
  EXPECT_EQ(key_from_base64(key_to_base64(k.public_key), "key"), k.public_key);
  EXPECT_THROW(key_from_base64(base64_encode("short", 5), "key"), Error);
  EXPECT_THROW(key_from_base64("not base64!", "key"), Error);
}

TEST(UpdateMessage, LayoutByteByByte) {
  Nonce nonce;
  for (std::size_t i = 0; i < 32; ++i) nonce[i] = static_cast<std::uint8_t>(200 + i);
  Digest h;
  for (std::size_t i = 0; i < 32; ++i) h[i] = static_cast<std::uint8_t>(i);
  const std::string m =
      update_message("fed-é", "c7", 0x0102030405060708ull, nonce, "bfloat16", 300, h);
  std::string want = std::string("fedguard/update/v1") + '\0' + "fed-\xc3\xa9" + '\0' + "c7" + '\0';
  want += std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  want.append(reinterpret_cast<const char*>(nonce.data()), 32);
  want += std::string("bfloat16") + '\0';
  want += std::string("\x2c\x01\0\0\0\0\0\0", 8);
  want.append(reinterpret_cast<const char*>(h.data()), 32);
  EXPECT_EQ(m, want);
  EXPECT_THROW(update_message("f", "c", 1, nonce, "float64", 3, h), Error);
  EXPECT_THROW(update_message("", "c", 1, nonce, "float32", 3, h), Error);
  EXPECT_THROW(update_message("f", std::string("a\0b", 3), 1, nonce, "float32", 3, h), Error);
}

TEST(UpdateMessage, SignUpdateHashesTheBytesAsSent) {
  const KeyPair k = generate_key_pair();
  const Nonce nonce = new_nonce();
  const std::vector<float> x = {1.5f, -2.0f, 0.25f};
  const Signature s = sign_update(k.private_key, "fed", "c1", 4, nonce, "float32", 3, x.data());
  const std::string m = update_message("fed", "c1", 4, nonce, "float32", 3, sha256(x.data(), 12));
  EXPECT_TRUE(verify(k.public_key, m, s.data(), s.size()));
  EXPECT_THROW(sign_update(k.private_key, "fed", "c1", 4, nonce, "int8", 3, x.data()), Error);
}

}  // namespace
}  // namespace fedguard::identity
