// Element types of client updates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fedguard {

enum class DType : std::uint8_t { kFloat32, kFloat16, kBFloat16 };

/// Bytes per element.
inline std::size_t dtype_size(DType t) { return t == DType::kFloat32 ? 4 : 2; }

/// "float32", "float16" or "bfloat16".
const char* dtype_name(DType t);

/// Parses the names above (and "f32", "fp16", "half", "bf16"); throws on anything else.
DType parse_dtype(const std::string& name);

/// Converts count elements of type t at src into float32 at dst (exact: every float16 and
/// bfloat16 value is a float32 value).
void convert_to_float(DType t, const void* src, float* dst, std::size_t count);

/// IEEE binary16 and bfloat16 bit patterns to float32 and back (round to nearest even).
float half_to_float(std::uint16_t bits);
float bfloat16_to_float(std::uint16_t bits);
std::uint16_t float_to_half(float value);
std::uint16_t float_to_bfloat16(float value);

}  // namespace fedguard
