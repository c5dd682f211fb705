// \brief Decode attention on CPU read straight from the paged KV cache (fp32).
//
// One query token per sequence attends over its whole context, reading each K/V block once, in
// place: no gathered copy, no padding to the longest sequence. Raw pointers in; no Python, no
// torch. Bound as genai_rt._core.cpu_paged_decode_attention (csrc/bindings/module.cpp).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace genai_rt::attention {

/// \brief Shapes of one paged decode-attention call.
struct PagedDecodeShape {
  int64_t num_seqs = 0;            ///< S: sequences, one query token each
  int64_t num_heads = 0;           ///< H: query heads, a multiple of num_kv_heads
  int64_t num_kv_heads = 0;        ///< KVH: K/V heads (GQA groups H / KVH query heads)
  int64_t head_dim = 0;            ///< D
  int64_t num_blocks = 0;          ///< NB: blocks in the cache
  int64_t block_size = 0;          ///< BS: tokens per block
  int64_t max_blocks_per_seq = 0;  ///< W: columns of block_tables
  int64_t block_table_stride = 0;  ///< elements between rows of block_tables, >= W
};

/// \brief Attention of one decode token per sequence over its paged context, in fp32.
///
/// query, out:    [S, H, D] contiguous
/// kv_cache:      [2, NB, BS, KVH, D] contiguous (0 = keys, 1 = values)
/// block_tables:  [S, W] int64 with row stride block_table_stride; the first
///                ceil(seq_lens[s] / BS) entries of row s are read, the rest never
/// seq_lens:      [S] int64, each in [1, W * BS]
/// out[s, h] = softmax(scale * K_s q[s, h]) V_s with K_s, V_s the s-th context's rows of head
/// h / (H / KVH). Sequences are split over up to num_threads threads (>= 1) by context tokens;
/// the calling thread works too.
/// \throws std::invalid_argument on a bad shape, a null pointer, a sequence length out of range
///         or a block id outside [0, NB) (all checked before any work).
void CpuPagedDecodeAttention(const float* query, const float* kv_cache,
                             const int64_t* block_tables, const int64_t* seq_lens,
                             const PagedDecodeShape& shape, float scale, int num_threads,
                             float* out);

/// \brief Contiguous sequence ranges [first, last) of about equal context tokens, one per thread.
///
/// At most num_threads ranges, and one range per kMinTokensPerThread context tokens: below that a
/// thread hand-off costs more than it saves. Every sequence is in exactly one range.
std::vector<std::pair<int64_t, int64_t>> SplitByWork(const int64_t* seq_lens, int64_t num_seqs,
                                                     int num_threads);

/// \brief Context tokens a thread must have to be worth starting (about 1 ms of work).
constexpr int64_t kMinTokensPerThread = 4096;

}  // namespace genai_rt::attention
