// The vectors a rule judges: one per surviving client, either the client's own update or,
// after transforms, a linear combination of updates (and reference vectors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "geometry/gram_space.h"

namespace fedguard::geometry {

struct Candidates {
  /// Scanned-row position of the client each candidate stands for, ascending.
  std::vector<std::size_t> owner;
  /// size() x space.dim() raw coefficients, row-major; empty while every candidate is still
  /// its owner's own update.
  std::vector<double> coef;

  std::size_t size() const { return owner.size(); }
  bool plain() const { return coef.empty(); }

  /// Raw coefficients, materialised (identity rows while plain()).
  std::vector<double> raw(const GramSpace& space) const;
  /// Centred Gram matrix of the candidates (size() x size()).
  std::vector<double> centred_gram(const GramSpace& space) const;
  /// Uncentred inner products y_a . y_b (size() x size()).
  std::vector<double> inner_gram(const GramSpace& space) const;
  /// Squared distances between candidates (size() x size()).
  std::vector<double> squared_distances(const GramSpace& space) const;
  /// ||y||^2 per candidate.
  std::vector<double> norms_sq(const GramSpace& space) const;
  /// The candidates with keep[i] != 0.
  Candidates subset(const std::vector<std::uint8_t>& keep) const;
  /// Applies new_i = sum_j t[i][j] old_j (t is size() x size(), row-major).
  Candidates mixed(const GramSpace& space, const std::vector<double>& t) const;
};

}  // namespace fedguard::geometry
