// \brief CPU twin of the CUDA token-bitmask apply: logits[row, t] = -inf where bit t is 0.
#pragma once

#include <cstdint>

namespace genai_rt::grammar {

/// \brief Element type of a logits buffer (codes shared with genai_rt::cuda::DType).
enum class LogitsType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

/// \brief Masks forbidden tokens in place on the CPU.
///
/// logits:  [num_rows, vocab_size], row stride logits_stride (elements)
/// bitmask: [mask rows, bitmask_words] int32, row stride bitmask_stride; bit i of word w
///          allows token 32 * w + i
/// indices: optional [num_indices] logits rows; bitmask row i applies to indices[i]. When null,
///          bitmask row r applies to logits row r for r < num_rows.
/// Tokens at or past min(vocab_size, 32 * bitmask_words) are left alone. Only forbidden
/// positions are written; an all-ones word (the common case inside a grammar) is skipped whole.
void ApplyTokenBitmaskCpu(void* logits, LogitsType type, int64_t num_rows, int64_t vocab_size,
                          int64_t logits_stride, const int32_t* bitmask, int64_t bitmask_words,
                          int64_t bitmask_stride, const int32_t* indices, int64_t num_indices);

}  // namespace genai_rt::grammar
