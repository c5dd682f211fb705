"""Shared by the device-check stages: the result recorder and the timers."""

from __future__ import annotations

import json
import statistics
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Recorder:
    """Appends one JSON object per measured row to ``results.jsonl``."""

    def __init__(self, out_dir: Path, stage: str, dry_run: bool) -> None:
        self.path = out_dir / "results.jsonl"
        self.stage = stage
        self.dry_run = dry_run

    def add(self, name: str, shape: str, us: float | None, **fields: Any) -> None:
        row = {"stage": self.stage, "name": name, "shape": shape, "us": us, **fields}
        if self.dry_run and not str(row.get("status", "")).startswith("ERROR"):
            row["status"] = "dry-run"  # CPU interpreter times: no target applies
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{self.stage}] {name} {shape}: "
              + ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("stage", "name",
                                                                            "shape")),
              flush=True)

    def error(self, name: str, exc: BaseException) -> None:
        traceback.print_exc()
        self.add(name, "-", None, status=f"ERROR {type(exc).__name__}: {str(exc)[:120]}")


def median_us(fn: Callable[[], Any], dry_run: bool) -> float:
    """Median time of one call of ``fn`` in microseconds."""
    if dry_run:
        fn()
        samples = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1e6
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=10, rep=40, return_mode="median")) * 1e3


def graph_median_us(fn: Callable[[], Any], dry_run: bool) -> float | None:
    """Median GPU time of ``fn`` replayed from a CUDA graph (no launch overhead); None on CPU."""
    if dry_run:
        return None
    import triton.testing

    fn()
    return float(triton.testing.do_bench_cudagraph(fn, rep=40, return_mode="median")) * 1e3
