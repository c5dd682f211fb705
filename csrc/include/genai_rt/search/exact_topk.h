// \brief Exact top-k vector search on CPU over float32 or float16 rows, with an allow-bitmap.
//
// Every allowed row is scored; rows whose bit is clear are never candidates (the access boundary
// is applied inside the scan, not to the results). Raw pointers in; no Python, no numpy. Bound as
// genai_rt._core.exact_top_k (csrc/bindings/module.cpp).
#pragma once

#include <cstdint>

namespace genai_rt::search {

/// \brief How rows are compared with a query.
enum class Metric : int {
  kInnerProduct = 0,  ///< score = <q, x>, larger is better
  kL2 = 1,            ///< score = ||q - x||^2, smaller is better
};

/// \brief How the rows are stored.
enum class Storage : int {
  kFloat32 = 0,
  kFloat16 = 1,  ///< IEEE half bits (uint16), converted to fp32 in registers
};

/// \brief Sizes of one search.
struct ExactSearchShape {
  int64_t num_queries = 0;  ///< B
  int64_t num_rows = 0;     ///< N
  int64_t dim = 0;          ///< D
  int64_t k = 0;            ///< results per query, >= 1
};

/// \brief The k best allowed rows for each query, best first.
///
/// queries:    [B, D] float32 contiguous
/// rows:       [N, D] contiguous, float32 or float16 bits (storage)
/// row_norms:  [N] float32 squared norms ||x||^2; required for kL2, ignored for kInnerProduct
/// allow:      [ceil(N / 32)] uint32 words, bit i of word w allows row 32 w + i; null allows all
/// out_scores: [B, k] float32; out_rows: [B, k] int64. Ties go to the smaller row index. Slots
///             past the number of allowed rows get row -1 and score -inf (IP) or +inf (L2).
/// Rows are split over up to num_threads threads (>= 1); the calling thread works too.
/// Uses AVX2/FMA/F16C when the CPU has them (checked at run time), portable loops otherwise.
/// \throws std::invalid_argument on a bad shape or a null pointer (checked before any work).
void ExactTopK(const float* queries, const void* rows, Storage storage, const float* row_norms,
               const uint32_t* allow, const ExactSearchShape& shape, Metric metric,
               int num_threads, float* out_scores, int64_t* out_rows);

/// \brief Whether the vectorized AVX2/FMA/F16C path is used on this CPU.
bool ExactTopKUsesAvx2();

}  // namespace genai_rt::search
