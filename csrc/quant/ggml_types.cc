// Block sizes of the supported GGML formats and the load-time scale check.
#include "genai_rt/quant/ggml_types.h"

#include <cmath>
#include <stdexcept>
#include <string>

#define GENAI_RT_QUANT_ISA baseline
#include "fp16.h"

namespace genai_rt::quant {
namespace {

using baseline::LoadHalf;

// Byte offsets of the fp16 scales inside one block (d first; -1 where a format has no second).
struct ScaleOffsets {
  int d;
  int second;
  const char* second_name;
};

ScaleOffsets ScalesOf(int type) {
  switch (type) {
    case kQ4_0: return {0, -1, ""};
    case kQ4_1: return {0, 2, "m"};
    case kQ8_0: return {0, -1, ""};
    case kQ4_K: return {0, 2, "dmin"};
    case kQ5_K: return {0, 2, "dmin"};
    case kQ6_K: return {208, -1, ""};
    default: break;
  }
  FormatOf(type);  // throws with the name
  return {0, -1, ""};
}

}  // namespace

bool IsSupportedType(int type) {
  switch (type) {
    case kQ4_0:
    case kQ4_1:
    case kQ8_0:
    case kQ4_K:
    case kQ5_K:
    case kQ6_K: return true;
    default: return false;
  }
}

BlockFormat FormatOf(int type) {
  switch (type) {
    case kQ4_0: return {32, 18, "Q4_0"};
    case kQ4_1: return {32, 20, "Q4_1"};
    case kQ8_0: return {32, 34, "Q8_0"};
    case kQ4_K: return {256, 144, "Q4_K"};
    case kQ5_K: return {256, 176, "Q5_K"};
    case kQ6_K: return {256, 210, "Q6_K"};
    default: break;
  }
  throw std::invalid_argument("GGML type " + std::to_string(type) +
                              " is not supported by the quantized kernels (supported: Q4_0=2, "
                              "Q4_1=3, Q8_0=8, Q4_K=12, Q5_K=13, Q6_K=14)");
}

int64_t RowBytes(int type, int64_t k) {
  const BlockFormat f = FormatOf(type);
  return (k + f.block_elems - 1) / f.block_elems * f.block_bytes;
}

void CheckBlockScales(const uint8_t* weights, int type, int64_t rows, int64_t k) {
  const BlockFormat f = FormatOf(type);
  const ScaleOffsets offsets = ScalesOf(type);
  const int64_t blocks = (k + f.block_elems - 1) / f.block_elems;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = weights + (r * blocks + b) * f.block_bytes;
      const float d = LoadHalf(block + offsets.d);
      const float second = offsets.second < 0 ? 0.f : LoadHalf(block + offsets.second);
      if (std::isfinite(d) && std::isfinite(second)) continue;
      const bool d_bad = !std::isfinite(d);
      throw std::invalid_argument(
          std::string(f.name) + " block scale " + (d_bad ? "d" : offsets.second_name) + " is " +
          (std::isnan(d_bad ? d : second) ? "NaN" : "inf") + " in row " + std::to_string(r) +
          ", block " + std::to_string(b) + " (a corrupt or truncated file?)");
    }
  }
}

}  // namespace genai_rt::quant
