"""One database handle for the audit log, feedback and budgets: SQLite (embedded default) or
PostgreSQL (``postgresql://…``, psycopg 3) for several replicas sharing one log.

SQL is written once with ``?`` placeholders and the few type names that differ looked up in
``types``. Each thread gets its own connection (SQLite and psycopg connections are not for
concurrent use), and ``transaction()`` takes the write lock at its start: SQLite's
``BEGIN IMMEDIATE`` (one writer per file, across processes), PostgreSQL's row locks
(``SELECT … FOR UPDATE``, see ``lock_suffix``) across replicas.

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction is fsynced before
``COMMIT`` returns, so an acknowledged record survives power loss.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# Seconds a writer waits for another writer's lock before failing (SQLite busy_timeout).
LOCK_TIMEOUT_S = 30.0

SQLITE_TYPES = {"bigint": "INTEGER", "blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
POSTGRES_TYPES = {"bigint": "BIGINT", "blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY"}


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class Database:
    """A SQLite file or a PostgreSQL database, with per-thread connections.

    Parameters
    ----------
    url : str
        A file path (or ``sqlite:///path``) for SQLite; ``postgresql://…`` for PostgreSQL.
    synchronous : str
        SQLite only: ``FULL`` (default, survives power loss) or ``NORMAL``.
    """

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"database url must be a non-empty string, got {url!r}")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.url = url
        self.is_postgres = is_postgres_url(url)
        self.path = None if self.is_postgres else url.removeprefix("sqlite:///")
        self.synchronous = synchronous
        self.types = POSTGRES_TYPES if self.is_postgres else SQLITE_TYPES
        # Appended to the SELECT that reads a row a transaction is about to change: PostgreSQL
        # needs the row lock; SQLite's BEGIN IMMEDIATE already holds the database's write lock.
        self.lock_suffix = " FOR UPDATE" if self.is_postgres else ""
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------------- connections
    def _connect(self) -> Any:
        if self.is_postgres:
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        assert self.path is not None
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=LOCK_TIMEOUT_S)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    def connection(self) -> Any:
        """This thread's connection (made on first use)."""
        if self._closed:
            raise RuntimeError(f"database {self.display_url} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @property
    def display_url(self) -> str:
        """The url without a password."""
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    def sql(self, statement: str) -> str:
        """``?`` placeholders and ``{bigint}``-style type names in this dialect."""
        statement = statement.format(**self.types)
        return statement.replace("?", "%s") if self.is_postgres else statement

    # ------------------------------------------------------------------------- statements
    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement on its own (autocommit); returns the cursor."""
        return self.connection().execute(self.sql(statement), tuple(params))

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(statement, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction holding the write lock from its first statement."""
        conn = self.connection()
        if self.is_postgres:
            with conn.transaction():
                yield Transaction(self, conn)
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state (SQLite WAL read transaction, PostgreSQL
        REPEATABLE READ), so a log verified while replicas append is not seen half-written."""
        conn = self.connection()
        if self.is_postgres:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # a connection of a thread that is gone; nothing to keep
                pass


class Transaction:
    """Statements inside ``Database.transaction()``."""

    def __init__(self, db: Database, conn: Any) -> None:
        self._db = db
        self._conn = conn

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._db.sql(statement), tuple(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        cur = self._conn.cursor()
        cur.executemany(self._db.sql(statement), rows)
        cur.close()
