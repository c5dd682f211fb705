#include "genai_rt/grammar/matcher.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace genai_rt::grammar {

namespace {
constexpr int32_t kPlainUnknown = -2;
}  // namespace

// ------------------------------------------------------------------------------------------
// CompiledGrammar: the mask cache
// ------------------------------------------------------------------------------------------

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Automaton> automaton,
                                 std::shared_ptr<const Vocabulary> vocab,
                                 size_t cache_limit_bytes)
    : automaton_(std::move(automaton)),
      vocab_(std::move(vocab)),
      cache_limit_bytes_(cache_limit_bytes),
      plain_next_(new std::atomic<int32_t>[automaton_->num_states()]) {
  for (size_t i = 0; i < automaton_->num_states(); ++i) {
    plain_next_[i].store(kPlainUnknown, std::memory_order_relaxed);
  }
  loop_known_.reset(new std::atomic<bool>[automaton_->num_states()]);
  for (size_t i = 0; i < automaton_->num_states(); ++i) loop_known_[i].store(false);
  loop_bytes_.reset(new ByteSet[automaton_->num_states()]);
}

const ByteSet& CompiledGrammar::LoopBytes(int32_t state) const {
  if (!loop_known_[state].load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    if (!loop_known_[state].load(std::memory_order_relaxed)) {
      ByteSet set;
      for (int b = 0; b < 256; ++b) {
        if (automaton_->Next(state, static_cast<uint8_t>(b)) == state) set.Add(static_cast<uint8_t>(b));
      }
      loop_bytes_[state] = set;
      loop_known_[state].store(true, std::memory_order_release);
    }
  }
  return loop_bytes_[state];
}

bool CompiledGrammar::LookupMask(const std::string& key, uint32_t* words) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  const CachedMask& m = it->second;
  int32_t nw = vocab_->num_words();
  switch (m.kind) {
    case CachedMask::kDense:
      std::memcpy(words, m.data.data(), nw * sizeof(uint32_t));
      break;
    case CachedMask::kAllowed:
      std::memset(words, 0, nw * sizeof(uint32_t));
      for (uint32_t id : m.data) words[id >> 5] |= 1u << (id & 31);
      break;
    case CachedMask::kPlain:
      std::memcpy(words, vocab_->PlainUpTo(m.plain_run), nw * sizeof(uint32_t));
      for (uint32_t id : m.data) words[id >> 5] |= 1u << (id & 31);
      break;
    case CachedMask::kDenied: {
      std::memset(words, 0xFF, nw * sizeof(uint32_t));
      int32_t tail = vocab_->size() & 31;
      if (tail) words[nw - 1] = (1u << tail) - 1;
      for (uint32_t id : m.data) words[id >> 5] &= ~(1u << (id & 31));
      break;
    }
  }
  return true;
}

void CompiledGrammar::StoreMask(const std::string& key, const uint32_t* words, int32_t plain_run) {
  int32_t nw = vocab_->num_words();
  int32_t v = vocab_->size();
  int64_t allowed = 0;
  for (int32_t w = 0; w < nw; ++w) allowed += __builtin_popcount(words[w]);
  int64_t denied = v - allowed;
  CachedMask m;
  if (plain_run > 0) {
    // A string-body mask is a precomputed bucket plus a few hundred other tokens: store only
    // those (~1 KB instead of ~20 KB), so a 4 MB cache holds every position of long strings.
    m.kind = CachedMask::kPlain;
    m.plain_run = plain_run;
    const uint32_t* bucket = vocab_->PlainUpTo(plain_run);
    for (int32_t w = 0; w < nw; ++w) {
      for (uint32_t bits = words[w] & ~bucket[w]; bits; bits &= bits - 1) {
        m.data.push_back(static_cast<uint32_t>(w * 32 + __builtin_ctz(bits)));
      }
    }
  } else if (allowed <= nw / 2 || denied <= nw / 2) {
    // Lists beat the dense form when short: JSON structure allows a handful of tokens.
    bool keep = allowed <= denied;
    m.kind = keep ? CachedMask::kAllowed : CachedMask::kDenied;
    m.data.reserve(keep ? allowed : denied);
    // Word by word over set bits: a bit-by-bit scan of 100k ids cost 65 us per new state.
    for (int32_t w = 0; w < nw; ++w) {
      uint32_t bits = keep ? words[w] : ~words[w];
      if (w == nw - 1 && (v & 31)) bits &= (1u << (v & 31)) - 1;
      while (bits) {
        m.data.push_back(static_cast<uint32_t>(w * 32 + __builtin_ctz(bits)));
        bits &= bits - 1;
      }
    }
  } else {
    m.kind = CachedMask::kDense;
    m.data.assign(words, words + nw);
  }
  size_t bytes = key.size() + m.data.size() * sizeof(uint32_t) + 64;
  std::lock_guard<std::mutex> lock(mutex_);
  if (cache_bytes_ + bytes > cache_limit_bytes_) {
    cache_.clear();
    cache_bytes_ = 0;
  }
  if (bytes > cache_limit_bytes_) return;
  if (cache_.emplace(key, std::move(m)).second) cache_bytes_ += bytes;
}

