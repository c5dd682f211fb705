#include "genai_rt/grammar/compiler.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "genai_rt/grammar/ebnf.h"
#include "genai_rt/grammar/regex.h"

namespace genai_rt::grammar {
namespace {

// Cold masks: the first mask of a fresh grammar walks the whole token trie (200-460 us on
// compare_grammar.py's regex/EBNF workloads, against 1-2 us from the cache). Compiling fills
// the cache for the initial state and for the states its likeliest first tokens reach.
constexpr double kWarmBudgetMs = 1.0;
constexpr int kMaxWarmTokens = 16;

std::shared_ptr<CompiledGrammar> Warmed(std::shared_ptr<CompiledGrammar> grammar) {
  auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  const Vocabulary& vocab = grammar->vocab();
  Matcher matcher(grammar);
  std::vector<uint32_t> words(vocab.num_words());
  matcher.FillNextTokenBitmask(words.data());
  std::vector<int32_t> allowed;
  for (int32_t w = 0; w < vocab.num_words(); ++w) {
    for (uint32_t bits = words[w]; bits != 0; bits &= bits - 1) {
      int32_t id = w * 32 + __builtin_ctz(bits);
      if (vocab.IsGrammarToken(id) && !vocab.IsEos(id)) allowed.push_back(id);
    }
  }
  // Shortest first: structural tokens ("{", "[", a quote) are short, and a model's first token
  // is most often one of them.
  std::stable_sort(allowed.begin(), allowed.end(), [&](int32_t a, int32_t b) {
    return vocab.token(a).size() < vocab.token(b).size();
  });
  int warmed = 0;
  for (int32_t id : allowed) {
    if (warmed >= kMaxWarmTokens || elapsed_ms() > kWarmBudgetMs) break;
    if (!matcher.AcceptToken(id)) continue;
    matcher.FillNextTokenBitmask(words.data());
    matcher.Rollback(1);
    ++warmed;
  }
  return grammar;
}

}  // namespace

std::shared_ptr<CompiledGrammar> CompileEbnf(const std::string& text, const std::string& root,
                                             std::shared_ptr<const Vocabulary> vocab,
                                             const CompileLimits& limits, size_t cache_bytes) {
  Grammar g = ParseEbnf(text, root);
  return Warmed(std::make_shared<CompiledGrammar>(Automaton::Compile(g, limits),
                                                  std::move(vocab), cache_bytes));
}

std::shared_ptr<CompiledGrammar> CompileRegex(const std::string& pattern,
                                              std::shared_ptr<const Vocabulary> vocab,
                                              const CompileLimits& limits, size_t cache_bytes) {
  Grammar g;
  int32_t root = g.RuleId("root");
  g.SetBody(root, ParseRegex(pattern, &g, RegexOptions{}));
  g.set_root(root);
  return Warmed(std::make_shared<CompiledGrammar>(Automaton::Compile(g, limits),
                                                  std::move(vocab), cache_bytes));
}

}  // namespace genai_rt::grammar
