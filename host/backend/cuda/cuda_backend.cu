// The CUDA backend: drives the kernels of kernels/ and cuBLAS over column tiles.
//
// Placement (plan.h): (a) the view is in device memory, (b) host updates that fit are copied
// to the device during pass 1 (tile by tile, through the pinned staging slots, so host memory
// is read once) and pass 2 reads that copy, (c) otherwise both passes stream column tiles
// from pinned host buffers. Tiles go round-robin over the streams; tile i refills staging slot
// i % S only after the copy of tile i - S has left it, so packing on the host, the copy
// engine and the kernels overlap. Pass-1 accumulators are per stream (float64) and summed in
// stream order at the end, so a result depends on (tile width, streams) and never on timing.
// Out of memory: the pass is retried with tiles half as wide, then fails naming the sizes.
#include "backend/cuda/cuda_backend.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "backend/cuda/plan.h"
#include "backend/cuda/staging.h"
#include "kernels/cuda_check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/resources.cuh"

namespace fedguard::backend {
namespace {

using cuda::DeviceBuffer;
using cuda::Resources;
namespace plan = cuda_plan;

template <class F>
void dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return;
    case DType::kFloat16: f(__half{}); return;
    case DType::kBFloat16: f(__nv_bfloat16{}); return;
  }
  FEDGUARD_THROW(kUnsupported, "unknown dtype");
}

cuda::Statistic device_statistic(ColumnStatistic s) {
  switch (s) {
    case ColumnStatistic::kMedian: return cuda::Statistic::kMedian;
    case ColumnStatistic::kTrimmedMean: return cuda::Statistic::kTrimmedMean;
    case ColumnStatistic::kBulyanMean: return cuda::Statistic::kBulyanMean;
  }
  return cuda::Statistic::kMedian;
}

int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(INT_MAX)) FEDGUARD_THROW(kUnsupported, what << " = " << v << " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

// C (m x n, column-major, float32) = op(A) op(B).
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::size_t m, std::size_t n, std::size_t k,
          const void* a, cudaDataType at, std::size_t lda, const void* b, cudaDataType bt, std::size_t ldb, float* c,
          std::size_t ldc, cublasComputeType_t compute) {
  const float one = 1.0f, zero = 0.0f;
  FEDGUARD_CUBLAS_TRY(cublasGemmEx(h, ta, tb, as_int(m, "m"), as_int(n, "n"), as_int(k, "k"), &one, a, at,
                                   as_int(lda, "lda"), b, bt, as_int(ldb, "ldb"), &zero, c, CUDA_R_32F,
                                   as_int(ldc, "ldc"), compute, CUBLAS_GEMM_DEFAULT));
}

template <class T>
DeviceBuffer upload(Resources& res, const T* host, std::size_t count) {
  DeviceBuffer b = res.allocate(count * sizeof(T));
  if (count) FEDGUARD_CUDA_TRY(cudaMemcpy(b.get(), host, count * sizeof(T), cudaMemcpyHostToDevice));
  return b;
}

std::size_t round_up(std::size_t v, std::size_t q) { return (v + q - 1) / q * q; }

// Rows' device copy kept from a scan (placement b) for the passes of the same round.
struct Resident {
  DeviceBuffer data;
  std::size_t d = 0;
  DType dtype = DType::kFloat32;
  std::unordered_map<const void*, std::size_t> position;  // host row pointer -> row of the copy
  void clear() {
    data.reset();
    position.clear();
    d = 0;
  }
};

// The host-to-device part of one tile: pack rows (and references) into pinned slot s, then
// copy them on stream s.
struct Stager {
  Resources& res;
  const UpdateView& view;
  const std::vector<std::size_t>& rows;
  const std::vector<const float*>& refs;
  std::size_t elem, w_max, rows_bytes, slot_bytes;
  bool stage_rows;
  std::vector<bool> busy;

  Stager(Resources& r, const UpdateView& v, const std::vector<std::size_t>& rs, const std::vector<const float*>& refs_,
         std::size_t w, bool rows_too)
      : res(r), view(v), rows(rs), refs(refs_), elem(dtype_size(v.dtype())), w_max(w), stage_rows(rows_too) {
    rows_bytes = stage_rows ? round_up(rows.size() * w_max * elem, 256) : 0;
    slot_bytes = rows_bytes + refs.size() * w_max * sizeof(float);
    busy.assign(res.streams(), false);
    if (slot_bytes)
      for (std::size_t s = 0; s < res.streams(); ++s) res.pinned(s, slot_bytes);
  }
  bool active() const { return slot_bytes > 0; }

