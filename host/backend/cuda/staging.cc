#include "backend/cuda/staging.h"

#include <cstring>

namespace fedguard::backend::cuda_plan {

void pack_rows(const UpdateView& view, const std::size_t* rows, std::size_t k, std::size_t col0,
               std::size_t w, unsigned char* dst, std::size_t dst_stride_bytes) {
  const std::size_t elem = dtype_size(view.dtype());
  const auto n = static_cast<std::ptrdiff_t>(k);
#pragma omp parallel for schedule(static) if (k * w * elem > (std::size_t{1} << 20))
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const auto* src = static_cast<const unsigned char*>(view.row(rows[p])) + col0 * elem;
    std::memcpy(dst + static_cast<std::size_t>(p) * dst_stride_bytes, src, w * elem);
  }
}

void pack_references(const float* const* refs, std::size_t r, std::size_t col0, std::size_t w,
                     float* dst, std::size_t dst_stride_floats) {
  for (std::size_t a = 0; a < r; ++a)
    std::memcpy(dst + a * dst_stride_floats, refs[a] + col0, w * sizeof(float));
}

}  // namespace fedguard::backend::cuda_plan
