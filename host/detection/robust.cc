#include "detection/robust.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

namespace fedguard::detection {

Location robust_location(std::vector<double> v, double floor) {
  return robust_location_in_place(v, floor);
}

namespace {

constexpr std::size_t kSample = 4096;
// Half the bracket, in sample ranks: the rank of the median's value in a random sample of 4096
// has a standard deviation of at most 32, and 160 is five of them.
constexpr std::size_t kMargin = 160;

// The median of v as median_in_place computes it (the mean of the two middle values for an even
// count, halves first), by a bracket on the team; v keeps its values (in any order).
double bracketed_median(std::vector<double>& v, int workers) {
  const std::size_t n = v.size(), h = n / 2;
  if (n < kBracketedMedianMin || workers < 2) return median_in_place(v);
  // Evenly spaced, from the middle of each stride: a sample of the values in any order they
  // come (the pairs by row; a sample unlike the whole costs the fallback below, not the result).
  std::vector<double> sample(kSample);
  const std::size_t stride = n / kSample;
  for (std::size_t i = 0; i < kSample; ++i) sample[i] = v[i * stride + stride / 2];
  if (std::any_of(sample.begin(), sample.end(), [](double x) { return std::isnan(x); }))
    return median_in_place(v);
  sort_in_place(sample.data(), kSample);
  const auto rank = static_cast<std::size_t>(static_cast<double>(h) / static_cast<double>(n) *
                                             static_cast<double>(kSample));
  const double lo = sample[rank > kMargin ? rank - kMargin : 0];
  const double hi = sample[std::min(kSample - 1, rank + kMargin)];
  // Each worker gathers the values of its contiguous share inside [lo, hi] to the front of the
  // same share of `gathered` (without a branch: every value is stored, the end advances by the
  // test, & rather than && between its halves; with a branch the pass took 5x as long) and
  // counts those below and above; the shares' gatherings are then joined in worker order.
  const std::unique_ptr<double[]> buffer(new double[n]);  // not zeroed: written before read
  double* const gathered = buffer.get();
  std::vector<std::size_t> below(static_cast<std::size_t>(workers), 0), above(below), inside(below),
      start(below);
#pragma omp parallel num_threads(workers)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    const auto team = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t first = n * t / team, last = n * (t + 1) / team;
    std::size_t less = 0, more = 0, end = first;
    for (std::size_t j = first; j < last; ++j) {
      const double x = v[j];
      less += x < lo;
      more += x > hi;
      gathered[end] = x;
      end += static_cast<std::size_t>(x >= lo) & static_cast<std::size_t>(x <= hi);
    }
    below[t] = less;
    above[t] = more;
    inside[t] = end - first;
    start[t] = first;
  }
  std::size_t less = 0, more = 0, count = 0;
  for (std::size_t t = 0; t < below.size(); ++t) {
    less += below[t];
    more += above[t];
    // The destination never lies past the source: a forward copy is safe.
    std::copy_n(gathered + start[t], inside[t], gathered + count);
    count += inside[t];
  }
  // Both middle ranks (h - 1 and h for an even count, h for an odd one) inside, and no NaN.
  const std::size_t need = n % 2 ? h : h - 1;
  if (less + count + more != n || less > need || h >= less + count) return median_in_place(v);
  const std::size_t k = h - less;
  select_in_place(gathered, count, k);
  const double upper = gathered[k];
  if (n % 2) return upper;
  const double lower = *std::max_element(gathered, gathered + k);
  return 0.5 * lower + 0.5 * upper;
}

Location location_of(std::vector<double>& v, double floor, int workers) {
  Location at;
  const double n = static_cast<double>(v.size());
  // One buffer: the deviations overwrite the (reordered) values; the MAD is a median of the
  // same multiset whatever the order.
  at.centre = bracketed_median(v, workers);
  const std::size_t count = v.size();
  const double centre = at.centre;
#pragma omp parallel for schedule(static) num_threads(workers) if (count >= kBracketedMedianMin)
  for (std::size_t j = 0; j < count; ++j) v[j] = std::fabs(v[j] - centre);
  const double small_sample = n > 1 ? n / (n - 0.8) : 1.0;  // Croux & Rousseeuw (1992)
  at.scale = std::max(1.482602218505602 * bracketed_median(v, workers) * small_sample, floor);
  return at;
}

}  // namespace

