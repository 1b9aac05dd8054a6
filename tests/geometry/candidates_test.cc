// Candidates::mixed against the plain product of the mixing matrix and the raw coefficients,
// for each of its paths: one-hot rows, diagonal mixing, rows that are multiples of their
// owner's update (the shortcut ARC before NNM takes) and general rows.
#include "geometry/candidates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "backend/summaries.h"
#include "geometry/gram_space.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

// A space of k scanned rows and r references; mixed() reads only its dimension.
backend::ScanSummaries shape(std::size_t k, std::size_t r) {
  backend::ScanSummaries s;
  s.k = k;
  s.r = r;
  s.norms_sq.assign(k, 1.0);
  s.positive.assign(k, 1);
  s.negative.assign(k, 1);
  s.zero.assign(k, 0);
  return s;
}

// new_a = sum_b t_ab old_b over every coordinate.
std::vector<double> product(const std::vector<double>& t, const std::vector<double>& old,
                            std::size_t m, std::size_t dim) {
  std::vector<double> out(m * dim, 0.0);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b)
      for (std::size_t j = 0; j < dim; ++j) out[a * dim + j] += t[a * m + b] * old[b * dim + j];
  return out;
}

TEST(Candidates, MixingIsTheProductOnEveryPath) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<double> normal;
  const std::size_t k = 9, r = 2;
  const geometry::GramSpace space(shape(k, r));
  const std::size_t dim = space.dim();
  for (int kind = 0; kind < 4; ++kind) {
    geometry::Candidates c;
    for (std::size_t i = 0; i < k; ++i)
      if (i != 2 && i != 5) c.owner.push_back(i);  // some clients rejected before
    const std::size_t m = c.size();
    if (kind >= 1) {  // scaled own rows, one of them scaled to zero
      c.coef.assign(m * dim, 0.0);
      for (std::size_t p = 0; p < m; ++p) c.coef[p * dim + c.owner[p]] = p == 3 ? 0.0 : normal(rng);
    }
    if (kind == 3) c.coef[1 * dim + k] = normal(rng);  // one row also holds a reference
    std::vector<double> t(m * m, 0.0);
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = 0; b < m; ++b)
        if (kind != 2 || a == b) t[a * m + b] = normal(rng);  // kind 2: a diagonal map
    const std::vector<double> want = product(t, c.raw(space), m, dim);
    const geometry::Candidates got = c.mixed(space, t);
    ASSERT_EQ(got.owner, c.owner);
    ASSERT_EQ(got.coef.size(), m * dim) << kind;
    for (std::size_t q = 0; q < m * dim; ++q)
      EXPECT_NEAR(got.coef[q], want[q], 1e-12 * (1 + std::abs(want[q]))) << kind << " " << q;
  }
}

}  // namespace
}  // namespace fedguard::test
