#include "forensics/layer_scores.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/median.h"
#include "fedguard/dtype.h"
#include "fedguard/error.h"

namespace fedguard::forensics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double median_of(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  return median_in_place(v);
}

}  // namespace

std::vector<double> modified_z(const std::vector<double>& values) {
  const double med = median_of(values);
  std::vector<double> dev;
  double mean_abs = 0;
  std::size_t count = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    dev.push_back(std::fabs(v - med));
    mean_abs += std::fabs(v - med);
    ++count;
  }
  const double mad = median_of(dev);
  double scale = 1.4826 * mad;
  if (!(scale > 0) && count > 0) scale = 1.2533 * mean_abs / static_cast<double>(count);
  std::vector<double> z(values.size(), kNaN);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    z[i] = scale > 0 ? (values[i] - med) / scale : 0.0;
  }
  return z;
}

LayerScores compute_layer_scores(const UpdateView& updates,
                                 const std::vector<io::LayerRange>& layer_ranges,
                                 std::size_t tile_columns) {
  FEDGUARD_EXPECTS(updates.location().kind == MemoryKind::kHost, "layer scores need host memory");
  const std::size_t n = updates.rows(), d = updates.cols();
  std::vector<io::LayerRange> layers = layer_ranges;
  if (layers.empty()) layers.push_back({"all", 0, d});
  for (const auto& l : layers) {
    FEDGUARD_EXPECTS(l.begin <= l.end && l.end <= d, "layer '" << l.name << "' [" << l.begin << ", "
                                                               << l.end << ") is outside d=" << d);
  }
  const std::size_t L = layers.size();
  // Column -> layer via the sorted starts (layers are contiguous and in order as written).
  std::vector<std::size_t> order(L);
  for (std::size_t k = 0; k < L; ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return layers[a].begin < layers[b].begin; });

  std::vector<std::size_t> good;
  for (std::size_t i = 0; i < n; ++i)
    if (updates.well_formed(i)) good.push_back(i);
  const std::size_t g = good.size();
  const std::size_t b = std::max<std::size_t>(1, tile_columns);
  const std::size_t tiles = (d + b - 1) / b;
  // Accumulators [layer][good row]: sum (x - med)^2, sum x^2, non-finite flag.
  std::vector<double> dist2(L * g, 0.0), norm2(L * g, 0.0);
  std::vector<unsigned char> bad(L * g, 0);

#pragma omp parallel
  {
    std::vector<double> my_dist2(L * g, 0.0), my_norm2(L * g, 0.0);
    std::vector<unsigned char> my_bad(L * g, 0);
    std::vector<float> tile(g * b);
    std::vector<double> column(g);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t t = 0; t < tiles; ++t) {
      const std::size_t c0 = t * b, w = std::min(b, d - c0);
      for (std::size_t r = 0; r < g; ++r) {
        const auto* row = static_cast<const unsigned char*>(updates.row(good[r]));
        convert_to_float(updates.dtype(), row + c0 * dtype_size(updates.dtype()),
                         tile.data() + r * b, w);
      }
      std::size_t li = 0;  // position in `order`
      for (std::size_t c = 0; c < w; ++c) {
        const std::size_t col = c0 + c;
        while (li + 1 < L && layers[order[li + 1]].begin <= col) ++li;
        const std::size_t k = order[li];
        if (col < layers[k].begin || col >= layers[k].end) continue;  // a gap between layers
        std::size_t m = 0;
        for (std::size_t r = 0; r < g; ++r) {
          const float v = tile[r * b + c];
          if (std::isfinite(v)) column[m++] = v;
        }
        double med = 0;
        if (m > 0) {
          const std::size_t mid = m / 2;
          std::nth_element(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(mid),
                           column.begin() + static_cast<std::ptrdiff_t>(m));
          med = column[mid];
          if (m % 2 == 0) {
            med =
                0.5 * (med + *std::max_element(column.begin(),
                                               column.begin() + static_cast<std::ptrdiff_t>(mid)));
          }
        }
        for (std::size_t r = 0; r < g; ++r) {
          const double v = tile[r * b + c];
          if (!std::isfinite(v)) {
            my_bad[k * g + r] = 1;
            continue;
          }
          my_dist2[k * g + r] += (v - med) * (v - med);
          my_norm2[k * g + r] += v * v;
        }
      }
    }
#pragma omp critical
    {
      for (std::size_t i = 0; i < L * g; ++i) {
        dist2[i] += my_dist2[i];
        norm2[i] += my_norm2[i];
        bad[i] |= my_bad[i];
      }
    }
  }

  LayerScores out;
  for (std::size_t k = 0; k < L; ++k) {
    out.layers.push_back(layers[k].name);
    std::vector<double> dist(n, kNaN), norm(n, kNaN);
    for (std::size_t r = 0; r < g; ++r) {
      if (bad[k * g + r]) continue;
      dist[good[r]] = std::sqrt(dist2[k * g + r]);
      norm[good[r]] = std::sqrt(norm2[k * g + r]);
    }
    const double scale = median_of(dist);
    for (double& v : dist) {
      if (std::isfinite(v) && scale > 0) v /= scale;
    }
    out.median_distance.push_back(std::move(dist));
    out.norm_z.push_back(modified_z(norm));
  }
  return out;
}

}  // namespace fedguard::forensics
