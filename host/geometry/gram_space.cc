#include "geometry/gram_space.h"

#include <cblas.h>

#include <algorithm>

#include "fedguard/error.h"

namespace fedguard::geometry {

GramSpace::GramSpace(const backend::ScanSummaries& s)
    : k_(s.k),
      r_(s.r),
      e_(s.k + 1 + s.r),
      row_norms_sq_(s.norms_sq),
      subset_grams_(s.subset_grams) {
  for (std::size_t i = 0; i < k_; ++i) {
    const double total = static_cast<double>(s.positive[i] + s.zero[i] + s.negative[i]);
    const double inv = total > 0 ? 1.0 / total : 0.0;
    sign_fractions_.push_back({s.positive[i] * inv, s.zero[i] * inv, s.negative[i] * inv});
  }
  if (s.gram.empty()) return;  // pass 1 ran without Gram products: only row norms are known
  h_.assign(e_ * e_, 0.0);
  auto at = [&](std::size_t i, std::size_t j) -> double& { return h_[i * e_ + j]; };
  for (std::size_t i = 0; i < k_; ++i) {
    for (std::size_t j = 0; j < k_; ++j) at(i, j) = s.gram[i * k_ + j];
    at(i, k_) = at(k_, i) = s.centre_proj[i];
    for (std::size_t a = 0; a < r_; ++a)
      at(i, k_ + 1 + a) = at(k_ + 1 + a, i) = s.ref_proj[i * r_ + a];
  }
  at(k_, k_) = s.centre_sq;
  for (std::size_t a = 0; a < r_; ++a) {
    at(k_, k_ + 1 + a) = at(k_ + 1 + a, k_) = s.centre_ref[a];
    for (std::size_t b = 0; b < r_; ++b) at(k_ + 1 + a, k_ + 1 + b) = s.ref_gram[a * r_ + b];
  }
}

namespace {

// Rows of raw coefficients -> rows over the centred basis. y = sum a_i x_i + sum b_j v_j
// = sum a_i (x_i - c) + (sum a_i) c + sum b_j v_j; `shift` subtracts c once more.
std::vector<double> to_centred(const std::vector<double>& raw, std::size_t m, std::size_t k,
                               std::size_t r, double shift) {
  const std::size_t dim = k + r, e = k + 1 + r;
  std::vector<double> out(m * e, 0.0);
  for (std::size_t p = 0; p < m; ++p) {
    const double* a = raw.data() + p * dim;
    double* o = out.data() + p * e;
    double sum = 0;
    for (std::size_t i = 0; i < k; ++i) {
      o[i] = a[i];
      sum += a[i];
    }
    o[k] = sum - shift;
    for (std::size_t j = 0; j < r; ++j) o[k + 1 + j] = a[k + j];
  }
  return out;
}

std::vector<double> quadratic_form(const std::vector<double>& c, std::size_t m, std::size_t e,
                                   const std::vector<double>& h) {
  std::vector<double> t(m * e), out(m * m);
  const int mi = static_cast<int>(m), ei = static_cast<int>(e);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, ei, ei, 1.0, c.data(), ei, h.data(),
              ei, 0.0, t.data(), ei);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, mi, ei, 1.0, t.data(), ei, c.data(), ei,
              0.0, out.data(), mi);
  for (std::size_t a = 0; a < m; ++a)  // exact symmetry, whatever BLAS's summation order
    for (std::size_t b = a + 1; b < m; ++b) out[b * m + a] = out[a * m + b];
  return out;
}

}  // namespace

void GramSpace::require_gram() const {
  if (h_.empty() && k_ > 0)
    FEDGUARD_THROW(kUnsupported,
                   "internal: a rule asked for distances but pass 1 ran without the Gram "
                   "products (the rule's traits must declare rules::kGram)");
}

std::vector<double> GramSpace::centred_gram(const std::vector<double>& raw, std::size_t m) const {
  return form(raw, m, 1.0);
}

std::vector<double> GramSpace::inner_gram(const std::vector<double>& raw, std::size_t m) const {
  return form(raw, m, 0.0);
}

std::vector<double> GramSpace::form(const std::vector<double>& raw, std::size_t m,
                                    double shift) const {
  require_gram();
  const std::vector<double> c = to_centred(raw, m, k_, r_, shift);
  // Clipped updates and centred clipping's iterates have two or three non-zero coefficients
  // each: summing over the non-zeros costs O(m^2), where the dense form costs O(m e^2).
  std::vector<std::vector<std::pair<std::size_t, double>>> nz(m);
  std::size_t total = 0;
  for (std::size_t p = 0; p < m; ++p) {
    for (std::size_t i = 0; i < e_; ++i)
      if (c[p * e_ + i] != 0) nz[p].emplace_back(i, c[p * e_ + i]);
    total += nz[p].size();
  }
  if (total > 8 * m) return quadratic_form(c, m, e_, h_);
  std::vector<double> out(m * m);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = a; b < m; ++b) {
      double s = 0;
      for (const auto& [i, u] : nz[a])
        for (const auto& [j, v] : nz[b]) s += u * v * h_[i * e_ + j];
      out[a * m + b] = out[b * m + a] = s;
    }
  return out;
}

