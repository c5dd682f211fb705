"""The served half of ``make demo``: set up, serve, run the scripted client, stop cleanly.

1. the default model (set up on first use by ``serve``);
2. examples/enterprise's corpus ingested for its two tenants (acme, globex) into a fresh store;
3. API keys for the demo's personas; ``genai-rt serve`` with the pipeline and HTTP on; the
   scripted client (``demo_client``) against it; SIGTERM, and the server drains and exits.

Everything is written under ``--workdir`` (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERSONAS = {  # persona -> (tenant, roles)
    "acme_employee": ("acme", ["employee"]),
    "acme_sales": ("acme", ["employee", "sales"]),
    "acme_leadership": ("acme", ["employee", "leadership"]),
    "acme_reviewer": ("acme", ["reviewer"]),
    "globex_employee": ("globex", ["employee"]),
    "ops": ("acme", ["generate", "auditor"]),
}
READY_TIMEOUT_S = 900.0


def _say(message: str) -> None:
    print(f"\n#### {message}", flush=True)


def _wait_ready(proc: subprocess.Popen[str]) -> tuple[int, int]:
    """(grpc port, http port) from serve's ``ready grpc=N http=M`` line."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"genai-rt serve exited early (code {proc.wait()})")
        if line.startswith("genai-rt serve: ready"):
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            return int(fields["grpc"]), int(fields["http"])
    raise RuntimeError("genai-rt serve did not become ready in time")


def run(workdir: Path) -> int:
    from genai_rt.pipeline.demo_setup import ENTERPRISE_DIR, open_demo_store
    from genai_rt.server.auth import add_key
    from genai_rt.server.demo_client import run as run_client

    _say(f"ingest {ENTERPRISE_DIR / 'corpus'} (tenants acme and globex)")
    store = open_demo_store(workdir / "docs.db")
    print(f"{len(store)} chunks in {workdir / 'docs.db'}")
    store.close()
    keys_file = workdir / "keys.json"
    keys = {p: add_key(keys_file, t, roles, p) for p, (t, roles) in PERSONAS.items()}
    (workdir / "assistant_keys.json").write_text(json.dumps(keys))

    _say("start genai-rt serve (gRPC + HTTP, the assistant pipeline, the audit log)")
    cmd = [sys.executable, "-m", "genai_rt.cli", "serve", "--port", "0", "--http-port", "0",
           "--api-keys-file", str(keys_file), "--store-url", str(workdir / "docs.db"),
           "--pipeline-config", str(ENTERPRISE_DIR / "config.toml"),
           "--review-queue", str(workdir / "reviews.sqlite3"),
           "--audit-url", str(workdir / "audit.db"), "--drain-grace-s", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": os.environ.get(
                                "OMP_NUM_THREADS", "2")})
    try:
        grpc_port, http_port = _wait_ready(proc)
        _say(f"scripted client against localhost:{grpc_port} (HTTP {http_port})")
        code = run_client(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}",
                          keys["ops"], {p: k for p, k in keys.items() if p != "ops"})
    finally:
        _say("SIGTERM: the server drains, flushes and checkpoints the audit log, exits")
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=60)
        print(f"genai-rt serve exited with code {exit_code}")
    return code or exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=None, help="where the store, keys and logs go")
    args = parser.parse_args(argv)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        return run(Path(args.workdir))
    with tempfile.TemporaryDirectory(prefix="genai_rt_demo_") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
