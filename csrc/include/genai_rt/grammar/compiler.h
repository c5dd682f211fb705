// \brief Front door of the grammar engine: text in, CompiledGrammar out.
#pragma once

#include <memory>
#include <string>

#include "genai_rt/grammar/automaton.h"
#include "genai_rt/grammar/matcher.h"
#include "genai_rt/grammar/vocabulary.h"

namespace genai_rt::grammar {

/// \brief Default bound on one grammar's mask cache: 4 MiB keeps a grammar under 5 MB in all.
constexpr size_t kDefaultMaskCacheBytes = 4u << 20;

/// \brief Compiles GBNF text (see ebnf.h) starting at rule `root`. Throws GrammarError.
std::shared_ptr<CompiledGrammar> CompileEbnf(const std::string& text, const std::string& root,
                                             std::shared_ptr<const Vocabulary> vocab,
                                             const CompileLimits& limits,
                                             size_t cache_bytes = kDefaultMaskCacheBytes);

/// \brief Compiles a regular expression (full match; see regex.h). Throws GrammarError.
std::shared_ptr<CompiledGrammar> CompileRegex(const std::string& pattern,
                                              std::shared_ptr<const Vocabulary> vocab,
                                              const CompileLimits& limits,
                                              size_t cache_bytes = kDefaultMaskCacheBytes);

}  // namespace genai_rt::grammar