std::vector<double> GramSpace::centred_gram_of_rows(const std::vector<std::size_t>& idx) const {
  std::vector<double> out(idx.size() * idx.size());
  centred_gram_of_rows(idx, out.data(), 1);
  return out;
}

void GramSpace::centred_gram_of_rows(const std::vector<std::size_t>& idx, double* out,
                                     int threads) const {
  require_gram();
  const auto m = static_cast<std::ptrdiff_t>(idx.size());
#pragma omp parallel for schedule(static) num_threads(std::max(threads, 1)) if (m >= 128)
  for (std::ptrdiff_t a = 0; a < m; ++a) {
    const double* row = h_.data() + idx[static_cast<std::size_t>(a)] * e_;
    for (std::ptrdiff_t b = 0; b < m; ++b) out[a * m + b] = row[idx[static_cast<std::size_t>(b)]];
  }
}

std::vector<double> GramSpace::inner_gram_of_rows(const std::vector<std::size_t>& idx) const {
  std::vector<double> out(idx.size() * idx.size());
  inner_gram_of_rows(idx, out.data(), 1);
  return out;
}

void GramSpace::inner_gram_of_rows(const std::vector<std::size_t>& idx, double* out,
                                   int threads) const {
  require_gram();
  const auto m = static_cast<std::ptrdiff_t>(idx.size());
  const double cc = h_[k_ * e_ + k_];
#pragma omp parallel for schedule(static) num_threads(std::max(threads, 1)) if (m >= 128)
  for (std::ptrdiff_t a = 0; a < m; ++a) {
    const double* row = h_.data() + idx[static_cast<std::size_t>(a)] * e_;
    for (std::ptrdiff_t b = 0; b < m;
         ++b)  // x_a . x_b = (x_a - c).(x_b - c) + c.(x_a - c) + c.(x_b - c) + c.c
      out[a * m + b] = row[idx[static_cast<std::size_t>(b)]] + row[k_] +
                       h_[idx[static_cast<std::size_t>(b)] * e_ + k_] + cc;
  }
}

std::vector<double> GramSpace::norms_sq(const std::vector<double>& raw, std::size_t m) const {
  require_gram();
  const std::vector<double> c = to_centred(raw, m, k_, r_, 0.0);
  std::vector<double> out(m);
  for (std::size_t p = 0; p < m; ++p) {
    const double* a = c.data() + p * e_;
    double total = 0;
    for (std::size_t i = 0; i < e_; ++i) {
      if (a[i] == 0) continue;
      double row = 0;
      for (std::size_t j = 0; j < e_; ++j) row += h_[i * e_ + j] * a[j];
      total += a[i] * row;
    }
    out[p] = std::max(0.0, total);
  }
  return out;
}

std::vector<double> GramSpace::dots_with_reference(const std::vector<double>& raw, std::size_t m,
                                                   std::size_t ref) const {
  require_gram();
  const std::vector<double> c = to_centred(raw, m, k_, r_, 0.0);
  const double* h_ref = h_.data() + (k_ + 1 + ref) * e_;  // row of H for v_ref
  std::vector<double> out(m, 0.0);
  for (std::size_t p = 0; p < m; ++p)
    for (std::size_t i = 0; i < e_; ++i) out[p] += c[p * e_ + i] * h_ref[i];
  return out;
}

std::array<double, 3> GramSpace::sign_fractions(std::size_t i) const { return sign_fractions_[i]; }

double GramSpace::reference_norm_sq(std::size_t ref) const {
  require_gram();
  const std::size_t i = k_ + 1 + ref;
  return h_[i * e_ + i];
}

std::vector<double> GramSpace::subset_gram_of_rows(std::size_t s,
                                                   const std::vector<std::size_t>& idx) const {
  const std::vector<double>& g = subset_grams_.at(s);
  const std::size_t m = idx.size();
  std::vector<double> out(m * m);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < m; ++b) out[a * m + b] = g[idx[a] * k_ + idx[b]];
  return out;
}

std::vector<double> squared_distances(const std::vector<double>& gram, std::size_t m) {
  std::vector<double> d = gram;
  squared_distances_in_place(d, m);
  return d;
}

void squared_distances_in_place(std::vector<double>& gram, std::size_t m) {
  std::vector<double> diag(m);
  for (std::size_t a = 0; a < m; ++a) diag[a] = gram[a * m + a];
  // By 64 x 64 tiles of the upper triangle, each mirrored while it is in cache (row by row the
  // mirror wrote one cache line per entry); an upper entry is read before its place is written,
  // and no lower entry is read.
  constexpr std::size_t kTile = 64;
  for (std::size_t a0 = 0; a0 < m; a0 += kTile)
    for (std::size_t b0 = a0; b0 < m; b0 += kTile)
      for (std::size_t a = a0; a < std::min(m, a0 + kTile); ++a)
        for (std::size_t b = std::max(a + 1, b0); b < std::min(m, b0 + kTile); ++b) {
          const double v = std::max(0.0, diag[a] + diag[b] - 2.0 * gram[a * m + b]);
          gram[a * m + b] = gram[b * m + a] = v;
        }
  for (std::size_t a = 0; a < m; ++a) gram[a * m + a] = 0.0;
}

}  // namespace fedguard::geometry
