// \brief Grammar matcher: a pushdown parser over bytes that fills token bitmasks.
//
// The parser state is a small set of threads (automaton state, return stack). Stacks are
// hash-consed persistent lists, so a thread is two ints, snapshots for rollback are copies of a
// short vector, and a trie walk can push and discard frames cheaply. Masks are cached per
// compiled grammar by the canonical parser state: JSON output spends most steps in a few states.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "genai_rt/grammar/automaton.h"
#include "genai_rt/grammar/vocabulary.h"

namespace genai_rt::grammar {

/// \brief An automaton bound to a vocabulary, with the shared mask cache.
class CompiledGrammar {
 public:
  /// \brief `cache_limit_bytes` bounds the mask cache (cleared when full).
  CompiledGrammar(std::shared_ptr<const Automaton> automaton,
                  std::shared_ptr<const Vocabulary> vocab, size_t cache_limit_bytes);

  const Automaton& automaton() const { return *automaton_; }
  const Vocabulary& vocab() const { return *vocab_; }
  /// \brief Fills `words` (vocab().num_words()) from the cache; false on a miss.
  bool LookupMask(const std::string& key, uint32_t* words) const;
  /// \brief Caches `words`; `plain_run` > 0 says they contain Vocabulary::PlainUpTo(plain_run).
  void StoreMask(const std::string& key, const uint32_t* words, int32_t plain_run = 0);
  /// \brief Automaton plus mask cache (the vocabulary is shared and not counted).
  size_t MemoryBytes() const;
  size_t CachedMasks() const;
  /// \brief The state that every plain JSON-string character (see Vocabulary::PlainChars)
  /// leads to from `state`, or -1 if they do not all lead to one state. Memoized.
  int32_t PlainNext(int32_t state) const;
  /// \brief True if some plain character's first byte can be read from `state`.
  bool AnyPlainChar(int32_t state) const;
  /// \brief Bytes that lead from `state` back to itself (memoized).
  const ByteSet& LoopBytes(int32_t state) const;

 private:
  int32_t ComputePlainNext(int32_t state) const;
  struct CachedMask {
    enum Kind : uint8_t { kDense, kAllowed, kDenied, kPlain } kind;
    int32_t plain_run = 0;  // kPlain: the bucket; data lists the tokens outside it
    std::vector<uint32_t> data;  // words, or token ids
  };
  std::shared_ptr<const Automaton> automaton_;
  std::shared_ptr<const Vocabulary> vocab_;
  size_t cache_limit_bytes_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, CachedMask> cache_;
  size_t cache_bytes_ = 0;
  // Racing threads compute the same value, so relaxed atomics suffice.
  mutable std::unique_ptr<std::atomic<int32_t>[]> plain_next_;
  mutable std::mutex loop_mutex_;
  mutable std::unique_ptr<std::atomic<bool>[]> loop_known_;
  mutable std::unique_ptr<ByteSet[]> loop_bytes_;
};

/// \brief Hash-consed return stacks: equal stacks share one id; -1 is the empty stack.
class StackArena {
 public:
  struct Frame {
    int32_t ret;
    int32_t parent;
  };
  int32_t Push(int32_t ret, int32_t parent);
  const Frame& frame(int32_t id) const { return frames_[id]; }
  size_t Mark() const { return frames_.size(); }
  /// \brief Forgets frames pushed since `mark` (used after a trie walk).
  void Truncate(size_t mark);
  void Clear();

 private:
  static uint64_t Key(int32_t ret, int32_t parent) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(ret)) << 32) | static_cast<uint32_t>(parent);
  }
  std::vector<Frame> frames_;
  std::unordered_map<uint64_t, int32_t> index_;
};

/// \brief One parse thread: an automaton state and its return stack.
struct Thread {
  int32_t state;
  int32_t stack;
  bool operator==(const Thread& o) const { return state == o.state && stack == o.stack; }
};

/// \brief Per-request matcher (not thread-safe; distinct matchers may run in parallel).
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);

  /// \brief Advances by one token; false (state unchanged) if the grammar forbids it.
  bool AcceptToken(int32_t token_id);
  /// \brief Advances by raw bytes; false (state unchanged) if the grammar forbids them.
  bool AcceptBytes(const std::string& bytes);
  /// \brief Writes the allowed-token mask into `words` (vocab().num_words() int32 words).
  void FillNextTokenBitmask(uint32_t* words);
  /// \brief Fills `words` only if the mask is cached (cheap); false otherwise.
  bool FillFromCache(uint32_t* words);
  /// \brief Undoes the last `n` accepted tokens; throws std::out_of_range past the start.
  void Rollback(int32_t n);
  /// \brief True once an EOS token was accepted.
  bool IsTerminated() const { return terminated_; }
  /// \brief True if the text so far is a complete sentence of the grammar.
  bool IsAccepting() const { return IsAccepting(threads_); }
  /// \brief The longest byte string every continuation starts with (whole UTF-8 characters).
  std::string JumpForwardBytes();
  void Reset();
  const CompiledGrammar& grammar() const { return *grammar_; }
  int32_t num_history() const { return static_cast<int32_t>(history_.size()); }

 private:
  bool IsAccepting(const std::vector<Thread>& threads) const;
  bool Advance(const std::vector<Thread>& in, uint8_t byte, std::vector<Thread>* out);
  void Closure(std::vector<Thread>* threads);
  std::string StateKey(const std::vector<Thread>& threads) const;
  void Walk(const TokenTrie& trie, uint32_t* words);
  bool PlainFastMask(uint32_t* words, int32_t* plain_run);

  std::shared_ptr<const CompiledGrammar> grammar_;
  const Automaton* a_;
  const Vocabulary* vocab_;
  StackArena arena_;
  std::vector<Thread> threads_;
  bool terminated_ = false;
  struct Snapshot {
    std::vector<Thread> threads;
    bool terminated;
  };
  std::vector<Snapshot> history_;
  std::vector<std::vector<Thread>> levels_;  // trie walk: parser state per prefix length
  std::vector<char> simple_;                 // level d is one thread: simple_state_/stack_[d]
  std::vector<int32_t> simple_state_, simple_stack_;
};

/// \brief Fills masks[i] for matchers[i] on up to `num_threads` threads (0: all cores).
void FillNextTokenBitmaskBatch(const std::vector<Matcher*>& matchers,
                               const std::vector<uint32_t*>& masks, int num_threads);

}  // namespace genai_rt::grammar
