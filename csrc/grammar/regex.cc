#include "genai_rt/grammar/regex.h"

#include <utility>
#include <vector>

namespace genai_rt::grammar {
namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// Nesting beyond this is rejected rather than risking the C++ stack on hostile input.
constexpr int kMaxRegexDepth = 200;

class RegexParser {
 public:
  RegexParser(const std::string& pattern, Grammar* g, const RegexOptions& options)
      : g_(g), options_(options) {
    Decode(pattern);
  }

  int32_t Parse() {
    bool anchored_start = false, anchored_end = false;
    if (!cps_.empty() && cps_[0] == '^') {
      anchored_start = true;
      pos_ = 1;
    }
    size_t end = cps_.size();
    if (end > pos_ && cps_[end - 1] == '$' && !EscapedAt(end - 1)) {
      anchored_end = true;
      cps_.pop_back();
    }
    int32_t body = ParseAlt(0);
    if (pos_ < cps_.size()) Fail("unbalanced ')'");
    if (!options_.search) return body;
    std::vector<int32_t> parts;
    if (!anchored_start) parts.push_back(AnyStar());
    parts.push_back(body);
    if (!anchored_end) parts.push_back(AnyStar());
    return g_->Seq(std::move(parts));
  }

 private:
  void Decode(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (len == 0 || i + len > s.size()) throw GrammarError("regex is not valid UTF-8");
      uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
      for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      cps_.push_back(cp);
      i += len;
    }
  }

  // True if the character at `i` is preceded by an odd number of backslashes.
  bool EscapedAt(size_t i) const {
    size_t n = 0;
    while (i > n && cps_[i - n - 1] == '\\') ++n;
    return n % 2 == 1;
  }

  [[noreturn]] void Fail(const std::string& what) const {
    throw GrammarError("regex error at offset " + std::to_string(pos_) + ": " + what);
  }

  bool AtEnd() const { return pos_ >= cps_.size(); }
  uint32_t Peek() const { return cps_[pos_]; }

  int32_t AnyStar() { return g_->Repeat(Chars(DotRanges()), 0, -1); }
  static Ranges DotRanges() { return {{0, '\n' - 1}, {'\n' + 1, kMaxCodePoint}}; }

  int32_t Chars(const Ranges& ranges) {
    return options_.json_string ? JsonStringChars(ranges, g_) : g_->CodePoints(ranges);
  }

  int32_t ParseAlt(int depth) {
    if (depth > kMaxRegexDepth) Fail("groups nested deeper than " + std::to_string(kMaxRegexDepth));
    std::vector<int32_t> alts{ParseSeq(depth)};
    while (!AtEnd() && Peek() == '|') {
      ++pos_;
      alts.push_back(ParseSeq(depth));
    }
    return g_->Alt(std::move(alts));
  }

