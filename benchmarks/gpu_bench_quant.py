"""GPU: weight-only int4 / int8 Triton dequant-GEMM against bf16, Llama-3-8B-shaped decode.

The linear layers of a random Llama-3-8B-shaped model (32 layers of fused qkv 4096->6144, o
4096->4096, gate/up 4096->28672, down 14336->4096, and the 4096->128256 LM head; every matrix
distinct, so nothing stays in L2) run one decode step at batch 1 and 64 in each format. The
attention and small ops are left out: they are the same for every format. Reported: step time
(median of CUDA-event timings), decode tokens/s of the linear stack, and the fraction of the
HBM roofline (weight bytes / step time / --peak-gbps).

    python3 benchmarks/gpu_bench_quant.py [--layers 32] [--peak-gbps 4800] [--dry-run]

``--dry-run`` runs two small layers on the CPU through the Triton interpreter (checks the
script, times nothing meaningful). Numbers: pending a GPU session (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

if "--dry-run" in sys.argv:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genai_rt.kernels import quant_matmul as tq  # noqa: E402

LLAMA3_8B = {"hidden": 4096, "qkv": 6144, "inter": 14336, "vocab": 128256}


def shapes(dims: dict[str, int], layers: int) -> list[tuple[int, int]]:
    """(out, in) of every matrix one decode step reads."""
    h, i = dims["hidden"], dims["inter"]
    per_layer = [(dims["qkv"], h), (h, h), (2 * i, h), (h, i)]
    return per_layer * layers + [(dims["vocab"], h)]


def build(fmt: str, mats: list[tuple[int, int]], device: str, dtype: torch.dtype):
    out = []
    for n, k in mats:
        w = torch.randn(n, k, device=device, dtype=dtype) * 0.02
        if fmt == "bf16":
            out.append(("dense", (w,)))
        elif fmt == "int8":
            out.append(("int8", tq.quantize_int8_ref(w)))
        else:
            out.append(("int4", tq.quantize_int4_ref(w, 128) + (k,)))
        del w
    return out


def step(layers, x_by_k: dict[int, torch.Tensor]) -> None:
    for kind, tensors in layers:
        k = tensors[0].shape[1] if kind in ("dense", "int8") else tensors[3]
        x = x_by_k[k]
        if kind == "dense":
            torch.mm(x, tensors[0].t())
        elif kind == "int8":
            tq.int8_matmul(x, *tensors)
        else:
            tq.int4_matmul(x, *tensors)


def weight_bytes(layers) -> int:
    return sum(t.numel() * t.element_size() for _, ts in layers for t in ts
               if isinstance(t, torch.Tensor))


def time_step(layers, x_by_k, repeats: int, device: str) -> float:
    import time

    step(layers, x_by_k)  # compile / warm up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step(layers, x_by_k)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            step(layers, x_by_k)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--peak-gbps", type=float, default=4800.0, help="H200 HBM3e: 4.8 TB/s")
    parser.add_argument("--out", default=None, help="append JSON lines to OUT/results.jsonl")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    dtype = torch.float32 if args.dry_run else torch.bfloat16
    dims = {"hidden": 64, "qkv": 96, "inter": 160, "vocab": 300} if args.dry_run else LLAMA3_8B
    layers = 2 if args.dry_run else args.layers
    repeats = 2 if args.dry_run else args.repeats
    mats = shapes(dims, layers)
    rows = []
    base: dict[int, float] = {}
    for fmt in ("bf16", "int8", "int4"):
        built = build(fmt, mats, device, dtype)
        nbytes = weight_bytes(built)
        for batch in (1, 64):
            x_by_k = {k: torch.randn(batch, k, device=device, dtype=dtype) for _, k in set(mats)}
            seconds = time_step(built, x_by_k, repeats, device)
            base.setdefault(batch, seconds)
            # Fields of benchmarks/gpu_bench.py's results table (stage, name, us, unit, value:
            # its report puts the weight bandwidth against the measured copy bandwidth).
            row = {"stage": "quant", "name": f"{fmt} linear stack decode",
                   "shape": f"batch {batch}, {layers} layers", "us": seconds * 1e6,
                   "unit": "GB/s", "value": nbytes / seconds / 1e9,
                   "torch_us": base[batch] * 1e6 if fmt != "bf16" else None,
                   "target": ">= 2.5x bf16 (int4, batch 1)" if fmt == "int4" else "",
                   "status": "dry-run" if args.dry_run else "",
                   "note": f"{batch / seconds:.1f} tok/s of the linear stack",
                   "format": fmt, "batch": batch, "step_ms": seconds * 1e3,
                   "tokens_per_s": batch / seconds, "weight_gb": nbytes / 1e9,
                   "roofline_fraction": nbytes / seconds / (args.peak_gbps * 1e9),
                   "speedup_vs_bf16": base[batch] / seconds}
            rows.append(row)
            print(f"| {fmt:<5} | batch {batch:>2} | {row['step_ms']:9.3f} ms | "
                  f"{row['tokens_per_s']:10.1f} tok/s | {nbytes / 1e9:6.2f} GB | "
                  f"{row['roofline_fraction']:6.1%} of roofline | "
                  f"{row['speedup_vs_bf16']:5.2f}x bf16 |", flush=True)
        del built
        if device == "cuda":
            torch.cuda.empty_cache()
    if args.out:
        with (Path(args.out) / "results.jsonl").open("a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
