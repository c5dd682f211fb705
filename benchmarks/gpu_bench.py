"""The device check's measurements, one stage per process, and the final table.

    python3 benchmarks/gpu_bench.py --stage roofline|kernels|decode --out DIR [--dry-run]
    python3 benchmarks/gpu_bench.py --report --out DIR

Each stage appends JSON lines to DIR/results.jsonl; ``--report`` prints one table from them (and
writes DIR/results.csv) whatever stages failed. ``--dry-run`` runs the same code on the CPU with
tiny shapes and the Triton interpreter, so the GPU run can only fail on GPU-specific issues.
Times are medians: ``triton.testing.do_bench`` on a GPU (L2 flushed between calls),
``time.perf_counter`` over a few calls in the dry run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

DRY_RUN = "--dry-run" in sys.argv
if DRY_RUN:
    os.environ["TRITON_INTERPRET"] = "1"  # before any genai_rt.kernels import


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

COLUMNS = ["stage", "name", "shape", "us", "achieved", "pct_of_peak", "torch_us", "vs_torch",
           "target", "status", "check", "note"]
CONSOLE_COLUMNS = ["name", "shape", "us", "achieved", "pct_of_peak", "torch_us", "vs_torch",
                   "status", "check"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def report(out_dir: Path) -> int:
    path = out_dir / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    peaks = {r["name"]: r.get("value") for r in rows if r["stage"] == "roofline"}
    copy_gbs, mm_tflops = peaks.get("copy bandwidth"), peaks.get("bf16 matmul")
    table = []
    for r in rows:
        unit, value = r.get("unit"), r.get("value")
        peak = copy_gbs if unit == "GB/s" else mm_tflops if unit == "TFLOP/s" else None
        if r["stage"] != "roofline" and value is not None and peak and "pct_of_peak" not in r:
            r["pct_of_peak"] = 100.0 * value / peak
        r["achieved"] = f"{_fmt(value)} {unit}" if value is not None and unit else None
        if r.get("torch_us") and r.get("us"):
            r["vs_torch"] = f"{r['torch_us'] / r['us']:.2f}x"
            if (str(r.get("target", "")).startswith(">=80% copy BW") and r.get("pct_of_peak")
                    and r.get("status") != "dry-run"):
                fast = r["pct_of_peak"] >= 80 and r["torch_us"] > r["us"]
                r["status"] = "ok" if fast else "below target"
        table.append([_fmt(r.get(c)) for c in COLUMNS])
    with (out_dir / "results.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(table)
    # The console table leaves out stage/target/note (all in the CSV) to stay narrow; notes and
    # long statuses follow it, one short line each.
    shown = [COLUMNS.index(c) for c in CONSOLE_COLUMNS]
    cells = [[row[i][:40] for i in shown] for row in table]
    widths = [max(len(c), *(len(row[j]) for row in cells)) if cells else len(c)
              for j, c in enumerate(CONSOLE_COLUMNS)]
    line = " | ".join(c.ljust(w) for c, w in zip(CONSOLE_COLUMNS, widths, strict=True))
    print("\n" + line + "\n" + "-" * len(line))
    for row in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print("\nnotes:")
    for r in rows:
        text = "; ".join(str(r[k]) for k in ("status", "note") if r.get(k) and
                         (k == "note" or len(str(r[k])) > 40))
        if text:
            print(f"  {r['name']} {r['shape']}: {text}"[:160])
    print(f"\npeaks measured in this run: copy {_fmt(copy_gbs)} GB/s, bf16 matmul "
          f"{_fmt(mm_tflops)} TFLOP/s; 'vs torch' > 1 means faster than torch; pct_of_peak is "
          "of those peaks (decode rows: of the weight+KV roofline)")
    errors = [r for r in rows if str(r.get("status", "")).startswith("ERROR")]
    mismatches = [r for r in rows if str(r.get("check", "")).startswith("MISMATCH")]
    print(f"{len(rows)} rows, {len(errors)} errors, {len(mismatches)} output mismatches against "
          f"the references; CSV: {out_dir / 'results.csv'}")
    return 0


def stage_roofline(rec: Any, dry_run: bool) -> None:
    """Copy bandwidth and bf16 matmul rate: the peaks every other row is compared with."""
    import torch
    from gpu_bench_common import median_us

    device = "cpu" if dry_run else "cuda"
    try:
        import triton

        rec.add("device", torch.cuda.get_device_name() if not dry_run else "cpu (dry run)", None,
                note=f"torch {torch.__version__}, triton {triton.__version__}, "
                     f"CUDA {torch.version.cuda}")
    except Exception as exc:  # noqa: BLE001
        rec.error("device", exc)
    try:
        numel = (1 << 16) if dry_run else (1 << 29)  # 1 GiB of bf16 on the GPU
        src = torch.empty(numel, dtype=torch.bfloat16, device=device).fill_(1.0)
        dst = torch.empty_like(src)
        us = median_us(lambda: dst.copy_(src), dry_run)
        rec.add("copy bandwidth", f"{2 * numel * 2 / 2**30:.3g} GiB moved", us,
                value=2 * numel * 2 / us / 1e3, unit="GB/s", note="read + write")
    except Exception as exc:  # noqa: BLE001 - every stage reports and goes on
        rec.error("copy bandwidth", exc)
    try:
        n = 64 if dry_run else 8192
        a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
        b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
        us = median_us(lambda: a @ b, dry_run)
        rec.add("bf16 matmul", f"{n}x{n}x{n}", us, value=2 * n**3 / us / 1e6, unit="TFLOP/s")
    except Exception as exc:  # noqa: BLE001
        rec.error("bf16 matmul", exc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["roofline", "kernels", "decode", "vector_search"])
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="CPU, interpreter, tiny shapes")
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_check"))
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.report:
        return report(out_dir)
    if args.stage is None:
        parser.error("give --stage or --report")
    from gpu_bench_common import Recorder

    rec = Recorder(out_dir, args.stage, args.dry_run)
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            rec.add(args.stage, "-", None, status="ERROR no CUDA device visible to torch")
            return 1
    if args.stage == "roofline":
        stage_roofline(rec, args.dry_run)
    elif args.stage == "kernels":
        from gpu_bench_kernels import run_kernel_benchmarks

        run_kernel_benchmarks(rec, args.dry_run)
    elif args.stage == "vector_search":
        from gpu_bench_vector_search import run_vector_search_benchmarks

        run_vector_search_benchmarks(rec, args.dry_run)
    else:
        from gpu_bench_decode import run_decode_benchmark

        run_decode_benchmark(rec, args.dry_run, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
