#include "genai_rt/grammar/ir.h"

#include <algorithm>
#include <map>

namespace genai_rt::grammar {

int32_t Grammar::Add(Expr expr) {
  exprs_.push_back(std::move(expr));
  return static_cast<int32_t>(exprs_.size() - 1);
}

int32_t Grammar::Empty() { return Add(Expr{}); }

int32_t Grammar::Bytes(std::vector<std::pair<uint8_t, uint8_t>> ranges) {
  Expr e;
  e.kind = ExprKind::kBytes;
  e.ranges = std::move(ranges);
  return Add(std::move(e));
}

int32_t Grammar::Literal(const std::string& bytes) {
  std::vector<int32_t> parts;
  parts.reserve(bytes.size());
  for (unsigned char c : bytes) parts.push_back(Bytes({{c, c}}));
  return Seq(std::move(parts));
}

int32_t Grammar::Seq(std::vector<int32_t> children) {
  if (children.empty()) return Empty();
  if (children.size() == 1) return children[0];
  Expr e;
  e.kind = ExprKind::kSeq;
  e.children = std::move(children);
  return Add(std::move(e));
}

int32_t Grammar::Alt(std::vector<int32_t> children) {
  if (children.size() == 1) return children[0];
  Expr e;
  e.kind = ExprKind::kAlt;  // an empty Alt matches nothing
  e.children = std::move(children);
  return Add(std::move(e));
}

int32_t Grammar::Repeat(int32_t child, int32_t min_repeat, int32_t max_repeat) {
  if (min_repeat < 0 || (max_repeat >= 0 && max_repeat < min_repeat)) {
    throw GrammarError("bad repetition bounds {" + std::to_string(min_repeat) + "," +
                       std::to_string(max_repeat) + "}");
  }
  Expr e;
  e.kind = ExprKind::kRepeat;
  e.children = {child};
  e.min_repeat = min_repeat;
  e.max_repeat = max_repeat;
  return Add(std::move(e));
}

int32_t Grammar::Ref(int32_t rule) {
  Expr e;
  e.kind = ExprKind::kRuleRef;
  e.rule = rule;
  return Add(std::move(e));
}

int32_t Grammar::RuleId(const std::string& name) {
  auto it = rule_ids_.find(name);
  if (it != rule_ids_.end()) return it->second;
  rules_.push_back(Rule{name, -1});
  int32_t id = static_cast<int32_t>(rules_.size() - 1);
  rule_ids_.emplace(name, id);
  return id;
}

int32_t Grammar::NewRule(const std::string& hint) {
  std::string name = hint;
  for (int i = 1; rule_ids_.count(name); ++i) name = hint + "_" + std::to_string(i);
  return RuleId(name);
}

void Grammar::Validate() const {
  if (root_ < 0) throw GrammarError("grammar has no root rule");
  for (const Rule& rule : rules_) {
    if (rule.body < 0) throw GrammarError("rule '" + rule.name + "' is used but never defined");
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<std::pair<uint32_t, uint32_t>> NormalizeRanges(
    std::vector<std::pair<uint32_t, uint32_t>> ranges) {
  std::vector<std::pair<uint32_t, uint32_t>> split;
  for (auto [lo, hi] : ranges) {
    hi = std::min(hi, kMaxCodePoint);
    if (lo > hi) continue;
    // Surrogates D800-DFFF have no UTF-8 encoding.
    if (lo < 0xD800 && hi >= 0xD800) {
      split.emplace_back(lo, 0xD7FF);
      lo = 0xE000;
    } else if (lo >= 0xD800 && lo <= 0xDFFF) {
      lo = 0xE000;
    }
    if (lo <= hi) split.emplace_back(lo, hi);
  }
  std::sort(split.begin(), split.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (auto r : split) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::vector<std::pair<uint32_t, uint32_t>> ComplementRanges(
    const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  uint32_t next = 0;
  for (auto [lo, hi] : ranges) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return NormalizeRanges(out);
}

namespace {

// Encoded-length boundaries: code points in [lo, hi] of each band share a UTF-8 length.
constexpr uint32_t kBandEnds[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

// Lowers [lo, hi] (same UTF-8 length) to byte-range sequences: the classic split into ranges
// whose continuation bytes span full 0x80-0xBF blocks.
void Utf8Sequences(uint32_t lo, uint32_t hi,
                   std::vector<std::vector<std::pair<uint8_t, uint8_t>>>* out) {
  std::string a, b;
  AppendUtf8(lo, &a);
  AppendUtf8(hi, &b);
  size_t n = a.size();
  if (n == 1) {
    out->push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  // Split so that all but the first byte cover full continuation ranges, recursively.
  // Same order as regex-syntax's Utf8Sequences: fewest trailing bytes first.
  for (size_t t = 1; t < n; ++t) {
    uint32_t m = (1u << (6 * t)) - 1;  // low bits covered by the trailing t bytes
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Sequences(lo, lo | m, out);
        Utf8Sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        Utf8Sequences(lo, (hi & ~m) - 1, out);
        Utf8Sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (size_t i = 0; i < n; ++i) {
    seq.emplace_back(static_cast<uint8_t>(a[i]), static_cast<uint8_t>(b[i]));
  }
  out->push_back(std::move(seq));
}

}  // namespace

int32_t Grammar::CodePoints(const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
  for (auto [lo, hi] : NormalizeRanges(ranges)) {
    uint32_t band_lo = 0;
    for (uint32_t band_hi : kBandEnds) {
      uint32_t a = std::max(lo, band_lo), b = std::min(hi, band_hi);
      if (a <= b) Utf8Sequences(a, b, &seqs);
      band_lo = band_hi + 1;
    }
  }
  return SuffixFactored(std::move(seqs));
}

// Sequences that end alike share that ending: Alt(prefixes) then the last byte range, applied
// recursively. The automaton then has one "continuation bytes left" state per count instead of
// one per lead-byte group: a JSON string character went from ~20 to ~9 states per position
// (a maxLength-32 string's states halve, and so does its compile time).
int32_t Grammar::SuffixFactored(std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs) {
  std::vector<std::pair<uint8_t, uint8_t>> singles;  // one-byte sequences: one byte-set node
  std::map<std::pair<uint8_t, uint8_t>, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>>
      by_last;
  for (auto& seq : seqs) {
    if (seq.size() == 1) {
      singles.push_back(seq[0]);
      continue;
    }
    std::pair<uint8_t, uint8_t> last = seq.back();
    seq.pop_back();
    by_last[last].push_back(std::move(seq));
  }
  std::vector<int32_t> alts;
  if (!singles.empty()) alts.push_back(Bytes(std::move(singles)));
  for (auto& [last, prefixes] : by_last) {
    alts.push_back(Seq({SuffixFactored(std::move(prefixes)), Bytes({last})}));
  }
  return Alt(std::move(alts));
}

}  // namespace genai_rt::grammar
