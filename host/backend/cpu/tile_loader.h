// Reads a column range of a set of rows into float32, whatever the input dtype.
#pragma once

#include <cstddef>

#include "fedguard/update_view.h"

namespace fedguard::backend::cpu {

/// Pointer to `count` float32 values of row `row` from column `col0`: straight into the
/// caller's memory for float32 input, else converted into `scratch` (>= count floats).
inline const float* row_segment(const UpdateView& view, std::size_t row, std::size_t col0,
                                std::size_t count, float* scratch) {
  const ClientUpdate& c = view.client(row);
  const auto* base = static_cast<const unsigned char*>(c.data) + col0 * dtype_size(c.dtype);
  if (c.dtype == DType::kFloat32) return reinterpret_cast<const float*>(base);
  convert_to_float(c.dtype, base, scratch, count);
  return scratch;
}

}  // namespace fedguard::backend::cpu
