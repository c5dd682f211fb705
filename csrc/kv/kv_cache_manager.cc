#include "genai_rt/kv/kv_cache_manager.h"

#include <stdexcept>
#include <string>

namespace genai_rt::kv {

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : pool_(num_blocks, block_size, enable_prefix_caching), block_size_(block_size) {}

KvCacheManager::Sequence& KvCacheManager::Get(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw std::out_of_range("unknown sequence " + std::to_string(seq_id));
  return it->second;
}

const KvCacheManager::Sequence& KvCacheManager::Get(int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw std::out_of_range("unknown sequence " + std::to_string(seq_id));
  return it->second;
}

void KvCacheManager::AddSequence(int64_t seq_id, const std::vector<int32_t>& prompt) {
  if (seqs_.count(seq_id) != 0) {
    throw std::invalid_argument("sequence " + std::to_string(seq_id) + " already exists");
  }
  if (prompt.empty()) throw std::invalid_argument("a sequence needs at least one token");
  seqs_[seq_id].tokens = prompt;
}

void KvCacheManager::AppendTokens(int64_t seq_id, const std::vector<int32_t>& tokens) {
  Sequence& seq = Get(seq_id);
  seq.tokens.insert(seq.tokens.end(), tokens.begin(), tokens.end());
}

int32_t KvCacheManager::MatchPrefix(int64_t seq_id) {
  Sequence& seq = Get(seq_id);
  if (!seq.blocks.empty()) {
    throw std::logic_error("MatchPrefix on sequence " + std::to_string(seq_id) +
                           " that already owns blocks");
  }
  const int32_t num_tokens = static_cast<int32_t>(seq.tokens.size());
  prefix_query_tokens_ += num_tokens;
  if (!pool_.PrefixCachingEnabled()) return 0;
  // Leave the last token uncached so the step that completes the prompt produces logits.
  const int32_t max_blocks = (num_tokens - 1) / block_size_;
  uint64_t parent = kRootBlockHash;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const int32_t* tokens = seq.tokens.data() + static_cast<int64_t>(i) * block_size_;
    const uint64_t hash = HashBlockTokens(parent, tokens, block_size_);
    const int32_t block = pool_.Lookup(hash, parent, tokens);
    if (block < 0) break;
    pool_.IncRef(block);
    seq.blocks.push_back(block);
    seq.block_hashes.push_back(hash);
    parent = hash;
  }
  seq.num_computed = static_cast<int32_t>(seq.blocks.size()) * block_size_;
  prefix_hit_tokens_ += seq.num_computed;
  return seq.num_computed;
}

int32_t KvCacheManager::ForkPrefix(int64_t parent_id, int64_t child_id, int32_t num_tokens) {
  const Sequence& parent = Get(parent_id);
  Sequence& child = Get(child_id);
  if (!child.blocks.empty()) throw std::logic_error("ForkPrefix into a child that owns blocks");
  if (num_tokens > parent.num_computed) num_tokens = parent.num_computed;
  if (num_tokens > static_cast<int32_t>(child.tokens.size()) - 1) {
    num_tokens = static_cast<int32_t>(child.tokens.size()) - 1;
  }
  const int32_t num_blocks = num_tokens / block_size_;
  for (int32_t i = 0; i < num_blocks * block_size_; ++i) {
    if (parent.tokens[i] != child.tokens[i]) {
      throw std::invalid_argument("ForkPrefix: parent and child differ at token " +
                                  std::to_string(i));
    }
  }
  for (int32_t i = 0; i < num_blocks; ++i) {
    pool_.IncRef(parent.blocks[i]);
    child.blocks.push_back(parent.blocks[i]);
    if (i < static_cast<int32_t>(parent.block_hashes.size())) {
      child.block_hashes.push_back(parent.block_hashes[i]);
    }
  }
  // Hashes must cover a prefix of the blocks; drop a partial copy to keep that true.
  if (static_cast<int32_t>(child.block_hashes.size()) != num_blocks) child.block_hashes.clear();
  child.num_computed = num_blocks * block_size_;
  return child.num_computed;
}

int32_t KvCacheManager::BlocksNeeded(int64_t seq_id, int32_t num_new) const {
  const Sequence& seq = Get(seq_id);
  const int64_t total = static_cast<int64_t>(seq.num_computed) + num_new;
  const int64_t needed = (total + block_size_ - 1) / block_size_;
  const int64_t have = static_cast<int64_t>(seq.blocks.size());
  return needed > have ? static_cast<int32_t>(needed - have) : 0;
}

