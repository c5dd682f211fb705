// \brief Grammar IR compiled to one deterministic byte automaton per rule, linked by calls.
//
// Each rule becomes a DFA over byte classes whose states may also "call" other rules (push a
// return state). Determinizing per rule keeps the matcher's thread set small: a regex or a JSON
// string body is one thread, not one per NFA state. States that cannot reach the end of their
// rule are pruned at compile time, so every surviving thread can complete: the matcher never
// allows a byte that leads to a dead end.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "genai_rt/grammar/ir.h"

namespace genai_rt::grammar {

/// \brief Bounds on one compile; exceeding any throws GrammarError naming the limit.
struct CompileLimits {
  int64_t max_nfa_states = 2000000;  ///< before determinization (bounded repeats expand here)
  int64_t max_dfa_states = 200000;   ///< after determinization, all rules together
  int64_t max_table_bytes = 64 << 20;  ///< transition tables (states x byte classes x 4 bytes)
  double max_compile_ms = 5000;      ///< wall-clock time for the whole compile
  /// Non-recursive rules up to this many (estimated) states are inlined into their callers.
  int64_t max_inline_states = 128;
};

/// \brief A call edge: enter `rule`, continue at `ret` (a state of the caller) on return.
struct CallEdge {
  int32_t rule;
  int32_t ret;
};

/// \brief One DFA state of some rule.
struct AutomatonState {
  int32_t rule = -1;
  bool final = false;       ///< the rule may end here
  bool has_bytes = false;   ///< some byte transition leaves this state
  int32_t calls_begin = 0;  ///< calls are calls_[calls_begin, calls_end)
  int32_t calls_end = 0;
};

/// \brief The compiled grammar automaton (vocabulary-independent).
class Automaton {
 public:
  /// \brief Compiles `grammar`, checking `limits`.
  static std::shared_ptr<const Automaton> Compile(const Grammar& grammar,
                                                  const CompileLimits& limits);

  /// \brief Next state on `byte` from `state`, or -1.
  int32_t Next(int32_t state, uint8_t byte) const {
    size_t i = static_cast<size_t>(state) * num_classes_ + byte_class_[byte];
    if (!table16_.empty()) return table16_[i] == kNone16 ? -1 : table16_[i];
    return table_[i];
  }
  const AutomatonState& state(int32_t s) const { return states_[s]; }
  const CallEdge* calls_begin(int32_t s) const { return calls_.data() + states_[s].calls_begin; }
  const CallEdge* calls_end(int32_t s) const { return calls_.data() + states_[s].calls_end; }
  int32_t rule_start(int32_t rule) const { return rule_start_[rule]; }
  int32_t root() const { return root_; }
  /// \brief True if `s` is final and has nowhere to go: returning to it is returning further.
  bool IsPureFinal(int32_t s) const {
    return states_[s].final && !states_[s].has_bytes && states_[s].calls_begin == states_[s].calls_end;
  }
  size_t num_states() const { return states_.size(); }
  int32_t num_classes() const { return num_classes_; }
  /// \brief Bytes of memory the automaton holds.
  size_t MemoryBytes() const;

 private:
  std::vector<AutomatonState> states_;
  std::vector<CallEdge> calls_;
  static constexpr uint16_t kNone16 = 0xFFFF;
  std::vector<int32_t> table_;  // [num_states, num_classes] next state or -1
  // The same table in 16 bits when there are fewer than 65535 states (halves grammar memory).
  std::vector<uint16_t> table16_;
  uint8_t byte_class_[256] = {};
  int32_t num_classes_ = 1;
  std::vector<int32_t> rule_start_;
  int32_t root_ = -1;

  friend class AutomatonBuilder;
};

}  // namespace genai_rt::grammar
