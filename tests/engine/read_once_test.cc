// Rounds whose pass 2 the engine computes inside pass 1's read (a median or trimmed mean policy
// with nothing else: stages.cc, Backend::scan_with_statistic): the aggregate is the CPU
// backend's pass 2 over the clients the round keeps, bit for bit, and the float64 brute force's;
// when a client is rejected after the scan (NaN, Inf, all zeros) the speculation is dropped and
// pass 2 runs over the others; clients rejected before the scan never enter it. The round is
// large enough for the CPU backend to read once on an AVX2 or AVX-512 processor
// (reads_once_for_statistic); elsewhere the same checks hold for the two-pass path.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "backend/backend.h"
#include "support/engine_runner.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

struct Case {
  const char* name;
  const char* policy;
  backend::ColumnStatistic statistic;
  std::size_t param;
};

// The backend's pass 2 over the accepted rows (the engine's two-pass answer).
std::vector<float> two_pass(const std::vector<float>& data, std::size_t n, std::size_t d,
                            const RoundResult& r, const Case& c) {
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::CoordinateAggregateRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i)
    if (r.accepted[i]) req.rows.push_back(i);
  req.statistic = c.statistic;
  req.param = c.param;
  std::vector<float> out(d);
  backend::make_cpu_backend(1)->aggregate_coordinatewise(req, out.data());
  return out;
}

TEST(ReadOnce, TheAggregateIsPassTwoOverTheKeptClientsWhateverTheScanRejects) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 40, d = 100003;
  const bool once = backend::make_cpu_backend(0)->reads_once_for_statistic(n, d);
  SCOPED_TRACE(once ? "read once" : "two reads");
  const Case cases[] = {
      {"median", R"({"aggregator": {"rule": "median"}})", backend::ColumnStatistic::kMedian, 0},
      {"trimmed_mean", R"({"aggregator": {"rule": "trimmed_mean", "trim": 6}})",
       backend::ColumnStatistic::kTrimmedMean, 6},
  };
  // What the round does to its clients: nothing; a NaN, an Inf; an all-zero row; a client of
  // the wrong length (rejected before the scan, so the speculation still holds).
  enum Spoil { kNone, kNonFinite, kAllZero, kWrongLength };
  for (const Case& c : cases) {
    for (Spoil spoil : {kNone, kNonFinite, kAllZero, kWrongLength}) {
      SCOPED_TRACE(::testing::Message() << c.name << " spoil " << spoil);
      const Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
      std::vector<float> data = to_floats(x);
      std::vector<std::size_t> kept;
      std::vector<ClientUpdate> clients;
      for (std::size_t i = 0; i < n; ++i)
        clients.push_back({data.data() + i * d, d, DType::kFloat32});
      for (std::size_t i = 0; i < n; ++i) {
        const bool hit = (spoil == kNonFinite && (i == 3 || i == 29)) ||
                         ((spoil == kAllZero || spoil == kWrongLength) && i == 17);
        if (!hit) kept.push_back(i);
      }
      if (spoil == kNonFinite) {
        data[3 * d + 4000] = std::numeric_limits<float>::quiet_NaN();
        data[29 * d + 5] = -std::numeric_limits<float>::infinity();
      }
      if (spoil == kAllZero) std::fill(data.begin() + 17 * d, data.begin() + 18 * d, 0.0f);
      if (spoil == kWrongLength) clients[17].length = d - 1;
      RoundInput in;
      in.updates = UpdateView::per_client(clients, d, DType::kFloat32);
      Engine e = make_engine(c.policy);
      const RoundResult r = e.process_round(in);
      std::size_t accepted = 0;
      for (std::size_t i = 0; i < n; ++i) accepted += r.accepted[i];
      ASSERT_EQ(accepted, kept.size());
      const std::vector<float> want = two_pass(data, n, d, r, c);
      ASSERT_EQ(r.aggregate.size(), d);
      EXPECT_EQ(std::memcmp(r.aggregate.data(), want.data(), d * sizeof(float)), 0);
      const ref::Vec brute = c.statistic == backend::ColumnStatistic::kMedian
                                 ? ref::median(ref::rows(x, kept))
                                 : ref::trimmed_mean(ref::rows(x, kept), c.param);
      EXPECT_LT(ref::max_rel_diff(r.aggregate, brute), 1e-6);
      // The norms the result reports are pass 1's, speculation or not.
      for (std::size_t i : kept) {
        double sq = 0;
        for (std::size_t j = 0; j < d; ++j) sq += x[i][j] * x[i][j];
        EXPECT_NEAR(r.scores.at("norm")[i], std::sqrt(sq), 1e-9 * std::sqrt(sq));
      }
    }
  }
}

}  // namespace
}  // namespace fedguard::test
