"""What the served engine path adds for governance (issue 12's pieces, wired in here): one audit
record per request (cancelled ones too), per-tenant budgets reserved at admission and settled
on use, and Prometheus metrics; refusals map to RESOURCE_EXHAUSTED / HTTP 429."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from genai_rt.audit.auditor import Admission
from genai_rt.audit.budgets import BudgetExceeded, BudgetStore
from genai_rt.audit.engine_audit import AuditedEngine, engine_record, weights_hash
from genai_rt.audit.log import AuditLog, AuditQueueFull
from genai_rt.audit.pricing import PriceTable
from genai_rt.audit.records import AuditRecord
from genai_rt.config import AuditConfig
from genai_rt.observability.metrics import Metrics
from genai_rt.principal import Principal
from genai_rt.server.errors import exhausted

# How long a client should wait before retrying after a full audit queue (it drains at
# >= 5,000 records/s, issue 12's target, so one second is ample).
AUDIT_QUEUE_RETRY_S = 1.0


@dataclass
class Receipt:
    """Filled in while a request is served: its audit record id, or why it has none."""

    audit_id: str = ""
    refused: bool = False


class _ServedAuditedEngine(AuditedEngine):
    """``AuditedEngine`` that remembers each request's record id until the server reads it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_ids: dict[str, str] = {}

    def _finish(self, admission: Any, request_id: str, *rest: Any) -> None:
        super()._finish(admission, request_id, *rest)
        if self.last_record is not None:
            self.record_ids[request_id] = self.last_record.record_id


class Governance:
    """Audit log (+ budgets and prices when a price table is given) and metrics of a server."""

    def __init__(self, config: AuditConfig, engine: Any, model_id: str,
                 prices_file: str | None = None) -> None:
        self.config = config
        self.audit = AuditLog.open(config.audit_url, key_path=config.audit_key,
                                   checkpoint_every=config.checkpoint_every,
                                   queue_size=config.audit_queue_size,
                                   synchronous=config.audit_sync)
        self.prices = PriceTable.from_yaml(prices_file) if prices_file else None
        self.budgets = BudgetStore(config.audit_url) if self.prices is not None else None
        self.metrics = Metrics()
        self.metrics.watch_engine(engine.stats)
        self.metrics.watch_audit(lambda: self.audit.pending)
        self.audited = _ServedAuditedEngine(
            engine, self.audit, model_id, weights_hash(engine.core.config.model.path),
            budgets=self.budgets, prices=self.prices, metrics=self.metrics)
        self._metrics_server: Any = None
        if config.metrics_port is not None:
            self._metrics_server = self.metrics.serve(config.metrics_port)

    async def generate(self, prompt: Any, params: Any, principal: Principal,
                       request_id: str, receipt: Receipt) -> AsyncIterator[Any]:
        """The audited engine stream; ``receipt.audit_id`` is set once the stream ends."""
        gen = self.audited.generate(prompt, params, principal, request_id=request_id)
        try:
            async with contextlib.aclosing(gen):  # type: ignore[type-var]
                async for out in gen:
                    yield out
        except AuditQueueFull as err:
            receipt.refused = True
            raise exhausted(str(err), retry_after_s=AUDIT_QUEUE_RETRY_S) from None
        except BudgetExceeded as err:
            receipt.refused = True
            raise exhausted(str(err)) from None
        finally:
            receipt.audit_id = self.audited.record_ids.pop(request_id, "")

    def record_unstarted(self, principal: Principal, request_id: str, prompt: Any,
                         params: Any, status: str) -> str:
        """The record of a request that ended before the engine saw it (e.g. its deadline
        passed while it waited for admission): every admitted call gets exactly one record."""
        record = engine_record(request_id, principal, prompt, params, self.audited.model_id,
                               self.audited.model_weights_hash, None, status)
        return self.audit.append(record).record_id

    def admit_ask(self, principal: Principal, attempts: int, context_tokens: int,
                  max_tokens: int) -> Admission:
        """An assistant ask's audit slot and budget reservation, before any work is done.

        Its worst case is every attempt (first try + retries) reading a full context and
        writing ``max_tokens``, and retrieving once; ``record_ask`` settles on what it used.
        """
        try:
            return self.audited.auditor.admit(principal, self.audited.model_id,
                                              prompt_tokens=attempts * context_tokens,
                                              max_tokens=attempts * max_tokens,
                                              retrievals=attempts)
        except AuditQueueFull as err:
            raise exhausted(str(err), retry_after_s=AUDIT_QUEUE_RETRY_S) from None
        except BudgetExceeded as err:
            raise exhausted(str(err)) from None

    def record_ask(self, record: AuditRecord, retrievals: int,
                   admission: Admission | None) -> str:
        """Append an ask's one record, priced; with an admission its reservation is settled."""
        if self.prices is not None:
            record.cost = self.prices.cost(self.audited.model_id, record.tokens_in,
                                           record.tokens_out, retrievals)
        if admission is None:
            return str(self.audit.append(record).record_id)
        return str(self.audited.auditor.record(admission, record).record_id)

    def abandon_ask(self, admission: Admission) -> None:
        """Give back an ask's slot and reservation if it ended without a record (refused)."""
        self.audited.auditor.abandon(admission)

    def close(self) -> None:
        """Flush pending records and sign a final checkpoint (AuditLog.close does both)."""
        self.audit.close()
        if self.budgets is not None:
            self.budgets.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
