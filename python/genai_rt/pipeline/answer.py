"""What ``Pipeline.ask`` returns, and the record the audit hook receives."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    PASSED = "PASSED"
    DRAFT_REQUIRES_SIGNOFF = "DRAFT_REQUIRES_SIGNOFF"
    ESCALATED = "ESCALATED"
    NEEDS_CLARIFICATION = "NEEDS_CLARIFICATION"
    REFUSED = "REFUSED"


# ``PipelineRecord.status`` of a request whose caller went away before it was answered (never
# an ``Answer`` status: nobody is left to receive that answer).
CANCELLED = "CANCELLED"


@dataclass
class Answer:
    """One response.

    ``text`` is the answer (extractive: the quoted sentences joined; generative: the JSON's
    ``answer``), ``json`` the structured output, ``citations`` the passage ids it rests on.
    For NEEDS_CLARIFICATION / REFUSED ``text`` says why. ``review_id`` points into the review
    queue for ESCALATED and DRAFT_REQUIRES_SIGNOFF; ``audit_id`` is what the audit hook returned.
    """

    status: Status
    text: str
    json: dict[str, Any] | None = None
    citations: list[str] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    intent: str = ""
    review_id: int | None = None
    audit_id: Any = None


@dataclass
class PipelineRecord:
    """Everything an audit record needs, handed to ``Pipeline(on_record=...)`` once per request.

    ``timings`` are seconds per step (frame, ground, generate, validate, total);
    ``attempts`` holds, per generation attempt, the grammar spec, sampling parameters, the raw
    output, the verdicts and the tokens in/out.
    """

    request: str
    principal: dict[str, Any]
    status: str
    task_spec: dict[str, Any] | None
    intent_decision: dict[str, Any]
    retrieval: dict[str, Any]
    model_id: str
    attempts: list[dict[str, Any]]
    output: str
    citations: list[str]
    retries: int
    escalated: bool
    review_id: int | None
    timings: dict[str, float]
    tokens_in: int
    tokens_out: int
