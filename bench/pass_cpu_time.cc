// One pass of the CPU backend, timed in the calling thread's CPU time (issue 19): on the shared
// 2-core machine wall-clock times of single-threaded runs swung 2x with the other engineers'
// builds, CPU time much less. Single thread only (a parallel run's CPU time is not its cost).
//   fedguard_pass_cpu_time N D REPEATS WHAT
//   WHAT: median | trimmed (b = N/10) | scan (no Gram) | scan-gram | scan-sketch (Gram, k = 256)
// Prints the minimum over the repeats.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "synthetic/round.h"

namespace {
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace fedguard;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s N D REPEATS median|trimmed|scan|scan-gram|scan-sketch\n",
                 argv[0]);
    return 2;
  }
  const std::size_t n = std::strtoull(argv[1], nullptr, 10),
                    d = std::strtoull(argv[2], nullptr, 10);
  const int repeats = std::atoi(argv[3]);
  const std::string what = argv[4];
  // A round of the shared generator: a common direction plus per-client noise, seed 1.
  synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.seed = 1;
  const std::vector<float> x = synthetic::generate(spec).updates;
  const UpdateView view(x.data(), n, d, DType::kFloat32);
  auto backend = backend::make_cpu_backend(1);
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  std::vector<float> out(d);
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = cpu_seconds();
    if (what == "median" || what == "trimmed") {
      backend::CoordinateAggregateRequest req;
      req.updates = &view;
      req.rows = rows;
      req.statistic = what == "median" ? backend::ColumnStatistic::kMedian
                                       : backend::ColumnStatistic::kTrimmedMean;
      req.param = what == "median" ? 0 : n / 10;
      backend->aggregate_coordinatewise(req, out.data());
    } else {
      backend::ScanRequest req;
      req.updates = &view;
      req.rows = rows;
      req.gram = what != "scan";
      req.sketch_dim = what == "scan-sketch" ? 256 : 0;
      req.sketch_seed = 7;
      backend->scan(req);
    }
    best = std::min(best, cpu_seconds() - t0);
  }
  std::printf("%s n=%zu d=%zu: %.2f ms CPU (min of %d)\n", what.c_str(), n, d, best * 1e3, repeats);
  return 0;
}
