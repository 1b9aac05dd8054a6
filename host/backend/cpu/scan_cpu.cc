// Pass 1 on the CPU: one read of every update, column tile by column tile.
//
// Per tile (k rows x w columns; float32 rows read where they are, float16 / bfloat16 rows
// converted into a k x w buffer):
//   1. convert, and per row: finiteness, max |x|, sum x^2 (float64), sign counts; with a Gram,
//      also each row chunk's float64 column sums for step 2 (one sweep over the rows, eight rows
//      interleaved, so that the caller's memory is read once and in several streams);
//   1b. with a sketch: each column's count-sketch bucket and sign (one hash), then each row's
//      values added into its buckets in float64 (kernels/scan_math.h);
//   2. centre c of each column = mean over the rows whose max |x| in this tile is at most
//      4x the median row's. The paper-free detail that matters: a plain column mean lets one
//      client with enormous values drag c far from the benign rows, and then the benign
//      centred values are large and alike, and their float32 products lose the differences.
//      Any centre common to all rows gives exact distances; a robust one keeps them precise.
//      Step 1's chunk sums are used where every row summed there is sane; a chunk with a row
//      that is not (or found non-finite) is summed again from the tile (the rare path);
//   3. subtract c and scale each row by a power of two so that its largest |value| is < 1:
//      float32 products then never overflow whatever a client sends, and unscaling in float64
//      is exact. The result is written transposed (w x k, eight rows at a time): the layout
//      step 4's register kernel reads as it is, and the one OpenBLAS packs fastest;
//   4. Gram of the scaled tile (on AVX-512 processors up to kTileGramRows rows: tile_gram, a
//      register kernel of fused multiply-adds; else OpenBLAS's SSYRK), added (unscaled) into
//      the float64 Gram accumulator.
// The tile and its transposed copy are sized to stay in a core's L2 cache (kCpuTile,
// backend.h). Rows with a NaN or Inf anywhere are zeroed from the tile where it is found on and
// flagged; their (partial) summaries are meaningless and the policy never reads them.
//
// Threads: each worker owns whole tiles (tile i goes to worker i mod T; without a Gram or a
// sketch, worker t takes consecutive tiles and walks them row by row) and its own float64
// accumulators, summed in worker order at the end, and calls OpenBLAS single-threaded. Mixing
// OpenMP's and OpenBLAS's thread pools on every tile made each wait on the other's spinning
// threads (measured: 52-62% of SGEMM's rate; see bench/results). For a fixed thread count the
// result is bit-identical run to run.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <omp.h>

#include "backend/cpu/centre_transpose.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lane_isa.h"
#include "backend/cpu/row_stats.h"
#include "backend/cpu/tile_gram.h"
#include "backend/cpu/tile_loader.h"
#include "fedguard/error.h"
#include "kernels/scan_math.h"

namespace fedguard::backend {

float sketch_entry(std::uint64_t seed, std::size_t column, std::size_t b, std::size_t sketch_dim) {
  return kernels::sketch_entry(seed, column, b, sketch_dim);
}

namespace cpu {
namespace {

constexpr float kSaneFactor = 4.0f;
// The row scale, its range and how it is applied are kernels/scan_math.h's, shared with the
// CUDA kernels: a subnormal-only row's scale (up to 2^149) is applied in float64, since as a
// float32 it would be inf.
using kernels::apply_scale;
using kernels::row_scale;
using kernels::unit_scale;

// Rows per group in steps 1 and 3. Step 1's groups lie inside one centre chunk.
constexpr std::size_t kGroup = 8;
static_assert(kernels::kCentreRowChunk % kGroup == 0, "a group of rows spans two centre chunks");
static_assert(kGroup == kCentreGroup, "step 3 takes the groups of step 1");

// Rows that step 1's sweep prefetches into L2 while it reads others (their bytes in the
// caller's memory, or in the tile for a converted row), spread evenly over the sweep's steps:
// a tile holds a short run of each row (5 KiB at n = 100), too short for the hardware
// prefetchers to get ahead of.
struct RowsAhead {
  const void* rows[kGroup];
  std::size_t bytes[kGroup];
  std::size_t m = 0;
  bool converted = false;  // some of the rows are float16 / bfloat16 (converted before the sweep)

  void add(const void* row, std::size_t n_bytes) {
    if (m < kGroup) rows[m] = row, bytes[m++] = n_bytes;
  }
};

// Walks the lines of a RowsAhead, so many a step.
class PrefetchCursor {
 public:
  PrefetchCursor(const RowsAhead& ahead, std::size_t steps) : ahead_(ahead) {
    std::size_t lines = 0;
    for (std::size_t r = 0; r < ahead.m; ++r) lines += (ahead.bytes[r] + 63) / 64;
    per_step_ = steps > 0 ? (lines + steps - 1) / steps : 0;
  }
  void step() {
#if defined(__x86_64__) && defined(__GNUC__)
    for (std::size_t q = 0; q < per_step_ && row_ < ahead_.m; ++q) {
      _mm_prefetch(static_cast<const char*>(ahead_.rows[row_]) + line_ * 64, _MM_HINT_T1);
      if (++line_ * 64 >= ahead_.bytes[row_]) line_ = 0, ++row_;
    }
#endif
  }

