#include "support/reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fedguard::test::ref {

Vec weighted_mean(const Matrix& x, const Vec& w) {
  Vec out(x[0].size(), 0.0);
  double total = 0;
  for (std::size_t i = 0; i < x.size(); ++i) total += w.empty() ? 1.0 : w[i];
  for (std::size_t i = 0; i < x.size(); ++i)
    for (std::size_t j = 0; j < out.size(); ++j)
      out[j] += (w.empty() ? 1.0 : w[i]) / total * x[i][j];
  return out;
}

static Vec column(const Matrix& x, std::size_t j) {
  Vec c;
  for (const auto& row : x) c.push_back(row[j]);
  std::sort(c.begin(), c.end());
  return c;
}

Vec median(const Matrix& x) {
  Vec out(x[0].size());
  for (std::size_t j = 0; j < out.size(); ++j) {
    const Vec c = column(x, j);
    const std::size_t n = c.size();
    out[j] = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
  }
  return out;
}

Vec trimmed_mean(const Matrix& x, std::size_t b) {
  Vec out(x[0].size());
  for (std::size_t j = 0; j < out.size(); ++j) {
    const Vec c = column(x, j);
    double s = 0;
    for (std::size_t i = b; i < c.size() - b; ++i) s += c[i];
    out[j] = s / static_cast<double>(c.size() - 2 * b);
  }
  return out;
}

double sq_dist(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

double norm(const Vec& a) { return std::sqrt(sq_dist(a, Vec(a.size(), 0.0))); }

Vec krum_scores(const Matrix& x, const std::vector<std::size_t>& active, std::size_t f,
                std::size_t min_nb) {
  const std::size_t n = active.size();
  const std::size_t nb = std::min(n - 1, std::max(min_nb, n > f + 2 ? n - f - 2 : 0));
  Vec scores;
  for (std::size_t a : active) {
    Vec d;
    for (std::size_t b : active)
      if (b != a) d.push_back(sq_dist(x[a], x[b]));
    std::sort(d.begin(), d.end());
    scores.push_back(std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(nb), 0.0));
  }
  return scores;
}

// Scores within 1e-6 relative are tied (fedguard's documented rule, rules/krum.h); the lowest
// index among those tied with the minimum wins.
static std::size_t lowest_tied(const Vec& s) {
  const double best = *std::min_element(s.begin(), s.end());
  for (std::size_t i = 0; i < s.size(); ++i)
    if (std::abs(s[i] - best) <= 1e-6 * std::max(std::abs(s[i]), std::abs(best))) return i;
  return 0;
}

static std::vector<std::size_t> all_rows(const Matrix& x) {
  std::vector<std::size_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

std::size_t krum(const Matrix& x, std::size_t f) {
  return lowest_tied(krum_scores(x, all_rows(x), f));
}

std::vector<std::size_t> multi_krum(const Matrix& x, std::size_t f, std::size_t m) {
  const Vec s = krum_scores(x, all_rows(x), f);
  // The m lowest; the group tied with the m-th lowest is taken in index order.
  std::vector<std::size_t> order = all_rows(x);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
  const double t = s[order[m - 1]];
  std::vector<std::size_t> sel, tied;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(s[i] - t) <= 1e-6 * std::max(std::abs(s[i]), std::abs(t)))
      tied.push_back(i);
    else if (s[i] < t)
      sel.push_back(i);
  }
  for (std::size_t i = 0; sel.size() < m; ++i) sel.push_back(tied[i]);
  std::sort(sel.begin(), sel.end());
  return sel;
}

std::vector<std::size_t> bulyan_selection(const Matrix& x, std::size_t f) {
  std::vector<std::size_t> remaining = all_rows(x), selected;
  const std::size_t theta = x.size() - 2 * f;
  while (selected.size() < theta) {
    const Vec s = krum_scores(x, remaining, f, 1);  // fedguard keeps >= 1 neighbour (bulyan.cc)
    const std::size_t best = lowest_tied(s);
    selected.push_back(remaining[best]);
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(best));
  }
  std::sort(selected.begin(), selected.end());
  return selected;
}

