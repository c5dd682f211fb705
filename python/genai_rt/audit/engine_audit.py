"""Auditing the raw engine path: a record builder for engine requests and ``AuditedEngine``, a
small adapter the servers put around ``Engine.generate``.

``AuditedEngine.generate`` admits a request (audit-queue permit, budget reservation of its worst
case), streams the engine's outputs unchanged, and whatever way the request ends (finished,
aborted by the caller, cancelled, failed) appends exactly one record, settles the budget on the
actual tokens and updates the metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from genai_rt.audit.auditor import Admission, RequestAuditor
from genai_rt.audit.budgets import BudgetStore
from genai_rt.audit.log import AuditLog, PendingRecord
from genai_rt.audit.pricing import PriceTable
from genai_rt.audit.records import AuditRecord, hash_json, principal_dict, sha256_hex
from genai_rt.observability.tracing import span
from genai_rt.principal import Principal

# Files whose bytes make a checkpoint's weights hash (the tokenizer decides the token ids too).
WEIGHT_PATTERNS = ("*.safetensors", "*.gguf", "*.bin", "config.json", "tokenizer.json")
OUTPUT_SEPARATOR = "\x1e"


def weights_hash(path: str | Path) -> str:
    """SHA-256 over a checkpoint's weight, config and tokenizer files (name, size, bytes)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        {f for pattern in WEIGHT_PATTERNS for f in path.glob(pattern)})
    if not files:
        raise ValueError(f"no checkpoint files ({', '.join(WEIGHT_PATTERNS)}) under {path}")
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def grammar_fields(grammar: Any) -> dict[str, Any]:
    """The grammar's spec (replayable) and its hash; a compiled Grammar gives its kind/source."""
    if grammar is None:
        return {"spec": None, "hash": None}
    if isinstance(grammar, dict):
        spec = grammar
    else:
        spec = {str(getattr(grammar, "kind", "grammar")): getattr(grammar, "source", repr(grammar))}
    return {"spec": spec, "hash": hash_json(spec)}


def sampling_fields(params: Any) -> dict[str, Any]:
    """SamplingParams as JSON-able fields (grammar goes to the record's ``grammar``)."""
    fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    fields.pop("grammar", None)
    # A decode-time filter object (the pipeline's deny-list) is code, not data: the record keeps
    # the pipeline's own policy fields instead.
    fields.pop("output_filter", None)
    if fields.get("logit_bias"):
        fields["logit_bias"] = {str(k): v for k, v in fields["logit_bias"].items()}
    return fields


def engine_record(
    request_id: str, principal: Principal, prompt: Any, params: Any, model_id: str,
    model_weights_hash: str, output: Any = None, status: str = "ok", error: str | None = None,
    cost: float = 0.0, deterministic: bool = False,
) -> AuditRecord:
    """The audit record of one engine request (``output``: its last ``RequestOutput``, if any).

    ``prompt`` is what the caller passed (text, token ids or ``{"prompt_token_ids": …}``).
    """
    text = prompt if isinstance(prompt, str) else None
    if output is not None:
        token_ids = list(output.prompt_token_ids)
    elif isinstance(prompt, dict):
        token_ids = list(prompt.get("prompt_token_ids", []))
    else:
        token_ids = [] if isinstance(prompt, str) else [int(t) for t in prompt]
    sampling = sampling_fields(params)
    grammar = grammar_fields(params.grammar)
    record = AuditRecord(
        kind="engine", request_id=request_id, principal=principal_dict(principal),
        status=status, error=error or (output.error if output is not None else None),
        request_hash=hash_json({"prompt": text if text is not None else token_ids,
                                "sampling": sampling, "grammar": grammar["hash"]}),
        prompt={"text": text, "token_ids": token_ids},
        model={"id": model_id, "weights_hash": model_weights_hash},
        sampling=sampling, grammar=grammar, deterministic=deterministic, cost=cost,
    )
    if output is not None:
        completions = output.outputs
        record.output_hash = sha256_hex(OUTPUT_SEPARATOR.join(c.text for c in completions))
        record.output_token_ids = [list(c.token_ids) for c in completions]
        record.finish_reasons = [c.finish_reason for c in completions]
        record.tokens_in = output.metrics.num_prompt_tokens or len(token_ids)
        record.tokens_out = sum(len(c.token_ids) for c in completions)
        record.timings = engine_timings(output.metrics)
    return record