  // Fills slot s with the tile and issues its copies: rows to (dst, dst_pitch bytes; column
  // offset already applied by the caller), references to refs_dst (row stride w_max floats).
  void stage(std::size_t s, std::size_t col0, std::size_t w, void* dst, std::size_t dst_pitch, float* refs_dst) {
    if (!active()) return;
    cudaStream_t st = res.stream(s);
    unsigned char* pin = res.pinned(s, slot_bytes);
    if (busy[s]) FEDGUARD_CUDA_TRY(cudaEventSynchronize(res.event(s)));
    const std::size_t k = rows.size(), r = refs.size();
    if (stage_rows && k) {
      plan::pack_rows(view, rows.data(), k, col0, w, pin, w_max * elem);
      if (dst_pitch <= static_cast<std::size_t>(INT_MAX)) {
        FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(dst, dst_pitch, pin, w_max * elem, w * elem, k, cudaMemcpyHostToDevice, st));
      } else {  // pitches beyond cudaMemcpy2D's range: one copy per row
        for (std::size_t p = 0; p < k; ++p)
          FEDGUARD_CUDA_TRY(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + p * dst_pitch, pin + p * w_max * elem,
                                            w * elem, cudaMemcpyHostToDevice, st));
      }
    }
    if (r) {
      auto* rpin = reinterpret_cast<float*>(pin + rows_bytes);
      plan::pack_references(refs.data(), r, col0, w, rpin, w_max);
      FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(refs_dst, w_max * sizeof(float), rpin, w_max * sizeof(float),
                                          w * sizeof(float), r, cudaMemcpyHostToDevice, st));
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
    for (std::size_t s = 0; s < res.streams(); ++s) res.pinned(res.streams() + s, w_max * sizeof(float));
  }
  void flush(std::size_t s) {
    Pending& p = pending[s];
    if (!p.valid) return;
    FEDGUARD_CUDA_TRY(cudaEventSynchronize(res.event(res.streams() + s)));
    std::memcpy(out + p.col0, res.pinned(res.streams() + s, w_max * sizeof(float)), p.w * sizeof(float));
    p.valid = false;
  }
  void push(std::size_t s, const float* dev, std::size_t col0, std::size_t w) {
    flush(s);
    const std::size_t slot = res.streams() + s;
    FEDGUARD_CUDA_TRY(cudaMemcpyAsync(res.pinned(slot, w_max * sizeof(float)), dev, w * sizeof(float),
                                      cudaMemcpyDeviceToHost, res.stream(s)));
    FEDGUARD_CUDA_TRY(cudaEventRecord(res.event(slot), res.stream(s)));
    pending[s] = Pending{true, col0, w};
  }
  void finish() {
    for (std::size_t s = 0; s < pending.size(); ++s) flush(s);
  }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaOptions& options) : options_(options) {
    const int count = cuda_device_count();
    if (count == 0) FEDGUARD_THROW(kUnsupported, "the CUDA backend needs a CUDA device, and none was found");
    FEDGUARD_EXPECTS(options.device >= 0 && options.device < count,
                     "CUDA device " << options.device << " requested, " << count << " present");
    const std::size_t env_limit = plan::memory_limit_from_env();
    if (env_limit) options_.memory_limit = env_limit;
    res_ = std::make_unique<Resources>(options_.device, options_.memory_limit, std::max<std::size_t>(1, options_.streams));
  }
  ~CudaBackend() override {
    cuda::DeviceGuard guard(options_.device, /*quiet=*/true);
    resident_.clear();
  }

  std::string name() const override { return "cuda"; }
  std::string last_plan() const { return last_plan_; }

  ScanSummaries scan(const ScanRequest& request) override;
  void aggregate_linear(const LinearAggregateRequest& request, float* out) override;
  void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out) override;

 private:
  ScanSummaries scan_pass(const ScanRequest& request, plan::Placement placement, std::size_t w_max);
  // Device row table for rows read in place (the caller's device memory or the resident copy);
  // false when neither holds all of them.
  bool in_place_table(const UpdateView& view, const std::vector<std::size_t>& rows, std::vector<const void*>& table);
  template <class Tile>
  void run_output_pass(const UpdateView& view, const std::vector<std::size_t>& rows,
                       const std::vector<const float*>& refs, std::size_t requested_w,
                       const std::function<std::size_t(std::size_t, bool)>& stream_bytes, float* out, Tile&& tile,
                       const char* what);

  CudaOptions options_;
  std::unique_ptr<Resources> res_;
  Resident resident_;
  std::string last_plan_;
};

