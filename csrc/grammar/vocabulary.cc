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
  std::vector<int32_t> all, impure;
  std::vector<int32_t> plain_chars(n, -1);
  for (int32_t id = 0; id < n; ++id) {
    if (!grammar_token_[id]) continue;
    all.push_back(id);
    plain_chars[id] = PlainChars(token_bytes_[id]);
    if (plain_chars[id] < 0) impure.push_back(id);
    max_len_ = std::max(max_len_, static_cast<int32_t>(token_bytes_[id].size()));
  }
  trie_ = BuildTrie(all);
  impure_trie_ = BuildTrie(impure);
  // Cumulative buckets: row L holds every plain-only token of 1..L characters.
  size_t nw = static_cast<size_t>(num_words());
  plain_upto_.assign((kMaxPlainChars + 1) * nw, 0);
  for (int32_t id = 0; id < n; ++id) {
    if (plain_chars[id] > 0) plain_upto_[plain_chars[id] * nw + (id >> 5)] |= 1u << (id & 31);
  }
  for (int32_t len = 1; len <= kMaxPlainChars; ++len) {
    for (size_t w = 0; w < nw; ++w) plain_upto_[len * nw + w] |= plain_upto_[(len - 1) * nw + w];
  }
}

int32_t Vocabulary::PlainChars(const std::string& t) {
  int32_t chars = 0;
  for (size_t i = 0; i < t.size();) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    if (c < 0x20 || c == '"' || c == '\\') return -1;
    size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
               : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0 || i + len > t.size()) return -1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(t[i + k]);
      if ((d & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return -1;
    i += len;
    if (++chars > kMaxPlainChars) return -1;
  }
  return chars;
}

TokenTrie Vocabulary::BuildTrie(std::vector<int32_t> ids) const {
  TokenTrie trie;
  std::sort(ids.begin(), ids.end(), [this](int32_t a, int32_t b) {
    return token_bytes_[a] < token_bytes_[b] || (token_bytes_[a] == token_bytes_[b] && a < b);
  });
  trie.sorted_ids = std::move(ids);
  std::vector<TrieNode>& nodes = trie.nodes;
  // Sorted order is preorder; `path` holds the open nodes along the current token.
  std::vector<int32_t> path;
  const std::string* prev = nullptr;
  for (size_t k = 0; k < trie.sorted_ids.size(); ++k) {
    const std::string& t = token_bytes_[trie.sorted_ids[k]];
    size_t lcp = 0;
    if (prev) {
      while (lcp < prev->size() && lcp < t.size() && (*prev)[lcp] == t[lcp]) ++lcp;
    }
    while (path.size() > lcp) {
      nodes[path.back()].subtree_end = static_cast<int32_t>(nodes.size());
      path.pop_back();
    }
    for (size_t d = lcp; d < t.size(); ++d) {
      path.push_back(static_cast<int32_t>(nodes.size()));
      nodes.push_back(TrieNode{static_cast<uint8_t>(t[d]), static_cast<uint16_t>(d + 1), 0,
                               static_cast<int32_t>(k), static_cast<int32_t>(k), -1});
    }
    // Equal byte strings are adjacent in sorted order, so a node's tokens form one range.
    nodes[path.back()].token_end = static_cast<int32_t>(k + 1);
    prev = &t;
  }
  while (!path.empty()) {
    nodes[path.back()].subtree_end = static_cast<int32_t>(nodes.size());
    path.pop_back();
  }
  // Bytes below each large subtree, children before parents (reverse preorder).
  std::vector<ByteSet> below(nodes.size());
  std::vector<int32_t> parent(nodes.size(), -1);
  path.clear();
  for (size_t i = 0; i < nodes.size(); ++i) {
    while (!path.empty() && nodes[path.back()].subtree_end <= static_cast<int32_t>(i)) path.pop_back();
    if (!path.empty()) parent[i] = path.back();
    path.push_back(static_cast<int32_t>(i));
  }
  for (size_t i = nodes.size(); i-- > 0;) {
    int32_t p = parent[i];
    if (p < 0) continue;
    below[p].Add(nodes[i].byte);
    for (int w = 0; w < 4; ++w) below[p].bits[w] |= below[i].bits[w];
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].subtree_end - static_cast<int32_t>(i) >= kMinSubtreeForByteSet) {
      nodes[i].bytes_below = static_cast<int32_t>(trie.bytes_below.size());
      trie.bytes_below.push_back(below[i]);
    }
  }
  return trie;
}

bool Vocabulary::IsEos(int32_t id) const {
  return std::find(eos_.begin(), eos_.end(), id) != eos_.end();
}

size_t Vocabulary::MemoryBytes() const {
  size_t bytes = sizeof(*this) + grammar_token_.capacity() + plain_upto_.capacity() * 4;
  for (const TokenTrie* t : {&trie_, &impure_trie_}) {
    bytes += t->nodes.capacity() * sizeof(TrieNode) + t->sorted_ids.capacity() * sizeof(int32_t) +
             t->bytes_below.capacity() * sizeof(ByteSet);
  }
  for (const std::string& t : token_bytes_) bytes += sizeof(std::string) + t.capacity();
  return bytes;
}

}  // namespace genai_rt::grammar
