// What quant_matmul.cc hands the per-ISA row kernels (kernel_impl.inc, compiled once per ISA).
#pragma once

#include <cstdint>

#include "genai_rt/quant/quant_matmul.h"

namespace genai_rt::quant {

// One matmul, activations already prepared for the mode (padded to k_padded inputs).
struct QuantProblem {
  int type = 0;
  ActivationMode mode = ActivationMode::kInt8;
  int64_t m = 0;         // activation rows
  int64_t n = 0;         // weight rows (outputs)
  int64_t k_padded = 0;  // inputs, rounded up to whole blocks
  int64_t blocks = 0;    // blocks per weight row
  int64_t row_bytes = 0;
  const uint8_t* weights = nullptr;
  // kInt8: x quantized per 32 inputs in two int8 terms, x ~= xd * (256 * xq + xq2) (the second
  // holds the first's rounding residual); xs16 = that x's sum per 16 inputs.
  const int8_t* xq = nullptr;   // [m, k_padded]
  const int8_t* xq2 = nullptr;  // [m, k_padded]
  const float* xd = nullptr;    // [m, k_padded / 32]
  const float* xs16 = nullptr;  // [m, k_padded / 16]
  // kFloat32: x zero-padded, and its sum per 32 inputs (for the blocks' additive offsets).
  const float* xf = nullptr;    // [m, k_padded]
  const float* xs32 = nullptr;  // [m, k_padded / 32]
  float* y = nullptr;         // [m, n]
};

// One thread's buffers for a decoded weight row, allocated by quant_matmul.cc (built with
// baseline flags: no std:: template is instantiated inside the per-ISA files, so the linker
// cannot pick an AVX-512 copy of it for the other paths).
struct RowScratch {
  uint8_t* q;    // [k_padded]
  float* s16;    // [k_padded / 16]
  float* mn16;   // [k_padded / 16]
  float* s8;     // [k_padded / 4]
  float* wf;     // [4 * k_padded]
};

using RowKernel = void (*)(const QuantProblem&, int64_t n_begin, int64_t n_end,
                           const RowScratch& scratch);

namespace generic {
void Rows(const QuantProblem& p, int64_t n_begin, int64_t n_end, const RowScratch& scratch);
}
#if defined(__x86_64__)
namespace avx2 {
void Rows(const QuantProblem& p, int64_t n_begin, int64_t n_end, const RowScratch& scratch);
}
namespace avx512vnni {
void Rows(const QuantProblem& p, int64_t n_begin, int64_t n_end, const RowScratch& scratch);
}
#endif

}  // namespace genai_rt::quant