bool CudaBackend::in_place_table(const UpdateView& view, const std::vector<std::size_t>& rows,
                                 std::vector<const void*>& table) {
  table.clear();
  if (view.location().kind == MemoryKind::kCuda) {
    for (std::size_t r : rows) table.push_back(view.row(r));
    return true;
  }
  if (!resident_.data.get() || resident_.d != view.cols() || resident_.dtype != view.dtype()) return false;
  const std::size_t elem = dtype_size(view.dtype());
  for (std::size_t r : rows) {
    const auto it = resident_.position.find(view.row(r));
    if (it == resident_.position.end()) {
      table.clear();
      return false;
    }
    table.push_back(resident_.data.as<unsigned char>() + it->second * resident_.d * elem);
  }
  return true;
}

ScanSummaries CudaBackend::scan(const ScanRequest& request) {
  cuda::NvtxRange nvtx("fedguard::cuda::scan");
  cuda::DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size(), d = view.cols(), r = request.references.size();
  const std::size_t subsets = request.gram ? request.column_subsets.size() : 0;
  resident_.clear();  // the previous round's copy
  if (k == 0 || d == 0) {
    ScanSummaries s;
    s.k = k;
    s.r = r;
    s.gram.assign(request.gram ? k * k : 0, 0.0);
    s.centre_proj.assign(k, 0.0);
    s.ref_proj.assign(k * r, 0.0);
    s.centre_ref.assign(r, 0.0);
    s.ref_gram.assign(r * r, 0.0);
    s.norms_sq.assign(k, 0.0);
    s.positive.assign(k, 0);
    s.negative.assign(k, 0);
    s.zero.assign(k, 0);
    s.finite.assign(k, 1);
    s.sketch.assign(k * request.sketch_dim, 0.0);
    s.subset_grams.assign(subsets, std::vector<double>(k * k, 0.0));
    s.tile_columns = std::max<std::size_t>(1, request.tile_columns ? std::min(request.tile_columns, std::max<std::size_t>(d, 1)) : 64);
    return s;
  }
  const bool on_device = view.location().kind == MemoryKind::kCuda;
  if (on_device) FEDGUARD_EXPECTS(view.location().device == options_.device,
                                  "updates are on CUDA device " << view.location().device << " but the backend runs on "
                                                                << options_.device);
  plan::ScanShape shape;
  shape.k = k;
  shape.d = d;
  shape.elem_size = dtype_size(view.dtype());
  shape.r = r;
  shape.sketch_dim = request.sketch_dim;
  shape.subsets = subsets;
  for (std::size_t si = 0; si < subsets; ++si) shape.subset_columns += request.column_subsets[si].size();
  shape.gram = request.gram;
  shape.bf16 = options_.precision == GramPrecision::kBf16;
  const std::size_t input_bytes = k * d * shape.elem_size;
  auto stream_bytes = [&](std::size_t w, bool streamed) { return plan::scan_stream_bytes(shape, w, streamed); };
  auto auto_w = [&](std::size_t dd) { return plan::auto_tile_columns_gpu(k, dd); };
  ScanSummaries out;
  auto run = [&](bool allow_copy) {
    plan::Plan p = plan::plan_pass(input_bytes, on_device, res_->budget(), request.tile_columns, d, res_->streams(),
                                   stream_bytes, auto_w, 64, allow_copy);
    plan::run_with_oom_retry(p.tile_columns, std::min<std::size_t>(64, p.tile_columns), [&](std::size_t w) {
      out = scan_pass(request, p.placement, w);
      std::ostringstream msg;
      msg << "scan: " << plan::placement_name(p.placement) << ", " << w << " columns, " << res_->streams() << " streams";
      last_plan_ = msg.str();
    });
  };
  try {
    run(true);
  } catch (const Error& e) {
    // The device copy of (b) did not fit after all: stream instead.
    if (e.category() != ErrorCategory::kOutOfMemory || on_device) throw;
    resident_.clear();
    run(false);
  }
  res_->trim();
  return out;
}

