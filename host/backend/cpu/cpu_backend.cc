#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <cstddef>

#include "backend/cpu/blas_library.h"

namespace fedguard::backend {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {
    // fedguard's own workers call BLAS, each single-threaded (see scan_cpu.cc). This is
    // process-wide: the BLAS libraries have no per-call thread count in common.
    cpu::set_blas_threads(1);
  }
  std::string name() const override { return "cpu"; }

 protected:
  ScanSummaries run_scan(const ScanRequest& request) override {
    return cpu::scan(request, threads_for(request.rows.size(), request.updates));
  }
  void run_aggregate_linear(const LinearAggregateRequest& request, float* out) override {
    cpu::aggregate_linear(request, out, threads_for(request.rows.size(), request.updates));
  }
  void run_aggregate_coordinatewise(const CoordinateAggregateRequest& request,
                                    float* out) override {
    cpu::aggregate_coordinatewise(request, out, threads_for(request.rows.size(), request.updates));
  }

 private:
  // Below this many values (2^18, 1 MiB of float32) a pass runs on one thread. Waking an idle
  // worker costs more than such a pass: on the 2-core VM of bench/results/compare_cpu_2026-12-01.md
  // a parallel region after a 50 ms pause took about 5 ms to start, while a whole Krum round of 10
  // x 10,000 values takes 0.4-0.8 ms on one core. The results do not depend on it beyond float64
  // summation order.
  static constexpr std::size_t kSerialBelow = std::size_t{1} << 18;

  int threads_for(std::size_t rows, const UpdateView* updates) const {
    const std::size_t cols = updates != nullptr ? updates->cols() : 0;
    return rows * cols < kSerialBelow ? 1 : threads_;
  }

  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace fedguard::backend
