// Placement and streaming for the CUDA backend's passes: staging host tiles into device memory
// through the pinned slots (Stager), output tiles back through pinned slots (Unstager), and the
// pass-2 tile loop both aggregate primitives share (CudaBackend::run_output_pass).
#pragma once

#include <climits>
#include <cstring>
#include <functional>
#include <sstream>

#include "backend/cuda/cuda_backend_impl.cuh"
#include "backend/cuda/plan.h"
#include "backend/cuda/staging.h"

namespace fedguard::backend::cuda {

// The host-to-device part of one tile: pack rows (and references) into pinned slot s, then
// copy them on stream s.
struct Stager {
  Resources& res;
  const UpdateView& view;
  const std::vector<std::size_t>& rows;
  const std::vector<const float*>& refs;
  std::size_t elem, w_max, rows_bytes = 0, slot_bytes = 0;
  bool stage_rows;
  std::vector<bool> busy;

  Stager(Resources& r, const UpdateView& v, const std::vector<std::size_t>& rs,
         const std::vector<const float*>& refs_, std::size_t w, bool rows_too)
      : res(r),
        view(v),
        rows(rs),
        refs(refs_),
        elem(dtype_size(v.dtype())),
        w_max(w),
        stage_rows(rows_too) {
    rows_bytes = stage_rows ? round_up(rows.size() * w_max * elem, 256) : 0;
    slot_bytes = rows_bytes + refs.size() * w_max * sizeof(float);
    busy.assign(res.streams(), false);
    if (slot_bytes)
      for (std::size_t s = 0; s < res.streams(); ++s) res.pinned(s, slot_bytes);
  }
  bool active() const { return slot_bytes > 0; }

  // Fills slot s with the tile and issues its copies: rows to (dst, dst_pitch bytes; column
  // offset already applied by the caller), references to refs_dst (row stride w_max floats).
  void stage(std::size_t s, std::size_t col0, std::size_t w, void* dst, std::size_t dst_pitch,
             float* refs_dst) {
    if (!active()) return;
    cudaStream_t st = res.stream(s);
    unsigned char* pin = res.pinned(s, slot_bytes);
    if (busy[s]) FEDGUARD_CUDA_TRY(cudaEventSynchronize(res.event(s)));
    const std::size_t k = rows.size(), r = refs.size();
    if (stage_rows && k) {
      cuda_plan::pack_rows(view, rows.data(), k, col0, w, pin, w_max * elem);
      if (dst_pitch <= static_cast<std::size_t>(INT_MAX)) {
        FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(dst, dst_pitch, pin, w_max * elem, w * elem, k,
                                            cudaMemcpyHostToDevice, st));
      } else {  // pitches beyond cudaMemcpy2D's range: one copy per row
        for (std::size_t p = 0; p < k; ++p)
          FEDGUARD_CUDA_TRY(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + p * dst_pitch,
                                            pin + p * w_max * elem, w * elem,
                                            cudaMemcpyHostToDevice, st));
      }
    }
    if (r) {
      auto* rpin = reinterpret_cast<float*>(pin + rows_bytes);
      cuda_plan::pack_references(refs.data(), r, col0, w, rpin, w_max);
      FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(refs_dst, w_max * sizeof(float), rpin,
                                          w_max * sizeof(float), w * sizeof(float), r,
                                          cudaMemcpyHostToDevice, st));
    }
    FEDGUARD_CUDA_TRY(cudaEventRecord(res.event(s), st));
    busy[s] = true;
  }
};

// Output tiles back to host memory through pinned slots S..2S-1 (deferred host copies).
struct Unstager {
  Resources& res;
  float* out;
  std::size_t w_max;
  struct Pending {
    bool valid = false;
    std::size_t col0 = 0, w = 0;
  };
  std::vector<Pending> pending;

  Unstager(Resources& r, float* o, std::size_t w) : res(r), out(o), w_max(w), pending(r.streams()) {
    for (std::size_t s = 0; s < res.streams(); ++s)
      res.pinned(res.streams() + s, w_max * sizeof(float));
  }
  void flush(std::size_t s) {
    Pending& p = pending[s];
    if (!p.valid) return;
    FEDGUARD_CUDA_TRY(cudaEventSynchronize(res.event(res.streams() + s)));
    std::memcpy(out + p.col0, res.pinned(res.streams() + s, w_max * sizeof(float)),
                p.w * sizeof(float));
    p.valid = false;
  }
  void push(std::size_t s, const float* dev, std::size_t col0, std::size_t w) {
    flush(s);
    const std::size_t slot = res.streams() + s;
    FEDGUARD_CUDA_TRY(cudaMemcpyAsync(res.pinned(slot, w_max * sizeof(float)), dev,
                                      w * sizeof(float), cudaMemcpyDeviceToHost, res.stream(s)));
    FEDGUARD_CUDA_TRY(cudaEventRecord(res.event(slot), res.stream(s)));
    pending[s] = Pending{true, col0, w};
  }
  void finish() {
    for (std::size_t s = 0; s < pending.size(); ++s) flush(s);
  }
};