size_t CompiledGrammar::MemoryBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sizeof(*this) + automaton_->MemoryBytes() + cache_bytes_;
}

size_t CompiledGrammar::CachedMasks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_.size();
}

// ------------------------------------------------------------------------------------------
// StackArena
// ------------------------------------------------------------------------------------------

int32_t StackArena::Push(int32_t ret, int32_t parent) {
  auto [it, inserted] = index_.emplace(Key(ret, parent), static_cast<int32_t>(frames_.size()));
  if (inserted) frames_.push_back({ret, parent});
  return it->second;
}

void StackArena::Truncate(size_t mark) {
  for (size_t i = mark; i < frames_.size(); ++i) index_.erase(Key(frames_[i].ret, frames_[i].parent));
  frames_.resize(mark);
}

void StackArena::Clear() {
  frames_.clear();
  index_.clear();
}

// ------------------------------------------------------------------------------------------
// Matcher
// ------------------------------------------------------------------------------------------

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), a_(&grammar_->automaton()), vocab_(&grammar_->vocab()) {
  levels_.resize(static_cast<size_t>(vocab_->max_token_length()) + 1);
  simple_.assign(levels_.size(), false);
  simple_state_.assign(levels_.size(), -1);
  simple_stack_.assign(levels_.size(), -1);
  Reset();
}

void Matcher::Reset() {
  arena_.Clear();
  history_.clear();
  terminated_ = false;
  threads_ = {Thread{a_->rule_start(a_->root()), -1}};
  Closure(&threads_);
}

namespace {
inline void AddUnique(std::vector<Thread>* v, Thread t) {
  for (const Thread& x : *v) {
    if (x == t) return;
  }
  v->push_back(t);
}
}  // namespace

void Matcher::Closure(std::vector<Thread>* threads) {
  std::vector<Thread>& v = *threads;
  for (size_t i = 0; i < v.size(); ++i) {
    Thread t = v[i];
    for (const CallEdge* e = a_->calls_begin(t.state); e != a_->calls_end(t.state); ++e) {
      // Returning to a state that can only return again is the same as not pushing it: this
      // keeps right-recursive rules (list ::= item list?) at constant stack depth.
      int32_t stack = a_->IsPureFinal(e->ret) ? t.stack : arena_.Push(e->ret, t.stack);
      AddUnique(&v, Thread{a_->rule_start(e->rule), stack});
    }
    if (a_->state(t.state).final && t.stack >= 0) {
      const StackArena::Frame& f = arena_.frame(t.stack);
      AddUnique(&v, Thread{f.ret, f.parent});
    }
  }
  // Only threads that can read a byte, or that accept, matter from here on.
  size_t keep = 0;
  for (const Thread& t : v) {
    const AutomatonState& st = a_->state(t.state);
    if (st.has_bytes || (st.final && t.stack < 0)) v[keep++] = t;
  }
  v.resize(keep);
}

bool Matcher::Advance(const std::vector<Thread>& in, uint8_t byte, std::vector<Thread>* out) {
  out->clear();
  if (in.size() == 1) {
    // Fast path: one thread moving inside its rule (a string body, a number, a literal).
    int32_t next = a_->Next(in[0].state, byte);
    if (next < 0) return false;
    const AutomatonState& st = a_->state(next);
    out->push_back(Thread{next, in[0].stack});
    if (st.calls_begin == st.calls_end && !(st.final && in[0].stack >= 0)) return true;
    Closure(out);
    return !out->empty();
  }
  for (const Thread& t : in) {
    int32_t next = a_->Next(t.state, byte);
    if (next >= 0) AddUnique(out, Thread{next, t.stack});
  }
  if (out->empty()) return false;
  Closure(out);
  return !out->empty();
}

bool Matcher::IsAccepting(const std::vector<Thread>& threads) const {
  for (const Thread& t : threads) {
    if (t.stack < 0 && a_->state(t.state).final) return true;
  }
  return false;
}

