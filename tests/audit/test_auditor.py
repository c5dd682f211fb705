"""RequestAuditor: the pipeline/server hook (admit -> record) with budgets, metrics, drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog, AuditRecord
from genai_rt.audit.auditor import RequestAuditor
from genai_rt.audit.budgets import BudgetExceeded, BudgetStore
from genai_rt.audit.pricing import PriceTable
from genai_rt.audit.records import principal_dict
from genai_rt.observability import DriftMonitor, Metrics
from genai_rt.principal import Principal

BOB = Principal("acme", frozenset({"finance"}), "bob")
PRICES = PriceTable({"m": {"input_per_1k": 1.0, "output_per_1k": 2.0, "per_retrieval": 0.01}})


def test_pipeline_request_is_admitted_recorded_settled_and_observed(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.db"))
    budgets = BudgetStore(str(tmp_path / "budgets.db"))
    budgets.set_budget("acme", 3.0)
    metrics = Metrics()
    drift = DriftMonitor(window=2, metrics=metrics)
    auditor = RequestAuditor(log, metrics=metrics, budgets=budgets, prices=PRICES, drift=drift)
    admission = auditor.admit(BOB, "m", prompt_tokens=1000, max_tokens=500, retrievals=1)
    assert budgets.usage("acme").reserved == pytest.approx(1.0 + 1.0 + 0.01)
    with pytest.raises(BudgetExceeded):  # the first one's worst case holds the budget
        auditor.admit(BOB, "m", prompt_tokens=1000, max_tokens=500)
    record = AuditRecord(
        kind="pipeline", request_id="ask-1", principal=principal_dict(BOB), status="passed",
        task_spec={"intent": "expense_policy", "max_words": 120},
        retrieval={"chunks": [{"id": "doc1#0", "content_hash": "ab" * 32}],
                   "report": {"k_asked": 4, "k_returned": 3}},
        gates=[{"gate": "grounding", "passed": False, "detail": "uncited claim"},
               {"gate": "grounding", "passed": True, "detail": ""}],
        retries=1, timings={"frame": 0.002, "ground": 0.01, "generate": 0.4},
        tokens_in=900, tokens_out=100, cost=PRICES.cost("m", 900, 100, retrievals=1))
    index = auditor.record(admission, record, embedding=[1.0, 0.0], intent="expense_policy")
    assert index.result(timeout=30) == 0
    with pytest.raises(RuntimeError, match="recorded already"):
        auditor.record(admission, record)
    usage = budgets.usage("acme")
    assert usage.reserved == 0 and usage.spent == pytest.approx(record.cost)
    r = metrics.registry.get_sample_value
    assert r("genai_rt:gate_failures_total", {"gate": "grounding"}) == 1
    assert r("genai_rt:retries_total") == 1
    assert r("genai_rt:retrieval_hits_total") == 3
    assert r("genai_rt:pipeline_step_latency_seconds_count", {"step": "generate"}) == 1
    assert r("genai_rt:requests_total", {"tenant": "acme", "status": "passed"}) == 1
    assert r("genai_rt:prompt_tokens_total", {"tenant": "acme"}) == 900
    stored = log.store.body_at(0)
    assert stored is not None and stored[0] == admission.record_id
    assert json.loads(stored[1])["record"]["task_spec"]["intent"] == "expense_policy"
    refused = auditor.admit(BOB, "m", prompt_tokens=10, max_tokens=10)
    auditor.abandon(refused)
    assert budgets.usage("acme").reserved == 0
    log.close()
    budgets.close()
