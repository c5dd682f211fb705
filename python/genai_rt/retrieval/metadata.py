"""Document metadata in SQLite (WAL): the one module that talks SQL, so PostgreSQL can follow.

Tables: tenants; documents (tenant, key, labels, metadata, version, hash, origin); document
labels; chunks (text, content hash, embedding). Chunk ids come from AUTOINCREMENT and are never
reused, so an index saved before a crash can never mistake a new chunk for an old one.

Each document is written in ONE transaction (its row, labels and all its chunks with their
embeddings), so a crash (kill -9) leaves a document either fully in or fully out. The vector
index is rebuilt or reconciled from the chunks table on open.

The access rule of :class:`genai_rt.principal.Principal` is expressed here as SQL
(:meth:`SqliteMetadata.visible_chunk_ids`), evaluated before the vector search runs.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genai_rt.principal import Principal

SCHEMA = """
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL REFERENCES tenants(name),
  key TEXT NOT NULL,
  metadata TEXT NOT NULL,
  version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  origin TEXT NOT NULL,
  num_chunks INTEGER NOT NULL,
  updated_at REAL NOT NULL,
  UNIQUE (tenant, key)
);
CREATE TABLE IF NOT EXISTS document_labels (
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  PRIMARY KEY (document_id, label)
);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS documents_by_origin ON documents(tenant, origin);
"""

_FILTER_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class DocumentRow:
    """One stored document (without its chunks)."""

    id: int
    tenant: str
    key: str
    labels: frozenset[str]
    metadata: dict[str, Any]
    version: int
    content_hash: str
    origin: str
    num_chunks: int


@dataclass(frozen=True)
class ChunkRow:
    """One stored chunk, with its document's key and metadata."""

    id: int
    document_key: str
    ordinal: int
    text: str
    content_hash: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NewChunk:
    """A chunk to write: its text, content hash and float32 embedding."""

    text: str
    content_hash: str
    embedding: np.ndarray


