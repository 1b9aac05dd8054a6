// Pass 2, linear rules on the GPU (the CUDA twin of aggregate_linear_cpu.cc): out = sum_i c_i x_i
// + sum_j r_j v_j per column in float64, rows in order, no FMA: the CPU's sums bit for bit.
#include "backend/cuda/cuda_backend_impl.cuh"
#include "backend/cuda/placement_cuda.cuh"

namespace fedguard::backend::cuda {

namespace plan = cuda_plan;

void CudaBackend::run_aggregate_linear(const LinearAggregateRequest& request, float* out) {
  NvtxRange nvtx("fedguard::cuda::aggregate_linear");
  DeviceGuard guard(options_.device);
  const UpdateView& view = *request.updates;
  const std::size_t d = view.cols();
  if (d == 0) return;
  check_device(view);
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
  auto stream_bytes = [shape](std::size_t w, bool streamed) {
    return plan::aggregate_stream_bytes(shape, w, streamed);
  };

  struct LinearTile {
    CudaBackend& self;
    const UpdateView& view;
    const std::vector<double>& coef;
    const std::vector<double>& ref_coef;
    struct Scratch {
      DeviceBuffer coef, ref_coef;
    };
    Scratch prepare(std::size_t) {
      return Scratch{upload(self.resources(), coef.data(), coef.size()),
                     upload(self.resources(), ref_coef.data(), ref_coef.size())};
    }
    void run(Scratch& sc, std::size_t s, const void* tbl, std::size_t coff, std::size_t,
             std::size_t w, std::size_t w_max, const float* refs, float* out) {
      dispatch_dtype(view.dtype(), [&](auto tag) {
        using T = decltype(tag);
        kernels::launch_linear_combination<T>(
            static_cast<const T* const*>(tbl), coff, w, coef.size(), sc.coef.as<double>(), refs,
            w_max, ref_coef.size(), sc.ref_coef.as<double>(), out, self.resources().stream(s));
      });
    }
  };
  run_output_pass(view, rows, refs, request.tile_columns, stream_bytes, out,
                  LinearTile{*this, view, coef, ref_coef}, "aggregate_linear");
}

}  // namespace fedguard::backend::cuda
