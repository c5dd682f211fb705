"""Health through load and drain, reflection, admission limits, and `genai-rt serve` drained by
SIGTERM: calls during the drain get exactly UNAVAILABLE, every in-flight request completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from genai_rt.client import Client
from genai_rt.config import ServerConfig
from genai_rt.engine.async_engine import Engine
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.server.harness import ENGINE_OPTIONS, ServerThread, engine_config


def test_health_not_serving_while_loading_then_serving(chat_model: Path) -> None:
    thread = ServerThread(ServerConfig(port=0), engine_cfg=engine_config(chat_model), load=False)
    try:
        with Client(thread.target, timeout=10) as c:
            assert c.health() == "NOT_SERVING"
            assert c.health("genai_rt.v1.Generation") == "NOT_SERVING"
            with pytest.raises(grpc.RpcError) as err:
                c.complete("x", max_tokens=2)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "loading" in err.value.details()
            thread.loop.run(thread.server.load())
            assert c.health() == "SERVING"
            assert c.complete("x", max_tokens=2).completions[0].finish_reason in (
                "length", "stop")
            call = c.generate("draining", temperature=0.0, max_tokens=200, ignore_eos=True)
            next(call)
            drained = thread.loop.submit(thread.server.drain())
            time.sleep(0.2)
            assert c.health() == "NOT_SERVING"  # while the in-flight stream still runs
            assert [m for m in call][-1].finish_reason == "length"
            drained.result(30)
    finally:
        thread.stop()


def test_reflection_lists_the_services(client: Client) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"genai_rt.v1.Generation", "genai_rt.v1.Info", "genai_rt.v1.Governance",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_full_queue_is_resource_exhausted(engine: Engine) -> None:
    thread = ServerThread(ServerConfig(port=0, max_concurrent=1, max_queue=1), engine=engine)
    try:
        with Client(thread.target, timeout=30) as c:
            long = dict(temperature=0.0, max_tokens=150, ignore_eos=True)
            first = c.generate("one", **long)
            next(first)  # admitted and running
            second = c.generate("two", **long)  # waits in the queue
            time.sleep(0.2)
            with pytest.raises(grpc.RpcError) as err:
                c.complete("three", max_tokens=2)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "queue is full" in err.value.details()
            first.cancel()
            assert [m for m in second][-1].finish_reason == "length"  # the queued one ran
    finally:
        thread.stop()


def _serve(model: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    log = open(model.parent / "serve.log", "w")  # noqa: SIM115 (the child owns it)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in ENGINE_OPTIONS.items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "genai_rt.cli", "serve", "--model", str(model), "--port", "0",
         "--audit-url", str(model.parent / "serve_audit.db"), *flags, *extra],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} "
                             f"{(model.parent / 'serve.log').read_text()}")
    return proc, int(line.split("grpc=")[1].split()[0])


@pytest.mark.slow
def test_sigterm_drains(chat_model: Path) -> None:
    proc, port = _serve(chat_model, "--drain-grace-s", "60")
    try:
        with Client(f"127.0.0.1:{port}", timeout=60) as c:
            assert c.health() == "SERVING"
            results: dict[int, list[str]] = {}

            def stream(i: int) -> None:
                msgs = list(c.generate(f"in flight {i}", temperature=0.0, max_tokens=200,
                                       ignore_eos=True))
                results[i] = [m.finish_reason for m in msgs if m.finished]

            threads = [threading.Thread(target=stream, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while c.load().in_flight < 4:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            codes = set()
            for _ in range(3):
                with pytest.raises(grpc.RpcError) as err:
                    c.complete("late", max_tokens=2)
                codes.add(err.value.code())
            assert codes == {grpc.StatusCode.UNAVAILABLE}
            assert c.health() == "NOT_SERVING"
            for t in threads:
                t.join(60)
            assert results == {i: ["length"] for i in range(4)}
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
