// Device-independent planning for the CUDA backend: where the updates live during a round,
// how wide a column tile is, how tiles map to streams, and the out-of-memory retry. Plain
// host code (no CUDA header), compiled in every build and unit-tested on the CPU
// (tests/backend/cuda_plan_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fedguard::backend::cuda_plan {

/// Where both passes read the updates from.
enum class Placement {
  kDevice,    ///< (a) the caller's view is already in device memory
  kCopied,    ///< (b) host updates copied once to the device; both passes read device memory
  kStreamed,  ///< (c) host updates streamed tile by tile through pinned buffers, every pass
};
const char* placement_name(Placement p);

/// Pass-1 shape: what one tile needs besides the updates themselves.
struct ScanShape {
  std::size_t k = 0;               ///< rows scanned
  std::size_t d = 0;               ///< columns
  std::size_t elem_size = 4;       ///< bytes per input element (4 float32, 2 float16 / bfloat16)
  std::size_t r = 0;               ///< reference vectors (host float32)
  std::size_t sketch_dim = 0;      ///< 0: no sketch
  std::size_t subsets = 0;         ///< column subsets (one Gram each)
  std::size_t subset_columns = 0;  ///< their total length (the index list lives on the device)
  bool gram = true;
  bool bf16 = false;  ///< bf16 Gram: one more half-size copy of the tile
};

/// Pass-2 shape (coordinate-wise or linear).
struct AggregateShape {
  std::size_t k = 0;  ///< source rows
  std::size_t d = 0;
  std::size_t elem_size = 4;
  std::size_t r = 0;  ///< references
  std::size_t m = 0;  ///< rows the statistic runs over (mixed rows; k without mixing)
  bool mixed = false;
};

/// Device bytes one stream needs for a pass-1 tile of w columns (tile, products, accumulators,
/// staging when streamed). Accumulators (float64) are per stream.
std::size_t scan_stream_bytes(const ScanShape& s, std::size_t w, bool streamed);
/// Device bytes one stream needs for a pass-2 tile of w columns.
std::size_t aggregate_stream_bytes(const AggregateShape& s, std::size_t w, bool streamed);
/// Pinned host bytes one stream slot needs to stage a tile of w columns (k rows of the input
/// dtype when streamed, plus r float32 reference rows).
std::size_t staging_bytes(std::size_t k, std::size_t elem_size, std::size_t r, std::size_t w,
                          bool streamed);

// The automatic tile width is backend::auto_tile_columns(k, d, kCudaTile)
// (host/backend/backend.h), written once for both backends.

struct Plan {
  Placement placement = Placement::kStreamed;
  std::size_t tile_columns = 0;
  std::size_t streams = 2;
  std::size_t resident_bytes = 0;   ///< the device copy of the updates (kCopied)
  std::size_t workspace_bytes = 0;  ///< all streams' tile workspaces
};

/// Chooses the placement and the tile width (`allow_copy` false: host input is always
/// streamed, for passes that read it once anyway). `budget` is the device memory the backend may
/// use (free memory, capped by the memory limit); `requested_w` 0 means automatic. Prefers the
/// cheapest placement that fits: kDevice when the input is there, else kCopied when the copy
/// plus a workspace of at least min(w, 4096) columns fits in the budget, else kStreamed. The
/// tile width is halved until the workspace fits; `min_w` columns that still do not fit give
/// an out-of-memory error naming the numbers.
Plan plan_pass(std::size_t input_bytes, bool input_on_device, std::size_t budget,
               std::size_t requested_w, std::size_t d, std::size_t streams,
               const std::function<std::size_t(std::size_t w, bool streamed)>& stream_bytes,
               const std::function<std::size_t(std::size_t w)>& auto_w, std::size_t min_w = 64,
               bool allow_copy = true);

/// One tile of the schedule: tile i covers columns [col0, col0 + width), runs on stream
/// i % streams and uses staging slot i % streams, which it may refill only after tile i - streams
/// released it. Accumulators are per stream and summed in stream order at the end, so the
/// result depends on (tile width, streams) but never on timing.
struct TileTask {
  std::size_t index = 0, col0 = 0, width = 0, stream = 0;
};
std::vector<TileTask> tile_schedule(std::size_t d, std::size_t w, std::size_t streams);

/// Runs attempt(w); when it throws fedguard::Error of category kOutOfMemory, halves w (not
/// below min_w) and tries again. Gives up with kOutOfMemory saying the widths tried and the
/// last failure. `on_retry(w_next, message)` is told about each fallback (logging).
void run_with_oom_retry(
    std::size_t w, std::size_t min_w, const std::function<void(std::size_t w)>& attempt,
    const std::function<void(std::size_t w_next, const std::string& why)>& on_retry = {});

/// The memory cap from FEDGUARD_CUDA_MEMORY_LIMIT ("0" or unset: none). Accepts a byte count
/// with an optional K, M, G or T suffix (powers of 1024), e.g. "512M". Throws on garbage.
std::size_t parse_memory_limit(const std::string& text);
std::size_t memory_limit_from_env();

}  // namespace fedguard::backend::cuda_plan
