// GENAI_RT_CPU_CLONES: compile a hot function once per x86 ISA level (AVX-512F, AVX2, baseline)
// and let the loader pick the one this CPU runs (GCC/Clang target_clones, Linux x86 only;
// elsewhere it expands to nothing and the baseline build runs).
#pragma once

#if defined(__has_attribute)
#if __has_attribute(target_clones) && (defined(__x86_64__) || defined(__i386__)) && \
    defined(__linux__)
#define GENAI_RT_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef GENAI_RT_CPU_CLONES
#define GENAI_RT_CPU_CLONES
#endif
