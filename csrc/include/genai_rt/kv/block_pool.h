// Paged KV block pool: allocator with reference counts, plus the prefix cache.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace genai_rt::kv {

/// \brief Hash of one full KV block, chained from the start of the sequence.
///
/// Mixes the parent block's hash with the block's token ids, so equal hashes mean (barring
/// collisions, which BlockPool verifies away) an identical prefix up to and including the block.
uint64_t HashBlockTokens(uint64_t parent_hash, const int32_t* tokens, int32_t num_tokens);

/// \brief Seed of the hash chain (the "parent" of a sequence's first block).
constexpr uint64_t kRootBlockHash = 0x9E3779B97F4A7C15ULL;

/// \brief Fixed pool of KV blocks with ref counts, a free list and an LRU prefix cache.
///
/// A block is in exactly one state:
///   - free:      ref 0, no hash; on the free list;
///   - evictable: ref 0, hashed (cached content); on the LRU list, oldest evicted first;
///   - in use:    ref >= 1 (hashed or not).
/// Allocation takes a free block first and evicts the least recently freed cached block only
/// when the free list is empty, so cached prefixes survive as long as memory allows.
class BlockPool {
 public:
  /// \brief A pool of `num_blocks` blocks of `block_size` tokens.
  BlockPool(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);

  /// \brief Takes one block (ref 1, no hash); evicts a cached block if needed. -1 when none.
  int32_t Allocate();
  /// \brief One more owner of `block` (a prefix-cache hit or a fork). Revives evictable blocks.
  void IncRef(int32_t block);
  /// \brief One owner fewer; at ref 0 the block becomes evictable (hashed) or free.
  void DecRef(int32_t block);

  /// \brief The cached block holding exactly `tokens` after `parent_hash`, or -1.
  int32_t Lookup(uint64_t hash, uint64_t parent_hash, const int32_t* tokens) const;
  /// \brief Records that in-use `block` now holds a full, computed block of `tokens`.
  ///
  /// A no-op when prefix caching is off, when the block is already hashed, or when another
  /// block already caches the same content (the first one stays the cached copy).
  void Register(int32_t block, uint64_t hash, uint64_t parent_hash, const int32_t* tokens);

  /// \brief Blocks that Allocate can still hand out (free + evictable).
  int32_t NumAvailable() const { return num_free_ + num_evictable_; }
  int32_t NumFree() const { return num_free_; }
  int32_t NumEvictable() const { return num_evictable_; }
  int32_t NumBlocks() const { return num_blocks_; }
  int32_t BlockSize() const { return block_size_; }
  bool PrefixCachingEnabled() const { return enable_prefix_caching_; }
  int32_t RefCount(int32_t block) const;
  bool IsCached(int32_t block) const;
  /// \brief Evictable blocks, least recently freed first (the eviction order).
  std::vector<int32_t> EvictionOrder() const;
  /// \brief Drops every cached hash of a free block (e.g. after weights change).
  void ResetPrefixCache();
  /// \brief Throws std::logic_error if the state machine above is violated.
  void CheckInvariants() const;

 private:
  struct CachedContent {
    uint64_t parent_hash = 0;
    std::vector<int32_t> tokens;
  };
  void CheckBlock(int32_t block) const;
  void LruPushBack(int32_t block);
  void LruRemove(int32_t block);
  void Uncache(int32_t block);

  int32_t num_blocks_;
  int32_t block_size_;
  bool enable_prefix_caching_;
  std::vector<int32_t> ref_count_;
  std::vector<int32_t> free_list_;  // stack of free, unhashed blocks
  int32_t num_free_ = 0;
  // Intrusive doubly linked LRU list over evictable blocks; -1 terminates.
  std::vector<int32_t> lru_prev_, lru_next_;
  std::vector<uint8_t> in_lru_;
  int32_t lru_head_ = -1, lru_tail_ = -1;
  int32_t num_evictable_ = 0;
  std::vector<uint8_t> has_hash_;
  std::vector<uint64_t> block_hash_;
  std::vector<CachedContent> content_;
  std::unordered_map<uint64_t, int32_t> cached_;  // hash -> block
};

}  // namespace genai_rt::kv
