// \brief A tokenizer's vocabulary as byte strings, with the sorted token trie masks walk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genai_rt::grammar {

/// \brief One node of the token trie, stored in depth-first preorder.
///
/// Node i's subtree is [i, subtree_end); tokens whose bytes end at this node are
/// sorted_ids[token_begin, token_end). Walking the array in order and jumping to subtree_end on
/// a rejected byte visits each shared prefix once.
struct TrieNode {
  uint8_t byte;
  uint16_t depth;  ///< length of the prefix this node spells (1 for children of the root)
  int32_t subtree_end;
  int32_t token_begin;
  int32_t token_end;
  int32_t bytes_below = -1;  ///< index into TokenTrie::bytes_below, or -1 (small subtree)
};

/// \brief Subtrees with at least this many nodes record the set of bytes below them, so a walk
/// can accept a whole subtree at a state that loops on all of those bytes.
constexpr int32_t kMinSubtreeForByteSet = 8;

/// \brief A set of bytes as four 64-bit words.
struct ByteSet {
  uint64_t bits[4] = {0, 0, 0, 0};
  void Add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  bool SubsetOf(const ByteSet& o) const {
    return !((bits[0] & ~o.bits[0]) | (bits[1] & ~o.bits[1]) | (bits[2] & ~o.bits[2]) |
             (bits[3] & ~o.bits[3]));
  }
};

/// \brief Tokens made of JSON-string "plain" characters (valid UTF-8, no '"', '\\' or control
/// character) longer than this many characters are walked instead of bucketed.
constexpr int32_t kMaxPlainChars = 64;

/// \brief A trie in preorder plus the token ids its nodes point into.
struct TokenTrie {
  std::vector<TrieNode> nodes;
  std::vector<int32_t> sorted_ids;
  std::vector<ByteSet> bytes_below;
};

/// \brief Token byte strings, EOS and special ids, and the trie over grammar-usable tokens.
class Vocabulary {
 public:
  /// \brief token_bytes[i] is what token i decodes to; ids in [token_bytes.size(), vocab_size)
  /// are padding. Special tokens (and tokens with empty bytes) are never allowed by a grammar,
  /// EOS ids only at an accepting state. Throws std::invalid_argument on inconsistent input.
  Vocabulary(std::vector<std::string> token_bytes, int32_t vocab_size,
             std::vector<int32_t> eos_token_ids, std::vector<int32_t> special_token_ids);

  int32_t size() const { return vocab_size_; }
  int32_t num_words() const { return (vocab_size_ + 31) / 32; }
  const std::string& token(int32_t id) const { return token_bytes_[id]; }
  int32_t num_tokens() const { return static_cast<int32_t>(token_bytes_.size()); }
  const std::vector<int32_t>& eos_token_ids() const { return eos_; }
  bool IsEos(int32_t id) const;
  /// \brief True for ids a grammar may allow by their bytes (not special, not empty, not padding).
  bool IsGrammarToken(int32_t id) const {
    return id >= 0 && id < num_tokens() && grammar_token_[id];
  }
  const TokenTrie& trie() const { return trie_; }
  /// \brief Trie of the grammar tokens that are not plain-only (see kMaxPlainChars).
  const TokenTrie& impure_trie() const { return impure_trie_; }
  /// \brief Bitmask words of the plain-only tokens with 1..chars characters (chars <= 64).
  const uint32_t* PlainUpTo(int32_t chars) const {
    return plain_upto_.data() + static_cast<size_t>(chars) * num_words();
  }
  int32_t max_token_length() const { return max_len_; }
  size_t MemoryBytes() const;
  /// \brief Characters in `token` if it is plain-only (at most kMaxPlainChars), else -1.
  static int32_t PlainChars(const std::string& token);

 private:
  TokenTrie BuildTrie(std::vector<int32_t> ids) const;

  std::vector<std::string> token_bytes_;
  int32_t vocab_size_;
  std::vector<int32_t> eos_;
  std::vector<char> grammar_token_;
  TokenTrie trie_;
  TokenTrie impure_trie_;
  std::vector<uint32_t> plain_upto_;  // [kMaxPlainChars + 1, num_words]
  int32_t max_len_ = 0;
};

}  // namespace genai_rt::grammar
