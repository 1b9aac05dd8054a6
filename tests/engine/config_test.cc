#include <gtest/gtest.h>

#include "fedguard/fedguard.h"

namespace fedguard {
namespace {

TEST(Config, JsonRoundTrip) {
  const EngineConfig c = EngineConfig::from_json(
      R"({"backend": "cpu", "tile_columns": 256, "threads": 2, "duplicate_ids": "error",
          "filters": [{"rule": "multi_krum", "f": 4, "m": 12}],
          "transforms": [{"rule": "norm_clip", "max_norm": 5.5}],
          "aggregator": {"rule": "trimmed_mean", "trim": 2}})");
  EXPECT_EQ(c.backend, BackendKind::kCpu);
  EXPECT_EQ(c.tile_columns, 256u);
  EXPECT_EQ(c.duplicate_ids, DuplicateIdPolicy::kError);
  ASSERT_EQ(c.filters.size(), 1u);
  EXPECT_EQ(c.filters[0].params.at("m"), 12);
  EXPECT_EQ(c.aggregator.rule, "trimmed_mean");
  const EngineConfig back = EngineConfig::from_json_value(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(Config, DefaultsAreFedAvgOnAutoBackend) {
  const EngineConfig c = EngineConfig::from_json("{}");
  EXPECT_EQ(c.backend, BackendKind::kAuto);
  EXPECT_EQ(c.aggregator.rule, "mean");
  Engine e(c);
  EXPECT_EQ(e.backend_name(), "cpu");  // no CUDA backend yet: auto falls back to the CPU
}

TEST(Config, CudaBackendRequestIsAClearError) {
  try {
    Engine e(EngineConfig::from_json(R"({"backend": "cuda"})"));
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.category(), ErrorCategory::kUnsupported);
    EXPECT_NE(std::string(err.what()).find("cuda"), std::string::npos);
  }
}

}  // namespace
}  // namespace fedguard
