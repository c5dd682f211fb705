#include "genai_rt/grammar/ebnf.h"

#include <cctype>
#include <utility>
#include <vector>

#include "genai_rt/grammar/regex.h"

namespace genai_rt::grammar {
namespace {

constexpr int kMaxEbnfDepth = 200;

class EbnfParser {
 public:
  explicit EbnfParser(const std::string& text) : s_(text) {}

  Grammar Parse(const std::string& root) {
    SkipSpace(true);
    while (pos_ < s_.size()) {
      std::string name = Name();
      if (name.empty()) Fail("expected a rule name");
      SkipSpace(true);
      if (s_.compare(pos_, 3, "::=") != 0) Fail("expected '::=' after rule name '" + name + "'");
      pos_ += 3;
      int32_t rule = g_.RuleId(name);
      if (g_.rules()[rule].body >= 0) Fail("rule '" + name + "' is defined twice");
      g_.SetBody(rule, ParseAlt(0));
      SkipSpace(true);
    }
    bool has_root = false;
    for (const Rule& r : g_.rules()) has_root |= r.name == root;
    if (!has_root) throw GrammarError("EBNF grammar has no rule named '" + root + "'");
    g_.set_root(g_.RuleId(root));
    g_.Validate();
    return std::move(g_);
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw GrammarError("EBNF error at line " + std::to_string(line) + ", column " +
                       std::to_string(col) + ": " + what);
  }

  static bool NameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  }

  std::string Name() {
    size_t start = pos_;
    while (pos_ < s_.size() && NameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // Newlines end a rule only where the next line starts a new `name ::=`; inside a body they
  // are plain whitespace, which SkipSpace(true) allows.
  void SkipSpace(bool newlines) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool AtRuleStart() {
    size_t save = pos_;
    std::string name = Name();
    SkipSpace(true);
    bool is_rule = !name.empty() && s_.compare(pos_, 3, "::=") == 0;
    pos_ = save;
    return is_rule;
  }

  int32_t ParseAlt(int depth) {
    if (depth > kMaxEbnfDepth) Fail("groups nested deeper than " + std::to_string(kMaxEbnfDepth));
    std::vector<int32_t> alts{ParseSeq(depth)};
    while (pos_ < s_.size() && s_[pos_] == '|') {
      ++pos_;
      alts.push_back(ParseSeq(depth));
    }
    return g_.Alt(std::move(alts));
  }

  int32_t ParseSeq(int depth) {
    std::vector<int32_t> items;
    while (true) {
      SkipSpace(true);
      if (pos_ >= s_.size()) break;
      char c = s_[pos_];
      if (c == '|' || c == ')') break;
      if (NameChar(c) && AtRuleStart()) break;
      int32_t atom = ParseAtom(depth);
      items.push_back(ParseQuantifiers(atom));
    }
    return g_.Seq(std::move(items));
  }

  int32_t ParseQuantifiers(int32_t atom) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '*') {
        atom = g_.Repeat(atom, 0, -1);
      } else if (c == '+') {
        atom = g_.Repeat(atom, 1, -1);
      } else if (c == '?') {
        atom = g_.Repeat(atom, 0, 1);
      } else if (c == '{') {
        ++pos_;
        int64_t lo = Number(), hi = lo;
        if (lo < 0) Fail("expected a number after '{'");
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          SkipSpace(false);
          hi = (pos_ < s_.size() && s_[pos_] == '}') ? -1 : Number();
        }
        SkipSpace(false);
        if (pos_ >= s_.size() || s_[pos_] != '}') Fail("expected '}' to close a repetition");
        if (hi >= 0 && hi < lo) Fail("repetition {m,n} has m > n");
        atom = g_.Repeat(atom, static_cast<int32_t>(lo), static_cast<int32_t>(hi));
      } else {
        break;
      }
      ++pos_;
    }
    return atom;
  }

  int64_t Number() {
    SkipSpace(false);
    size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      v = v * 10 + (s_[pos_] - '0');
      if (v > 1000000) Fail("repetition count too large (over 1000000)");
      ++pos_;
    }
    if (pos_ == start) Fail("expected a number");
    SkipSpace(false);
    return v;
  }

  // Reads the raw text of a delimited token (the delimiter escaped by a backslash inside it).
  std::string Delimited(char close, const char* what) {
    size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != close) {
      if (s_[pos_] == '\\') ++pos_;
      if (s_[pos_] == '\n' && close != ']') Fail(std::string("unterminated ") + what);
      ++pos_;
    }
    if (pos_ >= s_.size()) Fail(std::string("unterminated ") + what);
    std::string body = s_.substr(start, pos_ - start);
    ++pos_;
    return body;
  }

  int32_t Regex(const std::string& pattern, const RegexOptions& options) {
    try {
      return ParseRegex(pattern, &g_, options);
    } catch (const GrammarError& e) {
      Fail(e.what());
    }
  }

  int32_t ParseAtom(int depth) {
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      int32_t inner = ParseAlt(depth + 1);
      SkipSpace(true);
      if (pos_ >= s_.size() || s_[pos_] != ')') Fail("missing ')'");
      ++pos_;
      return inner;
    }
    if (c == '"') {
      // A literal has the escapes of a regex, and no metacharacters: quote them for the regex.
      std::string raw = Delimited('"', "string literal");
      std::string quoted;
      for (size_t i = 0; i < raw.size(); ++i) {
        char ch = raw[i];
        if (ch == '\\' && i + 1 < raw.size()) {
          quoted += raw.substr(i, 2);  // the regex parser reads the same escapes
          ++i;
        } else if (std::string(".^$*+?()[]{}|/").find(ch) != std::string::npos) {
          quoted += '\\';
          quoted += ch;
        } else {
          quoted += ch;
        }
      }
      return Regex(quoted, {});
    }
    if (c == '[') {
      size_t start = pos_;
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] == '^') ++pos_;
      if (pos_ < s_.size() && s_[pos_] == ']') ++pos_;
      while (pos_ < s_.size() && s_[pos_] != ']') {
        if (s_[pos_] == '\\') ++pos_;
        ++pos_;
      }
      if (pos_ >= s_.size()) Fail("unterminated character class");
      ++pos_;
      return Regex(s_.substr(start, pos_ - start), {});
    }
    if (c == '/') {
      std::string pattern = Delimited('/', "regex literal");
      RegexOptions options;
      if (pos_ < s_.size() && s_[pos_] == 'j') {
        options.json_string = true;
        ++pos_;
      }
      return Regex(pattern, options);
    }
    if (c == '.') {
      ++pos_;
      return Regex(".", {});
    }
    std::string name = Name();
    if (name.empty()) Fail(std::string("unexpected character '") + c + "'");
    return g_.Ref(g_.RuleId(name));
  }

  const std::string& s_;
  size_t pos_ = 0;
  Grammar g_;
};

}  // namespace

Grammar ParseEbnf(const std::string& text, const std::string& root) {
  return EbnfParser(text).Parse(root);
}

}  // namespace genai_rt::grammar
