#include "geometry/candidates.h"

#include <cblas.h>

namespace fedguard::geometry {

std::vector<double> Candidates::raw(const GramSpace& space) const {
  if (!plain()) return coef;
  const std::size_t dim = space.dim();
  std::vector<double> out(size() * dim, 0.0);
  for (std::size_t p = 0; p < size(); ++p) out[p * dim + owner[p]] = 1.0;
  return out;
}

std::vector<double> Candidates::centred_gram(const GramSpace& space) const {
  return plain() ? space.centred_gram_of_rows(owner) : space.centred_gram(coef, size());
}

std::vector<double> Candidates::inner_gram(const GramSpace& space) const {
  return space.inner_gram(raw(space), size());
}

std::vector<double> Candidates::squared_distances(const GramSpace& space) const {
  std::vector<double> gram = centred_gram(space);  // our own copy: turned into distances
  geometry::squared_distances_in_place(gram, size());
  return gram;
}

std::vector<double> Candidates::norms_sq(const GramSpace& space) const {
  if (!plain()) return space.norms_sq(coef, size());
  std::vector<double> out(size());
  for (std::size_t p = 0; p < size(); ++p) out[p] = space.row_norm_sq(owner[p]);
  return out;
}

Candidates Candidates::subset(const std::vector<std::uint8_t>& keep) const {
  Candidates out;
  const std::size_t dim = plain() ? 0 : coef.size() / size();
  for (std::size_t p = 0; p < size(); ++p) {
    if (!keep[p]) continue;
    out.owner.push_back(owner[p]);
    if (!plain())
      out.coef.insert(out.coef.end(), coef.begin() + p * dim, coef.begin() + (p + 1) * dim);
  }
  return out;
}

Candidates Candidates::mixed(const GramSpace& space, const std::vector<double>& t) const {
  const std::vector<double> old = raw(space);
  const std::size_t m = size(), dim = space.dim();
  Candidates out;
  out.owner = owner;
  out.coef.assign(m * dim, 0.0);
  if (m == 0) return out;
  bool diagonal = true;  // clipping: scale rows in O(m dim) instead of an O(m^2 dim) product
  for (std::size_t a = 0; a < m && diagonal; ++a)
    for (std::size_t b = 0; b < m && diagonal; ++b) diagonal = a == b || t[a * m + b] == 0;
  if (diagonal) {
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t j = 0; j < dim; ++j) out.coef[a * dim + j] = t[a * m + a] * old[a * dim + j];
    return out;
  }
  // Each row a multiple of its owner's update (one-hot while plain(), scaled after clipping or
  // ARC): T old is T with column b scaled and scattered to owner[b], O(m^2); the product would
  // cost O(m^2 dim), which at a thousand clients is most of the decision (measured with ARC
  // before NNM at n = 1000).
  bool scaled_own_rows = true;
  for (std::size_t p = 0; p < m && scaled_own_rows && !plain(); ++p)
    for (std::size_t j = 0; j < dim && scaled_own_rows; ++j)
      scaled_own_rows = j == owner[p] || old[p * dim + j] == 0;
  if (scaled_own_rows) {
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = 0; b < m; ++b)
        out.coef[a * dim + owner[b]] = t[a * m + b] * old[b * dim + owner[b]];
    return out;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(dim),
              static_cast<int>(m), 1.0, t.data(), static_cast<int>(m), old.data(),
              static_cast<int>(dim), 0.0, out.coef.data(), static_cast<int>(dim));
  return out;
}

}  // namespace fedguard::geometry
