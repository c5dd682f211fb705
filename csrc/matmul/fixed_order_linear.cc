// Fixed-order CPU linear (see genai_rt/matmul/fixed_order_linear.h).
//
// Register blocking: a tile of up to 4 rows x 3 output columns keeps 12 vector accumulators of 8
// lanes; with the 3 weight vectors and 1 input vector that is the 16 registers AVX2 has (a first
// 4 x 4 tile of 16 lanes spilled on AVX2 and ran 10x slower than MKL);
// each accumulator sees exactly the same sequence of multiply-adds whatever the tile's row count,
// so a row's result cannot depend on its neighbours. The weights of 3 columns (3 * K floats) stay
// in L1 while every row passes over them. Built per instruction set (AVX-512, AVX2, baseline)
// and picked at load time, as the CPU attention kernel is; a machine always runs the same clone,
// so its results repeat bit for bit.
#include "genai_rt/matmul/fixed_order_linear.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "genai_rt/cpu_clones.h"
#include "genai_rt/quant/thread_pool.h"

// The helpers pass 64-byte vectors by value; they are always inlined into the per-ISA clones of
// ColumnRange, so no call with the baseline ABI is ever made.
#pragma GCC diagnostic ignored "-Wpsabi"
#define GENAI_RT_INLINE inline __attribute__((always_inline))

namespace genai_rt::matmul {
namespace {

constexpr int kLanes = 8;
constexpr int kTileRows = 4;
constexpr int kTileCols = 3;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

GENAI_RT_INLINE Vec LoadVec(const float* p) {
  Vec v;
  __builtin_memcpy(&v, p, sizeof(Vec));
  return v;
}

// The fixed tree over the 8 lanes: halves added pairwise (4, 2, 1).
GENAI_RT_INLINE float ReduceLanes(Vec v) {
  float lanes[kLanes];
  __builtin_memcpy(lanes, &v, sizeof(Vec));
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int i = 0; i < width; ++i) lanes[i] = lanes[i] + lanes[i + width];
  }
  return lanes[0];
}

// Rows [0, rows) x columns [n0, n0 + cols) of one tile; rows <= 4, cols <= 3.
template <int kRows, int kCols>
GENAI_RT_INLINE void Tile(const float* x, int64_t ldx, const float* w, int64_t K, const float* bias,
                 float* out, int64_t ldo) {
  Vec acc[kRows][kCols];
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) acc[r][c] = Vec{};
  const int64_t body = K - K % kLanes;
  for (int64_t k = 0; k < body; k += kLanes) {
    Vec wv[kCols];
    for (int c = 0; c < kCols; ++c) wv[c] = LoadVec(w + c * K + k);
    for (int r = 0; r < kRows; ++r) {
      const Vec xv = LoadVec(x + r * ldx + k);
      for (int c = 0; c < kCols; ++c) acc[r][c] += xv * wv[c];
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      float tail = 0.f;
      for (int64_t k = body; k < K; ++k) tail += x[r * ldx + k] * w[c * K + k];
      float value = ReduceLanes(acc[r][c]) + tail;
      if (bias) value += bias[c];
      out[r * ldo + c] = value;
    }
  }
}

template <int kCols>
GENAI_RT_INLINE void RowsOfTile(int64_t rows, const float* x, int64_t ldx, const float* w, int64_t K,
                       const float* bias, float* out, int64_t ldo) {
  int64_t m = 0;
  for (; m + kTileRows <= rows; m += kTileRows)
    Tile<kTileRows, kCols>(x + m * ldx, ldx, w, K, bias, out + m * ldo, ldo);
  switch (rows - m) {
    case 3: Tile<3, kCols>(x + m * ldx, ldx, w, K, bias, out + m * ldo, ldo); break;
    case 2: Tile<2, kCols>(x + m * ldx, ldx, w, K, bias, out + m * ldo, ldo); break;
    case 1: Tile<1, kCols>(x + m * ldx, ldx, w, K, bias, out + m * ldo, ldo); break;
    default: break;
  }
}

// Columns [first, last) for every row.
GENAI_RT_CPU_CLONES void ColumnRange(const float* x, const float* w, const float* bias,
                                     const LinearShape& s, int64_t first, int64_t last,
                                     float* out) {
  const int64_t K = s.in_features;
  const int64_t N = s.out_features;
  int64_t n = first;
  for (; n + kTileCols <= last; n += kTileCols) {
    RowsOfTile<kTileCols>(s.rows, x, s.x_row_stride, w + n * K, K, bias ? bias + n : nullptr,
                          out + n, N);
  }
  for (; n < last; ++n)
    RowsOfTile<1>(s.rows, x, s.x_row_stride, w + n * K, K, bias ? bias + n : nullptr, out + n, N);
}

[[noreturn]] void Fail(const std::string& what) {
  throw std::invalid_argument("fixed_order_linear: " + what);
}

}  // namespace

void FixedOrderLinear(const float* x, const float* w, const float* bias, const LinearShape& shape,
                      int num_threads, float* out) {
  if (shape.rows < 0 || shape.in_features < 1 || shape.out_features < 1) {
    Fail("rows must be >= 0 and in_features, out_features >= 1, got rows=" +
         std::to_string(shape.rows) + " in_features=" + std::to_string(shape.in_features) +
         " out_features=" + std::to_string(shape.out_features));
  }
  if (shape.x_row_stride < shape.in_features) {
    Fail("x_row_stride (" + std::to_string(shape.x_row_stride) + ") < in_features (" +
         std::to_string(shape.in_features) + ")");
  }
  if (num_threads < 1) Fail("num_threads must be >= 1, got " + std::to_string(num_threads));
  if (shape.rows == 0) return;
  if (!x || !w || !out) Fail("null pointer");
  const int64_t macs = shape.rows * shape.in_features * shape.out_features;
  const int64_t column_tiles = (shape.out_features + kTileCols - 1) / kTileCols;
  const int64_t parts = std::max<int64_t>(
      1, std::min({static_cast<int64_t>(num_threads), column_tiles, macs / kMinMacsPerThread}));
  // Thread t takes whole column tiles [t * tiles / parts, (t + 1) * tiles / parts).
  auto range = [&](int64_t t) {
    const int64_t first = std::min(shape.out_features, t * column_tiles / parts * kTileCols);
    const int64_t last =
        std::min(shape.out_features, (t + 1) * column_tiles / parts * kTileCols);
    ColumnRange(x, w, bias, shape, first, last, out);
  };
  // The core's one worker pool (shared with the quantized kernels): no thread is started per
  // call on the decode path, where a step makes ~120 of these calls.
  quant::ParallelFor(static_cast<int>(parts), num_threads, [&](int t) { range(t); });
}

}  // namespace genai_rt::matmul
