#include "genai_rt/grammar/vocabulary.h"

#include <algorithm>
#include <stdexcept>

namespace genai_rt::grammar {

Vocabulary::Vocabulary(std::vector<std::string> token_bytes, int32_t vocab_size,
                       std::vector<int32_t> eos_token_ids, std::vector<int32_t> special_token_ids)
    : token_bytes_(std::move(token_bytes)), vocab_size_(vocab_size), eos_(std::move(eos_token_ids)) {
  int32_t n = static_cast<int32_t>(token_bytes_.size());
  if (vocab_size_ < n) {
    throw std::invalid_argument("vocab_size (" + std::to_string(vocab_size_) +
                                ") is smaller than the number of token byte strings (" +
                                std::to_string(n) + ")");
  }
  for (int32_t id : eos_) {
    if (id < 0 || id >= vocab_size_) {
      throw std::invalid_argument("eos token id " + std::to_string(id) + " is outside [0, " +
                                  std::to_string(vocab_size_) + ")");
    }
  }
  grammar_token_.assign(n, 1);
  for (int32_t id : special_token_ids) {
    if (id < 0 || id >= vocab_size_) {
      throw std::invalid_argument("special token id " + std::to_string(id) + " is outside [0, " +
                                  std::to_string(vocab_size_) + ")");
    }
    if (id < n) grammar_token_[id] = 0;
  }
  for (int32_t id : eos_) {
    if (id < n) grammar_token_[id] = 0;
  }
  for (int32_t id = 0; id < n; ++id) {
    if (token_bytes_[id].empty()) grammar_token_[id] = 0;
    if (token_bytes_[id].size() > 65535) {
      throw std::invalid_argument("token " + std::to_string(id) + " is longer than 65535 bytes");
    }
  }
  for (int32_t id = 0; id < n; ++id) {
    if (grammar_token_[id]) sorted_ids_.push_back(id);
  }
  std::sort(sorted_ids_.begin(), sorted_ids_.end(), [this](int32_t a, int32_t b) {
    return token_bytes_[a] < token_bytes_[b] || (token_bytes_[a] == token_bytes_[b] && a < b);
  });
  // Preorder trie: sorted order is preorder; `path` holds the open nodes along the current token.
  std::vector<int32_t> path;
  const std::string* prev = nullptr;
  for (size_t k = 0; k < sorted_ids_.size(); ++k) {
    const std::string& t = token_bytes_[sorted_ids_[k]];
    size_t lcp = 0;
    if (prev) {
      while (lcp < prev->size() && lcp < t.size() && (*prev)[lcp] == t[lcp]) ++lcp;
    }
    while (path.size() > lcp) {
      trie_[path.back()].subtree_end = static_cast<int32_t>(trie_.size());
      path.pop_back();
    }
    for (size_t d = lcp; d < t.size(); ++d) {
      path.push_back(static_cast<int32_t>(trie_.size()));
      trie_.push_back(TrieNode{static_cast<uint8_t>(t[d]), static_cast<uint16_t>(d + 1), 0,
                               static_cast<int32_t>(k), static_cast<int32_t>(k)});
    }
    // Equal byte strings are adjacent in sorted order, so a node's tokens form one range.
    trie_[path.back()].token_end = static_cast<int32_t>(k + 1);
    max_len_ = std::max(max_len_, static_cast<int32_t>(t.size()));
    prev = &t;
  }
  while (!path.empty()) {
    trie_[path.back()].subtree_end = static_cast<int32_t>(trie_.size());
    path.pop_back();
  }
}

bool Vocabulary::IsEos(int32_t id) const {
  return std::find(eos_.begin(), eos_.end(), id) != eos_.end();
}

size_t Vocabulary::MemoryBytes() const {
  size_t bytes = sizeof(*this) + trie_.capacity() * sizeof(TrieNode) +
                 sorted_ids_.capacity() * sizeof(int32_t) + grammar_token_.capacity();
  for (const std::string& t : token_bytes_) bytes += sizeof(std::string) + t.capacity();
  return bytes;
}

}  // namespace genai_rt::grammar
