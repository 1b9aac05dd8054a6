// Turns an OpenSSL failure into a fedguard::Error naming the call and OpenSSL's own reason.
#pragma once

namespace fedguard::identity::detail {

/// An OpenSSL call failing on valid input is an environment failure (no entropy source, no
/// Ed25519 provider), not bad input: kUnsupported, with OpenSSL's error queue text.
[[noreturn]] void throw_openssl(const char* call);

}  // namespace fedguard::identity::detail
