#include "genai_rt/grammar/automaton.h"

#include "genai_rt/grammar/inline.h"

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

namespace genai_rt::grammar {

namespace {

struct VectorHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

struct ByteEdge {
  uint8_t lo, hi;
  int32_t to;
  int32_t classes = -1;  // index into the builder's class lists, set after byte classes exist
};

struct NfaState {
  std::vector<int32_t> eps;
  std::vector<ByteEdge> bytes;
  std::vector<CallEdge> calls;
};

}  // namespace

class AutomatonBuilder {
 public:
  AutomatonBuilder(const Grammar& g, const CompileLimits& limits)
      : g_(g), limits_(limits), start_(std::chrono::steady_clock::now()) {}

  std::shared_ptr<const Automaton> Build() {
    g_.Validate();
    auto a = std::make_shared<Automaton>();
    a_ = a.get();
    size_t num_rules = g_.rules().size();
    inline_ = InlineableRules(g_, limits_.max_inline_states);
    // Only the root and rules still called after inlining get automata of their own.
    std::vector<char> needed(num_rules, 0);
    std::vector<int32_t> work{g_.root()}, refs;
    needed[g_.root()] = 1;
    while (!work.empty()) {
      int32_t r = work.back();
      work.pop_back();
      refs.clear();
      CalledRules(g_.rules()[r].body, &refs);
      for (int32_t q : refs) {
        if (!needed[q]) {
          needed[q] = 1;
          work.push_back(q);
        }
      }
    }
    std::vector<int32_t> nfa_start(num_rules, -1), nfa_end(num_rules, -1);
    for (size_t r = 0; r < num_rules; ++r) {
      if (!needed[r]) continue;
      nfa_start[r] = NewNfaState();
      nfa_end[r] = BuildExpr(g_.rules()[r].body, nfa_start[r]);
    }
    ComputeByteClasses();
    Determinize(nfa_start, nfa_end);
    Prune();
    CheckLeftRecursion();
    a_->root_ = g_.root();
    if (a_->states_.size() < Automaton::kNone16) {
      a_->table16_.resize(a_->table_.size());
      for (size_t i = 0; i < a_->table_.size(); ++i) {
        a_->table16_[i] = a_->table_[i] < 0 ? Automaton::kNone16 : static_cast<uint16_t>(a_->table_[i]);
      }
      std::vector<int32_t>().swap(a_->table_);
    }
    return a;
  }

 private:
  void CheckTime(const char* phase) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
                    .count();
    if (ms > limits_.max_compile_ms) {
      throw GrammarError(std::string("grammar compile exceeded max_compile_ms=") +
                         std::to_string(static_cast<int64_t>(limits_.max_compile_ms)) +
                         " during " + phase);
    }
  }

  // Rules reached from `expr` by calls that stay calls (inlined rules are looked through).
  void CalledRules(int32_t expr, std::vector<int32_t>* out) {
    std::vector<int32_t> stack{expr};
    std::vector<char> seen_rule(g_.rules().size(), 0);
    while (!stack.empty()) {
      const Expr& e = g_.exprs()[stack.back()];
      stack.pop_back();
      if (e.kind == ExprKind::kRuleRef) {
        if (!inline_[e.rule]) {
          out->push_back(e.rule);
        } else if (!seen_rule[e.rule]) {
          seen_rule[e.rule] = 1;
          stack.push_back(g_.rules()[e.rule].body);
        }
      }
      for (int32_t c : e.children) stack.push_back(c);
    }
  }

  int32_t NewNfaState() {
    if (static_cast<int64_t>(nfa_.size()) >= limits_.max_nfa_states) {
      throw GrammarError("grammar too large: more than max_nfa_states=" +
                         std::to_string(limits_.max_nfa_states) +
                         " automaton states (large bounded repetitions expand here)");
    }
    if ((nfa_.size() & 4095) == 0) CheckTime("automaton construction");
    nfa_.emplace_back();
    return static_cast<int32_t>(nfa_.size() - 1);
  }