ScanSummaries CudaBackend::scan_pass(const ScanRequest& request, plan::Placement placement, std::size_t w_max) {
  Resources& res = *res_;
  const UpdateView& view = *request.updates;
  const std::vector<std::size_t>& rows = request.rows;
  const std::size_t k = rows.size(), d = view.cols(), r = request.references.size(), q = request.sketch_dim;
  const std::size_t S = res.streams(), elem = dtype_size(view.dtype());
  const bool gram = request.gram;
  const std::size_t subsets = gram ? request.column_subsets.size() : 0;
  const bool streamed = placement == plan::Placement::kStreamed, copied = placement == plan::Placement::kCopied;
  const bool bf16 = options_.precision == GramPrecision::kBf16;
  const cublasComputeType_t gram_compute =
      options_.precision == GramPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;

  // Accumulator layout (float64, per stream).
  const std::size_t o_gram = 0, o_cproj = o_gram + (gram ? k * k : 0), o_csq = o_cproj + k, o_rproj = o_csq + 1,
                    o_cref = o_rproj + k * r, o_rgram = o_cref + r, o_norms = o_rgram + r * r, o_sketch = o_norms + k,
                    o_subsets = o_sketch + k * q, n_doubles = o_subsets + subsets * k * k;

  struct PerStream {
    DeviceBuffer tile, aux, max_abs, sane, sane_count, centre, scale, sk_scale, sketch_r, sketch_prod, prod, stage,
        table, stage_refs, ref_scaled, ref_scale, ref_prod, acc_d, acc_i, acc_u8;
    cuda::ScanAccumulators acc;
  };
  DeviceBuffer resident, base_table, subset_idx;
  std::vector<PerStream> ps(S);
  std::vector<std::size_t> subset_off;
  {
    if (copied) resident = res.allocate(k * d * elem);
    std::vector<const void*> table;
    if (copied) {
      for (std::size_t p = 0; p < k; ++p) table.push_back(resident.as<unsigned char>() + p * d * elem);
      base_table = upload(res, table.data(), k);
    } else if (!streamed) {
      for (std::size_t row : rows) table.push_back(view.row(row));
      base_table = upload(res, table.data(), k);
    }
    if (subsets) {
      std::vector<std::uint64_t> idx;
      for (const auto& cols : request.column_subsets) {
        subset_off.push_back(idx.size());
        for (std::size_t c : cols) {
          FEDGUARD_EXPECTS(c < d, "column subset index " << c << " >= d=" << d);
          idx.push_back(c);
        }
      }
      subset_idx = upload(res, idx.data(), idx.size());
    }
    for (std::size_t s = 0; s < S; ++s) {
      PerStream& P = ps[s];
      P.tile = res.allocate(k * w_max * sizeof(float));
      if (q > 0 || bf16 || subsets > 0) P.aux = res.allocate(k * w_max * sizeof(float));
      P.max_abs = res.allocate(k * sizeof(float));
      P.sane = res.allocate(k);
      P.sane_count = res.allocate(sizeof(int));
      P.centre = res.allocate(w_max * sizeof(float));
      P.scale = res.allocate(k * sizeof(double));
      if (q) {
        P.sk_scale = res.allocate(k * sizeof(double));
        P.sketch_r = res.allocate(w_max * q * sizeof(float));
        P.sketch_prod = res.allocate(k * q * sizeof(float));
      }
      if (gram) P.prod = res.allocate(k * k * sizeof(float));
      if (streamed) {
        P.stage = res.allocate(k * w_max * elem);
        std::vector<const void*> t;
        for (std::size_t p = 0; p < k; ++p) t.push_back(P.stage.as<unsigned char>() + p * w_max * elem);
        P.table = upload(res, t.data(), k);
      }
      if (r) {
        P.stage_refs = res.allocate(r * w_max * sizeof(float));
        P.ref_scaled = res.allocate(r * w_max * sizeof(float));
        P.ref_scale = res.allocate(r * sizeof(double));
        P.ref_prod = res.allocate(k * r * sizeof(float));
      }
      P.acc_d = res.allocate(n_doubles * sizeof(double));
      P.acc_i = res.allocate(3 * k * sizeof(std::int64_t));
      P.acc_u8 = res.allocate(k);
      cudaStream_t st = res.stream(s);
      FEDGUARD_CUDA_TRY(cudaMemsetAsync(P.acc_d.get(), 0, n_doubles * sizeof(double), st));
      FEDGUARD_CUDA_TRY(cudaMemsetAsync(P.acc_i.get(), 0, 3 * k * sizeof(std::int64_t), st));
      FEDGUARD_CUDA_TRY(cudaMemsetAsync(P.acc_u8.get(), 1, k, st));
      double* a = P.acc_d.as<double>();
      P.acc.gram = a + o_gram;
      P.acc.centre_proj = a + o_cproj;
      P.acc.centre_sq = a + o_csq;
      P.acc.ref_proj = a + o_rproj;
      P.acc.centre_ref = a + o_cref;
      P.acc.ref_gram = a + o_rgram;
      P.acc.norms_sq = a + o_norms;
      P.acc.sketch = a + o_sketch;
      P.acc.subset_grams = a + o_subsets;
      P.acc.positive = P.acc_i.as<std::int64_t>();
      P.acc.negative = P.acc.positive + k;
      P.acc.zero = P.acc.positive + 2 * k;
      P.acc.finite = P.acc_u8.as<std::uint8_t>();
    }
  }
  cuda::StreamsGuard sync_before_free(res);  // destroyed first: no buffer is freed while in use
  Stager stager(res, view, rows, request.references, w_max, streamed || copied);

  for (const plan::TileTask& task : plan::tile_schedule(d, w_max, S)) {
    const std::size_t s = task.stream, col0 = task.col0, w = task.width;
    PerStream& P = ps[s];
    cudaStream_t st = res.stream(s);
    cublasHandle_t h = res.cublas(s);
    void* rows_dst = streamed ? P.stage.get() : copied ? resident.as<unsigned char>() + col0 * elem : nullptr;
    stager.stage(s, col0, w, rows_dst, streamed ? w_max * elem : d * elem, P.stage_refs.as<float>());
    const void* tbl = streamed ? P.table.get() : base_table.get();
    const std::size_t coff = streamed ? 0 : col0;
    float* tile = P.tile.as<float>();

    dispatch_dtype(view.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cuda::launch_load_row_stats<T>(static_cast<const T* const*>(tbl), coff, w, k, tile, P.max_abs.as<float>(), P.acc,
                                     st);
    });
    if (q) {
      cuda::launch_sketch_matrix(request.sketch_seed, col0, w, q, P.sketch_r.as<float>(), st);
      cuda::launch_sketch_rows(tile, P.max_abs.as<float>(), k, w, P.aux.as<float>(), P.sk_scale.as<double>(), st);
      gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, q, k, w, P.sketch_r.get(), CUDA_R_32F, q, P.aux.get(), CUDA_R_32F, w,
           P.sketch_prod.as<float>(), q, CUBLAS_COMPUTE_32F);
      cuda::launch_accumulate_scaled_rows(P.sketch_prod.as<float>(), P.sk_scale.as<double>(), k, q, P.acc.sketch, st);
    }
    if (!gram) continue;
    cuda::launch_robust_limit(P.max_abs.as<float>(), P.acc.finite, k, P.sane.as<std::uint8_t>(), P.sane_count.as<int>(),
                              st);
    cuda::launch_centre_columns(tile, P.sane.as<std::uint8_t>(), P.sane_count.as<int>(), k, w, P.centre.as<float>(), st);
    cuda::launch_dot_accumulate(P.centre.as<float>(), P.centre.as<float>(), w, P.acc.centre_sq, st);
    cuda::launch_centre_rows(tile, P.centre.as<float>(), P.acc.finite, k, w, P.acc.centre_proj, P.scale.as<double>(),
                             st);
    if (bf16) {
      cuda::launch_to_bf16(tile, k * w, P.aux.get(), st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, w, P.aux.get(), CUDA_R_16BF, w, P.aux.get(), CUDA_R_16BF, w,
           P.prod.as<float>(), k, CUBLAS_COMPUTE_32F);
    } else {
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, w, tile, CUDA_R_32F, w, tile, CUDA_R_32F, w, P.prod.as<float>(), k,
           gram_compute);
    }
    cuda::launch_accumulate_gram(P.prod.as<float>(), k, P.scale.as<double>(), k, P.acc.gram, st);
    for (std::size_t si = 0; si < subsets; ++si) {
      const auto& cols = request.column_subsets[si];
      const auto b = static_cast<std::size_t>(std::lower_bound(cols.begin(), cols.end(), col0) - cols.begin());
      const auto e = static_cast<std::size_t>(std::lower_bound(cols.begin(), cols.end(), col0 + w) - cols.begin());
      const std::size_t nc = e - b;
      if (nc == 0) continue;
      cuda::launch_gather_columns(tile, k, w, col0, subset_idx.as<std::uint64_t>() + subset_off[si] + b, nc,
                                  P.aux.as<float>(), st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, nc, P.aux.get(), CUDA_R_32F, nc, P.aux.get(), CUDA_R_32F, nc,
           P.prod.as<float>(), k, CUBLAS_COMPUTE_32F);
      cuda::launch_accumulate_gram(P.prod.as<float>(), k, P.scale.as<double>(), k, P.acc.subset_grams + si * k * k, st);
    }
    if (r) {
      cuda::launch_reference_stats(P.stage_refs.as<float>(), w_max, r, w, P.centre.as<float>(), P.acc.centre_ref,
                                   P.ref_scale.as<double>(), P.ref_scaled.as<float>(), P.acc.ref_gram, st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, r, k, w, P.ref_scaled.get(), CUDA_R_32F, w, tile, CUDA_R_32F, w,
           P.ref_prod.as<float>(), r, CUBLAS_COMPUTE_32F);
      cuda::launch_accumulate_ref_proj(P.ref_prod.as<float>(), P.scale.as<double>(), P.ref_scale.as<double>(), k, r,
                                       P.acc.ref_proj, st);
    }
  }
  res.synchronize();

  // Per-stream partial sums, added in stream order.
  std::vector<double> total(n_doubles, 0.0), part(n_doubles);
  std::vector<std::int64_t> counts(3 * k, 0), part_i(3 * k);
  std::vector<std::uint8_t> finite(k, 1), part_u8(k);
  for (std::size_t s = 0; s < S; ++s) {
    FEDGUARD_CUDA_TRY(cudaMemcpy(part.data(), ps[s].acc_d.get(), n_doubles * sizeof(double), cudaMemcpyDeviceToHost));
    FEDGUARD_CUDA_TRY(cudaMemcpy(part_i.data(), ps[s].acc_i.get(), 3 * k * sizeof(std::int64_t), cudaMemcpyDeviceToHost));
    FEDGUARD_CUDA_TRY(cudaMemcpy(part_u8.data(), ps[s].acc_u8.get(), k, cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < n_doubles; ++i) total[i] += part[i];
    for (std::size_t i = 0; i < 3 * k; ++i) counts[i] += part_i[i];
    for (std::size_t i = 0; i < k; ++i) finite[i] &= part_u8[i];
  }
  auto upper_mirrored = [&](std::size_t offset) {
    std::vector<double> g(k * k);
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t c = p; c < k; ++c) g[p * k + c] = g[c * k + p] = total[offset + p * k + c];
    return g;
  };
  ScanSummaries out;
  out.k = k;
  out.r = r;
  out.tile_columns = w_max;
  if (gram) out.gram = upper_mirrored(o_gram);
  out.centre_proj.assign(total.begin() + o_cproj, total.begin() + o_cproj + k);
  out.centre_sq = total[o_csq];
  out.ref_proj.assign(total.begin() + o_rproj, total.begin() + o_rproj + k * r);
  out.centre_ref.assign(total.begin() + o_cref, total.begin() + o_cref + r);
  out.ref_gram.assign(total.begin() + o_rgram, total.begin() + o_rgram + r * r);
  out.norms_sq.assign(total.begin() + o_norms, total.begin() + o_norms + k);
  out.sketch.assign(total.begin() + o_sketch, total.begin() + o_sketch + k * q);
  for (std::size_t si = 0; si < subsets; ++si) out.subset_grams.push_back(upper_mirrored(o_subsets + si * k * k));
  out.positive.assign(counts.begin(), counts.begin() + k);
  out.negative.assign(counts.begin() + k, counts.begin() + 2 * k);
  out.zero.assign(counts.begin() + 2 * k, counts.end());
  out.finite = std::move(finite);

  if (copied) {
    resident_.clear();
    resident_.data = std::move(resident);
    resident_.d = d;
    resident_.dtype = view.dtype();
    for (std::size_t p = 0; p < k; ++p) resident_.position.emplace(view.row(rows[p]), p);
  }
  return out;
}

