// Scratch matrices the detection stage reuses from round to round.
//
// At m = 1000 clients the stage fills about eight m x m float64 matrices (8 MB each). Freshly
// allocated, each is first zeroed by std::vector and then faulted in page by page, on one
// thread: 13 of the stage's 60 ms at n = 1000 (2026-12-04, Xeon; the same rounds with glibc's
// trim and mmap thresholds raised took 47 ms). The engine keeps one Workspace between rounds
// and the stage takes its matrices from it, so that after the first round they are memory the
// process already holds. A cap bounds what is kept (kDefaultCapBytes): a federation of several
// thousand clients does not keep gigabytes between rounds, it pays the faults instead.
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::detection {

class Workspace {
 public:
  static constexpr std::size_t kDefaultCapBytes = std::size_t{256} << 20;

  explicit Workspace(std::size_t cap_bytes = kDefaultCapBytes) : cap_bytes_(cap_bytes) {}

  /// A vector of n values with unspecified contents (the caller writes every one it reads):
  /// a kept one when one has the capacity, else a new one.
  std::vector<double> take(std::size_t n);
  /// Keeps v's memory for a later take() while the total kept stays under the cap.
  void give(std::vector<double>&& v);

  std::size_t kept_bytes() const;
  std::size_t kept_count() const { return spare_.size(); }

 private:
  std::size_t cap_bytes_;
  std::vector<std::vector<double>> spare_;
};

/// take() from ws, or a new vector without one.
inline std::vector<double> take_from(Workspace* ws, std::size_t n) {
  return ws ? ws->take(n) : std::vector<double>(n);
}

/// give() to ws when there is one (else v is freed).
inline void give_to(Workspace* ws, std::vector<double>&& v) {
  if (ws) ws->give(std::move(v));
}

}  // namespace fedguard::detection
