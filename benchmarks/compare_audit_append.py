"""Audit append throughput and the latency it adds to a request, side by side in one run.

Records are engine-shaped (~1.9 KB: 100 prompt token ids, 64 output token ids, sampling params,
timings). For each database:

1. group commit: ``AuditLog.append`` from one producer thread (a server's event loop) as fast as
   it can; the writer thread drains the queue into one transaction per batch (SQLite WAL +
   synchronous=FULL: one fsync per batch);
2. one commit per record: the same store, ``append_batch([record])`` in a loop (the baseline
   group commit is compared to);
3. added latency: what a request pays on its own thread: building its record, plus
   ``append`` (validate + serialize + enqueue; measured while the writer is busy), p50/p99; and
   the time to durability (append -> its future resolved = committed and fsynced), p50/p99,
   which a request never waits for.

PostgreSQL runs when its server binaries are installed (a throwaway server, started like the
tests do, fsync and synchronous_commit on).

    .venv/bin/python benchmarks/compare_audit_append.py [--records 20000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import wait
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.audit.postgres

from genai_rt.audit import AuditLog  # noqa: E402
from genai_rt.audit.engine_audit import engine_record  # noqa: E402
from genai_rt.principal import Principal  # noqa: E402
from genai_rt.sampling.params import SamplingParams  # noqa: E402

PRODUCERS = 1
PACED_RATE = 500.0  # records/s offered in the latency run (sustainable on this box)
PACED_SECONDS = 4.0
PRINCIPAL = Principal("acme", frozenset({"hr"}), "alice")
PARAMS = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=64, seed=1)


def fake_output(i: int) -> SimpleNamespace:
    completion = SimpleNamespace(text="x" * 200, token_ids=list(range(i, i + 64)),
                                 finish_reason="length")
    metrics = SimpleNamespace(arrival_time=1.0, first_scheduled_time=1.01, first_token_time=1.1,
                              finished_time=2.0, num_prompt_tokens=100)
    return SimpleNamespace(prompt_token_ids=list(range(100)), outputs=[completion],
                           metrics=metrics, error=None)


def build(i: int) -> object:
    return engine_record(f"req-{i}", PRINCIPAL, "p" * 300, PARAMS, "tiny", "ab" * 32,
                         fake_output(i))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def group_commit(url: str, key: str, records: int) -> dict[str, float]:
    """Producers append pre-built records (a request builds its record anyway; that cost is
    measured in ``added``); throughput = records / time until the last one is durable."""
    log = AuditLog(url, key_path=key, checkpoint_every=1000, queue_size=records + 1)
    built = [build(i) for i in range(records)]
    appended: list[list[float]] = [[] for _ in range(PRODUCERS)]
    pending: list[list[tuple[int, float, object]]] = [[] for _ in range(PRODUCERS)]
    done_at: dict[int, float] = {}

    def produce(p: int) -> None:
        for i in range(p, records, PRODUCERS):
            t0 = time.perf_counter()
            handle = log.append(built[i])
            appended[p].append(time.perf_counter() - t0)
            handle.future.add_done_callback(
                lambda _f, i=i: done_at.__setitem__(i, time.perf_counter()))
            pending[p].append((i, t0, handle))

    cpu0, start = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait([h.future for per in pending for _, _, h in per])  # type: ignore[attr-defined]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    durable = [done_at[i] - t0 for per in pending for i, t0, _ in per]
    flat = [x for per in appended for x in per]
    log.close()
    return {"records_s": records / elapsed, "cpu_us": 1e6 * cpu / records,
            "append_p50_ms": 1e3 * statistics.median(flat),
            "append_p99_ms": 1e3 * percentile(flat, 0.99),
            "durable_p50_ms": 1e3 * statistics.median(durable),
            "durable_p99_ms": 1e3 * percentile(durable, 0.99)}


def paced(url: str, key: str, rate: float, seconds: float) -> dict[str, float]:
    """One producer (a server's event loop) appending at ``rate`` records/s: the latency a
    request pays for ``append`` and how soon its record is durable, at a sustainable load."""
    log = AuditLog(url, key_path=key, checkpoint_every=1000)
    count = int(rate * seconds)
    built = [build(i) for i in range(count)]
    appended, durable = [], []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        handle = log.append(built[i])
        appended.append(time.perf_counter() - t0)
        handle.future.add_done_callback(
            lambda _f, t0=t0: durable.append(time.perf_counter() - t0))
    log.flush()
    log.close()
    return {"rate": rate, "append_p50_ms": 1e3 * statistics.median(appended),
            "append_p99_ms": 1e3 * percentile(appended, 0.99),
            "durable_p50_ms": 1e3 * statistics.median(durable),
            "durable_p99_ms": 1e3 * percentile(durable, 0.99)}


def build_cost(records: int) -> tuple[float, float]:
    """p50 / p99 ms of building one engine record (the other half of the added latency)."""
    times = []
    for i in range(records):
        t0 = time.perf_counter()
        build(i)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), 1e3 * percentile(times, 0.99)


def commit_each(url: str, key: str, records: int) -> float:
    from genai_rt.audit.records import serialize_record

    log = AuditLog(url, key_path=key)
    recs = [serialize_record(build(i)) for i in range(records)]  # type: ignore[arg-type]
    start = time.perf_counter()
    for i, rec in enumerate(recs):
        log.store.append_batch([(f"one{i}", rec)])
    elapsed = time.perf_counter() - start
    log.close()
    return records / elapsed


def run(name: str, url: str, key: str, records: int, single: int) -> dict[str, object]:
    result: dict[str, object] = dict(group_commit(url, key, records))
    result["single_records_s"] = commit_each(url, key, single)
    result["paced"] = paced(url, key, PACED_RATE, PACED_SECONDS)  # type: ignore[assignment]
    print(f"{name}: {result}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=500, help="records committed one by one")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {now}")
    from genai_rt.audit.records import serialize_record

    print(f"record size: {len(serialize_record(build(0)))} bytes")  # type: ignore[arg-type]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL, synchronous=FULL)"] = run(
            "sqlite", os.path.join(tmp, "a.db"), os.path.join(tmp, "a.key"), args.records,
            args.single)
        if not args.no_postgres:
            from tests.audit.postgres import LocalPostgres, find_bindir

            bindir = find_bindir()
            if bindir is None:
                print("PostgreSQL: server binaries not installed; skipped")
            else:
                server = LocalPostgres(bindir)
                try:
                    url = server.start()
                    results["PostgreSQL 15 (fsync on)"] = run(
                        "postgres", url, os.path.join(tmp, "p.key"), args.records, args.single)
                finally:
                    server.stop()
    build_p50, build_p99 = build_cost(2000)
    print(f"\nbuilding an engine record: p50 {build_p50:.3f} ms, p99 {build_p99:.3f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| database | group commit records/s | process CPU per record | one commit per "
          "record, records/s | ratio | append() p50 / p99 | durable after p50 / p99 |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['records_s']:,.0f} | {r['cpu_us']:.0f} us | "
              f"{r['single_records_s']:,.0f} | {r['records_s'] / r['single_records_s']:.1f}× | "
              f"{r['append_p50_ms']:.3f} / {r['append_p99_ms']:.3f} ms | "
              f"{r['durable_p50_ms']:.1f} / {r['durable_p99_ms']:.1f} ms |")
    print(f"\npaced at {PACED_RATE:.0f} records/s from one thread for {PACED_SECONDS:.0f} s:")
    print("\n| database | append() p50 / p99 | durable after p50 / p99 |")
    print("|---|---|---|")
    for name, r in results.items():
        q: dict[str, float] = r["paced"]  # type: ignore[assignment]
        print(f"| {name} | {q['append_p50_ms']:.3f} / {q['append_p99_ms']:.3f} ms | "
              f"{q['durable_p50_ms']:.1f} / {q['durable_p99_ms']:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