  // Thompson construction from `in`; returns the fragment's exit state. Fragments only add
  // edges out of `in` and into fresh states, so siblings built from one `in` cannot interact.
  int32_t BuildExpr(int32_t id, int32_t in) {
    const Expr& e = g_.exprs()[id];
    switch (e.kind) {
      case ExprKind::kEmpty:
        return in;
      case ExprKind::kBytes: {
        int32_t out = NewNfaState();
        for (auto [lo, hi] : e.ranges) nfa_[in].bytes.push_back({lo, hi, out});
        return out;
      }
      case ExprKind::kSeq: {
        int32_t cur = in;
        for (int32_t c : e.children) cur = BuildExpr(c, cur);
        return cur;
      }
      case ExprKind::kAlt: {
        int32_t out = NewNfaState();
        for (int32_t c : e.children) {
          int32_t o = BuildExpr(c, in);
          nfa_[o].eps.push_back(out);
        }
        return out;
      }
      case ExprKind::kRepeat: {
        int32_t cur = in;
        for (int32_t i = 0; i < e.min_repeat; ++i) cur = BuildExpr(e.children[0], cur);
        if (e.max_repeat < 0) {
          int32_t loop = NewNfaState();
          nfa_[cur].eps.push_back(loop);
          int32_t o = BuildExpr(e.children[0], loop);
          nfa_[o].eps.push_back(loop);
          return loop;
        }
        // Optional copies nest, x{0,3} = (x(x(x)?)?)?, each able to jump straight to the end:
        // eps-closures stay two states wide instead of spanning all remaining copies (the chain
        // form made a maxLength-40 string's DFA states 40x larger and its compile 10x slower).
        if (e.max_repeat == e.min_repeat) return cur;
        int32_t end = NewNfaState();
        for (int32_t i = e.min_repeat; i < e.max_repeat; ++i) {
          nfa_[cur].eps.push_back(end);
          cur = BuildExpr(e.children[0], cur);
        }
        nfa_[cur].eps.push_back(end);
        return end;
      }
      case ExprKind::kRuleRef: {
        if (inline_[e.rule]) return BuildExpr(g_.rules()[e.rule].body, in);
        int32_t out = NewNfaState();
        nfa_[in].calls.push_back({e.rule, out});
        return out;
      }
    }
    return in;
  }

  // Bytes are equivalent when every edge range treats them alike; refine one range at a time.
  void ComputeByteClasses() {
    std::vector<std::pair<uint8_t, uint8_t>> ranges;
    std::vector<char> seen(256 * 256, 0);  // dedupe without sorting every edge
    for (const NfaState& s : nfa_) {
      for (const ByteEdge& b : s.bytes) {
        if (!seen[b.lo * 256 + b.hi]) {
          seen[b.lo * 256 + b.hi] = 1;
          ranges.emplace_back(b.lo, b.hi);
        }
      }
    }
    std::sort(ranges.begin(), ranges.end());
    int32_t cls[256] = {};
    int32_t num = 1;
    for (auto [lo, hi] : ranges) {
      std::vector<int32_t> renumber(2 * num, -1);
      int32_t next = 0;
      for (int b = 0; b < 256; ++b) {
        int32_t key = cls[b] * 2 + (b >= lo && b <= hi);
        if (renumber[key] < 0) renumber[key] = next++;
        cls[b] = renumber[key];
      }
      num = next;
    }
    for (int b = 0; b < 256; ++b) a_->byte_class_[b] = static_cast<uint8_t>(cls[b]);
    a_->num_classes_ = num;
    std::vector<int32_t> list_of_range(256 * 256, -1);  // indexed by lo * 256 + hi
    for (auto [lo, hi] : ranges) {
      std::vector<int32_t> list;
      for (int b = lo; b <= hi; ++b) {
        if (std::find(list.begin(), list.end(), cls[b]) == list.end()) list.push_back(cls[b]);
      }
      list_of_range[lo * 256 + hi] = static_cast<int32_t>(class_lists_.size());
      class_lists_.push_back(std::move(list));
    }
    for (NfaState& s : nfa_) {
      for (ByteEdge& b : s.bytes) b.classes = list_of_range[b.lo * 256 + b.hi];
    }
  }

