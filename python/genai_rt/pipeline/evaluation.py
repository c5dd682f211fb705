"""Scoring the pipeline on the labelled sets in examples/enterprise (tests and benchmarks).

framing_labelled.jsonl: ``{"text", "intent"}``; kept apart from the config's training examples.
qa_labelled.jsonl: ``{"question", "tenant", "roles", "gold_document", "answer_contains"}``.
An answer is correct when its text contains ``answer_contains`` and it cites the gold document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_rt.pipeline.answer import Answer
from genai_rt.pipeline.framing import IntentDecision
from genai_rt.principal import Principal


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def framing_accuracy(decisions: Sequence[IntentDecision], rows: Sequence[dict[str, Any]],
                     threshold: float) -> float:
    """Share of requests given the labelled intent at or above the threshold."""
    ok = sum(d.intent == r["intent"] and d.confidence >= threshold
             for d, r in zip(decisions, rows, strict=True))
    return ok / len(rows)


def qa_principal(row: dict[str, Any]) -> Principal:
    return Principal(row["tenant"], frozenset(row["roles"]))


@dataclass(frozen=True)
class QaScore:
    answered: int
    correct_text: int
    correct_citation: int
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


def score_qa(answers: Sequence[Answer], rows: Sequence[dict[str, Any]]) -> QaScore:
    answered = text_ok = cite_ok = both = 0
    for a, r in zip(answers, rows, strict=True):
        answered += a.status.value in ("PASSED", "DRAFT_REQUIRES_SIGNOFF")
        t = r["answer_contains"].lower() in a.text.lower()
        c = any(cid.split("#")[0] == r["gold_document"] for cid in a.citations)
        text_ok += t
        cite_ok += c
        both += t and c
    return QaScore(answered, text_ok, cite_ok, both, len(rows))


def with_grounding(config: Any, mode: str) -> Any:
    """The same config with every intent in grounding ``mode`` (to compare the two modes)."""
    import dataclasses

    intents = {n: dataclasses.replace(i, grounding=mode) for n, i in config.intents.items()}
    return dataclasses.replace(config, intents=intents)
