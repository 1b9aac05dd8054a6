// Pass 1 on the GPU (the CUDA twin of scan_cpu.cc): per column tile, convert and row statistics,
// the count sketch, the robust centre, centring and power-of-two scaling, the Gram (cuBLAS),
// column subsets and references, all accumulated in float64 per stream (see docs/cuda.md).
#include <algorithm>
#include <sstream>

#include "backend/cuda/cuda_backend_impl.cuh"
#include "backend/cuda/placement_cuda.cuh"

namespace fedguard::backend::cuda {

namespace plan = cuda_plan;

ScanSummaries CudaBackend::run_scan(const ScanRequest& request) {
  NvtxRange nvtx("fedguard::cuda::scan");
  DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size(), d = view.cols(), r = request.references.size();
  const std::size_t subsets = request.gram ? request.column_subsets.size() : 0;
  // The previous round's copy: released, and handed back to the device before this pass plans
  // (the pool would cache it, and a plan that counted only free memory would stream an input
  // that fits every other round).
  resident_.clear();
  res_->trim();
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
    s.tile_columns = std::max<std::size_t>(
        1, request.tile_columns ? std::min(request.tile_columns, std::max<std::size_t>(d, 1)) : 64);
    return s;
  }
  const bool on_device = view.location().kind == MemoryKind::kCuda;
  check_device(view);
  plan::ScanShape shape;
  shape.k = k;
  shape.d = d;
  shape.elem_size = dtype_size(view.dtype());
  shape.r = r;
  shape.sketch_dim = request.sketch_dim;
  shape.subsets = subsets;
  for (std::size_t si = 0; si < subsets; ++si)
    shape.subset_columns += request.column_subsets[si].size();
  shape.gram = request.gram;
  shape.bf16 = options_.precision == GramPrecision::kBf16;
  const std::size_t input_bytes = k * d * shape.elem_size;
  auto stream_bytes = [&](std::size_t w, bool streamed) {
    return plan::scan_stream_bytes(shape, w, streamed);
  };
  // (The count sketch keeps no per-tile matrix: the width depends on k alone.)
  auto auto_w = [&](std::size_t dd) { return auto_tile_columns(k, dd, kCudaTile); };
  ScanSummaries out;
  auto run = [&](bool allow_copy) {
    plan::Plan p = plan::plan_pass(input_bytes, on_device, res_->budget(), request.tile_columns, d,
                                   res_->streams(), stream_bytes, auto_w, 64, allow_copy);
    plan::run_with_oom_retry(p.tile_columns, std::min<std::size_t>(64, p.tile_columns),
                             [&](std::size_t w) {
                               out = scan_pass(request, p.placement, w);
                               std::ostringstream msg;
                               msg << "scan: " << plan::placement_name(p.placement) << ", " << w
                                   << " columns, " << res_->streams() << " streams";
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

ScanSummaries CudaBackend::scan_pass(const ScanRequest& request, plan::Placement placement,
                                     std::size_t w_max) {
  Resources& res = *res_;
  const UpdateView& view = *request.updates;
  const std::vector<std::size_t>& rows = request.rows;
  const std::size_t k = rows.size(), d = view.cols(), r = request.references.size(),
                    q = request.sketch_dim;
  const std::size_t S = res.streams(), elem = dtype_size(view.dtype());
  const bool gram = request.gram;
  const std::size_t subsets = gram ? request.column_subsets.size() : 0;
  const bool streamed = placement == plan::Placement::kStreamed,
             copied = placement == plan::Placement::kCopied;
  const bool bf16 = options_.precision == GramPrecision::kBf16;
  const cublasComputeType_t gram_compute = options_.precision == GramPrecision::kTf32
                                               ? CUBLAS_COMPUTE_32F_FAST_TF32
                                               : CUBLAS_COMPUTE_32F;

  // Accumulator layout (float64, per stream).
  const std::size_t o_gram = 0, o_cproj = o_gram + (gram ? k * k : 0), o_csq = o_cproj + k,
                    o_rproj = o_csq + 1, o_cref = o_rproj + k * r, o_rgram = o_cref + r,
                    o_norms = o_rgram + r * r, o_sketch = o_norms + k, o_subsets = o_sketch + k * q,
                    n_doubles = o_subsets + subsets * k * k;

  const std::size_t red_blocks = kernels::reduction_blocks(w_max);
  struct PerStream {
    DeviceBuffer tile, aux, max_abs, sane, sane_count, centre, centre_part, dot_scratch,
        max_scratch, scale, sketch_partial, prod, stage, table, stage_refs, ref_scaled, ref_scale,
        ref_prod, acc_d, acc_i, acc_u8;
    kernels::ScanAccumulators acc;
  };
  DeviceBuffer resident, base_table, subset_idx;
  std::vector<PerStream> ps(S);
  std::vector<std::size_t> subset_off;
  {
    if (copied) resident = res.allocate(k * d * elem);
    std::vector<const void*> table;
    if (copied) {
      for (std::size_t p = 0; p < k; ++p)
        table.push_back(resident.as<unsigned char>() + p * d * elem);
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
      if (bf16 || subsets > 0) P.aux = res.allocate(k * w_max * sizeof(float));
      P.max_abs = res.allocate(k * sizeof(float));
      P.sane = res.allocate(k);
      P.sane_count = res.allocate(sizeof(int));
      P.centre = res.allocate(w_max * sizeof(float));
      if (gram) {
        P.centre_part = res.allocate(kernels::centre_chunks(k) * w_max * sizeof(double));
        P.dot_scratch = res.allocate(std::max<std::size_t>(1, r * r) * red_blocks * sizeof(double));
      }
      if (r) P.max_scratch = res.allocate(r * red_blocks * sizeof(float));
      P.scale = res.allocate(k * sizeof(double));
      if (q) P.sketch_partial = res.allocate(k * q * sizeof(unsigned long long));
      if (gram) P.prod = res.allocate(k * k * sizeof(float));
      if (streamed) {
        P.stage = res.allocate(k * w_max * elem);
        std::vector<const void*> t;
        for (std::size_t p = 0; p < k; ++p)
          t.push_back(P.stage.as<unsigned char>() + p * w_max * elem);
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
      if (q)  // zero here, and again by every tile's count_sketch_finish
        FEDGUARD_CUDA_TRY(
            cudaMemsetAsync(P.sketch_partial.get(), 0, k * q * sizeof(unsigned long long), st));
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
  StreamsGuard sync_before_free(res);  // destroyed first: no buffer is freed while in use
  Stager stager(res, view, rows, request.references, w_max, streamed || copied);

  for (const plan::TileTask& task : plan::tile_schedule(d, w_max, S)) {
    const std::size_t s = task.stream, col0 = task.col0, w = task.width;
    PerStream& P = ps[s];
    cudaStream_t st = res.stream(s);
    cublasHandle_t h = res.cublas(s);
    void* rows_dst = streamed ? P.stage.get()
                     : copied ? resident.as<unsigned char>() + col0 * elem
                              : nullptr;
    stager.stage(s, col0, w, rows_dst, streamed ? w_max * elem : d * elem,
                 P.stage_refs.as<float>());
    const void* tbl = streamed ? P.table.get() : base_table.get();
    const std::size_t coff = streamed ? 0 : col0;
    float* tile = P.tile.as<float>();

    dispatch_dtype(view.dtype(), [&](auto tag) {
      using T = decltype(tag);
      kernels::launch_load_row_stats<T>(static_cast<const T* const*>(tbl), coff, w, k, tile,
                                        P.max_abs.as<float>(), P.acc, st);
    });
    if (q)  // before centring changes the tile: the sketch is of the raw rows
      kernels::launch_count_sketch(tile, P.max_abs.as<float>(), k, w, col0, request.sketch_seed, q,
                                   P.sketch_partial.as<unsigned long long>(), P.acc.sketch, st);
    if (!gram) continue;
    kernels::launch_robust_limit(P.max_abs.as<float>(), P.acc.finite, k, P.sane.as<std::uint8_t>(),
                                 P.sane_count.as<int>(), st);
    kernels::launch_centre_columns(tile, P.sane.as<std::uint8_t>(), P.sane_count.as<int>(), k, w,
                                   P.centre_part.as<double>(), P.centre.as<float>(), st);
    kernels::launch_dots(P.centre.as<float>(), 0, 1, P.centre.as<float>(), 0, 1, w,
                         P.dot_scratch.as<double>(), P.acc.centre_sq, st);
    kernels::launch_centre_rows(tile, P.centre.as<float>(), P.acc.finite, k, w, P.acc.centre_proj,
                                P.scale.as<double>(), st);
    if (bf16) {
      kernels::launch_to_bf16(tile, k * w, P.aux.get(), st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, w, P.aux.get(), CUDA_R_16BF, w, P.aux.get(),
           CUDA_R_16BF, w, P.prod.as<float>(), k, CUBLAS_COMPUTE_32F);
    } else {
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, w, tile, CUDA_R_32F, w, tile, CUDA_R_32F, w,
           P.prod.as<float>(), k, gram_compute);
    }
    kernels::launch_accumulate_gram(P.prod.as<float>(), k, P.scale.as<double>(), k, P.acc.gram, st);
    for (std::size_t si = 0; si < subsets; ++si) {
      const auto& cols = request.column_subsets[si];
      const auto b =
          static_cast<std::size_t>(std::lower_bound(cols.begin(), cols.end(), col0) - cols.begin());
      const auto e = static_cast<std::size_t>(std::lower_bound(cols.begin(), cols.end(), col0 + w) -
                                              cols.begin());
      const std::size_t nc = e - b;
      if (nc == 0) continue;
      kernels::launch_gather_columns(tile, k, w, col0,
                                     subset_idx.as<std::uint64_t>() + subset_off[si] + b, nc,
                                     P.aux.as<float>(), st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, k, k, nc, P.aux.get(), CUDA_R_32F, nc, P.aux.get(),
           CUDA_R_32F, nc, P.prod.as<float>(), k, CUBLAS_COMPUTE_32F);
      kernels::launch_accumulate_gram(P.prod.as<float>(), k, P.scale.as<double>(), k,
                                      P.acc.subset_grams + si * k * k, st);
    }
    if (r) {
      kernels::launch_reference_stats(P.stage_refs.as<float>(), w_max, r, w, P.centre.as<float>(),
                                      P.acc.centre_ref, P.ref_scale.as<double>(),
                                      P.ref_scaled.as<float>(), P.acc.ref_gram,
                                      P.dot_scratch.as<double>(), P.max_scratch.as<float>(), st);
      gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, r, k, w, P.ref_scaled.get(), CUDA_R_32F, w, tile,
           CUDA_R_32F, w, P.ref_prod.as<float>(), r, CUBLAS_COMPUTE_32F);
      kernels::launch_accumulate_ref_proj(P.ref_prod.as<float>(), P.scale.as<double>(),
                                          P.ref_scale.as<double>(), k, r, P.acc.ref_proj, st);
    }
  }
  res.synchronize();

  // Per-stream partial sums, added in stream order.
  std::vector<double> total(n_doubles, 0.0), part(n_doubles);
  std::vector<std::int64_t> counts(3 * k, 0), part_i(3 * k);
  std::vector<std::uint8_t> finite(k, 1), part_u8(k);
  for (std::size_t s = 0; s < S; ++s) {
    download_bytes(res, s, part.data(), ps[s].acc_d.get(), n_doubles * sizeof(double));
    download_bytes(res, s, part_i.data(), ps[s].acc_i.get(), 3 * k * sizeof(std::int64_t));
    download_bytes(res, s, part_u8.data(), ps[s].acc_u8.get(), k);
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
  for (std::size_t si = 0; si < subsets; ++si)
    out.subset_grams.push_back(upper_mirrored(o_subsets + si * k * k));
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

}  // namespace fedguard::backend::cuda
