// The backend base: request validation and the automatic tile width, once for every backend.
#include "backend/backend.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "fedguard/error.h"

namespace fedguard::backend {
namespace {

void validate_rows(const UpdateView* updates, const std::vector<std::size_t>& rows,
                   const char* what) {
  FEDGUARD_EXPECTS(updates != nullptr, what << ": no updates");
  const std::size_t n = updates->rows();
  for (std::size_t i = 0; i < rows.size(); ++i)
    FEDGUARD_EXPECTS(rows[i] < n, what << ": row " << rows[i] << " (position " << i << ") of " << n
                                       << " updates");
}

void validate_references(const std::vector<const float*>& references, const char* what) {
  for (std::size_t i = 0; i < references.size(); ++i)
    FEDGUARD_EXPECTS(references[i] != nullptr, what << ": reference " << i << " is null");
}

}  // namespace

void validate(const ScanRequest& request) {
  validate_rows(request.updates, request.rows, "scan");
  validate_references(request.references, "scan");
  const std::size_t d = request.updates->cols();
  // The bucket is a multiply-shift of 32 hash bits (kernels::count_sketch_bucket).
  FEDGUARD_EXPECTS(request.sketch_dim <= (std::uint64_t{1} << 32),
                   "scan: sketch_dim " << request.sketch_dim << " exceeds 2^32");
  for (std::size_t s = 0; s < request.column_subsets.size(); ++s) {
    const auto& cols = request.column_subsets[s];
    for (std::size_t i = 0; i < cols.size(); ++i) {
      FEDGUARD_EXPECTS(cols[i] < d,
                       "scan: column subset " << s << " holds column " << cols[i] << " >= d=" << d);
      FEDGUARD_EXPECTS(
          i == 0 || cols[i - 1] < cols[i],
          "scan: column subset " << s << " is not sorted and distinct at position " << i);
    }
  }
}

void validate(const LinearAggregateRequest& request) {
  validate_rows(request.updates, request.rows, "aggregate_linear");
  validate_references(request.references, "aggregate_linear");
  FEDGUARD_EXPECTS(request.coefficients.size() == request.rows.size(),
                   "aggregate_linear: " << request.coefficients.size() << " coefficients for "
                                        << request.rows.size() << " rows");
  FEDGUARD_EXPECTS(request.reference_coefficients.size() == request.references.size(),
                   "aggregate_linear: " << request.reference_coefficients.size()
                                        << " reference coefficients for "
                                        << request.references.size() << " references");
}

std::size_t statistic_rows(const CoordinateAggregateRequest& request) {
  return request.mix.empty() ? request.rows.size() : request.mixed_rows;
}

void validate(const CoordinateAggregateRequest& request) {
  validate_rows(request.updates, request.rows, "aggregate_coordinatewise");
  const bool mixed = !request.mix.empty();
  if (mixed) validate_references(request.references, "aggregate_coordinatewise");
  const std::size_t k = request.rows.size(), r = mixed ? request.references.size() : 0;
  const std::size_t m = statistic_rows(request);
  FEDGUARD_EXPECTS(m > 0, "coordinate-wise aggregation over zero rows");
  FEDGUARD_EXPECTS(
      !mixed || request.mix.size() == m * (k + r),
      "mixing matrix has " << request.mix.size() << " entries, expected " << m * (k + r));
  if (request.statistic == ColumnStatistic::kTrimmedMean)
    FEDGUARD_EXPECTS(2 * request.param < m,
                     "trimmed mean of " << m << " values with trim " << request.param);
  if (request.statistic == ColumnStatistic::kBulyanMean)
    FEDGUARD_EXPECTS(request.param >= 1 && request.param <= m,
                     "Bulyan mean of " << request.param << " of " << m << " values");
}

std::size_t Backend::max_statistic_rows(ColumnStatistic) const {
  return std::numeric_limits<std::size_t>::max();
}

ScanSummaries Backend::scan(const ScanRequest& request) {
  validate(request);
  return run_scan(request);
}

namespace {

// The statistic's request over every row of a scan request.
CoordinateAggregateRequest statistic_request(const ScanRequest& scan, ColumnStatistic statistic,
                                             std::size_t param) {
  CoordinateAggregateRequest r;
  r.updates = scan.updates;
  r.rows = scan.rows;
  r.statistic = statistic;
  r.param = param;
  r.tile_columns = scan.tile_columns;
  return r;
}

}  // namespace

ScanWithStatistic Backend::scan_with_statistic(const ScanRequest& request,
                                               ColumnStatistic statistic, std::size_t param,
                                               float* out) {
  validate(request);
  FEDGUARD_EXPECTS(!request.gram && request.sketch_dim == 0 && request.references.empty() &&
                       request.column_subsets.empty(),
                   "scan_with_statistic: the request wants more than the per-row summaries (gram "
                       << request.gram << ", sketch_dim " << request.sketch_dim << ", "
                       << request.references.size() << " references, "
                       << request.column_subsets.size() << " column subsets)");
  if (!request.rows.empty()) validate(statistic_request(request, statistic, param));
  FEDGUARD_EXPECTS(out != nullptr || request.rows.empty(), "scan_with_statistic: no output");
  return run_scan_with_statistic(request, statistic, param, out);
}

ScanWithStatistic Backend::run_scan_with_statistic(const ScanRequest& request,
                                                   ColumnStatistic statistic, std::size_t param,
                                                   float* out) {
  ScanWithStatistic s{run_scan(request), false};
  if (request.rows.empty() || std::find(s.summaries.finite.begin(), s.summaries.finite.end(), 0) !=
                                  s.summaries.finite.end())
    return s;
  run_aggregate_coordinatewise(statistic_request(request, statistic, param), out);
  s.statistic = true;
  return s;
}

void Backend::aggregate_linear(const LinearAggregateRequest& request, float* out) {
  validate(request);
  run_aggregate_linear(request, out);
}

void Backend::aggregate_coordinatewise(const CoordinateAggregateRequest& request, float* out) {
  validate(request);
  run_aggregate_coordinatewise(request, out);
}

std::size_t auto_tile_columns(std::size_t n, std::size_t d, const TileTarget& target) {
  const std::size_t q = target.quantum;
  const std::size_t rows = std::max<std::size_t>(n, 1);
  std::size_t w = target.floats / rows;
  if (w < target.min_columns)
    w = std::min(target.min_columns, std::max(target.max_floats, target.floats) / rows);
  w = std::min({w, target.max_columns, (std::size_t{1} << 31) / rows});
  w = std::max(q, w / q * q);
  const std::size_t d_up = (std::max<std::size_t>(d, 1) + q - 1) / q * q;
  return std::min(w, d_up);
}

}  // namespace fedguard::backend
