// Non-owning views of a round's client updates. No bytes are copied: the engine streams
// column tiles straight out of the caller's memory.
#pragma once

#include <cstddef>
#include <vector>

#include "fedguard/dtype.h"

namespace fedguard {

/// Where the bytes of a view live.
enum class MemoryKind : unsigned char { kHost, kCuda };

struct Location {
  MemoryKind kind = MemoryKind::kHost;
  int device = 0;  ///< CUDA device ordinal when kind == kCuda
};

/// One client's update as the transport delivered it. Length and dtype are checked against
/// the round's: a client that disagrees is rejected (reasons `wrong_length`, `wrong_dtype`),
/// the others are aggregated.
struct ClientUpdate {
  const void* data = nullptr;
  std::size_t length = 0;  ///< number of elements
  DType dtype = DType::kFloat32;
};

class UpdateView {
 public:
  UpdateView() = default;

  /// One row-major n x d block. Row i starts row_stride elements after row i-1
  /// (row_stride 0 means d).
  /// @param data first element of row 0
  /// @param n number of clients (rows)
  /// @param d number of parameters (columns)
  /// @param dtype element type of every row
  /// @param location host or CUDA memory
  /// @param row_stride elements between consecutive rows, >= d
  UpdateView(const void* data, std::size_t n, std::size_t d, DType dtype, Location location = {},
             std::size_t row_stride = 0);

  /// One pointer per client; d and dtype are what the round expects of every client.
  static UpdateView per_client(std::vector<ClientUpdate> clients, std::size_t d, DType dtype,
                               Location location = {});

  std::size_t rows() const { return rows_.size(); }
  std::size_t cols() const { return d_; }
  DType dtype() const { return dtype_; }
  Location location() const { return location_; }
  bool empty() const { return rows_.empty(); }

  /// First element of row i (of the view's dtype when well_formed(i)).
  const void* row(std::size_t i) const { return rows_[i].data; }
  /// Length and dtype of row i as delivered.
  const ClientUpdate& client(std::size_t i) const { return rows_[i]; }
  /// True when row i has the round's length and dtype and a non-null pointer.
  bool well_formed(std::size_t i) const;
  /// True when the view is one block with a constant stride (rows may then be read as a matrix).
  bool is_block() const { return block_stride_ != 0; }
  std::size_t block_stride() const { return block_stride_; }

 private:
  std::vector<ClientUpdate> rows_;
  std::size_t d_ = 0;
  DType dtype_ = DType::kFloat32;
  Location location_{};
  std::size_t block_stride_ = 0;
};

}  // namespace fedguard
