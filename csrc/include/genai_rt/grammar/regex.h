// \brief Regular expressions (a Python `re` / ECMA-262 subset) lowered to grammar IR.
#pragma once

#include <cstdint>
#include <string>

#include "genai_rt/grammar/ir.h"

namespace genai_rt::grammar {

/// \brief How a regex is matched against text.
struct RegexOptions {
  /// The regex describes a JSON string's decoded value: the IR produces its JSON-escaped body
  /// (`"` → `\"`, `\` → `\\`, control characters → `\n`-style or `\u00XX` escapes).
  bool json_string = false;
  /// JSON Schema `pattern` semantics: unanchored, so `.*` is implied at each end without ^ / $.
  bool search = false;
};

/// \brief Parses `pattern` (UTF-8) into `grammar`'s arena and returns the expression id.
///
/// Supported: literals, escapes (\n \t \r \f \v \xHH \uHHHH, escaped metacharacters), classes
/// [..] / [^..] with ranges, \d \w \s and their negations (ASCII, as in ECMA-262), `.` (any code
/// point but \n), groups (..), (?:..), (?P<n>..), alternation, * + ? {m} {m,} {m,n} (lazy
/// forms accepted: same language), ^ at the start and $ at the end. Anything else
/// (backreferences, lookaround, inline flags, \b, \p{..}) throws GrammarError naming it and
/// its offset.
int32_t ParseRegex(const std::string& pattern, Grammar* grammar, const RegexOptions& options);

/// \brief The IR for one JSON-escaped character of a string body drawn from code-point ranges.
int32_t JsonStringChars(const std::vector<std::pair<uint32_t, uint32_t>>& ranges,
                        Grammar* grammar);

}  // namespace genai_rt::grammar