template <class Tile>
void CudaBackend::run_output_pass(const UpdateView& view, const std::vector<std::size_t>& rows,
                                  const std::vector<const float*>& refs, std::size_t requested_w,
                                  const std::function<std::size_t(std::size_t, bool)>& stream_bytes, float* out,
                                  Tile&& tile, const char* what) {
  Resources& res = *res_;
  const std::size_t k = rows.size(), d = view.cols(), elem = dtype_size(view.dtype());
  std::vector<const void*> table;
  const bool in_place = in_place_table(view, rows, table);
  auto auto_w = [&](std::size_t dd) { return plan::auto_tile_columns_gpu(std::max<std::size_t>(k, 1), dd); };
  plan::Plan p = plan::plan_pass(k * d * elem, in_place, res.budget(), requested_w, d, res.streams(), stream_bytes,
                                 auto_w, 64, /*allow_copy=*/false);
  const bool streamed = !in_place;
  plan::run_with_oom_retry(p.tile_columns, std::min<std::size_t>(64, p.tile_columns), [&](std::size_t w_max) {
    const std::size_t S = res.streams();
    DeviceBuffer base_table;
    std::vector<DeviceBuffer> stage(S), stage_table(S), stage_refs(S), out_tile(S);
    if (in_place) base_table = upload(res, table.data(), k);
    for (std::size_t s = 0; s < S; ++s) {
      if (streamed && k) {
        stage[s] = res.allocate(k * w_max * elem);
        std::vector<const void*> t;
        for (std::size_t i = 0; i < k; ++i) t.push_back(stage[s].as<unsigned char>() + i * w_max * elem);
        stage_table[s] = upload(res, t.data(), k);
      }
      if (!refs.empty()) stage_refs[s] = res.allocate(refs.size() * w_max * sizeof(float));
      out_tile[s] = res.allocate(w_max * sizeof(float));
    }
    auto scratch = tile.prepare(w_max);  // the pass's own buffers
    cuda::StreamsGuard sync_before_free(res);
    Stager stager(res, view, rows, refs, w_max, streamed);
    Unstager unstager(res, out, w_max);
    for (const plan::TileTask& task : plan::tile_schedule(d, w_max, S)) {
      const std::size_t s = task.stream;
      stager.stage(s, task.col0, task.width, stage[s].get(), w_max * elem, stage_refs[s].as<float>());
      const void* tbl = streamed ? stage_table[s].get() : base_table.get();
      tile.run(scratch, s, tbl, streamed ? 0 : task.col0, task.col0, task.width, w_max, stage_refs[s].as<float>(),
               out_tile[s].as<float>());
      unstager.push(s, out_tile[s].as<float>(), task.col0, task.width);
    }
    unstager.finish();
    res.synchronize();
    std::ostringstream msg;
    msg << what << ": " << (in_place ? (view.location().kind == MemoryKind::kCuda ? "device" : "copied") : "streamed")
        << ", " << w_max << " columns, " << S << " streams";
    last_plan_ = msg.str();
  });
  res.trim();
}

