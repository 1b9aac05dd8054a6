// Shared machinery of the attacks: strict parameters, input checks, float64 column statistics,
// the centred Gram matrix of the benign rows, the normal quantile, counter-based randomness.
#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

// ---------------------------------------------------------------------------------------------
// Params

Params::Params(std::string attack, const nlohmann::json& params) : attack_(std::move(attack)) {
  if (params.is_null()) {
    params_ = nlohmann::json::object();
  } else {
    FEDGUARD_EXPECTS(params.is_object(), "attack '" << attack_
                                                    << "': parameters must be a JSON object, got "
                                                    << params.type_name());
    params_ = params;
  }
}

bool Params::has(const char* key) const { return params_.contains(key); }

const nlohmann::json& Params::get(const char* key) {
  known_.insert(key);
  return params_.at(key);
}

double Params::number(const char* key, double fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const auto& v = get(key);
  FEDGUARD_EXPECTS(v.is_number(), "attack '" << attack_ << "': parameter '" << key
                                             << "' must be a number, got " << v.dump());
  const double x = v.get<double>();
  FEDGUARD_EXPECTS(std::isfinite(x),
                   "attack '" << attack_ << "': parameter '" << key << "' must be finite");
  return x;
}

double Params::positive(const char* key, double fallback) {
  const double x = number(key, fallback);
  FEDGUARD_EXPECTS(x > 0,
                   "attack '" << attack_ << "': parameter '" << key << "' must be > 0, got " << x);
  return x;
}

std::uint64_t Params::count(const char* key, std::uint64_t fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const auto& v = get(key);
  FEDGUARD_EXPECTS(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0),
                   "attack '" << attack_ << "': parameter '" << key
                              << "' must be a non-negative integer, got " << v.dump());
  return v.get<std::uint64_t>();
}

bool Params::boolean(const char* key, bool fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const auto& v = get(key);
  FEDGUARD_EXPECTS(v.is_boolean(), "attack '" << attack_ << "': parameter '" << key
                                              << "' must be true or false, got " << v.dump());
  return v.get<bool>();
}

std::string Params::choice(const char* key, const std::string& fallback,
                           std::initializer_list<const char*> allowed) {
  known_.insert(key);
  std::string value = fallback;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  if (has(key)) {
    const auto& v = get(key);
    FEDGUARD_EXPECTS(v.is_string(), "attack '" << attack_ << "': parameter '" << key
                                               << "' must be one of " << list << ", got "
                                               << v.dump());
    value = v.get<std::string>();
  }
  for (const char* a : allowed)
    if (value == a) return value;
  FEDGUARD_THROW(kInvalidInput, "attack '" << attack_ << "': parameter '" << key
                                           << "' must be one of " << list << ", got '" << value
                                           << "'");
}

void Params::finish() const {
  for (const auto& item : params_.items()) {
    if (known_.count(item.key())) continue;
    std::string list;
    for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
    FEDGUARD_THROW(kInvalidInput, "attack '" << attack_ << "': unknown parameter '" << item.key()
                                             << "' (known: " << (list.empty() ? "none" : list)
                                             << ")");
  }
}

// ---------------------------------------------------------------------------------------------
// Input checks and output

namespace {

void check_finite(const std::string& attack, const char* what, const float* p, std::size_t rows,
                  std::size_t d) {
  for (std::size_t i = 0; i < rows; ++i) {
    const float* row = p + i * d;
    bool ok = true;
    for (std::size_t j = 0; j < d; ++j) ok &= std::isfinite(row[j]);
    if (ok) continue;
    for (std::size_t j = 0; j < d; ++j)
      if (!std::isfinite(row[j]))
        FEDGUARD_THROW(kInvalidInput, "attack '" << attack << "': " << what << " row " << i
                                                 << " has a non-finite value (" << row[j]
                                                 << ") at column " << j);
  }
}

}  // namespace

std::size_t validate(const std::string& attack, const AttackInput& in, const Needs& needs) {
  FEDGUARD_EXPECTS(in.d > 0, "attack '" << attack << "': d must be > 0");
  FEDGUARD_EXPECTS(in.n_benign == 0 || in.benign != nullptr,
                   "attack '" << attack << "': benign is null but n_benign=" << in.n_benign);
  FEDGUARD_EXPECTS(in.n_benign >= needs.min_benign,
                   "attack '" << attack << "' needs at least " << needs.min_benign
                              << " benign update" << (needs.min_benign == 1 ? "" : "s")
                              << ", got n_benign=" << in.n_benign);
  const std::size_t n_total = in.n_total ? in.n_total : in.n_benign + in.n_malicious;
  FEDGUARD_EXPECTS(n_total >= in.n_malicious,
                   "attack '" << attack << "': n_total=" << n_total
                              << " is smaller than n_malicious=" << in.n_malicious);
  FEDGUARD_EXPECTS(
      !needs.own || in.own != nullptr,
      "attack '" << attack
                 << "' needs `own` (each malicious client's own update, n_malicious x d)");
  FEDGUARD_EXPECTS(
      !needs.global_model || in.global_model != nullptr,
      "attack '" << attack << "' needs `global_model` (the current global model, d values)");
  check_finite(attack, "benign", in.benign, in.n_benign, in.d);
  if (in.own) check_finite(attack, "own", in.own, in.n_malicious, in.d);
  if (in.global_model) check_finite(attack, "global_model", in.global_model, 1, in.d);
  return n_total;
}

AttackOutput make_output(const AttackInput& in) {
  AttackOutput out;
  out.n = in.n_malicious;
  out.d = in.d;
  out.updates.assign(in.n_malicious * in.d, 0.0f);
  out.info["n_malicious"] = in.n_malicious;
  return out;
}

