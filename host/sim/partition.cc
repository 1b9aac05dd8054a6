#include "sim/partition.h"

#include <algorithm>
#include <cmath>

#include "fedguard/error.h"
#include "sim/random.h"

namespace fedguard::sim {

std::vector<std::vector<std::uint32_t>> dirichlet_split(const std::vector<std::uint8_t>& labels,
                                                        const std::vector<std::uint32_t>& indices,
                                                        std::size_t clients, std::size_t classes,
                                                        double alpha, std::size_t min_per_client,
                                                        std::uint64_t seed) {
  FEDGUARD_EXPECTS(clients >= 1, "dirichlet_split: need at least one client");
  FEDGUARD_EXPECTS(std::isfinite(alpha) && alpha > 0,
                   "dirichlet_split: alpha must be > 0, got " << alpha);
  FEDGUARD_EXPECTS(indices.size() >= clients * min_per_client,
                   "dirichlet_split: " << indices.size() << " samples cannot give " << clients
                                       << " clients " << min_per_client << " samples each");
  std::vector<std::vector<std::uint32_t>> by_class(classes);
  for (const std::uint32_t i : indices) {
    FEDGUARD_EXPECTS(i < labels.size() && labels[i] < classes,
                     "dirichlet_split: sample " << i << " has no label below " << classes);
    by_class[labels[i]].push_back(i);
  }
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Rng rng(derive_seed(seed, 0xd1c41e7, static_cast<std::uint64_t>(attempt)));
    std::vector<std::vector<std::uint32_t>> parts(clients);
    std::vector<double> p(clients);
    for (std::size_t k = 0; k < classes; ++k) {
      std::vector<std::uint32_t> members = by_class[k];
      rng.shuffle(members);
      double total = 0;
      for (auto& v : p) total += (v = rng.gamma(alpha));
      // Cut points from the cumulative proportions; the last client takes the remainder, so
      // every sample is assigned once whatever the rounding.
      double cumulative = 0;
      std::size_t start = 0;
      for (std::size_t c = 0; c < clients; ++c) {
        cumulative += p[c] / total;
        const std::size_t end =
            c + 1 == clients
                ? members.size()
                : std::min(members.size(), static_cast<std::size_t>(std::llround(
                                               cumulative * static_cast<double>(members.size()))));
        for (std::size_t j = start; j < std::max(start, end); ++j) parts[c].push_back(members[j]);
        start = std::max(start, end);
      }
    }
    bool ok = true;
    for (const auto& part : parts) ok = ok && part.size() >= min_per_client;
    if (!ok) continue;
    for (auto& part : parts) std::sort(part.begin(), part.end());
    return parts;
  }
  FEDGUARD_THROW(kInvalidInput, "dirichlet_split: no draw in 1000 gave every one of "
                                    << clients << " clients at least " << min_per_client
                                    << " samples (alpha=" << alpha
                                    << "); raise alpha or lower the minimum");
}

void apply_trigger(std::uint8_t* image, std::size_t rows, std::size_t cols,
                   const Trigger& trigger) {
  FEDGUARD_EXPECTS(trigger.size >= 1 && trigger.size + trigger.margin <= rows &&
                       trigger.size + trigger.margin <= cols,
                   "trigger of size " << trigger.size << " with margin " << trigger.margin
                                      << " does not fit a " << rows << "x" << cols << " image");
  const std::size_t r0 = rows - trigger.margin - trigger.size;
  const std::size_t c0 = cols - trigger.margin - trigger.size;
  for (std::size_t r = r0; r < r0 + trigger.size; ++r)
    for (std::size_t c = c0; c < c0 + trigger.size; ++c) image[r * cols + c] = trigger.value;
}

}  // namespace fedguard::sim
