// \brief The GGML block formats the quantized CPU kernels read in place (GGUF's own layout).
//
// Ids are GGML's (gguf.GGMLQuantizationType), so a tensor read with gguf.GGUFReader goes to the
// kernels as it sits in the file: rows of blocks, no repacking.
#pragma once

#include <cstdint>
#include <string>

namespace genai_rt::quant {

/// \brief GGML type ids of the supported weight formats.
enum GgmlType : int {
  kQ4_0 = 2,   ///< 32 weights: fp16 d, 16 B of nibbles; w = d * (q - 8)
  kQ4_1 = 3,   ///< 32 weights: fp16 d, fp16 m, 16 B of nibbles; w = d * q + m
  kQ8_0 = 8,   ///< 32 weights: fp16 d, 32 int8; w = d * q
  kQ4_K = 12,  ///< 256 weights: fp16 d, dmin, 8 x 6-bit (scale, min), 4-bit q
  kQ5_K = 13,  ///< 256 weights: as Q4_K with a fifth bit per weight
  kQ6_K = 14,  ///< 256 weights: 6-bit q - 32, 16 int8 scales, fp16 d
};

/// \brief Size of one block of a format.
struct BlockFormat {
  int block_elems;  ///< weights per block (32 or 256)
  int block_bytes;  ///< bytes per block
  const char* name;
};

/// \brief Whether the kernels read GGML type `type`.
bool IsSupportedType(int type);

/// \brief The block format of `type`.
/// \throws std::invalid_argument naming the type (and the supported ones) when unsupported.
BlockFormat FormatOf(int type);

/// \brief Bytes of one weight row of `k` inputs: ceil(k / block_elems) blocks.
int64_t RowBytes(int type, int64_t k);

/// \brief Checks every block scale (d, and m / dmin where the format has them) of a
/// [rows, k] tensor is finite.
/// \throws std::invalid_argument naming the first bad row, block and value.
void CheckBlockScales(const uint8_t* weights, int type, int64_t rows, int64_t k);

}  // namespace genai_rt::quant