// Pass 2 over output tiles: rows read in place (device view or the scan's resident copy) or
// streamed through the Stager; `tile.prepare(w_max)` makes the pass's own buffers and
// `tile.run(...)` computes one output tile on stream s.
// In-place pass-2 tiles (run_output_pass): at most this many columns, and this much scratch per
// stream (mixed rows, output tile).
constexpr std::size_t kInPlaceColumns = std::size_t{1} << 21;
constexpr std::size_t kInPlaceScratch = std::size_t{256} << 20;

template <class Tile>
void CudaBackend::run_output_pass(const UpdateView& view, const std::vector<std::size_t>& rows,
                                  const std::vector<const float*>& refs, std::size_t requested_w,
                                  const std::function<std::size_t(std::size_t, bool)>& stream_bytes,
                                  float* out, Tile&& tile, const char* what) {
  Resources& res = *res_;
  const std::size_t k = rows.size(), d = view.cols(), elem = dtype_size(view.dtype());
  std::vector<const void*> table;
  const bool in_place = in_place_table(view, rows, table);
  // Streamed, a tile is what is staged: 2^24 floats of k rows. In place, the kernels read the
  // rows where they lie and a tile is only a launch and its scratch: widen it (doubling, up to
  // kInPlaceColumns) while the scratch stays within kInPlaceScratch per stream, so a launch
  // fills the device. At n = 1000 the staged width, 16,640 columns, gave the weighted mean's one
  // thread per column 65 blocks of 132 SMs (16% of the copy bandwidth on an H200, 2026-12-04).
  auto auto_w = [&](std::size_t dd) {
    std::size_t w = auto_tile_columns(k, dd, kCudaTile);
    if (!in_place) return w;
    while (w < dd && 2 * w <= kInPlaceColumns && stream_bytes(2 * w, false) <= kInPlaceScratch)
      w *= 2;
    return std::min(w, std::max<std::size_t>(dd, 1));
  };
  cuda_plan::Plan p =
      cuda_plan::plan_pass(k * d * elem, in_place, res.budget(), requested_w, d, res.streams(),
                           stream_bytes, auto_w, 64, /*allow_copy=*/false);
  const bool streamed = !in_place;
  cuda_plan::run_with_oom_retry(
      p.tile_columns, std::min<std::size_t>(64, p.tile_columns), [&](std::size_t w_max) {
        const std::size_t S = res.streams();
        DeviceBuffer base_table;
        std::vector<DeviceBuffer> stage(S), stage_table(S), stage_refs(S), out_tile(S);
        if (in_place) base_table = upload(res, table.data(), k);
        for (std::size_t s = 0; s < S; ++s) {
          if (streamed && k) {
            stage[s] = res.allocate(k * w_max * elem);
            std::vector<const void*> t;
            for (std::size_t i = 0; i < k; ++i)
              t.push_back(stage[s].as<unsigned char>() + i * w_max * elem);
            stage_table[s] = upload(res, t.data(), k);
          }
          if (!refs.empty()) stage_refs[s] = res.allocate(refs.size() * w_max * sizeof(float));
          out_tile[s] = res.allocate(w_max * sizeof(float));
        }
        auto scratch = tile.prepare(w_max);  // the pass's own buffers
        StreamsGuard sync_before_free(res);
        Stager stager(res, view, rows, refs, w_max, streamed);
        Unstager unstager(res, out, w_max);
        for (const cuda_plan::TileTask& task : cuda_plan::tile_schedule(d, w_max, S)) {
          const std::size_t s = task.stream;
          stager.stage(s, task.col0, task.width, stage[s].get(), w_max * elem,
                       stage_refs[s].as<float>());
          const void* tbl = streamed ? stage_table[s].get() : base_table.get();
          tile.run(scratch, s, tbl, streamed ? 0 : task.col0, task.col0, task.width, w_max,
                   stage_refs[s].as<float>(), out_tile[s].as<float>());
          unstager.push(s, out_tile[s].as<float>(), task.col0, task.width);
        }
        unstager.finish();
        res.synchronize();
        std::ostringstream msg;
        msg << what << ": "
            << (in_place ? (view.location().kind == MemoryKind::kCuda ? "device" : "copied")
                         : "streamed")
            << ", " << w_max << " columns, " << S << " streams";
        last_plan_ = msg.str();
      });
  res.trim();
}

}  // namespace fedguard::backend::cuda
