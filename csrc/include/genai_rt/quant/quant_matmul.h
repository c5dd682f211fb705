// \brief Matmul of fp32 activations with GGML-quantized weights, dequantization fused into the
// dot product (GEMV for one row, GEMM for many).
//
// The weights stay in their GGUF block layout (see ggml_types.h). Two activation modes:
//  - kInt8: each row of x is quantized per 32 inputs to int8 with one fp32 scale (llama.cpp's
//    q8_0/q8_1 scheme), and the dot products run on integers (AVX2 vpmaddubsw or AVX-512 VNNI
//    vpdpbusd); what llama.cpp does on CPU.
//  - kFloat32: weight-only; each weight row is dequantized to fp32 in a cache-resident buffer
//    and dotted with x in fp32 (the reference-exact mode).
// Bound as genai_rt._core.quant_matmul (csrc/bindings/module.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genai_rt::quant {

enum class ActivationMode : int { kFloat32 = 0, kInt8 = 1 };

/// \brief y[M, N] = x[M, K] @ W[N, K]^T for W in GGML type `type`.
///
/// x: [M, K] fp32 with row stride x_stride (>= K); y: [M, N] fp32 contiguous;
/// weights: N rows of RowBytes(type, K) bytes each. K need not be a multiple of the block size:
/// the last block of a row is ragged, its padding weights meet zero activations.
/// Rows of W are split over num_threads threads of the shared pool (the caller works too).
/// \throws std::invalid_argument on an unsupported type, a null pointer or a bad size
///         (all checked before any work).
void QuantMatmul(const float* x, int64_t m, int64_t k, int64_t x_stride, const uint8_t* weights,
                 int type, int64_t n, ActivationMode mode, int num_threads, float* y);

/// \brief Instruction-set paths compiled into this build that this CPU can run, best first
/// ("avx512vnni", "avx2", "generic"). AMX is never used (it traps without arch_prctl).
std::vector<std::string> AvailableIsas();

/// \brief The path QuantMatmul runs now.
std::string ActiveIsa();

/// \brief Picks the path (one of AvailableIsas()); tests use it to check every path.
/// \throws std::invalid_argument when `isa` is not available here.
void SetIsa(const std::string& isa);

}  // namespace genai_rt::quant