  std::vector<int32_t> EpsClosure(std::vector<int32_t> set) {
    std::vector<int32_t>& stack = closure_stack_;
    stack.assign(set.begin(), set.end());
    for (int32_t s : set) mark_[s] = stamp_;
    while (!stack.empty()) {
      int32_t s = stack.back();
      stack.pop_back();
      for (int32_t t : nfa_[s].eps) {
        if (mark_[t] != stamp_) {
          mark_[t] = stamp_;
          set.push_back(t);
          stack.push_back(t);
        }
      }
    }
    ++stamp_;
    // Only states that read something, or end a rule, tell closures apart: dropping pure
    // epsilon states merges equivalent DFA states (after 'a' and after 'é' in a string body),
    // which the plain-character fast path relies on.
    size_t keep = 0;
    for (int32_t s : set) {
      if (important_[s]) set[keep++] = s;
    }
    set.resize(keep);
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    return set;
  }

  int32_t DfaState(std::vector<int32_t> nfa_set, int32_t rule) {
    // Most moves reach a single NFA state: remember its DFA state, skipping closure and hash.
    int32_t single = nfa_set.size() == 1 ? nfa_set[0] : -1;
    if (single >= 0 && single_dfa_[single] >= 0) return single_dfa_[single];
    std::vector<int32_t> closed = EpsClosure(std::move(nfa_set));
    auto it = dfa_ids_.find(closed);
    if (it != dfa_ids_.end()) {
      if (single >= 0) single_dfa_[single] = it->second;
      return it->second;
    }
    if (single >= 0) single_dfa_[single] = static_cast<int32_t>(a_->states_.size());
    int32_t id = static_cast<int32_t>(a_->states_.size());
    if (id >= limits_.max_dfa_states) {
      throw GrammarError("grammar too large: more than max_dfa_states=" +
                         std::to_string(limits_.max_dfa_states) + " automaton states");
    }
    size_t table_bytes = (static_cast<size_t>(id) + 1) * a_->num_classes_ * sizeof(int32_t);
    if (static_cast<int64_t>(table_bytes) > limits_.max_table_bytes) {
      throw GrammarError("grammar too large: transition tables exceed max_table_bytes=" +
                         std::to_string(limits_.max_table_bytes));
    }
    if ((id & 1023) == 0) CheckTime("determinization");
    AutomatonState st;
    st.rule = rule;
    a_->states_.push_back(st);
    a_->table_.resize(a_->states_.size() * a_->num_classes_, -1);
    dfa_sets_.push_back(closed);
    dfa_ids_.emplace(std::move(closed), id);
    pending_.push_back(id);
    return id;
  }

  void Determinize(const std::vector<int32_t>& nfa_start, const std::vector<int32_t>& nfa_end) {
    mark_.assign(nfa_.size(), -1);
    single_dfa_.assign(nfa_.size(), -1);
    important_.assign(nfa_.size(), 0);
    for (size_t s = 0; s < nfa_.size(); ++s) {
      important_[s] = !nfa_[s].bytes.empty() || !nfa_[s].calls.empty();
    }
    for (int32_t end : nfa_end) {
      if (end >= 0) important_[end] = 1;
    }
    std::vector<int32_t> rule_end_of(nfa_.size(), -1);
    size_t num_rules = nfa_start.size();
    a_->rule_start_.assign(num_rules, -1);
    for (size_t r = 0; r < num_rules; ++r) {
      if (nfa_start[r] < 0) continue;
      a_->rule_start_[r] = DfaState({nfa_start[r]}, static_cast<int32_t>(r));
      // A rule's DFA states are explored before the next rule starts, so rule ids stay local.
      while (!pending_.empty()) {
        int32_t d = pending_.back();
        pending_.pop_back();
        const std::vector<int32_t>& set = dfa_sets_[d];  // a deque: stable while it grows
        // (class, target) pairs, grouped by class after sorting: no per-class vectors.
        std::vector<std::pair<int32_t, int32_t>> moves;
        std::map<int32_t, std::vector<int32_t>> by_rule;
        bool final = false;
        for (int32_t s : set) {
          if (s == nfa_end[r]) final = true;
          for (const ByteEdge& b : nfa_[s].bytes) {
            for (int32_t c : class_lists_[b.classes]) moves.emplace_back(c, b.to);
          }
          for (const CallEdge& c : nfa_[s].calls) by_rule[c.rule].push_back(c.ret);
        }
        a_->states_[d].final = final;
        std::sort(moves.begin(), moves.end());
        moves.erase(std::unique(moves.begin(), moves.end()), moves.end());
        std::vector<int32_t> targets, prev_targets;
        int32_t prev_state = -1;
        for (size_t i = 0; i < moves.size();) {
          int32_t c = moves[i].first;
          targets.clear();
          for (; i < moves.size() && moves[i].first == c; ++i) targets.push_back(moves[i].second);
          // Neighbouring classes often move alike (all plain characters of a string body):
          // reuse the previous class's DFA state instead of another closure and hash.
          if (prev_state < 0 || targets != prev_targets) {
            prev_targets = targets;
            prev_state = DfaState(targets, static_cast<int32_t>(r));
            byte_edges_.emplace_back(d, prev_state);  // (from, to); duplicates are harmless
          }
          a_->table_[static_cast<size_t>(d) * a_->num_classes_ + c] = prev_state;
        }
        std::vector<CallEdge> calls;
        for (auto& [callee, rets] : by_rule) {
          calls.push_back({callee, DfaState(std::move(rets), static_cast<int32_t>(r))});
        }
        raw_calls_.resize(a_->states_.size());
        raw_calls_[d] = std::move(calls);
      }
    }
    raw_calls_.resize(a_->states_.size());
  }

