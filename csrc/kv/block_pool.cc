#include "genai_rt/kv/block_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace genai_rt::kv {

namespace {

// splitmix64 finalizer: full avalanche, so chained hashes of nearby token ids do not cluster.
inline uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t HashBlockTokens(uint64_t parent_hash, const int32_t* tokens, int32_t num_tokens) {
  uint64_t h = Mix(parent_hash ^ static_cast<uint64_t>(num_tokens));
  for (int32_t i = 0; i < num_tokens; ++i) {
    h = Mix(h ^ static_cast<uint32_t>(tokens[i]));
  }
  return h;
}

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks), block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  if (num_blocks <= 0) throw std::invalid_argument("num_blocks must be > 0");
  if (block_size <= 0) throw std::invalid_argument("block_size must be > 0");
  ref_count_.assign(num_blocks, 0);
  lru_prev_.assign(num_blocks, -1);
  lru_next_.assign(num_blocks, -1);
  in_lru_.assign(num_blocks, 0);
  has_hash_.assign(num_blocks, 0);
  block_hash_.assign(num_blocks, 0);
  content_.resize(num_blocks);
  // Stack popped from the back: block 0 is handed out first (readable block tables in tests).
  free_list_.reserve(num_blocks);
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_list_.push_back(b);
  num_free_ = num_blocks;
}

void BlockPool::CheckBlock(int32_t block) const {
  if (block < 0 || block >= num_blocks_) {
    throw std::out_of_range("block id " + std::to_string(block) + " outside [0, " +
                            std::to_string(num_blocks_) + ")");
  }
}

int32_t BlockPool::Allocate() {
  int32_t block;
  if (num_free_ > 0) {
    block = free_list_.back();
    free_list_.pop_back();
    --num_free_;
  } else if (num_evictable_ > 0) {
    block = lru_head_;
    LruRemove(block);
    Uncache(block);
  } else {
    return -1;
  }
  ref_count_[block] = 1;
  return block;
}

void BlockPool::IncRef(int32_t block) {
  CheckBlock(block);
  if (ref_count_[block] == 0) {
    if (!in_lru_[block]) {
      throw std::logic_error("IncRef on free block " + std::to_string(block) +
                             " (only in-use or cached blocks can gain owners)");
    }
    LruRemove(block);
  }
  ++ref_count_[block];
}

void BlockPool::DecRef(int32_t block) {
  CheckBlock(block);
  if (ref_count_[block] <= 0) {
    throw std::logic_error("DecRef on block " + std::to_string(block) + " with no owner");
  }
  if (--ref_count_[block] > 0) return;
  if (has_hash_[block]) {
    LruPushBack(block);
  } else {
    free_list_.push_back(block);
    ++num_free_;
  }
}

int32_t BlockPool::Lookup(uint64_t hash, uint64_t parent_hash, const int32_t* tokens) const {
  if (!enable_prefix_caching_) return -1;
  auto it = cached_.find(hash);
  if (it == cached_.end()) return -1;
  const CachedContent& c = content_[it->second];
  // Verify the content: a 64-bit collision must cost a miss, never a wrong KV block.
  if (c.parent_hash != parent_hash || !std::equal(c.tokens.begin(), c.tokens.end(), tokens)) {
    return -1;
  }
  return it->second;
}

void BlockPool::Register(int32_t block, uint64_t hash, uint64_t parent_hash,
                         const int32_t* tokens) {
  CheckBlock(block);
  if (!enable_prefix_caching_ || has_hash_[block]) return;
  if (ref_count_[block] <= 0) throw std::logic_error("Register on a block with no owner");
  if (cached_.count(hash) != 0) return;
  has_hash_[block] = 1;
  block_hash_[block] = hash;
  content_[block].parent_hash = parent_hash;
  content_[block].tokens.assign(tokens, tokens + block_size_);
  cached_.emplace(hash, block);
}

void BlockPool::Uncache(int32_t block) {
  if (!has_hash_[block]) return;
  cached_.erase(block_hash_[block]);
  has_hash_[block] = 0;
  content_[block].tokens.clear();
}

void BlockPool::LruPushBack(int32_t block) {
  lru_prev_[block] = lru_tail_;
  lru_next_[block] = -1;
  if (lru_tail_ >= 0) {
    lru_next_[lru_tail_] = block;
  } else {
    lru_head_ = block;
  }
  lru_tail_ = block;
  in_lru_[block] = 1;
  ++num_evictable_;
}

void BlockPool::LruRemove(int32_t block) {
  const int32_t prev = lru_prev_[block], next = lru_next_[block];
  if (prev >= 0) {
    lru_next_[prev] = next;
  } else {
    lru_head_ = next;
  }
  if (next >= 0) {
    lru_prev_[next] = prev;
  } else {
    lru_tail_ = prev;
  }
  lru_prev_[block] = lru_next_[block] = -1;
  in_lru_[block] = 0;
  --num_evictable_;
}

int32_t BlockPool::RefCount(int32_t block) const {
  CheckBlock(block);
  return ref_count_[block];
}

bool BlockPool::IsCached(int32_t block) const {
  CheckBlock(block);
  return has_hash_[block] != 0;
}

std::vector<int32_t> BlockPool::EvictionOrder() const {
  std::vector<int32_t> order;
  order.reserve(num_evictable_);
  for (int32_t b = lru_head_; b >= 0; b = lru_next_[b]) order.push_back(b);
  return order;
}

void BlockPool::ResetPrefixCache() {
  while (num_evictable_ > 0) {
    const int32_t block = lru_head_;
    LruRemove(block);
    Uncache(block);
    free_list_.push_back(block);
    ++num_free_;
  }
}

void BlockPool::CheckInvariants() const {
  auto fail = [](const std::string& what) { throw std::logic_error("BlockPool: " + what); };
  std::vector<uint8_t> on_free(num_blocks_, 0);
  for (int32_t b : free_list_) {
    if (on_free[b]) fail("block " + std::to_string(b) + " twice on the free list");
    on_free[b] = 1;
  }
  if (static_cast<int32_t>(free_list_.size()) != num_free_) fail("free count mismatch");
  int32_t lru_count = 0;
  for (int32_t b = lru_head_, prev = -1; b >= 0; prev = b, b = lru_next_[b]) {
    if (lru_prev_[b] != prev) fail("broken LRU back link");
    if (++lru_count > num_blocks_) fail("LRU cycle");
  }
  if (lru_count != num_evictable_) fail("evictable count mismatch");
  int32_t hashed = 0;
  for (int32_t b = 0; b < num_blocks_; ++b) {
    const bool free = on_free[b] != 0, lru = in_lru_[b] != 0, hashed_b = has_hash_[b] != 0;
    if (ref_count_[b] < 0) fail("negative ref count");
    if (free && (lru || hashed_b || ref_count_[b] != 0)) fail("free block in another state");
    if (lru && (!hashed_b || ref_count_[b] != 0)) fail("evictable block not cached or owned");
    if (!free && !lru && ref_count_[b] == 0) fail("leaked block " + std::to_string(b));
    if (hashed_b) {
      ++hashed;
      auto it = cached_.find(block_hash_[b]);
      if (it == cached_.end() || it->second != b) fail("hash map out of step");
    }
  }
  if (hashed != static_cast<int32_t>(cached_.size())) fail("stale hash map entries");
}

}  // namespace genai_rt::kv
