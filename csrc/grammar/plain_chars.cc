// Which automaton states treat every plain JSON-string character alike (matcher.h).
#include "genai_rt/grammar/matcher.h"

namespace genai_rt::grammar {
namespace {

// UTF-8 lead bytes with the range allowed for their first continuation byte; later
// continuation bytes are always 80-BF (surrogates and overlong forms excluded).
struct LeadGroup {
  uint8_t lo, hi, cont_lo, cont_hi;
  int32_t continuations;
};
constexpr LeadGroup kLeads[] = {
    {0xC2, 0xDF, 0x80, 0xBF, 1}, {0xE0, 0xE0, 0xA0, 0xBF, 2}, {0xE1, 0xEC, 0x80, 0xBF, 2},
    {0xED, 0xED, 0x80, 0x9F, 2}, {0xEE, 0xEF, 0x80, 0xBF, 2}, {0xF0, 0xF0, 0x90, 0xBF, 3},
    {0xF1, 0xF3, 0x80, 0xBF, 3}, {0xF4, 0xF4, 0x80, 0x8F, 3},
};

bool IsPlainAscii(int b) { return b >= 0x20 && b < 0x80 && b != '"' && b != '\\'; }

}  // namespace

int32_t CompiledGrammar::PlainNext(int32_t state) const {
  int32_t v = plain_next_[state].load(std::memory_order_relaxed);
  if (v == -2) {
    v = ComputePlainNext(state);
    plain_next_[state].store(v, std::memory_order_relaxed);
  }
  return v;
}

bool CompiledGrammar::AnyPlainChar(int32_t state) const {
  const Automaton& a = *automaton_;
  for (int b = 0x20; b <= 0xF4; ++b) {
    if ((IsPlainAscii(b) || b >= 0xC2) && a.Next(state, static_cast<uint8_t>(b)) >= 0) return true;
  }
  return false;
}

int32_t CompiledGrammar::ComputePlainNext(int32_t state) const {
  const Automaton& a = *automaton_;
  int32_t target = -1;
  for (int b = 0x20; b < 0x80; ++b) {
    if (!IsPlainAscii(b)) continue;
    int32_t t = a.Next(state, static_cast<uint8_t>(b));
    if (t < 0 || (target >= 0 && t != target)) return -1;
    target = t;
  }
  // Every byte of [lo, hi] must lead to one state; returns it or -1.
  auto same_next = [&](int32_t from, int lo, int hi) {
    int32_t next = a.Next(from, static_cast<uint8_t>(lo));
    for (int b = lo + 1; b <= hi && next >= 0; ++b) {
      if (a.Next(from, static_cast<uint8_t>(b)) != next) return -1;
    }
    return next;
  };
  for (const LeadGroup& g : kLeads) {
    int32_t after_lead = same_next(state, g.lo, g.hi);
    if (after_lead < 0) return -1;
    int32_t cur = same_next(after_lead, g.cont_lo, g.cont_hi);
    for (int32_t k = 1; k < g.continuations && cur >= 0; ++k) cur = same_next(cur, 0x80, 0xBF);
    if (cur != target) return -1;
  }
  return target;
}

}  // namespace genai_rt::grammar