float to_float(double v, std::size_t* clamped) {
  if (std::isnan(v)) FEDGUARD_THROW(kInvalidInput, "attack produced NaN (non-finite intermediate)");
  if (v > static_cast<double>(FLT_MAX)) {
    ++*clamped;
    return FLT_MAX;
  }
  if (v < -static_cast<double>(FLT_MAX)) {
    ++*clamped;
    return -FLT_MAX;
  }
  return static_cast<float>(v);
}

void replicate_first_row(AttackOutput& out) {
  for (std::size_t i = 1; i < out.n; ++i)
    std::memcpy(out.updates.data() + i * out.d, out.updates.data(), out.d * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// Statistics

void column_stats(const AttackInput& in, std::size_t j0, std::size_t j1, std::size_t ddof,
                  double* mean, double* stddev) {
  const std::size_t w = j1 - j0, n = in.n_benign;
  std::fill(mean, mean + w, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = in.benign + i * in.d + j0;
    for (std::size_t j = 0; j < w; ++j) mean[j] += row[j];
  }
  const double inv = n ? 1.0 / static_cast<double>(n) : 0.0;
  for (std::size_t j = 0; j < w; ++j) mean[j] *= inv;
  if (!stddev) return;
  std::fill(stddev, stddev + w, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = in.benign + i * in.d + j0;
    for (std::size_t j = 0; j < w; ++j) {
      const double c = row[j] - mean[j];
      stddev[j] += c * c;
    }
  }
  const double div = n > ddof ? 1.0 / static_cast<double>(n - ddof) : 0.0;
  for (std::size_t j = 0; j < w; ++j) stddev[j] = std::sqrt(stddev[j] * div);
}

BenignSummary summarise_benign(const AttackInput& in, const std::vector<Direction>& directions) {
  const std::size_t n = in.n_benign, r = directions.size();
  BenignSummary s;
  s.n = n;
  s.gram.assign(n * n, 0.0);
  s.proj.assign(r, std::vector<double>(n, 0.0));
  s.dots.assign(r, std::vector<double>(r, 0.0));
  std::vector<double> mean, sd, tile, v;
  for_each_tile(in.d, n, [&](std::size_t j0, std::size_t j1) {
    const std::size_t w = j1 - j0;
    mean.resize(w);
    sd.resize(w);
    tile.resize(n * w);
    v.resize(r * w);
    column_stats(in, j0, j1, 1, mean.data(), sd.data());
    for (std::size_t i = 0; i < n; ++i) {
      const float* row = in.benign + i * in.d + j0;
      double* t = tile.data() + i * w;
      for (std::size_t j = 0; j < w; ++j) t[j] = row[j] - mean[j];
    }
    for (std::size_t k = 0; k < r; ++k) {
      double* vk = v.data() + k * w;
      for (std::size_t j = 0; j < w; ++j) {
        switch (directions[k]) {
          case Direction::kMean:
            vk[j] = mean[j];
            break;
          case Direction::kStd:
            vk[j] = sd[j];
            break;
          case Direction::kSign:
            vk[j] = mean[j] > 0 ? 1.0 : (mean[j] < 0 ? -1.0 : 0.0);
            break;
        }
      }
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(w),
                1.0, tile.data(), static_cast<int>(w), 1.0, s.gram.data(), static_cast<int>(n));
    for (std::size_t k = 0; k < r; ++k) {
      const double* vk = v.data() + k * w;
      for (std::size_t i = 0; i < n; ++i) {
        const double* t = tile.data() + i * w;
        double acc = 0;
        for (std::size_t j = 0; j < w; ++j) acc += t[j] * vk[j];
        s.proj[k][i] += acc;
      }
      for (std::size_t l = 0; l < r; ++l) {
        const double* vl = v.data() + l * w;
        double acc = 0;
        for (std::size_t j = 0; j < w; ++j) acc += vk[j] * vl[j];
        s.dots[k][l] += acc;
      }
    }
  });
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) s.gram[i * n + j] = s.gram[j * n + i];
  return s;
}

std::vector<double> pairwise_sq_distances(const BenignSummary& s) {
  const std::size_t n = s.n;
  std::vector<double> dist(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      if (i != j)
        dist[i * n + j] =
            std::max(0.0, s.gram[i * n + i] + s.gram[j * n + j] - 2.0 * s.gram[i * n + j]);
  return dist;
}

double normal_quantile(double p) {
  FEDGUARD_EXPECTS(p > 0 && p < 1,
                   "normal quantile of p=" << p << " is not finite (needs 0 < p < 1)");
  // Phi(x) = erfc(-x / sqrt 2) / 2 is increasing; bisect on [-40, 40] to the last bit.
  double lo = -40, hi = 40;
  for (int it = 0; it < 200 && lo < hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

// ---------------------------------------------------------------------------------------------
// Counter-based random numbers

namespace {

std::uint64_t mix64(std::uint64_t z) {  // SplitMix64's finaliser
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(const char* s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ull;
  return h;
}

}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t round, const char* stream)
    : key_(mix64(mix64(mix64(seed) ^ round) ^ fnv1a(stream))) {}

std::uint64_t Rng::bits(std::uint64_t counter) const {
  return mix64(key_ ^ mix64(counter + 0x632BE59BD9B4E019ull));
}

double Rng::uniform(std::uint64_t counter) const {
  return (static_cast<double>(bits(counter) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double Rng::normal(std::uint64_t counter) const {
  const double u1 = uniform(2 * counter), u2 = uniform(2 * counter + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}

}  // namespace fedguard::attacks
