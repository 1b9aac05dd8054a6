// Pass 1 on the CPU: one read of every update, column tile by column tile.
//
// Per tile (k rows x w columns, converted to float32 in a k x w buffer):
//   1. convert, and per row: finiteness, max |x|, sum x^2 (float64), sign counts;
//   2. centre c of each column = mean over the rows whose max |x| in this tile is at most
//      4x the median row's. The paper-free detail that matters: a plain column mean lets one
//      client with enormous values drag c far from the benign rows, and then the benign
//      centred values are large and alike, and their float32 products lose the differences.
//      Any centre common to all rows gives exact distances; a robust one keeps them precise.
//   3. subtract c and scale each row by a power of two so that its largest |value| is < 1:
//      float32 products then never overflow whatever a client sends, and unscaling in float64
//      is exact;
//   4. SSYRK of the scaled tile, added (unscaled) into the float64 Gram accumulator.
// Rows with a NaN or Inf anywhere are zeroed from the tile where it is found on and flagged;
// their (partial) summaries are meaningless and the policy never reads them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/tile_loader.h"
#include "fedguard/error.h"

namespace fedguard::backend {

std::size_t auto_tile_columns(std::size_t n, std::size_t d) {
  const std::size_t target_floats = std::size_t{1} << 19;  // 2 MiB of float32 per tile
  std::size_t w = target_floats / std::max<std::size_t>(n, 1);
  w = std::clamp<std::size_t>(w / 64 * 64, 64, 65536);
  const std::size_t d_up = (d + 63) / 64 * 64;
  return std::max<std::size_t>(64, std::min(w, d_up));
}

namespace cpu {
namespace {

constexpr float kSaneFactor = 4.0f;

struct RowTileStats {
  float max_abs = 0;
};

// Power of two s with max_abs * s in [0.5, 1), or 1 for a zero row.
double unit_scale(float max_abs) {
  if (!(max_abs > 0)) return 1.0;
  int e;
  std::frexp(static_cast<double>(max_abs), &e);  // max_abs = m 2^e, m in [0.5, 1)
  return std::ldexp(1.0, -e);
}

}  // namespace

ScanSummaries scan(const ScanRequest& request, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size();
  const std::size_t d = view.cols();
  const std::size_t r = request.references.size();
  const std::size_t w_max =
      request.tile_columns ? std::min(request.tile_columns, d) : auto_tile_columns(k, d);

  ScanSummaries s;
  s.k = k;
  s.r = r;
  s.tile_columns = w_max;
  if (request.gram) s.gram.assign(k * k, 0.0);  // a Gram-free policy allocates nothing n x n
  const std::size_t subsets = request.gram ? request.column_subsets.size() : 0;
  s.subset_grams.assign(subsets, std::vector<double>(k * k, 0.0));
  std::vector<std::size_t> subset_pos(subsets, 0);  // next unconsumed entry of each subset
  std::vector<float> subset_tile;
  s.centre_proj.assign(k, 0.0);
  s.ref_proj.assign(k * r, 0.0);
  s.centre_ref.assign(r, 0.0);
  s.ref_gram.assign(r * r, 0.0);
  s.norms_sq.assign(k, 0.0);
  s.positive.assign(k, 0);
  s.negative.assign(k, 0);
  s.zero.assign(k, 0);
  s.finite.assign(k, 1);
  if (k == 0 || d == 0) return s;

  std::vector<float> tile(k * w_max);
  std::vector<float> product(request.gram ? k * k : 0);
  std::vector<float> ref_tile(r * w_max);
  std::vector<float> ref_product(k * r);
  std::vector<float> centre(w_max);
  std::vector<float> max_abs(k);
  std::vector<double> scale(k);
  std::vector<double> ref_scale(r);
  std::vector<float> sorted_max(k);
  std::vector<std::uint8_t> sane(k);

  for (std::size_t col0 = 0; col0 < d; col0 += w_max) {
    const std::size_t w = std::min(w_max, d - col0);

    // 1. Convert and per-row statistics.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::ptrdiff_t pi = 0; pi < static_cast<std::ptrdiff_t>(k); ++pi) {
      const auto p = static_cast<std::size_t>(pi);
      float* dst = tile.data() + p * w;
      max_abs[p] = 0;
      if (!s.finite[p]) {
        std::fill(dst, dst + w, 0.0f);
        continue;
      }
      const float* src = row_segment(view, request.rows[p], col0, w, dst);
      if (src != dst) std::memcpy(dst, src, w * sizeof(float));
      double sq = 0;
      float mx = 0;
      std::int64_t pos = 0, neg = 0;
      bool ok = true;
      for (std::size_t j = 0; j < w; ++j) {
        const float v = dst[j];
        ok &= std::isfinite(v);
        const float a = std::fabs(v);
        mx = a > mx ? a : mx;
        sq += static_cast<double>(v) * v;
        pos += v > 0;
        neg += v < 0;
      }
      if (!ok) {
        s.finite[p] = 0;
        std::fill(dst, dst + w, 0.0f);
        continue;
      }
      max_abs[p] = mx;
      s.norms_sq[p] += sq;
      s.positive[p] += pos;
      s.negative[p] += neg;
      s.zero[p] += static_cast<std::int64_t>(w) - pos - neg;
    }

    if (!request.gram) continue;

    // 2. Robust centre: the mean of the rows of ordinary magnitude in this tile.
    std::size_t finite_rows = 0;
    for (std::size_t p = 0; p < k; ++p)
      if (s.finite[p]) sorted_max[finite_rows++] = max_abs[p];
    float limit = 0;
    if (finite_rows > 0) {
      const std::size_t mid = (finite_rows - 1) / 2;
      std::nth_element(sorted_max.begin(), sorted_max.begin() + mid, sorted_max.begin() + finite_rows);
      limit = sorted_max[mid] * kSaneFactor;
    }
    std::size_t sane_rows = 0;
    for (std::size_t p = 0; p < k; ++p) {
      sane[p] = s.finite[p] && max_abs[p] <= limit;
      sane_rows += sane[p];
    }
    {
      const double inv = sane_rows ? 1.0 / static_cast<double>(sane_rows) : 0.0;
      constexpr std::size_t kBlock = 256;
#pragma omp parallel for schedule(static) num_threads(threads)
      for (std::ptrdiff_t bi = 0; bi < static_cast<std::ptrdiff_t>((w + kBlock - 1) / kBlock); ++bi) {
        const std::size_t j0 = static_cast<std::size_t>(bi) * kBlock;
        const std::size_t j1 = std::min(w, j0 + kBlock);
        double acc[kBlock] = {};
        for (std::size_t p = 0; p < k; ++p) {
          if (!sane[p]) continue;
          const float* row = tile.data() + p * w;
          for (std::size_t j = j0; j < j1; ++j) acc[j - j0] += row[j];
        }
        for (std::size_t j = j0; j < j1; ++j) centre[j] = static_cast<float>(acc[j - j0] * inv);
      }
    }
    double cc = 0;
    for (std::size_t j = 0; j < w; ++j) cc += static_cast<double>(centre[j]) * centre[j];
    s.centre_sq += cc;

    // 3. Centre, project on c, scale to unit max.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::ptrdiff_t pi = 0; pi < static_cast<std::ptrdiff_t>(k); ++pi) {
      const auto p = static_cast<std::size_t>(pi);
      float* row = tile.data() + p * w;
      scale[p] = 1.0;
      if (!s.finite[p]) continue;
      double proj = 0;
      float mx = 0;
      for (std::size_t j = 0; j < w; ++j) {
        const float v = row[j] - centre[j];
        row[j] = v;
        proj += static_cast<double>(centre[j]) * v;
        const float a = std::fabs(v);
        mx = a > mx ? a : mx;
      }
      s.centre_proj[p] += proj;
      const double sc = unit_scale(mx);
      scale[p] = sc;
      if (sc != 1.0) {
        const auto f = static_cast<float>(sc);
        for (std::size_t j = 0; j < w; ++j) row[j] *= f;
      }
    }