  // Keeps only states from which the rule can still end (through productive callees).
  void Prune() {
    size_t n = a_->states_.size();
    int32_t nc = a_->num_classes_;
    // Byte predecessors in CSR form from the edges recorded while determinizing: scanning the
    // [states x classes] table and a vector per state made Prune 40% of the compile.
    std::vector<int32_t> pred_begin(n + 1, 0), preds(byte_edges_.size());
    for (auto [from, to] : byte_edges_) ++pred_begin[to + 1];
    for (size_t d = 0; d < n; ++d) pred_begin[d + 1] += pred_begin[d];
    std::vector<int32_t> fill(pred_begin.begin(), pred_begin.end() - 1);
    for (auto [from, to] : byte_edges_) preds[fill[to]++] = from;
    std::vector<std::vector<std::pair<int32_t, int32_t>>> ret_preds(n);  // (caller, callee)
    std::vector<std::vector<std::pair<int32_t, int32_t>>> call_sites(a_->rule_start_.size());
    for (size_t d = 0; d < n; ++d) {
      for (const CallEdge& e : raw_calls_[d]) {
        ret_preds[e.ret].push_back({static_cast<int32_t>(d), e.rule});
        call_sites[e.rule].push_back({static_cast<int32_t>(d), e.ret});
      }
    }
    std::vector<char> live(n, 0), productive(a_->rule_start_.size(), 0);
    std::vector<int32_t> work;
    auto mark = [&](int32_t d) {
      if (!live[d]) {
        live[d] = 1;
        work.push_back(d);
      }
    };
    for (size_t d = 0; d < n; ++d) {
      if (a_->states_[d].final) mark(static_cast<int32_t>(d));
    }
    while (!work.empty()) {
      int32_t t = work.back();
      work.pop_back();
      for (int32_t k = pred_begin[t]; k < pred_begin[t + 1]; ++k) mark(preds[k]);
      for (auto [p, callee] : ret_preds[t]) {
        if (productive[callee]) mark(p);
      }
      int32_t rule = a_->states_[t].rule;
      if (a_->rule_start_[rule] == t && !productive[rule]) {
        productive[rule] = 1;
        for (auto [p, ret] : call_sites[rule]) {
          if (live[ret]) mark(p);
        }
      }
    }
    if (!productive[g_.root()]) {
      throw GrammarError("grammar matches no string: rule '" + g_.rules()[g_.root()].name +
                         "' can never complete");
    }
    bool any_dead = std::find(live.begin(), live.end(), 0) != live.end();
    std::vector<char> has_bytes(n, 0);
    for (auto [from, to] : byte_edges_) has_bytes[from] |= live[to];
    for (size_t d = 0; d < n; ++d) {
      if (any_dead) {  // only then can a table entry point at a dead state
        for (int32_t c = 0; c < nc; ++c) {
          int32_t& t = a_->table_[d * nc + c];
          if (t >= 0 && !live[t]) t = -1;
        }
      }
      AutomatonState& st = a_->states_[d];
      st.has_bytes = has_bytes[d];
      st.calls_begin = static_cast<int32_t>(a_->calls_.size());
      for (const CallEdge& e : raw_calls_[d]) {
        if (productive[e.rule] && live[e.ret]) a_->calls_.push_back(e);
      }
      st.calls_end = static_cast<int32_t>(a_->calls_.size());
    }
  }

