// Host side of the staging pipeline: packs a column tile of host rows into a pinned buffer
// (row p at p * stride bytes). Plain host code with OpenMP threads (one memcpy per row), so
// that filling the next slot keeps up with the copy engine; tested on the CPU.
#pragma once

#include <cstddef>

#include "fedguard/update_view.h"

namespace fedguard::backend::cuda_plan {

/// dst + p * dst_stride_bytes <- `w` elements of view row rows[p] from column col0 (p < k).
void pack_rows(const UpdateView& view, const std::size_t* rows, std::size_t k, std::size_t col0,
               std::size_t w, unsigned char* dst, std::size_t dst_stride_bytes);

/// dst + a * dst_stride_floats <- refs[a][col0 .. col0 + w) (a < r).
void pack_references(const float* const* refs, std::size_t r, std::size_t col0, std::size_t w,
                     float* dst, std::size_t dst_stride_floats);

}  // namespace fedguard::backend::cuda_plan
