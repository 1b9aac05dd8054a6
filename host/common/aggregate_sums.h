// The monitoring sums of a round's aggregate (docs/monitoring.md): its squared norm, the previous
// aggregate's, and their dot product, in float64, by blocks of kAggregateSumBlock values whose
// sums are added in block order (the same bits on any team), and the state's copy of the
// aggregate written by the same pass (the aggregate is read once). The monitoring stage's kernel
// (monitor/metrics.cc); on the bottom floor so that a pass of the backends could take the same
// sums in the same order (tried for the CPU's linear pass 2, not kept: docs/ARCHITECTURE.md).
#pragma once

#include <cstddef>

namespace fedguard::common {

/// Values per block (the unit of the block order and of the work given to a thread).
constexpr std::size_t kAggregateSumBlock = std::size_t{1} << 16;
/// Doubles per block in a block-sum array: a a (4 lanes), p p (4), a p (4).
constexpr std::size_t kAggregateSumWidth = 12;

/// One block's sums into out[0, 12) (overwritten): lane l takes the values j = l (mod 4) in j
/// order, a product then a sum, the last w mod 4 values into lane 0. p may be null (then only
/// a a is summed and the other eight stay 0). Where `copy` is not null, a[0, w) is also written
/// there, with streaming stores where aligned: the copy is for the next round.
void aggregate_block_sums(const float* a, const float* p, std::size_t w, float* copy, double* out);

struct AggregateSums {
  double aa = 0, pp = 0, ap = 0;
};

/// The blocks' sums (blocks x kAggregateSumWidth doubles) added in block order, then the lanes as
/// (0 + 1) + (2 + 3).
AggregateSums add_block_sums(const double* blocks, std::size_t count);

}  // namespace fedguard::common
