// In-place token-bitmask apply: logits[row, t] = -inf where the grammar forbids token t.
//
// One thread per logit. The 32 lanes of a warp read the same bitmask word (one transaction) and
// write 32 consecutive logits (coalesced); only forbidden positions are written, allowed logits
// are never read or touched, so the kernel moves ~4 bytes per forbidden token and 1/8 byte per
// token of mask.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "genai_rt/cuda_kernels.h"

namespace genai_rt::cuda {
namespace {

template <typename T>
__device__ __forceinline__ T NegativeInfinity();
template <>
__device__ __forceinline__ float NegativeInfinity<float>() {
  return -INFINITY;
}
template <>
__device__ __forceinline__ __half NegativeInfinity<__half>() {
  return __float2half(-INFINITY);
}
template <>
__device__ __forceinline__ __nv_bfloat16 NegativeInfinity<__nv_bfloat16>() {
  return __float2bfloat16(-INFINITY);
}

constexpr int kThreads = 256;

template <typename T>
__global__ void ApplyTokenBitmaskKernel(T* __restrict__ logits, int64_t vocab_size,
                                        int64_t logits_stride, const int32_t* __restrict__ bitmask,
                                        int64_t bitmask_words, int64_t bitmask_stride,
                                        const int32_t* __restrict__ indices) {
  const int64_t mask_row = blockIdx.y;
  const int64_t logits_row = indices ? indices[mask_row] : mask_row;
  const int64_t token = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t limit = min(vocab_size, bitmask_words * 32);
  if (token >= limit) return;
  const uint32_t word = static_cast<uint32_t>(bitmask[mask_row * bitmask_stride + token / 32]);
  if (((word >> (token % 32)) & 1u) == 0u) {
    logits[logits_row * logits_stride + token] = NegativeInfinity<T>();
  }
}

template <typename T>
int Launch(void* logits, int64_t num_rows, int64_t vocab_size, int64_t logits_stride,
           const int32_t* bitmask, int64_t bitmask_words, int64_t bitmask_stride,
           const int32_t* indices, int64_t num_indices, void* stream) {
  const int64_t rows = indices ? num_indices : num_rows;
  if (rows == 0 || vocab_size == 0) return cudaSuccess;
  const int64_t limit = vocab_size < bitmask_words * 32 ? vocab_size : bitmask_words * 32;
  dim3 grid(static_cast<unsigned>((limit + kThreads - 1) / kThreads), static_cast<unsigned>(rows));
  ApplyTokenBitmaskKernel<T><<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<T*>(logits), vocab_size, logits_stride, bitmask, bitmask_words, bitmask_stride,
      indices);
  return cudaGetLastError();
}

}  // namespace

int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

const char* ErrorString(int error) { return cudaGetErrorString(static_cast<cudaError_t>(error)); }

int ApplyTokenBitmaskInplace(void* logits, DType dtype, int64_t num_rows, int64_t vocab_size,
                             int64_t logits_stride, const int32_t* bitmask, int64_t bitmask_words,
                             int64_t bitmask_stride, const int32_t* indices, int64_t num_indices,
                             void* stream) {
  switch (dtype) {
    case DType::kFloat32:
      return Launch<float>(logits, num_rows, vocab_size, logits_stride, bitmask, bitmask_words,
                           bitmask_stride, indices, num_indices, stream);
    case DType::kFloat16:
      return Launch<__half>(logits, num_rows, vocab_size, logits_stride, bitmask, bitmask_words,
                            bitmask_stride, indices, num_indices, stream);
    case DType::kBFloat16:
      return Launch<__nv_bfloat16>(logits, num_rows, vocab_size, logits_stride, bitmask,
                                   bitmask_words, bitmask_stride, indices, num_indices, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace genai_rt::cuda
