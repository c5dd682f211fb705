"""DocumentStore: documents behind access boundaries, chunked, embedded and searchable.

SQLite holds the truth (documents, labels, chunks and their embeddings, one transaction per
document); the vector index is derived from it: rebuilt on open for the exact backends, loaded
and reconciled (stale ids deleted, missing ids added) for HNSW. So after a crash the store and
the index agree on reopen, and no document is ever half indexed.

``retrieve`` turns the principal (and filters) into the set of chunk ids it may see, and the
index searches only those: the boundary is inside the search, never applied to its results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genai_rt.config import StoreConfig
from genai_rt.principal import Principal
from genai_rt.retrieval.chunking import Chunk, chunk_text
from genai_rt.retrieval.documents import NotTextError, find_documents, read_document
from genai_rt.retrieval.embedder import Embedder
from genai_rt.retrieval.index import VectorIndex
from genai_rt.retrieval.metadata import NewChunk, SqliteMetadata
from genai_rt.retrieval.report import SearchReport

# A document to write: tenant, key, labels, metadata, hash, origin, chunks, is it new.
_Plan = tuple[str, str, frozenset[str], dict[str, Any], str, str, list[Chunk], bool]
# Documents embedded together during a folder ingest: one encode call fills its batches.
INGEST_GROUP = 32


class UnknownPrincipalError(LookupError):
    """The principal's tenant has never been seen by this store."""


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk.

    ``document_id`` is the document's key in its tenant (a folder ingest uses the file's
    relative path); ``chunk_id`` is stable until the document changes; ``content_hash`` is the
    sha256 of ``text``.
    """

    document_id: str
    chunk_id: int
    text: str
    score: float
    content_hash: str
    ordinal: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Retrieval:
    """What ``retrieve`` returns: passages best first and the completeness report."""

    passages: list[Passage]
    report: SearchReport


@dataclass
class IngestReport:
    """Counts of one ingest; ``errors`` lists (path, message) of files that were skipped."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


