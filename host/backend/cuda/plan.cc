// Planning for the CUDA backend (see plan.h). No CUDA here: tested on the CPU.
#include "backend/cuda/plan.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "backend/cuda/cuda_backend.h"
#include "fedguard/config.h"
#include "fedguard/error.h"
#include "kernels/scan_math.h"

namespace fedguard::backend::cuda_plan {

namespace {
// kernels/kernels.cuh's kMaxReductionBlocks (an upper bound of reduction_blocks(w); that header
// is CUDA's, and this file is plain host code).
constexpr std::size_t kReductionScratchBlocks = 256;
}  // namespace

const char* placement_name(Placement p) {
  switch (p) {
    case Placement::kDevice:
      return "device";
    case Placement::kCopied:
      return "copied";
    case Placement::kStreamed:
      return "streamed";
  }
  return "?";
}

std::size_t staging_bytes(std::size_t k, std::size_t elem_size, std::size_t r, std::size_t w,
                          bool streamed) {
  return (streamed ? k * w * elem_size : 0) + r * w * sizeof(float);
}

std::size_t scan_stream_bytes(const ScanShape& s, std::size_t w, bool streamed) {
  const std::size_t k = s.k, r = s.r, q = s.sketch_dim;
  std::size_t b = k * w * sizeof(float);  // the float32 tile
  const bool aux = s.bf16 || (s.gram && s.subsets > 0);
  if (aux) b += k * w * sizeof(float);                               // bf16 copy / gathered subset
  b += staging_bytes(k, s.elem_size, r, w, streamed);                // device side of the staging
  b += w * sizeof(float) + r * w * sizeof(float);                    // centre, scaled references
  if (q > 0) b += k * q * (sizeof(std::uint64_t) + sizeof(double));  // count sketch partials, sums
  if (s.gram) b += k * k * (sizeof(float) + sizeof(double) * (1 + s.subsets));
  b += k * r * (sizeof(float) + sizeof(double)) + r * r * sizeof(double) + r * 2 * sizeof(double);
  b += k * 128 + 4096;                            // per-row vectors and counts, row tables
  b += s.subset_columns * sizeof(std::uint64_t);  // subset indices (shared; counted per stream)
  if (s.gram) {
    b += (k + kernels::kCentreRowChunk - 1) / kernels::kCentreRowChunk * w *
         sizeof(double);  // centre's row-chunk sums
    b += std::max<std::size_t>(1, r * r) * kReductionScratchBlocks *
         sizeof(double);  // dot products' block sums
  }
  b += r * kReductionScratchBlocks * sizeof(float);  // references' block maxima
  return b;
}

std::size_t aggregate_stream_bytes(const AggregateShape& s, std::size_t w, bool streamed) {
  std::size_t b = staging_bytes(s.k, s.elem_size, s.r, w, streamed);
  if (s.mixed)
    b += (s.k + s.r) * w * sizeof(float) + s.m * w * sizeof(float) +
         s.m * (s.k + s.r) * sizeof(float);
  b += w * sizeof(float);              // the output tile
  b += (s.k + s.r + s.m) * 32 + 4096;  // row tables, coefficients
  return b;
}

Plan plan_pass(std::size_t input_bytes, bool input_on_device, std::size_t budget,
               std::size_t requested_w, std::size_t d, std::size_t streams,
               const std::function<std::size_t(std::size_t w, bool streamed)>& stream_bytes,
               const std::function<std::size_t(std::size_t w)>& auto_w, std::size_t min_w,
               bool allow_copy) {
  FEDGUARD_EXPECTS(streams >= 1, "the CUDA backend needs at least one stream");
  Plan plan;
  plan.streams = streams;
  const std::size_t w0 = std::max<std::size_t>(
      1, requested_w ? std::min(requested_w, std::max<std::size_t>(d, 1)) : auto_w(d));
  min_w = std::min(min_w, w0);
  if (input_on_device) {
    plan.placement = Placement::kDevice;
  } else {
    const std::size_t probe = std::min<std::size_t>(w0, 4096);
    const std::size_t work = streams * stream_bytes(probe, false);
    const bool fits = allow_copy && input_bytes <= budget && work <= budget - input_bytes;
    plan.placement = fits ? Placement::kCopied : Placement::kStreamed;
  }
  const bool streamed = plan.placement == Placement::kStreamed;
  plan.resident_bytes = plan.placement == Placement::kCopied ? input_bytes : 0;
  std::size_t w = w0;
  auto total = [&](std::size_t width) {
    return plan.resident_bytes + streams * stream_bytes(width, streamed);
  };
  while (total(w) > budget && w > min_w) w = std::max(min_w, w / 2);
  if (total(w) > budget) {
    FEDGUARD_THROW(kOutOfMemory, "CUDA backend: a "
                                     << placement_name(plan.placement) << " pass over d=" << d
                                     << " needs " << total(w) << " bytes of device memory with the"
                                     << " narrowest tile (" << w << " columns, " << streams
                                     << " streams) but may use " << budget
                                     << " (free memory or FEDGUARD_CUDA_MEMORY_LIMIT)");
  }
  plan.tile_columns = w;
  plan.workspace_bytes = streams * stream_bytes(w, streamed);
  return plan;
}

std::vector<TileTask> tile_schedule(std::size_t d, std::size_t w, std::size_t streams) {
  std::vector<TileTask> tasks;
  if (d == 0 || w == 0 || streams == 0) return tasks;
  for (std::size_t col0 = 0, i = 0; col0 < d; col0 += w, ++i)
    tasks.push_back(TileTask{i, col0, std::min(w, d - col0), i % streams});
  return tasks;
}

void run_with_oom_retry(
    std::size_t w, std::size_t min_w, const std::function<void(std::size_t w)>& attempt,
    const std::function<void(std::size_t w_next, const std::string& why)>& on_retry) {
  min_w = std::max<std::size_t>(1, std::min(min_w, w));
  std::ostringstream tried;
  for (;;) {
    try {
      attempt(w);
      return;
    } catch (const Error& e) {
      if (e.category() != ErrorCategory::kOutOfMemory) throw;
      tried << (tried.tellp() > 0 ? ", " : "") << w;
      if (w <= min_w)
        FEDGUARD_THROW(kOutOfMemory, "CUDA backend out of device memory with tile widths "
                                         << tried.str() << " columns; last failure: " << e.what());
      const std::size_t next = std::max(min_w, w / 2);
      if (on_retry) on_retry(next, e.what());
      w = next;
    }
  }
}

std::size_t parse_memory_limit(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::size_t j = i;
  while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
  FEDGUARD_EXPECTS(
      j > i,
      "FEDGUARD_CUDA_MEMORY_LIMIT must be a byte count with an optional K/M/G/T suffix, got \""
          << text << "\"");
  unsigned long long value = 0;
  try {
    value = std::stoull(text.substr(i, j - i));
  } catch (const std::exception&) {
    FEDGUARD_THROW(kInvalidInput, "FEDGUARD_CUDA_MEMORY_LIMIT is out of range: \"" << text << "\"");
  }
  unsigned shift = 0;
  if (j < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[j]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        FEDGUARD_THROW(kInvalidInput,
                       "FEDGUARD_CUDA_MEMORY_LIMIT has an unknown suffix: \"" << text << "\"");
    }
    ++j;
    if (j < text.size() && std::toupper(static_cast<unsigned char>(text[j])) == 'B')
      ++j;  // "512MB"
  }
  while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
  FEDGUARD_EXPECTS(j == text.size(),
                   "FEDGUARD_CUDA_MEMORY_LIMIT has trailing characters: \"" << text << "\"");
  FEDGUARD_EXPECTS(value <= (std::numeric_limits<std::size_t>::max() >> shift),
                   "FEDGUARD_CUDA_MEMORY_LIMIT is out of range: \"" << text << "\"");
  return static_cast<std::size_t>(value) << shift;
}

std::size_t memory_limit_from_env() {
  const char* v = std::getenv("FEDGUARD_CUDA_MEMORY_LIMIT");
  if (v == nullptr || *v == '\0') return 0;
  return parse_memory_limit(v);
}

}  // namespace fedguard::backend::cuda_plan

namespace fedguard::backend {

std::string cuda_last_plan(const Backend& backend) { return backend.last_plan(); }

GramPrecision gram_precision(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return GramPrecision::kFp32;
    case Precision::kTf32:
      return GramPrecision::kTf32;
    case Precision::kBf16:
      return GramPrecision::kBf16;
  }
  FEDGUARD_THROW(kInvalidInput, "config \"precision\" holds no known precision ("
                                    << static_cast<int>(precision) << ")");
}

}  // namespace fedguard::backend