bool KvCacheManager::Allocate(int64_t seq_id, int32_t num_new) {
  if (num_new < 0) throw std::invalid_argument("num_new must be >= 0");
  Sequence& seq = Get(seq_id);
  if (seq.num_computed + num_new > static_cast<int32_t>(seq.tokens.size())) {
    throw std::invalid_argument("Allocate past the sequence's known tokens");
  }
  const int32_t needed = BlocksNeeded(seq_id, num_new);
  if (needed > pool_.NumAvailable()) return false;
  for (int32_t i = 0; i < needed; ++i) seq.blocks.push_back(pool_.Allocate());
  return true;
}

void KvCacheManager::Commit(int64_t seq_id, int32_t num_new) {
  Sequence& seq = Get(seq_id);
  const int32_t computed = seq.num_computed + num_new;
  if (num_new < 0 || computed > static_cast<int32_t>(seq.blocks.size()) * block_size_ ||
      computed > static_cast<int32_t>(seq.tokens.size())) {
    throw std::invalid_argument("Commit of " + std::to_string(num_new) +
                                " tokens beyond the allocated or known tokens");
  }
  seq.num_computed = computed;
  const int32_t full_blocks = computed / block_size_;
  for (int32_t i = static_cast<int32_t>(seq.block_hashes.size()); i < full_blocks; ++i) {
    const uint64_t parent = i == 0 ? kRootBlockHash : seq.block_hashes[i - 1];
    const int32_t* tokens = seq.tokens.data() + static_cast<int64_t>(i) * block_size_;
    const uint64_t hash = HashBlockTokens(parent, tokens, block_size_);
    pool_.Register(seq.blocks[i], hash, parent, tokens);
    seq.block_hashes.push_back(hash);
  }
}

void KvCacheManager::CommitBatch(const std::vector<int64_t>& seq_ids,
                                 const std::vector<int32_t>& num_new) {
  if (seq_ids.size() != num_new.size()) {
    throw std::invalid_argument("seq_ids and num_new differ in length");
  }
  for (size_t i = 0; i < seq_ids.size(); ++i) Commit(seq_ids[i], num_new[i]);
}

void KvCacheManager::AppendTokenBatch(const std::vector<int64_t>& seq_ids,
                                      const std::vector<int32_t>& tokens) {
  if (seq_ids.size() != tokens.size()) {
    throw std::invalid_argument("seq_ids and tokens differ in length");
  }
  for (size_t i = 0; i < seq_ids.size(); ++i) Get(seq_ids[i]).tokens.push_back(tokens[i]);
}

void KvCacheManager::ReleaseBlocks(Sequence& seq) {
  // Tail first: the end of a sequence is the least likely to be shared, so it is evicted first.
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) pool_.DecRef(*it);
  seq.blocks.clear();
  seq.block_hashes.clear();
  seq.num_computed = 0;
}

void KvCacheManager::Reset(int64_t seq_id) { ReleaseBlocks(Get(seq_id)); }

void KvCacheManager::Free(int64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) throw std::out_of_range("unknown sequence " + std::to_string(seq_id));
  ReleaseBlocks(it->second);
  seqs_.erase(it);
}

int32_t KvCacheManager::NumTokens(int64_t seq_id) const {
  return static_cast<int32_t>(Get(seq_id).tokens.size());
}

int32_t KvCacheManager::NumComputed(int64_t seq_id) const { return Get(seq_id).num_computed; }

const std::vector<int32_t>& KvCacheManager::BlockTable(int64_t seq_id) const {
  return Get(seq_id).blocks;
}

void KvCacheManager::CheckInvariants() const {
  pool_.CheckInvariants();
  std::vector<int32_t> owners(pool_.NumBlocks(), 0);
  for (const auto& [id, seq] : seqs_) {
    if (static_cast<int64_t>(seq.num_computed) >
        static_cast<int64_t>(seq.blocks.size()) * block_size_) {
      throw std::logic_error("sequence " + std::to_string(id) + " computed past its blocks");
    }
    for (int32_t b : seq.blocks) ++owners[b];
  }
  for (int32_t b = 0; b < pool_.NumBlocks(); ++b) {
    if (owners[b] != pool_.RefCount(b)) {
      throw std::logic_error("block " + std::to_string(b) + " has ref count " +
                             std::to_string(pool_.RefCount(b)) + " but " +
                             std::to_string(owners[b]) + " owners");
    }
  }
}

}  // namespace genai_rt::kv
