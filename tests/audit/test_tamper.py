"""Tampering with the database, each case named by ``genai-rt audit verify``."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog
from genai_rt.audit.merkle import Frontier, leaf_hash
from genai_rt.cli import main

from tests.audit.helpers import make_record

RECORDS = 24


@pytest.fixture
def closed_log(log_path: str) -> str:
    log = AuditLog(log_path, checkpoint_every=8)
    for i in range(RECORDS):
        log.append(make_record(i))
    log.close()  # signs the final checkpoint, folds the WAL into the file
    return log_path


def _edit(path: str, fn: Callable[[sqlite3.Connection], None]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    fn(conn)
    conn.execute("COMMIT")
    conn.close()


def _verify(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--audit-url", path])
    return code, capsys.readouterr().out


def _body(conn: sqlite3.Connection, idx: int) -> bytes:
    return bytes(conn.execute("SELECT body FROM audit_records WHERE idx = ?", (idx,)).fetchone()[0])


def test_untouched_log_verifies(closed_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(closed_log, capsys)
    assert code == 0 and out.startswith(f"OK: {RECORDS} records"), out


def test_a_changed_byte_names_the_record(closed_log: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    def flip(conn: sqlite3.Connection) -> None:
        body = bytearray(_body(conn, 5))
        at = body.index(b'"output_hash":"') + 20
        body[at] = ord("f") if body[at] != ord("f") else ord("e")
        conn.execute("UPDATE audit_records SET body = ? WHERE idx = 5", (bytes(body),))

    _edit(closed_log, flip)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "ALTERED: record 5:" in out, out


def test_a_byte_change_that_also_rewrites_the_stored_hash_breaks_the_signed_root(
        closed_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    def forge(conn: sqlite3.Connection) -> None:
        body = _body(conn, 5).replace(b'"tokens_out":10', b'"tokens_out":11')
        conn.execute("UPDATE audit_records SET body = ?, leaf_hash = ? WHERE idx = 5",
                     (body, leaf_hash(body)))

    _edit(closed_log, forge)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "do not hash to the signed root" in out, out


def test_a_deleted_record_is_named(closed_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(closed_log, lambda c: c.execute("DELETE FROM audit_records WHERE idx = 9"))
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "REMOVED: record 9:" in out, out


def test_two_swapped_records_are_named(closed_log: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    def swap(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE audit_records SET idx = -1 WHERE idx = 3")
        conn.execute("UPDATE audit_records SET idx = 3 WHERE idx = 4")
        conn.execute("UPDATE audit_records SET idx = 4 WHERE idx = -1")

    _edit(closed_log, swap)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "REORDERED: record 4:" in out and "REORDERED: record 3:" in out, out


def test_an_inserted_record_is_named(closed_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    def insert(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE audit_records SET idx = -(idx + 1) WHERE idx >= 7")
        conn.execute("UPDATE audit_records SET idx = -idx WHERE idx < 0")
        forged = json.loads(_body(conn, 8))
        forged["record_id"] = "f" * 32
        forged["record"].update(request_id="forged", output_hash="0" * 64)
        body = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
        conn.execute("INSERT INTO audit_records VALUES (7, ?, ?, ?)",
                     ("f" * 32, body, leaf_hash(body)))

    _edit(closed_log, insert)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "INSERTED: record 7: the row at position 7" in out, out
    assert "REMOVED" not in out and "REORDERED" not in out


def test_a_truncated_database_file_is_named(closed_log: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    size = os.path.getsize(closed_log)
    os.truncate(closed_log, size // 2)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and "TRUNCATED: log: database file is" in out, out


def test_a_record_appended_behind_the_writers_back_is_named(
        closed_log: str, capsys: pytest.CaptureFixture[str]) -> None:
    def append(conn: sqlite3.Connection) -> None:
        body = b'{"index":%d,"record":{"kind":"engine"},"record_id":"%s"}' % (RECORDS, b"e" * 32)
        conn.execute("INSERT INTO audit_records VALUES (?, ?, ?, ?)",
                     (RECORDS, "e" * 32, body, leaf_hash(body)))

    _edit(closed_log, append)
    code, out = _verify(closed_log, capsys)
    assert code == 1 and f"INSERTED: record {RECORDS}: the row at position {RECORDS} is beyond" \
        in out, out


def test_a_log_cut_back_with_its_checkpoints_rewritten_fails_an_outside_checkpoint(
        closed_log: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "checkpoint.json"
    assert main(["audit", "checkpoint", "--out", str(saved), "--audit-url", closed_log]) == 0
    capsys.readouterr()

    def cut_back(conn: sqlite3.Connection) -> None:  # drop the tail and cover the tracks
        conn.execute("DELETE FROM audit_records WHERE idx >= 16")
        conn.execute("DELETE FROM audit_checkpoints WHERE tree_size > 16")
        leaves = [bytes(r[0]) for r in conn.execute(
            "SELECT leaf_hash FROM audit_records ORDER BY idx")]
        frontier = Frontier()
        for leaf in leaves:
            frontier.append(leaf)
        conn.execute("UPDATE audit_head SET size = ?, frontier = ?, root = ?",
                     (frontier.size, frontier.to_bytes(), frontier.root()))

    _edit(closed_log, cut_back)
    code, out = _verify(closed_log, capsys)
    assert code == 0, out  # the log alone looks like a shorter, valid log
    assert main(["audit", "verify", "--audit-url", closed_log, "--checkpoint", str(saved)]) == 1
    out = capsys.readouterr().out
    assert f"TRUNCATED: log: a signed checkpoint covers {RECORDS} records but the log holds " \
        "only 16" in out, out