bool Matcher::AcceptBytes(const std::string& bytes) {
  if (terminated_) return false;
  size_t mark = arena_.Mark();
  std::vector<Thread> cur = threads_, next;
  for (unsigned char b : bytes) {
    if (!Advance(cur, b, &next)) {
      arena_.Truncate(mark);
      return false;
    }
    cur.swap(next);
  }
  history_.push_back({std::move(threads_), terminated_});
  threads_ = std::move(cur);
  return true;
}

bool Matcher::AcceptToken(int32_t token_id) {
  if (terminated_) return false;
  if (vocab_->IsEos(token_id)) {
    if (!IsAccepting()) return false;
    history_.push_back({threads_, terminated_});
    terminated_ = true;
    return true;
  }
  if (!vocab_->IsGrammarToken(token_id)) return false;
  return AcceptBytes(vocab_->token(token_id));
}

void Matcher::Rollback(int32_t n) {
  if (n < 0 || n > num_history()) {
    throw std::out_of_range("cannot roll back " + std::to_string(n) + " tokens: only " +
                            std::to_string(num_history()) + " accepted");
  }
  for (int32_t i = 0; i < n; ++i) {
    threads_ = std::move(history_.back().threads);
    terminated_ = history_.back().terminated;
    history_.pop_back();
  }
}

std::string Matcher::StateKey(const std::vector<Thread>& threads) const {
  // Canonical across matchers: each thread spelled out as state then its whole stack, threads
  // in sorted order. One thread (the common case) needs no sort and no temporary vectors.
  auto append = [](std::string* key, int32_t v) {
    key->append(reinterpret_cast<const char*>(&v), sizeof(v));
  };
  auto spell = [&](const Thread& t, std::string* key) {
    append(key, t.state);
    for (int32_t f = t.stack; f >= 0; f = arena_.frame(f).parent) append(key, arena_.frame(f).ret);
    append(key, -1);
  };
  std::string key;
  if (threads.size() == 1) {
    spell(threads[0], &key);
    return key;
  }
  std::vector<std::string> spelled(threads.size());
  for (size_t i = 0; i < threads.size(); ++i) spell(threads[i], &spelled[i]);
  std::sort(spelled.begin(), spelled.end());
  for (const std::string& s : spelled) key += s;
  return key;
}

void Matcher::Walk(const TokenTrie& tokens, uint32_t* words) {
  const std::vector<TrieNode>& trie = tokens.nodes;
  const int32_t* ids = tokens.sorted_ids.data();
  size_t mark = arena_.Mark();
  // Levels holding one thread that moves inside its rule are kept as two ints (simple_*); the
  // general thread vector is only built when a byte triggers a call or a return. Most of a
  // walk is the simple case: 2-3x fewer cycles per trie node than going through Advance.
  levels_[0] = threads_;
  simple_[0] = threads_.size() == 1;
  if (simple_[0]) {
    simple_state_[0] = threads_[0].state;
    simple_stack_[0] = threads_[0].stack;
  }
  int32_t n = static_cast<int32_t>(trie.size());
  for (int32_t i = 0; i < n;) {
    const TrieNode& node = trie[i];
    int32_t d = node.depth;
    if (simple_[d - 1]) {
      int32_t next = a_->Next(simple_state_[d - 1], node.byte);
      if (next < 0) {
        i = node.subtree_end;  // no token under this prefix can be allowed
        continue;
      }
      const AutomatonState& st = a_->state(next);
      int32_t stack = simple_stack_[d - 1];
      if (st.calls_begin == st.calls_end && !(st.final && stack >= 0)) {
        simple_[d] = true;
        simple_state_[d] = next;
        simple_stack_[d] = stack;
      } else {
        std::vector<Thread>& out = levels_[d];
        out.assign(1, Thread{next, stack});
        Closure(&out);
        if (out.empty()) {
          i = node.subtree_end;
          continue;
        }
        simple_[d] = false;
      }
    } else {
      if (!Advance(levels_[d - 1], node.byte, &levels_[d])) {
        i = node.subtree_end;
        continue;
      }
      simple_[d] = false;
    }
    if (!simple_[d] && levels_[d].size() == 1) {
      simple_[d] = true;
      simple_state_[d] = levels_[d][0].state;
      simple_stack_[d] = levels_[d][0].stack;
    }
    for (int32_t k = node.token_begin; k < node.token_end; ++k) {
      words[ids[k] >> 5] |= 1u << (ids[k] & 31);
    }
    // At a state that loops on every byte below this node (an email's local part, `.*`),
    // every token of the subtree is allowed: take them all without walking.
    if (node.bytes_below >= 0 && simple_[d]) {
      const AutomatonState& st = a_->state(simple_state_[d]);
      if (st.calls_begin == st.calls_end && !(st.final && simple_stack_[d] >= 0) &&
          tokens.bytes_below[node.bytes_below].SubsetOf(grammar_->LoopBytes(simple_state_[d]))) {
        int32_t end = trie[node.subtree_end - 1].token_end;
        for (int32_t k = node.token_end; k < end; ++k) words[ids[k] >> 5] |= 1u << (ids[k] & 31);
        i = node.subtree_end;
        continue;
      }
    }
    ++i;
  }
  arena_.Truncate(mark);
}

