// The response signal; see response.h for the source and the departure.
#include "detection/response.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detection/robust.h"

namespace fedguard::detection {

double response_cosine(const double* now, const double* before, const double* model_change,
                       std::size_t k) {
  double dd = 0, gg = 0, dg = 0;
  for (std::size_t q = 0; q < k; ++q) {
    const double delta = now[q] - before[q], g = model_change[q];
    dd += delta * delta;
    gg += g * g;
    dg += delta * g;
  }
  if (!(dd > 0) || !(gg > 0) || !std::isfinite(dd) || !std::isfinite(gg) || !std::isfinite(dg))
    return std::numeric_limits<double>::quiet_NaN();
  return dg / (std::sqrt(dd) * std::sqrt(gg));
}

std::vector<double> round_response_z(const std::vector<double>& cosines) {
  std::vector<double> z(cosines.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> finite;
  for (double c : cosines)
    if (std::isfinite(c)) finite.push_back(c);
  if (finite.size() < kMinClients) return z;
  const Location at = robust_location(std::move(finite));
  if (!(at.scale > 0)) return z;
  for (std::size_t i = 0; i < cosines.size(); ++i)
    if (std::isfinite(cosines[i]))
      z[i] = std::clamp(robust_z(cosines[i], at), -kResponseZLimit, kResponseZLimit);
  return z;
}

SignalValues history_response_signal(const std::vector<double>& mean_response) {
  SignalValues s;
  s.name = "history_response";
  s.tail = Tail::kUpper;
  s.value = mean_response;
  const Location at = robust_location(mean_response, kResponseScaleFloor);
  s.z.resize(mean_response.size());
  for (std::size_t i = 0; i < mean_response.size(); ++i) s.z[i] = robust_z(mean_response[i], at);
  return s;
}

}  // namespace fedguard::detection
