"""kill -9 in the middle of an ingest, then reopen: no half-indexed document, store and index
agree, and a re-run finishes the job."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
from genai_rt.config import StoreConfig
from genai_rt.principal import Principal
from genai_rt.retrieval import DocumentStore

INGEST = """
import sys
from genai_rt.config import StoreConfig
from genai_rt.retrieval import DocumentStore
store = DocumentStore(StoreConfig(url=sys.argv[1], backend="hnsw"))
store.ingest_folder(sys.argv[2], "acme", labels=["ops"], progress=False)
print("finished", flush=True)
"""

TOPICS = ["invoices", "outages", "hiring", "laptops", "travel", "security", "pricing", "backups"]


def write_docs(folder, start, count):
    for n in range(start, start + count):
        topic = TOPICS[n % len(TOPICS)]
        (folder / f"doc{n:04d}.md").write_text(f"Note {n}: the {topic} procedure, step {n}.")


def document_count(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return int(c.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_during_ingest_leaves_a_consistent_store(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    db = tmp_path / "store.db"
    write_docs(folder, 0, 10)
    first = DocumentStore(StoreConfig(url=str(db), backend="hnsw"), embedder)
    first.ingest_folder(folder, "acme", labels=["ops"], progress=False)  # saves the HNSW graph
    first.close()
    write_docs(folder, 10, 110)

    child = subprocess.Popen([sys.executable, "-c", INGEST, str(db), str(folder)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while document_count(db) < 30 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"

    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        partial = c.execute(
            "SELECT d.key, d.num_chunks, COUNT(c.id) FROM documents d LEFT JOIN chunks c "
            "ON c.document_id = d.id GROUP BY d.id").fetchall()
    assert 30 <= len(partial) < 120
    assert all(num == have and num > 0 for _, num, have in partial), "half-written document"

    store = DocumentStore(StoreConfig(url=str(db), backend="hnsw"), embedder)
    in_db = set(store.meta.chunk_ids().tolist())
    assert set(store.index.ids().tolist()) == in_db  # the stale saved graph was reconciled
    hits = store.retrieve("backups procedure", Principal("acme", frozenset({"ops"})), k=5)
    assert hits.report.complete and hits.report.visible_rows == len(in_db)

    report = store.ingest_folder(folder, "acme", labels=["ops"], progress=False)
    assert report.added == 120 - len(partial) and report.unchanged == len(partial)
    assert set(store.index.ids().tolist()) == set(store.meta.chunk_ids().tolist())
    ids = store.index.ids()
    assert np.unique(ids).size == ids.size