void CudaBackend::aggregate_linear(const LinearAggregateRequest& request, float* out) {
  cuda::NvtxRange nvtx("fedguard::cuda::aggregate_linear");
  cuda::DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  if (d == 0) return;
  // Zero coefficients are skipped, as on the CPU (a NaN row with weight 0 stays out).
  std::vector<std::size_t> rows;
  std::vector<double> coef;
  for (std::size_t i = 0; i < request.rows.size(); ++i)
    if (request.coefficients[i] != 0) {
      rows.push_back(request.rows[i]);
      coef.push_back(request.coefficients[i]);
    }
  std::vector<const float*> refs;
  std::vector<double> ref_coef;
  for (std::size_t i = 0; i < request.references.size(); ++i)
    if (request.reference_coefficients[i] != 0) {
      refs.push_back(request.references[i]);
      ref_coef.push_back(request.reference_coefficients[i]);
    }
  plan::AggregateShape shape;
  shape.k = rows.size();
  shape.d = d;
  shape.elem_size = dtype_size(view.dtype());
  shape.r = refs.size();
  auto stream_bytes = [shape](std::size_t w, bool streamed) { return plan::aggregate_stream_bytes(shape, w, streamed); };

  struct LinearTile {
    CudaBackend& self;
    const UpdateView& view;
    const std::vector<double>& coef;
    const std::vector<double>& ref_coef;
    struct Scratch {
      DeviceBuffer coef, ref_coef;
    };
    Scratch prepare(std::size_t) {
      return Scratch{upload(*self.res_, coef.data(), coef.size()), upload(*self.res_, ref_coef.data(), ref_coef.size())};
    }
    void run(Scratch& sc, std::size_t s, const void* tbl, std::size_t coff, std::size_t, std::size_t w,
             std::size_t w_max, const float* refs, float* out) {
      dispatch_dtype(view.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cuda::launch_linear_combination<T>(static_cast<const T* const*>(tbl), coff, w, coef.size(), sc.coef.as<double>(),
                                           refs, w_max, ref_coef.size(), sc.ref_coef.as<double>(), out,
                                           self.res_->stream(s));
      });
    }
  };
  run_output_pass(view, rows, refs, request.tile_columns, stream_bytes, out, LinearTile{*this, view, coef, ref_coef},
                  "aggregate_linear");
}

