"""A real server on localhost for the tests: a GrpcServer on its own event loop in a thread,
over the tiny random checkpoint (character tokenizer, plus a chat template)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from genai_rt.config import AuditConfig, EngineConfig, ServerConfig
from genai_rt.engine.async_engine import Engine
from genai_rt.server.app import GrpcServer

from tests.engine.tiny_model import save_tiny_llama

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
ENGINE_OPTIONS = dict(dtype="float32", block_size=4, num_gpu_blocks=2048,
                      max_num_batched_tokens=512, max_num_seqs=64)


def write_tiny_chat_model(path: Path) -> Path:
    save_tiny_llama(path, max_positions=256)
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": CHAT_TEMPLATE, "eos_token": "</s>"}))
    return path


def engine_config(path: Path) -> EngineConfig:
    return EngineConfig.from_model(str(path), **ENGINE_OPTIONS)  # type: ignore[arg-type]


class LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return self.submit(coro).result(timeout)

    def call(self, fn: Callable[[], Any]) -> Any:
        async def wrapper() -> Any:
            return fn()

        return self.run(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ServerThread:
    """A started, loaded GrpcServer on ``127.0.0.1:port``."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None,
                 engine_cfg: EngineConfig | None = None, load: bool = True,
                 audit: AuditConfig | None = None,
                 on_loaded: Callable[[GrpcServer], None] | None = None,
                 store: Any = None) -> None:
        self.loop = LoopThread()
        self.server: GrpcServer = self.loop.call(
            lambda: GrpcServer(config, engine_config=engine_cfg, engine=engine,
                               audit_config=audit, store=store))
        self.port = self.loop.run(self.server.start())
        if load:
            self.loop.run(self.server.load())
            if on_loaded is not None:
                on_loaded(self.server)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if not self.server.stopped.is_set():
            self.loop.run(self.server.stop())
        self.loop.close()