  int32_t ParseSeq(int depth) {
    std::vector<int32_t> items;
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      int32_t atom = ParseAtom(depth);
      items.push_back(ParseQuantifiers(atom));
    }
    return g_->Seq(std::move(items));
  }

  int32_t ParseQuantifiers(int32_t atom) {
    while (!AtEnd()) {
      uint32_t c = Peek();
      int32_t lo, hi;
      if (c == '*') {
        lo = 0, hi = -1, ++pos_;
      } else if (c == '+') {
        lo = 1, hi = -1, ++pos_;
      } else if (c == '?') {
        lo = 0, hi = 1, ++pos_;
      } else if (c == '{' && ParseBraces(&lo, &hi)) {
      } else {
        break;
      }
      if (!AtEnd() && Peek() == '?') ++pos_;  // lazy: same language
      if (!AtEnd() && Peek() == '+') Fail("possessive quantifiers are not supported");
      if (!AtEnd() && (Peek() == '*' || Peek() == '+' || Peek() == '?')) {
        Fail("multiple repeat");
      }
      atom = g_->Repeat(atom, lo, hi);
    }
    return atom;
  }

  // {m}, {m,}, {m,n}; anything else leaves pos_ and is read as a literal '{' (as Python does).
  bool ParseBraces(int32_t* lo, int32_t* hi) {
    size_t p = pos_ + 1;
    auto number = [&](int64_t* out) {
      size_t start = p;
      int64_t v = 0;
      while (p < cps_.size() && cps_[p] >= '0' && cps_[p] <= '9') {
        v = v * 10 + (cps_[p] - '0');
        if (v > 1000000) Fail("repetition count too large (over 1000000)");
        ++p;
      }
      *out = v;
      return p > start;
    };
    int64_t a = 0, b = -1;
    bool has_min = number(&a);  // Python reads {,n} as {0,n} and {,} as {0,}
    if (!has_min && !(p < cps_.size() && cps_[p] == ',')) return false;
    if (p < cps_.size() && cps_[p] == ',') {
      ++p;
      if (!number(&b)) b = -1;
    } else {
      b = a;
    }
    if (p >= cps_.size() || cps_[p] != '}') return false;
    if (b >= 0 && b < a) Fail("min repeat greater than max repeat");
    pos_ = p + 1;
    *lo = static_cast<int32_t>(a);
    *hi = static_cast<int32_t>(b);
    return true;
  }

  int32_t ParseAtom(int depth) {
    uint32_t c = Peek();
    if (c == '(') {
      ++pos_;
      if (!AtEnd() && Peek() == '?') {
        ++pos_;
        if (!AtEnd() && Peek() == ':') {
          ++pos_;
        } else if (!AtEnd() && Peek() == 'P' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] == '<') {
          SkipGroupName(pos_ + 2);
        } else if (!AtEnd() && Peek() == '<' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != '=' &&
                   cps_[pos_ + 1] != '!') {
          SkipGroupName(pos_ + 1);
        } else {
          Fail("group construct '(?" + std::string(AtEnd() ? "" : Utf8(Peek())) +
               "' (lookaround, flags or conditionals) is not supported");
        }
      }
      int32_t inner = ParseAlt(depth + 1);
      if (AtEnd() || Peek() != ')') Fail("missing ')'");
      ++pos_;
      return inner;
    }
    if (c == '[') return Chars(ParseClass());
    if (c == '.') {
      ++pos_;
      return Chars(DotRanges());
    }
    if (c == '^' || c == '$') Fail(std::string("anchor '") + static_cast<char>(c) +
                                    "' is only supported at the start/end of the pattern");
    if (c == '*' || c == '+' || c == '?') Fail("nothing to repeat");
    if (c == '\\') {
      Ranges r = ParseEscape(/*in_class=*/false);
      return Chars(r);
    }
    ++pos_;
    return Chars({{c, c}});
  }

  void SkipGroupName(size_t p) {
    while (p < cps_.size() && cps_[p] != '>') ++p;
    if (p >= cps_.size()) Fail("unterminated group name");
    pos_ = p + 1;
  }

  static std::string Utf8(uint32_t cp) {
    std::string s;
    AppendUtf8(cp, &s);
    return s;
  }

  Ranges ParseClass() {
    ++pos_;  // '['
    bool negate = false;
    if (!AtEnd() && Peek() == '^') {
      negate = true;
      ++pos_;
    }
    Ranges ranges;
    bool first = true;
    while (true) {
      if (AtEnd()) Fail("unterminated character class");
      uint32_t c = Peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      Ranges lo_set = ClassAtom();
      if (lo_set.size() == 1 && lo_set[0].first == lo_set[0].second && pos_ + 1 < cps_.size() &&
          Peek() == '-' && cps_[pos_ + 1] != ']') {
        ++pos_;
        Ranges hi_set = ClassAtom();
        if (hi_set.size() != 1 || hi_set[0].first != hi_set[0].second) {
          Fail("bad character range");
        }
        if (hi_set[0].first < lo_set[0].first) Fail("bad character range (reversed)");
        ranges.emplace_back(lo_set[0].first, hi_set[0].first);
      } else {
        ranges.insert(ranges.end(), lo_set.begin(), lo_set.end());
      }
    }
    ranges = NormalizeRanges(ranges);
    return negate ? ComplementRanges(ranges) : ranges;
  }

  Ranges ClassAtom() {
    uint32_t c = Peek();
    if (c == '\\') return ParseEscape(/*in_class=*/true);
    if (c == '[' && pos_ + 1 < cps_.size() && (cps_[pos_ + 1] == ':')) {
      Fail("POSIX character classes [:name:] are not supported");
    }
    ++pos_;
    return {{c, c}};
  }

  uint32_t Hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (AtEnd()) Fail("truncated hex escape");
      uint32_t h = Peek();
      int d = (h >= '0' && h <= '9') ? int(h - '0')
              : (h >= 'a' && h <= 'f') ? int(h - 'a' + 10)
              : (h >= 'A' && h <= 'F') ? int(h - 'A' + 10)
                                       : -1;
      if (d < 0) Fail("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  Ranges ParseEscape(bool in_class) {
    ++pos_;  // '\'
    if (AtEnd()) Fail("trailing backslash");
    uint32_t c = Peek();
    ++pos_;
    auto single = [](uint32_t v) { return Ranges{{v, v}}; };
    switch (c) {
      case 'n': return single('\n');
      case 't': return single('\t');
      case 'r': return single('\r');
      case 'f': return single('\f');
      case 'v': return single('\v');
      case '0': return single(0);
      case 'a': return single(7);
      case 'x': return single(Hex(2));
      case 'u': return single(Hex(4));
      case 'U': return single(Hex(8));
      case 'd': return {{'0', '9'}};
      case 'D': return ComplementRanges({{'0', '9'}});
      case 'w': return NormalizeRanges({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}});
      case 'W': return ComplementRanges(NormalizeRanges({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}));
      case 's': return NormalizeRanges({{' ', ' '}, {'\t', '\r'}});
      case 'S': return ComplementRanges(NormalizeRanges({{' ', ' '}, {'\t', '\r'}}));
      case 'b':
        if (in_class) return single(8);
        Fail("word boundary \\b is not supported");
      default: break;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
      --pos_;
      Fail(std::string("escape '\\") + Utf8(c) + "' is not supported");
    }
    return single(c);  // an escaped metacharacter or punctuation stands for itself
  }

  Grammar* g_;
  RegexOptions options_;
  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
};

}  // namespace

