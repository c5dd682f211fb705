// fp16 -> fp32 for the block scales (IEEE half, little-endian in the file).
#pragma once

#ifndef GENAI_RT_QUANT_ISA
#error "define GENAI_RT_QUANT_ISA (the ISA namespace) before including this header"
#endif

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

// Inside a per-ISA namespace: each kernel TU is built with other -m flags, and one shared
// inline definition would let the linker keep the AVX-512 copy for every caller.
namespace genai_rt::quant::GENAI_RT_QUANT_ISA {

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline float HalfToFloat(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
#endif
}

inline float LoadHalf(const uint8_t* p) { return HalfToFloat(LoadU16(p)); }

}  // namespace genai_rt::quant::GENAI_RT_QUANT_ISA
