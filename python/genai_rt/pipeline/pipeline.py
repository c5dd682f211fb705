"""``Pipeline``: frame -> ground -> generate under constraints -> validate -> retry/escalate.

Raw model output never reaches the caller: every answer has passed the gates (PASSED), or is a
draft held for sign-off (high-risk intents), or was escalated to the review queue after
``max_retries`` tightened retries.

Streaming and gates: extractive answers could be streamed line by line (each line is a verbatim
source sentence by construction and the deny-list is enforced while decoding, so every gate but
the whole-answer quality checks already holds per line); generative answers cannot be streamed
before the grounding gate has seen the numbers and citations. ``ask`` returns whole answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genai_rt.pipeline.answer import CANCELLED, Answer, PipelineRecord, Status
from genai_rt.pipeline.config import PipelineConfig
from genai_rt.pipeline.denylist import ByteAutomaton, automaton_for
from genai_rt.pipeline.framing import (
    EmbeddingIntentClassifier,
    Framer,
    IntentDecision,
    LlmIntentClassifier,
    check_history,
)
from genai_rt.pipeline.gates import DEFAULT_GATES, GateContext, Verdict, run_gates
from genai_rt.pipeline.grounding import (
    Draft,
    Passage,
    PassageStore,
    citation_schema,
    extractive_ebnf,
    parse_extractive,
    parse_generative,
    passages_block,
    relevant,
    split_sentences,
)
from genai_rt.pipeline.model_client import ModelClient
from genai_rt.pipeline.review_queue import ReviewQueue
from genai_rt.pipeline.taskspec import TaskSpec
from genai_rt.principal import Principal
from genai_rt.sampling.params import SamplingParams

# Characters per word allowed in the generative JSON answer (maxLength = words * this).
CHARS_PER_WORD = 7


@dataclasses.dataclass
class _Attempt:
    mode: str
    k: int
    temperature: float
    banned: list[str]
    kept: list[tuple[str, str]]


class Pipeline:
    """The five steps around the model, as a library.

    Parameters
    ----------
    config : PipelineConfig
    engine : genai_rt.Engine (async; concurrent ``ask`` calls share its batches)
    store : anything with ``retrieve(query, principal, k, filters) -> Retrieval``
    embedder : ``encode(texts) -> [n, dim]`` unit rows, for the embedding classifier
    review_queue : ReviewQueue; default: the config's ``review_queue`` path
    on_record : called with a ``PipelineRecord`` per request; its return value becomes
        ``Answer.audit_id`` (the audit log's ``append`` fits)
    classifier : override the config's "embedding" | "llm"
    """

    def __init__(
        self,
        config: PipelineConfig,
        engine: Any,
        store: PassageStore,
        embedder: Any = None,
        review_queue: ReviewQueue | None = None,
        on_record: Callable[[PipelineRecord], Any] | None = None,
        classifier: str | None = None,
    ) -> None:
        self.config = config
        self.model = ModelClient.for_engine(engine)
        self.store = store
        self.framer = Framer(config)
        self.classifier_kind = classifier or config.classifier
        self.embedding_classifier = (
            EmbeddingIntentClassifier(config, embedder) if embedder is not None else None
        )
        if self.classifier_kind == "embedding" and self.embedding_classifier is None:
            raise ValueError("the embedding classifier needs an embedder")
        self._llm_classifier: LlmIntentClassifier | None = None
        self.review_queue = review_queue or ReviewQueue(config.resolve(config.review_queue))
        self.on_record = on_record
        self.gates = DEFAULT_GATES

    @classmethod
    def from_config(cls, path: str | Path, engine: Any, store: PassageStore,
                    **kwargs: Any) -> Pipeline:
        return cls(PipelineConfig.load(path), engine, store, **kwargs)

    # ------------------------------------------------------------------------------ framing
    @property
    def llm_classifier(self) -> LlmIntentClassifier:
        """Built on first use: it scans the vocabulary for the intents' first tokens."""
        if self._llm_classifier is None:
            self._llm_classifier = LlmIntentClassifier(self.config, self.model)
        return self._llm_classifier

    async def classify(self, text: str) -> IntentDecision:
        if self.classifier_kind == "llm":
            return await self.llm_classifier.classify(text)
        assert self.embedding_classifier is not None
        return self.embedding_classifier.classify(text)

    # ------------------------------------------------------------------------------ ask
    async def ask(
        self, text: str, principal: Principal, history: Sequence[dict[str, str]] | None = None,
        temperature: float | None = None, max_tokens: int | None = None,
    ) -> Answer:
        """Answer one request (see the module docstring for what can come back).

        ``temperature`` / ``max_tokens`` are the caller's wishes; the TaskSpec caps both.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the request text must be a non-empty string")
        if not isinstance(principal, Principal):
            raise TypeError(f"principal must be a genai_rt.principal.Principal, "
                            f"got {type(principal).__name__}")
        turns = check_history(history)
        t0 = time.perf_counter()
        rec = _RecordBuilder(text, principal, self.model.model_id)
        timings: dict[str, float] = {}
        try:
            decision = await self.classify(text)
            rec.decision = decision
            framed = self.framer.frame(decision, principal, turns)
            timings["frame"] = time.perf_counter() - t0
            if framed.spec is None:
                assert framed.status is not None
                return self._finish(rec, Answer(Status(framed.status), framed.message,
                                                intent=decision.intent), timings, t0)
            spec = framed.spec
            rec.spec = spec
            schema = _caps(spec, temperature, max_tokens)
            return await self._answer(text, principal, spec, schema, rec, timings, t0)
        except asyncio.CancelledError:
            # The caller went away (client cancel, deadline, drain): the request still gets its
            # one record, with the attempts that finished; the engine request in flight was
            # aborted when its stream closed.
            # (_finish records and returns with no await in between: a cancel never follows it)
            if self.on_record is not None:
                timings["total"] = time.perf_counter() - t0
                self.on_record(rec.build_cancelled(timings))
            raise

    async def ask_many(self, requests: Sequence[tuple[str, Principal]]) -> list[Answer]:
        """Several requests at once: their model calls share the engine's batches."""
        return list(await asyncio.gather(*(self.ask(t, p) for t, p in requests)))

    async def _answer(self, text: str, principal: Principal, spec: TaskSpec,
                      caps: tuple[float, int], rec: _RecordBuilder, timings: dict[str, float],
                      t0: float) -> Answer:
        temperature, max_tokens = caps
        attempt = _Attempt(spec.grounding, self.config.retrieve_k, temperature, [], [])
        automaton = (automaton_for(tuple(sorted(spec.deny_terms)), tuple(spec.pii_patterns))
                     if spec.deny_terms or spec.pii_patterns else None)
        drafts: list[str] = []
        verdicts: list[Verdict] = []
        passages: list[Passage] = []
        for retry in range(self.config.max_retries + 1):
            t = time.perf_counter()
            filters = {"exclude_classifications": list(spec.excluded_classifications)}
            retrieval = await asyncio.to_thread(self.store.retrieve, text, principal, attempt.k,
                                                filters)
            passages = [p for p in relevant(retrieval.passages)
                        if automaton is None or not _quotes_only_blocked(p, automaton)]
            rec.retrieval = {"passages": [{"id": p.id, "document_id": p.document_id,
                                           "content_hash": p.content_hash, "score": p.score}
                                          for p in passages],
                             "report": dict(retrieval.report)}
            timings["ground"] = timings.get("ground", 0.0) + time.perf_counter() - t
            if not passages and spec.citations_required:
                answer = Answer(Status.REFUSED, "No document you may see covers this request.",
                                intent=spec.intent)
                return self._finish(rec, answer, timings, t0)
            t = time.perf_counter()
            raw, draft, attempt_rec = await self._generate(text, spec, attempt, passages,
                                                           automaton, max_tokens)
            timings["generate"] = timings.get("generate", 0.0) + time.perf_counter() - t
            t = time.perf_counter()
            ctx = GateContext(spec, passages, automaton)
            verdicts = run_gates(draft, ctx, self.gates) if draft is not None else [
                Verdict("format", False, (attempt_rec["error"],))]
            timings["validate"] = timings.get("validate", 0.0) + time.perf_counter() - t
            attempt_rec["verdicts"] = [v.as_record() for v in verdicts]
            rec.attempts.append(attempt_rec)
            drafts.append(raw)
            if all(v.passed for v in verdicts):
                assert draft is not None
                return self._passed(rec, spec, text, principal, draft, verdicts, retry,
                                    timings, t0, drafts)
            attempt = _tighten(attempt, draft, verdicts)
        reasons = [r for v in verdicts for r in v.reasons]
        review_id = self.review_queue.add("escalation", principal.tenant, principal.user,
                                          spec.intent, text, reasons, drafts)
        answer = Answer(Status.ESCALATED, "This request was sent to a person for review.",
                        verdicts=[v.as_record() for v in verdicts],
                        retries=self.config.max_retries, intent=spec.intent,
                        review_id=review_id)
        rec.escalated = True
        return self._finish(rec, answer, timings, t0)

    async def _generate(
        self, text: str, spec: TaskSpec, attempt: _Attempt, passages: list[Passage],
        automaton: ByteAutomaton | None, max_tokens: int,
    ) -> tuple[str, Draft | None, dict[str, Any]]:
        extractive = attempt.mode == "extractive"
        prefix = "".join(f"[{pid}] {q}\n" for pid, q in attempt.kept)
        if extractive:
            remaining = max(spec.max_sentences - len(attempt.kept), 1)
            banned = attempt.banned + [q for _, q in attempt.kept]
            if automaton is not None:  # a sentence holding a blocked term is never offered
                banned += [s for p in passages for s in split_sentences(p.text)
                           if automaton.contains_match(s)]
            grammar: dict[str, Any] = {"ebnf": extractive_ebnf(passages, remaining, banned)}
            instructions = ("Answer by quoting the one or two sentences of the sources that "
                            "answer the question, each as a line '[id] sentence'.")
        else:
            grammar = {"json_schema": citation_schema([p.id for p in passages],
                                                      spec.max_words * CHARS_PER_WORD)}
            instructions = ('Answer in JSON: {"answer": "...", "citations": ["<source id>"]}. '
                            "Use only the sources; cite the ids you used.")
        # Sources and instructions sit in the user turn, next to the question. NOTE: on
        # SmolLM2-135M this and sources-in-the-system-prompt scored alike on 12 labelled
        # questions (2 vs 3 right, extractive): the model, not the layout, limits accuracy.
        user = (f"Sources:\n{passages_block(passages)}\n\nQuestion: {text}\n{instructions}")
        messages = [{"role": "system", "content": spec.prompt}, *spec.history,
                    {"role": "user", "content": user}]
        prompt = self.model.render(messages) + prefix
        terms = tuple(sorted(set(spec.deny_terms) | {b for b in attempt.banned if not extractive}))
        output_filter = (self.model.deny_filter(terms, spec.pii_patterns)
                         if terms or spec.pii_patterns else None)
        params = SamplingParams(temperature=attempt.temperature, top_p=spec.top_p,
                                max_tokens=max_tokens, seed=0, grammar=grammar,
                                output_filter=output_filter)
        out = await self.model.complete(prompt, params)
        raw = prefix + out.text
        record = {"mode": attempt.mode, "grammar": grammar, "k": attempt.k,
                  "sampling": {"temperature": params.temperature, "top_p": params.top_p,
                               "max_tokens": params.max_tokens, "seed": params.seed},
                  "deny_terms": list(terms), "resumed_lines": len(attempt.kept),
                  "output": raw, "finish_reason": out.finish_reason,
                  "tokens_in": out.prompt_tokens, "tokens_out": out.output_tokens,
                  "error": out.error}
        if out.error:
            return raw, None, record
        draft = parse_extractive(raw) if extractive else parse_generative(raw)
        return raw, draft, record

    def _passed(self, rec: _RecordBuilder, spec: TaskSpec, text: str, principal: Principal,
                draft: Draft, verdicts: list[Verdict], retries: int, timings: dict[str, float],
                t0: float, drafts: list[str]) -> Answer:
        structured = {"answer": draft.answer, "citations": list(draft.citations),
                      "quotes": [{"source": s, "text": q} for s, q in draft.quotes]}
        answer = Answer(Status.PASSED, draft.answer, structured, list(draft.citations),
                        [v.as_record() for v in verdicts], retries, intent=spec.intent)
        if spec.risk_tier == "high":
            answer.status = Status.DRAFT_REQUIRES_SIGNOFF
            answer.review_id = self.review_queue.add(
                "signoff", principal.tenant, principal.user, spec.intent, text,
                [f"intent {spec.intent!r} is high-risk: a person signs off"], drafts)
        return self._finish(rec, answer, timings, t0)

    def _finish(self, rec: _RecordBuilder, answer: Answer, timings: dict[str, float],
                t0: float) -> Answer:
        timings["total"] = time.perf_counter() - t0
        answer.timings = dict(timings)
        if self.on_record is not None:
            answer.audit_id = self.on_record(rec.build(answer))
        return answer


def _caps(spec: TaskSpec, temperature: float | None, max_tokens: int | None) -> tuple[float, int]:
    for name, value in (("temperature", temperature), ("max_tokens", max_tokens)):
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    t = spec.temperature if temperature is None else min(float(temperature), spec.temperature)
    m = spec.max_tokens if max_tokens is None else max(1, min(int(max_tokens), spec.max_tokens))
    return t, m


def _quotes_only_blocked(p: Passage, automaton: ByteAutomaton) -> bool:
    """A passage all of whose sentences hold a blocked term cannot be quoted at all."""
    return all(automaton.contains_match(s) for s in split_sentences(p.text))


def _tighten(attempt: _Attempt, draft: Draft | None, verdicts: list[Verdict]) -> _Attempt:
    """Lower temperature, ban what failed, stricter mode, more passages; keep a passing prefix."""
    banned = list(attempt.banned)
    for v in verdicts:
        banned += [b for b in v.banned if b not in banned]
    kept: list[tuple[str, str]] = []
    local = all(v.passed or v.local for v in verdicts)
    if local and draft is not None and attempt.mode == "extractive":
        for pid, quote in draft.quotes:  # the lines before the first failing one
            if quote in banned:
                break
            kept.append((pid, quote))
    return _Attempt(
        mode="extractive",  # the stricter schema: nothing but verbatim source sentences
        k=attempt.k + 2,
        temperature=round(attempt.temperature * 0.5, 3) if attempt.temperature > 0.05 else 0.0,
        banned=banned, kept=kept,
    )


class _RecordBuilder:
    def __init__(self, text: str, principal: Principal, model_id: str) -> None:
        self.text = text
        self.principal = principal
        self.decision: IntentDecision | None = None
        self.model_id = model_id
        self.spec: TaskSpec | None = None
        self.retrieval: dict[str, Any] = {}
        self.attempts: list[dict[str, Any]] = []
        self.escalated = False

    def build(self, answer: Answer) -> PipelineRecord:
        return self._build(answer.status.value, answer.text, list(answer.citations),
                           answer.retries, answer.review_id, answer.timings)

    def build_cancelled(self, timings: dict[str, float]) -> PipelineRecord:
        return self._build(CANCELLED, "", [], max(len(self.attempts) - 1, 0), None, timings)

    def _build(self, status: str, output: str, citations: list[str], retries: int,
               review_id: int | None, timings: dict[str, float]) -> PipelineRecord:
        p = self.principal
        return PipelineRecord(
            request=self.text,
            principal={"tenant": p.tenant, "roles": sorted(p.roles), "user": p.user},
            status=status,
            task_spec=self.spec.as_record() if self.spec else None,
            intent_decision=dataclasses.asdict(self.decision) if self.decision else {},
            retrieval=self.retrieval, model_id=self.model_id, attempts=self.attempts,
            output=output, citations=citations, retries=retries,
            escalated=self.escalated, review_id=review_id, timings=dict(timings),
            tokens_in=sum(a["tokens_in"] for a in self.attempts),
            tokens_out=sum(a["tokens_out"] for a in self.attempts),
        )
