#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <cstddef>

#include "backend/cpu/blas_library.h"
#include "backend/cpu/lane_isa.h"

namespace fedguard::backend {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, bool team_for_any_size)
      : threads_(threads > 0 ? threads : omp_get_num_procs()), any_size_(team_for_any_size) {
    // fedguard's own workers call BLAS, each single-threaded (see scan_cpu.cc). This is
    // process-wide: the BLAS libraries have no per-call thread count in common.
    cpu::set_blas_threads(1);
  }
  std::string name() const override { return "cpu"; }
  int last_pass_threads() const override { return last_threads_; }

 protected:
  ScanSummaries run_scan(const ScanRequest& request) override {
    last_threads_ = threads_for(request.rows.size(), request.updates, request.gram);
    return cpu::scan(request, last_threads_);
  }
  // The single read pays where the layout kernel sums the row statistics while it copies
  // (AVX-512, AVX2) and the matrix outgrows the caches. Measured on the Zen 5 VM of 2026-12-07
  // (engine rounds of a median, data cold or warm; bench/results/read_once_2026-12-07/): 10-17%
  // faster at 1e7 values (100 x 1e5, 10 x 1e6, 1000 x 1e4) and 17% at 1e8, but 0-15% (30-100
  // us) slower at 1e6 (100 x 1e4, 10 x 1e5), where the second read comes from the cache while the
  // layout's short runs of each row wait on memory; the AVX2 kernels (FEDGUARD_CPU_LANES=avx2 on
  // that processor) 6-12% faster from 1e7 values. Elsewhere the engine keeps two passes.
  static constexpr double kReadOnceFromValues = 4e6;
  bool reads_once_for_statistic(std::size_t rows, std::size_t cols) const override {
    return cpu::lane_isa() != cpu::LaneIsa::kSse2 &&
           static_cast<double>(rows) * static_cast<double>(cols) >= kReadOnceFromValues;
  }
  ScanWithStatistic run_scan_with_statistic(const ScanRequest& request, ColumnStatistic statistic,
                                            std::size_t param, float* out) override {
    // The scan's thread count, so that the summaries are scan()'s bit for bit.
    last_threads_ = threads_for(request.rows.size(), request.updates, false);
    return cpu::scan_with_statistic(request, statistic, param, out, last_threads_);
  }
  void run_aggregate_linear(const LinearAggregateRequest& request, float* out) override {
    last_threads_ = threads_for(request.rows.size(), request.updates, false);
    cpu::aggregate_linear(request, out, last_threads_);
  }
  void run_aggregate_coordinatewise(const CoordinateAggregateRequest& request,
                                    float* out) override {
    last_threads_ = threads_for(request.rows.size(), request.updates, false);
    cpu::aggregate_coordinatewise(request, out, last_threads_);
  }

 private:
  // A pass whose one-thread time is estimated below kParallelAboveNs runs on one thread.
  // Waking an idle worker is not free: on the 2-core VMs of 2026-12-01 and 2026-12-04 an OpenMP
  // region after a 50 ms pause took a median 5.3-5.7 ms to start (min 0.1 ms), which is what a
  // federated server sees, since its rounds are seconds apart; so two threads only pay for a
  // pass of about twice that. The estimate is static (measured on the 2026-12-04 Xeon, one
  // thread: 0.65 ns per value read and summarised or ordered, 0.03 ns per multiply-add of the
  // pass-1 SSYRK, n^2 d / 2 of them), never a timing of this machine: a thread count that
  // depended on a clock would change the float64 summation order from run to run. On a machine
  // whose workers wake in microseconds this gives up at most half of a pass of ~4 ms.
  static constexpr double kParallelAboveNs = 4e6;

  int threads_for(std::size_t rows, const UpdateView* updates, bool gram) const {
    const double values =
        static_cast<double>(rows) * static_cast<double>(updates != nullptr ? updates->cols() : 0);
    const double ns = 0.65 * values + (gram ? 0.03 * values * static_cast<double>(rows) / 2 : 0.0);
    return ns < kParallelAboveNs && !any_size_ ? 1 : threads_;
  }

  int threads_;
  bool any_size_;
  int last_threads_ = 1;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads, bool team_for_any_size) {
  return std::make_unique<CpuBackend>(threads, team_for_any_size);
}

}  // namespace fedguard::backend
