#include "fedguard/update_view.h"

#include <utility>

#include "fedguard/error.h"

namespace fedguard {

UpdateView::UpdateView(const void* data, std::size_t n, std::size_t d, DType dtype,
                       Location location, std::size_t row_stride)
    : d_(d), dtype_(dtype), location_(location) {
  if (row_stride == 0) row_stride = d;
  FEDGUARD_EXPECTS(row_stride >= d, "row stride " << row_stride << " is smaller than d=" << d);
  FEDGUARD_EXPECTS(n == 0 || data != nullptr,
                   "null data pointer for an " << n << " x " << d << " block");
  // Checked before the per-row table is allocated: a zero-size array of shape (2^62, 0) must be
  // an input error, not an allocation failure.
  FEDGUARD_EXPECTS(n == 0 || d > 0, "updates have zero length (d = 0) for n=" << n << " clients");
  FEDGUARD_EXPECTS(n <= (std::size_t{1} << 32),
                   "a block of n=" << n << " rows: a round has at most 2^32 clients");
  block_stride_ = row_stride == 0 ? 1 : row_stride;
  rows_.resize(n);
  const auto* base = static_cast<const unsigned char*>(data);
  const std::size_t row_bytes = row_stride * dtype_size(dtype);
  for (std::size_t i = 0; i < n; ++i) rows_[i] = ClientUpdate{base + i * row_bytes, d, dtype};
}

UpdateView UpdateView::per_client(std::vector<ClientUpdate> clients, std::size_t d, DType dtype,
                                  Location location) {
  UpdateView view;
  view.rows_ = std::move(clients);
  view.d_ = d;
  view.dtype_ = dtype;
  view.location_ = location;
  view.block_stride_ = 0;
  return view;
}

bool UpdateView::well_formed(std::size_t i) const {
  const ClientUpdate& c = rows_[i];
  return c.length == d_ && c.dtype == dtype_ && (c.data != nullptr || d_ == 0);
}

}  // namespace fedguard
