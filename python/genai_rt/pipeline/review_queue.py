"""The review queue: escalated requests and drafts awaiting sign-off, persisted in SQLite.

Each item keeps the request, the principal, the reasons and every draft, so a person can
decide with the evidence in front of them. ``list`` and ``resolve`` are the API; the servers
expose the same calls.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("escalation", "signoff")
RESOLUTIONS = ("approved", "rejected", "answered")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  created REAL NOT NULL,
  tenant TEXT NOT NULL,
  user TEXT NOT NULL,
  intent TEXT NOT NULL,
  request TEXT NOT NULL,
  reasons TEXT NOT NULL,
  drafts TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  resolution TEXT,
  reviewer TEXT,
  note TEXT,
  resolved REAL
)
"""


@dataclass(frozen=True)
class ReviewItem:
    id: int
    kind: str
    created: float
    tenant: str
    user: str
    intent: str
    request: str
    reasons: list[str]
    drafts: list[str]
    status: str
    resolution: str | None
    reviewer: str | None
    note: str | None


class ReviewQueue:
    """Persistent queue (WAL, synchronous=FULL: an escalation survives a crash once added).

    Parameters
    ----------
    path : a SQLite file, or ":memory:"
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)

    def add(self, kind: str, tenant: str, user: str, intent: str, request: str,
            reasons: list[str], drafts: list[str]) -> int:
        if kind not in KINDS:
            raise ValueError(f"review kind must be one of {KINDS}, got {kind!r}")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO review_items (kind, created, tenant, user, intent, request, "
                "reasons, drafts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, time.time(), tenant, user, intent, request, json.dumps(reasons),
                 json.dumps(drafts)),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def list(self, status: str | None = "open", tenant: str | None = None,
             kind: str | None = None) -> list[ReviewItem]:
        """Items, oldest first; ``status=None`` lists every item."""
        where, args = [], []
        for column, value in (("status", status), ("tenant", tenant), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM review_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [_item(r) for r in rows]

    def get(self, item_id: int) -> ReviewItem:
        with self._lock:
            row = self._db.execute("SELECT * FROM review_items WHERE id = ?",
                                   (item_id,)).fetchone()
        if row is None:
            raise KeyError(f"no review item {item_id}")
        return _item(row)

    def resolve(self, item_id: int, resolution: str, reviewer: str, note: str = "") -> ReviewItem:
        """Close an open item. Raises KeyError (unknown id) or ValueError (already resolved)."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        if not reviewer:
            raise ValueError("resolve needs the reviewer's name")
        with self._lock:
            cur = self._db.execute(
                "UPDATE review_items SET status='resolved', resolution=?, reviewer=?, note=?, "
                "resolved=? WHERE id=? AND status='open'",
                (resolution, reviewer, note, time.time(), item_id),
            )
            changed = cur.rowcount
        if not changed:
            self.get(item_id)  # raises KeyError when unknown
            raise ValueError(f"review item {item_id} is already resolved")
        return self.get(item_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _item(row: Any) -> ReviewItem:
    (item_id, kind, created, tenant, user, intent, request, reasons, drafts, status,
     resolution, reviewer, note, _resolved) = row
    return ReviewItem(item_id, kind, created, tenant, user, intent, request, json.loads(reasons),
                      json.loads(drafts), status, resolution, reviewer, note)