bool Matcher::FillFromCache(uint32_t* words) {
  if (terminated_) {
    FillNextTokenBitmask(words);
    return true;
  }
  return grammar_->LookupMask(StateKey(threads_), words);
}

void Matcher::FillNextTokenBitmask(uint32_t* words) {
  int32_t nw = vocab_->num_words();
  if (!terminated_) {
    std::string key = StateKey(threads_);
    if (grammar_->LookupMask(key, words)) return;  // writes every word itself
    std::memset(words, 0, nw * sizeof(uint32_t));
    int32_t plain_run = 0;
    if (!PlainFastMask(words, &plain_run)) Walk(vocab_->trie(), words);
    if (IsAccepting()) {
      for (int32_t id : vocab_->eos_token_ids()) words[id >> 5] |= 1u << (id & 31);
    }
    const_cast<CompiledGrammar*>(grammar_.get())->StoreMask(key, words, plain_run);
    return;
  }
  // A terminated matcher allows only EOS, so a sampler always has a token to pick.
  std::memset(words, 0, nw * sizeof(uint32_t));
  for (int32_t id : vocab_->eos_token_ids()) words[id >> 5] |= 1u << (id & 31);
}

// Inside a JSON string body the automaton moves through a chain of states, one per plain
// character (or loops on one). Then every plain-only token of at most `run` characters is
// allowed (a precomputed bitset) and only the other tokens (quotes, escapes, partial UTF-8:
// about 4% of cl100k) need a walk. This is what keeps maxLength strings off the slow path.
bool Matcher::PlainFastMask(uint32_t* words, int32_t* plain_run) {
  int32_t run = 0;
  if (threads_.size() == 1) {
    for (int32_t cur = threads_[0].state; run < kMaxPlainChars;) {
      int32_t next = grammar_->PlainNext(cur);
      if (next < 0) {
        if (grammar_->AnyPlainChar(cur)) return false;  // some plain characters, not all
        break;
      }
      const AutomatonState& st = a_->state(next);
      // A call or a possible return mid-run would let other rules read the rest of a token
      // (final with an empty stack only means EOS is allowed there).
      if ((st.final && threads_[0].stack >= 0) || st.calls_begin != st.calls_end) return false;
      ++run;
      if (next == cur) {
        run = kMaxPlainChars;
        break;
      }
      cur = next;
    }
  } else {
    for (const Thread& t : threads_) {
      if (grammar_->AnyPlainChar(t.state)) return false;
    }
  }
  if (run > 0) {
    std::memcpy(words, vocab_->PlainUpTo(run), vocab_->num_words() * sizeof(uint32_t));
  }
  *plain_run = run;
  Walk(vocab_->impure_trie(), words);
  return true;
}

std::string Matcher::JumpForwardBytes() {
  std::string out;
  if (terminated_) return out;
  size_t mark = arena_.Mark();
  std::vector<Thread> cur = threads_, next;
  constexpr size_t kMaxJump = 4096;
  while (out.size() < kMaxJump && !IsAccepting(cur)) {
    int only = -1;
    bool several = false;
    for (int b = 0; b < 256 && !several; ++b) {
      for (const Thread& t : cur) {
        if (a_->Next(t.state, static_cast<uint8_t>(b)) >= 0) {
          if (only >= 0 && only != b) several = true;
          only = b;
          break;
        }
      }
    }
    if (several || only < 0) break;
    if (!Advance(cur, static_cast<uint8_t>(only), &next)) break;
    out.push_back(static_cast<char>(only));
    cur.swap(next);
  }
  arena_.Truncate(mark);
  // Keep whole UTF-8 characters only: drop a trailing partial sequence.
  size_t end = out.size(), i = end;
  while (i > 0 && (static_cast<unsigned char>(out[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0) {
    unsigned char lead = static_cast<unsigned char>(out[i - 1]);
    size_t need = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : 4;
    if (end - (i - 1) < need) out.resize(i - 1);
  }
  return out;
}

}  // namespace genai_rt::grammar
