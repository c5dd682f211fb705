"""Where the audit tree lives: records, the tree head, and signed checkpoints, in a ``Database``.

Every append runs in one transaction that locks the tree-head row, reads the frontier, appends
the batch's leaves, writes the new head (and a checkpoint when one is due) and commits. The lock
is the database's, so several processes or replicas appending to one PostgreSQL (or one SQLite
file) still build one tree with no gaps or forks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from genai_rt.audit.checkpoints import SignedCheckpoint, Signer
from genai_rt.audit.db import Database
from genai_rt.audit.merkle import EMPTY_ROOT, Frontier, leaf_hash
from genai_rt.audit.records import record_body

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_records (
        idx {bigint} PRIMARY KEY, record_id TEXT NOT NULL UNIQUE,
        body {blob} NOT NULL, leaf_hash {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), size {bigint} NOT NULL,
        frontier {blob} NOT NULL, root {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        tree_size {bigint} PRIMARY KEY, root TEXT NOT NULL, timestamp TEXT NOT NULL,
        public_key TEXT NOT NULL, signature TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_feedback (
        id {serial}, record_id TEXT NOT NULL, rating INTEGER NOT NULL, comment TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "INSERT INTO audit_head (id, size, frontier, root) VALUES (1, 0, ?, ?) "
    "ON CONFLICT (id) DO NOTHING",
)
# Rows fetched per round trip when reading the whole log (verify, proofs).
READ_CHUNK = 10_000


class TreeStore:
    """The audit tables in one database; safe to use from several threads and processes."""

    def __init__(self, db: Database, create: bool = True) -> None:
        self.db = db
        if not create:  # read-only use (verify): a damaged database must not be written
            return
        with db.transaction() as tx:
            for statement in SCHEMA:
                params = (b"", EMPTY_ROOT) if statement.startswith("INSERT") else ()
                tx.execute(statement, params)

    # ------------------------------------------------------------------------- writes
    def append_batch(
        self, records: Sequence[tuple[str, bytes]], signer: Signer | None = None,
        checkpoint_every: int = 0,
    ) -> tuple[int, list[SignedCheckpoint]]:
        """Append records (id, serialized record) as consecutive leaves in one transaction.

        Returns the index of the first one and the checkpoints signed: one at every tree size
        that is a multiple of ``checkpoint_every`` (0: none).
        """
        checkpoints = []
        with self.db.transaction() as tx:
            frontier = self._locked_frontier(tx)
            first = frontier.size
            rows = []
            for offset, (record_id, record) in enumerate(records):
                body = record_body(record, first + offset, record_id)
                leaf = leaf_hash(body)
                frontier.append(leaf)
                rows.append((first + offset, record_id, body, leaf))
                if signer is not None and checkpoint_every and (
                        frontier.size % checkpoint_every == 0):
                    checkpoints.append(signer.sign(frontier.size, frontier.root()))
            tx.executemany("INSERT INTO audit_records (idx, record_id, body, leaf_hash) "
                           "VALUES (?, ?, ?, ?)", rows)
            tx.execute("UPDATE audit_head SET size = ?, frontier = ?, root = ? WHERE id = 1",
                       (frontier.size, frontier.to_bytes(), frontier.root()))
            for checkpoint in checkpoints:
                self._insert_checkpoint(tx, checkpoint)
        return first, checkpoints

    def checkpoint(self, signer: Signer) -> SignedCheckpoint | None:
        """The signed checkpoint of the current head, signing it unless it is signed already
        (None for an empty log)."""
        with self.db.transaction() as tx:
            frontier = self._locked_frontier(tx)
            if frontier.size == 0:
                return None
            row = tx.execute("SELECT tree_size, root, timestamp, public_key, signature FROM "
                             "audit_checkpoints WHERE tree_size = ?", (frontier.size,)).fetchone()
            if row is not None:
                return SignedCheckpoint(int(row[0]), row[1], row[2], row[3], row[4])
            checkpoint = signer.sign(frontier.size, frontier.root())
            self._insert_checkpoint(tx, checkpoint)
        return checkpoint

    def add_feedback(self, record_id: str, rating: int, comment: str, created_at: str) -> None:
        self.db.execute("INSERT INTO audit_feedback (record_id, rating, comment, created_at) "
                        "VALUES (?, ?, ?, ?)", (record_id, rating, comment, created_at))

    def _locked_frontier(self, tx: Any) -> Frontier:
        size, blob = tx.execute("SELECT size, frontier FROM audit_head WHERE id = 1"
                                + self.db.lock_suffix).fetchone()
        return Frontier.from_bytes(int(size), bytes(blob))

    @staticmethod
    def _insert_checkpoint(tx: Any, cp: SignedCheckpoint) -> None:
        tx.execute("INSERT INTO audit_checkpoints (tree_size, root, timestamp, public_key, "
                   "signature) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
                   (cp.tree_size, cp.root, cp.timestamp, cp.public_key, cp.signature))

    # ------------------------------------------------------------------------- reads
    def head(self) -> tuple[int, bytes]:
        """(size, root) of the tree as committed."""
        size, root = self.db.query("SELECT size, root FROM audit_head WHERE id = 1")[0]
        return int(size), bytes(root)

    def rows(self) -> Iterator[tuple[int, str, bytes, bytes]]:
        """(idx, record_id, body, leaf_hash) in index order, read in chunks."""
        last = -1
        while True:
            chunk = self.db.query("SELECT idx, record_id, body, leaf_hash FROM audit_records "
                                  "WHERE idx > ? ORDER BY idx LIMIT ?", (last, READ_CHUNK))
            for idx, record_id, body, leaf in chunk:
                yield int(idx), record_id, bytes(body), bytes(leaf)
            if len(chunk) < READ_CHUNK:
                return
            last = int(chunk[-1][0])

    def leaf_hashes(self, size: int) -> list[bytes]:
        """The stored leaf hashes of the first ``size`` records (for proofs)."""
        rows = self.db.query("SELECT leaf_hash FROM audit_records WHERE idx < ? ORDER BY idx",
                             (size,))
        if len(rows) != size:
            raise ValueError(f"the log holds {len(rows)} of the first {size} records; "
                             f"run `genai-rt audit verify`")
        return [bytes(r[0]) for r in rows]

    def find(self, record_id: str) -> tuple[int, bytes] | None:
        """(index, body) of a record by id, or None."""
        rows = self.db.query("SELECT idx, body FROM audit_records WHERE record_id = ?",
                             (record_id,))
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def body_at(self, index: int) -> tuple[str, bytes] | None:
        rows = self.db.query("SELECT record_id, body FROM audit_records WHERE idx = ?", (index,))
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def checkpoints(self) -> list[SignedCheckpoint]:
        rows = self.db.query("SELECT tree_size, root, timestamp, public_key, signature "
                             "FROM audit_checkpoints ORDER BY tree_size")
        return [SignedCheckpoint(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def feedback(self) -> list[tuple[str, int, str, str]]:
        """(record_id, rating, comment, created_at) in the order given."""
        rows = self.db.query("SELECT record_id, rating, comment, created_at FROM audit_feedback "
                             "ORDER BY id")
        return [(r[0], int(r[1]), r[2], r[3]) for r in rows]
