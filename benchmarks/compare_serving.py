"""Streaming load generator: the same workload through the in-process async Engine, through
gRPC (`genai-rt serve`, grpc.aio client) and through the OpenAI-compatible HTTP endpoint (SSE),
at 1, 16 and 64 concurrent streams, in one run.

Per mode and concurrency: output tokens/s (all tokens / wall time), TTFT p50/p99 (request sent ->
first token seen by the client) and inter-token latency p50/p99 (gaps between token-bearing
messages, divided by the tokens each carried). The server runs in a subprocess, as a client
sees it; the in-process engine runs first in this process and is shut down before the server
is measured, so the two never compete for the cores. The server runs as deployed: every request
also gets its audit record (SQLite, synchronous=FULL) and metrics; the in-process path has none.

    .venv/bin/python benchmarks/compare_serving.py                 # default model, 48 tokens
    .venv/bin/python benchmarks/compare_serving.py --model DIR --max-tokens 64 --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ENGINE_FLAGS = {"dtype": "float32", "max_num_seqs": 64, "max_num_batched_tokens": 2048}


@dataclass
class Trace:
    sent: float
    token_times: list[tuple[float, int]] = field(default_factory=list)  # (time, tokens)

    @property
    def ttft(self) -> float:
        return self.token_times[0][0] - self.sent

    def itls(self) -> list[float]:
        out = []
        for (t0, _), (t1, n) in zip(self.token_times, self.token_times[1:], strict=False):
            out.extend([(t1 - t0) / n] * n)
        return out

    @property
    def tokens(self) -> int:
        return sum(n for _, n in self.token_times)


def prompts(count: int) -> list[str]:
    topics = ["benefits", "pipeline", "budget", "pricing", "hiring", "travel", "security", "q4"]
    return [f"Request {i}: summarize the {topics[i % len(topics)]} notes for team {i * 7 % 13}."
            for i in range(count)]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


async def run_level(streams: int, one: Callable[[str], Awaitable[Trace]],
                    per_stream: int) -> dict[str, float]:
    texts = prompts(streams * per_stream)

    async def worker(w: int) -> list[Trace]:
        return [await one(texts[w * per_stream + k]) for k in range(per_stream)]

    t0 = time.perf_counter()
    traces = [t for ts in await asyncio.gather(*(worker(w) for w in range(streams))) for t in ts]
    wall = time.perf_counter() - t0
    itl = [x for t in traces for x in t.itls()]
    return {"tok_s": sum(t.tokens for t in traces) / wall,
            "ttft_p50": pct([t.ttft for t in traces], 0.5),
            "ttft_p99": pct([t.ttft for t in traces], 0.99),
            "itl_p50": pct(itl, 0.5), "itl_p99": pct(itl, 0.99),
            "tokens": sum(t.tokens for t in traces)}


async def bench_in_process(model: str, levels: list[int], max_tokens: int,
                           per_stream: int) -> dict[int, dict[str, float]]:
    from genai_rt.config import EngineConfig
    from genai_rt.engine.async_engine import Engine
    from genai_rt.sampling import SamplingParams

    engine = Engine(EngineConfig.from_model(model, **ENGINE_FLAGS))  # type: ignore[arg-type]
    params = SamplingParams(temperature=0, max_tokens=max_tokens, ignore_eos=True)

    async def one(text: str) -> Trace:
        trace = Trace(time.perf_counter())
        async for out in engine.generate(text, params):
            n = len(out.outputs[0].delta_token_ids)
            if n:
                trace.token_times.append((time.perf_counter(), n))
        return trace

    try:
        await run_level(4, one, 1)  # warm-up
        return {s: await run_level(s, one, per_stream) for s in levels}
    finally:
        engine.shutdown()


async def bench_grpc(target: str, levels: list[int], max_tokens: int,
                     per_stream: int) -> dict[int, dict[str, float]]:
    from genai_rt.client import AsyncClient

    async with AsyncClient(target) as client:
        async def one(text: str) -> Trace:
            trace = Trace(time.perf_counter())
            async for msg in client.generate(text, temperature=0.0, max_tokens=max_tokens,
                                             ignore_eos=True):
                if msg.delta_token_ids:
                    trace.token_times.append((time.perf_counter(), len(msg.delta_token_ids)))
            return trace

        await run_level(4, one, 1)
        return {s: await run_level(s, one, per_stream) for s in levels}


async def bench_http(base: str, model: str, levels: list[int], max_tokens: int,
                     per_stream: int) -> dict[int, dict[str, float]]:
    import httpx

    limits = httpx.Limits(max_connections=max(levels) + 8)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        async def one(text: str) -> Trace:
            body = {"model": model, "prompt": text, "max_tokens": max_tokens, "temperature": 0,
                    "ignore_eos": True, "stream": True, "logprobs": 0}
            trace = Trace(time.perf_counter())
            async with http.stream("POST", "/v1/completions", json=body) as reply:
                lines: AsyncIterator[str] = reply.aiter_lines()
                async for line in lines:
                    if not line.startswith("data: {"):
                        continue
                    chunk = json.loads(line[6:])
                    # logprobs=0 makes each chunk carry its tokens, so counts are exact
                    n = len(chunk["choices"][0]["logprobs"]["tokens"]) if chunk["choices"] else 0
                    if n:
                        trace.token_times.append((time.perf_counter(), n))
            return trace

        await run_level(4, one, 1)
        return {s: await run_level(s, one, per_stream) for s in levels}


def start_server(model: str, threads: int, audit_dir: str) -> tuple[subprocess.Popen[str], int,
                                                                    int]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in ENGINE_FLAGS.items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "genai_rt.cli", "serve", "--model", model, "--port", "0",
         "--http-port", "0", "--audit-url", f"{audit_dir}/audit.db", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    parts = dict(p.split("=") for p in line.split() if "=" in p)
    return proc, int(parts["grpc"]), int(parts["http"])


def table(results: dict[str, dict[int, dict[str, float]]], levels: list[int]) -> str:
    rows = ["| streams | path | output tok/s | vs in-process | TTFT p50 ms | TTFT p99 ms | "
            "ITL p50 ms | ITL p99 ms |", "|---|---|---|---|---|---|---|---|"]
    for s in levels:
        base = results["in-process"][s]["tok_s"]
        for mode, by_level in results.items():
            r = by_level[s]
            rows.append(f"| {s} | {mode} | {r['tok_s']:.0f} | {r['tok_s'] / base:.2f} | "
                        f"{r['ttft_p50']:.1f} | {r['ttft_p99']:.1f} | {r['itl_p50']:.1f} | "
                        f"{r['itl_p99']:.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the default model)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--per-stream", type=int, default=2, help="requests per stream")
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TRITON_INTERPRET", "1")
    # The server subprocess is `genai-rt serve`, whose CLI makes OpenMP wait passively; the
    # in-process side gets the same before torch loads, so both run one configuration.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    if args.model is None:
        from genai_rt.demo import default_model_dir

        args.model = str(default_model_dir())
    levels = [int(x) for x in args.levels.split(",")]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"torch threads {args.threads}, model {args.model}, {args.max_tokens} tokens x "
          f"{args.per_stream} requests per stream, greedy", flush=True)
    results: dict[str, dict[int, dict[str, float]]] = {}
    results["in-process"] = asyncio.run(
        bench_in_process(args.model, levels, args.max_tokens, args.per_stream))
    audit_dir = tempfile.mkdtemp(prefix="genai_rt_bench_audit")
    proc, grpc_port, http_port = start_server(args.model, args.threads, audit_dir)
    try:
        results["gRPC"] = asyncio.run(
            bench_grpc(f"127.0.0.1:{grpc_port}", levels, args.max_tokens, args.per_stream))
        results["HTTP (SSE)"] = asyncio.run(
            bench_http(f"http://127.0.0.1:{http_port}", Path(args.model).name, levels,
                       args.max_tokens, args.per_stream))
    finally:
        proc.terminate()
        proc.wait(60)
    print(table(results, levels))
    for mode in results:
        print(f"{mode}: median tok/s over levels "
              f"{statistics.median(r['tok_s'] for r in results[mode].values()):.0f}")


if __name__ == "__main__":
    main()
