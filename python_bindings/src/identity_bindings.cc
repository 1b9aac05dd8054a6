#include "identity_bindings.h"

#include <string_view>

#include "fedguard/identity.h"
#include "fedguard/registry.h"

namespace fedguard::python::identity_py {
namespace {

template <std::size_t N>
py::bytes to_bytes(const std::array<std::uint8_t, N>& a) {
  return py::bytes(reinterpret_cast<const char*>(a.data()), N);
}

// The update's bytes from any C-contiguous buffer (numpy array, bytes, memoryview): exactly
// d elements of dtype.
std::string_view update_bytes(const py::buffer& update, const std::string& dtype, std::uint64_t d) {
  const py::buffer_info info = update.request();
  // Strides equal to the C-contiguous ones: the bytes are the update as sent, in order.
  py::ssize_t expect = info.itemsize;
  for (py::ssize_t k = info.ndim - 1; k >= 0; --k) {
    FEDGUARD_EXPECTS(info.shape[k] <= 1 || info.strides[k] == expect,
                     "the update must be C-contiguous");
    expect *= info.shape[k];
  }
  const std::size_t bytes =
      static_cast<std::size_t>(info.size) * static_cast<std::size_t>(info.itemsize);
  const std::size_t elem = dtype == "float32" ? 4 : 2;
  FEDGUARD_EXPECTS(bytes == d * elem, "the update has " << bytes << " bytes, d=" << d << " "
                                                        << dtype << " elements are " << d * elem);
  return {static_cast<const char*>(info.ptr), bytes};
}

}  // namespace

void add_identity_functions(py::module_& m) {
  namespace id = fedguard::identity;
  m.def("_id_generate_key_pair", [] {
    const id::KeyPair k = id::generate_key_pair();
    return py::make_tuple(to_bytes(k.private_key), to_bytes(k.public_key));
  });
  m.def(
      "_id_public_key_of",
      [](const py::bytes& sk) {
        return to_bytes(id::public_key_of(array_of<32>(sk, "private key")));
      },
      py::arg("private_key"));
  m.def("_id_new_nonce", [] { return to_bytes(id::new_nonce()); });
  m.def(
      "_id_sha256",
      [](const py::buffer& data) {
        const py::buffer_info info = data.request();
        id::Digest digest;
        {
          py::gil_scoped_release
              release;  // a server hashes updates as they arrive, on its receive threads
          digest = id::sha256(info.ptr, static_cast<std::size_t>(info.size * info.itemsize));
        }
        return to_bytes(digest);
      },
      py::arg("data"));
  m.def(
      "_id_update_message",
      [](const std::string& federation, const std::string& client, std::uint64_t round,
         const py::bytes& nonce, const std::string& dtype, std::uint64_t d,
         const py::bytes& digest) {
        return py::bytes(id::update_message(federation, client, round, array_of<32>(nonce, "nonce"),
                                            dtype, d, array_of<32>(digest, "sha256")));
      },
      py::arg("federation"), py::arg("client"), py::arg("round"), py::arg("nonce"),
      py::arg("dtype"), py::arg("d"), py::arg("sha256"));
  m.def(
      "_id_sign_update",
      [](const py::bytes& sk, const std::string& federation, const std::string& client,
         std::uint64_t round, const py::bytes& nonce, const std::string& dtype, std::uint64_t d,
         const py::buffer& update) {
        const auto key = array_of<32>(sk, "private key");
        const auto n = array_of<32>(nonce, "nonce");
        id::update_message(federation, client, round, n, dtype, d,
                           id::Digest{});  // checks the fields first
        const std::string_view bytes = update_bytes(update, dtype, d);
        id::Signature sig;
        {
          py::gil_scoped_release release;
          sig = id::sign_update(key, federation, client, round, n, dtype, d, bytes.data());
        }
        return to_bytes(sig);
      },
      py::arg("private_key"), py::arg("federation"), py::arg("client"), py::arg("round"),
      py::arg("nonce"), py::arg("dtype"), py::arg("d"), py::arg("update"));
  m.def(
      "_id_verify",
      [](const py::bytes& pk, const py::bytes& message, const py::bytes& signature) {
        const std::string sig = signature;
        return id::verify(array_of<32>(pk, "public key"), std::string(message), sig.data(),
                          sig.size());
      },
      py::arg("public_key"), py::arg("message"), py::arg("signature"));
  m.def("_id_base64_encode", [](const py::bytes& b) {
    const std::string s = b;
    return id::base64_encode(s.data(), s.size());
  });
  m.def("_id_base64_decode", [](const std::string& text) -> py::object {
    const auto raw = id::base64_decode(text);
    if (!raw) return py::none();
    return py::bytes(*raw);
  });
  m.def("_id_parse_nonce_hex",
        [](const std::string& hex) { return to_bytes(id::parse_nonce_hex(hex)); });
  // The registry travels as JSON text; every function validates it (errors name source and entry).
  m.def(
      "_id_registry_normalize",
      [](const std::string& text, const std::string& source) {
        return id::registry_to_json(id::parse_registry(text, source));
      },
      py::arg("text"), py::arg("source"));
  m.def(
      "_id_registry_load",
      [](const std::string& path) { return id::registry_to_json(id::load_registry(path)); },
      py::arg("path"));
  m.def(
      "_id_registry_save",
      [](const std::string& path, const std::string& text) {
        id::save_registry(path, id::parse_registry(text, path));
      },
      py::arg("path"), py::arg("text"));
  m.def(
      "_id_registry_add",
      [](const std::string& text, const std::string& client, const std::string& public_key_b64,
         const std::string& status, std::uint64_t enrolled_round) {
        id::Registry r = id::parse_registry(text, "registry");
        FEDGUARD_EXPECTS(status == "active" || status == "pending",
                         "status must be 'active' or 'pending', got '" << status << "'");
        r.add({client, id::key_from_base64(public_key_b64, "public key"),
               status == "active" ? id::ClientStatus::kActive : id::ClientStatus::kPending,
               enrolled_round});
        return id::registry_to_json(r);
      },
      py::arg("text"), py::arg("client"), py::arg("public_key"), py::arg("status"),
      py::arg("enrolled_round"));
  m.def(
      "_id_registry_revoke",
      [](const std::string& text, const std::string& client) {
        id::Registry r = id::parse_registry(text, "registry");
        r.revoke(client);
        return id::registry_to_json(r);
      },
      py::arg("text"), py::arg("client"));
}

}  // namespace fedguard::python::identity_py