class DocumentStore:
    """Documents with tenants, labels, metadata and versions; chunked, embedded, searched.

    Parameters
    ----------
    config:
        A :class:`genai_rt.config.StoreConfig` (path, backend, chunking).
    embedder:
        An :class:`Embedder` to share; by default one is loaded from ``config.embedder``.

    Examples
    --------
    >>> store = DocumentStore(StoreConfig(url="/tmp/docs.db"))
    >>> store.add_document("acme", "leave.md", "Staff get 25 days of leave.", labels={"hr"})
    >>> r = store.retrieve("how much leave?", Principal("acme", frozenset({"hr"})), k=1)
    >>> r.passages[0].document_id, r.report.complete
    ('leave.md', True)
    """

    def __init__(self, config: StoreConfig | None = None,
                 embedder: Embedder | None = None) -> None:
        self.config = config or StoreConfig()
        self.embedder = embedder or Embedder(self.config.embedder)
        if self.config.chunk_tokens > self.embedder.max_length - 2:
            raise ValueError(f"chunk_tokens={self.config.chunk_tokens} exceeds the embedder's "
                             f"window ({self.embedder.max_length - 2} tokens)")
        self.meta = SqliteMetadata(self.config.sqlite_path)
        self._check_embedder()
        self._lock = threading.RLock()
        self.index = self._open_index()

    @classmethod
    def open(cls, url: str, embedder: Embedder | None = None, **options: Any) -> DocumentStore:
        """``DocumentStore(StoreConfig(url=url, **options), embedder)``."""
        return cls(StoreConfig(url=url, **options), embedder)

    # -- writing ----------------------------------------------------------------------------------

    def add_document(self, tenant: str, key: str, text: str, labels: Iterable[str] = (),
                     metadata: dict[str, Any] | None = None, origin: str = "") -> str:
        """Insert or update one document; returns "added", "updated" or "unchanged"."""
        return self._write_many([(tenant, key, text, frozenset(labels), metadata or {}, origin)])[0]

    def delete_document(self, tenant: str, key: str) -> None:
        """Remove a document and its chunks (KeyError when there is none)."""
        with self._lock:
            row = self.meta.document(tenant, key)
            if row is None:
                raise KeyError(f"no document {key!r} in tenant {tenant!r}")
            removed = self.meta.delete_document(row.id)
            self._index_delete(removed)

    def ingest_folder(self, folder: str | Path, tenant: str, labels: Iterable[str] = (),
                      progress: bool = True) -> IngestReport:
        """Ingest every .txt/.md/.json file under ``folder`` for ``tenant``.

        Unchanged files are skipped; changed ones re-chunked and re-embedded; documents that
        came from this folder and whose file is gone are removed. A file that is not text is
        skipped and listed in ``report.errors``.
        """
        root = Path(folder).resolve()
        paths = find_documents(root)
        origin = str(root)
        base_labels = frozenset(labels)
        report = IngestReport()
        bar = _progress(len(paths), f"ingest {root.name}", progress)
        seen: set[str] = set()
        group: list[tuple[str, str, str, frozenset[str], dict[str, Any], str]] = []
        for path in paths:
            key = path.relative_to(root).as_posix()
            seen.add(key)
            try:
                doc = read_document(path)
            except (NotTextError, OSError) as e:
                report.errors.append((key, str(e)))
                bar.update(1)
                continue
            group.append((tenant, key, doc.text, base_labels | doc.labels, doc.metadata, origin))
            if len(group) == INGEST_GROUP:
                self._count(report, self._write_many(group))
                bar.update(len(group))
                group = []
        if group:
            self._count(report, self._write_many(group))
            bar.update(len(group))
        bar.close()
        with self._lock:
            for row in self.meta.documents(tenant, origin):
                if row.key not in seen:
                    self._index_delete(self.meta.delete_document(row.id))
                    report.removed += 1
            report.chunks_written = self._chunks_written
            self._chunks_written = 0
            self.save_index()
        return report

    # -- reading ----------------------------------------------------------------------------------

    def retrieve(self, query: str, principal: Principal, k: int = 5,
                 filters: dict[str, Any] | None = None) -> Retrieval:
        """The k passages most similar to ``query`` among those ``principal`` may see.

        ``filters`` narrows by document metadata: ``{"key": value}`` or ``{"key": [v1, v2]}``.
        Raises TypeError for a principal that is not a :class:`Principal`, ValueError for an
        empty query, k <= 0, k larger than the store or an empty store, and
        :class:`UnknownPrincipalError` for a tenant the store has never seen.
        """
        if not isinstance(principal, Principal):
            raise TypeError(f"principal must be a genai_rt.principal.Principal, got "
                            f"{type(principal).__name__}")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"k must be a positive int, got {k!r}")
        vector = self.embedder.encode([query])
        with self._lock:
            if len(self.index) == 0:
                raise ValueError("the store is empty: ingest documents first")
            if not self.meta.has_tenant(principal.tenant):
                raise UnknownPrincipalError(f"unknown tenant {principal.tenant!r}: no document "
                                            "was ever ingested for it")
            allowed = self.meta.visible_chunk_ids(principal, filters)
            hits = self.index.search(vector, k, allowed_ids=allowed)
            ids = [int(i) for i in hits.ids[0] if i >= 0]
            rows = self.meta.chunks(ids)
        passages = [Passage(rows[i].document_key, i, rows[i].text, float(s),
                            rows[i].content_hash, rows[i].ordinal, rows[i].metadata)
                    for i, s in zip(ids, hits.scores[0].tolist(), strict=False)]
        return Retrieval(passages, hits.reports[0])

    def __len__(self) -> int:
        """Chunks in the store."""
        return len(self.index)

    # -- persistence ------------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return Path(self.config.sqlite_path + ".index")

    def save_index(self) -> None:
        """Persist an HNSW graph beside the database (exact backends rebuild on open)."""
        if self.index.backend != "hnsw" or self.config.sqlite_path == ":memory:":
            return
        with self._lock:
            final = self.index_path
            tmp = final.with_name(final.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            self.index.save(tmp)
            old = final.with_name(final.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        self.save_index()
        self.meta.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------

    _chunks_written = 0

    def _write_many(self, docs: list[tuple[str, str, str, frozenset[str], dict[str, Any], str]]
                    ) -> list[str]:
        """Chunk and embed a group of documents together, then write each in its own
        transaction (so a crash leaves each document fully in or fully out)."""
        plans: list[_Plan | None] = []
        for tenant, key, text, labels, metadata, origin in docs:
            _check_document(tenant, key, text, metadata)
            digest = _document_hash(text, labels, metadata)
            with self._lock:  # one SQLite connection: never read inside another's transaction
                old = self.meta.document(tenant, key)
            if old is not None and old.content_hash == digest and old.origin == origin:
                plans.append(None)
                continue
            chunks = chunk_text(text, self.embedder.tokenizer, self.config.chunk_tokens,
                                self.config.chunk_overlap)
            plans.append((tenant, key, labels, metadata, digest, origin, chunks, old is None))
        texts = [c.text for p in plans if p is not None for c in p[6]]
        vectors = self.embedder.encode(texts)
        outcome, at = [], 0
        for plan in plans:
            if plan is None:
                outcome.append("unchanged")
                continue
            tenant, key, labels, metadata, digest, origin, chunks, is_new = plan
            new = [NewChunk(c.text, c.content_hash, vectors[at + n]) for n, c in enumerate(chunks)]
            with self._lock:
                removed, added = self.meta.write_document(tenant, key, labels, metadata, digest,
                                                          origin, new)
                self._index_delete(removed)
                if added:
                    self.index.add(np.array(added, dtype=np.int64), vectors[at:at + len(chunks)])
            at += len(chunks)
            self._chunks_written += len(chunks)
            outcome.append("added" if is_new else "updated")
        return outcome

    def _index_delete(self, ids: list[int]) -> None:
        present = [i for i in ids if i in self.index]
        if present:
            self.index.delete(np.array(present, dtype=np.int64))

    @staticmethod
    def _count(report: IngestReport, outcomes: list[str]) -> None:
        for o in outcomes:
            setattr(report, o, getattr(report, o) + 1)

    def _check_embedder(self) -> None:
        facts = {"embedder": self.embedder.name, "dim": str(self.embedder.dim)}
        for key, value in facts.items():
            stored = self.meta.info(key)
            if stored is None:
                self.meta.set_info(key, value)
            elif stored != value:
                raise ValueError(f"{self.config.sqlite_path} was built with {key}={stored!r}; "
                                 f"this embedder has {key}={value!r}")

    def _open_index(self) -> VectorIndex:
        dim = self.embedder.dim
        options: dict[str, Any] = {}
        if self.config.backend == "hnsw":
            options["ef_search"] = self.config.hnsw_ef_search
            if (self.index_path / "index.json").is_file():
                try:
                    return self._reconcile(VectorIndex.load(self.index_path))
                except (OSError, ValueError, RuntimeError, KeyError) as e:
                    print(f"genai-rt: rebuilding the HNSW index ({e})", file=sys.stderr)
        index = VectorIndex.create(self.config.backend, dim, "ip", self.config.dtype, **options)
        for ids, vectors in self.meta.embeddings(dim):
            index.add(ids, vectors)
        return index

    def _reconcile(self, index: VectorIndex) -> VectorIndex:
        """Make a loaded index hold exactly the chunks in the database."""
        if index.dim != self.embedder.dim:
            raise ValueError(f"saved index has dim {index.dim}")
        in_db = set(self.meta.chunk_ids().tolist())
        in_index = set(index.ids().tolist())
        stale = sorted(in_index - in_db)
        if stale:
            index.delete(np.array(stale, dtype=np.int64))
        for ids, vectors in self.meta.embeddings(self.embedder.dim, sorted(in_db - in_index)):
            index.add(ids, vectors)
        return index


def _check_document(tenant: str, key: str, text: str, metadata: dict[str, Any]) -> None:
    if not isinstance(tenant, str) or not tenant.strip():
        raise ValueError(f"tenant must be a non-empty string, got {tenant!r}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"document key must be a non-empty string, got {key!r}")
    if not isinstance(text, str):
        raise NotTextError(f"document {key!r}: text must be str, got {type(text).__name__}")
    if "\x00" in text:
        raise NotTextError(f"document {key!r}: not text (holds NUL characters)")
    if not isinstance(metadata, dict):
        raise ValueError(f"document {key!r}: metadata must be a dict")


def _document_hash(text: str, labels: frozenset[str], metadata: dict[str, Any]) -> str:
    """Changes when the text, labels or metadata change (what re-ingest compares)."""
    h = hashlib.sha256(text.encode("utf-8"))
    h.update(json.dumps([sorted(labels), metadata], sort_keys=True).encode("utf-8"))
    return h.hexdigest()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="doc", file=sys.stderr)
