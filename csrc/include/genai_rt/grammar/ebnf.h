// \brief GBNF-style EBNF (llama.cpp's grammar format) lowered to grammar IR.
#pragma once

#include <string>

#include "genai_rt/grammar/ir.h"

namespace genai_rt::grammar {

/// \brief Parses GBNF text into a Grammar whose root is rule `root`.
///
/// Syntax: `name ::= body` rules; bodies use "literals" (escapes \n \t \r \\ \" \xHH \uHHHH),
/// [character classes] (regex syntax), `.` (any code point but \n), rule names, ( ), |, and the
/// postfix operators * + ? {m} {m,} {m,n}; `#` starts a comment. Extension (as in Lark and
/// llguidance): /regex/ embeds a regular expression, and /regex/j embeds one that describes a
/// JSON string's decoded value and produces its escaped body (used by the JSON Schema `pattern`
/// lowering). Errors name the line and column.
Grammar ParseEbnf(const std::string& text, const std::string& root);

}  // namespace genai_rt::grammar
