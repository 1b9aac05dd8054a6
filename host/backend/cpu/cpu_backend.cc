#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <cblas.h>

namespace fedguard::backend {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {
    // fedguard's own workers call OpenBLAS, each single-threaded (see scan_cpu.cc). This is
    // process-wide: OpenBLAS has no per-call thread count.
    openblas_set_num_threads(1);
  }
  std::string name() const override { return "cpu"; }
  ScanSummaries scan(const ScanRequest& request) override { return cpu::scan(request, threads_); }
  void aggregate_linear(const LinearAggregateRequest& request, float* out) override {
    cpu::aggregate_linear(request, out, threads_);
  }
  void aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out) override {
    cpu::aggregate_coordinatewise(request, out, threads_);
  }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace fedguard::backend