class SqliteMetadata:
    """The SQLite side of the document store (path, or ":memory:" for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- store-wide facts --------------------------------------------------------------------------

    def info(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM store_info WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_info(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO store_info VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                        "value = excluded.value", (key, value))

    def has_tenant(self, tenant: str) -> bool:
        return self.db.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone() \
            is not None

    def num_chunks(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # -- documents --------------------------------------------------------------------------------

    def document(self, tenant: str, key: str) -> DocumentRow | None:
        row = self.db.execute(
            "SELECT id, tenant, key, metadata, version, content_hash, origin, num_chunks "
            "FROM documents WHERE tenant = ? AND key = ?", (tenant, key)).fetchone()
        return None if row is None else self._document(row)

    def documents(self, tenant: str, origin: str | None = None) -> list[DocumentRow]:
        sql = ("SELECT id, tenant, key, metadata, version, content_hash, origin, num_chunks "
               "FROM documents WHERE tenant = ?")
        args: tuple[str, ...] = (tenant,)
        if origin is not None:
            sql += " AND origin = ?"
            args += (origin,)
        return [self._document(r) for r in self.db.execute(sql + " ORDER BY key", args)]

    def _document(self, row: Sequence[Any]) -> DocumentRow:
        labels = frozenset(r[0] for r in self.db.execute(
            "SELECT label FROM document_labels WHERE document_id = ?", (row[0],)))
        return DocumentRow(int(row[0]), row[1], row[2], labels, json.loads(row[3]), int(row[4]),
                           row[5], row[6], int(row[7]))

    def write_document(self, tenant: str, key: str, labels: frozenset[str],
                       metadata: dict[str, Any], content_hash: str, origin: str,
                       chunks: Sequence[NewChunk]) -> tuple[list[int], list[int]]:
        """Insert or replace one document and all its chunks atomically.

        Returns (removed chunk ids, new chunk ids) for the vector index to follow.
        """
        with self._transaction():
            self.db.execute("INSERT OR IGNORE INTO tenants VALUES (?, ?)", (tenant, time.time()))
            old = self.db.execute("SELECT id, version FROM documents WHERE tenant = ? AND key = ?",
                                  (tenant, key)).fetchone()
            removed: list[int] = []
            if old is None:
                doc_id = self.db.execute(
                    "INSERT INTO documents (tenant, key, metadata, version, content_hash, origin, "
                    "num_chunks, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
                    (tenant, key, json.dumps(metadata, sort_keys=True), content_hash, origin,
                     len(chunks), time.time())).lastrowid
                assert doc_id is not None
            else:
                doc_id = int(old[0])
                removed = [int(r[0]) for r in self.db.execute(
                    "SELECT id FROM chunks WHERE document_id = ?", (doc_id,))]
                self.db.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                self.db.execute("DELETE FROM document_labels WHERE document_id = ?", (doc_id,))
                self.db.execute(
                    "UPDATE documents SET metadata = ?, version = version + 1, content_hash = ?, "
                    "origin = ?, num_chunks = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(metadata, sort_keys=True), content_hash, origin, len(chunks),
                     time.time(), doc_id))
            self.db.executemany("INSERT INTO document_labels VALUES (?, ?)",
                                [(doc_id, label) for label in sorted(labels)])
            added = []
            for ordinal, c in enumerate(chunks):
                cur = self.db.execute(
                    "INSERT INTO chunks (document_id, ordinal, text, content_hash, embedding) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (doc_id, ordinal, c.text, c.content_hash,
                     np.ascontiguousarray(c.embedding, dtype=np.float32).tobytes()))
                assert cur.lastrowid is not None
                added.append(int(cur.lastrowid))
        return removed, added

    def delete_document(self, document_id: int) -> list[int]:
        """Remove a document and its chunks; returns the removed chunk ids."""
        with self._transaction():
            removed = [int(r[0]) for r in self.db.execute(
                "SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
            self.db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            self.db.execute("DELETE FROM document_labels WHERE document_id = ?", (document_id,))
            self.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return removed

    # -- chunks -----------------------------------------------------------------------------------

    def embeddings(self, dim: int, ids: Sequence[int] | None = None, batch: int = 4096
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(chunk ids, float32 [n, dim]) for every chunk, or those in ``ids``, in batches."""
        if ids is not None:
            wanted = list(ids)
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                rows = self.db.execute("SELECT id, embedding FROM chunks WHERE id IN "
                                       f"({','.join('?' * len(part))})", part).fetchall()
                if rows:
                    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                    yield (np.array([r[0] for r in rows], dtype=np.int64),
                           vectors.reshape(len(rows), dim))
            return
        cur = self.db.execute("SELECT id, embedding FROM chunks ORDER BY id")
        while rows := cur.fetchmany(batch):
            chunk_ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield chunk_ids, vectors.reshape(len(rows), dim)

    def chunk_ids(self) -> np.ndarray:
        return np.array([r[0] for r in self.db.execute("SELECT id FROM chunks")], dtype=np.int64)

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """The chunks with these ids (with their document's key and metadata)."""
        out: dict[int, ChunkRow] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for r in self.db.execute(
                    "SELECT c.id, d.key, c.ordinal, c.text, c.content_hash, d.metadata FROM chunks "
                    f"c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})", part):
                out[int(r[0])] = ChunkRow(int(r[0]), r[1], int(r[2]), r[3], r[4], json.loads(r[5]))
        return out

    def visible_chunk_ids(self, principal: Principal,
                          filters: dict[str, Any] | None = None) -> np.ndarray:
        """Chunk ids the principal may see (the access rule in principal.py), narrowed by
        ``filters``: metadata key -> value (equal) or list of values (any of them)."""
        roles = sorted(principal.roles)
        sql = ("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
               "WHERE d.tenant = ? AND (NOT EXISTS (SELECT 1 FROM document_labels l "
               "WHERE l.document_id = d.id)")
        args: list[Any] = [principal.tenant]
        if roles:
            sql += (" OR EXISTS (SELECT 1 FROM document_labels l WHERE l.document_id = d.id "
                    f"AND l.label IN ({','.join('?' * len(roles))}))")
            args += roles
        sql += ")"
        for key, wanted in (filters or {}).items():
            if not isinstance(key, str) or not _FILTER_KEY.match(key):
                raise ValueError(f"filter key {key!r} must match {_FILTER_KEY.pattern}")
            values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) \
                else [wanted]
            if not values or not all(isinstance(v, str | int | float | bool) for v in values):
                raise ValueError(f"filter {key!r} needs a scalar or a non-empty list of scalars, "
                                 f"got {wanted!r}")
            sql += (f" AND json_extract(d.metadata, ?) IN ({','.join('?' * len(values))})")
            args += [f'$."{key}"', *values]
        return np.array([r[0] for r in self.db.execute(sql, args)], dtype=np.int64)

    # -- helpers ----------------------------------------------------------------------------------

    class _Transaction:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: object, value: object, tb: object) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _transaction(self) -> SqliteMetadata._Transaction:
        return SqliteMetadata._Transaction(self.db)
