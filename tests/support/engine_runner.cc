#include "support/engine_runner.h"

#include <cstring>

namespace fedguard::test {

std::vector<unsigned char> encode(Matrix& x, DType dtype) {
  std::vector<unsigned char> bytes;
  for (auto& row : x) {
    for (double& v : row) {
      const auto f = static_cast<float>(v);
      if (dtype == DType::kFloat32) {
        const auto* p = reinterpret_cast<const unsigned char*>(&f);
        bytes.insert(bytes.end(), p, p + 4);
        v = f;
      } else {
        const std::uint16_t h = dtype == DType::kFloat16 ? float_to_half(f) : float_to_bfloat16(f);
        const auto* p = reinterpret_cast<const unsigned char*>(&h);
        bytes.insert(bytes.end(), p, p + 2);
        v = dtype == DType::kFloat16 ? half_to_float(h) : bfloat16_to_float(h);
      }
    }
  }
  return bytes;
}

Engine make_engine(const std::string& config_json, std::size_t tile_columns) {
  EngineConfig c = EngineConfig::from_json(config_json);
  c.backend = BackendKind::kCpu;
  if (tile_columns) c.tile_columns = tile_columns;
  return Engine(c);
}

RoundResult run_round(Engine& engine, const std::vector<unsigned char>& bytes, std::size_t n,
                      std::size_t d, DType dtype, const std::vector<double>& num_samples) {
  RoundInput in;
  in.updates = UpdateView(bytes.data(), n, d, dtype);
  in.num_samples = num_samples;
  return engine.process_round(in);
}

}  // namespace fedguard::test