Vec bulyan(const Matrix& x, std::size_t f) {
  const Matrix sel = rows(x, bulyan_selection(x, f));
  const std::size_t beta = sel.size() - 2 * f;
  const Vec med = median(sel);
  Vec out(med.size());
  for (std::size_t j = 0; j < out.size(); ++j) {
    Vec c;
    for (const auto& row : sel) c.push_back(row[j]);
    // beta values closest to the median; equal distance: the smaller value first.
    std::sort(c.begin(), c.end(), [&](double a, double b) {
      const double da = std::abs(a - med[j]), db = std::abs(b - med[j]);
      return da != db ? da < db : a < b;
    });
    out[j] = std::accumulate(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(beta), 0.0) /
             static_cast<double>(beta);
  }
  return out;
}

Vec geometric_median(const Matrix& x, const Vec& a, double nu, std::size_t iterations) {
  Vec z = weighted_mean(x, a);
  for (std::size_t it = 0; it < iterations; ++it) {
    Vec next(z.size(), 0.0);
    double total = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double b = (a.empty() ? 1.0 : a[i]) / std::max(nu, std::sqrt(sq_dist(z, x[i])));
      total += b;
      for (std::size_t j = 0; j < z.size(); ++j) next[j] += b * x[i][j];
    }
    for (double& v : next) v /= total;
    z = next;
  }
  return z;
}

Vec centered_clipping(const Matrix& x, const Vec& v0, double tau, std::size_t iterations) {
  Vec v = v0;
  const double n = static_cast<double>(x.size());
  for (std::size_t it = 0; it < iterations; ++it) {
    Vec step(v.size(), 0.0);
    for (const auto& row : x) {
      const double dist = std::sqrt(sq_dist(row, v));
      const double s = std::min(1.0, tau / dist);
      for (std::size_t j = 0; j < v.size(); ++j) step[j] += (row[j] - v[j]) * s / n;
    }
    for (std::size_t j = 0; j < v.size(); ++j) v[j] += step[j];
  }
  return v;
}

Matrix norm_clip(const Matrix& x, double max_norm) {
  Matrix y = x;
  for (auto& row : y) {
    const double nr = norm(row);
    if (nr > max_norm)
      for (double& v : row) v *= max_norm / nr;
  }
  return y;
}

Matrix arc(const Matrix& x, std::size_t f) {
  const std::size_t n = x.size();
  const std::size_t k = 2 * f * (n - f) / n;
  std::vector<std::size_t> order = all_rows(x);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return norm(x[a]) > norm(x[b]); });
  Matrix y = x;
  if (k == 0 || k >= n) return y;
  const double bound = norm(x[order[k]]);
  for (std::size_t r = 0; r < k; ++r) {
    auto& row = y[order[r]];
    const double nr = norm(row);
    if (nr > bound)
      for (double& v : row) v *= bound / nr;
  }
  return y;
}

Matrix nnm(const Matrix& x, std::size_t f) {
  const std::size_t n = x.size(), keep = n - f;
  Matrix y;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> others;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) others.push_back(j);
    std::stable_sort(others.begin(), others.end(), [&](std::size_t a, std::size_t b) {
      return sq_dist(x[i], x[a]) < sq_dist(x[i], x[b]);
    });
    Vec mean = x[i];
    for (std::size_t q = 0; q + 1 < keep; ++q)
      for (std::size_t j = 0; j < mean.size(); ++j) mean[j] += x[others[q]][j];
    for (double& v : mean) v /= static_cast<double>(keep);
    y.push_back(mean);
  }
  return y;
}

Matrix rows(const Matrix& x, const std::vector<std::size_t>& idx) {
  Matrix out;
  for (std::size_t i : idx) out.push_back(x[i]);
  return out;
}

double max_rel_diff(const std::vector<float>& a, const Vec& b) {
  double scale = 1, worst = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (std::size_t j = 0; j < b.size(); ++j)
    worst = std::max(worst, std::abs(static_cast<double>(a[j]) - b[j]));
  return worst / scale;
}

}  // namespace fedguard::test::ref
