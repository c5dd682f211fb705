"""``genai-rt serve`` and ``genai-rt keys``: handlers and flags (cli.py only lists them).

Flags come from the config dataclasses (engine sections, ServerConfig, AuditConfig);
``--config FILE`` is a YAML/JSON file with the same sections (``model``, ``cache``,
``scheduler``, ``server``, ``audit``), and flags given on the command line override it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from genai_rt.cli_flags import add_dataclass_flags, given


def add_serve_args(parser: argparse.ArgumentParser) -> None:
    from genai_rt.config import SECTIONS, AuditConfig, ServerConfig

    parser.add_argument("--model", dest="path", default=None,
                        help="checkpoint directory (default: the default model)")
    parser.add_argument("--config", default=None, help="YAML/JSON file: model, cache, "
                        "scheduler and server sections (flags override it)")
    engine_flags = [name for _, cls in SECTIONS
                    for name in add_dataclass_flags(parser, cls, skip=("path",))]
    server_flags = add_dataclass_flags(parser, ServerConfig)
    audit_flags = add_dataclass_flags(parser, AuditConfig)
    parser.set_defaults(engine_flags=engine_flags, server_flags=server_flags,
                        audit_flags=audit_flags)


def load_config_file(path: str | None) -> dict[str, dict[str, Any]]:
    """Sections of a config file; unknown sections are an error naming them."""
    if path is None:
        return {}
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    known = {"model", "cache", "scheduler", "server", "audit"}
    if not isinstance(data, dict) or set(data) - known:
        raise ValueError(f"config {path}: top-level keys must be among {sorted(known)}, "
                         f"got {sorted(data) if isinstance(data, dict) else type(data).__name__}")
    return {k: dict(v or {}) for k, v in data.items()}


def build_configs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from genai_rt.config import AuditConfig, EngineConfig, ServerConfig

    sections = load_config_file(args.config)
    server = ServerConfig(**{**sections.get("server", {}), **given(args, args.server_flags)})
    audit = AuditConfig(**{**sections.get("audit", {}), **given(args, args.audit_flags)})
    engine_opts: dict[str, Any] = {}
    for name in ("model", "cache", "scheduler"):
        engine_opts.update(sections.get(name, {}))
    path = args.path or engine_opts.pop("path", None)
    engine_opts.pop("path", None)
    engine_opts.update(given(args, args.engine_flags))
    if path is None:
        from genai_rt.demo import default_model_dir

        path = str(default_model_dir())
    return server, EngineConfig.from_model(path, **engine_opts), audit


def _progress(message: str) -> None:
    print(f"genai-rt serve: {message}", file=sys.stderr, flush=True)


async def run_server(server_config: Any, engine_config: Any, audit_config: Any) -> int:
    from genai_rt.server.app import GrpcServer

    server = GrpcServer(server_config, engine_config, audit_config=audit_config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.drain()))
    port = await server.start()
    _progress(f"gRPC on {server_config.host}:{port} (health NOT_SERVING while loading)")
    await server.load(_progress)
    http = None
    if server_config.http_port is not None:
        from genai_rt.server.http.serve import start_http

        http = await start_http(server)
        _progress(f"HTTP (OpenAI-compatible) on {server_config.host}:{http.port}")
    print(f"genai-rt serve: ready grpc={port}" + (f" http={http.port}" if http else ""),
          flush=True)
    await server.stopped.wait()
    if http is not None:
        await http.stop()
    _progress("stopped")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from genai_rt.device import cuda_available

    if not cuda_available():  # Triton kernels run in the interpreter; set before any is defined
        import os

        os.environ.setdefault("TRITON_INTERPRET", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return asyncio.run(run_server(*build_configs(args)))


def add_keys_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create an API key; prints it once (only its salted "
                             "hash is stored)")
    add.add_argument("--file", required=True, help="API key file (created if absent)")
    add.add_argument("--tenant", required=True)
    add.add_argument("--roles", default="", help="comma-separated roles, e.g. hr,generate")
    add.add_argument("--name", required=True, help="a label for this key")


def cmd_keys(args: argparse.Namespace) -> int:
    from genai_rt.server.auth import add_key

    roles = [r for r in args.roles.split(",") if r]
    print(add_key(args.file, args.tenant, roles, args.name))
    return 0
