// Pass 1's step 3 on the CPU (scan_cpu.cc): eight rows of a tile centred and written transposed,
// with each row's float64 projection on the centre and its largest |value|.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/lane_isa.h"

namespace fedguard::backend::cpu {

/// Rows per call.
constexpr std::size_t kCentreGroup = 8;

/// Row i (of the eight) is rows[i], kept where keep[i] (else its values are 0, as a row found
/// non-finite or a padding row must be); per row i and column j < w:
///   t[j * ldt + i] = v_j = x_j - c_j,  mx[i] = max_j |v_j|,  proj[i] = sum_j c_j v_j (float64),
/// c = centre (centre64: the same values as doubles). proj's order: the columns in order,
/// alternately into two sums (j even, j odd; the columns past the last full group of eight into
/// the even one), then even + odd. Every instruction set gives the same bits.
void centre_transpose(LaneIsa isa, const float* const rows[kCentreGroup],
                      const std::uint8_t keep[kCentreGroup], const float* centre,
                      const double* centre64, std::size_t w, float* t, std::size_t ldt,
                      double proj[kCentreGroup], float mx[kCentreGroup]);

}  // namespace fedguard::backend::cpu
