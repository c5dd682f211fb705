"""The Assistant service: ``Ask`` runs the pipeline for the API key's principal.

Streaming where the gates allow: a PASSED extractive answer is a list of verbatim source
sentences that have all passed the gates, so it goes out line by line before the final message;
a generative answer is checked as a whole (numbers, citations) and a draft or an escalation is
never an answer, so those come as the final message alone.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from genai_rt.audit.records import AuditRecord
from genai_rt.principal import Principal
from genai_rt.proto.v1 import assistant_pb2 as pb
from genai_rt.server.errors import ServiceError, invalid

MAX_HISTORY = 64

# The admission (audit slot + budget reservation) of the ask this task is running. The pipeline
# calls the audit hook from inside ``Pipeline.ask``, so the hook finds it here.
_ASK_ADMISSION: contextvars.ContextVar[Any] = contextvars.ContextVar("ask_admission",
                                                                    default=None)


def pipeline_audit_record(rec: Any, request_id: str) -> dict[str, Any]:
    """A ``PipelineRecord`` as an audit record (kind "pipeline")."""
    last = rec.attempts[-1] if rec.attempts else {}
    return {
        "kind": "pipeline", "request_id": request_id, "principal": rec.principal,
        "status": rec.status.lower(),
        "request_hash": hashlib.sha256(rec.request.encode()).hexdigest(),
        "prompt": {"text": rec.request, "intent_decision": rec.intent_decision},
        "task_spec": rec.task_spec, "retrieval": rec.retrieval,
        "model": {"id": rec.model_id}, "sampling": last.get("sampling"),
        "grammar": {"spec": last["grammar"]} if last.get("grammar") else None,
        "output_hash": hashlib.sha256(rec.output.encode()).hexdigest(),
        "gates": list(last.get("verdicts", [])), "retries": rec.retries,
        "escalated": rec.escalated, "timings": rec.timings,
        "tokens_in": rec.tokens_in, "tokens_out": rec.tokens_out,
    }


def answer_message(answer: Any) -> pb.AskAnswer:
    reasons = [r for v in answer.verdicts if not v.get("passed") for r in v.get("reasons", [])]
    msg = pb.AskAnswer(
        status=answer.status.value, text=answer.text,
        answer_json=json.dumps(answer.json, sort_keys=True) if answer.json is not None else "",
        citations=list(answer.citations), reasons=reasons,
        verdicts=[pb.GateVerdict(gate=v["gate"], passed=bool(v["passed"]),
                                 reasons=list(v.get("reasons", []))) for v in answer.verdicts],
        timings={k: float(v) for k, v in answer.timings.items()}, intent=answer.intent,
        retries=answer.retries, audit_id=str(answer.audit_id or ""))
    if answer.review_id is not None:
        msg.review_id = answer.review_id
    return msg


def history_of(request: pb.AskRequest) -> list[dict[str, str]]:
    if len(request.history) > MAX_HISTORY:
        raise invalid(f"history: at most {MAX_HISTORY} turns, got {len(request.history)}")
    return [{"role": t.role, "content": t.content} for t in request.history]


def streamable_lines(answer: Any) -> list[str]:
    """The lines of a PASSED extractive answer (its quotes), else none."""
    if answer.status.value != "PASSED" or not isinstance(answer.json, dict):
        return []
    quotes = answer.json.get("quotes")
    if not isinstance(quotes, list):
        return []
    return [f"{q['text']} [{q['source']}]" for q in quotes
            if isinstance(q, dict) and "text" in q and "source" in q]


class AssistantServicer:
    def __init__(self, server: Any) -> None:
        self.server = server  # GrpcServer; its pipeline exists once loaded with a config

    @property
    def pipeline(self) -> Any:
        if self.server.pipeline is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               "this server runs without an assistant pipeline "
                               "(start it with --pipeline-config)")
        return self.server.pipeline

    async def ask(self, text: str, history: list[dict[str, str]], principal: Principal,
                  temperature: float | None = None, max_tokens: int | None = None) -> Any:
        """Run the pipeline inside admission control (shared with HTTP).

        With an audit log the ask is admitted like an engine request: an audit slot and the
        tenant's budget reservation of its worst case are taken first (RESOURCE_EXHAUSTED when
        either is full); the pipeline's one record, ``cancelled`` if the caller goes away,
        settles the reservation on what was used.
        """
        pipeline = self.pipeline
        if not text.strip():
            raise invalid("text must be a non-empty string")
        governance = self.server.governance
        async with self.server.admission.slot():
            admission = None
            if governance is not None:
                caps = [i.limits.max_tokens for i in pipeline.config.intents.values()]
                cap = max(caps, default=1)
                if max_tokens is not None:
                    cap = max(1, min(cap, max_tokens))
                admission = governance.admit_ask(
                    principal, pipeline.config.max_retries + 1,
                    self.server.engine.core.max_model_len, cap)
            token = _ASK_ADMISSION.set(admission)
            try:
                return await pipeline.ask(text, principal, history=history or None,
                                          temperature=temperature, max_tokens=max_tokens)
            finally:
                _ASK_ADMISSION.reset(token)
                if admission is not None:
                    governance.abandon_ask(admission)  # a no-op once the record was written

    async def Ask(self, request: pb.AskRequest, context: grpc.aio.ServicerContext,
                  principal: Principal) -> AsyncIterator[pb.AskEvent]:
        answer = await self.ask(
            request.text, history_of(request), principal,
            request.temperature if request.HasField("temperature") else None,
            request.max_tokens if request.HasField("max_tokens") else None)
        for line in streamable_lines(answer):
            yield pb.AskEvent(delta_text=line + "\n")
        yield pb.AskEvent(answer=answer_message(answer))


def audit_hook(governance: Any) -> Any:
    """``Pipeline(on_record=...)``: one audit record per ask; returns its id."""
    def record(rec: Any) -> str:
        request_id = f"ask-{uuid.uuid4().hex}"
        audit_record = AuditRecord(**pipeline_audit_record(rec, request_id))
        return str(governance.record_ask(audit_record, len(rec.attempts),
                                         _ASK_ADMISSION.get()))

    return record
