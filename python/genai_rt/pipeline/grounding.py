"""Grounding: passages the principal may see, in the prompt with their ids, and the grammars
that tie the answer to them.

- Generative mode: a JSON answer whose ``citations`` items are an ``enum`` of the retrieved
  ids, so a citation that was not retrieved cannot be decoded at all.
- Extractive mode: the answer is 1..max_sentences lines ``[id] sentence``, where each sentence
  is a verbatim sentence of the passage ``id``: an unsupported answer cannot be decoded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from genai_rt.principal import Principal
from genai_rt.sampling.grammar_ebnf_util import ebnf_literal

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TAGGED_LINE = re.compile(r"^\[([^\]\n]+)\] (.+)$")


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk (the retrieval branch's shape)."""

    id: str
    document_id: str
    text: str
    score: float
    content_hash: str
    classifications: tuple[str, ...] = ()


@dataclass
class Retrieval:
    passages: list[Passage]
    report: dict[str, Any] = field(default_factory=dict)


class PassageStore(Protocol):
    def retrieve(self, query: str, principal: Principal, k: int,
                 filters: dict[str, Any] | None = None) -> Retrieval: ...


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage, whitespace-normalised (what the extractive grammar offers)."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s]


def passages_block(passages: Sequence[Passage]) -> str:
    """The passages as the prompt shows them: ``[id] text`` per line."""
    return "\n".join(f"[{p.id}] {' '.join(p.text.split())}" for p in passages)


def citation_schema(ids: Sequence[str], max_chars: int) -> dict[str, Any]:
    """Generative answer: text plus citations constrained to ``ids``."""
    if not ids:
        raise ValueError("a citation schema needs at least one retrieved id")
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "minLength": 1, "maxLength": max_chars},
            "citations": {"type": "array", "items": {"enum": list(ids)},
                          "minItems": 1, "maxItems": min(3, len(ids))},
        },
        "required": ["answer", "citations"],
        "additionalProperties": False,
    }


# Passages scoring under this fraction of the best passage's cosine are not offered to the
# model. Measured with benchmarks/pipeline_accuracy.py (42 labelled questions, SmolLM2-135M,
# correct = gold fact AND gold document): every retrieved passage offered 13/42 extractive,
# ratio 0.5 21/42, 0.75 33/42, 0.9 35/42 (generative 12, 16, 27, 28). The small model quotes
# whatever it is offered, so weak runners-up cost answers; 0.75 rather than the best-scoring
# 0.9 keeps close runners-up, which answers drawing on two documents need.
RELEVANCE_RATIO = 0.75


def relevant(passages: Sequence[Passage]) -> list[Passage]:
    """The passages within ``RELEVANCE_RATIO`` of the best score (all of them if none is > 0)."""
    best = max((p.score for p in passages), default=0.0)
    if best <= 0:
        return list(passages)
    return [p for p in passages if p.score >= best * RELEVANCE_RATIO]


def extractive_ebnf(
    passages: Sequence[Passage], max_sentences: int, banned: Sequence[str] = (),
) -> str:
    """GBNF: 1..max_sentences lines, each ``[id] <a verbatim sentence of passage id>``, no
    sentence twice: lines follow the sources' order (passage, then sentence).

    Measured on SmolLM2-135M: with repeats allowed it quoted one sentence three times, retry
    after retry, until the ask escalated. ``banned`` sentences (failed a gate, or hold a
    deny-listed term) are left out. Raises ValueError when no sentence is left.
    """
    blocked = set(banned)
    lines = []  # "[id] sentence" literals in source order
    seen = set()
    for p in passages:
        for sentence in split_sentences(p.text):
            if sentence in blocked or (p.id, sentence) in seen:
                continue
            seen.add((p.id, sentence))
            lines.append(ebnf_literal(f"[{p.id}] {sentence}"))
    if not lines:
        raise ValueError("no passage sentence is left to quote")
    # t{i}_{r}: lines from the i-th on, increasing, at most r of them (at least one).
    n = len(lines)
    rules = [f"l{i} ::= {line}" for i, line in enumerate(lines)]
    for r in range(1, max_sentences + 1):
        for i in range(n):
            alternatives = [f"l{i}"]
            if r > 1 and i + 1 < n:
                alternatives.append(f'l{i} "\\n" t{i + 1}_{r - 1}')
            if i + 1 < n:
                alternatives.append(f"t{i + 1}_{r}")
            rules.append(f"t{i}_{r} ::= " + " | ".join(alternatives))
    return "\n".join([f"root ::= t0_{max_sentences}", *rules]) + "\n"


@dataclass(frozen=True)
class Draft:
    """A model output parsed into what the gates check."""

    raw: str
    answer: str
    citations: tuple[str, ...]
    quotes: tuple[tuple[str, str], ...]  # (passage id, quoted text)
    parse_error: str | None = None


def parse_extractive(raw: str) -> Draft:
    quotes, errors = [], []
    for n, line in enumerate(raw.strip().split("\n")):
        m = TAGGED_LINE.match(line.strip())
        if m is None:
            errors.append(f"line {n + 1} is not '[id] sentence': {line[:60]!r}")
            continue
        quotes.append((m.group(1), m.group(2)))
    answer = " ".join(q for _, q in quotes)
    cites = tuple(dict.fromkeys(i for i, _ in quotes))
    return Draft(raw, answer, cites, tuple(quotes), "; ".join(errors) or None)


_QUOTED = re.compile(r"\"([^\"]{8,})\"")


def parse_generative(raw: str) -> Draft:
    import json

    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        return Draft(raw, "", (), (), f"not valid JSON: {err.msg} at offset {err.pos}")
    if not isinstance(value, dict):
        return Draft(raw, "", (), (), "the answer must be a JSON object")
    answer = value.get("answer")
    cites = value.get("citations")
    problems = []
    if not isinstance(answer, str):
        problems.append("#/answer must be a string")
        answer = ""
    if not isinstance(cites, list) or not all(isinstance(c, str) for c in cites):
        problems.append("#/citations must be a list of strings")
        cites = []
    extra = sorted(set(value) - {"answer", "citations"})
    if extra:
        problems.append(f"unexpected keys {extra}")
    first = cites[0] if cites else ""
    quotes = tuple((first, q) for q in _QUOTED.findall(answer))
    return Draft(raw, answer, tuple(cites), quotes, "; ".join(problems) or None)
