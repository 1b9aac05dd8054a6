// One pass of the CPU backend, timed in the calling thread's CPU time (issue 19): on the shared
// 2-core machine wall-clock times of single-threaded runs swung 2x with the other engineers'
// builds, CPU time much less. Single thread only (a parallel run's CPU time is not its cost).
//   fedguard_pass_cpu_time N D REPEATS WHAT
//   WHAT: median | trimmed (b = N/10)
//         | nnm-trimmed (the trimmed mean, b = N/10, of NNM's mixed rows with f = N/5: the
//         recommended preset's pass 2 without an attack)
//         | mean (pass 2 of a linear rule, every coefficient 1/N)
//         | mean-monitor (then the monitoring stage's pass over the aggregate and the previous
//         one, which writes the state's copy of the aggregate: a mean's round with monitoring
//         on) | mean-monitor-then-copy (the same pass, then the copy made apart, as before
//         2026-12-06)
//         | scan (no Gram) | scan-gram | scan-sketch (Gram, k = 256)
//         | scan+median | scan+trimmed (pass 1 without a Gram, then pass 2: two reads) |
//         scan-median | scan-trimmed (the same in one read: Backend::scan_with_statistic)
//         | syrk (the bare cblas_ssyrk of pass 1's Gram over the same column tiles, lda = D: the
//         BLAS floor of scan-gram; bench/results/blas_2026-12-04.md)
//         | tile-syrk | tile-gram (the same flops on one tile kept in cache: d / w times the
//         SSYRK, or the backend's register kernel tile_gram, of one n x w tile transposed as
//         pass 1 writes it; the Gram's own speed without the memory;
//         bench/results/tile_gram_2026-12-05.md)
// Prints the minimum over the repeats, then their median and maximum, and the median of the
// process's CPU time over the thread's: above 1 another thread (a BLAS pool) did part of the work.
//   fedguard_pass_cpu_time N D REPEATS WHAT THREADS: the backend with THREADS workers, timed in
//   wall-clock time (the minimum over the repeats; on a shared machine only as good as its load).
// Environment: FEDGUARD_BENCH_PAUSE_US=U sleeps U microseconds before each repeat (the idle gap
// between a server's rounds: what waking the workers costs); FEDGUARD_BENCH_TEAM_ANY_SIZE=1 runs
// every pass on all THREADS workers, however small (the backend otherwise keeps passes estimated
// under 4 ms on one thread); FEDGUARD_BENCH_TILE_COLUMNS=W gives `mean` the column chunk W and
// the scans the tile width W (0: the backend's automatic one).
#include <cblas.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/blas_library.h"
#include "backend/cpu/tile_gram.h"
#include "monitor/metrics.h"
#include "synthetic/round.h"

