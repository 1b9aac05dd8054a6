#include "detection/history_group.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/median.h"
#include "detection/robust.h"
#include "fedguard/error.h"

namespace fedguard::detection {
namespace {

constexpr double kMaxDistance = 2;

struct Candidate {
  double score = 0;
  std::size_t g = 0;
};

// The log distances to the (g - 1)-th nearest neighbour: row g - 2 of `near`, m values.
const double* column(const std::vector<double>& near, std::size_t m, std::size_t g) {
  return near.data() + (g - 2) * m;
}

// Their robust location (work: m values, overwritten).
Location column_location(const std::vector<double>& near, std::size_t m, std::size_t g,
                         std::vector<double>& work) {
  std::copy_n(column(near, m, g), m, work.begin());
  return robust_location_in_place(work, kHistoryGroupScaleFloor);
}

// Their robust z into z (lower tail: negative for a client closer than usual), the values
// into u.
void log_distance_z(const std::vector<double>& near, std::size_t m, std::size_t g,
                    std::vector<double>& u, std::vector<double>& work, std::vector<double>& z) {
  std::copy_n(column(near, m, g), m, u.begin());
  const Location at = column_location(near, m, g, work);
  for (std::size_t a = 0; a < m; ++a) z[a] = robust_z(u[a], at);
}

// The clients ordered by how far they are in the lower tail (ties by position): in `order`,
// the g first in some order (the group), then the (g + 1)-th; returns the g-th (the group's
// member least far in the tail).
std::size_t first_in_tail(const std::vector<double>& z, std::size_t g,
                          std::vector<std::size_t>& order) {
  std::iota(order.begin(), order.end(), 0);
  const auto closer = [&](std::size_t x, std::size_t y) {
    return z[x] < z[y] || (z[x] == z[y] && x < y);
  };
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(g), order.end(),
                   closer);
  return *std::max_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(g), closer);
}

}  // namespace

