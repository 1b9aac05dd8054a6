// Pass 2's mixing (y = mix * [rows; references] per column chunk) for the matrices that
// nearest-neighbour mixing and clipping build: every row one value on its non-zero entries
// (NNM: 1 / (n - f) on a client's n - f nearest; clipping: one scale on the diagonal). Such a
// row is c_i times a sum of source rows, and a row that takes most of them is c_i (S - the rows
// it leaves out), S the sum of all: f additions per value where the SGEMM it replaces did n
// multiply-adds, in float64 where the SGEMM summed in float32. row_mix.cc says why the
// subtraction is safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace fedguard::backend::cpu {

/// Per-thread scratch of RowConstantMix::apply (kept across chunks).
struct RowMixScratch {
  std::vector<double> source;  // the chunk's source rows in float64
  std::vector<double> sum;     // S over the rows that are not outsized
  std::vector<double> amax;    // each source row's largest |value| in the chunk
  std::vector<double> order;   // for the median of amax
  std::vector<std::uint8_t> outsized;
};

class RowConstantMix {
 public:
  /// The mix (m x cols, row-major) as constant rows, or nothing when some row has two different
  /// non-zero values (the caller keeps the SGEMM).
  static std::optional<RowConstantMix> from(const std::vector<double>& mix, std::size_t m,
                                            std::size_t cols);

  /// y (m rows of w float32, row stride w) = mix * x, x the cols source rows of w float32 values
  /// (row stride w): each value summed in float64 and rounded to float32 once.
  void apply(const float* x, std::size_t w, float* y, RowMixScratch& scratch) const;

  /// Additions per value of apply (the sums it forms), against m * cols multiply-adds for the
  /// SGEMM: for choosing, and for the tests.
  std::size_t terms_per_column() const;

 private:
  std::size_t m_ = 0, cols_ = 0;
  std::vector<double> scale_;                      // c_i
  std::vector<std::vector<std::uint32_t>> terms_;  // the support, or its complement (sorted)
  std::vector<std::uint8_t> complement_;           // terms_[i] are the rows it leaves out
  bool any_complement_ = false;
};

}  // namespace fedguard::backend::cpu
