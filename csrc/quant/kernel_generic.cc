// The row kernels built for the generic path (flags in CMakeLists.txt; see kernel_impl.inc).
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define GENAI_RT_QUANT_ISA generic
#include "decode.h"
#include "kernel_api.h"

namespace genai_rt::quant::generic {
#include "kernel_impl.inc"
}  // namespace genai_rt::quant::generic
