// The coordinate-wise statistics pass 2 computes: chosen by a rule (rules/), computed by a
// backend. Apart from backend.h so that rules name the statistic without the Backend interface.
#pragma once

namespace fedguard::backend {

/// Per-column statistic of pass 2's coordinate-wise rules.
enum class ColumnStatistic {
  kMedian,       ///< middle value; the mean of the two middle values for an even count
  kTrimmedMean,  ///< drop `param` smallest and `param` largest, average the rest
  kBulyanMean,   ///< average of the `param` values closest to the median (ties: smaller value)
};

}  // namespace fedguard::backend