int32_t JsonStringChars(const Ranges& ranges, Grammar* g) {
  Ranges raw;
  std::vector<int32_t> alts;
  auto escape = [&](const char* text) { alts.push_back(g->Literal(text)); };
  for (auto [lo, hi] : NormalizeRanges(ranges)) {
    for (uint32_t c = lo; c <= hi && c < 0x20; ++c) {
      static const char* kShort[] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                     nullptr, nullptr, "\\b",    "\\t",    "\\n",    nullptr,
                                     "\\f",   "\\r"};
      if (c < 14 && kShort[c]) {
        escape(kShort[c]);
      } else {
        static const char* kHex = "0123456789abcdef";
        std::string s = "\\u00";
        s.push_back(kHex[c >> 4]);
        s.push_back(kHex[c & 15]);
        escape(s.c_str());
      }
    }
    if (lo <= '"' && '"' <= hi) escape("\\\"");
    if (lo <= '\\' && '\\' <= hi) escape("\\\\");
    // Raw characters: the range minus control characters, '"' and '\'.
    uint32_t a = std::max<uint32_t>(lo, 0x20);
    for (uint32_t cut : {static_cast<uint32_t>('"'), static_cast<uint32_t>('\\')}) {
      if (a <= hi && a <= cut && cut <= hi) {
        if (a < cut) raw.emplace_back(a, cut - 1);
        a = cut + 1;
      }
    }
    if (a <= hi) raw.emplace_back(a, hi);
  }
  if (!raw.empty()) alts.insert(alts.begin(), g->CodePoints(raw));
  return g->Alt(std::move(alts));
}

int32_t ParseRegex(const std::string& pattern, Grammar* grammar, const RegexOptions& options) {
  return RegexParser(pattern, grammar, options).Parse();
}

}  // namespace genai_rt::grammar