 private:
  const RowsAhead& ahead_;
  std::size_t per_step_ = 0, row_ = 0, line_ = 0;
};

// Step 1's sweep of up to kGroup rows (m of them), fused so that each row is read once from
// memory: row_stats's sums in row_stats's lanes and order (equal to it bit for bit), and, with
// `part`, the rows added in order into their chunk's float64 column sums for step 2's centre
// (ahead of knowing whether each row is sane: a chunk with a row that is not is summed again).
// Nothing is copied: the later steps read the rows where they are (the caller's float32 memory,
// still in cache, or the tile row a narrower type was converted into). The copy into the tile
// that this sweep used to make cost a store per value and a tile's worth of L2: pass 1 with the
// Gram at 100 x 1e6 took 185-193 ms on one thread with it, 177-186 without; 97-101 -> 89-93 ms
// on two (bench/results/scan_no_copy_2026-12-05.md).
template <bool kPart>
void load_rows_generic(const float* const src[kGroup], std::size_t m, std::size_t w, double* part,
                       RowStats out[kGroup]) {
  for (std::size_t i = 0; i < m; ++i) {
    if (kPart)
      for (std::size_t j = 0; j < w; ++j) part[j] += src[i][j];
    out[i] = row_stats_generic(src[i], w);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The vector sweeps take kR (<= 4) rows in lockstep, a register of each a step, so that every
// step has kR independent chains of sums in flight and the chunk's column sums are loaded and
// stored once for the kR rows (each column still adds its rows in row order), while they
// prefetch the rows the next sweep reads. Until 2026-12-07 the rows took turns 64 columns at a
// time, eight of them, prefetching the next group: at 100 x 1e6 on one thread of the AMD Zen 5
// VM, step 1 took 57-60 ms against a 19 ms read of the matrix in the same tile order (its
// prefetching made no difference); in lockstep 20-25 ms with AVX-512, and the AVX2 sweep
// (timed there under FEDGUARD_CPU_LANES=avx2) 44-52 -> 29-31 ms
// (bench/results/scan_lockstep_2026-12-07/).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <std::size_t kR, bool kPart>
struct SweepAvx2 {
  __attribute__((target("avx2"))) static void run(const float* const src[], std::size_t w,
                                                  double* part, RowStats out[],
                                                  const RowsAhead& ahead) {
    constexpr std::size_t kStep = RowLanes::kL;
    RowStatsAvx2 s[kR];
    for (std::size_t i = 0; i < kR; ++i) row_stats_zero(s[i]);
    PrefetchCursor cursor(ahead, w / kStep);
    std::size_t j = 0;
    for (; j + kStep <= w; j += kStep) {
      cursor.step();
      __m256d p_lo, p_hi;
      if (kPart) p_lo = _mm256_loadu_pd(part + j), p_hi = _mm256_loadu_pd(part + j + 4);
      for (std::size_t i = 0; i < kR; ++i) {
        const __m256 x = _mm256_loadu_ps(src[i] + j);
        row_stats_step(s[i], x);
        if (kPart) {
          p_lo = _mm256_add_pd(p_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
          p_hi = _mm256_add_pd(p_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
        }
      }
      if (kPart) _mm256_storeu_pd(part + j, p_lo), _mm256_storeu_pd(part + j + 4, p_hi);
    }
    for (std::size_t i = 0; i < kR; ++i) {
      if (kPart)
        for (std::size_t t = j; t < w; ++t) part[t] += src[i][t];
      out[i] = row_lanes(s[i]).finish(src[i], j, w);
    }
  }
};

template <std::size_t kR, bool kPart>
struct SweepAvx512 {
  __attribute__((target("avx512f"))) static void run(const float* const src[], std::size_t w,
                                                     double* part, RowStats out[],
                                                     const RowsAhead& ahead) {
    constexpr std::size_t kStep = 16;
    RowStatsAvx512 s[kR];
    for (std::size_t i = 0; i < kR; ++i) row_stats_zero(s[i]);
    PrefetchCursor cursor(ahead, w / kStep);
    std::size_t j = 0;
    for (; j + kStep <= w; j += kStep) {
      cursor.step();
      __m512d p_lo, p_hi;
      if (kPart) p_lo = _mm512_loadu_pd(part + j), p_hi = _mm512_loadu_pd(part + j + 8);
      for (std::size_t i = 0; i < kR; ++i) {
        const __m512 x = _mm512_loadu_ps(src[i] + j);
        row_stats_step(s[i], x);
        if (kPart) {
          p_lo = _mm512_add_pd(p_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
          p_hi = _mm512_add_pd(
              p_hi,
              _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
        }
      }
      if (kPart) _mm512_storeu_pd(part + j, p_lo), _mm512_storeu_pd(part + j + 8, p_hi);
    }
    for (std::size_t i = 0; i < kR; ++i) {
      if (kPart)
        for (std::size_t t = j; t < w; ++t) part[t] += src[i][t];
      RowStatsState state;
      row_stats_store(s[i], state);
      out[i] = finish_row_stats(state, src[i] + j, w - j);
    }
  }
};
#pragma GCC diagnostic pop

// A group in sweeps of four rows; each sweep prefetches the four rows after it (this group's
// others, else the next group's first), and the last the whole next group when that one is
// converted (its float16 / bfloat16 rows are all read at its start, before its first sweep; for
// float32 rows eight ahead measured 2-5% slower).
template <template <std::size_t, bool> class Sweep, bool kPart>
void load_rows_in_fours(const float* const src[kGroup], std::size_t m, std::size_t w, double* part,
                        RowStats out[kGroup], const RowsAhead& next) {
  constexpr std::size_t kR = 4;
  static_assert(kGroup == 2 * kR, "a group is two sweeps");
  for (std::size_t i0 = 0; i0 < m; i0 += kR) {
    RowsAhead ahead;
    for (std::size_t i = i0 + kR; i < m && ahead.m < kR; ++i) ahead.add(src[i], w * sizeof(float));
    for (std::size_t i = 0; i < next.m && (ahead.m < kR || (next.converted && i0 + kR >= m)); ++i)
      ahead.add(next.rows[i], next.bytes[i]);
    switch (std::min(kR, m - i0)) {
      case 4:
        Sweep<4, kPart>::run(src + i0, w, part, out + i0, ahead);
        break;
      case 3:
        Sweep<3, kPart>::run(src + i0, w, part, out + i0, ahead);
        break;
      case 2:
        Sweep<2, kPart>::run(src + i0, w, part, out + i0, ahead);
        break;
      default:
        Sweep<1, kPart>::run(src + i0, w, part, out + i0, ahead);
    }
  }
}
#endif

void load_rows(const float* const src[kGroup], std::size_t m, std::size_t w, double* part,
               RowStats out[kGroup], const RowsAhead& next) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (lane_isa()) {
    case LaneIsa::kAvx512:
      (part ? load_rows_in_fours<SweepAvx512, true>
            : load_rows_in_fours<SweepAvx512, false>)(src, m, w, part, out, next);
      return;
    case LaneIsa::kAvx2:
      (part ? load_rows_in_fours<SweepAvx2, true>
            : load_rows_in_fours<SweepAvx2, false>)(src, m, w, part, out, next);
      return;
    case LaneIsa::kSse2:
      break;
  }
#endif
  (part ? load_rows_generic<true> : load_rows_generic<false>)(src, m, w, part, out);
}

// One worker's running sums.
struct Accumulators : RowTotals {
  std::vector<double> gram, centre_proj, ref_proj, centre_ref, ref_gram;
  std::vector<std::vector<double>> subset_grams;
  std::vector<double> sketch;
  // The AVX-512 count sketch's sums, [row group of eight][bucket][row in the group]; moved into
  // `sketch` when the worker is done (fold_sketch_lines).
  std::vector<double> sketch_lines;
  double centre_sq = 0;

  Accumulators(std::size_t k, std::size_t r, bool gram_wanted, std::size_t subsets,
               std::size_t sketch_dim)
      : RowTotals(k),
        gram(gram_wanted ? k * k : 0, 0.0),
        centre_proj(k, 0.0),
        ref_proj(k * r, 0.0),
        centre_ref(r, 0.0),
        ref_gram(r * r, 0.0),
        subset_grams(subsets, std::vector<double>(k * k, 0.0)),
        sketch(k * sketch_dim, 0.0) {}
};

// One worker's buffers, sized for the widest tile.
struct Workspace {
  std::vector<float> tile, product, ref_tile, ref_product, centre, max_abs, sorted_max, subset_tile;
  // Where each row of the tile is read: the caller's float32 memory, the tile row a narrower type
  // was converted into, or zero_row for a row not finite.
  std::vector<const float*> row;
  std::size_t ldt;                   // rows rounded up to kGroup: the transposed tile's row length
  std::vector<float> tile_t;         // step 3's centred, scaled tile, transposed (w x ldt)
  std::vector<float> zero_row;       // what a padding row of the last group reads
  std::vector<double> centre64;      // the centre in float64 (step 3 broadcasts it)
  std::vector<double> centre_parts;  // each row chunk's column sums (kernels::kCentreRowChunk)
  std::vector<std::uint32_t> sketch_bucket;  // h(j) of the tile's columns
  std::vector<float> sketch_sign;            // s(j)
  std::vector<std::size_t> sketch_live;      // the rows still finite
  std::vector<double> scale, inv_scale, ref_scale;
  std::vector<std::uint8_t> sane, summed;  // summed: added into its chunk's centre_parts
  std::vector<std::size_t> subset_pos;     // next unconsumed entry of each column subset

  Workspace(std::size_t k, std::size_t r, std::size_t w, bool gram_wanted, std::size_t subsets)
      : tile(k * w),
        product(gram_wanted ? k * k : 0),
        ref_tile(r * w),
        ref_product(k * r),
        centre(w),
        max_abs(k),
        sorted_max(k),
        row(k),
        scale(k),
        inv_scale(k),
        ref_scale(r),
        sane(k),
        summed(k),
        subset_pos(subsets, 0) {
    ldt = (k + kGroup - 1) / kGroup * kGroup;
    if (gram_wanted) {
      centre_parts.resize(chunks(k) * w);
      tile_t.resize(w * ldt);
      centre64.resize(w);
    }
    zero_row.resize(w);
  }
  static std::size_t chunks(std::size_t k) {
    return (k + kernels::kCentreRowChunk - 1) / kernels::kCentreRowChunk;
  }
  std::size_t bytes() const {
    return sizeof(float) * (tile.size() + product.size() + ref_tile.size() + ref_product.size() +
                            tile_t.size() + zero_row.size()) +
           sizeof(double) * (centre64.size() + centre_parts.size()) +
           sizeof(const float*) * row.size();
  }
};

// A worker's workspace, kept by its thread for the next scan of the same shape. Allocated per
// call, the tile and its transposed copy (1 MiB at n = 100) came fresh from the kernel every
// round: ~240 page faults, a quarter of pass 1's work around the SSYRK at 100 x 1e4 (perf,
// 2026-12-05). OpenMP's worker threads outlive the parallel regions, so the cache does too; a
// workspace above kKeptWorkspaceBytes is freed after the call (its round is large enough that
// the faults do not matter). Only the subset cursors carry state from one call to the next.
constexpr std::size_t kKeptWorkspaceBytes = std::size_t{16} << 20;

class WorkspaceLease {
 public:
  WorkspaceLease(std::size_t k, std::size_t r, std::size_t w, bool gram_wanted, std::size_t subsets)
      : key_{k, r, w, gram_wanted ? std::size_t{1} : 0, subsets} {
    Cache& c = cache();
    if (c.ws && c.key == key_) {
      ws_ = std::move(c.ws);
      std::fill(ws_->subset_pos.begin(), ws_->subset_pos.end(), std::size_t{0});
    } else {
      ws_ = std::make_unique<Workspace>(k, r, w, gram_wanted, subsets);
    }
  }
  ~WorkspaceLease() {
    if (ws_->bytes() > kKeptWorkspaceBytes) return;
    Cache& c = cache();
    c.ws = std::move(ws_);
    c.key = key_;
  }
  WorkspaceLease(const WorkspaceLease&) = delete;
  WorkspaceLease& operator=(const WorkspaceLease&) = delete;
  Workspace& get() { return *ws_; }

 private:
  using Key = std::array<std::size_t, 5>;
  struct Cache {
    std::unique_ptr<Workspace> ws;
    Key key{};
  };
  static Cache& cache() {
    thread_local Cache c;
    return c;
  }
  Key key_;
  std::unique_ptr<Workspace> ws_;
};

#if defined(__x86_64__) && defined(__GNUC__)
// Eight rows' values of eight columns, transposed: c[t][i] = r[i][t].
__attribute__((target("avx"), always_inline)) inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Step 1b for eight rows with AVX-512: eight columns of the eight rows are loaded and transposed
// in registers, and each column adds one vector (its eight rows' signed values in float64) into
// its bucket's line of `lines` ([bucket][row]). Every (row, bucket) sum still takes its columns
// in column order, as the scalar loop's: the sketch is the same bit for bit. A scalar scatter
// costs a load, an add and a store per value; here one of each per eight. The sketch's share of
// pass 1 at 100 x 1e6, k = 256, one thread: ~47% -> 14-23%
// (bench/results/scan_lockstep_2026-12-07/).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void count_sketch_rows8_avx512(const float* const rows[8],
                                                                  std::size_t w,
                                                                  const std::uint32_t* bucket,
                                                                  const float* sign,
                                                                  double* lines) {
  std::size_t j = 0;
  for (; j + 8 <= w; j += 8) {
    __m256 c[8];
    for (int i = 0; i < 8; ++i) c[i] = _mm256_loadu_ps(rows[i] + j);
    transpose8x8(c);
    for (int t = 0; t < 8; ++t) {
      double* line = lines + std::size_t{bucket[j + t]} * 8;
      const __m512d v = _mm512_mul_pd(_mm512_cvtps_pd(c[t]), _mm512_set1_pd(sign[j + t]));
      _mm512_storeu_pd(line, _mm512_add_pd(_mm512_loadu_pd(line), v));
    }
  }
  for (; j < w; ++j)
    for (std::size_t i = 0; i < 8; ++i)
      lines[std::size_t{bucket[j]} * 8 + i] += static_cast<double>(rows[i][j] * sign[j]);
}
#pragma GCC diagnostic pop
#endif

// The AVX-512 sketch's lines into the worker's sketch (every row, finite or not: a row flagged
// non-finite added zeros from its flagging on, and the policy never reads its sketch).
void fold_sketch_lines(Accumulators& acc, std::size_t k, std::size_t q) {
  if (acc.sketch_lines.empty()) return;
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t b = 0; b < q; ++b)
      acc.sketch[p * q + b] = acc.sketch_lines[(p / 8 * q + b) * 8 + p % 8];
  acc.sketch_lines = {};
}

// Step 1b: S_p,h(j) += s(j) x_pj for the tile's columns j, every row still finite (a row found
// non-finite in this tile was zeroed and flagged above: what it added in earlier tiles stays, as
// its other summaries do, and the policy never reads them). The w hashes once per tile, then a
// scatter-add of each row into its q float64 buckets, in column order (deterministic). Four rows
// at a time share each column's bucket and sign loads and keep four independent chains of adds
// in flight: 0.55 ns per value against 0.78 one row at a time (single thread, n = 100, d = 1e6,
// q = 256; bench/results/sketch_2026-12-04.md). Scatter-bound: the count sketch is O(n d). On
// AVX-512 processors count_sketch_rows8_avx512 takes the scatter, eight rows a vector.
void count_sketch_tile(const ScanRequest& request, std::size_t col0, std::size_t w, Workspace& ws,
                       Accumulators& acc) {
  const std::size_t k = request.rows.size(), q = request.sketch_dim;
  ws.sketch_bucket.resize(w);
  ws.sketch_sign.resize(w);
  for (std::size_t j = 0; j < w; ++j) {
    const std::uint64_t hash = kernels::count_sketch_hash(request.sketch_seed, col0 + j);
    ws.sketch_bucket[j] = kernels::count_sketch_bucket(hash, q);
    // +-1.0f from the hash's sign bit without a branch (a random one: mispredicted every other
    // column, as much time as the whole scatter at 50 x 51,200).
    const std::uint32_t bits =
        0x3f800000u | static_cast<std::uint32_t>(kernels::count_sketch_negative(hash)) << 31;
    std::memcpy(&ws.sketch_sign[j], &bits, sizeof(float));
  }
  const std::uint32_t* bucket = ws.sketch_bucket.data();
  const float* sign = ws.sketch_sign.data();
#if defined(__x86_64__) && defined(__GNUC__)
  if (lane_isa() == LaneIsa::kAvx512) {
    // Rows not finite (and the last group's padding) read zero_row: they add zeros.
    const std::size_t groups = (k + 7) / 8;
    if (acc.sketch_lines.empty()) acc.sketch_lines.assign(groups * q * 8, 0.0);
    for (std::size_t g = 0; g < groups; ++g) {
      const float* rows[8];
      for (std::size_t i = 0; i < 8; ++i) {
        const std::size_t p = g * 8 + i;
        rows[i] = p < k && acc.finite[p] ? ws.row[p] : ws.zero_row.data();
      }
      count_sketch_rows8_avx512(rows, w, bucket, sign, acc.sketch_lines.data() + g * q * 8);
    }
    return;
  }
#endif
  ws.sketch_live.clear();
  for (std::size_t p = 0; p < k; ++p)
    if (acc.finite[p]) ws.sketch_live.push_back(p);
  const std::size_t live = ws.sketch_live.size();
  std::size_t i = 0;
  for (; i + 4 <= live; i += 4) {
    const std::size_t* rows = ws.sketch_live.data() + i;
    const float *x0 = ws.row[rows[0]], *x1 = ws.row[rows[1]], *x2 = ws.row[rows[2]],
                *x3 = ws.row[rows[3]];
    double *s0 = acc.sketch.data() + rows[0] * q, *s1 = acc.sketch.data() + rows[1] * q,
           *s2 = acc.sketch.data() + rows[2] * q, *s3 = acc.sketch.data() + rows[3] * q;
    for (std::size_t j = 0; j < w; ++j) {
      const std::uint32_t b = bucket[j];
      const float sg = sign[j];
      s0[b] += static_cast<double>(x0[j] * sg);
      s1[b] += static_cast<double>(x1[j] * sg);
      s2[b] += static_cast<double>(x2[j] * sg);
      s3[b] += static_cast<double>(x3[j] * sg);
    }
  }
  for (; i < live; ++i) {
    const float* x = ws.row[ws.sketch_live[i]];
    double* sk = acc.sketch.data() + ws.sketch_live[i] * q;
    for (std::size_t j = 0; j < w; ++j) sk[bucket[j]] += static_cast<double>(x[j] * sign[j]);
  }
}

void scan_tile(const ScanRequest& request, std::size_t col0, std::size_t w, Workspace& ws,
               Accumulators& acc) {
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size(), r = request.references.size();
  float* tile = ws.tile.data();

  // 1. Convert and per-row statistics, and (with a Gram) the column sums of step 2, per chunk.
  // (Only rounds with a Gram or a sketch come here; the others: scan_rows_of_tiles.)
  constexpr std::size_t kChunk = kernels::kCentreRowChunk;
  double* parts = ws.centre_parts.data();
  if (request.gram) std::fill(parts, parts + Workspace::chunks(k) * w, 0.0);
  for (std::size_t p0 = 0; p0 < k; p0 += kGroup) {
    const float* src[kGroup];
    std::size_t row[kGroup], m = 0;
    for (std::size_t p = p0; p < std::min(k, p0 + kGroup); ++p) {
      ws.max_abs[p] = 0;
      ws.summed[p] = 0;
      ws.row[p] = ws.zero_row.data();
      if (!acc.finite[p]) continue;
      src[m] = row_segment(view, request.rows[p], col0, w, tile + p * w);
      row[m++] = p;
    }
    if (m == 0) continue;
    RowsAhead next;
    for (std::size_t p = p0 + kGroup; p < std::min(k, p0 + 2 * kGroup); ++p) {
      if (!acc.finite[p]) continue;
      const ClientUpdate& c = view.client(request.rows[p]);
      next.add(static_cast<const unsigned char*>(c.data) + col0 * dtype_size(c.dtype),
               w * dtype_size(c.dtype));
      next.converted |= c.dtype != DType::kFloat32;
    }
    RowStats st[kGroup];
    load_rows(src, m, w, request.gram ? parts + p0 / kChunk * w : nullptr, st, next);
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t p = row[i];
      ws.summed[p] = request.gram;
      if (!acc.add(p, st[i], w)) continue;
      ws.row[p] = src[i];
      ws.max_abs[p] = st[i].max_abs;
    }
  }
  // 1b. Count sketch of the raw rows (float64 buckets: no scaling, whatever a client sends).
  if (request.sketch_dim > 0) count_sketch_tile(request, col0, w, ws, acc);
  if (!request.gram) return;

  // 2. Robust centre: the mean of the rows of ordinary magnitude in this tile.
  std::size_t finite_rows = 0;
  for (std::size_t p = 0; p < k; ++p)
    if (acc.finite[p]) ws.sorted_max[finite_rows++] = ws.max_abs[p];
  float limit = 0;
  if (finite_rows > 0) {
    const std::size_t mid = (finite_rows - 1) / 2;
    std::nth_element(ws.sorted_max.begin(),
                     ws.sorted_max.begin() + static_cast<std::ptrdiff_t>(mid),
                     ws.sorted_max.begin() + static_cast<std::ptrdiff_t>(finite_rows));
    limit = ws.sorted_max[mid] * kSaneFactor;
  }
  std::size_t sane_rows = 0;
  for (std::size_t p = 0; p < k; ++p) {
    ws.sane[p] = acc.finite[p] && ws.max_abs[p] <= limit;
    sane_rows += ws.sane[p];
  }
  float* centre = ws.centre.data();
  {
    // Summation order: kernels::kCentreRowChunk (chunks of rows, sane rows in row order from 0.0,
    // then the chunk sums in chunk order from 0.0), shared with the CUDA kernels so that both
    // backends' centres are equal bit for bit. Step 1 summed every row finite at the tile's
    // start; a chunk where that is not the sane rows (a row not sane, or found non-finite here:
    // rare) is summed again from the tile.
    for (std::size_t p0 = 0; p0 < k; p0 += kChunk) {
      const std::size_t p1 = std::min(k, p0 + kChunk);
      bool clean = true;
      for (std::size_t p = p0; p < p1; ++p) clean &= ws.summed[p] == ws.sane[p];
      if (clean) continue;
      double* part = parts + p0 / kChunk * w;
      std::fill(part, part + w, 0.0);
      for (std::size_t p = p0; p < p1; ++p) {
        if (!ws.sane[p]) continue;
        const float* row = ws.row[p];
        for (std::size_t j = 0; j < w; ++j) part[j] += row[j];
      }
    }
    const double inv = sane_rows ? 1.0 / static_cast<double>(sane_rows) : 0.0;
    const std::size_t chunks = Workspace::chunks(k);
    for (std::size_t j = 0; j < w; ++j) {
      double sum = 0;
      for (std::size_t c = 0; c < chunks; ++c) sum += parts[c * w + j];
      centre[j] = static_cast<float>(sum * inv);
    }
  }
  double cc = 0;
  for (std::size_t j = 0; j < w; ++j) {
    ws.centre64[j] = centre[j];
    cc += ws.centre64[j] * ws.centre64[j];
  }
  acc.centre_sq += cc;

  // 3. Centre, project on c, and scale rows whose magnitude could overflow or underflow; into
  // the transposed tile.
  float* tt = ws.tile_t.data();
  const std::size_t ldt = ws.ldt;
  for (std::size_t p0 = 0; p0 < k; p0 += kGroup) {
    const float* rows[kGroup];
    std::uint8_t keep[kGroup];
    for (std::size_t i = 0; i < kGroup; ++i) {
      const std::size_t p = p0 + i;
      rows[i] = p < k ? ws.row[p] : ws.zero_row.data();
      keep[i] = p < k && acc.finite[p];
    }
    double proj[kGroup];
    float mx[kGroup];
    centre_transpose(lane_isa(), rows, keep, centre, ws.centre64.data(), w, tt + p0, ldt, proj, mx);
    for (std::size_t i = 0; i < kGroup && p0 + i < k; ++i) {
      const std::size_t p = p0 + i;
      ws.scale[p] = 1.0;
      if (!keep[i]) continue;
      acc.centre_proj[p] += proj[i];
      const double sc = row_scale(mx[i]);
      if (sc == 1.0) continue;
      ws.scale[p] = sc;
      for (std::size_t j = 0; j < w; ++j) tt[j * ldt + p] = apply_scale(tt[j * ldt + p], sc);
    }
  }

  // 4. Gram of the tile (the product's lower triangle: Gram(p, q) at q * k + p for p <= q),
  // unscaled into the lower triangle of the float64 Gram (mirrored once at the end). Each row
  // of both is read in order: reading the lower triangle column by column cost 5% of pass 1 at
  // n = 1000 (4 KiB strides).
  if (!tile_gram(tt, ldt, k, w, ws.product.data()))
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, static_cast<int>(k), static_cast<int>(w),
                1.0f, tt, static_cast<int>(ldt), 0.0f, ws.product.data(), static_cast<int>(k));
  // The scales are powers of two (kernels::row_scale): 1 / s_q and the products of two inverses
  // are exact, so multiplying by inv_p inv_q is bit for bit the division by s_q it replaced
  // (a baseline-x86-64 divpd per two entries: ~2 ms of pass 1 at 100 x 1e6).
  for (std::size_t p = 0; p < k; ++p) ws.inv_scale[p] = 1.0 / ws.scale[p];
  for (std::size_t q = 0; q < k; ++q) {
    const float* prod = ws.product.data() + q * k;
    double* g = acc.gram.data() + q * k;
    const double inv_q = ws.inv_scale[q];
    for (std::size_t p = 0; p <= q; ++p)
      g[p] += static_cast<double>(prod[p]) * (ws.inv_scale[p] * inv_q);
  }

  // 4b. Column subsets: gather this tile's columns of each subset, SSYRK, unscale.
  for (std::size_t si = 0; si < request.column_subsets.size(); ++si) {
    const auto& cols = request.column_subsets[si];
    std::size_t& pos = ws.subset_pos[si];
    while (pos < cols.size() && cols[pos] < col0) ++pos;  // tiles of other workers
    const std::size_t begin = pos;
    while (pos < cols.size() && cols[pos] < col0 + w) ++pos;
    const std::size_t nc = pos - begin;
    if (nc == 0) continue;
    ws.subset_tile.resize(nc * ldt);
    for (std::size_t q = 0; q < nc; ++q)
      std::memcpy(ws.subset_tile.data() + q * ldt, tt + (cols[begin + q] - col0) * ldt,
                  ldt * sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(k), static_cast<int>(nc),
                1.0f, ws.subset_tile.data(), static_cast<int>(ldt), 0.0f, ws.product.data(),
                static_cast<int>(k));
    std::vector<double>& g = acc.subset_grams[si];
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = p; q < k; ++q)
        g[p * k + q] += static_cast<double>(ws.product[p * k + q]) / (ws.scale[p] * ws.scale[q]);
  }

  // 5. References: (x_i - c) . v_j, c . v_j and v_i . v_j.
  if (r == 0) return;
  for (std::size_t a = 0; a < r; ++a) {
    const float* v = request.references[a] + col0;
    float mx = 0;
    double cv = 0;
    for (std::size_t j = 0; j < w; ++j) {
      mx = std::max(mx, std::fabs(v[j]));
      cv += static_cast<double>(centre[j]) * v[j];
    }
    acc.centre_ref[a] += cv;
    ws.ref_scale[a] = unit_scale(mx);
    for (std::size_t j = 0; j < w; ++j)
      ws.ref_tile[a * w + j] = static_cast<float>(v[j] * ws.ref_scale[a]);
    for (std::size_t b = 0; b < r; ++b) {
      const float* u = request.references[b] + col0;
      double dot = 0;
      for (std::size_t j = 0; j < w; ++j) dot += static_cast<double>(v[j]) * u[j];
      acc.ref_gram[a * r + b] += dot;
    }
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, static_cast<int>(k), static_cast<int>(r),
              static_cast<int>(w), 1.0f, tt, static_cast<int>(ldt), ws.ref_tile.data(),
              static_cast<int>(w), 0.0f, ws.ref_product.data(), static_cast<int>(r));
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t a = 0; a < r; ++a)
      acc.ref_proj[p * r + a] +=
          static_cast<double>(ws.ref_product[p * r + a]) / (ws.scale[p] * ws.ref_scale[a]);
}

// A worker's share of a scan without a Gram or a sketch (median, trimmed mean, mean, norm
// bound): its tiles are consecutive, and it walks them row by row, so that each row is read as
// one run of (tiles x w) values, which the hardware prefetchers follow at the memory's speed.
// Tile by tile, every row's run was w values (1,280 at n = 100): 100 short streams a tile, and
// pass 1 of a median at 100 x 1e6 took 28 ms on both cores against a 12 ms read (2026-12-05).
// Each row's statistics are still summed per tile in tile order, as scan_tile does: the same
// numbers as walking the same tiles tile by tile.
void scan_rows_of_tiles(const ScanRequest& request, std::size_t tile0, std::size_t tile1,
                        std::size_t w_max, std::size_t d, std::vector<float>& buffer,
                        Accumulators& acc) {
  const UpdateView& view = *request.updates;
  for (std::size_t p = 0; p < request.rows.size(); ++p) {
    for (std::size_t i = tile0; i < tile1 && acc.finite[p]; ++i) {
      const std::size_t col0 = i * w_max, w = std::min(w_max, d - col0);
      const RowStats st = row_stats(row_segment(view, request.rows[p], col0, w, buffer.data()), w);
      if (!acc.add(p, st, w)) break;
    }
  }
}

void add_into(std::vector<double>& into, const std::vector<double>& from) {
  for (std::size_t i = 0; i < into.size(); ++i) into[i] += from[i];
}

}  // namespace

ScanTiles scan_tiles(const ScanRequest& request, int threads) {
  const std::size_t k = request.rows.size();
  const std::size_t d = request.updates->cols();
  std::size_t w_max;
  if (request.tile_columns) {
    w_max = std::min(request.tile_columns, d);
  } else {
    // Enough tiles to keep every worker busy: at least four per thread where d allows.
    const std::size_t per_worker =
        (d + 4 * static_cast<std::size_t>(threads) - 1) / (4 * static_cast<std::size_t>(threads));
    w_max = std::min(auto_tile_columns(k, d, kCpuTile),
                     std::max<std::size_t>(64, (per_worker + 63) / 64 * 64));
  }
  w_max = std::max<std::size_t>(w_max, 1);
  const std::size_t tiles = d == 0 ? 0 : (d + w_max - 1) / w_max;
  const int workers =
      static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(threads, tiles)));
  return {w_max, tiles, workers};
}

