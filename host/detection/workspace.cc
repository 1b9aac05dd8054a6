#include "detection/workspace.h"

#include <algorithm>
#include <utility>

namespace fedguard::detection {

std::vector<double> Workspace::take(std::size_t n) {
  // The smallest kept vector that holds n: the larger ones stay for the larger requests.
  auto best = spare_.end();
  for (auto it = spare_.begin(); it != spare_.end(); ++it)
    if (it->capacity() >= n && (best == spare_.end() || it->capacity() < best->capacity()))
      best = it;
  if (best == spare_.end()) return std::vector<double>(n);
  std::vector<double> v = std::move(*best);
  spare_.erase(best);
  // A kept vector's size is the last request's; resizing touches only the difference (a round
  // of the same size touches nothing).
  v.resize(n);
  return v;
}

void Workspace::give(std::vector<double>&& v) {
  const std::size_t bytes = v.capacity() * sizeof(double);
  if (bytes == 0 || kept_bytes() + bytes > cap_bytes_) return;  // v is freed by the caller
  spare_.push_back(std::move(v));
}

std::size_t Workspace::kept_bytes() const {
  std::size_t total = 0;
  for (const auto& v : spare_) total += v.capacity() * sizeof(double);
  return total;
}

}  // namespace fedguard::detection
