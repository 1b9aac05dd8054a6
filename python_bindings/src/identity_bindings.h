// fedguard.identity's C++ side: keys, the signed update message, nonces and the registry, each a
// thin wrapper of fedguard::identity (docs/verification.md). Byte strings are Python bytes.
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <cstring>
#include <string>

#include "fedguard/error.h"

namespace fedguard::python::identity_py {

namespace py = pybind11;

/// N raw bytes from a Python bytes object; a wrong length is an InvalidInputError.
template <std::size_t N>
std::array<std::uint8_t, N> array_of(const py::bytes& b, const char* what) {
  const std::string s = b;
  FEDGUARD_EXPECTS(s.size() == N, what << " must be " << N << " bytes, got " << s.size());
  std::array<std::uint8_t, N> a;
  std::memcpy(a.data(), s.data(), N);
  return a;
}

void add_identity_functions(py::module_& m);

}  // namespace fedguard::python::identity_py