Location robust_location_in_place(std::vector<double>& v, double floor) {
  return location_of(v, floor, 1);
}

Location robust_location_in_place(std::vector<double>& v, double floor, int workers) {
  return location_of(v, floor, std::max(workers, 1));
}

double robust_z(double v, const Location& at) {
  const double diff = v - at.centre;
  if (at.scale > 0) return diff / at.scale;
  if (diff == 0) return 0;
  return diff > 0 ? std::numeric_limits<double>::infinity()
                  : -std::numeric_limits<double>::infinity();
}

double normal_quantile(double p) {
  // Acklam's algorithm: rational approximations in the centre and the tails.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double e[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  double x;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((e[0] * q + e[1]) * q + e[2]) * q + e[3]) * q + 1);
  } else if (p <= 1 - low) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((e[0] * q + e[1]) * q + e[2]) * q + e[3]) * q + 1);
  }
  // One Halley step against the exact CDF.
  const double err = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = err * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double t_quantile(double p, double nu) {
  const double z = normal_quantile(p);
  const double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
  const double g1 = (z3 + z) / 4;
  const double g2 = (5 * z5 + 16 * z3 + 3 * z) / 96;
  const double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384;
  const double g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160;
  return z + g1 / nu + g2 / (nu * nu) + g3 / (nu * nu * nu) + g4 / (nu * nu * nu * nu);
}

double calibrated_cut(double alpha, std::size_t n, bool two_sided) {
  const double nu = std::max(3.0, 0.55 * (static_cast<double>(n) - 1));
  return t_quantile(1 - (two_sided ? alpha / 2 : alpha), nu);
}

double binomial_upper_tail(std::size_t g, std::size_t m, double q) {
  if (g == 0 || q >= 1) return g <= m ? 1.0 : 0.0;
  if (g > m || !(q > 0)) return 0.0;
  // Summed outwards from the largest term, the mode (or g when the mode lies below it): that
  // term never underflows when it matters (it is at least 1 / (m + 1) at the mode), and the
  // terms fall at least geometrically on both sides of it.
  const double mm = static_cast<double>(m), odds = q / (1 - q);
  const std::size_t k0 =
      std::max(g, std::min(m, static_cast<std::size_t>(std::floor((mm + 1) * q))));
  const double kk = static_cast<double>(k0);
  const double top = std::exp(std::lgamma(mm + 1) - std::lgamma(kk + 1) - std::lgamma(mm - kk + 1) +
                              kk * std::log(q) + (mm - kk) * std::log1p(-q));
  double sum = top;
  double term = top;
  for (std::size_t k = k0; k < m && term > sum * 1e-17; ++k) {
    term *= (mm - static_cast<double>(k)) / (static_cast<double>(k) + 1) * odds;
    sum += term;
  }
  term = top;
  for (std::size_t k = k0; k > g && term > sum * 1e-17; --k) {
    term *= static_cast<double>(k) / (mm - static_cast<double>(k) + 1) / odds;
    sum += term;
  }
  return std::min(sum, 1.0);
}

double calibrated_group_cut(std::size_t g, std::size_t n, double alpha) {
  const double nu = std::max(3.0, 0.55 * (static_cast<double>(n) - 1));
  // The tail is increasing in q: bisection in log q between 1e-300 (tail ~ 0) and 1/2.
  double lo = std::log(1e-300), hi = std::log(0.5);
  if (binomial_upper_tail(g, n, 0.5) <= alpha) return t_quantile(0.5, nu);
  for (int it = 0; it < 100 && hi - lo > 1e-12; ++it) {
    const double mid = 0.5 * (lo + hi);
    (binomial_upper_tail(g, n, std::exp(mid)) <= alpha ? lo : hi) = mid;
  }
  return t_quantile(1 - std::exp(lo), nu);
}

}  // namespace fedguard::detection