HistoryGroup history_group_of_distances(const std::vector<double>& rho, std::size_t m,
                                        double min_score, std::size_t max_group, int threads,
                                        Workspace* ws) {
  FEDGUARD_EXPECTS(m >= kMinClients && rho.size() == m * m,
                   "history group: " << rho.size() << " distances for " << m
                                     << " clients (needs m x m, m >= " << kMinClients << ")");
  HistoryGroup out;
  out.values.name = "history_group";
  out.values.tail = Tail::kLower;
  out.values.calibration_n = m;
  const std::size_t top = std::min(max_group, m - 1);  // largest g scored
  // Each client's nearest top - 1 distances (the (g - 1)-th for every g scored), as logs, in
  // ascending order, stored by neighbour rank (row g - 2: every client's (g - 1)-th, read whole
  // for each g); NaN counts as the largest normalised distance there is (2: ||x - y|| <=
  // ||x|| + ||y|| <= 2 sqrt((||x||^2 + ||y||^2) / 2)), identical histories as
  // kHistoryGroupMinDistance. Clients eight at a time, so that the transposed store writes
  // whole cache lines.
  const std::size_t width = std::max<std::size_t>(top, kHistoryGroupMinSize) - 1;
  std::vector<double> near = take_from(ws, width * m);
  const int workers = m < 128 ? 1 : threads > 0 ? threads : omp_get_max_threads();
  constexpr std::size_t kBlock = 8;
  const std::size_t blocks = (m + kBlock - 1) / kBlock;
#pragma omp parallel num_threads(workers)
  {
    std::vector<double> row(m - 1), block(kBlock * width);
#pragma omp for schedule(static)
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      const std::size_t first = blk * kBlock, last = std::min(m, first + kBlock);
      for (std::size_t a = first; a < last; ++a) {
        std::size_t j = 0;
        for (std::size_t b = 0; b < m; ++b) {
          if (b == a) continue;
          const double r = rho[a * m + b];
          row[j++] =
              std::isnan(r) ? kMaxDistance : std::clamp(r, kHistoryGroupMinDistance, kMaxDistance);
        }
        // The width nearest, then in order (a selection and a sort of the width: cheaper than a
        // partial sort when the width is half the row; both branchless, common/median.h, which
        // halved this loop against std::nth_element and std::sort at m = 1000).
        select_in_place(row.data(), m - 1, width - 1);
        sort_in_place(row.data(), width - 1);
        for (std::size_t q = 0; q < width; ++q) block[(a - first) * width + q] = std::log(row[q]);
      }
      for (std::size_t q = 0; q < width; ++q)
        for (std::size_t a = first; a < last; ++a) near[q * m + a] = block[(a - first) * width + q];
    }
  }
  // Each group size on its own (one writer per g), the best chosen after in order of g, so
  // the result does not depend on the team.
  const double min_z =
      std::max(kHistoryGroupMinZ, calibrated_cut(kHistoryGroupBudget, m, /*two_sided=*/false));
  std::vector<Candidate> scored(top + 1);
  if (top >= kHistoryGroupMinSize) {
#pragma omp parallel num_threads(workers)
    {
      std::vector<double> work(m);
#pragma omp for schedule(dynamic, 8)
      for (std::size_t g = kHistoryGroupMinSize; g <= top; ++g) {
        // The z of the g-th and (g + 1)-th closest clients. z increases with the distance (its
        // scale is floored above zero): they are the z of the g-th and (g + 1)-th smallest
        // distances, found by one selection (the clients' order is needed for the best g only,
        // below; sorting positions by z for every g took most of this loop).
        const Location at = column_location(near, m, g, work);
        std::copy_n(column(near, m, g), m, work.begin());
        select_in_place(work.data(), m, g);
        const double gth =
            *std::max_element(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(g));
        const double last = -robust_z(gth, at), next = -robust_z(work[g], at);
        // Members: past the per-client cut, or past the cut that g of the m clients reach with
        // probability at most the budget (the order statistic's cut, calibrated_group_cut) and
        // kHistoryGroupOrderFloor: a coalition's weaker members sit short of the per-client cut
        // while the group as a whole is far past what g honest clients reach.
        if (!(last >= min_z) && !(last >= kHistoryGroupOrderFloor &&
                                  last >= calibrated_group_cut(g, m, kHistoryGroupBudget)))
          continue;
        // The gap's excess over 1 counts in proportion to the group's size, relative to the
        // smallest group: g clients alike, all past the member cut and then a break, are
        // stronger evidence the larger g is. Not only for tight groups, as in `spectral_group`:
        // a coalition's members differ in how close they are (their own data's share); with the
        // tight requirement (g-th z at least half the first) ten backdoored clients scaled to
        // half their norm (Dirichlet 0.5, the oracle matrix's seed 3) fired in 2 of 100 logged
        // rounds, without it in 19, and with the members' order-statistic cut too in 90
        // (2026-12-05).
        const double gap = last / std::max(next, 1.0);
        scored[g] = {
            1 + (gap - 1) * static_cast<double>(g) / static_cast<double>(kHistoryGroupMinSize), g};
      }
    }
  }
  for (std::size_t g = kHistoryGroupMinSize; g <= top; ++g)
    if (scored[g].score > out.score) {
      out.score = scored[g].score;
      out.size = g;
    }
  // The values at the best group's size (or the smallest), and its members.
  const std::size_t g = out.size ? out.size : std::min<std::size_t>(kHistoryGroupMinSize, m - 1);
  std::vector<double> u(m), work(m), z(m);
  log_distance_z(near, m, g, u, work, z);
  out.values.value.resize(m);
  for (std::size_t a = 0; a < m; ++a) out.values.value[a] = std::exp(u[a]);
  out.values.z = z;
  if (out.size && out.score >= min_score) {
    std::vector<std::size_t> order(m);
    (void)first_in_tail(z, out.size, order);
    out.group.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(out.size));
    std::sort(out.group.begin(), out.group.end());
  }
  give_to(ws, std::move(near));
  return out;
}

}  // namespace fedguard::detection
