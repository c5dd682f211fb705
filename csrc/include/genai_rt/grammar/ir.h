// \brief Grammar IR: a context-free grammar whose terminals are byte ranges.
//
// Every front end (EBNF, regex, JSON Schema via EBNF) lowers to this IR. Code points are lowered
// to UTF-8 byte sequences here, so the automaton and the matcher only ever see bytes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace genai_rt::grammar {

/// \brief A grammar that cannot be compiled: bad syntax, unsupported construct or limit hit.
class GrammarError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// \brief Kinds of IR expression nodes.
enum class ExprKind : uint8_t {
  kEmpty,    ///< matches the empty string
  kBytes,    ///< one byte from a set of inclusive ranges
  kSeq,      ///< children in order
  kAlt,      ///< any one child
  kRepeat,   ///< child repeated [min_repeat, max_repeat] times (max -1: unbounded)
  kRuleRef,  ///< a call to rule `rule`
};

/// \brief One IR node; children index into Grammar::exprs.
struct Expr {
  ExprKind kind = ExprKind::kEmpty;
  std::vector<int32_t> children;
  std::vector<std::pair<uint8_t, uint8_t>> ranges;  // kBytes
  int32_t min_repeat = 0;
  int32_t max_repeat = 0;
  int32_t rule = -1;
};

/// \brief A named rule; body is an expression id (-1 while only declared).
struct Rule {
  std::string name;
  int32_t body = -1;
};

/// \brief A whole grammar: an expression arena, rules and the root rule.
class Grammar {
 public:
  /// \brief Adds a node and returns its id.
  int32_t Add(Expr expr);
  int32_t Empty();
  int32_t Bytes(std::vector<std::pair<uint8_t, uint8_t>> ranges);
  int32_t Literal(const std::string& bytes);
  int32_t Seq(std::vector<int32_t> children);
  int32_t Alt(std::vector<int32_t> children);
  int32_t Repeat(int32_t child, int32_t min_repeat, int32_t max_repeat);
  int32_t Ref(int32_t rule);
  /// \brief Any code point in the inclusive ranges, lowered to UTF-8 byte sequences.
  int32_t CodePoints(const std::vector<std::pair<uint32_t, uint32_t>>& ranges);

  /// \brief Alternatives of byte-range sequences, with common endings shared.
  int32_t SuffixFactored(std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs);

  /// \brief Returns the id of rule `name`, declaring it (without a body) if new.
  int32_t RuleId(const std::string& name);
  /// \brief Declares a fresh rule with a unique name derived from `hint`.
  int32_t NewRule(const std::string& hint);
  void SetBody(int32_t rule, int32_t body) { rules_[rule].body = body; }

  const std::vector<Expr>& exprs() const { return exprs_; }
  const std::vector<Rule>& rules() const { return rules_; }
  int32_t root() const { return root_; }
  void set_root(int32_t rule) { root_ = rule; }
  /// \brief Throws GrammarError if a referenced rule has no body or the root is unset.
  void Validate() const;

 private:
  std::vector<Expr> exprs_;
  std::vector<Rule> rules_;
  std::unordered_map<std::string, int32_t> rule_ids_;
  int32_t root_ = -1;
};

/// \brief Largest Unicode code point.
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

/// \brief Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(uint32_t cp, std::string* out);

/// \brief Sorts and merges code-point ranges; removes surrogates (never valid in UTF-8).
std::vector<std::pair<uint32_t, uint32_t>> NormalizeRanges(
    std::vector<std::pair<uint32_t, uint32_t>> ranges);

/// \brief The complement of normalized ranges within [0, kMaxCodePoint], surrogates excluded.
std::vector<std::pair<uint32_t, uint32_t>> ComplementRanges(
    const std::vector<std::pair<uint32_t, uint32_t>>& ranges);

}  // namespace genai_rt::grammar