  // Left recursion would make the matcher's closure push forever; reject it with the rule name.
  void CheckLeftRecursion() {
    size_t num_rules = a_->rule_start_.size();
    std::vector<char> nullable(num_rules, 0);
    // States reachable from `start` through calls to nullable rules only; reports callees.
    auto explore = [&](int32_t start, std::vector<int32_t>* callees) {
      std::vector<int32_t> stack{start}, seen{start};
      bool reaches_final = false;
      while (!stack.empty()) {
        int32_t s = stack.back();
        stack.pop_back();
        reaches_final |= a_->states_[s].final;
        for (const CallEdge* e = a_->calls_begin(s); e != a_->calls_end(s); ++e) {
          if (callees) callees->push_back(e->rule);
          if (nullable[e->rule] && std::find(seen.begin(), seen.end(), e->ret) == seen.end()) {
            seen.push_back(e->ret);
            stack.push_back(e->ret);
          }
        }
      }
      return reaches_final;
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < num_rules; ++r) {
        if (a_->rule_start_[r] < 0) continue;
        if (!nullable[r] && explore(a_->rule_start_[r], nullptr)) nullable[r] = changed = true;
      }
      CheckTime("nullable analysis");
    }
    std::vector<std::vector<int32_t>> left_calls(num_rules);
    for (size_t r = 0; r < num_rules; ++r) {
      if (a_->rule_start_[r] >= 0) explore(a_->rule_start_[r], &left_calls[r]);
    }
    std::vector<char> color(num_rules, 0);  // 0 new, 1 on stack, 2 done
    for (size_t r0 = 0; r0 < num_rules; ++r0) {
      if (color[r0]) continue;
      std::vector<std::pair<int32_t, size_t>> stack{{static_cast<int32_t>(r0), 0}};
      color[r0] = 1;
      while (!stack.empty()) {
        auto& [r, i] = stack.back();
        if (i < left_calls[r].size()) {
          int32_t q = left_calls[r][i++];
          if (color[q] == 1) {
            throw GrammarError("rule '" + g_.rules()[q].name +
                               "' is left-recursive (reaches itself before consuming input); "
                               "rewrite it with repetition, e.g. a ::= b (\"+\" b)*");
          }
          if (color[q] == 0) {
            color[q] = 1;
            stack.push_back({q, 0});
          }
        } else {
          color[r] = 2;
          stack.pop_back();
        }
      }
    }
  }

  const Grammar& g_;
  CompileLimits limits_;
  std::chrono::steady_clock::time_point start_;
  Automaton* a_ = nullptr;
  std::vector<NfaState> nfa_;
  std::vector<char> inline_;
  std::vector<std::vector<int32_t>> class_lists_;
  std::vector<int32_t> mark_;
  std::vector<int32_t> closure_stack_;
  std::vector<int32_t> single_dfa_;  // NFA state -> DFA state of its closure, or -1
  std::vector<char> important_;
  int32_t stamp_ = 0;
  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> dfa_ids_;
  std::deque<std::vector<int32_t>> dfa_sets_;
  std::vector<int32_t> pending_;
  std::vector<std::vector<CallEdge>> raw_calls_;
  std::vector<std::pair<int32_t, int32_t>> byte_edges_;
};

std::shared_ptr<const Automaton> Automaton::Compile(const Grammar& grammar,
                                                    const CompileLimits& limits) {
  return AutomatonBuilder(grammar, limits).Build();
}

size_t Automaton::MemoryBytes() const {
  return sizeof(*this) + states_.capacity() * sizeof(AutomatonState) +
         calls_.capacity() * sizeof(CallEdge) + table_.capacity() * sizeof(int32_t) +
         table16_.capacity() * sizeof(uint16_t) +
         rule_start_.capacity() * sizeof(int32_t);
}

}  // namespace genai_rt::grammar
