// Pass 2, coordinate-wise rules on the GPU (the CUDA twin of aggregate_coordinatewise_cpu.cc):
// per column, the median, trimmed mean or Bulyan's mean of the rows, or of rows mixed by a
// matrix first (a GEMM per tile).
#include "backend/cuda/cuda_backend_impl.cuh"
#include "backend/cuda/placement_cuda.cuh"

namespace fedguard::backend::cuda {

namespace plan = cuda_plan;

void CudaBackend::run_aggregate_coordinatewise(const CoordinateAggregateRequest& request,
                                               float* out) {
  NvtxRange nvtx("fedguard::cuda::aggregate_coordinatewise");
  DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols(), k = request.rows.size();
  const bool mixed = !request.mix.empty();
  const std::vector<const float*> refs = mixed ? request.references : std::vector<const float*>{};
  const std::size_t r = refs.size();
  const std::size_t m = mixed ? request.mixed_rows : k;
  // The request is validated (Backend::aggregate_coordinatewise); rows beyond the kernel's
  // shared-memory bound are the caller's to send elsewhere (the engine sends host rows to the
  // CPU backend: max_statistic_rows).
  if (d == 0) return;
  check_device(view);
  const kernels::Statistic stat = device_statistic(request.statistic);
  const std::size_t max_rows = kernels::column_statistic_max_rows(stat, options_.device);
  if (m > max_rows)
    FEDGUARD_THROW(kUnsupported, "CUDA column statistic over "
                                     << m << " rows: at most " << max_rows
                                     << " on this device (max_statistic_rows)");
  if (mixed)
    FEDGUARD_EXPECTS(k + r <= 65535, "mixing over " << k + r << " source rows (at most 65535)");
  plan::AggregateShape shape;
  shape.k = k;
  shape.d = d;
  shape.elem_size = dtype_size(view.dtype());
  shape.r = r;
  shape.m = m;
  shape.mixed = mixed;
  auto stream_bytes = [shape](std::size_t w, bool streamed) {
    return plan::aggregate_stream_bytes(shape, w, streamed);
  };

  struct StatisticTile {
    CudaBackend& self;
    const UpdateView& view;
    const CoordinateAggregateRequest& request;
    std::size_t k, r, m;
    kernels::Statistic stat;
    struct Scratch {
      DeviceBuffer mix;
      std::vector<DeviceBuffer> source, mixed, mixed_table;
    };
    Scratch prepare(std::size_t w_max) {
      Scratch sc;
      if (request.mix.empty()) return sc;
      Resources& res = self.resources();
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
    void run(Scratch& sc, std::size_t s, const void* tbl, std::size_t coff, std::size_t,
             std::size_t w, std::size_t w_max, const float* refs, float* out) {
      Resources& res = self.resources();
      cudaStream_t st = res.stream(s);
      if (request.mix.empty()) {
        dispatch_dtype(view.dtype(), [&](auto tag) {
          using T = decltype(tag);
          kernels::launch_column_statistic<T>(static_cast<const T* const*>(tbl), coff, w, m, stat,
                                              request.param, out, res.device(), st);
        });
        return;
      }
      float* src = sc.source[s].as<float>();
      dispatch_dtype(view.dtype(), [&](auto tag) {
        using T = decltype(tag);
        kernels::launch_convert_rows<T>(static_cast<const T* const*>(tbl), coff, w, k, src, w_max,
                                        st);
      });
      if (r)
        FEDGUARD_CUDA_TRY(cudaMemcpy2DAsync(src + k * w_max, w_max * sizeof(float), refs,
                                            w_max * sizeof(float), w * sizeof(float), r,
                                            cudaMemcpyDeviceToDevice, st));
      // Y (m x w, row-major, stride w_max) = mix (m x (k + r)) * source ((k + r) x w).
      gemm(res.cublas(s), CUBLAS_OP_N, CUBLAS_OP_N, w, m, k + r, src, CUDA_R_32F, w_max,
           sc.mix.get(), CUDA_R_32F, k + r, sc.mixed[s].as<float>(), w_max, CUBLAS_COMPUTE_32F);
      kernels::launch_column_statistic<float>(sc.mixed_table[s].as<const float* const>(), 0, w, m,
                                              stat, request.param, out, res.device(), st);
    }
  };
  run_output_pass(view, request.rows, refs, request.tile_columns, stream_bytes, out,
                  StatisticTile{*this, view, request, k, r, m, stat}, "aggregate_coordinatewise");
}

}  // namespace fedguard::backend::cuda