    // 4. Gram of the tile (upper triangle), unscaled into float64.
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(k), static_cast<int>(w),
                1.0f, tile.data(), static_cast<int>(w), 0.0f, product.data(), static_cast<int>(k));
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (std::ptrdiff_t pi = 0; pi < static_cast<std::ptrdiff_t>(k); ++pi) {
      const auto p = static_cast<std::size_t>(pi);
      const double inv_p = 1.0 / scale[p];
      for (std::size_t q = p; q < k; ++q)
        s.gram[p * k + q] += static_cast<double>(product[p * k + q]) * (inv_p / scale[q]);
    }

    // 4b. Column subsets: gather this tile's columns of each subset, SSYRK, unscale.
    for (std::size_t si = 0; si < subsets; ++si) {
      const auto& cols = request.column_subsets[si];
      std::size_t& pos = subset_pos[si];
      const std::size_t begin = pos;
      while (pos < cols.size() && cols[pos] < col0 + w) ++pos;
      const std::size_t nc = pos - begin;
      if (nc == 0) continue;
      subset_tile.resize(k * nc);
      for (std::size_t p = 0; p < k; ++p)
        for (std::size_t q = 0; q < nc; ++q) subset_tile[p * nc + q] = tile[p * w + (cols[begin + q] - col0)];
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(k), static_cast<int>(nc), 1.0f,
                  subset_tile.data(), static_cast<int>(nc), 0.0f, product.data(), static_cast<int>(k));
      std::vector<double>& g = s.subset_grams[si];
      for (std::size_t p = 0; p < k; ++p)
        for (std::size_t q = p; q < k; ++q)
          g[p * k + q] += static_cast<double>(product[p * k + q]) / (scale[p] * scale[q]);
    }

    // 5. References: (x_i - c) . v_j, c . v_j and v_i . v_j.
    if (r > 0) {
      for (std::size_t a = 0; a < r; ++a) {
        const float* v = request.references[a] + col0;
        float mx = 0;
        double cv = 0;
        for (std::size_t j = 0; j < w; ++j) {
          mx = std::max(mx, std::fabs(v[j]));
          cv += static_cast<double>(centre[j]) * v[j];
        }
        s.centre_ref[a] += cv;
        ref_scale[a] = unit_scale(mx);
        for (std::size_t j = 0; j < w; ++j)
          ref_tile[a * w + j] = static_cast<float>(v[j] * ref_scale[a]);
        for (std::size_t b = 0; b < r; ++b) {
          const float* u = request.references[b] + col0;
          double dot = 0;
          for (std::size_t j = 0; j < w; ++j) dot += static_cast<double>(v[j]) * u[j];
          s.ref_gram[a * r + b] += dot;
        }
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(k), static_cast<int>(r),
                  static_cast<int>(w), 1.0f, tile.data(), static_cast<int>(w), ref_tile.data(),
                  static_cast<int>(w), 0.0f, ref_product.data(), static_cast<int>(r));
      for (std::size_t p = 0; p < k; ++p)
        for (std::size_t a = 0; a < r; ++a)
          s.ref_proj[p * r + a] += static_cast<double>(ref_product[p * r + a]) / (scale[p] * ref_scale[a]);
    }
  }

  if (request.gram)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = 0; q < p; ++q) s.gram[p * k + q] = s.gram[q * k + p];
  for (auto& g : s.subset_grams)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = 0; q < p; ++q) g[p * k + q] = g[q * k + p];
  return s;
}

}  // namespace cpu
}  // namespace fedguard::backend
