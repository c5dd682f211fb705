// Per-format decoding of one weight row into the form every dot kernel reads:
//   q[k]                unsigned 0..63 (signed int8 for Q8_0), one byte per weight
//   s16[k / 16], mn16[k / 16]   w[k] = s16[k / 16] * q[k] + mn16[k / 16]
// Sixteen-weight groups are the finest any format has (Q6_K's scales); formats with coarser
// scales repeat them. Plain C++: each ISA's translation unit includes this header and the
// compiler vectorizes the loops for that ISA. Offsets follow ggml-common.h.
#pragma once

#ifndef GENAI_RT_QUANT_ISA
#error "define GENAI_RT_QUANT_ISA (the ISA namespace) before including this header"
#endif

#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "fp16.h"
#include "genai_rt/quant/ggml_types.h"


// Inside a per-ISA namespace: each kernel TU is built with other -m flags, and one shared
// inline definition would let the linker keep the AVX-512 copy for every caller.
namespace genai_rt::quant::GENAI_RT_QUANT_ISA {

// in[i] & 15 -> lo[i], in[i] >> 4 -> hi[i] for i < kBytes (16 or 32).
template <int kBytes>
inline void UnpackNibbles(const uint8_t* __restrict__ in, uint8_t* __restrict__ lo,
                          uint8_t* __restrict__ hi) {
#if defined(__AVX2__)
  if constexpr (kBytes == 32) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
    const __m256i mask = _mm256_set1_epi8(15);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo), _mm256_and_si256(bytes, mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi),
                        _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask));
    return;
  } else {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
    const __m128i mask = _mm_set1_epi8(15);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lo), _mm_and_si128(bytes, mask));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(hi),
                     _mm_and_si128(_mm_srli_epi16(bytes, 4), mask));
    return;
  }
#endif
  for (int i = 0; i < kBytes; ++i) {
    lo[i] = in[i] & 15;
    hi[i] = in[i] >> 4;
  }
}

template <int kType>
struct Decoder;

template <>
struct Decoder<kQ4_0> {
  static constexpr int kElems = 32, kBytes = 18;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    const float d = LoadHalf(blk);
    UnpackNibbles<16>(blk + 2, q, q + 16);
    s16[0] = s16[1] = d;
    mn16[0] = mn16[1] = -8.f * d;
  }
};

template <>
struct Decoder<kQ4_1> {
  static constexpr int kElems = 32, kBytes = 20;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    const float d = LoadHalf(blk);
    const float m = LoadHalf(blk + 2);
    UnpackNibbles<16>(blk + 4, q, q + 16);
    s16[0] = s16[1] = d;
    mn16[0] = mn16[1] = m;
  }
};

template <>
struct Decoder<kQ8_0> {
  static constexpr int kElems = 32, kBytes = 34;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    std::memcpy(q, blk + 2, 32);
    s16[0] = s16[1] = LoadHalf(blk);
    mn16[0] = mn16[1] = 0.f;
  }
};

// Q4_K / Q5_K: eight 32-weight sub-blocks, each with a 6-bit scale and a 6-bit min packed into
// 12 bytes (ggml's get_scale_min_k4).
inline void ScaleMinK4(int j, const uint8_t* s, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K: the eight 32-weight sub-blocks' scales and mins, repeated per 16 weights.
inline void ScalesK4(float d, float dmin, const uint8_t* scales, float* __restrict__ s16,
                     float* __restrict__ mn16) {
  for (int sub = 0; sub < 8; ++sub) {
    int sc, mn;
    ScaleMinK4(sub, scales, &sc, &mn);
    s16[2 * sub] = s16[2 * sub + 1] = d * static_cast<float>(sc);
    mn16[2 * sub] = mn16[2 * sub + 1] = -dmin * static_cast<float>(mn);
  }
}

template <>
struct Decoder<kQ4_K> {
  static constexpr int kElems = 256, kBytes = 144;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    const float d = LoadHalf(blk);
    const float dmin = LoadHalf(blk + 2);
    const uint8_t* scales = blk + 4;
    const uint8_t* qs = blk + 16;
    for (int j = 0; j < 4; ++j) {  // 64 weights: low nibbles, then high nibbles
      UnpackNibbles<32>(qs + 32 * j, q + 64 * j, q + 64 * j + 32);
    }
    ScalesK4(d, dmin, scales, s16, mn16);
  }
};

template <>
struct Decoder<kQ5_K> {
  static constexpr int kElems = 256, kBytes = 176;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    const float d = LoadHalf(blk);
    const float dmin = LoadHalf(blk + 2);
    const uint8_t* scales = blk + 4;
    const uint8_t* qh = blk + 16;
    const uint8_t* ql = blk + 48;
    for (int j = 0; j < 4; ++j) {
      const int lo_bit = 2 * j, hi_bit = 2 * j + 1;
      for (int l = 0; l < 32; ++l) {
        q[64 * j + l] = (ql[32 * j + l] & 15) | (((qh[l] >> lo_bit) & 1) << 4);
        q[64 * j + 32 + l] = (ql[32 * j + l] >> 4) | (((qh[l] >> hi_bit) & 1) << 4);
      }
    }
    ScalesK4(d, dmin, scales, s16, mn16);
  }
};

template <>
struct Decoder<kQ6_K> {
  static constexpr int kElems = 256, kBytes = 210;
  static void Block(const uint8_t* __restrict__ blk, uint8_t* __restrict__ q,
                    float* __restrict__ s16, float* __restrict__ mn16) {
    const uint8_t* ql = blk;
    const uint8_t* qh = blk + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float d = LoadHalf(blk + 208);
    for (int half = 0; half < 2; ++half) {  // 128 weights from 64 B of ql and 32 B of qh
      const uint8_t* l4 = ql + 64 * half;
      const uint8_t* h2 = qh + 32 * half;
      uint8_t* out = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        out[l] = (l4[l] & 15) | ((h2[l] & 3) << 4);
        out[l + 32] = (l4[l + 32] & 15) | (((h2[l] >> 2) & 3) << 4);
        out[l + 64] = (l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4);
        out[l + 96] = (l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4);
      }
    }
    for (int g = 0; g < 16; ++g) {
      s16[g] = d * static_cast<float>(sc[g]);
      mn16[g] = -32.f * s16[g];
    }
  }
};

template <int kType>
inline void DecodeRow(const uint8_t* row, int64_t blocks, uint8_t* q, float* s16, float* mn16) {
  using D = Decoder<kType>;
  for (int64_t b = 0; b < blocks; ++b) {
    D::Block(row + b * D::kBytes, q + b * D::kElems, s16 + b * (D::kElems / 16),
             mn16 + b * (D::kElems / 16));
  }
}

}  // namespace genai_rt::quant::GENAI_RT_QUANT_ISA
