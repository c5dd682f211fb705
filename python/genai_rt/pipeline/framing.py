"""Framing: request text + principal -> TaskSpec (or a reason to ask back / refuse).

Two classifiers. ``EmbeddingIntentClassifier``: cosine similarity to the labelled examples of
each intent (score of an intent = its best example), confidence = the best score.
``LlmIntentClassifier``: the model itself picks an intent name under a choices grammar, one
constrained decode per request (concurrent requests share the engine's batches); confidence =
the probability of first tokens that start the chosen intent over those that start any intent.
Below ``confidence_threshold`` the request goes to the declared default intent, or back to the
user for clarification: nothing is guessed silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from genai_rt.pipeline.config import PipelineConfig
from genai_rt.pipeline.model_client import ModelClient
from genai_rt.pipeline.taskspec import TaskSpec
from genai_rt.principal import Principal
from genai_rt.sampling.params import SamplingParams


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, rows L2-normalised."""
        ...


@dataclass(frozen=True)
class IntentDecision:
    intent: str
    confidence: float
    classifier: str


class EmbeddingIntentClassifier:
    """Nearest labelled example by cosine similarity (all-MiniLM-L6-v2 by default)."""

    def __init__(self, config: PipelineConfig, embedder: Embedder) -> None:
        self.embedder = embedder
        self.labels: list[str] = []
        texts: list[str] = []
        for name, intent in config.intents.items():
            for example in intent.examples:
                self.labels.append(name)
                texts.append(example)
        self.intents = list(config.intents)
        # examples: [num_examples, dim]; owner[i] = index of example i's intent
        self.examples = embedder.encode(texts)
        self.owner = np.asarray([self.intents.index(x) for x in self.labels])

    def classify_many(self, texts: Sequence[str]) -> list[IntentDecision]:
        queries = self.embedder.encode(list(texts))
        sims = queries @ self.examples.T  # [num_texts, num_examples]
        per_intent = np.full((len(texts), len(self.intents)), -1.0, dtype=np.float32)
        for j in range(len(self.intents)):
            per_intent[:, j] = sims[:, self.owner == j].max(axis=1)
        best = per_intent.argmax(axis=1)
        return [
            IntentDecision(self.intents[b], float(max(0.0, per_intent[i, b])), "embedding")
            for i, b in enumerate(best)
        ]

    def classify(self, text: str) -> IntentDecision:
        return self.classify_many([text])[0]


class LlmIntentClassifier:
    """The model chooses among the intent names under a choices grammar."""

    def __init__(self, config: PipelineConfig, model: ModelClient) -> None:
        self.model = model
        self.intents = list(config.intents)
        lines = "\n".join(f"- {n}: {i.description}" for n, i in config.intents.items())
        # A completion-style few-shot prompt over the config's training examples (the labelled
        # set stays unseen). NOTE: through the chat template SmolLM2-135M chose the same intent
        # for every request of the labelled set; continuing "Intent:" it follows the pattern.
        shots = "\n\n".join(f"Request: {e}\nIntent: {n}" for i in range(3)
                            for n, intent in config.intents.items()
                            for e in intent.examples[i:i + 1])
        self.prefix = (f"Intents:\n{lines}\n\n{shots}\n\n")
        choices = [f" {n}" for n in self.intents]
        # Every token that can start an answer, with the intents it is a prefix of.
        encoded = [(name, c.encode()) for name, c in zip(self.intents, choices, strict=True)]
        firsts: dict[int, list[str]] = {}
        for t, data in enumerate(model.vocabulary.token_bytes):
            if data:
                names = [n for n, c in encoded if c.startswith(data)]
                if names:
                    firsts[t] = names
        self._first_tokens = firsts
        self.params = SamplingParams(
            temperature=0.0, max_tokens=16, logprobs=20, grammar={"choice": choices},
        )

    async def classify(self, text: str) -> IntentDecision:
        prompt = f"{self.prefix}Request: {' '.join(text.split())}\nIntent:"
        out = await self.model.complete(prompt, self.params, tag="frame")
        intent = out.text.strip()
        if intent not in self.intents:
            return IntentDecision(self.intents[0], 0.0, "llm")
        return IntentDecision(intent, self._confidence(out.first_logprobs, intent), "llm")

    def _confidence(self, first: dict[int, float] | None, intent: str) -> float:
        """P(first token starts the chosen intent) / P(first token starts any intent), over
        the model's top-20 first tokens (raw distribution)."""
        if not first:
            return 0.0
        allowed = {t: math.exp(lp) for t, lp in first.items() if t in self._first_tokens}
        total = sum(allowed.values())
        chosen = sum(p for t, p in allowed.items() if intent in self._first_tokens[t])
        return chosen / total if total > 0 else 0.0


