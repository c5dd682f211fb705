// KvCacheManager::BuildBatch: the flattened batch of one engine step, written straight into the
// runner's pinned numpy buffers (no per-token Python work).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "genai_rt/kv/kv_cache_manager.h"

namespace genai_rt::kv {

BatchShape KvCacheManager::BuildBatch(const std::vector<int64_t>& seq_ids,
                                      const std::vector<int32_t>& num_new,
                                      const BatchBuffers& out) const {
  if (seq_ids.size() != num_new.size()) {
    throw std::invalid_argument("seq_ids and num_new differ in length");
  }
  BatchShape shape;
  shape.num_seqs = static_cast<int64_t>(seq_ids.size());
  if (shape.num_seqs > out.max_seqs) {
    throw std::invalid_argument("batch of " + std::to_string(shape.num_seqs) +
                                " sequences exceeds the buffers' " + std::to_string(out.max_seqs));
  }
  // First pass: validate and size, so a bad batch throws before anything is written.
  int64_t total = 0;
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    const Sequence& seq = Get(seq_ids[i]);
    const int64_t end = static_cast<int64_t>(seq.num_computed) + num_new[i];
    if (num_new[i] <= 0 || end > static_cast<int64_t>(seq.tokens.size()) ||
        end > static_cast<int64_t>(seq.blocks.size()) * block_size_) {
      throw std::invalid_argument("sequence " + std::to_string(seq_ids[i]) + " cannot add " +
                                  std::to_string(num_new[i]) + " tokens (allocate first)");
    }
    if (static_cast<int64_t>(seq.blocks.size()) > out.block_table_width) {
      throw std::invalid_argument("sequence " + std::to_string(seq_ids[i]) + " has " +
                                  std::to_string(seq.blocks.size()) +
                                  " blocks, wider than the block table");
    }
    total += num_new[i];
    shape.max_blocks = std::max<int64_t>(shape.max_blocks, static_cast<int64_t>(seq.blocks.size()));
  }
  if (total > out.max_tokens) {
    throw std::invalid_argument("batch of " + std::to_string(total) +
                                " tokens exceeds the buffers' " + std::to_string(out.max_tokens));
  }
  int64_t t = 0;
  out.query_start_loc[0] = 0;
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    const Sequence& seq = Get(seq_ids[i]);
    const int32_t start = seq.num_computed;
    const int32_t n = num_new[i];
    for (int32_t j = 0; j < n; ++j, ++t) {
      const int32_t pos = start + j;
      out.input_ids[t] = seq.tokens[pos];
      out.positions[t] = pos;
      out.slot_mapping[t] =
          static_cast<int64_t>(seq.blocks[pos / block_size_]) * block_size_ + pos % block_size_;
    }
    int32_t* row = out.block_tables + static_cast<int64_t>(i) * out.block_table_width;
    std::copy(seq.blocks.begin(), seq.blocks.end(), row);
    // Padding is never read by a correct kernel; 0 keeps a stray read inside the cache.
    std::fill(row + seq.blocks.size(), row + shape.max_blocks, 0);
    out.seq_lens[i] = start + n;
    out.query_start_loc[i + 1] = static_cast<int32_t>(t);
    shape.max_query_len = std::max<int64_t>(shape.max_query_len, n);
    shape.max_seq_len = std::max<int64_t>(shape.max_seq_len, start + n);
  }
  shape.num_tokens = total;
  return shape;
}

}  // namespace genai_rt::kv
