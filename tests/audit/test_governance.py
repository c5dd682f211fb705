"""One AuditConfig opens the log, budgets, prices, metrics endpoint and spans; the budget CLI."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from genai_rt.audit.budgets import BudgetExceeded
from genai_rt.audit.governance import open_governance
from genai_rt.cli import main
from genai_rt.config import AuditConfig
from genai_rt.observability.tracing import tracing_enabled
from genai_rt.principal import Principal


def test_config_opens_everything_and_close_undoes_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "gov.db")
    prices = tmp_path / "prices.yaml"
    prices.write_text("tiny:\n  input_per_1k: 1.0\n  output_per_1k: 1.0\n")
    with pytest.raises(ValueError, match="enforce_budgets needs price_table"):
        AuditConfig(audit_url=url, enforce_budgets=True)
    assert main(["budget", "set", "acme", "0.5", "--audit-url", url]) == 0
    assert "acme: limit $0.500000, spent $0.000000" in capsys.readouterr().out
    gov = open_governance(AuditConfig(audit_url=url, price_table=str(prices),
                                      enforce_budgets=True, metrics_port=None,
                                      trace_exporter="console"))
    try:
        assert tracing_enabled()
        acme = Principal("acme")
        admitted = gov.auditor.admit(acme, "tiny", prompt_tokens=200, max_tokens=200)
        with pytest.raises(BudgetExceeded):
            admitted = gov.auditor.admit(acme, "tiny", prompt_tokens=200, max_tokens=200)
        server = gov.metrics.serve(0, addr="127.0.0.1")
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics",
                                    timeout=10) as response:
            assert b'genai_rt:budget_refusals_total{tenant="acme"} 1.0' in response.read()
        server.shutdown()
        admitted.slot.release()  # its replica "dies": the audit slot goes, the money stays
    finally:
        gov.close()
    assert not tracing_enabled()
    assert main(["budget", "show", "acme", "--audit-url", url]) == 0
    assert "reserved $0.400000" in capsys.readouterr().out  # until release_stale
