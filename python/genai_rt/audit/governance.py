"""Everything governance needs for one serving process, opened from one ``AuditConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genai_rt.audit.auditor import RequestAuditor
from genai_rt.audit.budgets import BudgetStore
from genai_rt.audit.log import AuditLog
from genai_rt.audit.pricing import PriceTable
from genai_rt.config import AuditConfig
from genai_rt.observability.metrics import Metrics
from genai_rt.observability.tracing import configure_tracing


@dataclass
class Governance:
    """The audit log, budgets, prices, metrics and the auditor that ties them together."""

    config: AuditConfig
    log: AuditLog
    metrics: Metrics
    auditor: RequestAuditor
    prices: PriceTable | None = None
    budgets: BudgetStore | None = None
    metrics_server: Any = None

    def close(self) -> None:
        """Drain and checkpoint the log, close the budgets, stop serving metrics and spans."""
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        self.log.close()
        if self.budgets is not None:
            self.budgets.close()
        if self.config.trace_exporter != "none":
            configure_tracing(None)


def open_governance(config: AuditConfig) -> Governance:
    """Open the log (and budgets in the same database), start metrics and spans as configured."""
    log = AuditLog(config.audit_url, key_path=config.audit_key,
                   checkpoint_every=config.checkpoint_every,
                   queue_size=config.audit_queue_size, synchronous=config.audit_sync)
    prices = PriceTable.from_yaml(config.price_table) if config.price_table else None
    budgets = BudgetStore(config.audit_url) if config.enforce_budgets else None
    metrics = Metrics()
    auditor = RequestAuditor(log, metrics=metrics, budgets=budgets, prices=prices)
    server = metrics.serve(config.metrics_port) if config.metrics_port is not None else None
    if config.trace_exporter != "none":
        configure_tracing(config.trace_exporter)
    return Governance(config, log, metrics, auditor, prices, budgets, server)
