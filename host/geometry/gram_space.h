// Geometry of a round in Gram space. Every vector the policy reasons about (a client's update,
// a clipped or mixed update, a geometric-median candidate, the previous aggregate) is a linear
// combination of the basis [x_1 .. x_k, v_1 .. v_r] (the scanned rows and the reference
// vectors): its "raw coefficients". Inner products come from pass 1's summaries, which are
// taken around a centre c; writing each combination y as (y - c) keeps the arithmetic on the
// small centred quantities, so distances between near-identical updates stay precise.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "backend/summaries.h"

namespace fedguard::geometry {

class GramSpace {
 public:
  explicit GramSpace(const backend::ScanSummaries& summaries);

  std::size_t clients() const { return k_; }
  std::size_t references() const { return r_; }
  /// Length of a raw coefficient vector: k + r.
  std::size_t dim() const { return k_ + r_; }

  /// (y_a - c) . (y_b - c) for the m combinations given as rows of raw (m x dim, row-major):
  /// an m x m matrix. Squared distances follow as K_aa + K_bb - 2 K_ab.
  std::vector<double> centred_gram(const std::vector<double>& raw, std::size_t m) const;
  /// The same for the plain scanned rows idx (a submatrix of pass 1's Gram, no arithmetic).
  std::vector<double> centred_gram_of_rows(const std::vector<std::size_t>& idx) const;
  /// The same into out (|idx|^2 values), rows on `threads` threads.
  void centred_gram_of_rows(const std::vector<std::size_t>& idx, double* out, int threads) const;
  /// x_a . x_b (uncentred) for the plain scanned rows idx, in O(|idx|^2).
  std::vector<double> inner_gram_of_rows(const std::vector<std::size_t>& idx) const;
  /// The same into out (|idx|^2 values), rows on `threads` threads.
  void inner_gram_of_rows(const std::vector<std::size_t>& idx, double* out, int threads) const;
  /// y_a . y_b (uncentred) for the m combinations: an m x m matrix (for cosines).
  std::vector<double> inner_gram(const std::vector<double>& raw, std::size_t m) const;
  /// ||y||^2 of each combination (uncentred), m values.
  std::vector<double> norms_sq(const std::vector<double>& raw, std::size_t m) const;
  /// ||x_i||^2 of scanned row i, summed in float64 from the raw values in pass 1.
  double row_norm_sq(std::size_t i) const { return row_norms_sq_[i]; }
  /// y_p . v_ref for each of the m combinations (uncentred inner products).
  std::vector<double> dots_with_reference(const std::vector<double>& raw, std::size_t m,
                                          std::size_t ref) const;
  /// ||v_ref||^2.
  double reference_norm_sq(std::size_t ref) const;
  /// Fractions of positive, zero and negative coordinates of scanned row i (from pass 1).
  std::array<double, 3> sign_fractions(std::size_t i) const;
  /// Number of column-subset Gram matrices pass 1 accumulated.
  std::size_t subsets() const { return subset_grams_.size(); }
  /// Subset s's centred Gram restricted to the scanned rows idx (|idx| x |idx|).
  std::vector<double> subset_gram_of_rows(std::size_t s, const std::vector<std::size_t>& idx) const;

 private:
  void require_gram() const;
  // Gram matrix of the combinations minus `shift` times the centre.
  std::vector<double> form(const std::vector<double>& raw, std::size_t m, double shift) const;
  // Extended Gram H over the centred basis [x_1 - c .. x_k - c, c, v_1 .. v_r].
  std::size_t k_, r_, e_;
  std::vector<double> h_;
  std::vector<double> row_norms_sq_;
  std::vector<std::vector<double>> subset_grams_;
  std::vector<std::array<double, 3>> sign_fractions_;
};

/// Squared distances D_ab = K_aa + K_bb - 2 K_ab, clamped at zero, from a centred Gram K.
std::vector<double> squared_distances(const std::vector<double>& gram, std::size_t m);
/// The same, overwriting gram (m x m; its upper triangle and diagonal are read).
void squared_distances_in_place(std::vector<double>& gram, std::size_t m);

}  // namespace fedguard::geometry
