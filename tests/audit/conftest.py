"""Audit fixtures: a fresh SQLite log per test, one local PostgreSQL server per session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from genai_rt.audit import AuditLog

from tests.audit.postgres import LocalPostgres, find_bindir


@pytest.fixture
def log_path(tmp_path: Path) -> str:
    return str(tmp_path / "audit.db")


@pytest.fixture
def audit_log(log_path: str) -> Iterator[AuditLog]:
    log = AuditLog(log_path, checkpoint_every=8)
    yield log
    log.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (Debian package `postgresql`) are not installed; "
                    "`make setup` installs them when run as root")
    server = LocalPostgres(bindir)
    try:
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        detail = getattr(err, "stderr", "") or ""
        server.stop()
        pytest.skip(f"could not start a local PostgreSQL ({err}): {detail.strip()[:300]}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: LocalPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh database per test on the session's server."""
    import psycopg

    base = f"postgresql://postgres@127.0.0.1:{postgres_server.port}"
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"
