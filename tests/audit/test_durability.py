"""kill -9 in the middle of writes: no partial record, every acknowledged record kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from genai_rt.audit.checkpoints import load_public_key
from genai_rt.audit.db import Database
from genai_rt.audit.store import TreeStore
from genai_rt.audit.verify_log import verify_store

WRITER = textwrap.dedent("""
    import sys
    from genai_rt.audit import AuditLog, AuditRecord

    log = AuditLog(sys.argv[1], checkpoint_every=50)
    i = 0
    while True:  # killed from outside
        batch = [log.append(AuditRecord(kind="engine", request_id=f"r{i + k}",
                                        principal={"tenant": "t"}, status="ok",
                                        error="x" * (i % 300)))
                 for k in range(20)]
        i += 20
        for pending in batch:
            print(pending.result(), flush=True)  # acknowledged = committed and fsynced
""")


def test_kill_9_mid_write_leaves_a_log_that_verifies(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.db")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(script), path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line))
    proc.send_signal(signal.SIGKILL)  # while the writer keeps appending
    proc.wait(timeout=30)
    assert len(acknowledged) >= 400, proc.stderr.read() if proc.stderr else ""
    db = Database(path)
    try:
        store = TreeStore(db, create=False)
        report = verify_store(store, load_public_key(path + ".key"))
        assert report.ok, report.format()
        assert report.records >= max(acknowledged) + 1  # nothing acknowledged was lost
        assert report.checkpoints >= 8
        size, _ = store.head()
        assert size == report.records
    finally:
        db.close()
