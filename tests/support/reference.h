// Plain float64 brute-force references for every rule: written from the papers' definitions
// (docs/rules.md), in d-space, with no shared code from the engine.
#pragma once

#include <cstddef>
#include <vector>

#include "support/random_round.h"

namespace fedguard::test::ref {

using Vec = std::vector<double>;

Vec weighted_mean(const Matrix& x, const Vec& w);  // w empty: uniform
Vec median(const Matrix& x);
Vec trimmed_mean(const Matrix& x, std::size_t b);
double sq_dist(const Vec& a, const Vec& b);
double norm(const Vec& a);
/// Krum score of each row over `active` (indices into x).
/// min_nb: Bulyan's late steps keep at least this many neighbours (fedguard: 1).
Vec krum_scores(const Matrix& x, const std::vector<std::size_t>& active, std::size_t f,
                std::size_t min_nb = 0);
std::size_t krum(const Matrix& x, std::size_t f);
std::vector<std::size_t> multi_krum(const Matrix& x, std::size_t f,
                                    std::size_t m);  // selected, ascending
std::vector<std::size_t> bulyan_selection(const Matrix& x, std::size_t f);
Vec bulyan(const Matrix& x, std::size_t f);
Vec geometric_median(const Matrix& x, const Vec& a, double nu, std::size_t iterations);
Vec centered_clipping(const Matrix& x, const Vec& v0, double tau, std::size_t iterations);
Matrix norm_clip(const Matrix& x, double max_norm);
Matrix arc(const Matrix& x, std::size_t f);
Matrix nnm(const Matrix& x, std::size_t f);
Matrix rows(const Matrix& x, const std::vector<std::size_t>& idx);

/// max_j |a_j - b_j| / max(1, max_j |b_j|)
double max_rel_diff(const std::vector<float>& a, const Vec& b);

}  // namespace fedguard::test::ref
