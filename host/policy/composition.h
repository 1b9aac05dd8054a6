// A policy's composition checked from the rules' declared traits (rules/registry.cc), building
// no rule: what EngineConfig::validate and the Policy constructor share.
#pragma once

#include "fedguard/config.h"

namespace fedguard::policy {

/// Every rule name is registered, each rule can play the role of its slot (filters, transforms,
/// aggregator), and a filter declared last_filter is the last filter in intersect mode. Throws
/// kInvalidInput naming the rule ("rule 'mean' cannot serve as a filter").
void check_composition(const EngineConfig& config);

}  // namespace fedguard::policy
