"""`genai-rt serve --config FILE`: sections of one YAML file, flags override it, bad keys named."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_rt.cli import build_parser
from genai_rt.server.cli_commands import build_configs


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("model: {path: /models/x, dtype: float32}\n"
                      "scheduler: {max_num_seqs: 8}\n"
                      "server: {port: 6000, max_queue: 3, api_keys_file: keys.json}\n"
                      "audit: {audit_url: /tmp/a.db, checkpoint_every: 10}\n")
    args = build_parser().parse_args(["serve", "--config", str(config), "--port", "7000",
                                      "--max-num-seqs", "4", "--http-port", "8000"])
    server, engine, audit = build_configs(args)
    assert (server.port, server.http_port, server.max_queue) == (7000, 8000, 3)
    assert server.api_keys_file == "keys.json"
    assert engine.model.path == "/models/x" and engine.model.dtype == "float32"
    assert engine.scheduler.max_num_seqs == 4
    assert (audit.audit_url, audit.checkpoint_every) == ("/tmp/a.db", 10)


def test_config_file_errors_name_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("servr: {port: 1}\n")
    args = build_parser().parse_args(["serve", "--config", str(config), "--model", "/m"])
    with pytest.raises(ValueError, match="servr"):
        build_configs(args)
    config.write_text("server: {port: 70000}\n")
    with pytest.raises(ValueError, match="port"):
        build_configs(args)
