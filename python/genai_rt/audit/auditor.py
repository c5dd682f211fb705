"""``RequestAuditor``: the two calls every request makes, whatever layer serves it.

``admit`` at the start (an audit-queue permit, then the budget's worst-case reservation; either
refusal raises before any work is done) and ``record`` at the end (append the one record, settle
the budget on the record's cost, update metrics and drift). The pipeline's per-request hook and
the servers call these; ``AuditedEngine`` does for the raw engine path.

    auditor = RequestAuditor(log, metrics=m, budgets=b, prices=p)
    admission = auditor.admit(principal, "model-id", prompt_tokens=812, max_tokens=256)
    ...                                             # run the request
    auditor.record(admission, AuditRecord(kind="pipeline", ...))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genai_rt.audit.budgets import BudgetExceeded, BudgetStore, Reservation
from genai_rt.audit.log import AuditLog, AuditSlot, PendingRecord
from genai_rt.audit.pricing import PriceTable
from genai_rt.audit.records import AuditRecord
from genai_rt.principal import Principal


@dataclass
class Admission:
    """A request let in: its audit slot and (with budgets) its reservation."""

    principal: Principal
    slot: AuditSlot
    reservation: Reservation | None
    closed: bool = False

    @property
    def record_id(self) -> str:
        """The id its record will have (known at admission, e.g. for ``Answer.audit_id``)."""
        return self.slot.record_id


class RequestAuditor:
    """Admission and recording for one serving process (see the module docstring).

    Parameters
    ----------
    log : AuditLog
    metrics : genai_rt.observability.Metrics | None
    budgets, prices : both or neither
    drift : genai_rt.observability.DriftMonitor | None
        Fed by ``record(..., embedding=…, intent=…)`` when given.
    """

    def __init__(self, log: AuditLog, metrics: Any = None, budgets: BudgetStore | None = None,
                 prices: PriceTable | None = None, drift: Any = None) -> None:
        if budgets is not None and prices is None:
            raise ValueError("budgets need a price table to know what a request may cost")
        self.log = log
        self.metrics = metrics
        self.budgets = budgets
        self.prices = prices
        self.drift = drift
        if metrics is not None:
            metrics.watch_audit(lambda: log.pending)

    def admit(self, principal: Principal, model_id: str, prompt_tokens: int, max_tokens: int,
              n: int = 1, retrievals: int = 0) -> Admission:
        """Let a request in or raise ``AuditQueueFull`` / ``BudgetExceeded`` (nothing held)."""
        slot = self.log.reserve()
        if self.budgets is None or self.prices is None:
            return Admission(principal, slot, None)
        try:
            worst = self.prices.worst_case(model_id, prompt_tokens, max_tokens, n, retrievals)
            reservation = self.budgets.reserve(principal.tenant, worst)
        except BudgetExceeded:
            slot.release()
            if self.metrics is not None:
                self.metrics.budget_refusals.labels(principal.tenant).inc()
            raise
        except BaseException:
            slot.release()
            raise
        return Admission(principal, slot, reservation)

    def record(self, admission: Admission, record: AuditRecord,
               embedding: Any = None, intent: str | None = None) -> PendingRecord:
        """Append the request's record, settle its budget on ``record.cost``, update metrics."""
        if admission.closed:
            raise RuntimeError(f"request {record.request_id!r} was recorded already")
        admission.closed = True
        try:
            pending = admission.slot.append(record)
        finally:
            if admission.reservation is not None and self.budgets is not None:
                cost = record.cost if math.isfinite(record.cost) else admission.reservation.amount
                # Never spend past the reservation: that is what keeps budgets unbreakable.
                self.budgets.settle(admission.reservation, min(max(cost, 0.0),
                                                               admission.reservation.amount))
        if self.metrics is not None and record.kind == "pipeline":
            # (engine records are observed from the engine's own RequestMetrics instead)
            self.metrics.observe_steps(record.timings)
            self.metrics.observe_gates(record.gates, record.retries, record.escalated)
            report = (record.retrieval or {}).get("report")
            if isinstance(report, dict):
                self.metrics.observe_retrieval(int(report.get("k_returned", 0)),
                                               int(report.get("k_asked", 0)))
            tenant = admission.principal.tenant
            self.metrics.prompt_tokens.labels(tenant).inc(record.tokens_in)
            self.metrics.generation_tokens.labels(tenant).inc(record.tokens_out)
            self.metrics.cost.labels(tenant).inc(record.cost)
            self.metrics.requests.labels(tenant, record.status).inc()
        if self.drift is not None and (embedding is not None or intent is not None):
            self.drift.observe(embedding, intent)
        return pending

    def abandon(self, admission: Admission) -> None:
        """Give back an admission that never ran (refused further along); no record."""
        if admission.closed:
            return
        admission.closed = True
        admission.slot.release()
        if admission.reservation is not None and self.budgets is not None:
            self.budgets.release(admission.reservation)
