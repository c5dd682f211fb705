// The row kernels built for the avx512vnni path (flags in CMakeLists.txt; see kernel_impl.inc).
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define GENAI_RT_QUANT_ISA avx512vnni
#include "decode.h"
#include "kernel_api.h"

#if defined(__x86_64__)
namespace genai_rt::quant::avx512vnni {
#include "kernel_impl.inc"
}  // namespace genai_rt::quant::avx512vnni
#endif
