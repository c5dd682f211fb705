// Batched top-k: the k largest entries of each row (k <= 1024), values and indices, sorted
// descending.
//
// One thread block per row. A 4-pass radix select over the float's order-preserving uint32 key
// (8 bits a pass, a 256-bin shared-memory histogram, a one-warp scan) finds the k-th largest key
// exactly; one more pass collects the keys above it plus as many equal to it as still needed; a
// bitonic sort in shared memory orders the k winners. The row is read 5 times (L2-resident after
// the first), never sorted, and no global scratch is used.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "genai_rt/cuda_kernels.h"

namespace genai_rt::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kBins = 256;
constexpr unsigned kFullWarp = 0xffffffffu;

__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }

// Larger float -> larger key; NaN sorts above +inf, as in torch.topk.
__device__ __forceinline__ uint32_t OrderKey(float x) {
  const uint32_t bits = __float_as_uint(x);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Order of the output: larger key first, then the smaller index.
__device__ __forceinline__ bool Before(uint32_t key_a, int32_t idx_a, uint32_t key_b,
                                      int32_t idx_b) {
  return key_a > key_b || (key_a == key_b && idx_a < idx_b);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    TopKKernel(const T* __restrict__ input, int64_t cols, int64_t input_stride, int k,
               int sort_size, T* __restrict__ out_values, int64_t* __restrict__ out_indices) {
  __shared__ uint32_t histogram[kBins];
  __shared__ uint32_t winner_keys[kMaxTopK];
  __shared__ int32_t winner_indices[kMaxTopK];
  __shared__ uint32_t chosen_prefix;
  __shared__ uint32_t chosen_remaining;
  __shared__ int count_greater;
  __shared__ int count_equal;

  const int tid = threadIdx.x;
  const T* row = input + static_cast<int64_t>(blockIdx.x) * input_stride;

  // Radix select: after the pass at `shift`, `prefix` holds the top (32 - shift) bits of the
  // k-th largest key and `remaining` how many keys with that prefix still belong to the top k.
  uint32_t prefix = 0;
  uint32_t prefix_mask = 0;
  uint32_t remaining = static_cast<uint32_t>(k);
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = tid; b < kBins; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    for (int64_t i = tid; i < cols; i += blockDim.x) {
      const uint32_t key = OrderKey(ToFloat(row[i]));
      if ((key & prefix_mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xffu], 1u);
    }
    __syncthreads();
    if (tid < 32) {
      // Lane l owns digits 255-8l .. 248-8l (highest first); a warp scan finds the digit where
      // the running count from the top reaches `remaining`.
      uint32_t local[8];
      uint32_t lane_sum = 0;
      for (int j = 0; j < 8; ++j) {
        local[j] = histogram[kBins - 1 - (tid * 8 + j)];
        lane_sum += local[j];
      }
      uint32_t inclusive = lane_sum;
      for (int offset = 1; offset < 32; offset <<= 1) {
        const uint32_t other = __shfl_up_sync(kFullWarp, inclusive, offset);
        if (tid >= offset) inclusive += other;
      }
      const uint32_t exclusive = inclusive - lane_sum;
      const bool hit = exclusive < remaining && inclusive >= remaining;
      const int first = __ffs(__ballot_sync(kFullWarp, hit)) - 1;
      if (tid == first) {
        uint32_t above = exclusive;
        int j = 0;
        for (; j < 7; ++j) {
          if (above + local[j] >= remaining) break;
          above += local[j];
        }
        const uint32_t digit = static_cast<uint32_t>(kBins - 1 - (tid * 8 + j));
        chosen_prefix = prefix | (digit << shift);
        chosen_remaining = remaining - above;
      }
    }
    __syncthreads();
    prefix = chosen_prefix;
    remaining = chosen_remaining;
    prefix_mask |= 0xffu << shift;
    __syncthreads();
  }

  // Collect: every key above the k-th largest, then `remaining` of the keys equal to it.
  const uint32_t threshold = prefix;
  const int num_greater = k - static_cast<int>(remaining);
  if (tid == 0) {
    count_greater = 0;
    count_equal = 0;
  }
  __syncthreads();
  for (int64_t i = tid; i < cols; i += blockDim.x) {
    const uint32_t key = OrderKey(ToFloat(row[i]));
    if (key > threshold) {
      const int slot = atomicAdd(&count_greater, 1);
      winner_keys[slot] = key;
      winner_indices[slot] = static_cast<int32_t>(i);
    } else if (key == threshold) {
      const int slot = atomicAdd(&count_equal, 1);
      if (slot < static_cast<int>(remaining)) {
        winner_keys[num_greater + slot] = key;
        winner_indices[num_greater + slot] = static_cast<int32_t>(i);
      }
    }
  }
  for (int i = k + tid; i < sort_size; i += blockDim.x) {
    winner_keys[i] = 0;  // below every real key's position in Before()
    winner_indices[i] = INT_MAX;
  }
  __syncthreads();

  // Bitonic sort of sort_size (a power of two >= k) entries, final order by Before().
  for (int size = 2; size <= sort_size; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = tid; i < sort_size; i += blockDim.x) {
        const int j = i ^ stride;
        if (j <= i) continue;
        const bool forward = (i & size) == 0;
        const bool j_first = Before(winner_keys[j], winner_indices[j], winner_keys[i],
                                    winner_indices[i]);
        if (j_first == forward) {
          const uint32_t key = winner_keys[i];
          winner_keys[i] = winner_keys[j];
          winner_keys[j] = key;
          const int32_t index = winner_indices[i];
          winner_indices[i] = winner_indices[j];
          winner_indices[j] = index;
        }
      }
      __syncthreads();
    }
  }

  const int64_t out_row = static_cast<int64_t>(blockIdx.x) * k;
  for (int i = tid; i < k; i += blockDim.x) {
    out_values[out_row + i] = row[winner_indices[i]];
    out_indices[out_row + i] = winner_indices[i];
  }
}

template <typename T>
int LaunchTopK(const void* input, int64_t rows, int64_t cols, int64_t input_stride, int k,
               void* out_values, int64_t* out_indices, void* stream) {
  int sort_size = 1;
  while (sort_size < k) sort_size <<= 1;
  TopKKernel<T><<<static_cast<unsigned>(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const T*>(input), cols, input_stride, k, sort_size, static_cast<T*>(out_values),
      out_indices);
  return cudaGetLastError();
}

}  // namespace

int TopK(const void* input, DType dtype, int64_t rows, int64_t cols, int64_t input_stride,
         int64_t k, void* out_values, int64_t* out_indices, void* stream) {
  if (k < 1 || k > kMaxTopK || k > cols || cols > INT_MAX || rows > INT_MAX) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  const int k32 = static_cast<int>(k);
  switch (dtype) {
    case DType::kFloat32:
      return LaunchTopK<float>(input, rows, cols, input_stride, k32, out_values, out_indices,
                               stream);
    case DType::kFloat16:
      return LaunchTopK<__half>(input, rows, cols, input_stride, k32, out_values, out_indices,
                                stream);
    case DType::kBFloat16:
      return LaunchTopK<__nv_bfloat16>(input, rows, cols, input_stride, k32, out_values,
                                       out_indices, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace genai_rt::cuda