void CudaBackend::aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out) {
  cuda::NvtxRange nvtx("fedguard::cuda::aggregate_coordinatewise");
  cuda::DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols(), k = request.rows.size();
  const bool mixed = !request.mix.empty();
  const std::vector<const float*> refs = mixed ? request.references : std::vector<const float*>{};
  const std::size_t r = refs.size();
  const std::size_t m = mixed ? request.mixed_rows : k;
  FEDGUARD_EXPECTS(m > 0, "coordinate-wise aggregation over zero rows");
  FEDGUARD_EXPECTS(!mixed || request.mix.size() == m * (k + r),
                   "mixing matrix has " << request.mix.size() << " entries, expected " << m * (k + r));
  if (request.statistic == ColumnStatistic::kTrimmedMean)
    FEDGUARD_EXPECTS(2 * request.param < m, "trimmed mean of " << m << " values with trim " << request.param);
  if (request.statistic == ColumnStatistic::kBulyanMean)
    FEDGUARD_EXPECTS(request.param >= 1 && request.param <= m,
                     "Bulyan mean of " << request.param << " of " << m << " values");
  if (d == 0) return;
  const cuda::Statistic stat = device_statistic(request.statistic);
  const std::size_t max_rows = cuda::column_statistic_max_rows(stat, options_.device);
  if (m > max_rows) {
    if (view.location().kind == MemoryKind::kCuda)
      FEDGUARD_THROW(kUnsupported, "CUDA column statistic over " << m << " rows: at most " << max_rows
                                                                 << " on this device");
    // Beyond the shared-memory bound (far above the design's n <= 10,000): the CPU backend.
    make_cpu_backend(0)->aggregate_coordinatewise(request, out);
    last_plan_ = "aggregate_coordinatewise: cpu fallback (rows beyond the kernel's bound)";
    return;
  }
  if (mixed) FEDGUARD_EXPECTS(k + r <= 65535, "mixing over " << k + r << " source rows (at most 65535)");
  plan::AggregateShape shape;
  shape.k = k;
  shape.d = d;
  shape.elem_size = dtype_size(view.dtype());
  shape.r = r;
  shape.m = m;
  shape.mixed = mixed;
  auto stream_bytes = [shape](std::size_t w, bool streamed) { return plan::aggregate_stream_bytes(shape, w, streamed); };

  struct StatisticTile {
    CudaBackend& self;
    const UpdateView& view;
    const CoordinateAggregateRequest& request;
    std::size_t k, r, m;
    cuda::Statistic stat;
    struct Scratch {
      DeviceBuffer mix;
      std::vector<DeviceBuffer> source, mixed, mixed_table;
    };
    Scratch prepare(std::size_t w_max) {
      Scratch sc;
      if (request.mix.empty()) return sc;
      Resources& res = *self.res_;
      const std::vector<float> mix_f(request.mix.begin(), request.mix.end());
      sc.mix = upload(res, mix_f.data(), mix_f.size());
      for (std::size_t s = 0; s < res.streams(); ++s) {
        sc.source.push_back(res.allocate((k + r) * w_max * sizeof(float)));
        sc.mixed.push_back(res.allocate(m * w_max * sizeof(float)));
        std::vector<const float*> t;
        for (std::size_t i = 0; i < m; ++i) t.push_back(sc.mixed.back().as<float>() + i * w_max);
        sc.mixed_table.push_back(upload(res, t.data(), m));
      }
      return sc;
    }
    void run(Scratch& sc, std::size_t s, const void* tbl, std::size_t coff, std::size_t, std::size_t w,
             std::size_t w_max, const float* refs, float* out) {
      Resources& res = *self.res_;
      cudaStream_t st = res.stream(s);
      if (request.mix.empty()) {
        dispatch_dtype(view.dtype(), [&](auto tag) {
          using T = decltype(tag);
          cuda::launch_column_statistic<T>(static_cast<const T* const*>(tbl), coff, w, m, stat, request.param, out,
                                           res.device(), st);
        });
        return;
      }
      float* src = sc.source[s].as<float>();
      dispatch_dtype(view.dtype(), [&](auto tag) {
        using T = decltype(tag);
        cuda::launch_convert_rows<T>(static_cast<const T* const*>(tbl), coff, w, k, src, w_max, st);
      });
      if (r)
        FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(src + k * w_max, w_max * sizeof(float), refs, w_max * sizeof(float),
                                            w * sizeof(float), r, cudaMemcpyDeviceToDevice, st));
      // Y (m x w, row-major, stride w_max) = mix (m x (k + r)) * source ((k + r) x w).
      gemm(res.cublas(s), CUBLAS_OP_N, CUBLAS_OP_N, w, m, k + r, src, CUDA_R_32F, w_max, sc.mix.get(), CUDA_R_32F, k + r,
           sc.mixed[s].as<float>(), w_max, CUBLAS_COMPUTE_32F);
      cuda::launch_column_statistic<float>(sc.mixed_table[s].as<const float* const>(), 0, w, m, stat, request.param,
                                           out, res.device(), st);
    }
  };
  run_output_pass(view, request.rows, refs, request.tile_columns, stream_bytes, out,
                  StatisticTile{*this, view, request, k, r, m, stat}, "aggregate_coordinatewise");
}

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options) { return std::make_unique<CudaBackend>(options); }

std::shared_ptr<void> cuda_copy_to_device(const void* host, std::size_t bytes, int device) {
  cuda::DeviceGuard guard(device);
  void* ptr = nullptr;
  FEDGUARD_CUDA_TRY(cudaMalloc(&ptr, std::max<std::size_t>(bytes, 1)));
  std::shared_ptr<void> owned(ptr, [device](void* p) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(device);
    cudaFree(p);
    cudaSetDevice(previous);
  });
  if (bytes) FEDGUARD_CUDA_TRY(cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice));
  return owned;
}

std::string cuda_last_plan(const Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda ? cuda->last_plan() : std::string{};
}

}  // namespace fedguard::backend
