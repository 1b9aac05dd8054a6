// The optimisation shared by Min-Max and Min-Sum (Shejwalkar & Houmansadr, NDSS'21; see
// min_max.cc and min_sum.cc).
#pragma once

#include "attacks/attack.h"

namespace fedguard::attacks {

enum class AgrObjective { kMinMax, kMinSum };

AttackOutput agr_agnostic_attack(const char* name, AgrObjective objective, Params& p,
                                 const AttackInput& in);

}  // namespace fedguard::attacks
