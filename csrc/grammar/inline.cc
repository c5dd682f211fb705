#include "genai_rt/grammar/inline.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace genai_rt::grammar {
namespace {

constexpr int64_t kSizeCap = int64_t{1} << 40;  // sizes saturate here instead of overflowing
constexpr int64_t kAlwaysInlineStates = 16;     // a JSON string character, a literal
constexpr int64_t kInlineCopiesBudget = 8192;   // states all copies of one rule may add

int64_t SatMul(int64_t a, int64_t b) { return (b != 0 && a > kSizeCap / b) ? kSizeCap : a * b; }

void CollectRefs(const Grammar& g, int32_t expr, std::vector<int32_t>* out) {
  std::vector<int32_t> stack{expr};
  while (!stack.empty()) {
    const Expr& e = g.exprs()[stack.back()];
    stack.pop_back();
    if (e.kind == ExprKind::kRuleRef) out->push_back(e.rule);
    for (int32_t c : e.children) stack.push_back(c);
  }
}

// Tarjan's strongly connected components, iterative; returns the component id per rule in
// reverse topological order (callees get smaller ids) and marks rules that sit on a cycle.
std::vector<int32_t> Components(const std::vector<std::vector<int32_t>>& calls,
                                std::vector<char>* recursive) {
  int32_t n = static_cast<int32_t>(calls.size());
  std::vector<int32_t> index(n, -1), low(n, 0), comp(n, -1), stack;
  std::vector<char> on_stack(n, 0);
  int32_t next_index = 0, next_comp = 0;
  recursive->assign(n, 0);
  for (int32_t root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    std::vector<std::pair<int32_t, size_t>> work{{root, 0}};
    index[root] = low[root] = next_index++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!work.empty()) {
      int32_t v = work.back().first;
      size_t& i = work.back().second;
      if (i < calls[v].size()) {
        int32_t w = calls[v][i++];
        if (w == v) (*recursive)[v] = 1;
        if (index[w] < 0) {
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          on_stack[w] = 1;
          work.push_back({w, 0});
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        size_t start = stack.size();
        while (stack[start - 1] != v) --start;
        --start;
        bool cycle = stack.size() - start > 1;
        for (size_t k = start; k < stack.size(); ++k) {
          comp[stack[k]] = next_comp;
          on_stack[stack[k]] = 0;
          if (cycle) (*recursive)[stack[k]] = 1;
        }
        stack.resize(start);
        ++next_comp;
      }
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[v]);
    }
  }
  return comp;
}

}  // namespace

std::vector<char> InlineableRules(const Grammar& g, int64_t max_inline_states) {
  size_t n = g.rules().size();
  std::vector<std::vector<int32_t>> calls(n);
  for (size_t r = 0; r < n; ++r) CollectRefs(g, g.rules()[r].body, &calls[r]);
  std::vector<char> recursive;
  std::vector<int32_t> comp = Components(calls, &recursive);
  std::vector<int32_t> order(n);
  for (size_t r = 0; r < n; ++r) order[r] = static_cast<int32_t>(r);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return comp[a] < comp[b]; });

  std::vector<char> inline_rule(n, 0);
  std::vector<int64_t> rule_size(n, 1);
  std::vector<int64_t> memo(g.exprs().size(), -1);
  // Expression nesting is bounded by the parsers (200 levels), so plain recursion is safe.
  std::function<int64_t(int32_t)> size = [&](int32_t id) -> int64_t {
    if (memo[id] >= 0) return memo[id];
    const Expr& e = g.exprs()[id];
    int64_t s = 0;
    switch (e.kind) {
      case ExprKind::kEmpty:
        s = 0;
        break;
      case ExprKind::kBytes:
        s = 1;
        break;
      case ExprKind::kSeq:
      case ExprKind::kAlt:
        for (int32_t c : e.children) s = std::min(kSizeCap, s + size(c));
        s += e.kind == ExprKind::kAlt;
        break;
      case ExprKind::kRepeat: {
        int64_t copies = e.max_repeat < 0 ? int64_t{e.min_repeat} + 1 : e.max_repeat;
        s = SatMul(size(e.children[0]), std::max<int64_t>(copies, 1)) + 1;
        break;
      }
      case ExprKind::kRuleRef:
        s = inline_rule[e.rule] ? rule_size[e.rule] : 1;
        break;
    }
    return memo[id] = std::min(s, kSizeCap);
  };
  // Inlining copies a rule into every caller: a mid-sized rule used everywhere (JSON's bounded
  // whitespace, ~50 states, between every pair of tokens) multiplied a 300-property schema's
  // automaton 4.6x (4.9k -> 22k states). Small rules are always inlined; others only while
  // copies x size stays within the budget. A budget of 2048 also stopped inlining rules that
  // hold string values, and masks at a string's start went from ~100 us to 15 ms (Kubernetes
  // schema, Llama-3.1); 8192 keeps those inlined and the 300-property schema at 5.4k states.
  std::vector<int64_t> uses(n, 0);
  for (size_t r = 0; r < n; ++r)
    for (int32_t callee : calls[r]) ++uses[callee];
  for (int32_t r : order) {  // callees before callers
    if (recursive[r]) continue;
    rule_size[r] = size(g.rules()[r].body);
    inline_rule[r] = rule_size[r] <= max_inline_states &&
                     (rule_size[r] <= kAlwaysInlineStates ||
                      SatMul(rule_size[r], uses[r]) <= kInlineCopiesBudget);
  }
  return inline_rule;
}

}  // namespace genai_rt::grammar