namespace {
double seconds(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double cpu_seconds() { return seconds(CLOCK_THREAD_CPUTIME_ID); }
double process_seconds() { return seconds(CLOCK_PROCESS_CPUTIME_ID); }
double wall_seconds() { return seconds(CLOCK_MONOTONIC); }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace fedguard;
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: %s N D REPEATS "
                 "median|trimmed|nnm-trimmed|mean|mean-monitor|mean-monitor-then-copy|scan|"
                 "scan-gram|scan-sketch|scan+median|scan+trimmed|scan-median|scan-trimmed|syrk|"
                 "tile-syrk|tile-gram[,...] [THREADS]\n",
                 argv[0]);
    return 2;
  }
  const std::size_t n = std::strtoull(argv[1], nullptr, 10),
                    d = std::strtoull(argv[2], nullptr, 10);
  const int repeats = std::atoi(argv[3]);
  const std::string what_list = argv[4];
  const int threads = argc == 6 ? std::atoi(argv[5]) : 0;
  // A round of the shared generator: a common direction plus per-client noise, seed 1.
  synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.seed = 1;
  const std::vector<float> x = synthetic::generate(spec).updates;
  const UpdateView view(x.data(), n, d, DType::kFloat32);
  const char* any_size = std::getenv("FEDGUARD_BENCH_TEAM_ANY_SIZE");
  const char* pause = std::getenv("FEDGUARD_BENCH_PAUSE_US");
  auto backend = backend::make_cpu_backend(threads > 0 ? threads : 1,
                                           any_size != nullptr && std::string(any_size) == "1");
  const int pause_us = pause != nullptr ? std::atoi(pause) : 0;
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  std::vector<float> out(d);
  // The linear passes' output, and for mean-monitor* the previous aggregate and the state's copy.
  RoundResult monitored;
  monitored.aggregate.resize(d);
  std::vector<float> previous(d, 0.5f), spare(d);
  std::vector<float> gram(n * n);
  backend::cpu::set_blas_threads(1);  // as the backend does (make_cpu_backend above)
  // One tile of pass 1's shape, transposed (w x ldt, ldt = n rounded up to 8, as scan_cpu.cc).
  const std::size_t tile_w = backend::auto_tile_columns(n, d), ldt = (n + 7) / 8 * 8;
  std::vector<float> tile_t;
  if (what_list.find("tile-") != std::string::npos) {
    tile_t.assign(tile_w * ldt, 0.0f);
    for (std::size_t j = 0; j < tile_w && j < d; ++j)
      for (std::size_t i = 0; i < n; ++i) tile_t[j * ldt + i] = x[i * d + j];
  }
  // One repeat of one pass: its time and the process's CPU time over it.
  auto run_once = [&](const std::string& pass, double& ratio) {
    if (pause_us > 0) usleep(static_cast<useconds_t>(pause_us));
    const double p0 = process_seconds();
    const double t0 = threads > 0 ? wall_seconds() : cpu_seconds();
    if (pass == "syrk") {
      // X X^T accumulated over the scan's column tiles, read in place: what pass 1's Gram asks
      // of the BLAS, without the scan's other work.
      const std::size_t w_max = backend::auto_tile_columns(n, d);
      const int ni = static_cast<int>(n), di = static_cast<int>(d);
      for (std::size_t col0 = 0; col0 < d; col0 += w_max) {
        const int w = static_cast<int>(std::min(w_max, d - col0));
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, ni, w, 1.0f, x.data() + col0, di,
                    col0 == 0 ? 0.0f : 1.0f, gram.data(), ni);
      }
    } else if (pass == "tile-syrk" || pass == "tile-gram") {
      const int ni = static_cast<int>(n);
      for (std::size_t col0 = 0; col0 < d; col0 += tile_w) {
        const std::size_t w = std::min(tile_w, d - col0);
        if (pass == "tile-gram" && backend::cpu::tile_gram(tile_t.data(), ldt, n, w, gram.data()))
          continue;
        if (pass == "tile-gram") {
          std::fprintf(stderr, "tile_gram does not apply here (n > %zu or no AVX-512)\n",
                       backend::cpu::kTileGramRows);
          std::exit(2);
        }
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, ni, static_cast<int>(w), 1.0f,
                    tile_t.data(), static_cast<int>(ldt), 0.0f, gram.data(), ni);
      }
    } else if (pass == "mean" || pass == "mean-monitor" || pass == "mean-monitor-then-copy") {
      backend::LinearAggregateRequest req;
      req.updates = &view;
      req.rows = rows;
      req.coefficients.assign(n, 1.0 / static_cast<double>(n));
      if (const char* tc = std::getenv("FEDGUARD_BENCH_TILE_COLUMNS"))
        req.tile_columns = std::strtoull(tc, nullptr, 10);
      backend->aggregate_linear(req, monitored.aggregate.data());
      if (pass != "mean") {
        // The monitoring stage's metrics (monitor::round_metrics, as the engine calls it right
        // after a pass on the team), its pass over the aggregate writing the state's copy
        // (mean-monitor, the engine since 2026-12-06) or followed by the copy (as before).
        const bool fused_copy = pass == "mean-monitor";
        monitor::MetricContext ctx;
        ctx.previous_aggregate = &previous;
        ctx.threads = threads > 0 ? threads : 1;
        ctx.team_warm = true;
        ctx.aggregate_copy = fused_copy ? spare.data() : nullptr;
        monitor::round_metrics(monitored, ctx);
        if (!fused_copy)
          std::copy(monitored.aggregate.begin(), monitored.aggregate.end(), spare.begin());
      }
    } else if (pass == "scan-median" || pass == "scan-trimmed") {
      backend::ScanRequest req;
      req.updates = &view;
      req.rows = rows;
      req.gram = false;
      if (const char* tc = std::getenv("FEDGUARD_BENCH_TILE_COLUMNS"))
        req.tile_columns = std::strtoull(tc, nullptr, 10);
      const bool median = pass == "scan-median";
      backend->scan_with_statistic(
          req, median ? backend::ColumnStatistic::kMedian : backend::ColumnStatistic::kTrimmedMean,
          median ? 0 : n / 10, out.data());
    } else if (pass == "median" || pass == "trimmed" || pass == "nnm-trimmed" ||
               pass == "scan+median" || pass == "scan+trimmed") {
      if (pass == "scan+median" || pass == "scan+trimmed") {
        backend::ScanRequest scan;
        scan.updates = &view;
        scan.rows = rows;
        scan.gram = false;
        backend->scan(scan);
      }
      backend::CoordinateAggregateRequest req;
      req.updates = &view;
      req.rows = rows;
      const bool median = pass == "median" || pass == "scan+median";
      req.statistic =
          median ? backend::ColumnStatistic::kMedian : backend::ColumnStatistic::kTrimmedMean;
      req.param = median ? 0 : n / 10;
      if (pass == "nnm-trimmed") {  // the recommended preset's pass 2: NNM's mixing (f = n / 5)
        const std::size_t f = n / 5, keep = n - f;
        req.mixed_rows = n;
        req.mix.assign(n * n, 0.0);
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < keep; ++j)
            req.mix[i * n + (i + j) % n] = 1.0 / static_cast<double>(keep);
      }
      backend->aggregate_coordinatewise(req, out.data());
    } else {
      backend::ScanRequest req;
      req.updates = &view;
      req.rows = rows;
      req.gram = pass != "scan";
      req.sketch_dim = pass == "scan-sketch" ? 256 : 0;
      req.sketch_seed = 7;
      if (const char* tc = std::getenv("FEDGUARD_BENCH_TILE_COLUMNS"))
        req.tile_columns = std::strtoull(tc, nullptr, 10);
      backend->scan(req);
    }
    const double t = (threads > 0 ? wall_seconds() : cpu_seconds()) - t0;
    ratio = (process_seconds() - p0) / t;
    return t;
  };
  // WHAT may list several passes (a,b,...): each repeat runs them all, in an order rotated from
  // repeat to repeat, and each after the first is also reported as its median difference from
  // the first within the same repeat (paired: the machine's drift cancels).
  std::vector<std::string> whats;
  for (std::size_t at = 0; at <= what_list.size();) {
    const std::size_t comma = std::min(what_list.find(',', at), what_list.size());
    whats.push_back(what_list.substr(at, comma - at));
    at = comma + 1;
  }
  std::vector<std::vector<double>> times(whats.size()), ratios(whats.size());
  for (int r = 0; r < repeats; ++r)
    for (std::size_t q = 0; q < whats.size(); ++q) {
      const std::size_t m = (q + static_cast<std::size_t>(r)) % whats.size();
      double ratio = 0;
      times[m].push_back(run_once(whats[m], ratio));
      ratios[m].push_back(ratio);
    }
  for (std::size_t m = 0; m < whats.size(); ++m) {
    const double best = *std::min_element(times[m].begin(), times[m].end());
    const double worst = *std::max_element(times[m].begin(), times[m].end());
    std::printf(
        "%s n=%zu d=%zu: %.2f ms %s (min of %d; median %.2f, max %.2f; process/thread %.2f)",
        whats[m].c_str(), n, d, best * 1e3,
        threads > 0 ? ("wall, " + std::to_string(threads) + " threads").c_str() : "CPU", repeats,
        median_of(times[m]) * 1e3, worst * 1e3, median_of(ratios[m]));
    if (m > 0) {
      std::vector<double> diff(times[m].size());
      for (std::size_t r = 0; r < diff.size(); ++r) diff[r] = times[m][r] - times[0][r];
      std::printf("; paired difference from %s: median %+.3f ms", whats[0].c_str(),
                  median_of(diff) * 1e3);
    }
    std::printf("\n");
  }
  return 0;
}
