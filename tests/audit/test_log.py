"""The audit log: appends, checkpoints, proofs, the bounded queue, feedback export."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog, AuditQueueFull
from genai_rt.audit.proofs import prove_consistency
from genai_rt.audit.verifier import verify_consistency, verify_proof_document
from genai_rt.audit.verify_log import verify_store
from genai_rt.cli import main

from tests.audit.helpers import make_record


def test_records_get_consecutive_leaves_and_signed_checkpoints(audit_log: AuditLog) -> None:
    pending = [audit_log.append(make_record(i)) for i in range(20)]
    assert [p.result(timeout=30) for p in pending] == list(range(20))
    assert len({p.record_id for p in pending}) == 20
    report = audit_log.verify()
    assert report.ok, report.format()
    assert report.records == 20 and report.checkpoints >= 1
    assert [cp.tree_size for cp in audit_log.store.checkpoints()] == [8, 16]


def test_inclusion_and_consistency_proofs_check_against_checkpoints(audit_log: AuditLog) -> None:
    pending = [audit_log.append(make_record(i)) for i in range(5)]
    first = audit_log.checkpoint()
    pending += [audit_log.append(make_record(i)) for i in range(5, 13)]
    second = audit_log.checkpoint()
    assert first is not None and second is not None
    for p in (pending[0], pending[4], pending[12]):
        doc = audit_log.prove(p.record_id)
        assert verify_proof_document(doc, audit_log.signer.public_key) == []
        assert json.loads(doc["record"])["record_id"] == p.record_id
    by_index = audit_log.prove("3")
    assert by_index["record_id"] == pending[3].record_id
    doc = prove_consistency(audit_log, first.tree_size, second.tree_size)
    assert verify_consistency(first.tree_size, second.tree_size, bytes.fromhex(first.root),
                              bytes.fromhex(second.root),
                              [bytes.fromhex(h) for h in doc["consistency_proof"]])
    with pytest.raises(KeyError, match="no audit record"):
        audit_log.prove("nope")


def test_full_queue_refuses_instead_of_losing_records(log_path: str) -> None:
    log = AuditLog(log_path, queue_size=4)
    blocker = sqlite3.connect(log_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer now waits on the database lock
    try:
        started = time.perf_counter()
        pending = [log.append(make_record(i)) for i in range(4)]
        assert time.perf_counter() - started < 1.0  # appends never wait for the disk
        with pytest.raises(AuditQueueFull, match="request refused"):
            log.append(make_record(99))
        with pytest.raises(AuditQueueFull):
            log.reserve()
        assert log.refused == 2
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert [p.result(timeout=30) for p in pending] == [0, 1, 2, 3]
    log.append(make_record(4)).result(timeout=30)  # room again once written
    log.close()


def test_a_refused_request_gives_its_slot_back(log_path: str) -> None:
    log = AuditLog(log_path, queue_size=1)
    slot = log.reserve()
    with pytest.raises(AuditQueueFull):
        log.reserve()
    slot.release()
    log.reserve().append(make_record(0)).result(timeout=30)
    log.close()


def test_bad_records_are_refused_with_the_field_named(audit_log: AuditLog) -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        audit_log.append({"kind": "engine", "request_id": "x", "principal": {"tenant": "t"},
                          "status": "great"})
    with pytest.raises(ValueError, match="principal must be a dict with a tenant"):
        audit_log.append({"kind": "engine", "request_id": "x", "principal": {}, "status": "ok"})
    with pytest.raises(TypeError, match="unexpected keyword"):
        audit_log.append({"kind": "engine", "request_id": "x", "principal": {"tenant": "t"},
                          "status": "ok", "colour": "red"})
    with pytest.raises(ValueError, match="AuditRecord.cost must be a finite number"):
        audit_log.append({"kind": "engine", "request_id": "x", "principal": {"tenant": "t"},
                          "status": "ok", "cost": float("nan")})
    odd = make_record(1)
    odd.task_spec = {"limits": {1, 2}}  # a set is not JSON
    with pytest.raises(ValueError, match="audit record 'r1' is not JSON-serializable"):
        audit_log.append(odd)
    audit_log.append(make_record(0)).result(timeout=30)  # the permits came back


def test_close_waits_for_requests_in_flight_and_signs_a_final_checkpoint(log_path: str) -> None:
    log = AuditLog(log_path, checkpoint_every=1000)
    for i in range(2):
        log.append(make_record(i))
    in_flight = log.reserve()
    threading.Timer(0.2, lambda: in_flight.append(make_record(2))).start()
    log.close()  # waits for the request in flight to record
    late = AuditLog(log_path).reserve()
    late._log.close(drain_timeout=0)
    with pytest.raises(RuntimeError, match="the audit log is closed"):
        late.append(make_record(3))
    again = AuditLog(log_path)
    assert [cp.tree_size for cp in again.store.checkpoints()] == [3]
    again.close()


def test_feedback_round_trips_to_export(log_path: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(log_path)
    first = log.append(make_record(1))
    second = log.append(make_record(2))
    log.add_feedback(first.record_id, 1, "right answer")
    with pytest.raises(KeyError, match="no audit record"):
        log.add_feedback("missing", 1)
    with pytest.raises(ValueError, match="rating must be"):
        log.add_feedback(first.record_id, 9)
    log.close()
    assert main(["feedback", "add", second.record_id, "-1", "wrong policy cited",
                 "--audit-url", log_path]) == 0
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--out", str(out), "--audit-url", log_path]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["record_id"], x["rating"], x["comment"]) for x in lines] == [
        (first.record_id, 1, "right answer"), (second.record_id, -1, "wrong policy cited")]
    assert lines[0]["record"]["request_id"] == "r1" and lines[0]["index"] == 0
    assert lines[1]["record"]["principal"] == {"tenant": "acme"}


def test_cli_prove_writes_a_proof_the_verifier_accepts(log_path: str, tmp_path: Path) -> None:
    log = AuditLog(log_path)
    pending = [log.append(make_record(i)) for i in range(6)]
    public = log.signer.public_key
    log.close()
    out = tmp_path / "proof.json"
    assert main(["audit", "prove", pending[2].record_id, "--out", str(out),
                 "--audit-url", log_path]) == 0
    assert verify_proof_document(json.loads(out.read_text()), public) == []


def test_verify_while_appending_sees_a_consistent_snapshot(audit_log: AuditLog) -> None:
    stop, started = threading.Event(), threading.Event()

    def keep_appending() -> None:
        i = 0
        while not stop.is_set():
            audit_log.append(make_record(i)).result(timeout=30)
            i += 1
            if i == 20:
                started.set()

    writer = threading.Thread(target=keep_appending)
    writer.start()
    assert started.wait(timeout=60)
    try:
        reports = [verify_store(audit_log.store, audit_log.signer.public_key)
                   for _ in range(5)]
    finally:
        stop.set()
        writer.join()
    assert all(r.ok for r in reports), [r.format() for r in reports if not r.ok]
    assert reports[-1].records > 0


def test_cli_consistency_proof_between_checkpoints(log_path: str, tmp_path: Path) -> None:
    from genai_rt.audit.verifier import verify_consistency_document

    log = AuditLog(log_path, checkpoint_every=8)
    for i in range(20):
        log.append(make_record(i))
    public = log.signer.public_key
    log.close()
    out = tmp_path / "consistency.json"
    assert main(["audit", "consistency", "8", "20", "--out", str(out),
                 "--audit-url", log_path]) == 0
    doc = json.loads(out.read_text())
    assert verify_consistency_document(doc, public) == []
    doc["second"]["root"] = doc["first"]["root"]  # a rewritten log
    assert any("signed" in f for f in verify_consistency_document(doc, public))
