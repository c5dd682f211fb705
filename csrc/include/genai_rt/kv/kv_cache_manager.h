// Per-sequence KV bookkeeping over a BlockPool, and batch assembly for one engine step.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "genai_rt/kv/block_pool.h"

namespace genai_rt::kv {

/// \brief Views of caller-owned buffers that BuildBatch fills (numpy arrays on the Python side).
struct BatchBuffers {
  int64_t* input_ids;         ///< [max_tokens]
  int64_t* positions;         ///< [max_tokens]
  int64_t* slot_mapping;      ///< [max_tokens]
  int32_t* block_tables;      ///< [max_seqs, block_table_width], row-major
  int32_t* seq_lens;          ///< [max_seqs]
  int32_t* query_start_loc;   ///< [max_seqs + 1]
  int64_t max_tokens;
  int64_t max_seqs;
  int64_t block_table_width;
};

/// \brief What BuildBatch wrote: the used prefix of each buffer.
struct BatchShape {
  int64_t num_tokens = 0;
  int64_t num_seqs = 0;
  int64_t max_blocks = 0;     ///< widest block-table row used
  int64_t max_query_len = 0;
  int64_t max_seq_len = 0;
};

/// \brief Token ids, block table and computed length of every live sequence.
///
/// The scheduler decides; this class does the block arithmetic. A sequence's tokens are its
/// prompt plus the outputs appended so far; `num_computed` of them have K/V in the cache.
class KvCacheManager {
 public:
  /// \brief A manager over `num_blocks` blocks of `block_size` tokens.
  KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);

  /// \brief Registers a sequence with its prompt; it owns no blocks yet.
  void AddSequence(int64_t seq_id, const std::vector<int32_t>& prompt);
  /// \brief Appends sampled tokens (not yet computed) to a sequence.
  void AppendTokens(int64_t seq_id, const std::vector<int32_t>& tokens);
  /// \brief Attaches the longest cached prefix to a block-less sequence; returns its tokens.
  ///
  /// At least one token is always left to compute, so the step that finishes the prompt yields
  /// logits. Counts towards the hit rate.
  int32_t MatchPrefix(int64_t seq_id);
  /// \brief Shares the parent's first `num_tokens` (rounded down to full, computed blocks) with
  /// a block-less child holding the same tokens; returns the tokens shared.
  int32_t ForkPrefix(int64_t parent_id, int64_t child_id, int32_t num_tokens);
  /// \brief Ensures blocks for `num_new` more tokens; all or nothing. False when out of blocks.
  bool Allocate(int64_t seq_id, int32_t num_new);
  /// \brief Blocks that Allocate(seq_id, num_new) would take from the pool.
  int32_t BlocksNeeded(int64_t seq_id, int32_t num_new) const;
  /// \brief Marks `num_new` more tokens computed and caches the blocks they filled.
  void Commit(int64_t seq_id, int32_t num_new);
  /// \brief Commit for a whole step: `num_new[i]` tokens of `seq_ids[i]` (one call per step).
  void CommitBatch(const std::vector<int64_t>& seq_ids, const std::vector<int32_t>& num_new);
  /// \brief Appends `tokens[i]` to `seq_ids[i]`: the step's sampled tokens in one call.
  void AppendTokenBatch(const std::vector<int64_t>& seq_ids, const std::vector<int32_t>& tokens);
  /// \brief Releases all blocks, keeps the tokens; the sequence restarts from zero (preemption).
  void Reset(int64_t seq_id);
  /// \brief Releases all blocks and forgets the sequence.
  void Free(int64_t seq_id);

  /// \brief Fills `out` for the sequences `seq_ids`, each adding `num_new[i]` tokens starting at
  /// its computed length. Blocks must have been allocated. Throws if a buffer is too small.
  BatchShape BuildBatch(const std::vector<int64_t>& seq_ids, const std::vector<int32_t>& num_new,
                        const BatchBuffers& out) const;

  bool HasSequence(int64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  int32_t NumTokens(int64_t seq_id) const;
  int32_t NumComputed(int64_t seq_id) const;
  const std::vector<int32_t>& BlockTable(int64_t seq_id) const;
  int64_t NumSequences() const { return static_cast<int64_t>(seqs_.size()); }
  int32_t NumUsedBlocks() const { return pool_.NumBlocks() - pool_.NumAvailable(); }
  int64_t PrefixQueryTokens() const { return prefix_query_tokens_; }
  int64_t PrefixHitTokens() const { return prefix_hit_tokens_; }
  BlockPool& Pool() { return pool_; }
  const BlockPool& Pool() const { return pool_; }
  /// \brief Pool invariants plus: each block's ref count equals its owners among sequences.
  void CheckInvariants() const;

 private:
  struct Sequence {
    std::vector<int32_t> tokens;
    std::vector<int32_t> blocks;
    std::vector<uint64_t> block_hashes;  // chained hashes of the full blocks registered so far
    int32_t num_computed = 0;
  };
  Sequence& Get(int64_t seq_id);
  const Sequence& Get(int64_t seq_id) const;
  void ReleaseBlocks(Sequence& seq);

  BlockPool pool_;
  int32_t block_size_;
  std::unordered_map<int64_t, Sequence> seqs_;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace genai_rt::kv
