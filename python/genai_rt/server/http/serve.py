"""Run the HTTP app with uvicorn on the gRPC server's event loop (one process, one engine)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn

from genai_rt.server.http.app import create_app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM belongs to the gRPC server's drain."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, server: _EmbeddedServer, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @property
    def port(self) -> int:
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task


async def start_http(grpc_server: Any) -> HttpServer:
    """Start serving ``create_app(grpc_server)`` on ``config.host:config.http_port``."""
    cfg = grpc_server.config
    config = uvicorn.Config(create_app(grpc_server), host=cfg.host, port=cfg.http_port,
                            log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=int(cfg.drain_grace_s) + 1)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start (port in use, ...)
            raise RuntimeError("HTTP server exited before it started")
        await asyncio.sleep(0.01)
    return HttpServer(server, task)