ScanSummaries scan(const ScanRequest& request, int threads) {
  const UpdateView& view = *request.updates;
  const std::size_t k = request.rows.size();
  const std::size_t d = view.cols();
  const std::size_t r = request.references.size();
  const std::size_t subsets = request.gram ? request.column_subsets.size() : 0;
  ScanRequest req = request;  // with the subsets dropped when no Gram is wanted
  if (!request.gram) req.column_subsets.clear();

  const ScanTiles plan = scan_tiles(request, threads);
  const std::size_t w_max = plan.width, tiles = plan.tiles;
  const int workers = plan.workers;

  std::vector<Accumulators> acc;
  acc.reserve(workers);
  for (int t = 0; t < workers; ++t)
    acc.emplace_back(k, r, request.gram, subsets, request.sketch_dim);
  const bool rows_only = !request.gram && request.sketch_dim == 0;
  const bool converts = std::any_of(request.rows.begin(), request.rows.end(), [&](std::size_t i) {
    return view.client(i).dtype != DType::kFloat32;
  });
  if (k > 0 && rows_only) {
    // Worker t takes the consecutive tiles [t T / W, (t + 1) T / W).
#pragma omp parallel num_threads(workers)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto nw = static_cast<std::size_t>(workers);
      // A row segment converted from float16 / bfloat16 (float32 rows are read in place).
      std::vector<float> buffer(converts ? w_max : 0);
      scan_rows_of_tiles(req, tiles * t / nw, tiles * (t + 1) / nw, w_max, d, buffer, acc[t]);
    }
  } else if (k > 0) {
#pragma omp parallel num_threads(workers)
    {
      const int t = omp_get_thread_num();
      WorkspaceLease lease(k, r, w_max, request.gram, subsets);
      Workspace& ws = lease.get();
      for (std::size_t i = static_cast<std::size_t>(t); i < tiles;
           i += static_cast<std::size_t>(workers)) {
        const std::size_t col0 = i * w_max;
        scan_tile(req, col0, std::min(w_max, d - col0), ws, acc[t]);
      }
    }
  }

  for (Accumulators& a : acc) fold_sketch_lines(a, k, request.sketch_dim);
  // Sum the workers' partial results in worker order (deterministic for a fixed thread count).
  ScanSummaries s;
  s.k = k;
  s.r = r;
  s.tile_columns = w_max;
  Accumulators& total = acc[0];
  for (int t = 1; t < workers; ++t) {
    const Accumulators& a = acc[t];
    add_into(total.gram, a.gram);
    add_into(total.centre_proj, a.centre_proj);
    add_into(total.ref_proj, a.ref_proj);
    add_into(total.centre_ref, a.centre_ref);
    add_into(total.ref_gram, a.ref_gram);
    total.merge(a);
    add_into(total.sketch, a.sketch);
    for (std::size_t si = 0; si < subsets; ++si)
      add_into(total.subset_grams[si], a.subset_grams[si]);
    total.centre_sq += a.centre_sq;
  }
  // The Gram was summed in its lower triangle, the subsets' in their upper.
  auto mirror = [k](std::vector<double>& g, bool from_lower) {
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t q = 0; q < p; ++q)
        if (from_lower)
          g[q * k + p] = g[p * k + q];
        else
          g[p * k + q] = g[q * k + p];
  };
  if (request.gram) mirror(total.gram, true);
  for (auto& g : total.subset_grams) mirror(g, false);
  s.gram = std::move(total.gram);
  s.centre_proj = std::move(total.centre_proj);
  s.centre_sq = total.centre_sq;
  s.ref_proj = std::move(total.ref_proj);
  s.centre_ref = std::move(total.centre_ref);
  s.ref_gram = std::move(total.ref_gram);
  total.move_into(s);
  s.subset_grams = std::move(total.subset_grams);
  s.sketch = std::move(total.sketch);
  return s;
}

}  // namespace cpu
}  // namespace fedguard::backend
