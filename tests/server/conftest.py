"""Session-scoped server fixtures: one tiny checkpoint, one engine, one authenticated server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from genai_rt.client import Client
from genai_rt.config import AuditConfig, ServerConfig
from genai_rt.engine.async_engine import Engine
from genai_rt.server.app import GrpcServer
from genai_rt.server.auth import add_key

from tests.server.harness import ServerThread, engine_config, write_tiny_chat_model


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Not numbered: the directory's name is the served model id (test_http.MODEL), and other
    # suites make "tiny_chat" folders of their own.
    return write_tiny_chat_model(tmp_path_factory.mktemp("served_tiny_chat", numbered=False))


@pytest.fixture(scope="session")
def engine(chat_model: Path) -> Iterator[Engine]:
    eng = Engine(engine_config(chat_model))
    yield eng
    eng.shutdown()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """name -> key: `gen` (tenant acme, may generate), `other` (tenant beta, may generate),
    `reader` (tenant acme, role hr only), `poor` (tenant poor, a tiny budget)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    return {
        "file": str(path),
        "gen": add_key(path, "acme", ["generate"], "gen"),
        "other": add_key(path, "beta", ["generate"], "other"),
        "reader": add_key(path, "acme", ["hr"], "reader"),
        "poor": add_key(path, "poor", ["generate"], "poor"),
        "auditor": add_key(path, "acme", ["auditor"], "auditor"),
        "ops": add_key(path, "acme", ["generate", "auditor"], "ops"),
    }


def _budgets(server: GrpcServer) -> None:
    """acme and beta get ample budgets; tenant `poor` (no key of the default tests) $0.001."""
    budgets = server.governance.budgets  # type: ignore[union-attr]
    budgets.set_budget("acme", 1e6)
    budgets.set_budget("beta", 1e6)
    budgets.set_budget("poor", 0.001)


@pytest.fixture(scope="session")
def prices(tmp_path_factory: pytest.TempPathFactory, chat_model: Path) -> str:
    """Prices for the served tiny model: a 1k-token output costs $1 (budgets in the tests).

    The model id is the model directory's name."""
    path = tmp_path_factory.mktemp("prices") / "prices.yaml"
    path.write_text(f"{chat_model.name}: {{input_per_1k: 0.0, output_per_1k: 1.0}}\n")
    return str(path)


@pytest.fixture(scope="session")
def server(engine: Engine, keys: dict[str, str], prices: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    audit = AuditConfig(audit_url=str(tmp_path_factory.mktemp("audit") / "audit.db"),
                        audit_sync="NORMAL")
    thread = ServerThread(ServerConfig(port=0, http_port=0, api_keys_file=keys["file"],
                                       max_queue=256, max_message_bytes=1 << 20,
                                       prices_file=prices),
                          engine=engine, audit=audit, on_loaded=_budgets)
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def client(server: ServerThread, keys: dict[str, str]) -> Iterator[Client]:
    with Client(server.target, api_key=keys["gen"], timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def http_base(server: ServerThread) -> Iterator[str]:
    """The OpenAI-compatible endpoint of the same server (same engine, keys and admission)."""
    from genai_rt.server.http.serve import start_http

    http = server.loop.run(start_http(server.server))
    yield f"http://127.0.0.1:{http.port}"
    server.loop.run(http.stop())
