"""The audit log on PostgreSQL: replicas appending at once still build one verifiable tree."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog
from genai_rt.audit.verifier import verify_proof_document
from genai_rt.cli import main

from tests.audit.helpers import make_record

PER_REPLICA = 300


def test_two_replicas_share_one_tree(postgres_url: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    key = str(tmp_path / "shared.key")
    replicas = [AuditLog(postgres_url, key_path=key, checkpoint_every=64) for _ in range(2)]
    pending: list[list[str]] = [[], []]

    def write(r: int) -> None:
        for i in range(PER_REPLICA):
            pending[r].append(replicas[r].append(make_record(r * PER_REPLICA + i)).record_id)

    threads = [threading.Thread(target=write, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in replicas:
        log.flush(timeout=60)
    report = replicas[0].verify()
    assert report.ok, report.format()
    assert report.records == report.tree_size == 2 * PER_REPLICA
    doc = replicas[1].prove(pending[0][17])
    assert verify_proof_document(doc, replicas[0].signer.public_key) == []
    for log in replicas:
        log.close()
    assert main(["audit", "verify", "--audit-url", postgres_url, "--audit-key", key]) == 0
    assert f"OK: {2 * PER_REPLICA} records" in capsys.readouterr().out


def test_postgres_tampering_is_named(postgres_url: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    key = str(tmp_path / "k.key")
    with AuditLog(postgres_url, key_path=key, checkpoint_every=4) as log:
        for i in range(10):
            log.append(make_record(i))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_records WHERE idx = 6")
    assert main(["audit", "verify", "--audit-url", postgres_url, "--audit-key", key]) == 1
    assert "REMOVED: record 6:" in capsys.readouterr().out


def test_postgres_log_needs_a_shared_key(postgres_url: str) -> None:
    with pytest.raises(ValueError, match="needs key_path"):
        AuditLog(postgres_url)
