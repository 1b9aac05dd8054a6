// Bad input for every detector: NaN/Inf rows never reach the aggregate, and a round below the
// detector's minimum n fails with the numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/engine_runner.h"

namespace fedguard::test {
namespace {

struct Case {
  const char* policy;
  std::size_t below_minimum;  // a round size the detector must refuse
  const char* needs;          // text of its error
};

TEST(DetectorsBadInput, NonFiniteRowsAreRejectedAndTooFewClientsFail) {
  const std::vector<Case> cases = {
      {R"({"aggregator": {"rule": "dnc", "f": 3}})", 3, "dnc with f=3"},
      {R"({"filters": [{"rule": "pca_outlier", "k": 2}], "aggregator": {"rule": "mean"}})", 3,
       "pca_outlier with k=2 needs n >= k+2 = 4"},
      {R"({"aggregator": {"rule": "flame", "lambda": 0}})", 1, "flame needs at least 2 clients"},
      {R"({"aggregator": {"rule": "foolsgold"}})", 1, "foolsgold needs at least 2 clients"},
      {R"({"aggregator": {"rule": "signguard"}})", 0, ""},
      {R"({"aggregator": {"rule": "fltrust"}})", 0, ""},
  };
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 14, d = 64;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  std::vector<float> data = to_floats(x);
  data[2 * d + 5] = std::numeric_limits<float>::quiet_NaN();
  data[9 * d] = std::numeric_limits<float>::infinity();
  // Client 0's own update as the server reference: at least one positive cosine, always.
  std::vector<float> reference(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(d));
  for (const Case& c : cases) {
    Engine e = make_engine(c.policy);
    RoundInput in;
    in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
    in.reference = reference.data();
    RoundResult r;
    try {
      r = e.process_round(in);
    } catch (const Error& err) {
      ADD_FAILURE() << c.policy << ": " << err.what();
      continue;
    }
    EXPECT_EQ(r.reasons.at(2), "non_finite") << c.policy;
    EXPECT_EQ(r.reasons.at(9), "non_finite") << c.policy;
    EXPECT_EQ(r.weights[2], 0.0) << c.policy;
    for (float v : r.aggregate) ASSERT_TRUE(std::isfinite(v)) << c.policy;
    if (c.below_minimum == 0) continue;
    Engine small = make_engine(c.policy);
    RoundInput few;
    few.updates = UpdateView(data.data() + 10 * d, c.below_minimum, d, DType::kFloat32);
    try {
      small.process_round(few);
      ADD_FAILURE() << c.policy << " accepted " << c.below_minimum << " clients";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(c.needs), std::string::npos) << err.what();
      EXPECT_NE(std::string(err.what()).find("clients in the round"), std::string::npos)
          << err.what();
    }
    EXPECT_EQ(small.rounds_processed(), 0u);
  }
}

}  // namespace
}  // namespace fedguard::test
