// The row kernels built for the avx2 path (flags in CMakeLists.txt; see kernel_impl.inc).
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define GENAI_RT_QUANT_ISA avx2
#include "decode.h"
#include "kernel_api.h"

#if defined(__x86_64__)
namespace genai_rt::quant::avx2 {
#include "kernel_impl.inc"
}  // namespace genai_rt::quant::avx2
#endif
