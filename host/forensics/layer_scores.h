// Layer-wise anomaly scores for forensics: which layers of a client's update are unusual.
// Per layer (a column range of the flattened update) and client:
//   median_distance  ||x_i[layer] - med[layer]|| / median_j ||x_j[layer] - med[layer]||, where
//                    med is the coordinate-wise median over the round's well-formed clients
//                    (about 1 for a typical client; large where a client departs from the crowd)
//   norm_z           the modified z-score (x - median) / (1.4826 MAD) of ||x_i[layer]|| over the
//                    clients (1.2533 x mean absolute deviation where the MAD is 0; 0 where both
//                    are)
// Rows that are not well formed (wrong length or dtype) or hold NaN/Inf in a layer get NaN there.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "fedguard/update_view.h"
#include "io/update_log.h"

namespace fedguard::forensics {

struct LayerScores {
  std::vector<std::string> layers;                   ///< layer names ("all" with no layout)
  std::vector<std::vector<double>> median_distance;  ///< [layer][client]
  std::vector<std::vector<double>> norm_z;           ///< [layer][client]
};

/// Streams the round's columns once in tiles; O(n d) work with a selection per column.
/// Host memory only. layers empty means one layer over all columns.
LayerScores compute_layer_scores(const UpdateView& updates,
                                 const std::vector<io::LayerRange>& layers,
                                 std::size_t tile_columns = 2048);

/// (x - median) / (1.4826 MAD) over the finite values, NaN kept; exposed for the tests.
std::vector<double> modified_z(const std::vector<double>& values);

}  // namespace fedguard::forensics