def engine_timings(m: Any) -> dict[str, float]:
    """queue (arrival -> first scheduled), ttft, decode (first token -> finish), total."""
    timings = {}
    if m.first_scheduled_time is not None:
        timings["queue"] = m.first_scheduled_time - m.arrival_time
    if m.first_token_time is not None:
        timings["ttft"] = m.first_token_time - m.arrival_time
        if m.finished_time is not None:
            timings["decode"] = m.finished_time - m.first_token_time
    if m.finished_time is not None:
        timings["total"] = m.finished_time - m.arrival_time
    return timings


class AuditedEngine:
    """``Engine.generate`` with admission control, one audit record per request, and metrics.

    Parameters
    ----------
    engine : genai_rt.Engine
    audit : AuditLog
    model_id, model_weights_hash : str
        What the records name as the model (``weights_hash(path)`` computes the hash once).
    budgets, prices : optional
        Both or neither: budgets reserve ``prices.worst_case`` at admission.
    metrics : genai_rt.observability.Metrics | None
        Also watches the engine's gauges (running, waiting, KV usage, prefix-cache hit rate).
    deterministic : bool
        Recorded for replay: whether the engine runs in deterministic mode.
    """

    def __init__(self, engine: Any, audit: AuditLog, model_id: str, model_weights_hash: str,
                 budgets: BudgetStore | None = None, prices: PriceTable | None = None,
                 metrics: Any = None, deterministic: bool = False) -> None:
        if prices is not None:
            prices.price(model_id)  # fail at start-up, not on the first request
        self.engine = engine
        self.audit = audit
        self.auditor = RequestAuditor(audit, metrics=metrics, budgets=budgets, prices=prices)
        self.model_id = model_id
        self.model_weights_hash = model_weights_hash
        self.budgets = budgets
        self.prices = prices
        self.metrics = metrics
        self.deterministic = deterministic
        self.last_record: PendingRecord | None = None
        if metrics is not None and hasattr(engine, "stats"):
            metrics.watch_engine(engine.stats)

    def _prompt_tokens(self, prompt: Any) -> int:
        if isinstance(prompt, dict):
            return len(prompt.get("prompt_token_ids", []))
        if isinstance(prompt, str):
            tokenizer = getattr(getattr(self.engine, "core", None), "tokenizer", None)
            return len(tokenizer.encode(prompt)) if tokenizer is not None else len(prompt)
        return len(prompt)

    async def generate(self, prompt: Any, params: Any, principal: Principal,
                       request_id: str | None = None) -> AsyncIterator[Any]:
        """Stream ``engine.generate``'s outputs; raises ``AuditQueueFull`` / ``BudgetExceeded``
        (refusals, nothing ran) or the engine's own errors (recorded as "failed")."""
        from genai_rt.sampling.params import SamplingParams

        params = params if params is not None else SamplingParams()
        if self.deterministic and params.temperature > 0 and params.seed is None:
            # An unseeded random request could never be replayed: give it a seed, which its
            # record keeps (``genai-rt audit replay``).
            params = dataclasses.replace(params, seed=secrets.randbits(63))
        request_id = request_id or f"req-{time.time_ns()}"
        # Budgets touch the database: off the event loop.
        admission = await asyncio.to_thread(
            self.auditor.admit, principal, self.model_id, self._prompt_tokens(prompt),
            params.max_tokens, params.n)
        last, status, error = None, "cancelled", None
        try:
            with span("engine.generate", request_id=request_id, tenant=principal.tenant):
                async for out in self.engine.generate(prompt, params, request_id=request_id):
                    last = out
                    yield out
            status = "failed" if last is not None and last.error else "ok"
            if last is not None and not last.error and any(
                    c.finish_reason == "abort" for c in last.outputs):
                status = "cancelled"
        except (GeneratorExit, asyncio.CancelledError):
            status = "cancelled"
            raise
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._finish(admission, request_id, principal, prompt, params, last, status, error)

    def _finish(self, admission: Admission, request_id: str, principal: Principal, prompt: Any,
                params: Any, last: Any, status: str, error: str | None) -> None:
        tokens_in = last.metrics.num_prompt_tokens if last is not None else 0
        tokens_out = sum(len(c.token_ids) for c in last.outputs) if last is not None else 0
        cost = (self.prices.cost(self.model_id, tokens_in, tokens_out)
                if self.prices is not None else 0.0)
        record = engine_record(request_id, principal, prompt, params, self.model_id,
                               self.model_weights_hash, last, status, error, cost,
                               self.deterministic)
        # NOTE: synchronous on purpose: this may run while the generator is finalized, where
        # awaiting is not allowed; the append only enqueues, the settle is one small transaction.
        self.last_record = self.auditor.record(admission, record)
        if self.metrics is not None and last is not None:
            self.metrics.observe_request(principal.tenant, last.metrics,
                                         [c.finish_reason for c in last.outputs], status, cost)
