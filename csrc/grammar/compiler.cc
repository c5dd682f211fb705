#include "genai_rt/grammar/compiler.h"

#include "genai_rt/grammar/ebnf.h"
#include "genai_rt/grammar/regex.h"

namespace genai_rt::grammar {

std::shared_ptr<CompiledGrammar> CompileEbnf(const std::string& text, const std::string& root,
                                             std::shared_ptr<const Vocabulary> vocab,
                                             const CompileLimits& limits, size_t cache_bytes) {
  Grammar g = ParseEbnf(text, root);
  return std::make_shared<CompiledGrammar>(Automaton::Compile(g, limits), std::move(vocab),
                                           cache_bytes);
}

std::shared_ptr<CompiledGrammar> CompileRegex(const std::string& pattern,
                                              std::shared_ptr<const Vocabulary> vocab,
                                              const CompileLimits& limits, size_t cache_bytes) {
  Grammar g;
  int32_t root = g.RuleId("root");
  g.SetBody(root, ParseRegex(pattern, &g, RegexOptions{}));
  g.set_root(root);
  return std::make_shared<CompiledGrammar>(Automaton::Compile(g, limits), std::move(vocab),
                                           cache_bytes);
}

}  // namespace genai_rt::grammar
