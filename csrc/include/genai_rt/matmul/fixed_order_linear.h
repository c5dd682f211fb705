// \brief A linear layer on CPU whose every output element is summed in one fixed order.
//
// out[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) where the order of that sum depends on K
// alone: never on M (how many rows share the call), on a row's position among them, or on the
// thread count. This is what makes deterministic decoding batch-invariant on CPU: BLAS picks a
// GEMV for one row and blocked GEMMs for more, and the two round differently (measured with
// MKL: row 0 of x @ W moves by up to 1.4e-4 between M = 1 and M = 7 for 1536 x 576).
// Raw pointers in; no Python, no torch. Bound as genai_rt._core.fixed_order_linear.
#pragma once

#include <cstdint>

namespace genai_rt::matmul {

/// \brief Shapes and strides of one fixed-order linear call.
struct LinearShape {
  int64_t rows = 0;          ///< M: input rows
  int64_t in_features = 0;   ///< K
  int64_t out_features = 0;  ///< N
  int64_t x_row_stride = 0;  ///< elements between rows of x, >= K
};

/// \brief out[M, N] = x[M, K] @ w[N, K]^T (+ bias[N]), fp32, in a fixed reduction order.
///
/// x:    [M, K] with row stride x_row_stride
/// w:    [N, K] contiguous (each output's weights contiguous, the checkpoint's layout)
/// bias: [N] or nullptr
/// out:  [M, N] contiguous
/// Per element: 8 partial sums (k mod 8) over the first K - K % 8 columns in k order, the
/// K % 8 tail summed in k order, then the 8 partials added in a fixed tree, tail last.
/// Output columns are split over up to num_threads threads (>= 1); that changes no result.
/// \throws std::invalid_argument on a bad shape or a null pointer (checked before any work).
void FixedOrderLinear(const float* x, const float* w, const float* bias, const LinearShape& shape,
                      int num_threads, float* out);

/// \brief Multiply-adds a thread must have to be worth starting (about 0.5 ms of work).
constexpr int64_t kMinMacsPerThread = int64_t{1} << 22;

}  // namespace genai_rt::matmul
