// The detection stage: runs the enabled signals over the round's clients, cuts each signal's
// robust z at the value its false-alarm budget allows at this round's size, and rejects the
// clients on which any signal fires (docs/detection.md).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "fedguard/config.h"
#include "fedguard/rejection.h"
#include "policy/gram_space.h"

namespace fedguard::detection {

struct Finding {
  std::size_t index = 0;  ///< into the clients given to detect()
  ReasonCode code = ReasonCode::kNormOutlier;  ///< the most specific signal that fired (norm, collusion, direction, sign, spectral)
  std::string detail;
  /// For every signal: "<signal>_z", "<signal>_cut" and "<signal>" (the raw statistic); for
  /// collusion also "collusion_group" (size of the near-duplicate group).
  std::map<std::string, double> values;
};

struct DetectionOutcome {
  std::vector<Finding> findings;  ///< the rejected clients, by index
  /// Per signal, the z of every client ("detect_norm", ...), for RoundResult::scores.
  std::map<std::string, std::vector<double>> scores;
  std::vector<std::string> notes;  ///< e.g. why detection did not run
};

/// Runs detection over the scanned positions `rows` (pass 1 with Gram products).
/// @param d the model size (the sign signal's scale floor)
DetectionOutcome detect(const DetectionSpec& spec, const policy::GramSpace& space, const std::vector<std::size_t>& rows,
                        std::size_t d);

}  // namespace fedguard::detection
