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
  const std::vector<TrieNode>& trie() const { return trie_; }
  const std::vector<int32_t>& sorted_ids() const { return sorted_ids_; }
  int32_t max_token_length() const { return max_len_; }
  size_t MemoryBytes() const;

 private:
  std::vector<std::string> token_bytes_;
  int32_t vocab_size_;
  std::vector<int32_t> eos_;
  std::vector<char> grammar_token_;
  std::vector<TrieNode> trie_;
  std::vector<int32_t> sorted_ids_;
  int32_t max_len_ = 0;
};

}  // namespace genai_rt::grammar
