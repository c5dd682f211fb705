// \brief CUDA kernels of the core. Raw device pointers and a stream in, an error code out.
//
// The header carries no CUDA types so that the binding file compiles with a plain C++ compiler:
// error codes are cudaError_t values as int, streams are cudaStream_t passed as void*.
#pragma once

#include <cstdint>

namespace genai_rt::cuda {

/// \brief Element type of a logits buffer.
enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

/// \brief Number of CUDA devices the driver reports; 0 when there is no driver or device.
int DeviceCount();

/// \brief Human-readable text of a CUDA error code returned by the functions below.
const char* ErrorString(int error);

/// \brief Sets logits[row, t] = -inf wherever bit (t % 32) of bitmask[row, t / 32] is 0.
///
/// logits:  [num_rows, vocab_size] with row stride logits_stride (elements)
/// bitmask: [num_rows or num_indices, ceil(vocab_size / 32)] int32, row stride bitmask_stride
/// indices: optional [num_indices] logits rows to mask; bitmask row i applies to indices[i].
///          When null, bitmask row r applies to logits row r for r < num_rows.
/// Tokens at or past 32 * bitmask words are left as they are (vLLM pads vocab this way).
int ApplyTokenBitmaskInplace(void* logits, DType dtype, int64_t num_rows, int64_t vocab_size,
                             int64_t logits_stride, const int32_t* bitmask, int64_t bitmask_words,
                             int64_t bitmask_stride, const int32_t* indices, int64_t num_indices,
                             void* stream);

/// \brief Largest k accepted by TopK.
constexpr int kMaxTopK = 1024;

/// \brief Values and indices of the k largest entries of each row, sorted descending.
///
/// input:       [rows, cols] of `dtype`, row stride input_stride (elements), unit column stride
/// out_values:  [rows, k] of `dtype`, contiguous
/// out_indices: [rows, k] int64, contiguous; column positions in the input row
/// 1 <= k <= min(kMaxTopK, cols); cols < 2^31. Among equal values at the k-th place, which ones
/// are returned is unspecified (as in torch.topk); the output is ordered by value, then index.
/// Returns cudaErrorInvalidValue for k or sizes out of range.
int TopK(const void* input, DType dtype, int64_t rows, int64_t cols, int64_t input_stride,
         int64_t k, void* out_values, int64_t* out_indices, void* stream);

}  // namespace genai_rt::cuda
