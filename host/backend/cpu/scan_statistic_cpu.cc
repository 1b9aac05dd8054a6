// Pass 1 and the column statistic of pass 2 (median, trimmed mean) in one read of the updates,
// for rounds whose rules need nothing else (issue 19, item 3: the rules without a Gram read
// the updates once). It walks scan()'s tiles with scan()'s workers (scan_tiles), so its
// summaries are scan()'s bit for bit; each tile is laid out as lane blocks (lane_blocks.h) in
// chunks that stay in the core's L2 cache, every row's statistics summed in the layout's
// registers (AVX-512 or AVX2; without them, by row_stats over the tile) while the copy waits on
// memory (float16 and bfloat16 rows converted there too on AVX-512, not copied first), and the
// statistic is taken over the blocks as aggregate_coordinatewise takes it (each column on its own:
// the same bits at any chunking).
//
// The statistic is a speculation that every row is kept. A block with a NaN or an Inf means a
// row the engine will reject: from then on the workers only finish the summaries (a client who
// sends NaN costs its round the second read it would have cost anyway, not a second sort), and
// the engine runs pass 2 over the rows it keeps.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lane_blocks.h"
#include "backend/cpu/lane_select.h"
#include "backend/cpu/row_stats.h"
#include "backend/cpu/tile_loader.h"

namespace fedguard::backend::cpu {

ScanWithStatistic scan_with_statistic(const ScanRequest& request, ColumnStatistic statistic,
                                      std::size_t param, float* out, int threads) {
  // The request was validated by Backend::scan_with_statistic (host/backend/backend.cc).
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size(), d = view.cols();
  const ScanTiles plan = scan_tiles(request, threads);
  // The lane blocks' statistics: the networks up to kNetworkMaxRows rows, and above, the
  // median and the trimmed mean by counting where the processor has its kernel (lane_select.h);
  // a block with a NaN or an Inf abandons the statistic here anyway.
  const bool network =
      k > 0 && (k <= kNetworkMaxRows || ((statistic == ColumnStatistic::kMedian ||
                                          statistic == ColumnStatistic::kTrimmedMean) &&
                                         lane_select_available()));
  // Chunks of a tile: about 1 MiB of lane blocks (pass 2's chunk), a multiple of the lanes so
  // that only a tile's last chunk has a tail; the whole tile where it fits.
  const std::size_t per_chunk = (std::size_t{1} << 18) / std::max<std::size_t>(k, 1);
  const std::size_t chunk = std::min(plan.width, std::max(kLanes, per_chunk / kLanes * kLanes));
  const bool converts = std::any_of(request.rows.begin(), request.rows.end(), [&](std::size_t i) {
    return view.client(i).dtype != DType::kFloat32;
  });
  // Every row float16, or every row bfloat16: read at that width by the layout kernel.
  const bool narrow =
      converts && std::all_of(request.rows.begin(), request.rows.end(),
                              [&](std::size_t i) { return view.client(i).dtype == view.dtype(); });
  // Set by the first block holding a NaN or an Inf: the statistic is abandoned.
  std::atomic<bool> spoiled{!network};
  std::vector<RowTotals> totals(static_cast<std::size_t>(plan.workers), RowTotals(k));

  if (k > 0) {
#pragma omp parallel num_threads(plan.workers)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto nw = static_cast<std::size_t>(plan.workers);
      RowTotals& mine = totals[t];
      std::vector<const float*> segment(k);
      std::vector<const std::uint16_t*> narrow_segment(narrow ? k : 0);
      // Rows converted to float32 where the layout cannot convert them itself (sized on first use:
      // float16 / bfloat16 rounds on AVX-512 never need it).
      std::vector<float> converted;
      std::vector<float> row_buffer(converts ? plan.width : 0);
      std::vector<float> blocks_storage(
          network ? k * ((chunk + kLanes - 1) / kLanes) * kLanes + kLanes : 0);
      float* const blocks = aligned_lines(blocks_storage.data());
      std::vector<std::uint32_t> bad((chunk + kLanes - 1) / kLanes);
      std::vector<RowStatsState> states(k);
      std::vector<RowStats> tile_stats(k);
      for (std::size_t i = plan.tiles * t / nw; i < plan.tiles * (t + 1) / nw; ++i) {
        const std::size_t col0 = i * plan.width, w = std::min(plan.width, d - col0);
        // fused: the row statistics come from the layout's registers (AVX-512, AVX2), else from
        // row_stats over the tile below.
        bool fused = !spoiled.load(std::memory_order_relaxed);
        if (fused) std::memset(static_cast<void*>(states.data()), 0, sizeof(RowStatsState) * k);
        for (std::size_t s0 = 0; s0 < w && (fused || !spoiled.load(std::memory_order_relaxed));
             s0 += chunk) {
          const std::size_t sw = std::min(chunk, w - s0);
          bool laid = false;
          if (fused && narrow) {  // float16 / bfloat16 converted in the layout's registers
            for (std::size_t p = 0; p < k; ++p)
              narrow_segment[p] =
                  static_cast<const std::uint16_t*>(view.client(request.rows[p]).data) + col0 + s0;
            laid = layout_narrow_lane_blocks_with_stats(narrow_segment.data(), view.dtype(), k, sw,
                                                        blocks, bad.data(), states.data());
          }
          if (!laid) {
            if (converts && converted.empty()) converted.resize(k * chunk);
            for (std::size_t p = 0; p < k; ++p)
              segment[p] = row_segment(view, request.rows[p], col0 + s0, sw,
                                       converted.empty() ? nullptr : converted.data() + p * chunk);
            if (!fused || !layout_lane_blocks_with_stats(segment.data(), k, sw, blocks, bad.data(),
                                                         states.data())) {
              layout_lane_blocks(segment.data(), k, sw, blocks, bad.data());
              fused = false;
            }
          }
          if (fused && s0 + sw == w) {
            // Each row's tail (fewer than sixteen values) from its lane block, before the
            // statistic reorders the blocks.
            const std::size_t full = sw / kLanes, tail = sw - full * kLanes;
            for (std::size_t p = 0; p < k; ++p)
              tile_stats[p] = finish_row_stats(
                  states[p], tail ? blocks + (full * k + p) * kLanes : nullptr, tail);
          }
          const std::size_t nblocks = (sw + kLanes - 1) / kLanes;
          if (std::any_of(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(nblocks),
                          [](std::uint32_t b) { return b != 0; }))
            spoiled.store(true, std::memory_order_relaxed);
          if (!spoiled.load(std::memory_order_relaxed))
            statistic_of_lane_blocks(blocks, k, sw, bad.data(), statistic, param, out + col0 + s0);
        }
        if (!fused) {
          for (std::size_t p = 0; p < k; ++p)
            if (mine.finite[p])
              tile_stats[p] =
                  row_stats(row_segment(view, request.rows[p], col0, w,
                                        row_buffer.empty() ? nullptr : row_buffer.data()),
                            w);
        }
        for (std::size_t p = 0; p < k; ++p) mine.add(p, tile_stats[p], w);
      }
    }
  }

  // The workers' sums in worker order, as scan() adds them.
  RowTotals& total = totals[0];
  for (std::size_t t = 1; t < totals.size(); ++t) total.merge(totals[t]);
  ScanWithStatistic result;
  ScanSummaries& s = result.summaries;
  s.k = k;
  s.r = 0;
  s.tile_columns = plan.width;
  s.centre_proj.assign(k, 0.0);
  total.move_into(s);
  result.statistic = network && !spoiled.load();
  return result;
}

}  // namespace fedguard::backend::cpu