@dataclass(frozen=True)
class FramingResult:
    """Either a TaskSpec, or the status and message that end the request here."""

    decision: IntentDecision
    spec: TaskSpec | None
    status: str | None = None
    message: str = ""


class Framer:
    """Turns a classifier decision, the principal and history into a TaskSpec."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def frame(
        self, decision: IntentDecision, principal: Principal,
        history: Sequence[dict[str, str]] = (),
    ) -> FramingResult:
        cfg = self.config
        if decision.confidence < cfg.confidence_threshold:
            if not cfg.default_intent:
                options = ", ".join(cfg.intents[n].description for n in cfg.intents)
                return FramingResult(
                    decision, None, "NEEDS_CLARIFICATION",
                    f"I am not sure what you need (best guess {decision.intent!r} at "
                    f"{decision.confidence:.2f} < {cfg.confidence_threshold}). "
                    f"I can help with: {options}.")
            decision = IntentDecision(cfg.default_intent, decision.confidence, "default")
        intent = cfg.intents[decision.intent]
        if intent.allowed_roles and not set(intent.allowed_roles) & principal.roles:
            return FramingResult(
                decision, None, "REFUSED",
                f"intent {intent.name!r} needs one of the roles {list(intent.allowed_roles)}")
        policies = tuple(cfg.roles[r].instructions for r in sorted(principal.roles)
                         if r in cfg.roles and cfg.roles[r].instructions)
        deny = set(cfg.deny_terms)
        for r in principal.roles:
            if r in cfg.roles:
                deny |= set(cfg.roles[r].deny_terms)
        labels: list[str] = []
        for name in intent.exclusions:
            deny |= set(cfg.exclusions[name].terms)
            labels += cfg.exclusions[name].classifications
        prompt = intent.prompt
        if policies:
            prompt += "\nPolicies:\n" + "\n".join(f"- {p}" for p in policies)
        keep = cfg.history_turns
        turns = tuple(dict(m) for m in history)[-keep:] if keep else ()
        limits = intent.limits
        spec = TaskSpec(
            intent=intent.name, confidence=decision.confidence, classifier=decision.classifier,
            prompt=prompt, policies=policies, grounding=intent.grounding, output_schema={},
            max_tokens=limits.max_tokens, max_words=limits.max_words,
            temperature=limits.temperature, top_p=limits.top_p, exclusions=intent.exclusions,
            excluded_classifications=tuple(sorted(set(labels))), deny_terms=tuple(sorted(deny)),
            pii_patterns=cfg.pii_patterns, citations_required=intent.citations_required,
            risk_tier="high" if cfg.is_high_risk(intent.name) else intent.risk_tier,
            max_sentences=intent.max_sentences, history=turns,
        )
        return FramingResult(decision, spec)


def check_history(history: Any) -> list[dict[str, str]]:
    """History as OpenAI-style messages; a clear error otherwise."""
    if history is None:
        return []
    out = []
    for i, m in enumerate(history):
        if (not isinstance(m, dict) or m.get("role") not in ("user", "assistant")
                or not isinstance(m.get("content"), str)):
            raise ValueError(f"history[{i}] must be {{'role': 'user'|'assistant', "
                             f"'content': str}}, got {m!r}")
        out.append({"role": m["role"], "content": m["content"]})
    return out
