"""TaskSpec: what framing decided about one request, and everything later steps obey."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    """The framed request.

    Parameters
    ----------
    intent, confidence : the classifier's decision and its score in [0, 1]
    classifier : "embedding" | "llm" | "default" (below threshold, routed to the default intent)
    prompt : the intent's (role's) prompt template, with the role/department policies appended
    policies : instructions from the principal's roles, in the order applied
    grounding : "extractive" | "generative" | "none"
    output_schema : JSON schema of the answer (the citation enum is filled in at grounding)
    max_tokens, max_words, temperature, top_p : caps; callers cannot raise them
    exclusions, excluded_classifications : named exclusions (those document
        classifications are kept out of the search; their terms are blocked)
    deny_terms, pii_patterns : blocked while decoding and checked by the policy gate
    citations_required, risk_tier, max_sentences : as declared for the intent
    history : recent conversation turns (OpenAI-style messages) added to the prompt
    """

    intent: str
    confidence: float
    classifier: str
    prompt: str
    policies: tuple[str, ...]
    grounding: str
    output_schema: dict[str, Any]
    max_tokens: int
    max_words: int
    temperature: float
    top_p: float
    exclusions: tuple[str, ...]
    excluded_classifications: tuple[str, ...]
    deny_terms: tuple[str, ...]
    pii_patterns: tuple[str, ...]
    citations_required: bool
    risk_tier: str
    max_sentences: int
    history: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready view for the audit record."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out
