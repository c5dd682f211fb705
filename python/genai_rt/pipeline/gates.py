"""Validation gates: small named checks over a parsed draft; each verdict carries its reasons
and the evidence spans (character offsets into ``draft.answer``).

A verdict is ``local`` when the failure sits in one part of the answer (one quoted line), so
the retry can keep what passed and regenerate only the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genai_rt.pipeline.denylist import ByteAutomaton
from genai_rt.pipeline.grounding import Draft, Passage, split_sentences
from genai_rt.pipeline.taskspec import TaskSpec

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[A-Za-z']+")
# The 40 most frequent English words; an English answer of 8+ words holds some (quality gate).
_ENGLISH = frozenset(
    "the of and to a in is it you that he was for on are with as i his they be at one have this "
    "from or had by not but what all were we when your can there an each which she do how their "
    "if will up other about out many then them these so some her would make like may per".split()
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    reasons: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()
    banned: tuple[str, ...] = ()  # sentences / terms the retry should ban
    local: bool = False

    def as_record(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "reasons": list(self.reasons),
                "spans": [[s.start, s.end, s.text] for s in self.spans], "local": self.local}


@dataclass
class GateContext:
    spec: TaskSpec
    passages: Sequence[Passage]
    automaton: ByteAutomaton | None = None


def _span(text: str, needle: str) -> Span:
    start = max(text.find(needle), 0)
    return Span(start, start + len(needle), needle)


class FormatGate:
    """Schema validity (the grammar should make this pass; a truncated draft does not)."""

    name = "format"

    def check(self, draft: Draft, ctx: GateContext) -> Verdict:
        reasons = []
        if draft.parse_error:
            reasons.append(draft.parse_error)
        if not draft.answer.strip():
            reasons.append("empty answer")
        return Verdict(self.name, not reasons, tuple(reasons))


class GroundingGate:
    """Citations present and retrieved; quotes found in the cited passages; numbers sourced."""

    name = "grounding"

    def check(self, draft: Draft, ctx: GateContext) -> Verdict:
        by_id = {p.id: p for p in ctx.passages}
        reasons: list[str] = []
        spans: list[Span] = []
        banned: list[str] = []
        if ctx.spec.citations_required and not draft.citations:
            reasons.append("no citation")
        unknown = [c for c in draft.citations if c not in by_id]
        if unknown:
            reasons.append(f"citations not among the retrieved ids: {unknown}")
        cited = [by_id[c] for c in draft.citations if c in by_id]
        cited_text = " ".join(" ".join(p.text.split()) for p in cited)
        for pid, quote in draft.quotes:
            source = by_id.get(pid)
            pool = " ".join(source.text.split()) if source is not None else cited_text
            if quote not in pool and quote not in cited_text:
                reasons.append(f"quote not found in passage {pid!r}: {quote[:60]!r}")
                spans.append(_span(draft.answer, quote))
                banned.append(quote)
        source_numbers = set(_NUMBER.findall(cited_text or " ".join(p.text for p in ctx.passages)))
        for m in _NUMBER.finditer(draft.answer):
            if m.group() not in source_numbers:
                reasons.append(f"number {m.group()!r} is not in the cited sources")
                spans.append(Span(m.start(), m.end(), m.group()))
        local = bool(banned) and len(banned) < max(len(draft.quotes), 1) and not unknown
        return Verdict(self.name, not reasons, tuple(reasons), tuple(spans), tuple(banned), local)


class PolicyGate:
    """PII and deny-listed terms (the decode-time filter should make this pass), and citations
    of passages whose classification the TaskSpec's exclusions name (confidential pricing)."""

    name = "policy"

    def check(self, draft: Draft, ctx: GateContext) -> Verdict:
        reasons: list[str] = []
        spans: list[Span] = []
        banned: list[str] = []
        if ctx.automaton is not None:
            data = draft.answer.encode()
            for end, _ in ctx.automaton.find(draft.answer):
                start = _match_start(ctx.automaton, data, end)
                text = data[start:end].decode(errors="replace")
                reasons.append(f"blocked term or PII pattern: {text!r}")
                spans.append(Span(len(data[:start].decode(errors="ignore")),
                                  len(data[:end].decode(errors="ignore")), text))
                banned.append(text)
        excluded = set(ctx.spec.excluded_classifications)
        by_id = {p.id: p for p in ctx.passages}
        for c in draft.citations:
            p = by_id.get(c)
            hit = sorted(excluded & set(p.classifications)) if p is not None else []
            if hit:
                reasons.append(f"cites {c!r}, classified {hit}, "
                               f"which exclusions {list(ctx.spec.exclusions)} forbid")
        return Verdict(self.name, not reasons, tuple(reasons), tuple(spans), tuple(banned))


def _match_start(automaton: ByteAutomaton, data: bytes, end: int) -> int:
    """Shortest suffix of ``data[:end]`` that the automaton matches on its own."""
    for start in range(end - 1, -1, -1):
        if automaton.accepting[automaton.advance(0, data[start:end])]:
            return start
    return 0


class QualityGate:
    """Length (words), language (English), repetition (a 3-word phrase 3+ times)."""

    name = "quality"

    def check(self, draft: Draft, ctx: GateContext) -> Verdict:
        words = _WORD.findall(draft.answer.lower())
        reasons: list[str] = []
        spans: list[Span] = []
        banned: list[str] = []
        if len(draft.answer.split()) > ctx.spec.max_words:
            reasons.append(f"{len(draft.answer.split())} words > limit {ctx.spec.max_words}")
        if len(words) >= 8 and not _ENGLISH & set(words):
            reasons.append("the answer does not read as English")
        grams = Counter(zip(words, words[1:], words[2:], strict=False))
        repeated = [(" ".join(g), n) for g, n in grams.items() if n >= 3]
        if repeated:
            phrase, count = repeated[0]
            reasons.append(f"repeats {phrase!r} {count} times")
            spans.append(_span(draft.answer.lower(), phrase))
            banned.append(phrase)
        sentences = [q for _, q in draft.quotes] or split_sentences(draft.answer)
        dupes = [s for s, n in Counter(sentences).items() if n > 1]
        if dupes:
            reasons.append(f"sentence repeated: {dupes[0][:60]!r}")
            banned.append(dupes[0])
        return Verdict(self.name, not reasons, tuple(reasons), tuple(spans), tuple(banned),
                       local=bool(dupes) and not repeated)


DEFAULT_GATES = (FormatGate(), GroundingGate(), PolicyGate(), QualityGate())


def run_gates(draft: Draft, ctx: GateContext, gates: Sequence[Any] = DEFAULT_GATES
              ) -> list[Verdict]:
    return [g.check(draft, ctx) for g in gates]
